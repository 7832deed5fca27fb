"""The ``[images]`` settings, as the loader passes them in.

The config module owns reading ``/etc/bpftui/bpftui.toml``; it hands the
``[images]`` table and the state directory to :meth:`ImageSettings.from_table`.
Example table::

    [images]
    insecure_registries = ["127.0.0.1:5000"]
    secrets_dir = "/etc/bpftui/secrets"
    docker_config = "/root/.docker/config.json"
    max_layer_bytes = 33554432
    timeout = 30
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bpftui.core.errors import InputError

DEFAULT_SECRETS_DIR = Path("/etc/bpftui/secrets")
# BPF objects are kilobytes to a few megabytes; the cap keeps a hostile
# registry from filling the disk or memory with a "layer".
DEFAULT_MAX_LAYER_BYTES = 32 * 1024 * 1024
DEFAULT_TIMEOUT = 30.0

_KEYS = frozenset(
    {
        "cache_dir",
        "secrets_dir",
        "docker_config",
        "insecure_registries",
        "max_layer_bytes",
        "timeout",
    }
)


@dataclass(frozen=True, slots=True)
class ImageSettings:
    """Where images are cached and how registries are reached.

    Attributes:
        cache_dir: the image cache, normally ``<state dir>/images``.
        secrets_dir: where Secret manifests named by imagepullsecret live.
        docker_config: the node's docker config file; ``None`` means
            ``~/.docker/config.json``.
        insecure_registries: ``host[:port]`` entries reached over plain HTTP.
        max_layer_bytes: the largest layer accepted, compressed or not.
        timeout: seconds to wait for a registry to answer.
    """

    cache_dir: Path
    secrets_dir: Path = DEFAULT_SECRETS_DIR
    docker_config: Path | None = None
    insecure_registries: tuple[str, ...] = ()
    max_layer_bytes: int = DEFAULT_MAX_LAYER_BYTES
    timeout: float = DEFAULT_TIMEOUT

    @property
    def docker_config_path(self) -> Path:
        """The docker config file to read, with the default filled in."""
        if self.docker_config is not None:
            return self.docker_config
        return Path.home() / ".docker" / "config.json"

    def is_insecure(self, registry: str) -> bool:
        """Whether ``registry`` (``host[:port]``) is to be reached over HTTP."""
        wanted = registry.lower()
        return any(entry.lower() == wanted for entry in self.insecure_registries)

    @classmethod
    def from_table(cls, table: Mapping[str, Any], state_dir: Path) -> ImageSettings:
        """Build settings from the ``[images]`` table of bpftui.toml.

        Args:
            table: the table's keys and values (empty when it is absent).
            state_dir: bpftui's state directory; the cache defaults below it.

        Raises:
            InputError: an unknown key or a value of the wrong type.
        """
        unknown = sorted(set(table) - _KEYS)
        if unknown:
            raise InputError(
                f"[images]: unknown setting {', '.join(unknown)}",
                hint=f"known settings: {', '.join(sorted(_KEYS))}",
            )
        docker_config = table.get("docker_config")
        return cls(
            cache_dir=_path(table, "cache_dir", state_dir / "images"),
            secrets_dir=_path(table, "secrets_dir", DEFAULT_SECRETS_DIR),
            docker_config=_path(table, "docker_config", Path())
            if docker_config
            else None,
            insecure_registries=_registries(table.get("insecure_registries", [])),
            max_layer_bytes=int(
                _positive(table, "max_layer_bytes", DEFAULT_MAX_LAYER_BYTES)
            ),
            timeout=float(_positive(table, "timeout", DEFAULT_TIMEOUT)),
        )


def _path(table: Mapping[str, Any], key: str, default: Path) -> Path:
    value = table.get(key)
    if value is None:
        return default
    if not isinstance(value, str) or not value:
        raise InputError(f"[images] {key}: expected a path string, got {value!r}")
    return Path(value).expanduser()


def _registries(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(
            f"[images] insecure_registries: expected a list of strings, got {value!r}",
            hint='for example insecure_registries = ["127.0.0.1:5000"]',
        )
    for entry in value:
        if "/" in entry or not entry:
            raise InputError(
                f"[images] insecure_registries: {entry!r} is not host[:port]",
                hint="write the registry without a scheme or path",
            )
    return tuple(value)


def _positive(table: Mapping[str, Any], key: str, default: float) -> Any:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise InputError(f"[images] {key}: expected a positive number, got {value!r}")
    return value
