"""What a BPF ELF object holds, read with pyelftools without loading anything.

:func:`inspect_object` returns an :class:`ObjectSpec`: the programs (function,
section, the program type the section implies under libbpf's naming
conventions, instruction count), the maps (from the BTF-defined ``.maps``
section, the legacy ``maps`` section, and the ``.rodata``/``.data``/``.bss``
arrays libbpf makes), the global variables, the license and whether the
object carries BTF. These records are the *spec*: the same on every machine,
testable without root; only the backend turns them into kernel objects.

Input is untrusted (a bytecode image can hold anything): the file size, the
section table and every section are checked against the file before anything
is read, and any failure is an :class:`~bpftui.core.errors.ElfError` naming
the file and the problem.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import struct
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from bpftui.core.errors import ElfError
from bpftui.native import uapi
from bpftui.native.btf import Btf, BtfError

log = logging.getLogger(__name__)

EM_BPF = 247
ET_REL = 1
SHT_NOBITS = 8
SHF_EXECINSTR = 0x4
STT_OBJECT = 1
STT_FUNC = 2
STB_LOCAL = 0
INSN_SIZE = 8
MAX_OBJECT_SIZE = 128 * 1024 * 1024
MAX_SYMBOLS = 200_000  # real BPF objects hold hundreds
_ELF64_HEADER_SIZE = 64
_ELF64_SECTION_HEADER_SIZE = 64
_ELF64_SYMBOL_SIZE = 24
_LEGACY_MAP_DEF_SIZE = 20  # type, key_size, value_size, max_entries, map_flags

DATA_SECTION_PREFIXES = (".rodata", ".data", ".bss")
PIN_NAMES = {0: "none", 1: "by_name"}  # enum libbpf_pin_type


# ------------------------------------------------------------------ specs


@dataclass(frozen=True, slots=True)
class ProgramSpec:
    """A program of the object: one global function in a program section.

    Attributes:
        name: the function (``bpffunctionname``).
        section: the ELF section, such as ``tracepoint/syscalls/sys_enter_kill``.
        prog_type: the API's type for the section (``xdp``, ``tc``,
            ``tracepoint``, ``kprobe``, ``uprobe``, ``fentry``, ``fexit``,
            ``ext``), the kernel's name when the API has none (``lsm``), or
            ``""`` when libbpf would not recognise the section.
        kernel_type: the kernel's program type as bpftool names it
            (``sched_cls``, ``tracing``), or ``""``.
        attach_to: what the section names after its type, such as
            ``syscalls/sys_enter_kill`` or ``do_unlinkat``; ``""`` if nothing.
        retprobe: kretprobe or uretprobe sections.
        insn_count: the number of 8-byte instruction slots.
        offset: the byte offset of the function in its section.
    """

    name: str
    section: str
    prog_type: str
    kernel_type: str
    attach_to: str
    retprobe: bool
    insn_count: int
    offset: int


@dataclass(frozen=True, slots=True)
class MapSpec:
    """A map the object defines (``internal`` for libbpf's data section maps)."""

    name: str
    map_type: str
    key_size: int
    value_size: int
    max_entries: int
    flags: int = 0
    pinning: str = "none"
    section: str = ".maps"
    internal: bool = False
    key_type: str = ""
    value_type: str = ""


@dataclass(frozen=True, slots=True)
class GlobalSpec:
    """A global variable in ``.rodata``, ``.data`` or ``.bss`` (or ``.data.*``)."""

    name: str
    section: str
    offset: int
    size: int
    type_name: str = ""  # from BTF; "" without BTF

    @property
    def constant(self) -> bool:
        """Whether the variable is read-only once loaded (``.rodata``)."""
        return self.section.startswith(".rodata")


@dataclass(frozen=True, slots=True)
class ObjectSpec:
    """Everything :func:`inspect_object` read from one ELF object."""

    path: str
    programs: tuple[ProgramSpec, ...]
    maps: tuple[MapSpec, ...]
    globals: tuple[GlobalSpec, ...]
    license: str
    has_btf: bool
    has_btf_ext: bool
    byte_order: str  # "little" or "big"
    section_sizes: tuple[tuple[str, int], ...] = ()

    def program(self, name: str) -> ProgramSpec | None:
        """Return the program whose function is ``name``."""
        return next((p for p in self.programs if p.name == name), None)

    def global_var(self, name: str) -> GlobalSpec | None:
        """Return the global variable ``name``."""
        return next((g for g in self.globals if g.name == name), None)

    def section_size(self, name: str) -> int | None:
        """Return the size of section ``name``, or None if there is none."""
        return dict(self.section_sizes).get(name)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (``bpftui inspect -o json``)."""
        data = asdict(self)
        data.pop("section_sizes")
        for entry, spec in zip(data["globals"], self.globals, strict=True):
            entry["constant"] = spec.constant
        return data


# ------------------------------------------------- section name conventions


@dataclass(frozen=True, slots=True)
class _SectionRule:
    pattern: str  # "name" matches exactly; "name+" also matches "name/..."
    kernel_type: str
    api_type: str = ""
    retprobe: bool = False

    def match(self, section: str) -> str | None:
        """Return the attach target the section names, or None if no match."""
        base = self.pattern.rstrip("+")
        if section == base:
            return ""
        if self.pattern.endswith("+") and section.startswith(base + "/"):
            return section[len(base) + 1 :]
        return None


def _rules(kernel_type: str, api_type: str, *patterns: str) -> list[_SectionRule]:
    return [_SectionRule(p, kernel_type, api_type) for p in patterns]


# libbpf's section naming conventions (libbpf.c, section_defs), most specific
# first where one pattern is the prefix of another.
SECTION_RULES: tuple[_SectionRule, ...] = (
    *_rules("xdp", "xdp", "xdp.frags/devmap", "xdp/devmap", "xdp.frags/cpumap"),
    *_rules("xdp", "xdp", "xdp/cpumap", "xdp.frags", "xdp"),
    *_rules("sched_cls", "tc", "tc/ingress", "tc/egress", "tcx/ingress"),
    *_rules("sched_cls", "tc", "tcx/egress", "tc", "classifier"),
    *_rules("sched_act", "sched_act", "action"),
    *_rules("tracepoint", "tracepoint", "tracepoint+", "tp+"),
    *_rules("raw_tracepoint", "raw_tracepoint", "raw_tracepoint+", "raw_tp+"),
    *_rules("raw_tracepoint_writable", "raw_tracepoint_writable"),
    *_rules("raw_tracepoint_writable", "", "raw_tracepoint.w+", "raw_tp.w+"),
    *_rules("kprobe", "kprobe", "kprobe+", "ksyscall+"),
    _SectionRule("kprobe+", "kprobe", "kprobe"),
    _SectionRule("kretprobe+", "kprobe", "kprobe", retprobe=True),
    _SectionRule("kretsyscall+", "kprobe", "kprobe", retprobe=True),
    *_rules("kprobe", "kprobe_multi", "kprobe.multi+"),
    _SectionRule("kretprobe.multi+", "kprobe", "kprobe_multi", retprobe=True),
    *_rules("kprobe", "uprobe", "uprobe+", "uprobe.s+"),
    _SectionRule("uretprobe+", "kprobe", "uprobe", retprobe=True),
    _SectionRule("uretprobe.s+", "kprobe", "uprobe", retprobe=True),
    *_rules("kprobe", "usdt", "usdt+"),
    *_rules("tracing", "fentry", "fentry+", "fentry.s+"),
    *_rules("tracing", "fexit", "fexit+", "fexit.s+"),
    *_rules("tracing", "fmod_ret", "fmod_ret+", "fmod_ret.s+"),
    *_rules("tracing", "tp_btf", "tp_btf+"),
    *_rules("tracing", "iter", "iter+", "iter.s+"),
    *_rules("ext", "ext", "freplace+"),
    *_rules("lsm", "lsm", "lsm+", "lsm.s+", "lsm_cgroup+"),
    *_rules("socket_filter", "socket_filter", "socket"),
    *_rules("sk_reuseport", "sk_reuseport", "sk_reuseport/migrate", "sk_reuseport"),
    *_rules("syscall", "syscall", "syscall"),
    *_rules("perf_event", "perf_event", "perf_event"),
    *_rules("lwt_in", "lwt_in", "lwt_in"),
    *_rules("lwt_out", "lwt_out", "lwt_out"),
    *_rules("lwt_xmit", "lwt_xmit", "lwt_xmit"),
    *_rules("lwt_seg6local", "lwt_seg6local", "lwt_seg6local"),
    *_rules("sock_ops", "sock_ops", "sockops"),
    *_rules("sk_skb", "sk_skb", "sk_skb/stream_parser", "sk_skb/stream_verdict"),
    *_rules("sk_skb", "sk_skb", "sk_skb"),
    *_rules("sk_msg", "sk_msg", "sk_msg"),
    *_rules("lirc_mode2", "lirc_mode2", "lirc_mode2"),
    *_rules("flow_dissector", "flow_dissector", "flow_dissector"),
    *_rules("cgroup_skb", "cgroup_skb", "cgroup_skb/ingress", "cgroup_skb/egress"),
    *_rules("cgroup_skb", "cgroup_skb", "cgroup/skb"),
    *_rules("cgroup_sock", "cgroup_sock", "cgroup/sock_create"),
    *_rules("cgroup_sock", "cgroup_sock", "cgroup/sock_release", "cgroup/sock"),
    *_rules(
        "cgroup_sock_addr",
        "cgroup_sock_addr",
        *(
            f"cgroup/{hook}{v}"
            for hook in ("post_bind", "bind", "connect")
            for v in "46"
        ),
        *(f"cgroup/{hook}{v}" for hook in ("sendmsg", "recvmsg") for v in "46"),
        *(f"cgroup/{hook}{v}" for hook in ("getpeername", "getsockname") for v in "46"),
    ),
    *_rules("cgroup_sysctl", "cgroup_sysctl", "cgroup/sysctl"),
    *_rules("cgroup_sockopt", "cgroup_sockopt", "cgroup/getsockopt"),
    *_rules("cgroup_sockopt", "cgroup_sockopt", "cgroup/setsockopt"),
    *_rules("cgroup_device", "cgroup_device", "cgroup/dev"),
    *_rules("struct_ops", "struct_ops", "struct_ops+", "struct_ops.s+"),
    *_rules("sk_lookup", "sk_lookup", "sk_lookup"),
    *_rules("netfilter", "netfilter", "netfilter"),
)


def section_program_type(section: str) -> tuple[str, str, str, bool]:
    """Return (API type, kernel type, attach target, retprobe) for a section.

    Unknown sections give ``("", "", "", False)``: libbpf would refuse them
    unless the loader sets the program type explicitly.
    """
    for rule in SECTION_RULES:
        target = rule.match(section)
        if target is not None:
            return rule.api_type, rule.kernel_type, target, rule.retprobe
    return "", "", "", False


# ----------------------------------------------------------------- reading


def inspect_object(path: str | os.PathLike[str]) -> ObjectSpec:
    """Read the BPF ELF object at ``path``.

    Raises:
        ElfError: the file is missing, too large, not a BPF ELF object, or
            damaged.
    """
    name = os.fspath(path)
    try:
        size = os.stat(name).st_size
        if size > MAX_OBJECT_SIZE:
            raise ElfError(
                f"{name}: not a BPF object: {size} bytes is larger than any "
                f"plausible one ({MAX_OBJECT_SIZE // 2**20} MiB)"
            )
        with open(name, "rb") as stream:
            data = stream.read(MAX_OBJECT_SIZE + 1)
    except OSError as err:
        raise ElfError(f"{name}: cannot read: {err.strerror}") from None
    # A dispatcher change loads every slot's object again; parsing with
    # pyelftools cost 0.75 s of a ten-program change in the guest, hashing
    # the bytes costs microseconds. Specs are frozen, so sharing them is safe.
    key = (name, hashlib.blake2b(data, digest_size=16).digest())
    spec = _SPECS.get(key)
    if spec is None:
        spec = inspect_bytes(data, name)
        if len(_SPECS) >= _SPECS_KEPT:
            _SPECS.pop(next(iter(_SPECS)))
        _SPECS[key] = spec
    return spec


_SPECS: dict[tuple[str, bytes], ObjectSpec] = {}
_SPECS_KEPT = 64


def inspect_bytes(data: bytes, name: str = "<memory>") -> ObjectSpec:
    """Read a BPF ELF object held in memory (``name`` appears in errors).

    Raises:
        ElfError: ``data`` is not a BPF ELF object or is damaged.
    """
    if len(data) > MAX_OBJECT_SIZE:
        raise ElfError(f"{name}: not a BPF object: larger than any plausible one")
    _check_ident(data, name)
    try:
        return _Reader(data, name).read()
    except ElfError:
        raise
    except BtfError as err:
        raise ElfError(f"{name}: damaged BTF: {err.detail}") from None
    except Exception as err:
        # pyelftools' failure modes on hostile input (struct.error, its own
        # ELFError, construct errors, IndexError ...) are not enumerable; the
        # type is kept in the message for a bug report.
        log.debug("ELF parse failure in %s", name, exc_info=True)
        detail = f"{type(err).__name__}: {err}"
        raise ElfError(f"{name}: damaged ELF object: {detail}") from None


def _check_ident(data: bytes, name: str) -> None:
    if len(data) < 4 or data[:4] != b"\x7fELF":
        raise ElfError(f"{name}: not an ELF file (no ELF magic)")
    if len(data) < _ELF64_HEADER_SIZE:
        raise ElfError(f"{name}: truncated ELF header ({len(data)} bytes)")
    if data[4] != 2:
        raise ElfError(f"{name}: not a BPF object: 32-bit ELF (BPF objects are 64-bit)")
    if data[5] not in (1, 2):
        raise ElfError(f"{name}: damaged ELF header: unknown byte order {data[5]}")
    endian = "<" if data[5] == 1 else ">"
    e_type, e_machine = struct.unpack_from(endian + "HH", data, 16)
    if e_machine != EM_BPF:
        raise ElfError(
            f"{name}: not a BPF object: ELF machine {e_machine}, BPF is {EM_BPF}",
            hint="compile with clang -target bpf",
        )
    if e_type != ET_REL:
        raise ElfError(
            f"{name}: not a BPF object: ELF type {e_type}, expected a "
            "relocatable object (ET_REL)",
        )


class _Reader:
    """One pass over one object; holds the parsed sections while reading."""

    def __init__(self, data: bytes, name: str) -> None:
        from elftools.elf.elffile import ELFFile

        self.data = data
        self.name = name
        self.elf = ELFFile(io.BytesIO(data))
        self.sections = self._checked_sections()
        self.by_name = {s.name: i for i, s in enumerate(self.sections)}
        self.symbols = self._symbols_by_section()
        self.btf = self._btf()

    # ------------------------------------------------------ validation

    def _checked_sections(self) -> list[Any]:
        header = self.elf.header
        count = header["e_shnum"]
        if header["e_shentsize"] != _ELF64_SECTION_HEADER_SIZE and count:
            raise ElfError(f"{self.name}: damaged ELF header: bad section entry size")
        if count == 0:
            raise ElfError(f"{self.name}: damaged ELF object: no section table")
        if header["e_shoff"] + count * _ELF64_SECTION_HEADER_SIZE > len(self.data):
            raise ElfError(
                f"{self.name}: damaged ELF object: the section table lies past "
                f"the end of the file ({len(self.data)} bytes); truncated?"
            )
        if header["e_shstrndx"] >= count:
            raise ElfError(f"{self.name}: damaged ELF object: no section name table")
        sections = [self.elf.get_section(i) for i in range(count)]
        for section in sections:
            self._check_bounds(section)
        return sections

    def _check_bounds(self, section: Any) -> None:
        size = section["sh_size"]
        if section["sh_type"] == "SHT_NOBITS" or not size:
            return
        if section["sh_offset"] + size > len(self.data):
            raise ElfError(
                f"{self.name}: damaged ELF object: section {section.name!r} "
                f"({size} bytes at offset {section['sh_offset']}) runs past the "
                f"end of the file ({len(self.data)} bytes)"
            )

    def _symbols_by_section(self) -> dict[int, list[Any]]:
        index = self.by_name.get(".symtab")
        if index is None:
            raise ElfError(f"{self.name}: not a BPF object: no symbol table")
        table = self.sections[index]
        if table["sh_entsize"] != _ELF64_SYMBOL_SIZE:
            raise ElfError(f"{self.name}: damaged ELF object: bad symbol size")
        if not 0 < table["sh_link"] < len(self.sections):
            raise ElfError(f"{self.name}: damaged ELF object: bad symbol names")
        if table["sh_size"] // _ELF64_SYMBOL_SIZE > MAX_SYMBOLS:
            raise ElfError(f"{self.name}: not a BPF object: too many symbols")
        grouped: dict[int, list[Any]] = {}
        for symbol in table.iter_symbols():
            grouped.setdefault(symbol["st_shndx"], []).append(symbol)
        return grouped

    def _btf(self) -> Btf | None:
        index = self.by_name.get(".BTF")
        if index is None:
            return None
        return Btf(self.sections[index].data())

    # ------------------------------------------------------ reading

    def read(self) -> ObjectSpec:
        return ObjectSpec(
            path=self.name,
            programs=tuple(self._programs()),
            maps=tuple(self._btf_maps())
            + tuple(self._legacy_maps())
            + tuple(self._internal_maps()),
            globals=tuple(self._globals()),
            license=self._license(),
            has_btf=self.btf is not None,
            has_btf_ext=".BTF.ext" in self.by_name,
            byte_order="little" if self.elf.little_endian else "big",
            section_sizes=tuple((s.name, s["sh_size"]) for s in self.sections),
        )

    def _symbols_in(self, index: int, kind: str) -> Iterator[Any]:
        for symbol in self.symbols.get(index, ()):
            if symbol["st_info"]["type"] == kind:
                yield symbol

    def _programs(self) -> Iterator[ProgramSpec]:
        for index, section in enumerate(self.sections):
            flags = section["sh_flags"]
            if not flags & SHF_EXECINSTR or section.name == ".text":
                continue  # .text holds subprograms, not programs
            api, kernel, target, retprobe = section_program_type(section.name)
            for symbol in self._symbols_in(index, "STT_FUNC"):
                if symbol["st_info"]["bind"] == "STB_LOCAL":
                    continue  # libbpf refuses static programs
                yield ProgramSpec(
                    name=symbol.name,
                    section=section.name,
                    prog_type=api,
                    kernel_type=kernel,
                    attach_to=target,
                    retprobe=retprobe,
                    insn_count=_insn_count(symbol, section),
                    offset=symbol["st_value"],
                )

    def _btf_maps(self) -> Iterator[MapSpec]:
        index = self.by_name.get(".maps")
        if index is None:
            return
        if self.btf is None:
            raise ElfError(
                f"{self.name}: damaged BPF object: a .maps section without BTF",
                hint="compile with clang -g",
            )
        for var in self.btf.datasec(".maps") or []:
            yield self._btf_map(var.name, var.type_id)

    def _btf_map(self, name: str, type_id: int) -> MapSpec:
        assert self.btf is not None
        definition = self.btf.resolve(type_id)
        fields: dict[str, int] = {}
        types: dict[str, str] = {}
        for member in definition.members:
            length = self.btf.array_length(member.type_id)
            if length is not None:
                fields[member.name] = length
                continue
            pointee = self.btf.pointee(member.type_id)
            if pointee is not None and member.name in ("key", "value"):
                fields[f"{member.name}_size"] = self.btf.size_of(pointee)
                types[member.name] = self.btf.type_name(pointee)
        return MapSpec(
            name=name,
            map_type=uapi.name_of(uapi.MAP_TYPES, fields.get("type", 0)),
            key_size=fields.get("key_size", 0),
            value_size=fields.get("value_size", 0),
            max_entries=fields.get("max_entries", 0),
            flags=fields.get("map_flags", 0),
            pinning=PIN_NAMES.get(fields.get("pinning", 0), "unknown"),
            key_type=types.get("key", ""),
            value_type=types.get("value", ""),
        )

    def _legacy_maps(self) -> Iterator[MapSpec]:
        index = self.by_name.get("maps")
        if index is None:
            return
        section = self.sections[index]
        body = section.data()
        endian = "<" if self.elf.little_endian else ">"
        symbols = sorted(self._symbols_in(index, "STT_OBJECT"), key=_value)
        for symbol in symbols:
            offset = symbol["st_value"]
            if offset + _LEGACY_MAP_DEF_SIZE > len(body):
                raise ElfError(
                    f"{self.name}: damaged legacy map {symbol.name!r}: "
                    "definition runs past the maps section"
                )
            kind, key, value, entries, flags = struct.unpack_from(
                endian + "5I", body, offset
            )
            yield MapSpec(
                name=symbol.name,
                map_type=uapi.name_of(uapi.MAP_TYPES, kind),
                key_size=key,
                value_size=value,
                max_entries=entries,
                flags=flags,
                section="maps",
            )

    def _internal_maps(self) -> Iterator[MapSpec]:
        for section in self.sections:
            if is_data_section(section.name) and section["sh_size"]:
                yield MapSpec(
                    name=section.name,
                    map_type="array",
                    key_size=4,
                    value_size=section["sh_size"],
                    max_entries=1,
                    section=section.name,
                    internal=True,
                )

    def _globals(self) -> Iterator[GlobalSpec]:
        for index, section in enumerate(self.sections):
            if not is_data_section(section.name):
                continue
            symbols = {s.name: s for s in self._symbols_in(index, "STT_OBJECT")}
            described = self.btf.datasec(section.name) if self.btf else None
            if described is None:
                yield from _globals_from_symbols(section.name, symbols.values())
                continue
            for var in described:
                yield self._global_from_btf(section.name, var, symbols.get(var.name))

    def _global_from_btf(self, section: str, var: Any, symbol: Any) -> GlobalSpec:
        assert self.btf is not None
        # clang writes 0 for data section offsets and sizes in objects; libbpf
        # takes them from the symbol table, and so does this.
        offset = symbol["st_value"] if symbol is not None else var.offset
        size = var.size or self.btf.size_of(var.type_id)
        return GlobalSpec(
            name=var.name,
            section=section,
            offset=offset,
            size=size,
            type_name=self.btf.type_name(var.type_id),
        )

    def _license(self) -> str:
        index = self.by_name.get("license")
        if index is None:
            return ""
        raw = self.sections[index].data()
        text: str = raw.split(b"\0", 1)[0].decode("utf-8", "replace")
        return text


def is_data_section(name: str) -> bool:
    """Whether libbpf turns section ``name`` into a global data map."""
    return any(name == p or name.startswith(p + ".") for p in DATA_SECTION_PREFIXES)


def _value(symbol: Any) -> int:
    return int(symbol["st_value"])


def _insn_count(symbol: Any, section: Any) -> int:
    size = symbol["st_size"] or section["sh_size"] - symbol["st_value"]
    return max(int(size), 0) // INSN_SIZE


def _globals_from_symbols(section: str, symbols: Any) -> Iterator[GlobalSpec]:
    for symbol in sorted(symbols, key=_value):
        yield GlobalSpec(symbol.name, section, symbol["st_value"], symbol["st_size"])


def symbol_file_offset(path: str, name: str) -> int:
    """Return the file offset of function ``name`` in an executable or library.

    This is what a uprobe needs: the symbol's address minus the address of
    the loadable segment holding it, plus that segment's file offset.

    Raises:
        ElfError: the file cannot be read or has no such function.
    """
    from elftools.elf.elffile import ELFFile

    try:
        with open(path, "rb") as stream:
            elf = ELFFile(stream)
            address = _function_address(elf, name)
            if address is None:
                raise ElfError(f"{path}: no function {name!r} in its symbol tables")
            return _address_to_offset(elf, address, path)
    except OSError as err:
        raise ElfError(f"{path}: cannot read: {err.strerror}") from None
    except ElfError:
        raise
    except Exception as err:  # pyelftools on a damaged file, as above
        raise ElfError(f"{path}: damaged ELF file: {type(err).__name__}") from None


def _function_address(elf: Any, name: str) -> int | None:
    for table_name in (".symtab", ".dynsym"):
        table = elf.get_section_by_name(table_name)
        if table is None:
            continue
        for symbol in table.get_symbol_by_name(name) or []:
            if symbol["st_info"]["type"] == "STT_FUNC" and symbol["st_value"]:
                return int(symbol["st_value"])
    return None


def _address_to_offset(elf: Any, address: int, path: str) -> int:
    for segment in elf.iter_segments():
        if segment["p_type"] != "PT_LOAD":
            continue
        start = segment["p_vaddr"]
        if start <= address < start + segment["p_memsz"]:
            return int(address - start + segment["p_offset"])
    raise ElfError(f"{path}: address {address:#x} is in no loadable segment")
