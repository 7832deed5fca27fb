"""Registry credentials: from an imagepullsecret or the node's docker config.

``imagepullsecret: {name, namespace}`` names a Secret of type
``kubernetes.io/dockerconfigjson``; on a node without a cluster, bpftui looks
for its manifest (YAML or JSON, several documents per file allowed) in the
configured secrets directory. Without an imagepullsecret the node's docker
config file is used, when it has an entry for the registry.

Credentials live only in memory, in :class:`Credentials`, whose ``repr``
shows where they came from and nothing else. They are never logged, never
put in a message, and never written anywhere by bpftui.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bpftui.core.images.errors import PullSecretError
from bpftui.core.images.reference import same_registry

log = logging.getLogger(__name__)

SECRET_TYPE = "kubernetes.io/dockerconfigjson"
_SECRET_KEY = ".dockerconfigjson"
_SUFFIXES = (".yaml", ".yml", ".json")


class SecretRef(Protocol):
    """What an imagepullsecret names (``api.ImagePullSecret`` fits)."""

    @property
    def name(self) -> str: ...

    @property
    def namespace(self) -> str: ...


@dataclass(frozen=True, slots=True)
class PullSecret:
    """An imagepullsecret given on the command line (``NAMESPACE/NAME``)."""

    name: str
    namespace: str = "default"

    @classmethod
    def parse(cls, text: str) -> PullSecret:
        """Read ``NAMESPACE/NAME`` or ``NAME`` (namespace ``default``)."""
        namespace, _, name = text.rpartition("/")
        if not name:
            raise PullSecretError(f"imagepullsecret '{text}': expected NAMESPACE/NAME")
        return cls(name=name, namespace=namespace or "default")


@dataclass(frozen=True, slots=True)
class Credentials:
    """A user name and password for one registry.

    Attributes:
        source: where they came from, safe to show (``secret default/regcred``).
    """

    source: str
    username: str = field(repr=False)
    password: str = field(repr=False)

    def basic_token(self) -> str:
        """The value of an HTTP Basic ``Authorization`` header, after ``Basic``."""
        pair = f"{self.username}:{self.password}".encode()
        return base64.b64encode(pair).decode("ascii")


def resolve_credentials(
    registry: str,
    secret: SecretRef | None,
    *,
    secrets_dir: Path,
    docker_config: Path,
) -> Credentials | None:
    """Find the credentials to use for ``registry``.

    Args:
        registry: ``host[:port]`` of the registry.
        secret: the imagepullsecret, if the object has one.
        secrets_dir: where Secret manifests are looked up.
        docker_config: the node's docker config file.

    Returns:
        The credentials, or ``None`` for anonymous access.

    Raises:
        PullSecretError: the secret is missing, malformed, of the wrong type,
            or holds nothing for this registry.
    """
    if secret is not None:
        where = f"imagepullsecret {secret.namespace}/{secret.name}"
        config = _secret_config(secret, secrets_dir, where)
        found = _auth_entry(config, registry, where)
        if found is None:
            raise PullSecretError(
                f"{where}: holds no credentials for registry {registry}; "
                f"it has {', '.join(_hosts(config)) or 'none'}",
                hint="add an entry for this registry to the Secret",
            )
        return found
    return _docker_config_credentials(registry, docker_config)


def _docker_config_credentials(registry: str, path: Path) -> Credentials | None:
    try:
        config = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning(
            "docker config %s is unreadable (%s); pulling anonymously",
            path,
            type(exc).__name__,
        )
        return None
    if not isinstance(config, dict):
        log.warning("docker config %s is not a JSON object; pulling anonymously", path)
        return None
    try:
        return _auth_entry(config, registry, f"docker config {path}")
    except PullSecretError as exc:
        log.warning("%s; pulling anonymously", exc.message)
        return None


def _secret_config(secret: SecretRef, folder: Path, where: str) -> Mapping[str, Any]:
    if not folder.is_dir():
        raise PullSecretError(
            f"{where}: the secrets directory {folder} does not exist",
            hint="set secrets_dir under [images] in bpftui.toml, or create it",
        )
    for path, document in _documents(folder):
        meta = document.get("metadata")
        if not isinstance(meta, Mapping) or document.get("kind") != "Secret":
            continue
        if (
            meta.get("name") == secret.name
            and meta.get("namespace", "default") == secret.namespace
        ):
            _warn_if_readable(path)
            return _decode_secret(document, f"{where} ({path})")
    raise PullSecretError(
        f"{where}: no Secret with that name and namespace in {folder}",
        hint="write its manifest there, for example with 'kubectl create secret "
        "docker-registry NAME --docker-server=... --dry-run=client -o yaml'",
    )


def _documents(folder: Path) -> Iterator[tuple[Path, Mapping[str, Any]]]:
    import yaml

    try:
        paths = sorted(folder.iterdir())
    except OSError as exc:
        raise PullSecretError(
            f"secrets directory {folder}: cannot list it: {exc.strerror or exc}"
        ) from None
    for path in paths:
        if path.suffix not in _SUFFIXES or not path.is_file():
            continue
        try:
            documents = list(yaml.safe_load_all(path.read_text()))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            log.warning("secrets directory: skipping unreadable file %s", path)
            continue
        for document in documents:
            if isinstance(document, Mapping):
                yield path, document


def _decode_secret(document: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    if document.get("type") != SECRET_TYPE:
        raise PullSecretError(
            f"{where}: type is {document.get('type')!r}, not {SECRET_TYPE}",
            hint="create it with 'kubectl create secret docker-registry'",
        )
    text = _secret_text(document)
    if text is None:
        raise PullSecretError(f"{where}: has no {_SECRET_KEY} in data or stringData")
    try:
        config = json.loads(text)
    except ValueError:
        config = None
    if not isinstance(config, dict):
        raise PullSecretError(f"{where}: {_SECRET_KEY} is not a JSON object")
    return config


def _secret_text(document: Mapping[str, Any]) -> str | None:
    string_data = document.get("stringData")
    if isinstance(string_data, Mapping) and isinstance(
        string_data.get(_SECRET_KEY), str
    ):
        return str(string_data[_SECRET_KEY])
    data = document.get("data")
    encoded = data.get(_SECRET_KEY) if isinstance(data, Mapping) else None
    if not isinstance(encoded, str):
        return None
    try:
        return base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""


def _auth_entry(
    config: Mapping[str, Any], registry: str, where: str
) -> Credentials | None:
    auths = config.get("auths")
    if not isinstance(auths, Mapping):
        return None
    for key, entry in auths.items():
        if isinstance(key, str) and same_registry(_host_of(key), registry):
            return _entry_credentials(entry, where)
    return None


def _entry_credentials(entry: Any, where: str) -> Credentials:
    if not isinstance(entry, Mapping):
        raise PullSecretError(f"{where}: the entry for this registry is not an object")
    username, password = entry.get("username"), entry.get("password")
    if isinstance(username, str) and isinstance(password, str) and username:
        return Credentials(where, username, password)
    try:
        pair = base64.b64decode(str(entry.get("auth", "")), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        pair = ""
    username, sep, password = pair.partition(":")
    if not sep or not username:
        raise PullSecretError(
            f"{where}: the entry for this registry has no usable auth or "
            "username and password",
            hint="identity tokens and credential helpers are not supported",
        )
    return Credentials(where, username, password)


def _host_of(key: str) -> str:
    """``https://host:port/v1/`` -> ``host:port``, as docker config keys vary."""
    host = key.split("://", 1)[-1]
    return host.split("/", 1)[0]


def _hosts(config: Mapping[str, Any]) -> list[str]:
    auths = config.get("auths")
    return sorted(_host_of(str(k)) for k in auths) if isinstance(auths, Mapping) else []


def _warn_if_readable(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("secret file %s is readable by other users; chmod 600 it", path)
