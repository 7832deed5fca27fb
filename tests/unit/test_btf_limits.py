"""Damaged BTF that asks for huge text ends in a clear error, fast, in Python.

The C twin stops at the same limits (tests/unit/test_cbtf.py); these run the
pure-Python reader, which is what a blob the C twin gives up on goes to.
"""

from __future__ import annotations

import time

import pytest
from test_btf_builder import FUNC, BtfBuilder

from bpftui.core.discovery import btf as btfmod
from bpftui.core.discovery.btf import Btf
from bpftui.core.discovery.functions import load_functions
from bpftui.native.btf import BtfError


def _functions(data: bytes) -> list[tuple[str, str]]:
    started = time.monotonic()
    try:
        return Btf(data, "hostile").functions()
    finally:
        assert time.monotonic() - started < 5, "took too long to give up"


def _doubling(b: BtfBuilder, levels: int) -> int:
    """A prototype taking two pointers to one that takes two pointers ..."""
    proto = b.add_proto(b.add_int("int"), [("a", 1)])
    for _ in range(levels):
        pointer = b.add_ptr(proto)
        proto = b.add_proto(0, [("a", pointer), ("b", pointer)])
    return proto


def test_text_doubling_at_each_level_is_refused():
    b = BtfBuilder()
    b.add_func("f", _doubling(b, 40))  # 2**40 characters of text
    with pytest.raises(BtfError, match=r"parameters longer than \d+ characters"):
        _functions(b.encode())


def test_one_long_prototype_shared_by_many_functions_is_refused():
    b = BtfBuilder()
    long_type = b.add_typedef("t" * 60_000, b.add_int("int"))
    proto = b.add_proto(0, [("p", long_type)])
    words = [b.name("f"), FUNC << 24 | 1, proto]
    for _ in range(50_000):  # 600 kB of FUNCs asking for 3 GB of text
        b.records.append(list(words))
    with pytest.raises(BtfError, match="prototypes would take"):
        _functions(b.encode())


def test_a_function_name_longer_than_any_kernel_allows_is_refused():
    b = BtfBuilder()
    b.add_func("f" * (btfmod.MAX_NAME + 1), b.add_proto(0, []))
    with pytest.raises(BtfError, match="over 1024 characters"):
        _functions(b.encode())
    b = BtfBuilder()
    b.add_func("f" * btfmod.MAX_NAME, b.add_proto(0, []))
    assert _functions(b.encode()) == [("f" * 1024, f"void {'f' * 1024}(void)")]


@pytest.mark.parametrize("pure", [True, False])
def test_the_catalogue_reports_the_refusal_and_keeps_the_names(
    tmp_path, monkeypatch, pure
):
    if pure:
        monkeypatch.setenv("BPFTUI_PURE_PYTHON", "1")
    b = BtfBuilder()
    b.add_func("deep", _doubling(b, 30))
    b.add_func("plain", b.add_proto(0, []))
    (tmp_path / "vmlinux").write_bytes(b.encode())
    found = load_functions(str(tmp_path), use_cache=False, background=False)
    assert list(found.names) == ["deep", "plain"]
    assert found.all_prototypes() == ["<unreadable BTF of vmlinux>"] * 2
