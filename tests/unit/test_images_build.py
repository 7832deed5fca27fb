"""Building images: labels from the object, a reproducible layer, the cache."""

from __future__ import annotations

import json

import pytest
from _images_support import (
    BPF_SOURCE,
    LEGACY_SOURCE,
    compile_bpf,
    fake_bpf_elf,
    settings_for,
)

from bpftui.core.errors import ElfError, InputError
from bpftui.core.images import (
    ImageNotCached,
    ImageReferenceError,
    build_image,
    push_image,
)
from bpftui.core.images._elf import section_program_type, summarize
from bpftui.core.images.cache import ImageCache
from bpftui.core.images.manifest import OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST

TAG = "registry.test/bpf/prog:v1"


@pytest.fixture(scope="module")
def bpf_object(tmp_path_factory):
    return compile_bpf(BPF_SOURCE, tmp_path_factory.mktemp("bpf") / "prog.o")


@pytest.mark.parametrize(
    ("section", "kind"),
    [
        ("xdp", "xdp"), ("xdp.frags", "xdp"), ("xdp/devmap", "xdp"),
        ("tc", "tc"), ("classifier", "tc"), ("tcx/ingress", "tcx"),
        ("tc/egress", "tcx"), ("tracepoint/sched/sched_switch", "tracepoint"),
        ("tp/syscalls/x", "tracepoint"),
        ("kprobe/do_unlinkat", "kprobe"), ("kretprobe/do_unlinkat", "kretprobe"),
        ("uprobe//usr/lib/libc.so.6:malloc", "uprobe"), ("uretprobe", "uretprobe"),
        ("fentry/tcp_v4_connect", "fentry"), ("fexit.s/x", "fexit"),
        ("lsm/file_open", "lsm"), ("socket", "socket"),
    ],
)  # fmt: skip
def test_section_names_give_program_types(section, kind):
    assert section_program_type(section) == kind


def test_summary_of_a_btf_object(bpf_object):
    summary = summarize(bpf_object.read_bytes(), "prog.o")
    assert summary.programs == {
        "xdp_pass": "xdp",
        "tc_pass": "tc",
        "on_kill": "tracepoint",
    }
    assert summary.maps == {"pass_stats": "per_cpu_array", "events": "ringbuf"}


def test_summary_of_legacy_maps(tmp_path):
    legacy = compile_bpf(LEGACY_SOURCE, tmp_path / "legacy.o")
    summary = summarize(legacy.read_bytes(), "legacy.o")
    assert summary.programs == {"on_unlink": "kprobe"}
    assert summary.maps == {"old_hash": "hash"}


def test_build_labels_the_image_and_caches_it(bpf_object, tmp_path):
    settings = settings_for(tmp_path)
    checked = build_image(bpf_object, TAG, settings)
    cache = ImageCache(settings.cache_dir)
    assert cache.lookup(TAG).source == "built"

    manifest = json.loads(cache.read_blob(checked.digest))
    assert manifest["mediaType"] == OCI_MANIFEST
    assert manifest["config"]["mediaType"] == OCI_CONFIG
    (layer,) = manifest["layers"]
    assert layer["mediaType"] == OCI_LAYER_GZIP
    assert layer["annotations"] == {"org.opencontainers.image.title": "prog.o"}

    config = json.loads(cache.read_blob(manifest["config"]["digest"]))
    labels = config["config"]["Labels"]
    assert json.loads(labels["io.ebpf.programs"]) == {
        "on_kill": "tracepoint",
        "tc_pass": "tc",
        "xdp_pass": "xdp",
    }
    assert json.loads(labels["io.ebpf.maps"]) == {
        "events": "ringbuf",
        "pass_stats": "per_cpu_array",
    }
    assert config["rootfs"]["diff_ids"] == [checked.content.diff_id]
    assert checked.content.data == bpf_object.read_bytes()


def test_the_same_object_builds_the_same_digest(bpf_object, tmp_path):
    first = build_image(bpf_object, TAG, settings_for(tmp_path / "a"))
    second = build_image(bpf_object, TAG, settings_for(tmp_path / "b"))
    assert first.digest == second.digest


def test_build_refuses_what_is_not_a_bpf_object(tmp_path):
    text = tmp_path / "prog.c"
    text.write_text("int main(void) { return 0; }\n")
    with pytest.raises(ElfError, match="not an ELF object"):
        build_image(text, TAG, settings_for(tmp_path))


def test_build_refuses_an_object_without_programs(tmp_path):
    header_only = tmp_path / "empty.o"
    header_only.write_bytes(fake_bpf_elf(size=64))
    with pytest.raises(ElfError):
        build_image(header_only, TAG, settings_for(tmp_path))


def test_build_refuses_a_missing_file_and_a_digest_tag(tmp_path, bpf_object):
    with pytest.raises(InputError, match="cannot read"):
        build_image(tmp_path / "nope.o", TAG, settings_for(tmp_path))
    with pytest.raises(ImageReferenceError, match="takes a tag"):
        build_image(
            bpf_object, "registry.test/x@sha256:" + "a" * 64, settings_for(tmp_path)
        )


def test_build_refuses_an_object_over_the_limit(bpf_object, tmp_path):
    with pytest.raises(InputError, match="over max_layer_bytes"):
        build_image(bpf_object, TAG, settings_for(tmp_path, max_layer_bytes=100))


def test_push_needs_the_image_in_the_cache(tmp_path):
    with pytest.raises(ImageNotCached, match=r"build it first|not in the cache"):
        push_image(TAG, settings_for(tmp_path))


def test_push_then_pull_through_a_registry(bpf_object, tmp_path, monkeypatch):
    from _fake_registry import FakeRegistry, install

    from bpftui.core.images import ImageRequest, fetch_bytecode

    fake = install(monkeypatch, FakeRegistry())
    built = build_image(bpf_object, TAG, settings_for(tmp_path / "builder"))
    assert push_image(TAG, settings_for(tmp_path / "builder")) == built.digest
    assert ("PUT", "/v2/bpf/prog/manifests/v1") in fake.requests

    # A second push sends no blob again: the registry has them.
    fake.requests.clear()
    push_image(TAG, settings_for(tmp_path / "builder"))
    assert [m for m, _ in fake.requests].count("PUT") == 1

    fetched = fetch_bytecode(ImageRequest(TAG), settings_for(tmp_path / "node"))
    assert fetched.digest == built.digest
    assert fetched.path.read_bytes() == bpf_object.read_bytes()
