"""The object-BTF reader of bpftui.native.btf, on blobs built by hand."""

from __future__ import annotations

import pytest
from test_btf_builder import BtfBuilder

from bpftui.native.btf import Btf, BtfError


def _blob() -> tuple[bytes, dict[str, int]]:
    b = BtfBuilder()
    u32 = b.add_typedef("__u32", b.add_int("unsigned int", 4, signed=False))
    const_volatile = b.add_const(b.add_volatile(u32))
    u8 = b.add_int("unsigned char", 1, signed=False)
    index = b.add_int("__ARRAY_SIZE_TYPE__", 4)
    tag = b.add_array(u8, 8, index)
    pointer = b.add_ptr(b.add_array(b.add_int("int", 4), 2, index))
    key_pointer = b.add_ptr(u32)
    definition = b.add_struct("", 16, [("type", pointer, 0), ("key", key_pointer, 64)])
    var_verdict = b.add_var("verdict", const_volatile)
    var_tag = b.add_var("tag", b.add_const(tag))
    var_map = b.add_var("counts", definition)
    b.add_datasec(".rodata", 12, [(var_verdict, 0, 4), (var_tag, 4, 8)])
    b.add_datasec(".maps", 16, [(var_map, 0, 16)])
    ids = {"verdict": var_verdict, "definition": definition, "pointer": pointer}
    return b.encode(), ids


def test_type_names_and_sizes() -> None:
    data, ids = _blob()
    btf = Btf(data)
    assert btf.type_name(ids["verdict"]) == "const volatile __u32"
    assert btf.size_of(ids["verdict"]) == 4
    (verdict, tag) = btf.datasec(".rodata") or []
    assert (verdict.name, verdict.offset, verdict.size) == ("verdict", 0, 4)
    assert btf.type_name(tag.type_id) == "const unsigned char[8]"
    assert btf.size_of(tag.type_id) == 8
    assert btf.datasec(".data") is None
    assert btf.datasec_names() == [".rodata", ".maps"]


def test_map_definition_members() -> None:
    data, ids = _blob()
    btf = Btf(data)
    members = {m.name: m.type_id for m in btf.resolve(ids["definition"]).members}
    assert btf.array_length(members["type"]) == 2
    pointee = btf.pointee(members["key"])
    assert pointee is not None and btf.type_name(pointee) == "__u32"


def test_big_endian_blob() -> None:
    b = BtfBuilder()
    b.add_typedef("__be32", b.add_int("unsigned int", 4, signed=False))
    btf = Btf(b.encode(">"))
    assert btf.type_name(2) == "__be32" and btf.size_of(2) == 4


def test_a_typedef_cycle_is_cut_off() -> None:
    b = BtfBuilder()
    b.raw(b.name("loop"), 8 << 24, 1)  # typedef loop -> itself (id 1)
    btf = Btf(b.encode())
    with pytest.raises(BtfError, match="too deep"):
        btf.size_of(1)
    assert btf.type_name(1) == "loop"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d[:10], "header truncated"),
        (lambda d: b"\0\0" + d[2:], "no BTF magic"),
        (lambda d: d[:-4], "extends past the section"),
    ],
)
def test_damaged_blobs(mutate: object, message: str) -> None:
    data, _ = _blob()
    with pytest.raises(BtfError, match=message):
        Btf(mutate(data))  # type: ignore[operator]


def test_unknown_kind_and_bad_references() -> None:
    b = BtfBuilder()
    b.raw(0, 31 << 24, 0)
    with pytest.raises(BtfError, match="unknown kind 31"):
        Btf(b.encode())
    b = BtfBuilder()
    b.raw(9999, 1 << 24, 4, 32)  # an int whose name lies past the strings
    with pytest.raises(BtfError, match="string offset 9999"):
        Btf(b.encode())
    data, _ = _blob()
    with pytest.raises(BtfError, match="out of range"):
        Btf(data).get(10_000)


def test_vlen_is_checked_against_the_data() -> None:
    b = BtfBuilder()
    b.raw(0, 4 << 24 | 0xFFFF, 8)  # a struct claiming 65535 members, none there
    with pytest.raises(BtfError, match="truncated"):
        Btf(b.encode())
