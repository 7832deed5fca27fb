"""The tar+gzip layer: one BPF ELF object, and nothing a hostile image could use."""

from __future__ import annotations

import gzip
import hashlib
import io
import sys
import tarfile

import pytest
from _images_support import fake_bpf_elf, member, tar_gz

from bpftui.core.images import ImageContentError
from bpftui.core.images.layer import build_layer, read_layer

LIMIT = 1 << 20
OTHER_ORDER = "big" if sys.byteorder == "little" else "little"


def read(blob: bytes, limit: int = LIMIT):
    return read_layer(blob, limit=limit, image="test/img:v1")


def test_one_object_is_read():
    elf = fake_bpf_elf()
    content = read(tar_gz(member("./", kind=tarfile.DIRTYPE), member("./prog.o", elf)))
    assert content.filename == "prog.o"
    assert content.data == elf


def test_object_in_a_subdirectory_is_read():
    elf = fake_bpf_elf()
    content = read(
        tar_gz(member("bytecode", kind=tarfile.DIRTYPE), member("bytecode/x.o", elf))
    )
    assert content.filename == "x.o"


def test_diff_id_is_the_digest_of_the_plain_tar():
    blob = tar_gz(member("prog.o", fake_bpf_elf()))
    expected = "sha256:" + hashlib.sha256(gzip.decompress(blob)).hexdigest()
    assert read(blob).diff_id == expected


@pytest.mark.parametrize(
    ("members", "needle"),
    [
        ([member("../prog.o", fake_bpf_elf())], "climbs out"),
        ([member("a/../../prog.o", fake_bpf_elf())], "climbs out"),
        ([member("/etc/prog.o", fake_bpf_elf())], "absolute path"),
        ([member("prog.o", kind=tarfile.SYMTYPE)], "is a link"),
        ([member("prog.o", kind=tarfile.LNKTYPE)], "is a link"),
        ([member("null", kind=tarfile.CHRTYPE)], "device file"),
        ([member("sda", kind=tarfile.BLKTYPE)], "device file"),
        ([member("pipe", kind=tarfile.FIFOTYPE)], "device file or fifo"),
        ([member("a.o", fake_bpf_elf()), member("b", fake_bpf_elf())], "holds 2 files"),
        ([member("dir", kind=tarfile.DIRTYPE)], "holds 0 files"),
        ([member("prog.o", fake_bpf_elf()), member(".wh.old.o")], "unusable file name"),
        ([member("prog.o", b"#!/bin/sh\necho hi\n" * 8)], "not an ELF object"),
        ([member("prog.o", fake_bpf_elf(machine=62))], "machine 62, not BPF"),
        ([member("prog.o", fake_bpf_elf(OTHER_ORDER))], "-endian hosts"),
        ([member("pr og.o", fake_bpf_elf())], "unusable file name"),
    ],
)  # fmt: skip
def test_hostile_or_wrong_layers_are_refused(members, needle):
    with pytest.raises(ImageContentError) as err:
        read(tar_gz(*members))
    assert needle in str(err.value)
    assert "test/img:v1" in str(err.value)
    assert err.value.condition == "NotLoaded"


def test_a_gzip_bomb_is_stopped_at_the_limit():
    # 64 MiB of zeros compresses to about 64 KiB; reading must stop at 1 MiB.
    bomb = member("prog.o", fake_bpf_elf(size=64 << 20))
    blob = tar_gz(bomb)
    assert len(blob) < LIMIT
    with pytest.raises(ImageContentError, match="unpacks to more than"):
        read(blob)


def test_not_gzip_is_refused():
    with pytest.raises(ImageContentError, match="not valid gzip"):
        read(b"PK\x03\x04 a zip file")


def test_truncated_gzip_is_refused():
    blob = tar_gz(member("prog.o", fake_bpf_elf()))
    with pytest.raises(ImageContentError, match="not valid gzip"):
        read(blob[: len(blob) // 2])


def test_gzip_of_something_not_tar_is_refused():
    with pytest.raises(ImageContentError, match=r"holds 0 files|not a valid tar"):
        read(gzip.compress(b"\x01" * 2048))


def test_build_layer_is_reproducible_and_reads_back():
    elf = fake_bpf_elf(size=4096)
    first, diff_first = build_layer("prog.o", elf)
    second, diff_second = build_layer("prog.o", elf)
    assert first == second
    assert diff_first == diff_second
    content = read(first)
    assert (content.filename, content.data, content.diff_id) == (
        "prog.o",
        elf,
        diff_first,
    )
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(first))) as tar:
        (info,) = tar.getmembers()
    assert (info.uid, info.gid, info.mtime, info.mode) == (0, 0, 0, 0o644)
