"""The pseudo file systems BPF work needs: bpffs and tracefs, mounted on demand.

Both may be missing on a fresh machine or in a container; whoever needs one
calls :func:`ensure_bpffs` or :func:`tracefs_root`, which mount it where the
kernel's tools expect it when nothing is mounted yet.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os

from bpftui.core.errors import NotSupported
from bpftui.native.failure import error_for

log = logging.getLogger(__name__)

BPFFS_ROOT = "/sys/fs/bpf"
TRACEFS_PATHS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
TRACEFS_MOUNT = "/sys/kernel/tracing"


@functools.cache
def _lib() -> ctypes.CDLL:
    """libc, opened once, with errno kept for :func:`ctypes.get_errno`."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.mount.argtypes = (
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_ulong,
        ctypes.c_void_p,
    )
    libc.umount.argtypes = (ctypes.c_char_p,)
    return libc


def mount(source: str, target: str, fstype: str) -> None:
    """``mount(2)`` without options.

    Raises:
        KernelError: the mount failed.
        PermissionProblem: not root.
    """
    log.info("mounting %s at %s", fstype, target)
    result = _lib().mount(source.encode(), target.encode(), fstype.encode(), 0, None)
    if result < 0:
        err = ctypes.get_errno()
        raise error_for(err, f"{fstype} at {target}", "mount")


def umount(target: str) -> None:
    """``umount(2)`` of ``target``."""
    if _lib().umount(target.encode()) < 0:
        raise error_for(ctypes.get_errno(), target, "unmount")


def _unescape(path: str) -> str:
    # /proc/self/mounts writes space, tab, newline and backslash as octal.
    for code in ("\\040", "\\011", "\\012", "\\134"):
        path = path.replace(code, chr(int(code[1:], 8)))
    return path


def is_bpffs(path: str) -> bool:
    """Whether ``path`` (or, if it does not exist yet, its parent) is on bpffs."""
    while path and not os.path.exists(path):
        path = os.path.dirname(path)
    return fstype_of(path or "/") == "bpf"


def fstype_of(path: str) -> str:
    """Return the type of the file system ``path`` lies on (``""`` if unknown)."""
    # os.statvfs has no f_type; the longest mount point containing the path
    # in /proc/self/mounts answers the same question.
    real = os.path.realpath(path)
    best = ("", "")
    try:
        with open("/proc/self/mounts", encoding="utf-8") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) < 3:
                    continue
                point = _unescape(fields[1])
                inside = real == point or real.startswith(point.rstrip("/") + "/")
                if inside and len(point) >= len(best[0]):
                    best = (point, fields[2])
    except OSError:
        return ""
    return best[1]


def ensure_bpffs(root: str = BPFFS_ROOT) -> None:
    """Mount bpffs at ``/sys/fs/bpf`` unless ``root`` already lies on one."""
    if is_bpffs(root):
        return
    if not root.startswith(BPFFS_ROOT):
        raise NotSupported(
            f"pinning under {root}",
            needs=f"a bpf file system mounted there (mount -t bpf bpf {root})",
        )
    mount("bpf", BPFFS_ROOT, "bpf")


def tracefs_root() -> str:
    """Return where tracefs is mounted, mounting it if nowhere yet.

    Raises:
        NotSupported: tracefs cannot be mounted (no CONFIG_TRACING).
    """
    for path in TRACEFS_PATHS:
        if os.path.isdir(os.path.join(path, "events")):
            return path
    try:
        mount("tracefs", TRACEFS_MOUNT, "tracefs")
    except Exception as err:
        raise NotSupported(
            "tracefs",
            needs="a kernel with CONFIG_TRACING and tracefs mountable at "
            f"{TRACEFS_MOUNT}",
            detail=str(err),
        ) from None
    return TRACEFS_MOUNT
