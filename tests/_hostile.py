"""Hostile inputs shared by tests/unit/test_hostile_input.py and
tests/kernel/test_hostile_kernel.py: YAML that attacks the reader, ELF
objects damaged where a reader trusts them, and the limits a child process
runs under.

Import as ``from _hostile import YAML_CASES, elf_cases, limits``.
"""

from __future__ import annotations

import os
import resource
import struct

MEMORY_LIMIT = 1 << 30  # address space of a child: 1 GiB
TIME_LIMIT = 60.0  # seconds a child may take, on a busy CI machine


def limits() -> None:
    """``preexec_fn`` of a bounded child: 1 GiB of address space, no core."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


# ---------------------------------------------------------------- YAML


def bomb(levels: int = 9, width: int = 9) -> str:
    """The billion laughs: ``width ** levels`` nodes from a few lines."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels + 1):
        refs = ", ".join([f"*l{level - 1}"] * width)
        lines.append(f"l{level}: &l{level} [{refs}]")
    return "\n".join(lines) + "\n"


def merge_bomb() -> str:
    """The same through merge keys (``<<``), which copy mappings."""
    lines = ["m0: &m0 {a: 1, b: 2, c: 3}"]
    for level in range(1, 12):
        parents = ", ".join([f"*m{level - 1}"] * 8)
        lines.append(f"m{level}: &m{level} {{<<: [{parents}], x{level}: 1}}")
    return "\n".join(lines) + "\n"


OBJECT = """\
apiVersion: bpfman.io/v1alpha1
kind: TracepointProgram
metadata: {name: %s}
spec:
  bpffunctionname: tp
  nodeselector: {}
  names: [syscalls/sys_enter_getppid]
  bytecode: {path: /opt/tp.o}
"""

YAML_CASES: dict[str, tuple[bytes, str]] = {
    "alias bomb": (bomb().encode(), "aliases expand to more than"),
    "merge-key bomb": (merge_bomb().encode(), ""),
    "self-referencing alias": (b"a: &a [*a]\n", ""),
    "huge file": (b"a: " + b"x" * (8 << 20) + b"\n", "larger than"),
    "deep flow nesting": (b"[" * 100_000 + b"]" * 100_000, "nested deeper than"),
    "deep block nesting": (
        "".join("  " * i + f"k{i}:\n" for i in range(500)).encode(),
        "nested deeper than",
    ),
    "invalid UTF-8": (
        (OBJECT % "x").encode().replace(b"tp\n", b"t\xff\xfe\n"),
        "not UTF-8",
    ),
    "NUL byte": ((OBJECT % "x").encode().replace(b"tp\n", b"t\x00p\n"), ""),
    "unknown kind": (
        (OBJECT % "x").replace("TracepointProgram", "RootkitProgram").encode(),
        "is not a kind of bpfman.io/v1alpha1",
    ),
    "unknown apiVersion": (
        (OBJECT % "x").replace("v1alpha1", "v9").encode(),
        "apiVersion",
    ),
    "path traversal name": ((OBJECT % '"../../etc"').encode(), "not a valid name"),
    "absolute path name": ((OBJECT % '"/etc/passwd"').encode(), "not a valid name"),
    "python object tag": (b"!!python/object/apply:os.system [touch /tmp/x]\n", ""),
    "unhashable key": (b"? [a, b]\n: c\n", ""),
    "integer of 100000 digits": (
        (OBJECT % "x")
        .replace("tp\n", "tp\n  priority: " + "9" * 100_000 + "\n")
        # a TracepointProgram has no priority: an unknown field at the least
        .encode(),
        "",
    ),
    "many documents": (("---\n{}\n" * 20_000).encode(), ""),
    "many keys": (
        ("{" + ",".join(f"k{i}: {i}" for i in range(20_000)) + "}\n").encode(),
        "",
    ),
    "not a mapping": (b"- just\n- a list\n", ""),
    "empty kind list": (b"apiVersion: v1\nkind: List\nitems: 7\n", ""),
}


# ---------------------------------------------------------------- ELF


def section_header(data: bytes, index: int) -> int:
    """The file offset of section header ``index`` of an ELF64 object."""
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    return shoff + 64 * index


SECTION_FIELDS = {  # Elf64_Shdr: name -> (offset, format)
    "sh_name": (0, "<I"),
    "sh_type": (4, "<I"),
    "sh_offset": (24, "<Q"),
    "sh_size": (32, "<Q"),
    "sh_link": (40, "<I"),
    "sh_info": (44, "<I"),
    "sh_entsize": (56, "<Q"),
}
HEADER_FIELDS = {  # Elf64_Ehdr
    "e_shoff": (0x28, "<Q"),
    "e_shentsize": (0x3A, "<H"),
    "e_shnum": (0x3C, "<H"),
    "e_shstrndx": (0x3E, "<H"),
}
EXTREMES = [0, 1, 0x7FFF_FFFF, 0xFFFF_FFFF, 2**63 - 1, 2**64 - 1]


def poke(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    """``data`` with one field overwritten (``value`` cut to the field)."""
    size = struct.calcsize(fmt)
    value &= (1 << (8 * size)) - 1
    blob = bytearray(data)
    struct.pack_into(fmt, blob, offset, value)
    return bytes(blob)


def elf_cases(seed: bytes) -> dict[str, bytes]:
    """Damaged copies of a BPF object, by what is wrong with them."""
    (shnum,) = struct.unpack_from("<H", seed, 0x3C)
    biggest = max(
        range(shnum),
        key=lambda i: struct.unpack_from("<Q", seed, section_header(seed, i) + 32),
    )
    where = section_header(seed, biggest)
    return {
        "empty file": b"",
        "truncated header": seed[:40],
        "truncated in the middle": seed[: len(seed) // 2],
        "header only": seed[:64],
        "junk after the magic": b"\x7fELF" + os.urandom(4096),
        "absurd section size": poke(seed, where + 32, "<Q", 2**62),
        "section past the end": poke(seed, where + 24, "<Q", 2**40),
        "absurd section count": poke(seed, 0x3C, "<H", 0xFFFF),
        "section table past the end": poke(seed, 0x28, "<Q", 2**48),
        "big-endian claim": poke(seed, 5, "<B", 2),
        "not BPF": poke(seed, 0x12, "<H", 62),  # EM_X86_64
    }
