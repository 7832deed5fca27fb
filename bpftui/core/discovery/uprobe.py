"""Uprobe targets: library names as the dynamic linker finds them, and symbols.

A uprobe attaches to a file offset, not a virtual address, so every symbol
is turned into the offset the kernel wants: its value minus the virtual
address of the loadable segment holding it, plus that segment's file offset.

pyelftools reads the ELF structure (class, byte order, sections, segments);
the symbol tables themselves are decoded here with ``struct.iter_unpack``
because pyelftools builds one object per symbol, which takes seconds on a
binary with a large ``.symtab``.
"""

from __future__ import annotations

import os
import platform
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bpftui.core.errors import InputError
from bpftui.core.session import SymbolView

LD_SO_CACHE = "/etc/ld.so.cache"

# The new-format ld.so.cache (glibc 2.32+ writes only this one; older ones
# append it after the old format).
_CACHE_MAGIC = b"glibc-ld.so.cache1.1"
_CACHE_HEADER = struct.Struct("<20sII4xI12x")  # magic, nlibs, len_strings, ext
_CACHE_ENTRY = struct.Struct("<iIIIQ")  # flags, key, value, osversion, hwcap

# ld.so.cache entry flags: the ELF libc6 type plus the architecture bits the
# dynamic linker of this machine requires (glibc's _DL_CACHE_DEFAULT_ID).
_FLAG_ELF_LIBC6 = 0x0003
_ARCH_FLAGS = {
    "x86_64": 0x0300,
    "s390x": 0x0400,
    "ppc64": 0x0500,
    "ppc64le": 0x0500,
    "aarch64": 0x0A00,
    "riscv64": 0x1000,
    "loongarch64": 0x1200,
}

_STT_FUNC = 2
_STT_GNU_IFUNC = 10
_STB_GLOBAL = 1
_SHN_UNDEF = 0
_PLT_SECTIONS = frozenset({".plt", ".plt.got", ".plt.sec", ".iplt"})


# ---------------------------------------------------------------- libraries


def resolve_library(name: str, cache: str | None = None) -> str:
    """Turn a uprobe ``target`` into the path of the file to probe.

    Absolute paths are returned as they are. A bare name such as ``libc`` or
    ``libc.so.6`` is looked up in ``/etc/ld.so.cache`` (or ``cache``) for
    this machine's architecture, as the dynamic linker would.

    Raises:
        InputError: the name is neither an absolute path nor in the cache.
    """
    if os.path.isabs(name):
        return name
    if not name or "/" in name:
        raise InputError(
            f"uprobe target '{name}': not an absolute path or a library name",
            hint="give a path starting with '/' or a name such as 'libc'",
        )
    entries = read_ld_so_cache(cache)
    path = _pick_library(name, entries)
    if path is None:
        raise InputError(
            f"library '{name}': not found in {cache or LD_SO_CACHE}",
            hint="give the absolute path of the file, or run ldconfig",
        )
    return path


def read_ld_so_cache(path: str | None = None) -> list[tuple[str, str]]:
    """Return ``(soname, path)`` of every library the dynamic linker would use.

    Only entries built for this machine's architecture are kept, and
    hardware-capability variants are left out, so the list matches what
    ``ldconfig -p`` shows for the native ABI.

    Raises:
        InputError: the cache is missing or not in a format ld.so reads.
    """
    path = path or LD_SO_CACHE
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as exc:
        raise InputError(
            f"library cache {path}: read failed: {exc.strerror}",
            hint="give the absolute path of the library instead",
        ) from None
    return list(_cache_entries(data, path))


def _cache_entries(data: bytes, path: str) -> Iterator[tuple[str, str]]:
    start = data.find(_CACHE_MAGIC)
    if start < 0 or len(data) < start + _CACHE_HEADER.size:
        raise InputError(
            f"library cache {path}: not a glibc ld.so.cache (new format)",
            hint="give the absolute path of the library instead",
        )
    _, nlibs, _, _ = _CACHE_HEADER.unpack_from(data, start)
    wanted = _FLAG_ELF_LIBC6 | _ARCH_FLAGS.get(platform.machine(), 0)
    first = start + _CACHE_HEADER.size
    end = min(first + nlibs * _CACHE_ENTRY.size, len(data))
    table = memoryview(data)[first : end - (end - first) % _CACHE_ENTRY.size]
    for flags, key, value, _, hwcap in _CACHE_ENTRY.iter_unpack(table):
        if flags != wanted or hwcap:
            continue
        # String offsets count from the start of the new-format header.
        yield _cstring(data, start + key), _cstring(data, start + value)


def _cstring(data: bytes, offset: int) -> str:
    end = data.find(b"\0", offset)
    return data[offset : end if end >= 0 else len(data)].decode(errors="replace")


def _pick_library(name: str, entries: list[tuple[str, str]]) -> str | None:
    # An exact soname wins; ``libc`` then means ``libc.so`` or ``libc.so.N``,
    # preferring a versioned runtime name over the development symlink.
    exact = [path for soname, path in entries if soname == name]
    if exact:
        return exact[0]
    base = name if name.startswith("lib") or ".so" in name else f"lib{name}"
    versioned = [p for s, p in entries if s.startswith(base + ".so.")]
    plain = [p for s, p in entries if s == base + ".so"]
    found = versioned or plain
    return found[0] if found else None


# ---------------------------------------------------------------- symbols


@dataclass(frozen=True, slots=True)
class _Symbol:
    name: str
    value: int
    size: int
    bind: int


def symbol_offset(path: str, func_name: str) -> int:
    """Return the file offset of ``func_name`` in ``path``, as uprobes want it.

    Raises:
        InputError: the file cannot be read as ELF, the function is not
            defined in it, or several different definitions carry the name.
    """
    elf = _ElfSymbols(path)
    matches = [s for s in elf.functions() if _same_function(s.name, func_name)]
    if not matches:
        raise InputError(
            f"function '{func_name}': not found in {path}",
            hint=f"list its functions with 'bpftui list symbols {path}'",
        )
    offsets = {elf.file_offset(s.value) for s in matches}
    if len(offsets) > 1:
        # A global definition overrides weak and local ones, as ld.so does.
        offsets = {elf.file_offset(s.value) for s in matches if s.bind == _STB_GLOBAL}
    if len(offsets) != 1:
        raise InputError(
            f"function '{func_name}': {len(matches)} different definitions in {path}",
            hint="give the offset explicitly",
        )
    return offsets.pop()


def symbols(target: str) -> list[SymbolView]:
    """Every function defined in a binary or library, by name, with its offset.

    ``target`` is resolved like a uprobe target (``libc`` or a path).

    Raises:
        InputError: the target cannot be resolved or read as ELF.
    """
    path = resolve_library(target)
    elf = _ElfSymbols(path)
    seen: dict[str, SymbolView] = {}
    for sym in elf.functions():
        name = sym.name.split("@", 1)[0]
        if name and name not in seen:
            seen[name] = SymbolView(name, elf.file_offset(sym.value), sym.size, path)
    return sorted(seen.values(), key=lambda view: view.name)


def _same_function(symbol: str, wanted: str) -> bool:
    # .symtab of a shared library spells versioned symbols ``name@VERSION``.
    return symbol == wanted or symbol.split("@", 1)[0] == wanted


class _ElfSymbols:
    """Function symbols and loadable segments of one ELF file."""

    def __init__(self, path: str) -> None:
        from elftools.common.exceptions import ELFError
        from elftools.elf.elffile import ELFFile

        self.path = path
        try:
            with open(path, "rb") as file:
                elf = ELFFile(file)
                self._segments = _load_segments(elf)
                self._symbols = list(_read_functions(elf))
        except OSError as exc:
            raise InputError(
                f"binary {path}: read failed: {exc.strerror}",
                hint="check the path; uprobe targets must be readable files",
            ) from None
        except (ELFError, struct.error, ValueError) as exc:
            raise InputError(
                f"binary {path}: not a readable ELF file: {exc}",
                hint="uprobes attach to ELF executables and shared libraries",
            ) from None

    def functions(self) -> list[_Symbol]:
        return self._symbols

    def file_offset(self, vaddr: int) -> int:
        """Map a virtual address to its offset in the file."""
        for seg_vaddr, seg_offset, seg_memsz in self._segments:
            if seg_vaddr <= vaddr < seg_vaddr + seg_memsz:
                return vaddr - seg_vaddr + seg_offset
        raise InputError(
            f"binary {self.path}: address {vaddr:#x} is in no loadable segment",
            hint="the file may be damaged or not meant to be run",
        )


def _load_segments(elf: Any) -> list[tuple[int, int, int]]:
    return [
        (seg["p_vaddr"], seg["p_offset"], seg["p_memsz"])
        for seg in elf.iter_segments()
        if seg["p_type"] == "PT_LOAD"
    ]


def _read_functions(elf: Any) -> Iterator[_Symbol]:
    # .symtab first: it is complete where present, .dynsym holds the exports.
    excluded = {
        index
        for index, section in enumerate(elf.iter_sections())
        if section.name in _PLT_SECTIONS
    }
    for table_name in (".symtab", ".dynsym"):
        table = elf.get_section_by_name(table_name)
        if table is None or table["sh_type"] not in ("SHT_SYMTAB", "SHT_DYNSYM"):
            continue
        strtab = elf.get_section(table["sh_link"]).data()
        yield from _decode_symbols(elf, table.data(), strtab, excluded)


def _decode_symbols(
    elf: Any, data: bytes, strtab: bytes, excluded: set[int]
) -> Iterator[_Symbol]:
    order = "<" if elf.little_endian else ">"
    if elf.elfclass == 64:
        layout = struct.Struct(order + "IBBHQQ")  # name info other shndx value size
        rows = ((n, i, x, v, s) for n, i, _, x, v, s in _iter(layout, data))
    else:
        layout = struct.Struct(order + "IIIBBH")  # name value size info other shndx
        rows = ((n, i, x, v, s) for n, v, s, i, _, x in _iter(layout, data))
    for name_off, info, shndx, value, size in rows:
        if info & 0xF not in (_STT_FUNC, _STT_GNU_IFUNC):
            continue
        if shndx == _SHN_UNDEF or shndx in excluded:
            continue  # imports resolved through the PLT, and PLT stubs
        yield _Symbol(_cstring(strtab, name_off), value, size, info >> 4)


def _iter(layout: struct.Struct, data: bytes) -> Iterator[tuple[Any, ...]]:
    usable = len(data) - len(data) % layout.size
    return layout.iter_unpack(memoryview(data)[:usable])
