"""The node's configuration: ``/etc/bpftui/bpftui.toml``.

Every key is optional; a missing file gives the defaults. ``--config FILE``
or ``BPFTUI_CONFIG`` name another file, which must then exist. The layout::

    [node]
    name = "worker-1"                     # default: the host name
    labels = { zone = "a" }               # kubernetes.io/hostname is added

    [paths]
    state_dir = "/var/lib/bpftui"
    bpffs_root = "/sys/fs/bpf/bpftui"

    [xdp]
    mode = "auto"                         # native, generic, hw or auto
    interfaces = { eth0 = "generic" }     # per-interface override

    [images]                              # read by bpftui.core.images
    cache_dir = "/var/lib/bpftui/images"
    secrets_dir = "/etc/bpftui/secrets"
    docker_config = "/root/.docker/config.json"
    insecure_registries = ["localhost:5000"]

A config file anyone may write to, or one in a directory anyone may write
to without the sticky bit, would let anyone choose what the node loads, so
such a file is refused.
"""

from __future__ import annotations

import os
import socket
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from bpftui.core.errors import InputError, PermissionProblem
from bpftui.core.trust import fix_hint, untrusted_reason

DEFAULT_PATH = "/etc/bpftui/bpftui.toml"
DEFAULT_STATE_DIR = "/var/lib/bpftui"
DEFAULT_BPFFS_ROOT = "/sys/fs/bpf/bpftui"
ENV_VAR = "BPFTUI_CONFIG"
HOSTNAME_LABEL = "kubernetes.io/hostname"
XDP_MODES = ("native", "generic", "hw", "auto")

_SECTIONS: Mapping[str, frozenset[str]] = {
    "node": frozenset({"name", "labels"}),
    "paths": frozenset({"state_dir", "bpffs_root"}),
    "xdp": frozenset({"mode", "interfaces"}),
}
# The [images] table belongs to bpftui.core.images, which checks its keys.
_PASSED_THROUGH = frozenset({"images"})


@dataclass(frozen=True, slots=True)
class Config:
    """The resolved configuration of this node.

    Attributes:
        path: the file read, or None when only defaults apply.
        node_name: the name BpfProgram objects carry.
        node_labels: matched by ``nodeselector``; always holds
            ``kubernetes.io/hostname``.
        state_dir: where the state store and its lock live.
        bpffs_root: the bpffs directory under which bpftui pins.
        xdp_mode: the XDP attach mode of interfaces not named below.
        xdp_interface_modes: interface name -> XDP mode.
        images: the raw ``[images]`` table, checked and read by
            ``bpftui.core.images`` (see :meth:`image_settings`).
    """

    path: str | None = None
    node_name: str = "localhost"
    node_labels: Mapping[str, str] = field(default_factory=dict)
    state_dir: str = DEFAULT_STATE_DIR
    bpffs_root: str = DEFAULT_BPFFS_ROOT
    xdp_mode: str = "auto"
    xdp_interface_modes: Mapping[str, str] = field(default_factory=dict)
    images: Mapping[str, Any] = field(default_factory=dict)

    def xdp_mode_for(self, interface: str) -> str:
        """The XDP mode to use on ``interface``."""
        return self.xdp_interface_modes.get(interface, self.xdp_mode)

    def image_settings(self) -> Any:
        """The ``[images]`` table as ``bpftui.core.images`` settings.

        Raises:
            InputError: the table has an unknown key or a wrong value.
        """
        from bpftui.core.images.settings import ImageSettings

        return ImageSettings.from_table(self.images, Path(self.state_dir))


def config_path(explicit: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The file to read: ``--config``, else ``$BPFTUI_CONFIG``, else the default."""
    env = os.environ if environ is None else environ
    return explicit or env.get(ENV_VAR) or DEFAULT_PATH


def load_config(
    explicit: str | None = None, *, environ: Mapping[str, str] | None = None
) -> Config:
    """Read and check the configuration.

    Args:
        explicit: the ``--config`` argument, if given.
        environ: the environment to read ``BPFTUI_CONFIG`` from.

    Raises:
        InputError: a named file is missing, or the file is not valid TOML or
            has an unknown key or a value of the wrong type.
        PermissionProblem: the file is writable by every user.
    """
    path = config_path(explicit, environ)
    named = path != DEFAULT_PATH
    raw = _read(path, required=named)
    if raw is None:
        return parse_config({}, path=None)
    return parse_config(raw, path=path)


def parse_config(data: Mapping[str, Any], *, path: str | None) -> Config:
    """Build a :class:`Config` from parsed TOML, checking every key."""
    where = path or "configuration"
    _check_keys(data, where)
    node = data.get("node", {})
    name = (
        _string(node, "name", where, "node")
        or socket.gethostname().lower()
        or "localhost"
    )
    labels = {HOSTNAME_LABEL: name, **_string_table(node, "labels", where, "node")}
    paths = data.get("paths", {})
    xdp = data.get("xdp", {})
    return Config(
        path=path,
        node_name=name,
        node_labels=MappingProxyType(labels),
        state_dir=_path(paths, "state_dir", where, "paths") or DEFAULT_STATE_DIR,
        bpffs_root=_path(paths, "bpffs_root", where, "paths") or DEFAULT_BPFFS_ROOT,
        xdp_mode=_xdp_mode(xdp.get("mode", "auto"), f"{where}: xdp.mode"),
        xdp_interface_modes=MappingProxyType(_interface_modes(xdp, where)),
        images=MappingProxyType(dict(data.get("images", {}))),
    )


# ---------------------------------------------------------------- reading


def _read(path: str, *, required: bool) -> dict[str, Any] | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        if required:
            raise InputError(
                f"config {path}: cannot read: no such file",
                hint=f"check --config or ${ENV_VAR}",
            ) from None
        return None
    except OSError as err:
        raise InputError(f"config {path}: cannot read: {err.strerror}") from None
    with os.fdopen(fd, "rb") as stream:
        _refuse_world_writable(path, os.fstat(stream.fileno()))
        text = stream.read(1 << 20)
    try:
        return tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise InputError(f"config {path}: not UTF-8 text: {err.reason}") from None
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"config {path}: not valid TOML: {err}") from None


def _refuse_world_writable(path: str, info: os.stat_result) -> None:
    reason: str | None = "the file is writable by every user"
    if not info.st_mode & stat.S_IWOTH:
        try:
            reason = untrusted_reason(path)
        except OSError as err:
            raise InputError(f"config {path}: cannot read: {err.strerror}") from None
    if reason is not None:
        raise PermissionProblem(
            f"config {path}: refused: {reason}", hint=fix_hint(path, reason)
        )


# ---------------------------------------------------------------- checking


def _check_keys(data: Mapping[str, Any], where: str) -> None:
    for section, value in data.items():
        if section not in _SECTIONS and section not in _PASSED_THROUGH:
            known = ", ".join(f"[{s}]" for s in (*_SECTIONS, *_PASSED_THROUGH))
            raise InputError(f"{where}: unknown section [{section}]; known: {known}")
        if not isinstance(value, dict):
            raise InputError(f"{where}: [{section}] must be a table")
        if section in _PASSED_THROUGH:
            continue
        unknown = sorted(set(value) - _SECTIONS[section])
        if unknown:
            known = ", ".join(sorted(_SECTIONS[section]))
            raise InputError(
                f"{where}: unknown key {section}.{unknown[0]}; known: {known}"
            )


def _string(table: Mapping[str, Any], key: str, where: str, section: str) -> str:
    value = table.get(key, "")
    if not isinstance(value, str):
        raise InputError(f"{where}: {section}.{key} must be a string")
    return value


def _string_table(
    table: Mapping[str, Any], key: str, where: str, section: str
) -> dict[str, str]:
    value = table.get(key, {})
    if not isinstance(value, dict) or not all(
        isinstance(v, str) for v in value.values()
    ):
        raise InputError(f"{where}: {section}.{key} must be a table of strings")
    return dict(value)


def _path(table: Mapping[str, Any], key: str, where: str, section: str) -> str:
    value = _string(table, key, where, section)
    if value and not os.path.isabs(value):
        raise InputError(
            f"{where}: {section}.{key} must be an absolute path: {value!r}"
        )
    return os.path.normpath(value) if value else ""


def _xdp_mode(value: Any, where: str) -> str:
    if value == "skb":
        return "generic"
    if value not in XDP_MODES:
        choices = ", ".join(XDP_MODES)
        raise InputError(f"{where}: {value!r} is not an XDP mode; use one of {choices}")
    return str(value)


def _interface_modes(xdp: Mapping[str, Any], where: str) -> dict[str, str]:
    table = xdp.get("interfaces", {})
    if not isinstance(table, dict):
        raise InputError(f"{where}: xdp.interfaces must be a table")
    return {
        name: _xdp_mode(mode, f"{where}: xdp.interfaces.{name}")
        for name, mode in table.items()
    }
