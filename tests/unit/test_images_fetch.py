"""Pull policies, the cache and the checks, over an in-memory registry.

No socket is opened: the registry client keeps its real HTTP stack and only
the transport is swapped for :class:`FakeRegistry`.
"""

from __future__ import annotations

import base64
import json
import logging
import tarfile

import pytest
from _fake_registry import FakeRegistry, install, sha
from _images_support import fake_bpf_elf, image_blobs, member, settings_for, tar_gz

from bpftui.core.images import (
    DigestMismatch,
    ImageContentError,
    ImageLabelError,
    ImageNotCached,
    ImageNotFound,
    ImageRequest,
    PullSecret,
    PullSecretError,
    RegistryAuthError,
    fetch_bytecode,
)
from bpftui.core.images import errors as image_errors
from bpftui.core.images.cache import ImageCache
from bpftui.core.images.manifest import OCI_INDEX, OCI_MANIFEST, host_architecture

URL = "registry.test/bpf/prog:v1"
REPO = "bpf/prog"
ELF = fake_bpf_elf(size=512)
PASSWORD = "hunter2-Secret"


@pytest.fixture
def fake(monkeypatch):
    return install(monkeypatch, FakeRegistry())


@pytest.fixture
def settings(tmp_path):
    return settings_for(tmp_path)


def publish(fake, tag="v1", elf=ELF, **kwargs):
    manifest, config, layer = image_blobs(tar_gz(member("prog.o", elf)), **kwargs)
    return fake.put_image(REPO, tag, manifest, OCI_MANIFEST, config, layer)


def fetch(settings, policy="IfNotPresent", url=URL, **kwargs):
    return fetch_bytecode(
        ImageRequest(url, policy, kwargs.pop("secret", None)), settings, **kwargs
    )


def blob_gets(fake):
    return [
        path for method, path in fake.requests if method == "GET" and "/blobs/" in path
    ]


# ------------------------------------------------------------ pull policies


def test_first_fetch_pulls_and_caches(fake, settings):
    digest = publish(fake)
    fetched = fetch(settings, bpffunctionname="xdp_pass")
    assert fetched.pulled
    assert fetched.digest == digest
    assert fetched.path.read_bytes() == ELF
    assert fetched.programs == {"xdp_pass": "xdp"}
    assert fetched.reference == URL
    assert ImageCache(settings.cache_dir).lookup(URL).digest == digest


def test_if_not_present_uses_the_cache_without_network(fake, settings):
    publish(fake)
    fetch(settings)
    before = len(fake.requests)
    fetched = fetch(settings)
    assert not fetched.pulled
    assert len(fake.requests) == before
    assert fetched.path.read_bytes() == ELF


def test_never_without_a_cached_copy_touches_no_network(fake, settings):
    publish(fake)
    with pytest.raises(ImageNotCached, match="imagepullpolicy is Never") as err:
        fetch(settings, "Never")
    assert fake.requests == []
    assert err.value.condition == "NotLoaded"


def test_never_uses_a_cached_copy(fake, settings):
    publish(fake)
    fetch(settings)
    fake.requests.clear()
    assert fetch(settings, "Never").path.read_bytes() == ELF
    assert fake.requests == []


def test_always_asks_for_the_manifest_but_reuses_blobs(fake, settings):
    publish(fake)
    fetch(settings)
    fake.requests.clear()
    assert fetch(settings, "Always").pulled
    assert fake.requests == [("GET", f"/v2/{REPO}/manifests/v1")]


def test_always_follows_a_moved_tag(fake, settings):
    publish(fake)
    first = fetch(settings)
    other = fake_bpf_elf(size=1024)
    second_digest = publish(fake, elf=other)
    assert fetch(settings).digest == first.digest  # IfNotPresent keeps the old one
    moved = fetch(settings, "Always")
    assert moved.digest == second_digest
    assert moved.path.read_bytes() == other


def test_policy_is_checked():
    with pytest.raises(
        image_errors.ImageReferenceError, match="imagepullpolicy 'Sometimes'"
    ):
        fetch(settings_for(__import__("pathlib").Path("/nonexistent")), "Sometimes")


# ----------------------------------------------------------- cache damage


def tamper(settings, digest):
    path = ImageCache(settings.cache_dir).blob_path(digest)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def layer_digest(fake):
    manifest = json.loads(fake.manifests[(REPO, "v1")][0])
    return manifest["layers"][0]["digest"]


def test_a_tampered_entry_is_dropped_and_pulled_again(fake, settings, caplog):
    publish(fake)
    fetch(settings)
    tamper(settings, layer_digest(fake))
    fake.requests.clear()
    with caplog.at_level(logging.WARNING):
        fetched = fetch(settings)
    assert fetched.pulled
    assert fetched.path.read_bytes() == ELF
    assert blob_gets(fake) == [f"/v2/{REPO}/blobs/{layer_digest(fake)}"]
    assert "damaged" in caplog.text


def test_a_tampered_entry_under_never_is_reported_and_removed(fake, settings):
    publish(fake)
    fetch(settings)
    tamper(settings, layer_digest(fake))
    fake.requests.clear()
    with pytest.raises(ImageNotCached, match="damaged") as err:
        fetch(settings, "Never")
    assert "removed" in str(err.value)
    assert fake.requests == []
    assert ImageCache(settings.cache_dir).lookup(URL) is None


def test_a_tampered_manifest_is_caught_too(fake, settings):
    digest = publish(fake)
    fetch(settings)
    tamper(settings, digest)
    assert fetch(settings).pulled


def test_a_missing_blob_is_pulled_again(fake, settings):
    publish(fake)
    fetch(settings)
    ImageCache(settings.cache_dir).blob_path(layer_digest(fake)).unlink()
    assert fetch(settings).pulled


def test_the_placed_object_is_rewritten_from_the_verified_layer(fake, settings):
    publish(fake)
    path = fetch(settings).path
    path.write_bytes(b"replaced behind our back")
    assert fetch(settings, "Never").path.read_bytes() == ELF


# ------------------------------------------------------- a lying registry


def assert_nothing_cached(settings):
    cache = ImageCache(settings.cache_dir)
    assert cache.lookup(URL) is None
    assert not (settings.cache_dir / "blobs").exists() or not any(
        (settings.cache_dir / "blobs" / "sha256").iterdir()
    )


def test_a_blob_that_does_not_match_its_digest_is_refused(fake, settings):
    publish(fake)
    honest = fake.blobs[layer_digest(fake)]
    fake.lies[layer_digest(fake)] = honest[:-1] + bytes([honest[-1] ^ 1])
    with pytest.raises(DigestMismatch, match="hashing to") as err:
        fetch(settings)
    assert err.value.condition == "NotLoaded"
    assert_nothing_cached(settings)


def test_a_wrong_announced_manifest_digest_is_refused(fake, settings):
    publish(fake)
    fake.announce = "sha256:" + "0" * 64
    with pytest.raises(DigestMismatch, match="announced"):
        fetch(settings)


def test_a_pinned_digest_must_match_what_is_served(fake, settings):
    publish(fake)
    pinned = "sha256:" + "1" * 64
    manifest, _ = fake.manifests[(REPO, "v1")]
    fake.manifests[(REPO, pinned)] = (manifest, OCI_MANIFEST)
    with pytest.raises(DigestMismatch):
        fetch(settings, url=f"registry.test/{REPO}@{pinned}")


def test_a_layer_whose_diff_id_is_wrong_is_refused(fake, settings):
    publish(fake, diff_ids=["sha256:" + "2" * 64])
    with pytest.raises(DigestMismatch, match="the config lists"):
        fetch(settings)
    assert_nothing_cached(settings)


# ------------------------------------------------------ what is refused


def test_an_oversized_layer_is_refused_before_download(fake, tmp_path):
    publish(fake, layer_size=10 << 20)
    with pytest.raises(ImageContentError, match="over the limit"):
        fetch(settings_for(tmp_path, max_layer_bytes=1 << 20))
    assert blob_gets(fake) == []


def test_a_layer_larger_than_announced_is_cut_off(fake, settings):
    publish(fake, layer_size=10)
    with pytest.raises(ImageContentError, match="more than"):
        fetch(settings)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"layers": 2}, "has 2 layers"),
        (
            {"layer_media_type": "application/vnd.oci.image.layer.v1.tar"},
            "is not accepted",
        ),
        ({"layer_media_type": "application/x-shellscript"}, "is not accepted"),
    ],
)
def test_unexpected_manifests_are_refused(fake, settings, kwargs, needle):
    publish(fake, **kwargs)
    with pytest.raises(ImageContentError, match=needle):
        fetch(settings)


def test_a_malicious_layer_is_refused_and_not_cached(fake, settings):
    layer = tar_gz(
        member("prog.o", ELF), member("../../etc/cron.d/x", b"* * * * * root sh")
    )
    manifest, config, _ = image_blobs(layer)
    fake.put_image(REPO, "v1", manifest, OCI_MANIFEST, config, layer)
    with pytest.raises(ImageContentError, match="climbs out"):
        fetch(settings)
    assert_nothing_cached(settings)


def test_a_symlink_layer_is_refused(fake, settings):
    layer = tar_gz(member("prog.o", kind=tarfile.SYMTYPE))
    manifest, config, _ = image_blobs(layer)
    fake.put_image(REPO, "v1", manifest, OCI_MANIFEST, config, layer)
    with pytest.raises(ImageContentError, match="is a link"):
        fetch(settings)


def test_labels_that_do_not_list_the_function_are_refused(fake, settings):
    publish(fake, labels={"io.ebpf.programs": '{"tc_a":"tc","tc_b":"tc"}'})
    with pytest.raises(ImageLabelError) as err:
        fetch(settings, bpffunctionname="xdp_pass")
    assert "holds no program 'xdp_pass'" in str(err.value)
    assert "tc_a (tc), tc_b (tc)" in str(err.value)
    assert err.value.condition == "BytecodeSelectorError"


def test_an_older_filename_label_must_name_the_object(fake, settings):
    labels = {
        "io.ebpf.program_type": "xdp",
        "io.ebpf.bpf_function_name": "xdp_pass",
        "io.ebpf.program_name": "pass",
        "io.ebpf.filename": "other.o",
    }
    publish(fake, labels=labels)
    with pytest.raises(ImageLabelError, match=r"'other\.o'"):
        fetch(settings)


def test_a_missing_tag_is_not_found(fake, settings):
    publish(fake)
    with pytest.raises(ImageNotFound, match="MANIFEST_UNKNOWN") as err:
        fetch(settings, url="registry.test/bpf/prog:v9")
    assert err.value.condition == "NotLoaded"


# ------------------------------------------------------------ indexes


def index_of(*platforms):
    entries = [
        {
            "mediaType": OCI_MANIFEST,
            "digest": digest,
            "size": 10,
            "platform": {"os": "linux", "architecture": arch},
        }
        for digest, arch in platforms
    ]
    return json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
    ).encode()


def test_an_index_is_followed_to_this_architecture(fake, settings):
    ours = publish(fake, tag="ours")
    theirs = publish(fake, tag="theirs", elf=fake_bpf_elf(size=2048))
    fake.manifests[(REPO, "v1")] = (
        index_of((theirs, "s390x"), (ours, host_architecture())),
        OCI_INDEX,
    )
    fetched = fetch(settings)
    assert fetched.digest == ours
    assert fetched.path.read_bytes() == ELF


def test_an_index_without_this_architecture_is_refused(fake, settings):
    theirs = publish(fake, tag="theirs")
    fake.manifests[(REPO, "v1")] = (index_of((theirs, "s390x")), OCI_INDEX)
    with pytest.raises(ImageContentError, match="offers linux/s390x"):
        fetch(settings)


# -------------------------------------------------------- credentials


def write_secret(settings, name="regcred", namespace="default", password=PASSWORD):
    auth = base64.b64encode(f"alice:{password}".encode()).decode()
    config = {"auths": {"registry.test": {"auth": auth}}}
    settings.secrets_dir.mkdir(exist_ok=True)
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {
            ".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()
        },
    }
    path = settings.secrets_dir / f"{name}.json"
    path.write_text(json.dumps(body))
    path.chmod(0o600)


def test_basic_auth_with_a_pull_secret(fake, settings):
    fake.basic = ("alice", PASSWORD)
    publish(fake)
    write_secret(settings)
    fetched = fetch(settings, secret=PullSecret("regcred", "default"))
    assert fetched.path.read_bytes() == ELF


def test_basic_auth_without_credentials_is_refused(fake, settings):
    fake.basic = ("alice", PASSWORD)
    publish(fake)
    with pytest.raises(RegistryAuthError, match="no credentials configured") as err:
        fetch(settings)
    assert err.value.condition == "NotLoaded"


def test_wrong_credentials_are_refused_without_showing_them(fake, settings, caplog):
    fake.basic = ("alice", PASSWORD)
    publish(fake)
    write_secret(settings, password="not-the-password")
    with caplog.at_level(logging.DEBUG), pytest.raises(RegistryAuthError) as err:
        fetch(settings, secret=PullSecret("regcred", "default"))
    assert "imagepullsecret default/regcred" in str(err.value)
    assert "not-the-password" not in str(err.value)
    assert "not-the-password" not in caplog.text


def test_a_missing_secret_is_a_selector_error(fake, settings):
    publish(fake)
    settings.secrets_dir.mkdir()
    with pytest.raises(PullSecretError) as err:
        fetch(settings, secret=PullSecret("nope", "default"))
    assert err.value.condition == "BytecodeSelectorError"
    assert fake.requests == []


def test_bearer_token_flow(fake, settings):
    fake.bearer = ("https://auth.test/token", "alice", PASSWORD)
    publish(fake)
    write_secret(settings)
    fetch(settings, secret=PullSecret("regcred", "default"))
    assert f"Bearer {fake.token}" in fake.authorizations


def test_bearer_token_refused(fake, settings):
    fake.bearer = ("https://auth.test/token", "alice", PASSWORD)
    publish(fake)
    write_secret(settings, password="wrong")
    with pytest.raises(RegistryAuthError, match="token service refused"):
        fetch(settings, secret=PullSecret("regcred", "default"))


def test_a_plain_http_token_service_gets_no_credentials(fake, settings):
    fake.bearer = ("http://auth.test/token", "alice", PASSWORD)
    publish(fake)
    write_secret(settings)
    with pytest.raises(RegistryAuthError, match="plain HTTP"):
        fetch(settings, secret=PullSecret("regcred", "default"))
    assert not any(path == "/token" for _, path in fake.requests)


def test_credentials_never_reach_the_cache_or_the_log(fake, settings, caplog):
    fake.basic = ("alice", PASSWORD)
    publish(fake)
    write_secret(settings)
    with caplog.at_level(logging.DEBUG):
        fetched = fetch(settings, secret=PullSecret("regcred", "default"))
    token = base64.b64encode(f"alice:{PASSWORD}".encode())
    for path in settings.cache_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert PASSWORD.encode() not in data and token not in data, path
    assert PASSWORD not in caplog.text and token.decode() not in caplog.text
    assert PASSWORD not in repr(fetched)


# -------------------------------------------------------------- mapping


@pytest.mark.parametrize(
    ("cls", "condition"),
    [
        (image_errors.ImageReferenceError, "BytecodeSelectorError"),
        (image_errors.PullSecretError, "BytecodeSelectorError"),
        (image_errors.ImageLabelError, "BytecodeSelectorError"),
        (image_errors.RegistryUnreachable, "NotLoaded"),
        (image_errors.RegistryAuthError, "NotLoaded"),
        (image_errors.ImageNotFound, "NotLoaded"),
        (image_errors.ImageNotCached, "NotLoaded"),
        (image_errors.ImageContentError, "NotLoaded"),
        (image_errors.DigestMismatch, "NotLoaded"),
        (image_errors.CacheError, "NotLoaded"),
    ],
)
def test_each_error_names_its_condition(cls, condition):
    assert cls.condition == condition
    assert issubclass(cls, image_errors.ImageError)


def test_sha_helper_matches_cache_digest():
    assert (
        sha(b"")
        == "sha256:"
        + "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


def test_the_api_object_is_accepted_as_it_is(fake, settings):
    from bpftui.core import api

    fake.basic = ("alice", PASSWORD)
    publish(fake)
    write_secret(settings, namespace="team")
    image = api.BytecodeImage(
        url=URL,
        imagepullpolicy="Always",
        imagepullsecret=api.ImagePullSecretSelector(name="regcred", namespace="team"),
    )
    fetched = fetch_bytecode(image, settings, bpffunctionname="xdp_pass")
    assert fetched.pulled
    assert fetched.path.read_bytes() == ELF
