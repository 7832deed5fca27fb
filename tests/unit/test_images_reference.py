"""Image references and the [images] settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from bpftui.core.errors import InputError
from bpftui.core.images import ImageReference, ImageReferenceError, ImageSettings

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("quay.io/bpfman/xdp:latest", "quay.io", "bpfman/xdp", "latest", None),
        ("quay.io/bpfman/xdp_pass", "quay.io", "bpfman/xdp_pass", "latest", None),
        ("127.0.0.1:5000/a/b/c:v1.2", "127.0.0.1:5000", "a/b/c", "v1.2", None),
        ("localhost/prog:dev", "localhost", "prog", "dev", None),
        ("busybox", "docker.io", "library/busybox", "latest", None),
        ("someone/prog:1", "docker.io", "someone/prog", "1", None),
        (f"quay.io/x/y@{DIGEST}", "quay.io", "x/y", None, DIGEST),
        (f"quay.io/x/y:v1@{DIGEST}", "quay.io", "x/y", "v1", DIGEST),
        ("r.example:443/t/a.b_c-1:t_1", "r.example:443", "t/a.b_c-1", "t_1", None),
    ],
)  # fmt: skip
def test_parse(text, registry, repository, tag, digest):
    ref = ImageReference.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )


@pytest.mark.parametrize(
    "text",
    [
        "https://quay.io/x/y:v1",
        "quay.io/x/Y:v1",
        "quay.io/x/y:bad tag",
        "quay.io/x/y@sha256:1234",
        "quay.io/x/y@md5:" + "a" * 32,
        "quay.io/../y:v1",
        "quay.io//y",
        "",
    ],
)
def test_parse_refuses(text):
    with pytest.raises(ImageReferenceError) as err:
        ImageReference.parse(text)
    assert err.value.condition == "BytecodeSelectorError"


def test_docker_hub_api_host_and_string_form():
    ref = ImageReference.parse("busybox:1")
    assert ref.api_host == "registry-1.docker.io"
    assert str(ref) == "docker.io/library/busybox:1"
    assert ref.manifest_reference == "1"
    assert ref.with_digest(DIGEST).manifest_reference == DIGEST


def test_settings_from_table_defaults_under_state_dir():
    settings = ImageSettings.from_table({}, Path("/var/lib/bpftui"))
    assert settings.cache_dir == Path("/var/lib/bpftui/images")
    assert settings.insecure_registries == ()
    assert not settings.is_insecure("127.0.0.1:5000")


def test_settings_from_table_reads_every_key():
    table = {
        "cache_dir": "/tmp/c",
        "secrets_dir": "/tmp/s",
        "docker_config": "/tmp/d.json",
        "insecure_registries": ["127.0.0.1:5000"],
        "max_layer_bytes": 1024,
        "timeout": 3,
    }
    settings = ImageSettings.from_table(table, Path("/x"))
    assert settings.cache_dir == Path("/tmp/c")
    assert settings.docker_config_path == Path("/tmp/d.json")
    assert settings.is_insecure("127.0.0.1:5000")
    assert not settings.is_insecure("127.0.0.1:5001")
    assert settings.max_layer_bytes == 1024
    assert settings.timeout == 3.0


@pytest.mark.parametrize(
    "table",
    [
        {"insecure": ["x"]},
        {"insecure_registries": "127.0.0.1:5000"},
        {"insecure_registries": ["http://127.0.0.1:5000"]},
        {"max_layer_bytes": -1},
        {"max_layer_bytes": True},
        {"cache_dir": 5},
    ],
)
def test_settings_from_table_refuses(table):
    with pytest.raises(InputError):
        ImageSettings.from_table(table, Path("/x"))
