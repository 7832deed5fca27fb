"""The compose form's model: which fields a kind shows, and their completions.

Fields come from :func:`bpftui.core.rules.fields` (the CRD schemas), so a
field added to the API shows up in the form without a change here; this
module only chooses an order, a section and a short label for each.
Nothing here imports textual except the suggester classes at the bottom.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from textual.suggester import Suggester

from bpftui.core import rules
from bpftui.core.errors import BpftuiError
from bpftui.core.rules import FieldSpec, Problem

# Leaf fields in the order a user thinks of them; the rest follow in schema
# order. Short paths (without "spec.").
ORDER = (
    "metadata.name",
    "interfaceselector.interfaces",
    "interfaceselector.primarynodeinterface",
    "priority",
    "direction",
    "proceedon",
    "names",
    "func_name",
    "target",
    "offset",
    "retprobe",
    "pid",
    "bpffunctionname",
    "bytecode.path",
    "bytecode.image.url",
    "bytecode.image.imagepullpolicy",
    "bytecode.image.imagepullsecret.name",
    "bytecode.image.imagepullsecret.namespace",
    "globaldata",
    "nodeselector.matchLabels",
    "mapownerselector.matchLabels",
    "containers.namespace",
    "containers.pods.matchLabels",
    "containers.containernames",
    "metadata.labels",
)
SECTIONS = (
    ("Object", ("metadata.name",)),
    (
        "Attach",
        (
            "interfaceselector.",
            "priority",
            "direction",
            "proceedon",
            "names",
            "func_name",
            "target",
            "offset",
            "retprobe",
            "pid",
        ),
    ),
    ("Bytecode", ("bpffunctionname", "bytecode.", "globaldata")),
    ("Selection", ("nodeselector.", "mapownerselector.")),
    ("Containers", ("containers.",)),
    ("Labels", ("metadata.labels", "metadata.annotations")),
)
LABELS = {
    "metadata.name": "name",
    "interfaceselector.interfaces": "interfaces",
    "interfaceselector.primarynodeinterface": "primary interface",
    "bytecode.path": "bytecode path",
    "bytecode.image.url": "image url",
    "bytecode.image.imagepullpolicy": "pull policy",
    "bytecode.image.imagepullsecret.name": "pull secret name",
    "bytecode.image.imagepullsecret.namespace": "pull secret namespace",
    "nodeselector.matchLabels": "node labels",
    "mapownerselector.matchLabels": "map owner labels",
    "containers.namespace": "container namespace",
    "containers.pods.matchLabels": "pod labels",
    "containers.containernames": "container names",
    "metadata.labels": "labels",
    "metadata.annotations": "annotations",
}
# Hints for fields whose rule involves another field.
PLACEHOLDERS = {
    "interfaceselector.interfaces": "eth0,eth1 (or primary interface)",
    "bytecode.path": "/path/to/prog.bpf.o (or image url)",
    "bytecode.image.url": "quay.io/org/image:tag (or bytecode path)",
    "names": "category/name,category/name",
    "target": "libc, or /usr/bin/binary",
}
_LEAF_TYPES = ("string", "integer", "boolean", "array", "map")


@dataclass(frozen=True, slots=True)
class FormField:
    """One editable field of the form."""

    spec: FieldSpec
    section: str
    label: str
    required: bool = False  # must be set: it and every object above it are

    @property
    def path(self) -> str:
        return self.spec.path

    @property
    def widget_id(self) -> str:
        return "f-" + self.path.replace(".", "-").replace("[]", "")

    @property
    def choices(self) -> tuple[str, ...]:
        """Fixed values for a select, if the field has them."""
        if self.spec.type == "boolean":
            return ("true", "false")
        return self.spec.enum if self.spec.type == "string" else ()

    @property
    def placeholder(self) -> str:
        spec = self.spec
        if spec.short_path in PLACEHOLDERS:
            return PLACEHOLDERS[spec.short_path]
        if spec.type == "array":
            return "comma-separated" + (
                f": {', '.join(spec.enum)}" if spec.enum else ""
            )
        if spec.type == "map":
            return (
                "key=value,key2=value2"
                if spec.item_type != "bytes"
                else "NAME=0x01,0x02 or NAME=base64"
            )
        if spec.minimum is not None or spec.maximum is not None:
            return f"{spec.minimum} to {spec.maximum}"
        return "required" if self.required else "optional"


def _short(path: str) -> str:
    return path.removeprefix("spec.")


def _editable(spec: FieldSpec) -> bool:
    if "[]" in spec.path or spec.type not in _LEAF_TYPES:
        return False
    if spec.type == "array" and spec.item_type not in ("string", "integer"):
        return False
    return spec.path != "metadata.annotations"


def _section(short: str) -> str:
    for name, prefixes in SECTIONS:
        if any(
            short == p or (p.endswith(".") and short.startswith(p)) for p in prefixes
        ):
            return name
    return "Attach"


def form_fields(kind: str) -> list[FormField]:
    """The fields a form for ``kind`` shows, in display order."""
    every = rules.fields(kind)
    specs = [s for s in every if _editable(s)]
    rank = {path: i for i, path in enumerate(ORDER)}
    specs.sort(key=lambda s: rank.get(_short(s.path), len(ORDER)))
    needed = _always_required(every)
    return [_form_field(s, s.path in needed) for s in specs]


def _form_field(spec: FieldSpec, required: bool) -> FormField:
    short = _short(spec.path)
    return FormField(spec, _section(short), LABELS.get(short, short), required)


def _always_required(specs: Sequence[FieldSpec]) -> set[str]:
    """Paths required whatever else is set: required all the way up."""
    required = {s.path for s in specs if s.required}
    return {
        path
        for path in required
        if all(
            ".".join(path.split(".")[:i]) in required
            for i in range(1, path.count(".") + 1)
        )
    }


def field_for_problem(
    problem_path: str, fields: Sequence[FormField]
) -> FormField | None:
    """The field a problem is shown beside.

    The field itself, else the first field under it (``spec.bytecode``: one
    of image and path), else the nearest field above it
    (``spec.interfaceselector.interfaces[1]``).
    """
    if not problem_path or problem_path in ("metadata", "spec"):
        return None
    for candidate in fields:
        if candidate.path == problem_path:
            return candidate
    for candidate in fields:
        if candidate.path.startswith(problem_path + "."):
            return candidate
    above = [f for f in fields if problem_path.startswith((f.path + ".", f.path + "["))]
    return max(above, key=lambda f: len(f.path), default=None)


def place_problems(
    problems: Iterable[Problem], fields: Sequence[FormField]
) -> tuple[dict[str, list[Problem]], list[Problem]]:
    """Problems by the field path they show beside, and those of no field."""
    beside: dict[str, list[Problem]] = {}
    general: list[Problem] = []
    for problem in problems:
        target = field_for_problem(problem.path, fields)
        if target is None:
            general.append(problem)
        else:
            beside.setdefault(target.path, []).append(problem)
    return beside, general


@dataclass(frozen=True, slots=True)
class NodeFacts:
    """What this node has, for warnings a cluster-wide rule cannot give."""

    interfaces: frozenset[str] = frozenset()
    tracepoints: frozenset[str] = frozenset()
    functions: Any = None  # a FunctionCatalog, or None when unreadable


def read_facts(discovery: Any) -> NodeFacts:
    """Read the node's interfaces, tracepoints and functions; blocking."""
    facts: dict[str, Any] = {}
    readers = {
        "interfaces": lambda: frozenset(i.name for i in discovery.interfaces()),
        "tracepoints": lambda: frozenset(t.full_name for t in discovery.tracepoints()),
        "functions": discovery.functions,
    }
    for name, read in readers.items():
        # A part of the node that cannot be read gives no warnings, no error.
        with contextlib.suppress(BpftuiError):
            facts[name] = read()
    if facts.get("functions") is not None:
        facts["functions"].get("")  # builds its name index here, off the UI thread
    return NodeFacts(**facts)


def node_warnings(kind: str, doc: Any, facts: NodeFacts) -> dict[str, str]:
    """Fields naming things this node lacks; other nodes may have them."""
    spec = doc.get("spec", {}) if isinstance(doc, dict) else {}
    found: dict[str, str] = {}
    interfaces = (spec.get("interfaceselector") or {}).get("interfaces")
    missing = _absent(interfaces, facts.interfaces)
    if missing:
        found["spec.interfaceselector.interfaces"] = f"not on this node: {missing}"
    missing = _absent(spec.get("names"), facts.tracepoints)
    if missing:
        found["spec.names"] = f"no such tracepoint here: {missing}"
    function = spec.get("func_name")
    if kind in ("KprobeProgram", "FentryProgram", "FexitProgram") and function:
        warning = _function_warning(kind, str(function), facts.functions)
        if warning:
            found["spec.func_name"] = warning
    return found


def _absent(names: Any, known: frozenset[str]) -> str:
    if not known or not isinstance(names, list):
        return ""
    return ", ".join(str(n) for n in names if n not in known)


def _function_warning(kind: str, name: str, catalog: Any) -> str:
    view = catalog.get(name) if catalog is not None else None
    if catalog is None:
        return ""
    if view is None:
        return "no kernel function of that name here"
    if kind == "KprobeProgram" and view.kprobe is False:
        return "kprobes cannot attach to it here"
    if kind != "KprobeProgram" and not view.fentry:
        return f"{kind.removesuffix('Program').lower()} cannot attach to it here"
    return ""


def default_name(kind: str, preset: dict[str, str]) -> str:
    """A DNS-safe object name from what the program attaches to."""
    short = kind.removesuffix("Program").lower()
    target = next(iter(preset.values()), "") if preset else ""
    base = "".join(c if c.isalnum() else "-" for c in target.lower()).strip("-")
    return f"{short}-{base}"[:63].rstrip("-") if base else f"{short}-program"


# ---------------------------------------------------------------- completion

Source = Callable[[str], Iterable[str]]
"""Candidates for a prefix; may block (it runs in a thread)."""


class PrefixSuggester(Suggester):
    """Completes the last comma-separated item from a candidate source."""

    def __init__(self, source: Source, *, is_list: bool = False) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.source = source
        self.is_list = is_list

    async def get_suggestion(self, value: str) -> str | None:
        head, sep, last = value.rpartition(",") if self.is_list else ("", "", value)
        word = last.lstrip()
        if not word:
            return None
        try:
            found = await asyncio.to_thread(_first_completion, self.source, word)
        except BpftuiError:
            return None
        if found is None:
            return None
        return head + sep + last[: len(last) - len(word)] + found


def _first_completion(source: Source, word: str) -> str | None:
    return next((c for c in source(word) if c.startswith(word) and c != word), None)


def from_list(items: Sequence[str]) -> Source:
    """A source over a fixed list."""
    return lambda word: (i for i in items if i.startswith(word))


def file_paths(word: str) -> Iterable[str]:
    """Files and directories starting with ``word`` (directories end in /)."""
    folder, slash, stem = word.rpartition("/")
    base = folder + slash  # "", "dir/" or "/"
    try:
        entries = sorted(os.scandir(base or "."), key=lambda e: e.name)
    except OSError:
        return []
    return [
        base + e.name + ("/" if e.is_dir() else "")
        for e in entries
        if e.name.startswith(stem)
    ]


def elf_programs(path: str) -> list[str]:
    """Function names of the programs in a BPF object file, or none.

    Any failure means no completions, never an error: the form's own check
    reports a bad path.
    """
    try:
        from bpftui.core.bytecode import inspect_bytecode

        return sorted(p.name for p in inspect_bytecode(path).programs)
    except (OSError, BpftuiError):
        return []


def no_candidates(_: str) -> Iterable[Any]:
    return ()
