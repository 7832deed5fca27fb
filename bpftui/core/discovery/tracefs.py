"""Tracepoints from tracefs, mounted on first use when it is not."""

from __future__ import annotations

import logging
import os
import re
import subprocess

from bpftui.core.errors import InputError, NotSupported, PermissionProblem
from bpftui.core.session import TracepointField, TracepointView

log = logging.getLogger(__name__)

TRACEFS = "/sys/kernel/tracing"
_NEEDS = "tracefs (CONFIG_TRACING) mounted at /sys/kernel/tracing"
_MOUNT_TIMEOUT_S = 10

# "field:const char * filename;" -> type "const char *", name "filename";
# "field:char comm[16];" -> type "char[16]", name "comm".
_FIELD_DECL = re.compile(
    r"^(?P<type>.*?)(?P<name>[A-Za-z_]\w*)\s*(?P<dims>(\[[^]]*\])*)$"
)
_FIELD_ATTR = re.compile(r"(\w+):([^;]*);")


def tracefs_root(root: str = TRACEFS) -> str:
    """Return the tracefs directory, mounting tracefs there if needed.

    Raises:
        PermissionProblem: tracefs is not mounted and this process is not root.
        NotSupported: the kernel has no tracefs, or mounting it failed.
    """
    if _is_mounted(root):
        return root
    if os.geteuid() != 0:
        raise PermissionProblem(
            f"tracefs: not mounted at {root}, and mounting it needs root",
            hint=f"run as root, or mount it: mount -t tracefs tracefs {root}",
        )
    _mount(root)
    return root


def _is_mounted(root: str) -> bool:
    return os.path.isdir(os.path.join(root, "events"))


def _mount(root: str) -> None:
    log.info("mounting tracefs at %s", root)
    try:
        done = subprocess.run(
            ["mount", "-t", "tracefs", "tracefs", root],
            capture_output=True,
            text=True,
            timeout=_MOUNT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NotSupported("tracefs", needs=_NEEDS, detail=f"mount: {exc}") from None
    if done.returncode != 0 or not _is_mounted(root):
        detail = done.stderr.strip().splitlines()[0] if done.stderr.strip() else ""
        raise NotSupported("tracefs", needs=_NEEDS, detail=detail or "mount failed")


def tracepoints(root: str = TRACEFS) -> list[TracepointView]:
    """Every tracepoint the kernel offers, sorted by category and name.

    ``available_events`` is the kernel's own list; the ``events/`` directory
    is the fallback when that file cannot be read.

    Raises:
        PermissionProblem, NotSupported: tracefs is missing (see
            :func:`tracefs_root`) or neither source can be read.
    """
    base = tracefs_root(root)
    try:
        with open(os.path.join(base, "available_events")) as file:
            lines = file.read().splitlines()
    except OSError as exc:
        log.warning("tracefs: available_events unreadable (%s); listing events/", exc)
        return _from_event_dirs(base)
    found = {_split_event(line) for line in lines if ":" in line}
    return [TracepointView(cat, name) for cat, name in sorted(found)]


def _split_event(line: str) -> tuple[str, str]:
    category, _, name = line.strip().partition(":")
    return category, name


def _from_event_dirs(base: str) -> list[TracepointView]:
    events = os.path.join(base, "events")
    try:
        categories = sorted(
            (e for e in os.scandir(events) if e.is_dir()), key=lambda e: e.name
        )
    except OSError as exc:
        raise NotSupported(
            "tracepoint list", needs=_NEEDS, detail=f"{events}: {exc.strerror}"
        ) from None
    found = []
    for category in categories:
        for entry in sorted(os.scandir(category.path), key=lambda e: e.name):
            if entry.is_dir():
                found.append(TracepointView(category.name, entry.name))
    return found


def tracepoint_fields(
    category: str, name: str, root: str = TRACEFS
) -> list[TracepointField]:
    """The fields of one tracepoint's record, from its ``format`` file.

    Raises:
        InputError: no such tracepoint, or its format cannot be read.
        PermissionProblem, NotSupported: tracefs is missing.
    """
    if not _plain_name(category) or not _plain_name(name):
        raise InputError(
            f"tracepoint '{category}/{name}': not a tracepoint name",
            hint="names look like 'syscalls/sys_enter_openat'",
        )
    path = os.path.join(tracefs_root(root), "events", category, name, "format")
    try:
        with open(path) as file:
            text = file.read()
    except FileNotFoundError:
        raise InputError(
            f"tracepoint '{category}/{name}': not found",
            hint="list them with 'bpftui list tracepoints'",
        ) from None
    except OSError as exc:
        raise InputError(
            f"tracepoint '{category}/{name}': reading {path} failed: {exc.strerror}"
        ) from None
    return parse_format(text)


def _plain_name(part: str) -> bool:
    return bool(part) and "/" not in part and part not in (".", "..")


def parse_format(text: str) -> list[TracepointField]:
    """Parse the ``field:`` lines of a tracefs ``format`` file."""
    fields = []
    for line in text.splitlines():
        attrs = dict(_FIELD_ATTR.findall(line.strip()))
        if "field" not in attrs:
            continue
        decl = _FIELD_DECL.match(attrs["field"].strip())
        if decl is None:
            continue
        fields.append(
            TracepointField(
                name=decl["name"],
                type=decl["type"].strip() + decl["dims"],
                offset=_int(attrs.get("offset")),
                size=_int(attrs.get("size")),
                signed=attrs.get("signed", "0").strip() == "1",
            )
        )
    return fields


def _int(text: str | None) -> int:
    try:
        return int(text or "0")
    except ValueError:
        return 0
