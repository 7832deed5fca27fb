"""Damaged BTF never crashes the reader: every failure is a clean InputError.

Hypothesis mutates a valid hand-made blob (flipped words, truncation, junk)
and the reader must either read it or raise InputError, quickly.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_btf_builder import BtfBuilder

from bpftui.core.discovery.btf import Btf
from bpftui.core.errors import InputError

FUZZ = settings(
    max_examples=300,
    deadline=timedelta(milliseconds=500),
    suppress_health_check=[HealthCheck.too_slow],
)


def _rich_blob() -> bytes:
    b = BtfBuilder()
    i = b.add_int("int")
    char = b.add_int("char", 1)
    s = b.add_struct("file", 16, [("f", i, 0), ("g", b.add_ptr(char), 64)])
    cb = b.add_ptr(b.add_proto(0, [("", i)]))
    arr = b.add_array(cb, 3, i)
    e = b.add_enum("mode", [("A", 0), ("B", 1)])
    td = b.add_typedef("handler_t", cb)
    params = [("f", b.add_ptr(s)), ("t", arr), ("m", e), ("h", td)]
    b.add_func("go", b.add_proto(b.add_ptr(b.add_const(char)), params, variadic=True))
    b.add_func("ret_fp", b.add_proto(cb, [("x", i)]))
    return b.encode()


BLOB = _rich_blob()


def _read_everything(data: bytes) -> None:
    try:
        blob = Btf(data, "fuzzed")
        blob.functions()
        for type_id in range(1, blob.end_id):
            blob.declaration(type_id, "x")
    except InputError:
        pass


@FUZZ
@given(st.data())
def test_flipped_words_give_clean_errors(data: st.DataObject) -> None:
    blob = bytearray(BLOB)
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(blob) - 4))
        word = data.draw(st.sampled_from([0, 1, 2, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF]))
        blob[at : at + 4] = word.to_bytes(4, "little")
    _read_everything(bytes(blob))


@FUZZ
@given(st.integers(0, len(BLOB)))
def test_truncated_blobs_give_clean_errors(length: int) -> None:
    _read_everything(BLOB[:length])


@FUZZ
@given(st.binary(max_size=256))
def test_random_bytes_after_a_valid_header_give_clean_errors(junk: bytes) -> None:
    _read_everything(BLOB[:24] + junk)


@FUZZ
@given(st.binary(max_size=64))
def test_random_bytes_give_clean_errors(junk: bytes) -> None:
    _read_everything(junk)


@FUZZ
@given(st.integers(24, len(BLOB) - 1), st.integers(0, 255))
def test_single_byte_changes_give_clean_errors(at: int, value: int) -> None:
    blob = bytearray(BLOB)
    blob[at] = value
    _read_everything(bytes(blob))
