"""Just enough of a BPF ELF object to label an image: programs and maps.

A stand-in until ``bpftui.native.elf`` exists; it reads only what the
io.ebpf labels need. Programs are the global functions outside ``.text``
(libbpf's rule); their type comes from the section name. Maps come from the
BTF ``.maps`` section, or from the legacy ``maps`` section of
``struct bpf_map_def`` records.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from bpftui.core.errors import ElfError

# enum bpf_map_type, spelled as bpfman writes it in io.ebpf.maps.
MAP_TYPES: tuple[str, ...] = (
    "unspec", "hash", "array", "prog_array", "perf_event_array", "per_cpu_hash",
    "per_cpu_array", "stack_trace", "cgroup_array", "lru_hash", "lru_per_cpu_hash",
    "lpm_trie", "array_of_maps", "hash_of_maps", "devmap", "sockmap", "cpumap",
    "xskmap", "sockhash", "cgroup_storage", "reuseport_sockarray",
    "per_cpu_cgroup_storage", "queue", "stack", "sk_storage", "devmap_hash",
    "struct_ops", "ringbuf", "inode_storage", "task_storage", "bloom_filter",
    "user_ringbuf", "cgrp_storage", "arena",
)  # fmt: skip

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

_BTF_MAGIC = 0xEB9F
# BTF kinds by number, and the size of the data that follows each btf_type.
_KIND_PTR, _KIND_ARRAY, _KIND_STRUCT, _KIND_UNION = 2, 3, 4, 5
_KIND_TYPEDEF, _KIND_VOLATILE, _KIND_CONST, _KIND_RESTRICT = 8, 9, 10, 11
_KIND_VAR, _KIND_DATASEC, _KIND_TYPE_TAG = 14, 15, 18
_MODIFIERS = frozenset(
    {_KIND_TYPEDEF, _KIND_VOLATILE, _KIND_CONST, _KIND_RESTRICT, _KIND_TYPE_TAG}
)
_FIXED_EXTRA = {1: 4, 3: 12, 14: 4, 17: 4}
_PER_ITEM_EXTRA = {4: 12, 5: 12, 6: 8, 13: 8, 15: 12, 19: 12}


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
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        elf = ELFFile(io.BytesIO(data))
        programs = dict(_programs(elf))
        maps = dict(_btf_maps(elf)) or dict(_legacy_maps(elf))
    except (ELFError, struct.error, ValueError, IndexError) as exc:
        raise ElfError(f"{what}: cannot read the ELF object: {exc}") from None
    return ObjectSummary(programs=programs, maps=maps)


def _programs(elf: object) -> Iterator[tuple[str, str]]:
    symtab = elf.get_section_by_name(".symtab")  # type: ignore[attr-defined]
    if symtab is None:
        return
    for symbol in symtab.iter_symbols():
        if symbol["st_info"]["type"] != "STT_FUNC":
            continue
        if symbol["st_info"]["bind"] != "STB_GLOBAL":
            continue
        index = symbol["st_shndx"]
        if not isinstance(index, int):
            continue
        section = elf.get_section(index).name  # type: ignore[attr-defined]
        if section != ".text":
            yield symbol.name, section_program_type(section)


def _btf_maps(elf: object) -> Iterator[tuple[str, str]]:
    section = elf.get_section_by_name(".BTF")  # type: ignore[attr-defined]
    if section is None:
        return
    btf = _Btf.parse(section.data(), "<" if elf.little_endian else ">")  # type: ignore[attr-defined]
    for var_id in btf.datasec_vars(".maps"):
        name_off, _kind, _vlen, var_type, _extra = btf.types[var_id]
        name = btf.strings.get(name_off, "")
        number = btf.map_type_number(var_type)
        if name and number is not None:
            yield name, _map_type_name(number)


def _legacy_maps(elf: object) -> Iterator[tuple[str, str]]:
    section = elf.get_section_by_name("maps")  # type: ignore[attr-defined]
    symtab = elf.get_section_by_name(".symtab")  # type: ignore[attr-defined]
    if section is None or symtab is None:
        return
    index = elf.get_section_index("maps")  # type: ignore[attr-defined]
    order = "<" if elf.little_endian else ">"  # type: ignore[attr-defined]
    data = section.data()
    for symbol in symtab.iter_symbols():
        if symbol["st_shndx"] == index and symbol.name:
            (kind,) = struct.unpack_from(order + "I", data, symbol["st_value"])
            yield symbol.name, _map_type_name(kind)


def _map_type_name(number: int) -> str:
    return MAP_TYPES[number] if number < len(MAP_TYPES) else str(number)


# A BTF type as (name_off, kind, vlen, size_or_type, the bytes that follow).
_BtfType = tuple[int, int, int, int, bytes]


@dataclass(frozen=True, slots=True)
class _Btf:
    """The type and string tables of a ``.BTF`` section."""

    types: dict[int, _BtfType]
    strings: dict[int, str]
    order: str

    @classmethod
    def parse(cls, data: bytes, order: str) -> _Btf:
        magic, _version, _flags, hdr_len = struct.unpack_from(order + "HBBI", data, 0)
        if magic != _BTF_MAGIC:
            raise ValueError("bad BTF magic")
        type_off, type_len, str_off, str_len = struct.unpack_from(
            order + "IIII", data, 8
        )
        start = hdr_len + str_off
        strings = _string_table(data[start : start + str_len])
        types: dict[int, _BtfType] = {0: (0, 0, 0, 0, b"")}
        pos, end = hdr_len + type_off, hdr_len + type_off + type_len
        while pos < end:
            name_off, info, size = struct.unpack_from(order + "III", data, pos)
            kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
            extra = _FIXED_EXTRA.get(kind, 0) + _PER_ITEM_EXTRA.get(kind, 0) * vlen
            types[len(types)] = (
                name_off,
                kind,
                vlen,
                size,
                data[pos + 12 : pos + 12 + extra],
            )
            pos += 12 + extra
        return cls(types, strings, order)

    def datasec_vars(self, name: str) -> Iterator[int]:
        """The type ids of the variables in the data section ``name``."""
        for name_off, kind, vlen, _size, extra in self.types.values():
            if kind != _KIND_DATASEC or self.strings.get(name_off) != name:
                continue
            for i in range(vlen):
                (var_id,) = struct.unpack_from(self.order + "I", extra, 12 * i)
                if self.types.get(var_id, (0, 0, 0, 0, b""))[1] == _KIND_VAR:
                    yield var_id

    def resolve(self, type_id: int) -> _BtfType:
        """Follow typedefs and qualifiers to the type underneath."""
        entry = self.types[type_id]
        for _ in range(32):  # real chains are short; a longer one is a loop
            if entry[1] not in _MODIFIERS:
                return entry
            entry = self.types[entry[3]]
        raise ValueError("BTF modifier chain too long")

    def map_type_number(self, type_id: int) -> int | None:
        """``__uint(type, N)`` is a member ``type`` of type ``int (*)[N]``."""
        _name, kind, vlen, _size, members = self.resolve(type_id)
        if kind not in (_KIND_STRUCT, _KIND_UNION):
            return None
        for i in range(vlen):
            name_off, member_type, _off = struct.unpack_from(
                self.order + "III", members, 12 * i
            )
            if self.strings.get(name_off) != "type":
                continue
            pointer = self.resolve(member_type)
            array = self.resolve(pointer[3]) if pointer[1] == _KIND_PTR else None
            if array is None or array[1] != _KIND_ARRAY:
                return None
            return int(struct.unpack_from(self.order + "III", array[4], 0)[2])
        return None


def _string_table(blob: bytes) -> dict[int, str]:
    table, start = {}, 0
    for part in blob.split(b"\0"):
        table[start] = part.decode("utf-8", "replace")
        start += len(part) + 1
    return table
