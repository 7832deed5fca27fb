"""Editing raw trees field by field, as ``new --set``, the shell and forms do.

A path names a field the way the schemas do, ``spec.`` optional:
``priority``, ``interfaceselector.interfaces``, ``bytecode.image.url``,
``names[0]``, ``metadata.labels.app`` (inside a map, the rest of the path is
the key, dots included; ``metadata.labels["a.b/c"]`` also works).

Text becomes the field's type as the schema says:

====================  =============================================
integer               ``10``, ``0x10``
boolean               ``true``/``false`` (also yes/no, on/off, 1/0)
list                  ``eth0,eth1``, or YAML flow ``[eth0, eth1]``
map                   ``key=value,key2=value2``
globaldata bytes      bytes (``0x01,0x02`` / ``1,2``) or base64 (``AQI=``);
                      text of numbers only is read as byte values
object                YAML flow, such as ``{}`` or ``{key: a, operator: In}``
====================  =============================================

Every function returns a new tree and leaves its argument alone; nothing is
validated beyond what the conversion needs, so half-built objects are fine
(run :func:`bpftui.core.rules.check` for the rest).
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
from collections.abc import Mapping
from typing import Any

import yaml

from bpftui.core import api, rules, yaml_io
from bpftui.core.errors import InputError

_TOP = ("metadata", "spec")
_SEGMENT = re.compile(r'\.?(?:\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]|([^.\[\]"]+))')
_TRUE = frozenset({"true", "yes", "on", "1", "y"})
_FALSE = frozenset({"false", "no", "off", "0", "n"})
_BYTE = re.compile(r"0[xX][0-9a-fA-F]{1,2}|\d{1,3}")


def new_doc(kind: str, name: str) -> dict[str, Any]:
    """A fresh raw tree of ``kind`` (any alias) with the spec's defaults.

    The node selector starts empty, which selects every node.

    Raises:
        InputError: ``kind`` names no kind.
    """
    canonical = api.resolve_kind(kind)
    spec_node = rules.schema(canonical)["properties"]["spec"]
    spec: dict[str, Any] = {
        key: copy.deepcopy(node["default"])
        for key, node in spec_node["properties"].items()
        if "default" in node
    }
    if "nodeselector" in spec_node["properties"]:
        spec["nodeselector"] = {}
    return {
        "apiVersion": api.API_VERSION,
        "kind": canonical,
        "metadata": {"name": name},
        "spec": dict(sorted(spec.items())),
    }


def set_path(doc: Mapping[str, Any], path: str, raw_text: str) -> dict[str, Any]:
    """A copy of ``doc`` with the field at ``path`` set from text.

    Raises:
        InputError: the object has no known kind, the path names no field
            (the hint names the closest one), or the text does not read as
            the field's type.
    """
    kind = _kind_of(doc)
    segments, node = resolve_path(kind, path)
    value = convert(node, raw_text, rules.format_path(segments))
    tree = copy.deepcopy(dict(doc))
    _assign(tree, segments, value)
    return tree


def unset_path(doc: Mapping[str, Any], path: str) -> dict[str, Any]:
    """A copy of ``doc`` without the field (or list item) at ``path``.

    Unsetting a field that is not there is not an error.

    Raises:
        InputError: the object has no known kind or the path names no field.
    """
    kind = _kind_of(doc)
    segments, _ = resolve_path(kind, path)
    tree = copy.deepcopy(dict(doc))
    parent = _lookup(tree, segments[:-1])
    if _holds(parent, segments[-1]):
        del parent[segments[-1]]
    return tree


def _holds(container: Any, seg: rules.Segment) -> bool:
    if isinstance(container, dict):
        return seg in container
    return isinstance(container, list) and isinstance(seg, int) and seg < len(container)


def get_path(doc: Mapping[str, Any], path: str) -> Any:
    """The raw value at ``path``, or None when it is not set.

    Raises:
        InputError: the object has no known kind or the path names no field.
    """
    segments, _ = resolve_path(_kind_of(doc), path)
    return _lookup(doc, segments)


def get_text(doc: Mapping[str, Any], path: str) -> str:
    """The value at ``path`` as text that :func:`set_path` reads back."""
    return to_text(get_path(doc, path))


def to_text(value: Any) -> str:
    """A raw value in the ``--set`` syntax (lists with commas, maps k=v)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple) and all(_is_scalar(v) for v in value):
        return ",".join(to_text(v) for v in value)
    if isinstance(value, Mapping) and all(_is_scalar(v) for v in value.values()):
        return ",".join(f"{k}={to_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple | Mapping):
        return yaml.safe_dump(value, default_flow_style=True, width=2**16).strip()
    return str(value)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _kind_of(doc: Any) -> str:
    kind = doc.get("kind") if isinstance(doc, Mapping) else None
    if not isinstance(kind, str):
        raise InputError(
            "the object has no kind", hint="start from new_doc(kind, name)"
        )
    return api.resolve_kind(kind)


# --- paths --------------------------------------------------------------------------


def resolve_path(kind: str, path: str) -> tuple[rules.Path, dict[str, Any]]:
    """The tree segments of ``path`` and the schema node of its field.

    Raises:
        InputError: the path names no field of ``kind``.
    """
    text = path.strip()
    if not text:
        raise InputError("empty field path", hint=_PATH_HINT)
    first = re.match(r"[^.\[]*", text)
    if not first or first.group() not in _TOP:
        text = "spec." + text
    node: dict[str, Any] = dict(rules.schema(kind))
    segments: list[rules.Segment] = []
    pos = 0
    while pos < len(text):
        if rules.type_of(node) == "map":
            key, pos = _map_key(text, pos, path)
            segments.append(key)
            node = node["additionalProperties"]
            continue
        match = _SEGMENT.match(text, pos)
        if not match or match.end() == pos:
            raise InputError(f'cannot read the path "{path}"', hint=_PATH_HINT)
        pos = match.end()
        node = _descend(kind, node, segments, match, path)
    return tuple(segments), node


_PATH_HINT = 'write it like interfaceselector.interfaces, names[0] or labels["a.b/c"]'


def _descend(
    kind: str,
    node: dict[str, Any],
    segments: list[rules.Segment],
    match: re.Match[str],
    path: str,
) -> dict[str, Any]:
    index, quoted, name = match.groups()
    if index is not None:
        if node.get("type") != "array":
            where = rules.format_path(segments)
            raise InputError(f'"{where}" is not a list, so [{index}] does not apply')
        segments.append(int(index))
        return dict(node.get("items", {}))
    key = quoted if quoted is not None else name
    if rules.type_of(node) != "object" or key not in rules.known_fields(node):
        raise _unknown_path(kind, [*segments, key], path)
    segments.append(key)
    return dict(node["properties"][key])


def _map_key(text: str, pos: int, path: str) -> tuple[str, int]:
    """The key of a map entry: the rest of the path, or a quoted key."""
    rest = text[pos:]
    if rest.startswith('["'):
        match = re.match(r'\["((?:[^"\\]|\\.)*)"\]', rest)
        if match:
            key = re.sub(r"\\(.)", r"\1", match.group(1))
            return key, pos + match.end()
    if rest.startswith(".") and len(rest) > 1:
        return rest[1:], len(text)
    raise InputError(f'cannot read the map key in "{path}"', hint=_PATH_HINT)


def _unknown_path(kind: str, segments: list[rules.Segment], path: str) -> InputError:
    wanted = rules.format_path(segments)
    key = str(segments[-1])
    parent = rules.schema_at(kind, segments[:-1]) or {}
    ftype = rules.type_of(parent)
    if ftype not in ("object", "map"):
        where = _short(rules.format_path(segments[:-1]))
        article = "an" if ftype[0] in "aeiou" else "a"
        return InputError(
            f'"{where}" is {article} {ftype} field; it has no field "{key}"'
        )
    hint = _hint(kind, segments[:-1], key, rules.known_fields(parent))
    return InputError(f'{kind} has no field "{_short(wanted)}"', hint=hint)


def _hint(kind: str, parent: list[rules.Segment], key: str, siblings: list[str]) -> str:
    """A sibling spelled alike, else the same name one level off, else a list."""
    exact = [s for s in siblings if s.lower() == key.lower()]
    close = exact[0] if exact else rules.suggest(key, siblings)
    elsewhere = _elsewhere(kind, key)
    if close and (exact or not elsewhere):
        return f'did you mean "{_short(rules.format_path([*parent, close]))}"?'
    return elsewhere or f"fields here: {', '.join(siblings)}"


def _elsewhere(kind: str, key: str) -> str | None:
    """A hint naming fields called ``key`` deeper down, for a missed level."""
    paths = [_short(f.path) for f in rules.fields(kind) if f.name == key]
    if not paths:
        return None
    return "did you mean " + " or ".join(f'"{p}"' for p in paths[:3]) + "?"


def _short(path: str) -> str:
    return path.removeprefix("spec.")


def _lookup(tree: Any, segments: rules.Path) -> Any:
    for seg in segments:
        if isinstance(seg, int):
            ok = isinstance(tree, list) and seg < len(tree)
        else:
            ok = isinstance(tree, Mapping) and seg in tree
        if not ok:
            return None
        tree = tree[seg]
    return tree


def _assign(tree: dict[str, Any], segments: rules.Path, value: Any) -> None:
    cur: Any = tree
    for seg, following in zip(segments, [*segments[1:], None], strict=True):
        if following is None:
            _put(cur, seg, value)
            return
        empty: Any = [] if isinstance(following, int) else {}
        child = _lookup(cur, (seg,))
        if not isinstance(child, type(empty)):
            _put(cur, seg, empty)
            child = empty
        cur = child


def _put(container: Any, seg: rules.Segment, value: Any) -> None:
    if isinstance(seg, str) or seg < len(container):
        container[seg] = value
    elif seg == len(container):
        container.append(value)
    else:
        raise InputError(
            f"index [{seg}] is past the end of a list of {len(container)}",
            hint=f"use [{len(container)}] to add an item",
        )


# --- text to values -----------------------------------------------------------------


def convert(node: Mapping[str, Any], text: str, where: str = "value") -> Any:
    """Text as the raw value a field of schema ``node`` holds.

    Raises:
        InputError: the text does not read as that type.
    """
    ftype = rules.type_of(node)
    if ftype == "string":
        return text
    stripped = text.strip()
    if ftype == "integer":
        return _integer(stripped, where)
    if ftype == "boolean":
        return _boolean(stripped, where)
    if ftype == "bytes":
        return _bytes(stripped, where)
    if stripped.startswith(("[", "{")) or ftype == "object":
        return _flow(stripped, where)
    if ftype == "array":
        items = node.get("items", {})
        return [
            convert(items, t, f"{where}[{i}]") for i, t in enumerate(_split(stripped))
        ]
    if ftype == "map":
        values = node.get("additionalProperties", {})
        return {
            k: convert(values, v, f"{where}.{k}") for k, v in _entries(stripped, where)
        }
    return text


def _integer(text: str, where: str) -> int:
    try:
        return int(text.replace("_", ""), 0)
    except ValueError:
        raise InputError(f'{where}: "{text}" is not an integer') from None


def _boolean(text: str, where: str) -> bool:
    low = text.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise InputError(f'{where}: "{text}" is not true or false')


def _bytes(text: str, where: str) -> str:
    """Bytes as base64 text, from base64 or from a list of byte values."""
    tokens = [t for t in re.split(r"[,\s\[\]]+", text) if t]
    if tokens and all(_BYTE.fullmatch(t) for t in tokens):
        values = [int(t, 0) if t.lower().startswith("0x") else int(t) for t in tokens]
        if all(v <= 255 for v in values):
            return api.encode_bytes(bytes(values))
        raise InputError(f"{where}: byte values go from 0 to 255")
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(
            f'{where}: "{text}" is neither base64 nor a list of bytes',
            hint="write bytes as 0x01,0x02 or as base64 such as AQI=",
        ) from None
    return text


def _flow(text: str, where: str) -> Any:
    if not text:
        return {}
    docs = yaml_io.read_text(text, where)  # its errors already name ``where``
    return docs[0].data if docs else None


def _split(text: str) -> list[str]:
    return [t.strip() for t in text.split(",")] if text else []


def _entries(text: str, where: str) -> list[tuple[str, str]]:
    """``a=1,b=2`` as pairs; a piece without ``=`` continues the last value.

    That keeps byte lists whole: ``g1=0x01,0x02,g2=AQ==``.
    """
    pairs: list[list[str]] = []
    for piece in _split(text):
        if "=" in piece:
            key, value = piece.split("=", 1)
            pairs.append([key.strip(), value.strip()])
        elif pairs:
            pairs[-1][1] += "," + piece
        else:
            raise InputError(f'{where}: "{piece}" is not key=value')
    return [(k, v) for k, v in pairs]
