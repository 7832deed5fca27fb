"""Uprobe targets: ld.so.cache lookups and symbol offsets, on files made here."""

from __future__ import annotations

import contextlib
import platform
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from bpftui.core.discovery import uprobe
from bpftui.core.discovery.uprobe import (
    read_ld_so_cache,
    resolve_library,
    symbol_offset,
    symbols,
)
from bpftui.core.errors import InputError

NATIVE = 0x0003 | {"x86_64": 0x0300, "aarch64": 0x0A00}.get(platform.machine(), 0)


def ld_so_cache(
    entries: list[tuple[int, str, str, int]], old_format: bool = False
) -> bytes:
    """A new-format ld.so.cache holding (flags, soname, path, hwcap) entries."""
    header_size, entry_size = 48, 24
    strings = bytearray()
    offsets = []
    table_end = header_size + entry_size * len(entries)
    for _, soname, path, _ in entries:
        key = table_end + len(strings)
        strings += soname.encode() + b"\0"
        value = table_end + len(strings)
        strings += path.encode() + b"\0"
        offsets.append((key, value))
    header = struct.pack(
        "<20sII4xI12x", b"glibc-ld.so.cache1.1", len(entries), len(strings), 0
    )
    table = b"".join(
        struct.pack("<iIIIQ", flags, key, value, 0, hwcap)
        for (flags, _, _, hwcap), (key, value) in zip(entries, offsets, strict=True)
    )
    new = header + table + bytes(strings)
    if old_format:  # glibc before 2.32 wrote an old-format table first
        return b"ld.so-1.7.0" + struct.pack("<I", 0) + b"\0" + new
    return new


CACHE_ENTRIES = [
    (0x0803, "libc.so.6", "/libx32/libc.so.6", 0),  # x32: another ABI
    (NATIVE, "libc.so.6", "/lib/native/libc.so.6", 0),
    (NATIVE, "libc.so.6", "/lib/native/glibc-hwcaps/x86-64-v3/libc.so.6", 1 << 62),
    (0x0003, "libc.so.6", "/lib32/libc.so.6", 0),
    (NATIVE, "libssl.so", "/lib/native/libssl.so", 0),
    (NATIVE, "libssl.so.3", "/lib/native/libssl.so.3", 0),
    (NATIVE, "libz.so.1", "/lib/native/libz.so.1", 0),
]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "ld.so.cache"
    path.write_bytes(ld_so_cache(CACHE_ENTRIES))
    monkeypatch.setattr(uprobe, "LD_SO_CACHE", str(path))
    return path


@pytest.mark.skipif(
    NATIVE == 0x0003, reason="the sample cache is for x86_64 or aarch64"
)
@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("libc", "/lib/native/libc.so.6"),
        ("c", "/lib/native/libc.so.6"),
        ("libc.so.6", "/lib/native/libc.so.6"),
        ("libssl", "/lib/native/libssl.so.3"),  # the runtime name, not the dev link
        ("libssl.so", "/lib/native/libssl.so"),
        ("libz", "/lib/native/libz.so.1"),
        ("/opt/app/bin/server", "/opt/app/bin/server"),
    ],
)
def test_library_names_resolve_like_the_dynamic_linker(
    cache: Path, name: str, path: str
) -> None:
    assert resolve_library(name) == path


def test_only_this_abi_without_hwcaps_is_listed(cache: Path) -> None:
    paths = [
        path for soname, path in read_ld_so_cache(str(cache)) if soname == "libc.so.6"
    ]
    if NATIVE != 0x0003:
        assert paths == ["/lib/native/libc.so.6"]


def test_old_and_new_format_cache_reads_the_new_part(tmp_path: Path) -> None:
    path = tmp_path / "ld.so.cache"
    path.write_bytes(ld_so_cache(CACHE_ENTRIES, old_format=True))
    assert ("libz.so.1", "/lib/native/libz.so.1") in read_ld_so_cache(
        str(path)
    ) or NATIVE == 0x0003


def test_unknown_library_is_a_clear_error(cache: Path) -> None:
    with pytest.raises(
        InputError, match="library 'libnothere': not found in"
    ) as caught:
        resolve_library("libnothere")
    assert "absolute path" in str(caught.value)


@pytest.mark.parametrize("name", ["", "lib/foo", "./libfoo.so"])
def test_relative_paths_are_refused(cache: Path, name: str) -> None:
    with pytest.raises(InputError, match="absolute path"):
        resolve_library(name)


def test_missing_or_foreign_cache_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="read failed"):
        read_ld_so_cache(str(tmp_path / "absent"))
    (tmp_path / "junk").write_bytes(b"not a cache")
    with pytest.raises(InputError, match=r"not a glibc ld\.so\.cache"):
        read_ld_so_cache(str(tmp_path / "junk"))


def test_truncated_cache_does_not_crash(tmp_path: Path) -> None:
    data = ld_so_cache(CACHE_ENTRIES)
    for cut in (20, 48, 60, len(data) - 10):
        (tmp_path / "cut").write_bytes(data[:cut])
        with contextlib.suppress(InputError):  # refusing is fine; crashing is not
            read_ld_so_cache(str(tmp_path / "cut"))


def test_this_machines_libc_resolves() -> None:  # the real /etc/ld.so.cache
    path = resolve_library("libc")
    assert Path(path).name.startswith("libc.so")
    assert Path(path).exists()


# ---------------------------------------------------------------- symbols

needs_cc = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("cc", "nm", "readelf")),
    reason="needs a C compiler and binutils (nm, readelf)",
)

SOURCE = """
int helper_add(int a, int b) { return a + b; }
static int hidden_twice(int x) { return x * 2; }
int use_hidden(int x) { return hidden_twice(x) + 1; }
extern int puts(const char *);
int say(void) { return puts("hi"); }
"""


@pytest.fixture(scope="module")
def shared_lib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("cc") is None:
        pytest.skip("needs a C compiler")
    work = tmp_path_factory.mktemp("lib")
    (work / "t.c").write_text(SOURCE)
    out = work / "libt.so"
    # .text placed far from its file offset, so the address-to-offset
    # conversion is actually exercised.
    flags = ["-shared", "-fPIC", "-O0", "-Wl,--section-start=.text=0x40000"]
    subprocess.run(["cc", *flags, "-o", str(out), str(work / "t.c")], check=True)
    return out


def _expected_offset(path: Path, name: str) -> int:
    nm = subprocess.run(
        ["nm", str(path)], capture_output=True, text=True, check=True
    ).stdout
    value = int(re.search(rf"^([0-9a-f]+) [Tt] {name}$", nm, re.M).group(1), 16)  # type: ignore[union-attr]
    segments = subprocess.run(
        ["readelf", "-lW", str(path)], capture_output=True, text=True, check=True
    ).stdout
    for line in segments.splitlines():
        fields = line.split()
        if fields[:1] == ["LOAD"]:
            offset, vaddr, memsz = (
                int(fields[1], 16),
                int(fields[2], 16),
                int(fields[5], 16),
            )
            if vaddr <= value < vaddr + memsz:
                return value - vaddr + offset
    raise AssertionError(f"{name} in no segment")


@needs_cc
@pytest.mark.parametrize("name", ["helper_add", "use_hidden", "hidden_twice", "say"])
def test_symbol_offsets_follow_the_segments(shared_lib: Path, name: str) -> None:
    offset = symbol_offset(str(shared_lib), name)
    assert offset == _expected_offset(shared_lib, name)
    nm = subprocess.run(
        ["nm", str(shared_lib)], capture_output=True, text=True, check=True
    ).stdout
    address = int(re.search(rf"^([0-9a-f]+) [Tt] {name}$", nm, re.M).group(1), 16)  # type: ignore[union-attr]
    assert offset != address  # the case where a naive reader goes wrong


@needs_cc
def test_plt_imports_are_not_functions_of_the_binary(shared_lib: Path) -> None:
    with pytest.raises(InputError, match="function 'puts': not found in"):
        symbol_offset(str(shared_lib), "puts")
    assert "puts" not in {s.name for s in symbols(str(shared_lib))}


@needs_cc
def test_symbols_list_functions_with_offsets_and_sizes(shared_lib: Path) -> None:
    found = {s.name: s for s in symbols(str(shared_lib))}
    assert {"helper_add", "use_hidden", "hidden_twice", "say"} <= set(found)
    add = found["helper_add"]
    assert add.offset == _expected_offset(shared_lib, "helper_add")
    assert add.size > 0
    assert add.binary == str(shared_lib)


def test_stripped_of_nothing_but_not_elf(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.write_bytes(b"#!/bin/sh\necho hi\n")
    with pytest.raises(InputError, match="not a readable ELF file"):
        symbol_offset(str(junk), "main")
    with pytest.raises(InputError, match="read failed"):
        symbols(str(tmp_path / "absent"))


@needs_cc
def test_libc_malloc_offset_matches_nm() -> None:
    libc = Path(resolve_library("libc"))
    nm = subprocess.run(
        ["nm", "-D", str(libc)], capture_output=True, text=True, check=True
    ).stdout
    found = re.search(r"^([0-9a-f]+) [TtWi] malloc(@@?\S+)?$", nm, re.M)
    if found is None:
        pytest.skip("this libc exports no malloc symbol nm can show")
    offset = symbol_offset(str(libc), "malloc")
    assert offset > 0
    # glibc maps .text at an offset equal to its address (one PT_LOAD per page).
    assert offset == _segment_offset(libc, int(found.group(1), 16))


def _segment_offset(path: Path, value: int) -> int:
    segments = subprocess.run(
        ["readelf", "-lW", str(path)], capture_output=True, text=True, check=True
    ).stdout
    for line in segments.splitlines():
        fields = line.split()
        if fields[:1] == ["LOAD"]:
            offset, vaddr, memsz = (
                int(fields[1], 16),
                int(fields[2], 16),
                int(fields[5], 16),
            )
            if vaddr <= value < vaddr + memsz:
                return value - vaddr + offset
    raise AssertionError("no segment")
