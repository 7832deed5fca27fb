"""Every rule of the bpfman.io/v1alpha1 API, in one place.

Rules work on raw trees: plain dicts and lists as YAML, JSON or a
half-filled form holds them, with any value of any type. :func:`check`
reports every problem of an object at once, each with its field path::

    XdpProgram/edge-filter: spec.priority: 1001 is above the maximum 1000

Two sources feed it:

* the CRD schemas shipped in ``bpftui/data/crds`` (types, enums, required
  fields, limits, defaults, the CEL rule of KprobeProgram), read lazily and
  walked the way the API server's strict decoding would, unknown fields
  included;
* :data:`RULES`, the rules the schemas cannot say (bytecode is exactly one of
  image and path, tracepoint names read ``category/name``, metadata.name is a
  DNS subdomain ...), as a table of small checks.

:func:`fields` turns the same schemas into :class:`FieldSpec` records for the
forms and the shell's completion; :func:`apply_defaults` fills in defaults.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as _dt
import difflib
import enum
import functools
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any

import yaml

from bpftui.core import api
from bpftui.core.errors import InputError

log = logging.getLogger(__name__)

Segment = str | int
Path = tuple[Segment, ...]


class Severity(enum.StrEnum):
    """How bad a problem is: errors make an object invalid, warnings do not."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Problem:
    """One broken rule of one object.

    Attributes:
        severity: error (the object is invalid) or warning.
        kind: the object's kind, when it has a readable one.
        name: the object's metadata.name, when it has a readable one.
        path: the field, such as ``spec.priority`` (empty: the whole object).
        message: what is wrong, and what to do when that is not obvious.
        line: 1-based line in the source, when the object came from a file.
    """

    severity: Severity
    kind: str | None
    name: str | None
    path: str
    message: str
    line: int | None = None

    @property
    def subject(self) -> str:
        """``KIND/NAME`` of the object, with placeholders for missing parts."""
        return f"{self.kind or 'object'}/{self.name or '<unnamed>'}"

    @property
    def is_error(self) -> bool:
        """True when the problem makes the object invalid."""
        return self.severity is Severity.ERROR

    def with_line(self, line: int | None) -> Problem:
        """The same problem placed on ``line``."""
        return replace(self, line=line)

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.subject}: {where}{self.message}"


@dataclass(frozen=True, slots=True)
class _Issue:
    """A problem before the object's kind and name are attached."""

    path: Path
    message: str
    severity: Severity = Severity.ERROR


def format_path(path: Iterable[Segment]) -> str:
    """``("spec", "names", 0)`` as ``spec.names[0]``; odd keys are quoted."""
    text = ""
    for seg in path:
        if isinstance(seg, int):
            text += f"[{seg}]"
        elif _PLAIN_KEY.fullmatch(seg):
            text += f".{seg}" if text else seg
        else:
            text += '["' + seg.replace("\\", "\\\\").replace('"', '\\"') + '"]'
    return text


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


# --- the CRD schemas ----------------------------------------------------------

# Keys of Kubernetes ObjectMeta that the API server sets or that bpftui does
# not model: accepted so `kubectl get -o yaml` output reads back, then dropped.
_SERVER_META = (
    "creationTimestamp",
    "deletionGracePeriodSeconds",
    "deletionTimestamp",
    "finalizers",
    "generateName",
    "generation",
    "managedFields",
    "namespace",
    "ownerReferences",
    "resourceVersion",
    "selfLink",
    "uid",
)
_IGNORED = "x-bpftui-ignored"
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}

# The CRDs say only `metadata: {type: object}`; these are the fields of it
# that bpftui reads, written in the schemas' own dialect.
_META_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Standard object metadata.",
    "required": ["name"],
    "properties": {
        "name": {
            "type": "string",
            "description": "Name of the object, unique among objects of its kind: "
            "a DNS subdomain (lower-case letters, digits, '-' and '.').",
        },
        "labels": _STRING_MAP | {"description": "Labels for selecting the object."},
        "annotations": _STRING_MAP
        | {"description": "Free-form notes for tools; not used for selection."},
        **{key: {_IGNORED: True} for key in _SERVER_META},
    },
}

# Every schema keyword the walker understands; a test makes sure the CRDs
# use no other, so nothing in them is silently ignored.
SCHEMA_KEYWORDS = frozenset(
    {
        "type",
        "description",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "enum",
        "default",
        "format",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "minProperties",
        "maxProperties",
        "pattern",
        "x-kubernetes-validations",
        "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys",
        "x-kubernetes-map-type",
    }
)


def crd_path(kind: str) -> resources.abc.Traversable:
    """Where the CRD manifest of ``kind`` lives inside the package."""
    info = api.KINDS[kind]
    return resources.files("bpftui") / "data" / "crds" / info.crd_file


@functools.cache
def crd(kind: str) -> Mapping[str, Any]:
    """The whole CRD manifest of ``kind``, parsed once. Do not modify it."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    manifest: Mapping[str, Any] = yaml.load(crd_path(kind).read_text("utf-8"), loader)
    return manifest


@functools.cache
def schema(kind: str) -> Mapping[str, Any]:
    """The openAPIV3Schema of ``kind`` with ``metadata`` spelled out.

    ``metadata`` and ``metadata.name`` are required, as the API server
    requires them. The result is shared: do not modify it.
    """
    versions = crd(kind)["spec"]["versions"]
    served = next(v for v in versions if v.get("storage"))
    root = copy.deepcopy(served["schema"]["openAPIV3Schema"])
    root["properties"]["metadata"] = copy.deepcopy(_META_SCHEMA)
    root["required"] = ["metadata", *root.get("required", ())]
    return root  # type: ignore[no-any-return]


def _child_schema(node: Mapping[str, Any], key: Segment) -> Mapping[str, Any] | None:
    """The schema of ``key`` inside ``node``: a property, map value or item."""
    if isinstance(key, int) or key == "[]":
        return node.get("items") if node.get("type") == "array" else None
    props = node.get("properties")
    if props is not None and key in props:
        return props[key]  # type: ignore[no-any-return]
    extra = node.get("additionalProperties")
    return extra if isinstance(extra, Mapping) else None


def schema_at(kind: str, path: Sequence[Segment]) -> Mapping[str, Any] | None:
    """The schema node at ``path`` (list items as ints or ``"[]"``), if any."""
    node: Mapping[str, Any] | None = schema(kind)
    for seg in path:
        if node is None:
            return None
        node = _child_schema(node, seg)
    return node


# --- describing values for messages -------------------------------------------

_ARTICLE = {
    "object": "an object",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
}


_HUGE = "a number too long to print"


def _short(value: Any, limit: int = 40) -> str:
    """A value quoted for a message, cut to ``limit`` characters."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        try:
            text = str(value)
        except ValueError:  # beyond Python's int-to-text digit limit
            return _HUGE
    else:
        text = f'"{value}"' if isinstance(value, str) else repr(value)
    if len(text) <= limit:
        return text
    return (
        text[: limit - 4] + '..."'
        if isinstance(value, str)
        else text[: limit - 3] + "..."
    )


def describe(value: Any) -> str:
    """What a value is, in words: ``the string "ten"``, ``a list``, ``null``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return _short(value)
    if isinstance(value, int):
        text = _short(value)
        return text if text == _HUGE else f"the number {text}"
    if isinstance(value, float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {_short(value)}"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a {type(value).__name__} value"


def suggest(word: str, choices: Iterable[str]) -> str | None:
    """The closest of ``choices`` to ``word`` (case first), or None."""
    options = list(choices)
    for choice in options:
        if choice.lower() == word.lower():
            return choice
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return close[0] if close else None


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    best = suggest(word, choices)
    return f'; did you mean "{best}"?' if best else ""


# --- walking a tree along its schema ------------------------------------------


def _is_type(value: Any, expected: str, node: Mapping[str, Any]) -> bool:
    if expected == "object":
        return isinstance(value, Mapping)
    if expected == "array":
        return isinstance(value, list | tuple)
    if expected == "string":
        # globaldata: byte lists are accepted on input (the samples write them).
        byte_list = node.get("format") == "byte" and isinstance(value, list | tuple)
        return isinstance(value, str) or byte_list or _is_datetime(value, node)
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "boolean":
        return isinstance(value, bool)
    return True


def _is_datetime(value: Any, node: Mapping[str, Any]) -> bool:
    return node.get("format") == "date-time" and isinstance(value, _dt.datetime)


def _walk(node: Mapping[str, Any], value: Any, path: Path) -> Iterator[_Issue]:
    expected: str = node.get("type", "")
    if node.get(_IGNORED):
        return
    if value is None or (expected and not _is_type(value, expected, node)):
        wanted = _ARTICLE.get(expected, "a value")
        yield _Issue(path, f"expected {wanted}, got {describe(value)}")
        return
    if expected == "object":
        yield from _walk_object(node, value, path)
    elif expected == "array":
        yield from _walk_array(node, value, path)
    elif expected == "string":
        yield from _walk_string(node, value, path)
    elif expected == "integer":
        yield from _walk_integer(node, value, path)


def _walk_object(
    node: Mapping[str, Any], value: Mapping[Any, Any], path: Path
) -> Iterator[_Issue]:
    props = node.get("properties")
    for key, item in value.items():
        if not isinstance(key, str):
            yield _Issue(path, f"field names must be strings, got {describe(key)}")
            continue
        child = _child_schema(node, key)
        if child is None and props is not None:
            yield _unknown_field(props, (*path, key))
        # A null field reads as "not set" (the API server prunes it; required
        # ones are reported below), but a null map entry is a wrong value.
        elif child is not None and (item is not None or key not in (props or {})):
            yield from _walk(child, item, (*path, key))
    yield from _required(node, value, path)
    yield from _property_count(node, value, path)
    yield from _cel_rules(node, value, path)


def _unknown_field(props: Mapping[str, Any], path: Path) -> _Issue:
    key = str(path[-1])
    known = known_fields({"properties": props})
    best = suggest(key, known)
    if best:
        return _Issue(path, f'unknown field; did you mean "{best}"?')
    return _Issue(path, f"unknown field; known fields here: {', '.join(known)}")


def _required(
    node: Mapping[str, Any], value: Mapping[Any, Any], path: Path
) -> Iterator[_Issue]:
    for key in node.get("required", ()):
        if key not in value:
            yield _Issue((*path, key), "required field is missing")
        elif value[key] is None:
            yield _Issue((*path, key), "required field has no value")


def _property_count(
    node: Mapping[str, Any], value: Mapping[Any, Any], path: Path
) -> Iterator[_Issue]:
    low, high = node.get("minProperties"), node.get("maxProperties")
    if low is None and high is None:
        return
    count = sum(v is not None for v in value.values())
    names = ", ".join(node.get("properties", {}))
    if low == high == 1 and count != 1:
        yield _Issue(path, f"set exactly one of: {names} (found {count})")
    elif low is not None and count < low:
        yield _Issue(path, f"set at least {low} of: {names}")
    elif high is not None and count > high:
        yield _Issue(path, f"set at most {high} of: {names}")


def _walk_array(
    node: Mapping[str, Any], value: Sequence[Any], path: Path
) -> Iterator[_Issue]:
    count = len(value)
    most, least = node.get("maxItems"), node.get("minItems")
    if most is not None and count > most:
        yield _Issue(path, f"{count} values given, at most {most} allowed")
    if least is not None and count < least:
        yield _Issue(path, f"{count} values given, at least {least} needed")
    items = node.get("items", {})
    for index, item in enumerate(value):
        yield from _walk(items, item, (*path, index))
    yield from _unique_map_keys(node, value, path)


def _unique_map_keys(
    node: Mapping[str, Any], value: Sequence[Any], path: Path
) -> Iterator[_Issue]:
    if node.get("x-kubernetes-list-type") != "map":
        return
    keys = node.get("x-kubernetes-list-map-keys", ())
    seen: dict[tuple[Any, ...], int] = {}
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            continue
        ident = tuple(_hashable(item.get(k)) for k in keys)
        if ident in seen:
            what = ", ".join(
                f"{k} {_short(v)}" for k, v in zip(keys, ident, strict=True)
            )
            yield _Issue((*path, index), f"{what} already appears at [{seen[ident]}]")
        seen.setdefault(ident, index)


def _hashable(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | None) else repr(value)


def _walk_string(node: Mapping[str, Any], value: Any, path: Path) -> Iterator[_Issue]:
    fmt = node.get("format")
    if fmt == "byte":
        yield from _check_bytes(value, path)
        return
    if not isinstance(value, str):  # a datetime from a YAML timestamp
        return
    message = _string_message(node, value)
    if message:
        yield _Issue(path, message)
    elif fmt == "date-time" and not _RFC3339.fullmatch(value):
        yield _Issue(path, f"{_short(value)} is not an RFC 3339 time")


_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})"
)


def _string_message(node: Mapping[str, Any], value: str) -> str | None:
    choices = node.get("enum")
    if choices is not None and value not in choices:
        listed = ", ".join(choices)
        return f"{_short(value)} is not one of: {listed}" + _did_you_mean(
            value, choices
        )
    longest, shortest = node.get("maxLength"), node.get("minLength")
    if longest is not None and len(value) > longest:
        return f"is {len(value)} characters long, at most {longest} allowed"
    if shortest is not None and len(value) < shortest:
        return "must not be empty" if shortest == 1 else f"needs {shortest} characters"
    pattern = node.get("pattern")
    if pattern is not None and not re.search(pattern, value):
        return f"{_short(value)} does not match the pattern {pattern}"
    return None


def _check_bytes(value: str | Sequence[Any], path: Path) -> Iterator[_Issue]:
    if isinstance(value, str):
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            yield _Issue(path, f"{_short(value)} is neither base64 nor a list of bytes")
        return
    for index, item in enumerate(value):
        if not _is_byte(item):
            yield _Issue(
                (*path, index), f"expected a byte (0..255), got {describe(item)}"
            )


def _is_byte(item: Any) -> bool:
    return isinstance(item, int) and not isinstance(item, bool) and 0 <= item <= 255


_INT_RANGE = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


def _walk_integer(node: Mapping[str, Any], value: int, path: Path) -> Iterator[_Issue]:
    low, high = node.get("minimum"), node.get("maximum")
    if low is not None and value < low:
        yield _Issue(path, f"{_short(value)} is below the minimum {low}")
    elif high is not None and value > high:
        yield _Issue(path, f"{_short(value)} is above the maximum {high}")
    elif node.get("format") in _INT_RANGE:
        lowest, highest = _INT_RANGE[node["format"]]
        if not lowest <= value <= highest:
            bits = node["format"][3:]
            yield _Issue(path, f"{_short(value)} does not fit in a {bits}-bit integer")


# --- CEL rules of the schemas -------------------------------------------------


def _kretprobe_offset(spec: Mapping[str, Any]) -> bool:
    """``self.retprobe == false || self.offset == 0``, after defaulting."""
    offset = spec.get("offset", 0)
    return spec.get("retprobe") is not True or not _is_number(offset) or offset == 0


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# CEL is not evaluated; each rule the CRDs carry is implemented here by its
# exact text, with the field its message is reported at. The message itself
# comes from the CRD.
CEL_RULES: Mapping[str, tuple[Callable[[Mapping[str, Any]], bool], str]] = {
    "self.retprobe == false || self.offset == 0": (_kretprobe_offset, "offset"),
}


def _cel_rules(
    node: Mapping[str, Any], value: Mapping[Any, Any], path: Path
) -> Iterator[_Issue]:
    for rule in node.get("x-kubernetes-validations", ()):
        known = CEL_RULES.get(rule.get("rule", ""))
        if known is None:
            log.debug("CEL rule not implemented: %s", rule.get("rule"))
            continue
        predicate, at = known
        if not predicate(value):
            yield _Issue((*path, at), rule.get("message", f"breaks {rule['rule']}"))


# --- rules the schemas cannot say ---------------------------------------------

Check = Callable[[Any], str | None]


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule outside the schemas.

    Attributes:
        path: where it applies: ``spec.names[]`` is every item of
            ``spec.names``, ``metadata.labels{}`` every value of the map and
            ``metadata.labels{key}`` every key of it.
        check: given the value there, a message when the rule is broken. It
            must accept values of any type and stay silent on the wrong
            type, which the schema walk already reports.
        kinds: the kinds it applies to; empty means every kind.
        severity: error or warning.
        at: a child field to report the problem at instead of ``path``.
    """

    path: str
    check: Check
    kinds: tuple[str, ...] = ()
    severity: Severity = Severity.ERROR
    at: str = ""

    def applies_to(self, kind: str) -> bool:
        """True when the rule covers objects of ``kind``."""
        return not self.kinds or kind in self.kinds


_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
)
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_C_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Kernel symbols may carry compiler suffixes such as do_sys_open.isra.0.
_KERNEL_SYMBOL = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_TRACEPOINT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*/[A-Za-z0-9_][A-Za-z0-9_.-]*")
_IFNAMSIZ = 16


def _dns_subdomain(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    if len(value) <= 253 and _DNS_SUBDOMAIN.fullmatch(value):
        return None
    return (
        f"{_short(value)} is not a valid name: use at most 253 lower-case letters, "
        'digits, "-" and ".", starting and ending with a letter or digit'
    )


def _dns_label(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    if len(value) <= 63 and _DNS_LABEL.fullmatch(value):
        return None
    return (
        f"{_short(value)} is not a valid name: use at most 63 lower-case letters, "
        'digits and "-", starting and ending with a letter or digit'
    )


def _empty_or_dns_label(value: Any) -> str | None:
    return None if value == "" else _dns_label(value)


def _label_key(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    prefix, slash, name = value.rpartition("/")
    if slash and (not prefix or _dns_subdomain(prefix)):
        return f'{_short(value)}: the prefix before "/" must be a DNS subdomain'
    if len(name) <= 63 and _QUALIFIED_NAME.fullmatch(name):
        return None
    return (
        f"{_short(value)} is not a valid key: the name part takes at most 63 "
        'letters, digits, "-", "_" and ".", starting and ending with a letter or digit'
    )


def _label_value(value: Any) -> str | None:
    if not isinstance(value, str) or value == "":
        return None
    if len(value) <= 63 and _QUALIFIED_NAME.fullmatch(value):
        return None
    return (
        f"{_short(value)} is not a valid label value: at most 63 letters, digits, "
        '"-", "_" and ".", starting and ending with a letter or digit'
    )


def _cluster_scoped(value: Any) -> str | None:
    return "ignored: the bpfman.io kinds are cluster-scoped"


def _operator(value: Any) -> str | None:
    if not isinstance(value, Mapping):
        return None
    op = value.get("operator")
    if not isinstance(op, str) or op in api.SELECTOR_OPERATORS:
        return None
    listed = ", ".join(api.SELECTOR_OPERATORS)
    return f"{_short(op)} is not one of: {listed}" + _did_you_mean(
        op, api.SELECTOR_OPERATORS
    )


def _requirement_values(value: Any) -> str | None:
    if not isinstance(value, Mapping):
        return None
    op, values = value.get("operator"), value.get("values") or []
    if op in ("In", "NotIn") and isinstance(values, list | tuple) and not values:
        return f"operator {op} needs at least one value"
    if op in ("Exists", "DoesNotExist") and values:
        return f"operator {op} takes no values"
    return None


def _selects_something(value: Any) -> str | None:
    if isinstance(value, Mapping) and not any(value.values()):
        return "an empty selector matches every program, but it must match exactly one"
    return None


def _c_identifier(value: Any) -> str | None:
    if not isinstance(value, str) or _C_IDENTIFIER.fullmatch(value):
        return None
    if not value:
        return "must not be empty"
    return f"{_short(value)} is not a C identifier (letters, digits and _)"


def _kernel_symbol(value: Any) -> str | None:
    if not isinstance(value, str) or _KERNEL_SYMBOL.fullmatch(value):
        return None
    if not value:
        return "must not be empty"
    return f"{_short(value)} is not a kernel function name"


def _user_symbol(value: Any) -> str | None:
    if isinstance(value, str) and (not value or value.split() != [value]):
        return "must be a symbol name without spaces"
    return None


def _exactly_one(*names: str) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, Mapping):
            return None
        count = sum(value.get(n) is not None for n in names)
        if count == 1:
            return None
        return f"set exactly one of: {', '.join(names)} (found {count})"

    return check


def _image_reference(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    if not value:
        return "must not be empty"
    if "://" in value:
        return "an image reference has no scheme; write it as quay.io/org/image:tag"
    if value.split() != [value]:
        return "an image reference has no spaces"
    return None


def _non_empty(value: Any) -> str | None:
    return "must not be empty" if value == "" else None


def _has_bytes(value: Any) -> str | None:
    if isinstance(value, str | list | tuple) and len(value) == 0:
        return "holds no bytes"
    return None


def _only_true(value: Any) -> str | None:
    if value is False:
        return "only true is accepted; to name interfaces, set interfaces instead"
    return None


def _non_empty_list(value: Any) -> str | None:
    if isinstance(value, list | tuple) and not value:
        return "list at least one value"
    return None


def _no_duplicates(value: Any) -> str | None:
    if not isinstance(value, list | tuple):
        return None
    seen: set[Any] = set()
    for item in value:
        if _hashable(item) in seen:
            return f"{_short(item)} is listed more than once"
        seen.add(_hashable(item))
    return None


def _interface_name(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    too_long = len(value.encode()) >= _IFNAMSIZ
    if not value or too_long or value in (".", "..") or re.search(r"[/:\s]", value):
        return (
            f"{_short(value)} is not a valid interface name "
            f'(1 to {_IFNAMSIZ - 1} bytes, no "/", ":" or spaces)'
        )
    return None


def _tracepoint_name(value: Any) -> str | None:
    if not isinstance(value, str) or _TRACEPOINT.fullmatch(value):
        return None
    return (
        f"{_short(value)} is not of the form category/name "
        "(for example syscalls/sys_enter_openat)"
    )


def _not_negative(value: Any) -> str | None:
    if _is_number(value) and value < 0:
        return (
            f"{_short(value)} is negative; offsets count bytes from the function start"
        )
    return None


def _process_id(value: Any) -> str | None:
    if _is_number(value) and value < 1:
        return f"{_short(value)} is not a process id (1 or more)"
    return None


def _uretprobe_offset(value: Any) -> str | None:
    if isinstance(value, Mapping) and not _kretprobe_offset(value):
        return (
            "offset is set on a uretprobe; the CRD allows it, but a return probe "
            "fires on return, so the offset is most likely a mistake"
        )
    return None


def _relative_target(value: Any) -> str | None:
    if isinstance(value, str) and "/" in value and not value.startswith("/"):
        return (
            f"{_short(value)} is a relative path; use an absolute path "
            "or a library name such as libc"
        )
    return None


def _one_of(choices: Sequence[str]) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, str) or value in choices:
            return None
        return f"{_short(value)} is not one of: {', '.join(choices)}" + _did_you_mean(
            value, choices
        )

    return check


def _condition_type(types: type[enum.StrEnum]) -> Check:
    known = [str(t) for t in types]

    def check(value: Any) -> str | None:
        if not isinstance(value, Mapping) or not isinstance(value.get("type"), str):
            return None
        ctype, reason = value["type"], value.get("reason")
        if ctype not in known:
            listed = ", ".join(known)
            return f"{_short(ctype)} is not a condition type of this kind ({listed})"
        expected = getattr(types(ctype), "reason", None)
        if isinstance(reason, str) and reason != expected:
            return f'{ctype} goes with the reason "{expected}", not {_short(reason)}'
        return None

    return check


_WARNING = Severity.WARNING
_SELECTORS = ("spec.nodeselector", "spec.mapownerselector", "spec.containers.pods")
_KPROBE, _UPROBE = ("KprobeProgram",), ("UprobeProgram",)
_TRACEPOINT_KIND = ("TracepointProgram",)
_KERNEL_FUNCTION_KINDS = ("KprobeProgram", "FentryProgram", "FexitProgram")

# Fields that take exactly one of some children, beyond what the schemas'
# minProperties/maxProperties already say.
EXACTLY_ONE: Mapping[str, tuple[str, ...]] = {"spec.bytecode": ("image", "path")}

RULES: tuple[Rule, ...] = (
    Rule("metadata.name", _dns_subdomain),
    Rule("metadata.namespace", _cluster_scoped, severity=_WARNING),
    Rule("metadata.labels{key}", _label_key),
    Rule("metadata.labels{}", _label_value),
    Rule("metadata.annotations{key}", _label_key),
    *(Rule(f"{s}.matchLabels{{key}}", _label_key) for s in _SELECTORS),
    *(Rule(f"{s}.matchLabels{{}}", _label_value) for s in _SELECTORS),
    *(Rule(f"{s}.matchExpressions[].key", _label_key) for s in _SELECTORS),
    *(Rule(f"{s}.matchExpressions[]", _operator, at="operator") for s in _SELECTORS),
    *(
        Rule(f"{s}.matchExpressions[]", _requirement_values, at="values")
        for s in _SELECTORS
    ),
    Rule("spec.mapownerselector", _selects_something, severity=_WARNING),
    Rule("spec.bpffunctionname", _c_identifier, kinds=api.PROGRAM_KINDS),
    *(Rule(p, _exactly_one(*names)) for p, names in EXACTLY_ONE.items()),
    Rule("spec.bytecode.image.url", _image_reference),
    Rule("spec.bytecode.image.imagepullsecret.name", _dns_subdomain),
    Rule("spec.bytecode.image.imagepullsecret.namespace", _dns_label),
    Rule("spec.bytecode.path", _non_empty),
    Rule("spec.globaldata{key}", _c_identifier),
    Rule("spec.globaldata{}", _has_bytes),
    Rule("spec.interfaceselector.primarynodeinterface", _only_true),
    Rule("spec.interfaceselector.interfaces", _non_empty_list),
    Rule("spec.interfaceselector.interfaces[]", _interface_name),
    Rule("spec.interfaceselector.interfaces", _no_duplicates, severity=_WARNING),
    Rule("spec.proceedon", _no_duplicates, severity=_WARNING),
    Rule("spec.names", _non_empty_list, kinds=_TRACEPOINT_KIND),
    Rule("spec.names[]", _tracepoint_name, kinds=_TRACEPOINT_KIND),
    Rule("spec.names", _no_duplicates, kinds=_TRACEPOINT_KIND, severity=_WARNING),
    Rule("spec.func_name", _kernel_symbol, kinds=_KERNEL_FUNCTION_KINDS),
    Rule("spec.func_name", _user_symbol, kinds=_UPROBE),
    Rule("spec.offset", _not_negative, kinds=(*_KPROBE, *_UPROBE)),
    Rule("spec", _uretprobe_offset, kinds=_UPROBE, severity=_WARNING, at="offset"),
    Rule("spec.pid", _process_id, kinds=_UPROBE),
    Rule("spec.target", _non_empty, kinds=_UPROBE),
    Rule("spec.target", _relative_target, kinds=_UPROBE, severity=_WARNING),
    Rule("spec.containers.namespace", _empty_or_dns_label, kinds=_UPROBE),
    Rule("spec.containers.containernames[]", _dns_label, kinds=_UPROBE),
    Rule("spec.type", _one_of(api.BPF_PROGRAM_TYPES), kinds=("BpfProgram",)),
    Rule(
        "status.conditions[]",
        _condition_type(api.ProgramConditionType),
        kinds=api.PROGRAM_KINDS,
        severity=_WARNING,
        at="type",
    ),
    Rule(
        "status.conditions[]",
        _condition_type(api.BpfProgramConditionType),
        kinds=("BpfProgram",),
        severity=_WARNING,
        at="type",
    ),
)

_TOKEN = re.compile(r"\[\]|\{key\}|\{\}|[^.\[\]{}]+")


def rule_tokens(pattern: str) -> list[str]:
    """``spec.names[]`` as ``["spec", "names", "[]"]``."""
    return _TOKEN.findall(pattern)


def _select(doc: Any, pattern: str) -> Iterator[tuple[Path, Any]]:
    """Every (path, value) in ``doc`` that a rule path matches."""
    found: list[tuple[Path, Any]] = [((), doc)]
    for token in rule_tokens(pattern):
        found = [hit for path, value in found for hit in _step(path, value, token)]
    yield from found


def _step(path: Path, value: Any, token: str) -> Iterator[tuple[Path, Any]]:
    if token == "[]":
        if isinstance(value, list | tuple):
            yield from (((*path, i), v) for i, v in enumerate(value))
    elif isinstance(value, Mapping):
        entries = [(k, v) for k, v in value.items() if isinstance(k, str)]
        if token == "{}":
            yield from (((*path, k), v) for k, v in entries)
        elif token == "{key}":
            yield from (((*path, k), k) for k, _ in entries)
        elif value.get(token) is not None:
            yield (*path, token), value[token]


def _custom_rules(kind: str, doc: Mapping[str, Any]) -> Iterator[_Issue]:
    for rule in RULES:
        if not rule.applies_to(kind):
            continue
        for path, value in _select(doc, rule.path):
            message = rule.check(value)
            if message:
                where = (*path, rule.at) if rule.at else path
                yield _Issue(where, message, rule.severity)


# --- checking a whole object --------------------------------------------------


def identity(doc: Any) -> tuple[str | None, str | None]:
    """The kind and metadata.name of a raw tree, where they are strings."""
    if not isinstance(doc, Mapping):
        return None, None
    kind, meta = doc.get("kind"), doc.get("metadata")
    name = meta.get("name") if isinstance(meta, Mapping) else None
    return (
        kind if isinstance(kind, str) else None,
        name if isinstance(name, str) else None,
    )


def check(doc: Any) -> list[Problem]:
    """Every problem of one object, errors and warnings, in document order.

    Args:
        doc: a raw tree; anything at all is accepted and judged.

    Returns:
        An empty list when the object is valid and has nothing to warn about.
    """
    kind, name = identity(doc)
    return [
        Problem(issue.severity, kind, name, format_path(issue.path), issue.message)
        for issue in _check_tree(doc)
    ]


def errors(problems: Iterable[Problem]) -> list[Problem]:
    """Only the problems that make an object invalid."""
    return [p for p in problems if p.is_error]


def _check_tree(doc: Any) -> Iterator[_Issue]:
    if not isinstance(doc, Mapping):
        yield _Issue(
            (),
            f"expected an object with apiVersion, kind and spec, got {describe(doc)}",
        )
        return
    yield from _check_api_version(doc.get("apiVersion"))
    kind = doc.get("kind")
    if not isinstance(kind, str) or kind not in api.KINDS:
        yield _unknown_kind(kind)
        return
    yield from _walk(schema(kind), doc, ())
    yield from _custom_rules(kind, doc)


def _check_api_version(value: Any) -> Iterator[_Issue]:
    path: Path = ("apiVersion",)
    if value is None:
        yield _Issue(path, f"required field is missing; use {api.API_VERSION}")
    elif value != api.API_VERSION:
        yield _Issue(path, f"{_short(value)} is not served here; use {api.API_VERSION}")


def _kind_for(text: str) -> str:
    try:
        return api.resolve_kind(text)
    except InputError:
        return text


def _unknown_kind(kind: Any) -> _Issue:
    path: Path = ("kind",)
    if kind is None:
        return _Issue(path, "required field is missing")
    kinds = ", ".join(api.KINDS)
    if isinstance(kind, str):
        more = _did_you_mean(_kind_for(kind), api.KINDS)
        return _Issue(
            path, f"{_short(kind)} is not a kind of {api.API_VERSION} ({kinds}){more}"
        )
    return _Issue(path, f"expected a string, got {describe(kind)}")


# --- defaults -----------------------------------------------------------------


def apply_defaults(doc: Any) -> Any:
    """A copy of ``doc`` with the schema defaults of its kind filled in.

    Defaults apply, as on the API server, to fields that are absent or null
    inside objects that are present. Trees of unknown kind come back as a
    plain copy.
    """
    tree = copy.deepcopy(doc)
    kind = tree.get("kind") if isinstance(tree, Mapping) else None
    if kind in api.KINDS:
        _fill(schema(kind), tree)
    return tree


def _fill(node: Mapping[str, Any], value: Any) -> None:
    if isinstance(value, dict):
        for key, child in node.get("properties", {}).items():
            if value.get(key) is None and "default" in child:
                value[key] = copy.deepcopy(child["default"])
            _fill(child, value.get(key))
    elif isinstance(value, list) and node.get("type") == "array":
        for item in value:
            _fill(node.get("items", {}), item)


# --- field metadata for front ends --------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of a kind, as a form or a completer needs it.

    Attributes:
        path: dotted path; ``[]`` stands for every item of a list
            (``spec.nodeselector.matchExpressions[].key``).
        type: ``string``, ``integer``, ``boolean``, ``bytes``, ``object``,
            ``array`` or ``map``.
        description: the schema's description, on one line.
        required: the field must be set whenever its parent is.
        default: the schema default, as a raw value (None when there is none).
        enum: allowed values; for a list, allowed values of each item.
        item_type: for ``array`` and ``map``, the type of each value.
        minimum: smallest integer allowed.
        maximum: largest integer allowed.
        max_items: most items a list may have.
        format: the schema format (``int32``, ``int64``, ``byte``, ``date-time``).
        exactly_one: for an object, the children of which exactly one is set.
    """

    path: str
    type: str
    description: str = ""
    required: bool = False
    default: Any = None
    enum: tuple[str, ...] = ()
    item_type: str | None = None
    minimum: int | None = None
    maximum: int | None = None
    max_items: int | None = None
    format: str | None = None
    exactly_one: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The last segment of the path (``priority``)."""
        return self.path.rsplit(".", 1)[-1]

    @property
    def short_path(self) -> str:
        """The path without the ``spec.`` prefix, as ``--set`` accepts it."""
        return self.path.removeprefix("spec.")


def known_fields(node: Mapping[str, Any]) -> list[str]:
    """The field names a schema object node accepts and bpftui models."""
    return [k for k, v in node.get("properties", {}).items() if not v.get(_IGNORED)]


def type_of(node: Mapping[str, Any]) -> str:
    """The :attr:`FieldSpec.type` of a schema node (``bytes``, ``map`` ...)."""
    return _type_of(node)


def _type_of(node: Mapping[str, Any]) -> str:
    kind = node.get("type", "object")
    if kind == "string" and node.get("format") == "byte":
        return "bytes"
    if kind == "object" and "properties" not in node and "additionalProperties" in node:
        return "map"
    return str(kind)


def _field_spec(path: str, node: Mapping[str, Any], required: bool) -> FieldSpec:
    kind = _type_of(node)
    inner = node.get("items") if kind == "array" else node.get("additionalProperties")
    inner = inner if isinstance(inner, Mapping) else {}
    return FieldSpec(
        path=path,
        type=kind,
        description=" ".join(str(node.get("description", "")).split()),
        required=required,
        default=copy.deepcopy(node.get("default")),
        enum=tuple(node.get("enum") or inner.get("enum") or ()),
        item_type=_type_of(inner) if kind in ("array", "map") else None,
        minimum=node.get("minimum"),
        maximum=node.get("maximum"),
        max_items=node.get("maxItems"),
        format=node.get("format") or inner.get("format"),
        exactly_one=_exactly_one_of(path, node),
    )


def _exactly_one_of(path: str, node: Mapping[str, Any]) -> tuple[str, ...]:
    if path in EXACTLY_ONE:
        return EXACTLY_ONE[path]
    if node.get("minProperties") == node.get("maxProperties") == 1:
        return tuple(node.get("properties", {}))
    return ()


@functools.cache
def _fields(kind: str) -> tuple[FieldSpec, ...]:
    root = schema(kind)["properties"]
    found: list[FieldSpec] = []
    for top in ("metadata", "spec"):
        _collect(top, root[top], True, found)
    return tuple(found)


def _collect(
    path: str, node: Mapping[str, Any], required: bool, out: list[FieldSpec]
) -> None:
    if node.get(_IGNORED):
        return
    out.append(_field_spec(path, node, required))
    if node.get("type") == "array" and isinstance(node.get("items"), Mapping):
        node, path = node["items"], path + "[]"
    needed = set(node.get("required", ()))
    for key, child in node.get("properties", {}).items():
        _collect(f"{path}.{key}", child, key in needed, out)


def fields(kind: str) -> list[FieldSpec]:
    """Every field of ``kind`` under metadata and spec, in schema order.

    Args:
        kind: a kind or any alias of one (``xdp``).
    """
    return list(_fields(api.resolve_kind(kind)))


def field_spec(kind: str, path: str) -> FieldSpec | None:
    """The field at ``path`` (``spec.`` optional, ``[N]`` read as ``[]``)."""
    wanted = re.sub(r"\[\d+\]", "[]", path)
    if not wanted.startswith(("metadata.", "spec.")) and wanted not in (
        "metadata",
        "spec",
    ):
        wanted = "spec." + wanted
    return next((f for f in fields(kind) if f.path == wanted), None)
