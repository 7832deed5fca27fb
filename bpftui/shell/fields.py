"""Field facts for completion and highlighting, read from ``core.rules``.

The shell invents no field, enum or default: every answer here comes from
:func:`bpftui.core.rules.fields`, which reads the CRD schemas.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

from bpftui.core import rules
from bpftui.core.errors import BpftuiError

log = logging.getLogger(__name__)

BOOLEANS = ("true", "false")


def typed_path(spec: rules.FieldSpec) -> str:
    """How a field is typed after ``set``: ``spec.`` left out."""
    return spec.short_path


def settable(kind: str) -> list[rules.FieldSpec]:
    """Fields ``set`` can reach: not list items, not the two roots."""
    return [f for f in rules.fields(kind) if "[]" not in f.path and "." in f.path]


def field_pairs(kind: str) -> Iterator[tuple[str, str]]:
    """``(path, description)`` for every settable field of ``kind``."""
    for spec in settable(kind):
        yield typed_path(spec), _meta(spec)


def _meta(spec: rules.FieldSpec) -> str:
    need = "required " if spec.required else ""
    return f"{need}{spec.type}: {spec.description}"[:80]


def enum_values(kind: str, path: str) -> tuple[str, ...]:
    """The values a field takes from a fixed set (booleans included)."""
    spec = rules.field_spec(kind, path)
    if spec is None:
        return ()
    if spec.enum:
        return spec.enum
    if spec.type == "boolean" or spec.item_type == "boolean":
        return BOOLEANS
    return ()


def is_list(kind: str, path: str) -> bool:
    spec = rules.field_spec(kind, path)
    return spec is not None and spec.type == "array"


def set_paths(kind: str, doc: Mapping[str, Any]) -> Iterator[str]:
    """The settable fields that hold a value in ``doc``."""
    for spec in settable(kind):
        if _lookup(doc, spec.path) is not None:
            yield typed_path(spec)


def _lookup(doc: Any, path: str) -> Any:
    node = doc
    for key in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def bytecode_path(doc: Mapping[str, Any]) -> str | None:
    """``spec.bytecode.path`` of an object, when it names a file."""
    path = _lookup(doc, "spec.bytecode.path")
    return path if isinstance(path, str) and path else None


def read_bytecode(path: str) -> Any:
    """The ObjectSpec of a bytecode file, or None when it cannot be read.

    A completion source, never an error: a missing or broken file only
    means nothing to offer.
    """
    from bpftui.core.bytecode import inspect_bytecode

    try:
        return inspect_bytecode(path)
    except (BpftuiError, OSError) as err:
        log.debug("no bytecode facts from %s: %s", path, err)
        return None


def program_names(spec: Any, kind: str) -> Iterator[tuple[str, str]]:
    """The bytecode's programs, those whose section suits ``kind`` first."""
    if spec is None:
        return
    want = kind.removesuffix("Program").lower()
    programs = sorted(spec.programs, key=lambda p: p.prog_type != want)
    for program in programs:
        yield program.name, f"{program.prog_type or '?'} {program.section}"


def global_names(spec: Any) -> Iterator[tuple[str, str]]:
    """``globaldata.NAME`` for each global variable of the bytecode."""
    if spec is None:
        return
    for var in spec.globals:
        yield f"globaldata.{var.name}", f"{var.size} bytes in {var.section}"
