"""Images against a real registry: Debian's docker-registry on 127.0.0.1.

Each test builds with one cache (the "builder") and pulls with another (the
"node"), so a pull can never be served by the build's own cache.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import logging
import tarfile
import time

import pytest

from bpftui.cli import main
from bpftui.core.images import (
    DigestMismatch,
    ImageContentError,
    ImageLabelError,
    ImageNotCached,
    ImageNotFound,
    ImageReference,
    ImageRequest,
    PullSecret,
    RegistryAuthError,
    RegistryUnreachable,
    build_image,
    fetch_bytecode,
    list_images,
    push_image,
)
from bpftui.core.images.cache import ImageCache
from bpftui.core.images.manifest import OCI_MANIFEST, Descriptor
from bpftui.core.images.registry import RegistryClient

pytestmark = [pytest.mark.registry, pytest.mark.timeout(120)]

SECRET = PullSecret("regcred", "default")


@pytest.fixture
def builder(tmp_path, registry, settings_for):
    return settings_for(tmp_path / "builder", registry.host)


@pytest.fixture
def node(tmp_path, registry, settings_for):
    return settings_for(tmp_path / "node", registry.host)


@pytest.fixture
def published(registry, builder, bpf_object):
    url = registry.url("bpf/prog")
    build_image(bpf_object, url, builder)
    push_image(url, builder)
    return url


def fetch(settings, url, policy="IfNotPresent", **kwargs):
    secret = kwargs.pop("secret", None)
    return fetch_bytecode(ImageRequest(url, policy, secret), settings, **kwargs)


def layer_digest(settings, url):
    cache = ImageCache(settings.cache_dir)
    manifest = json.loads(cache.read_blob(cache.lookup(url).digest))
    return manifest["layers"][0]["digest"]


def flip_a_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


# ------------------------------------------------------------ round trip


def test_build_push_pull(published, node, bpf_object):
    fetched = fetch(node, published, bpffunctionname="xdp_pass")
    assert fetched.pulled
    assert fetched.path.read_bytes() == bpf_object.read_bytes()
    assert fetched.programs == {"tc_ok": "tc", "xdp_pass": "xdp"}
    assert fetched.maps == {"pass_count": "array"}
    assert fetched.digest == ImageCache(node.cache_dir).lookup(published).digest


def test_pull_by_digest(published, node, builder, registry):
    digest = ImageCache(builder.cache_dir).lookup(published).digest
    pinned = f"{registry.host}/bpf/prog@{digest}"
    assert fetch(node, pinned).digest == digest


# ---------------------------------------------------------- pull policies


def test_if_not_present_is_served_by_the_cache_with_the_registry_stopped(
    published, node, registry
):
    fetch(node, published)
    registry.stop()
    again = fetch(node, published)
    assert not again.pulled
    assert again.path.exists()


def test_always_goes_to_the_registry(published, node, registry):
    fetch(node, published)
    registry.stop()
    with pytest.raises(RegistryUnreachable, match="Connection refused"):
        fetch(node, published, "Always")


def test_always_follows_a_moved_tag(published, node, builder, other_object):
    first = fetch(node, published)
    build_image(other_object, published, builder)
    push_image(published, builder)
    assert fetch(node, published).digest == first.digest
    moved = fetch(node, published, "Always")
    assert moved.digest != first.digest
    assert moved.path.read_bytes() == other_object.read_bytes()


def test_never_touches_no_network(published, node, registry):
    with pytest.raises(ImageNotCached, match="imagepullpolicy is Never"):
        fetch(node, published, "Never")
    fetch(node, published)
    registry.stop()
    assert not fetch(node, published, "Never").pulled


# ------------------------------------------------------------ cache damage


def test_a_tampered_cache_entry_is_pulled_again(published, node, bpf_object):
    fetch(node, published)
    flip_a_byte(ImageCache(node.cache_dir).blob_path(layer_digest(node, published)))
    again = fetch(node, published)
    assert again.pulled
    assert again.path.read_bytes() == bpf_object.read_bytes()


def test_a_tampered_cache_entry_under_never_is_reported(published, node, registry):
    fetch(node, published)
    digest = layer_digest(node, published)
    flip_a_byte(ImageCache(node.cache_dir).blob_path(digest))
    registry.stop()
    with pytest.raises(ImageNotCached, match="damaged"):
        fetch(node, published, "Never")
    assert ImageCache(node.cache_dir).lookup(published) is None


# ------------------------------------------------------ hostile registries


def test_a_registry_that_lies_about_a_digest(published, node, builder, registry):
    flip_a_byte(registry.blob_file(layer_digest(builder, published)))
    with pytest.raises(DigestMismatch, match="hashing to"):
        fetch(node, published)
    assert ImageCache(node.cache_dir).lookup(published) is None


def push_raw(registry, tmp_path, repository, layer, labels):
    """Push a hand-made image (any layer at all) with the registry client."""
    diff_id = "sha256:" + hashlib.sha256(gzip.decompress(layer)).hexdigest()
    config = json.dumps(
        {
            "config": {"Labels": labels},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
    ).encode()
    blobs = []
    for media_type, data in (
        ("application/vnd.oci.image.config.v1+json", config),
        ("application/vnd.oci.image.layer.v1.tar+gzip", layer),
    ):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        path = tmp_path / digest[7:]
        path.write_bytes(data)
        blobs.append((str(path), Descriptor(media_type, digest, len(data))))
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": blobs[0][1].to_json(),
        "layers": [blobs[1][1].to_json()],
    }
    reference = ImageReference.parse(registry.url(repository))
    client = RegistryClient(reference, insecure=True, credentials=None, timeout=5)
    for path, descriptor in blobs:
        client.push_blob(path, descriptor)
    client.push_manifest(json.dumps(manifest).encode(), OCI_MANIFEST, "v1")
    return str(reference)


def tar_gz(name, data, kind=tarfile.REGTYPE, linkname=""):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.type, info.size, info.linkname = kind, len(data), linkname
        tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    return gzip.compress(buffer.getvalue())


@pytest.mark.parametrize(
    ("layer", "needle"),
    [
        (lambda elf: tar_gz("../../../etc/prog.o", elf), "climbs out"),
        (
            lambda elf: tar_gz("prog.o", b"", tarfile.SYMTYPE, "/etc/shadow"),
            "is a link",
        ),
        (lambda elf: tar_gz("prog.o", b"", tarfile.CHRTYPE), "device file"),
        (lambda elf: tar_gz("prog.o", b"MZ" + elf[2:]), "not an ELF object"),
    ],
)
def test_a_malicious_layer_is_refused(
    registry, node, tmp_path, bpf_object, layer, needle
):
    labels = {"io.ebpf.programs": '{"xdp_pass":"xdp"}', "io.ebpf.maps": "{}"}
    url = push_raw(
        registry, tmp_path, "bad/layer", layer(bpf_object.read_bytes()), labels
    )
    with pytest.raises(ImageContentError, match=needle):
        fetch(node, url)
    assert ImageCache(node.cache_dir).records() == []


def test_labels_must_list_the_function(published, node):
    with pytest.raises(ImageLabelError) as err:
        fetch(node, published, bpffunctionname="xdp_drop")
    assert "tc_ok (tc), xdp_pass (xdp)" in str(err.value)
    assert err.value.condition == "BytecodeSelectorError"


# --------------------------------------------------------- reaching it


def test_a_missing_tag(published, node, registry):
    with pytest.raises(ImageNotFound, match="MANIFEST_UNKNOWN"):
        fetch(node, registry.url("bpf/prog", "v404"))
    with pytest.raises(ImageNotFound):
        fetch(node, registry.url("no/such-repo"))


def test_an_unreachable_registry_fails_fast(published, node, registry):
    registry.stop()
    started = time.monotonic()
    with pytest.raises(RegistryUnreachable) as err:
        fetch(node, published)
    assert time.monotonic() - started < 3
    assert err.value.condition == "NotLoaded"
    assert registry.host in str(err.value)


def test_tls_is_the_default(published, tmp_path, settings_for):
    secure = settings_for(tmp_path / "secure")  # the registry is not listed as insecure
    with pytest.raises(RegistryUnreachable, match="TLS") as err:
        fetch(secure, published)
    assert "insecure_registries" in str(err.value)


# ---------------------------------------------------------- credentials


@pytest.fixture
def auth_builder(tmp_path, auth_registry, settings_for):
    return settings_for(tmp_path / "builder", auth_registry.host)


@pytest.fixture
def auth_node(tmp_path, auth_registry, settings_for):
    return settings_for(tmp_path / "node", auth_registry.host)


def test_push_and_pull_with_a_pull_secret(
    auth_registry, auth_builder, auth_node, bpf_object, pull_secret
):
    url = auth_registry.url("private/prog")
    build_image(bpf_object, url, auth_builder)
    with pytest.raises(RegistryAuthError, match="no credentials configured"):
        push_image(url, auth_builder)
    pull_secret(auth_builder.secrets_dir, auth_registry.host, auth_registry.password)
    push_image(url, auth_builder, secret=SECRET)

    with pytest.raises(RegistryAuthError) as err:
        fetch(auth_node, url)
    assert err.value.condition == "NotLoaded"
    pull_secret(auth_node.secrets_dir, auth_registry.host, auth_registry.password)
    assert (
        fetch(auth_node, url, secret=SECRET).path.read_bytes()
        == bpf_object.read_bytes()
    )


def test_bad_credentials_are_refused(
    auth_registry, auth_builder, auth_node, bpf_object, pull_secret
):
    url = auth_registry.url("private/prog")
    pull_secret(auth_builder.secrets_dir, auth_registry.host, auth_registry.password)
    build_image(bpf_object, url, auth_builder)
    push_image(url, auth_builder, secret=SECRET)
    pull_secret(auth_node.secrets_dir, auth_registry.host, "wrong-password")
    with pytest.raises(RegistryAuthError, match="authentication failed") as err:
        fetch(auth_node, url, secret=SECRET)
    assert "imagepullsecret default/regcred" in str(err.value)
    assert "wrong-password" not in str(err.value)


def test_the_node_docker_config_is_used_without_a_secret(
    auth_registry, auth_builder, auth_node, bpf_object, pull_secret
):
    url = auth_registry.url("private/prog")
    pull_secret(auth_builder.secrets_dir, auth_registry.host, auth_registry.password)
    build_image(bpf_object, url, auth_builder)
    push_image(url, auth_builder, secret=SECRET)
    token = base64.b64encode(f"bpftui-test:{auth_registry.password}".encode()).decode()
    auth_node.docker_config.parent.mkdir(parents=True, exist_ok=True)
    auth_node.docker_config.write_text(
        json.dumps({"auths": {auth_registry.host: {"auth": token}}})
    )
    assert fetch(auth_node, url).pulled


def test_credentials_never_leak(
    auth_registry, auth_builder, auth_node, bpf_object, pull_secret, caplog, capsys
):
    url = auth_registry.url("private/prog")
    password = auth_registry.password
    token = base64.b64encode(f"bpftui-test:{password}".encode()).decode()
    for settings in (auth_builder, auth_node):
        pull_secret(settings.secrets_dir, auth_registry.host, password)
    with caplog.at_level(logging.DEBUG):
        build_image(bpf_object, url, auth_builder)
        push_image(url, auth_builder, secret=SECRET)
        fetched = fetch(auth_node, url, "Always", secret=SECRET)
        listed = [info.to_json() for info in list_images(auth_node)]

    # Not in the cache (blobs, records, the placed object) ...
    for root in (auth_builder.cache_dir, auth_node.cache_dir):
        for path in root.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert password.encode() not in data and token.encode() not in data, (
                    path
                )
    # ... nor in any log record, at any level, from any library ...
    assert password not in caplog.text and token not in caplog.text
    # ... nor in what a status or listing would print.
    shown = repr(fetched) + json.dumps(listed) + "".join(capsys.readouterr())
    assert password not in shown and token not in shown


# ----------------------------------------------------------------- CLI


def test_cli_build_push_pull(registry, tmp_path, bpf_object, capsys):
    def config(name):
        path = tmp_path / f"{name}.toml"
        path.write_text(
            f'[paths]\nstate_dir = "{tmp_path / name}"\n'
            f'[images]\ninsecure_registries = ["{registry.host}"]\n'
            f'docker_config = "{tmp_path / "none.json"}"\n'
        )
        return str(path)

    url = registry.url("cli/prog")
    assert (
        main(
            [
                "--config",
                config("builder"),
                "image",
                "build",
                str(bpf_object),
                "--tag",
                url,
                "--push",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["--config", config("node"), "image", "pull", url, "-o", "json"]) == 0
    pulled = json.loads(capsys.readouterr().out)
    assert pulled["source"] == "pulled"
    assert pulled["programs"] == {"tc_ok": "tc", "xdp_pass": "xdp"}
    registry.stop()
    assert (
        main(["--config", config("node"), "image", "pull", url, "--policy", "Always"])
        == 1
    )
    assert "cannot connect" in capsys.readouterr().err


# ------------------------------------------------------------------ TLS


def test_tls_registry_needs_a_trusted_certificate(
    tls_registry, tmp_path, bpf_object, settings_for, pull_secret, monkeypatch, caplog
):
    url = tls_registry.url("tls/prog")
    builder = settings_for(tmp_path / "builder")  # nothing insecure: TLS only
    node = settings_for(tmp_path / "node")
    for settings in (builder, node):
        pull_secret(settings.secrets_dir, tls_registry.host, tls_registry.password)
    build_image(bpf_object, url, builder)

    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with pytest.raises(RegistryUnreachable, match="certificate verify failed"):
        push_image(url, builder, secret=SECRET)

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_registry.certificate))
    with caplog.at_level(logging.WARNING):
        push_image(url, builder, secret=SECRET)
        fetched = fetch(node, url, secret=SECRET)
    assert fetched.path.read_bytes() == bpf_object.read_bytes()
    assert "plain HTTP" not in caplog.text
