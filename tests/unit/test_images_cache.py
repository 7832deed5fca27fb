"""The on-disk cache: every read re-hashes, damage is dropped, writes are atomic."""

from __future__ import annotations

import json
import stat

import pytest

from bpftui.core.images import CacheError, DigestMismatch
from bpftui.core.images.cache import CorruptBlob, ImageCache, digest_of

DATA = b"some blob content"
DIGEST = digest_of(DATA)


@pytest.fixture
def cache(tmp_path):
    return ImageCache(tmp_path / "cache")


def test_a_blob_round_trips(cache):
    path = cache.write_blob(DIGEST, DATA)
    assert cache.read_blob(DIGEST) == DATA
    assert cache.read_blob(DIGEST, size=len(DATA)) == DATA
    assert path.name == DIGEST.split(":")[1]


def test_an_absent_blob_reads_as_none(cache):
    assert cache.read_blob(digest_of(b"other")) is None


def test_a_tampered_blob_is_detected_and_deleted(cache):
    path = cache.write_blob(DIGEST, DATA)
    path.write_bytes(b"some blob c0ntent")
    with pytest.raises(CorruptBlob) as err:
        cache.read_blob(DIGEST)
    assert err.value.digest == DIGEST
    assert not path.exists()
    assert cache.read_blob(DIGEST) is None


def test_a_blob_of_the_wrong_size_is_corrupt(cache):
    cache.write_blob(DIGEST, DATA)
    with pytest.raises(CorruptBlob):
        cache.read_blob(DIGEST, size=len(DATA) + 1)


def test_content_is_never_stored_under_another_digest(cache):
    with pytest.raises(DigestMismatch):
        cache.write_blob(digest_of(b"x"), DATA)


@pytest.mark.parametrize(
    "bad", ["sha256:../../etc/passwd", "md5:abc", "sha256:" + "A" * 64]
)
def test_digests_cannot_name_other_paths(cache, bad):
    with pytest.raises(CacheError):
        cache.blob_path(bad)


def test_the_cache_is_private_to_root(cache):
    cache.write_blob(DIGEST, DATA)
    for path in [cache.root, cache.root / "blobs", cache.root / "blobs" / "sha256"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    assert stat.S_IMODE(cache.blob_path(DIGEST).stat().st_mode) == 0o600
    assert not list(cache.root.rglob(".tmp-*"))


def test_references_are_recorded_listed_and_forgotten(cache):
    cache.record("r.test/a:v1", DIGEST, "pulled")
    cache.record("r.test/b:v1", DIGEST, "built")
    assert cache.lookup("r.test/a:v1").digest == DIGEST
    assert [r.reference for r in cache.records()] == ["r.test/a:v1", "r.test/b:v1"]
    assert cache.forget("r.test/a:v1")
    assert not cache.forget("r.test/a:v1")
    assert cache.lookup("r.test/a:v1") is None


def test_a_broken_record_is_dropped(cache):
    cache.record("r.test/a:v1", DIGEST, "pulled")
    (path,) = (cache.root / "refs").iterdir()
    path.write_text("{not json")
    assert cache.lookup("r.test/a:v1") is None
    assert not path.exists()


def test_a_record_pointing_at_a_bad_digest_is_dropped(cache):
    cache.record("r.test/a:v1", DIGEST, "pulled")
    (path,) = (cache.root / "refs").iterdir()
    record = json.loads(path.read_text())
    record["digest"] = "sha256:../../x"
    path.write_text(json.dumps(record))
    assert cache.lookup("r.test/a:v1") is None


def test_place_object_writes_only_when_content_differs(cache):
    path = cache.place_object(DIGEST, "prog.o", b"elf")
    first = path.stat().st_mtime_ns
    assert cache.place_object(DIGEST, "prog.o", b"elf").stat().st_mtime_ns == first
    path.write_bytes(b"tampered")
    assert cache.place_object(DIGEST, "prog.o", b"elf").read_bytes() == b"elf"


def test_unwritable_cache_is_a_cache_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(CacheError, match="cannot write"):
        ImageCache(blocker / "cache").write_blob(DIGEST, DATA)


def test_prune_keeps_what_references_need(cache, tmp_path):
    import gzip
    import sys

    from _images_support import fake_bpf_elf, image_blobs, member, tar_gz

    manifest, config, layer = image_blobs(
        tar_gz(member("p.o", fake_bpf_elf(sys.byteorder)))
    )
    for blob in (manifest, config, layer):
        cache.write_blob(digest_of(blob), blob)
    stray = cache.write_blob(DIGEST, DATA)
    cache.place_object(digest_of(layer), "p.o", gzip.decompress(layer))
    cache.place_object(DIGEST, "stray.o", b"x")
    cache.record("r.test/a:v1", digest_of(manifest), "pulled")

    assert cache.prune() == 2
    assert not stray.exists()
    assert cache.read_blob(digest_of(layer)) == layer
    assert [p.name for p in (cache.root / "objects").iterdir()] == [
        digest_of(layer)[7:]
    ]

    cache.forget("r.test/a:v1")
    cache.prune()
    assert list((cache.root / "blobs" / "sha256").iterdir()) == []
