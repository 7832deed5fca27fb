"""A tiny BTF encoder for tests, and checks that what it writes is real BTF.

:class:`BtfBuilder` writes the kernel's format (``include/uapi/linux/btf.h``)
from scratch: each ``add_*`` method appends one type record and returns its
id. A builder made with ``base=`` writes split BTF, as module BTF is. The
other BTF tests import it; the tests here hold it to libbpf's reading
(``bpftool btf dump file``) so a bug in the encoder cannot hide one in the
reader.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF = 1, 2, 3, 4, 5, 6, 7, 8
VOLATILE, CONST, RESTRICT, FUNC, FUNC_PROTO, VAR, DATASEC = 9, 10, 11, 12, 13, 14, 15
FLOAT, DECL_TAG, TYPE_TAG, ENUM64 = 16, 17, 18, 19


class BtfBuilder:
    """Builds a BTF blob type by type."""

    def __init__(self, base: BtfBuilder | None = None) -> None:
        self.base = base
        self.records: list[list[int]] = []
        self.strings = bytearray() if base else bytearray(b"\0")
        self._offsets: dict[str, int] = {}

    @property
    def first_id(self) -> int:
        return self.base.next_id if self.base else 1

    @property
    def next_id(self) -> int:
        return self.first_id + len(self.records)

    @property
    def str_base(self) -> int:
        return self.base.str_end if self.base else 0

    @property
    def str_end(self) -> int:
        return self.str_base + len(self.strings)

    def name(self, text: str) -> int:
        """The string offset of ``text``, added on first use (0 for "")."""
        if not text:
            return 0
        if self.base and text in self.base._offsets:
            return self.base._offsets[text]
        if text not in self._offsets:
            self._offsets[text] = self.str_end
            self.strings += text.encode() + b"\0"
        return self._offsets[text]

    def raw(self, *words: int) -> int:
        """Append a record given as words; returns its type id."""
        self.records.append([w & 0xFFFFFFFF for w in words])
        return self.next_id - 1

    def _type(
        self,
        kind: int,
        name: str,
        vlen: int,
        size_or_type: int,
        *extra: int,
        kflag: int = 0,
    ) -> int:
        info = kflag << 31 | kind << 24 | vlen
        return self.raw(self.name(name), info, size_or_type, *extra)

    # -------------------------------------------------------------- kinds

    def add_int(self, name: str, size: int = 4, signed: bool = True) -> int:
        encoding = 1 if signed else 0
        return self._type(INT, name, 0, size, encoding << 24 | size * 8)

    def add_float(self, name: str, size: int = 8) -> int:
        return self._type(FLOAT, name, 0, size)

    def add_ptr(self, target: int) -> int:
        return self._type(PTR, "", 0, target)

    def add_const(self, target: int) -> int:
        return self._type(CONST, "", 0, target)

    def add_volatile(self, target: int) -> int:
        return self._type(VOLATILE, "", 0, target)

    def add_restrict(self, target: int) -> int:
        return self._type(RESTRICT, "", 0, target)

    def add_typedef(self, name: str, target: int) -> int:
        return self._type(TYPEDEF, name, 0, target)

    def add_type_tag(self, tag: str, target: int) -> int:
        return self._type(TYPE_TAG, tag, 0, target)

    def add_fwd(self, name: str, union: bool = False) -> int:
        return self._type(FWD, name, 0, 0, kflag=int(union))

    def add_array(self, elem: int, count: int, index_type: int) -> int:
        return self._type(ARRAY, "", 0, 0, elem, index_type, count)

    def add_struct(
        self,
        name: str,
        size: int,
        members: list[tuple[str, int, int]],
        union: bool = False,
    ) -> int:
        words = [w for m, t, bits in members for w in (self.name(m), t, bits)]
        return self._type(UNION if union else STRUCT, name, len(members), size, *words)

    def add_enum(self, name: str, values: list[tuple[str, int]], size: int = 4) -> int:
        words = [w for n, v in values for w in (self.name(n), v)]
        return self._type(ENUM, name, len(values), size, *words)

    def add_enum64(self, name: str, values: list[tuple[str, int]]) -> int:
        words = [w for n, v in values for w in (self.name(n), v, v >> 32)]
        return self._type(ENUM64, name, len(values), 8, *words)

    def add_proto(
        self, ret: int, params: list[tuple[str, int]], variadic: bool = False
    ) -> int:
        pairs = [*params, ("", 0)] if variadic else params
        words = [w for n, t in pairs for w in (self.name(n), t)]
        return self._type(FUNC_PROTO, "", len(pairs), ret, *words)

    def add_func(self, name: str, proto: int, linkage: int = 1) -> int:
        return self._type(FUNC, name, linkage, proto)

    def add_var(self, name: str, target: int, linkage: int = 1) -> int:
        return self._type(VAR, name, 0, target, linkage)

    def add_datasec(
        self, name: str, size: int, entries: list[tuple[int, int, int]]
    ) -> int:
        words = [w for entry in entries for w in entry]
        return self._type(DATASEC, name, len(entries), size, *words)

    def add_decl_tag(self, tag: str, target: int, component: int = -1) -> int:
        return self._type(DECL_TAG, tag, 0, target, component)

    # -------------------------------------------------------------- output

    def encode(self, order: str = "<") -> bytes:
        words = [w for record in self.records for w in record]
        types = struct.pack(f"{order}{len(words)}I", *words)
        strings = bytes(self.strings)
        header = struct.pack(
            f"{order}HBBIIIII",
            0xEB9F,
            1,
            0,
            24,
            0,
            len(types),
            len(types),
            len(strings),
        )
        return header + types + strings


def sample() -> BtfBuilder:
    """A small blob with one of everything a prototype can use."""
    b = BtfBuilder()
    i = b.add_int("int")
    char = b.add_int("char", 1)
    b.add_typedef("size_t", b.add_int("long unsigned int", 8, signed=False))
    b.add_func("add", b.add_proto(i, [("a", i), ("b", i)]))
    b.add_func(
        "say", b.add_proto(i, [("fmt", b.add_ptr(b.add_const(char)))], variadic=True)
    )
    return b


# ------------------------------------------------------------------ tests

needs_bpftool = pytest.mark.skipif(
    shutil.which("bpftool") is None, reason="needs bpftool to cross-check the encoder"
)


def _bpftool_dump(path: Path, base: Path | None = None) -> str:
    command = ["bpftool", "btf", "dump", "file", str(path)]
    if base is not None:
        command[1:1] = ["-B", str(base)]
    done = subprocess.run(
        command, capture_output=True, text=True, check=False, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@needs_bpftool
def test_libbpf_reads_what_the_builder_writes(tmp_path: Path) -> None:
    blob = tmp_path / "sample.btf"
    blob.write_bytes(sample().encode())
    dump = _bpftool_dump(blob)
    assert "FUNC 'add' type_id=" in dump
    assert "FUNC 'say' type_id=" in dump
    assert re.search(r"FUNC_PROTO '\(anon\)' ret_type_id=1 vlen=2", dump)
    assert len(re.findall(r"^\[\d+\]", dump, re.M)) == len(sample().records)


@needs_bpftool
def test_libbpf_reads_split_btf_from_the_builder(tmp_path: Path) -> None:
    base = sample()
    module = BtfBuilder(base)
    int_id = 1
    module.add_func("mod_fn", module.add_proto(int_id, [("x", int_id)]))
    (tmp_path / "base.btf").write_bytes(base.encode())
    (tmp_path / "mod.btf").write_bytes(module.encode())
    dump = _bpftool_dump(tmp_path / "mod.btf", base=tmp_path / "base.btf")
    assert f"[{base.next_id + 1}] FUNC 'mod_fn'" in dump


def test_split_builder_continues_ids_and_strings() -> None:
    base = sample()
    module = BtfBuilder(base)
    assert module.first_id == base.next_id
    assert module.name("int") == base.name("int")  # the base's string is reused
    assert module.name("only_here") == base.str_end
