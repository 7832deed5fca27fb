"""The io.ebpf labels of a BPF ELF object: programs and maps, as bpfman spells them.

The object is read by :func:`bpftui.core.bytecode.inspect_bytes`; this module
only turns what it finds into label values. Program types come from the
section name in bpfman's vocabulary (``kretprobe`` and ``uretprobe`` are
types of their own, ``tc/ingress`` is ``tcx``); map types are the kernel's
names with ``percpu`` written ``per_cpu``. Maps are the BTF-defined ones, or
the legacy ``maps`` section's when there are none; libbpf's internal
``.rodata``/``.data``/``.bss`` maps are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

# Section name prefix (before the first '/') -> program type label.
_SECTION_TYPES = {
    "xdp": "xdp", "xdp.frags": "xdp",
    "tc": "tc", "classifier": "tc", "tcx": "tcx",
    "tracepoint": "tracepoint", "tp": "tracepoint",
    "kprobe": "kprobe", "kprobe.multi": "kprobe", "ksyscall": "kprobe",
    "kretprobe": "kretprobe", "kretprobe.multi": "kretprobe",
    "kretsyscall": "kretprobe",
    "uprobe": "uprobe", "uprobe.s": "uprobe", "uprobe.multi": "uprobe",
    "uretprobe": "uretprobe", "uretprobe.s": "uretprobe",
    "uretprobe.multi": "uretprobe",
    "fentry": "fentry", "fentry.s": "fentry", "fexit": "fexit", "fexit.s": "fexit",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ObjectSummary:
    """Programs and maps of one BPF object, as label values."""

    programs: dict[str, str]
    maps: dict[str, str]


def section_program_type(section: str) -> str:
    """The program type label for an ELF section name (``xdp``, ``tc`` ...)."""
    if section in ("tc/ingress", "tc/egress"):
        return "tcx"  # libbpf reads these two as TCX attach points
    prefix = section.split("/", 1)[0]
    return _SECTION_TYPES.get(prefix, prefix)


def summarize(data: bytes, what: str) -> ObjectSummary:
    """Read the programs and maps of a BPF ELF object.

    Raises:
        ElfError: the object cannot be parsed.
    """
    from bpftui.core.bytecode import inspect_bytes

    spec = inspect_bytes(data, what)
    programs = {p.name: section_program_type(p.section) for p in spec.programs}
    btf_maps = [m for m in spec.maps if m.section == ".maps"]
    maps = btf_maps or [m for m in spec.maps if m.section == "maps"]
    return ObjectSummary(programs, {m.name: _map_label(m.map_type) for m in maps})


def _map_label(map_type: str) -> str:
    """bpfman's spelling of a map type: ``per_cpu_array``, or the number."""
    if map_type.startswith("unknown("):
        return map_type.removeprefix("unknown(").removesuffix(")")
    return map_type.replace("percpu", "per_cpu")
