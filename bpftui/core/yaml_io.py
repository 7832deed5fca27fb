"""Reading and writing bpfman.io objects as YAML and JSON.

Reading is safe and strict: only plain YAML types (no tags that build
objects), one or many documents per file, ``kind: List`` (and
``XdpProgramList`` and so on) unpacked, every
field's line remembered so problems point at the right line, and duplicate
fields reported as kubectl's strict mode does. Input that could exhaust the
machine is refused with an :class:`~bpftui.core.errors.InputError` before it
is turned into Python objects: files over :data:`MAX_BYTES`, nesting deeper
than :data:`MAX_DEPTH`, and alias chains that would expand to more than
:data:`MAX_NODES` nodes (the "billion laughs") or into themselves.

Writing gives what ``kubectl apply`` accepts: normalised objects (see
:func:`bpftui.core.api.to_dict`), several YAML documents separated by
``---``, or one JSON object (a ``List`` for several).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bpftui.core import api, rules
from bpftui.core.errors import InputError, ValidationError
from bpftui.core.rules import Problem, Severity

MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 200_000

STDIN = "-"
STDIN_NAME = "<stdin>"

_TAG = "tag:yaml.org,2002:"
# Scalars the reader turns into Python values; timestamps stay text, as the
# API server reads them.
_SCALAR_TAGS = frozenset(_TAG + t for t in ("str", "int", "float", "bool", "null"))
_TEXT_TAGS = frozenset({_TAG + "timestamp"})
_MERGE_TAG = _TAG + "merge"


@dataclass(frozen=True, slots=True)
class Document:
    """One object read from a source, and where each of its fields came from.

    Attributes:
        data: the raw tree, of any shape (rules judge it).
        source: the file name, or ``<stdin>``.
        index: position among the objects of the source, from 0.
        line: 1-based line where the object starts.
        lines: 1-based line of each field, by path (``spec.priority``).
        reader_problems: what the reader found (duplicate fields).
    """

    data: Any
    source: str
    index: int
    line: int
    lines: Mapping[str, int] = field(default_factory=dict)
    reader_problems: tuple[Problem, ...] = ()

    @property
    def kind(self) -> str | None:
        """The object's kind, when it is a string."""
        return rules.identity(self.data)[0]

    @property
    def name(self) -> str | None:
        """The object's metadata.name, when it is a string."""
        return rules.identity(self.data)[1]

    def line_of(self, path: str) -> int:
        """The line of ``path``, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = _parent(path)
        return self.lines.get("", self.line)

    def check(self) -> list[Problem]:
        """Every problem of the object, placed on lines, in line order."""
        found = [*self.reader_problems, *rules.check(self.data)]
        placed = [p.with_line(p.line or self.line_of(p.path)) for p in found]
        return sorted(placed, key=lambda p: p.line or 0)

    def to_object(self) -> api.ApiObject:
        """The record for this object.

        Raises:
            ValidationError: the object breaks a rule; problems carry lines.
        """
        problems = rules.errors(self.check())
        if problems:
            raise ValidationError(f"{self.source}: {problems[0]}", problems)
        return api.from_dict(self.data)


def _parent(path: str) -> str:
    """``spec.names[0]`` -> ``spec.names`` -> ``spec`` -> ``""``."""
    cut = max(path.rfind("."), path.rfind("["))
    return path[: max(cut, 0)]


# --- reading --------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """The safe loader, with a bound on how deep the composer recurses."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooDeep(self.peek_event().start_mark)  # type: ignore[no-untyped-call]
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _TooDeep(Exception):
    def __init__(self, mark: yaml.Mark) -> None:
        super().__init__()
        self.line = mark.line + 1


def read_file(
    path: str | os.PathLike[str], *, limit: int = MAX_BYTES
) -> list[Document]:
    """Every object in a file; ``-`` reads standard input.

    Raises:
        InputError: the file cannot be read, is too big, is not UTF-8 or is
            not safe, well-formed YAML.
    """
    if os.fspath(path) == STDIN:
        return read_stream(sys.stdin.buffer, STDIN_NAME, limit=limit)
    name = os.fspath(path)
    try:
        with open(name, "rb") as stream:
            return read_stream(stream, name, limit=limit)
    except OSError as err:
        reason = err.strerror or str(err)
        raise InputError(f"{name}: cannot read: {reason}") from None


def read_stream(
    stream: IO[bytes], source: str, *, limit: int = MAX_BYTES
) -> list[Document]:
    """Every object in a binary stream, reading at most ``limit`` bytes."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise InputError(
            f"{source}: larger than {limit // 1024} KiB",
            hint="split it into smaller files",
        )
    return read_bytes(data, source, limit=limit)


def read_bytes(data: bytes, source: str, *, limit: int = MAX_BYTES) -> list[Document]:
    """Every object in UTF-8 encoded YAML (or JSON) text."""
    if len(data) > limit:
        raise InputError(f"{source}: larger than {limit // 1024} KiB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        byte = data[err.start]
        raise InputError(
            f"{source}:{line}: not UTF-8 text (byte 0x{byte:02x})"
        ) from None
    return read_text(text, source)


def read_text(text: str, source: str = "<text>") -> list[Document]:
    """Every object in YAML (or JSON) text, ``kind: List`` unpacked.

    Empty documents are skipped. Documents that are not objects are kept,
    so that :meth:`Document.check` can say what is wrong with them.

    Raises:
        InputError: the text is not safe, well-formed YAML.
    """
    if len(text) > MAX_BYTES:
        raise InputError(f"{source}: larger than {MAX_BYTES // 1024} KiB")
    try:
        return list(_documents(text, source))
    except yaml.MarkedYAMLError as err:
        raise _yaml_error(source, err) from None
    except yaml.reader.ReaderError as err:
        line = text[: err.position].count("\n") + 1
        code = err.character if isinstance(err.character, int) else ord(err.character)
        raise InputError(
            f"{source}:{line}: not valid YAML: the character U+{code:04X} "
            "is not allowed"
        ) from None
    except yaml.YAMLError as err:
        raise InputError(f"{source}: not valid YAML: {err}") from None
    except _TooDeep as err:
        raise InputError(
            f"{source}:{err.line}: nested deeper than {MAX_DEPTH} levels"
        ) from None


def _yaml_error(source: str, err: yaml.MarkedYAMLError) -> InputError:
    mark = err.problem_mark or err.context_mark
    where = f"{source}:{mark.line + 1}" if mark else source
    what = err.problem or err.context or "unreadable"
    return InputError(f"{where}: not valid YAML: {what}")


def _documents(text: str, source: str) -> Iterator[Document]:
    loader = _Loader(text)
    try:
        index = 0
        while loader.check_node():
            node = loader.get_node()
            if node is None or _is_null(node):
                continue
            _check_expansion(node, source)
            for item in _unpack_list(node):
                yield _Builder(loader, source).document(item, index)
                index += 1
    finally:
        loader.dispose()


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _TAG + "null"


def _unpack_list(node: Node) -> list[Node]:
    """A ``kind: List`` document's items, else the document itself."""
    items = _list_items(node)
    return [node] if items is None else list(items.value)


# kubectl writes "List"; the API server answers a list call with "<Kind>List".
_LIST_KINDS = frozenset({"List", *(kind + "List" for kind in api.KINDS)})


def _list_items(node: Node) -> SequenceNode | None:
    if not isinstance(node, MappingNode):
        return None
    fields = {k.value: v for k, v in node.value if isinstance(k, ScalarNode)}
    kind, items = fields.get("kind"), fields.get("items")
    is_list = isinstance(kind, ScalarNode) and kind.value in _LIST_KINDS
    return items if is_list and isinstance(items, SequenceNode) else None


def _check_expansion(root: Node, source: str) -> None:
    """Refuse alias graphs that loop or expand beyond the limits.

    Aliases share nodes, so the composed graph stays small while the tree it
    stands for can be exponential; sizes and heights are memoised per node.
    """
    seen: dict[int, tuple[int, int]] = {}
    active: set[int] = set()

    def measure(node: Node, depth: int) -> tuple[int, int]:
        key = id(node)
        if key in active:
            raise _refuse(node, source, "an alias refers to its own ancestor")
        if key not in seen:
            if depth > MAX_DEPTH:
                raise _refuse(node, source, f"nested deeper than {MAX_DEPTH} levels")
            active.add(key)
            parts = [measure(child, depth + 1) for child in _children(node)]
            active.discard(key)
            seen[key] = (
                1 + sum(s for s, _ in parts),
                1 + max((h for _, h in parts), default=0),
            )
        size, height = seen[key]
        if depth + height > MAX_DEPTH + 1:
            raise _refuse(node, source, f"aliases nest deeper than {MAX_DEPTH} levels")
        if size > MAX_NODES:
            raise _refuse(
                node, source, f"aliases expand to more than {MAX_NODES} nodes"
            )
        return size, height

    measure(root, 1)


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _refuse(node: Node, source: str, why: str) -> InputError:
    return InputError(f"{source}:{node.start_mark.line + 1}: refused: {why}")


def _tag(tag: str) -> str:
    """``tag:yaml.org,2002:int`` as ``!!int``, the way YAML files write it."""
    return "!!" + tag.removeprefix(_TAG) if tag.startswith(_TAG) else tag


class _Builder:
    """Turns one composed document into plain values, noting lines."""

    def __init__(self, loader: _Loader, source: str) -> None:
        self.loader = loader
        self.source = source
        self.lines: dict[str, int] = {}
        self.duplicates: list[tuple[str, str, int]] = []

    def document(self, node: Node, index: int) -> Document:
        data = self.value(node, ())
        kind, name = rules.identity(data)
        problems = tuple(
            Problem(Severity.ERROR, kind, name, path, message, line)
            for path, message, line in self.duplicates
        )
        line = node.start_mark.line + 1
        return Document(data, self.source, index, line, self.lines, problems)

    def value(self, node: Node, path: rules.Path) -> Any:
        self.lines.setdefault(rules.format_path(path), node.start_mark.line + 1)
        if isinstance(node, ScalarNode):
            return self.scalar(node)
        if isinstance(node, SequenceNode):
            self.expect_tag(node, "seq")
            return [self.value(item, (*path, i)) for i, item in enumerate(node.value)]
        if not isinstance(node, MappingNode):
            raise self.error(node, f"unsupported YAML node {type(node).__name__}")
        self.expect_tag(node, "map")
        return self.mapping(node, path)

    def expect_tag(self, node: Node, name: str) -> None:
        if node.tag != _TAG + name:
            raise self.error(node, f"unsupported YAML tag {_tag(node.tag)} here")

    def error(self, node: Node, message: str) -> InputError:
        return InputError(f"{self.source}:{node.start_mark.line + 1}: {message}")

    def scalar(self, node: ScalarNode) -> Any:
        if node.tag in _TEXT_TAGS:
            return node.value
        if node.tag not in _SCALAR_TAGS:
            raise self.error(node, f"unsupported YAML tag {_tag(node.tag)} here")
        # PyYAML's scalar constructors fail in many ways on explicitly tagged
        # odd text (`!!int ''` raises IndexError); all mean "unreadable".
        unreadable = (
            yaml.YAMLError,
            ValueError,
            TypeError,
            LookupError,
            ArithmeticError,
        )
        try:
            return self.loader.construct_object(node)
        except unreadable:
            shown = rules.describe(node.value)
            raise self.error(node, f"cannot read {shown} as {_tag(node.tag)}") from None

    def mapping(self, node: MappingNode, path: rules.Path) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        where: dict[Any, int] = {}
        merged: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.append(value_node)
                continue
            if not isinstance(key_node, ScalarNode):
                raise self.error(key_node, "a field name must be a plain value")
            key = self.scalar(key_node)
            line = key_node.start_mark.line + 1
            child = (*path, key if isinstance(key, str) else str(key))
            if key in where:
                self.duplicate(child, line, where[key])
            where[key] = line
            self.lines[rules.format_path(child)] = line
            out[key] = self.value(value_node, child)
        for source in merged:
            self.merge(out, source, path)
        return out

    def duplicate(self, path: rules.Path, line: int, first: int) -> None:
        message = f"duplicate field (first set on line {first})"
        self.duplicates.append((rules.format_path(path), message, line))

    def merge(self, out: dict[Any, Any], node: Node, path: rules.Path) -> None:
        """A ``<<: *anchor`` merge: fields not set explicitly come from there."""
        sources = node.value if isinstance(node, SequenceNode) else [node]
        for source in sources:
            if not isinstance(source, MappingNode):
                raise self.error(
                    source, "a merge (<<) takes a mapping or a list of them"
                )
            # Fields set explicitly keep their own lines.
            explicit = dict(self.lines)
            for key, value in self.mapping(source, path).items():
                out.setdefault(key, value)
            self.lines.update(explicit)


# --- reading whole files into records -----------------------------------------------


def check_all(documents: Iterable[Document]) -> list[Problem]:
    """The problems of every document, each placed on its line."""
    return [p for doc in documents for p in doc.check()]


def load_file(path: str | os.PathLike[str]) -> list[api.ApiObject]:
    """The records of every object in a file, all valid.

    Raises:
        InputError: the file is unreadable or not YAML.
        ValidationError: some object breaks a rule; ``problems`` holds all
            errors of all objects, each with its line.
    """
    documents = read_file(path)
    errors = rules.errors(check_all(documents))
    if errors:
        first = errors[0]
        raise ValidationError(f"{documents[0].source}:{first.line}: {first}", errors)
    return [doc.to_object() for doc in documents]


# --- writing --------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """The safe dumper, also taking records' containers and str enums."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar(_TAG + "str", str(value), style=style)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_multi_representer(str, _represent_str)
_Dumper.add_representer(tuple, yaml.SafeDumper.represent_list)
_Dumper.add_representer(api.FrozenMap, yaml.SafeDumper.represent_dict)
_Dumper.add_representer(
    bytes, lambda d, v: d.represent_scalar(_TAG + "str", api.encode_bytes(v))
)


def _plain(obj: api.ApiObject | Mapping[str, Any]) -> Any:
    if isinstance(obj, Mapping):
        return obj
    return api.to_dict(obj)


def dump_yaml(objects: Iterable[api.ApiObject | Mapping[str, Any]]) -> str:
    """Objects as YAML documents separated by ``---``.

    Args:
        objects: records (normalised with :func:`~bpftui.core.api.to_dict`)
            or raw trees, written as they are.
    """
    docs = [_plain(obj) for obj in objects]
    text: str = yaml.dump_all(
        docs,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=2**16,
    )
    return text


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return api.encode_bytes(value)
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, tuple | Sequence):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON data")


def dump_json(objects: Iterable[api.ApiObject | Mapping[str, Any]]) -> str:
    """Objects as JSON: one object as itself, several as a ``List``."""
    docs = [_plain(obj) for obj in objects]
    data = (
        docs[0]
        if len(docs) == 1
        else {"apiVersion": "v1", "kind": "List", "items": docs}
    )
    return json.dumps(data, indent=2, ensure_ascii=False, default=_json_default) + "\n"
