"""Pull secrets and the docker config: found, decoded, and kept out of sight."""

from __future__ import annotations

import base64
import json
import logging

import pytest
import yaml

from bpftui.core.images import Credentials, PullSecret, PullSecretError
from bpftui.core.images.credentials import resolve_credentials

PASSWORD = "pa55-Word:with-colon"


def dockerconfig(registry="127.0.0.1:5000", user="alice", password=PASSWORD, **extra):
    entry = {"auth": base64.b64encode(f"{user}:{password}".encode()).decode(), **extra}
    return {"auths": {registry: entry}}


def secret_doc(
    name="regcred", namespace="team", config=None, kind="kubernetes.io/dockerconfigjson"
):
    encoded = base64.b64encode(json.dumps(config or dockerconfig()).encode()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": kind,
        "data": {".dockerconfigjson": encoded},
    }


def resolve(tmp_path, registry="127.0.0.1:5000", secret=None):
    return resolve_credentials(
        registry,
        secret,
        secrets_dir=tmp_path / "secrets",
        docker_config=tmp_path / "docker.json",
    )


@pytest.fixture
def secrets(tmp_path):
    folder = tmp_path / "secrets"
    folder.mkdir()
    return folder


def test_a_secret_among_several_documents_is_found(tmp_path, secrets):
    documents = [
        {"kind": "ConfigMap", "metadata": {"name": "regcred", "namespace": "team"}},
        secret_doc(
            name="regcred", namespace="other", config=dockerconfig(password="no")
        ),
        secret_doc(),
    ]
    (secrets / "all.yaml").write_text(yaml.safe_dump_all(documents))
    found = resolve(tmp_path, secret=PullSecret("regcred", "team"))
    assert (found.username, found.password) == ("alice", PASSWORD)
    assert found.source == "imagepullsecret team/regcred"


def test_string_data_and_username_password_fields(tmp_path, secrets):
    config = {
        "auths": {"https://127.0.0.1:5000/v1/": {"username": "bob", "password": "pw"}}
    }
    document = secret_doc()
    del document["data"]
    document["stringData"] = {".dockerconfigjson": json.dumps(config)}
    (secrets / "s.yml").write_text(yaml.safe_dump(document))
    found = resolve(tmp_path, secret=PullSecret("regcred", "team"))
    assert (found.username, found.password) == ("bob", "pw")


def test_namespace_defaults_to_default(tmp_path, secrets):
    document = secret_doc()
    del document["metadata"]["namespace"]
    (secrets / "s.json").write_text(json.dumps(document))
    assert resolve(tmp_path, secret=PullSecret.parse("regcred")) is not None


@pytest.mark.parametrize(
    ("document", "needle"),
    [
        (secret_doc(name="else"), "no Secret with that name"),
        (secret_doc(kind="Opaque"), "not kubernetes.io/dockerconfigjson"),
        (secret_doc(config=dockerconfig(registry="quay.io")),
         "holds no credentials for registry 127.0.0.1:5000; it has quay.io"),
        ({**secret_doc(), "data": {".dockerconfigjson": "%%%"}},
         "is not a JSON object"),
        ({**secret_doc(), "data": {}}, "has no .dockerconfigjson"),
        (secret_doc(config={"auths": {"127.0.0.1:5000": {"auth": "bm9jb2xvbg=="}}}),
         "no usable auth"),
    ],
)  # fmt: skip
def test_secret_problems_are_selector_errors(tmp_path, secrets, document, needle):
    (secrets / "s.yaml").write_text(yaml.safe_dump(document))
    with pytest.raises(PullSecretError) as err:
        resolve(tmp_path, secret=PullSecret("regcred", "team"))
    assert needle in str(err.value)
    assert PASSWORD not in str(err.value)
    assert err.value.condition == "BytecodeSelectorError"


def test_a_missing_secrets_directory_is_named(tmp_path):
    with pytest.raises(PullSecretError, match="does not exist"):
        resolve(tmp_path, secret=PullSecret("regcred", "team"))


def test_an_unreadable_file_is_skipped_with_a_warning(tmp_path, secrets, caplog):
    (secrets / "broken.yaml").write_text("{{{: not yaml")
    (secrets / "good.yaml").write_text(yaml.safe_dump(secret_doc()))
    with caplog.at_level(logging.WARNING):
        assert resolve(tmp_path, secret=PullSecret("regcred", "team")) is not None
    assert "broken.yaml" in caplog.text


def test_a_readable_secret_file_is_warned_about(tmp_path, secrets, caplog):
    path = secrets / "s.yaml"
    path.write_text(yaml.safe_dump(secret_doc()))
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        resolve(tmp_path, secret=PullSecret("regcred", "team"))
    assert "readable by other users" in caplog.text
    assert PASSWORD not in caplog.text


def test_docker_config_is_used_without_a_secret(tmp_path):
    (tmp_path / "docker.json").write_text(
        json.dumps(dockerconfig(registry="https://127.0.0.1:5000"))
    )
    found = resolve(tmp_path)
    assert found.password == PASSWORD
    assert found.source == f"docker config {tmp_path / 'docker.json'}"


def test_docker_hub_aliases_match(tmp_path):
    (tmp_path / "docker.json").write_text(
        json.dumps(dockerconfig(registry="https://index.docker.io/v1/"))
    )
    assert resolve(tmp_path, registry="docker.io") is not None


def test_no_docker_config_means_anonymous(tmp_path):
    assert resolve(tmp_path) is None
    (tmp_path / "docker.json").write_text(json.dumps(dockerconfig(registry="quay.io")))
    assert resolve(tmp_path) is None


def test_a_broken_docker_config_warns_and_goes_anonymous(tmp_path, caplog):
    (tmp_path / "docker.json").write_text("not json")
    with caplog.at_level(logging.WARNING):
        assert resolve(tmp_path) is None
    assert "unreadable" in caplog.text


def test_credentials_do_not_show_themselves():
    creds = Credentials("imagepullsecret a/b", "alice", PASSWORD)
    assert PASSWORD not in repr(creds) and "alice" not in repr(creds)
    assert PASSWORD not in str(creds)
    assert base64.b64decode(creds.basic_token()).decode() == f"alice:{PASSWORD}"


@pytest.mark.parametrize(
    ("text", "name", "namespace"), [("ns/n", "n", "ns"), ("n", "n", "default")]
)
def test_pull_secret_parse(text, name, namespace):
    assert PullSecret.parse(text) == PullSecret(name, namespace)


def test_pull_secret_parse_refuses_empty_name():
    with pytest.raises(PullSecretError):
        PullSecret.parse("ns/")
