"""Network namespaces of the calling thread: ``setns(2)`` and ``unshare(2)``.

A network namespace belongs to a thread, not to the process, so a thread can
step into one, create sockets or attach programs there, and step back while
the rest of the process stays where it was. Sockets and netlink handles keep
the namespace they were created in. Python 3.11 has neither ``os.setns`` nor
``os.unshare``, hence libc through ctypes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from bpftui.native.failure import check

CLONE_NEWNET = 0x40000000
NETNS_RUN_DIR = "/run/netns"

_T = TypeVar("_T")


@functools.cache
def _lib() -> ctypes.CDLL:
    """libc, opened once, with errno kept for :func:`ctypes.get_errno`."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.setns.argtypes = (ctypes.c_int, ctypes.c_int)
    libc.unshare.argtypes = (ctypes.c_int,)
    return libc


def setns(fd: int, nstype: int) -> None:
    """Move the calling thread into the namespace ``fd`` refers to."""
    result = _lib().setns(fd, nstype)
    if result < 0:
        check(-ctypes.get_errno(), "network namespace", "enter")


def unshare(flags: int) -> None:
    """Give the calling thread new namespaces of the kinds in ``flags``."""
    result = _lib().unshare(flags)
    if result < 0:
        check(-ctypes.get_errno(), "network namespace", "create")


def path_of(name: str) -> str:
    """Return the bind-mount path ``ip netns add NAME`` creates."""
    return os.path.join(NETNS_RUN_DIR, name)


@contextmanager
def entered(path: str) -> Iterator[None]:
    """Run the block with the calling thread in the network namespace at ``path``.

    Args:
        path: ``/run/netns/NAME`` or ``/proc/PID/ns/net``.
    """
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            setns(target, CLONE_NEWNET)
        finally:
            os.close(target)
        try:
            yield
        finally:
            setns(own, CLONE_NEWNET)
    finally:
        os.close(own)


def run_in_new_netns(func: Callable[[], _T]) -> _T:
    """Run ``func`` on a new thread in a new, empty network namespace.

    The namespace disappears with the thread, taking along every interface,
    qdisc and attachment made in it, so probes leave nothing behind.
    """
    outcome: list[_T] = []
    failure: list[BaseException] = []

    def body() -> None:
        try:
            unshare(CLONE_NEWNET)
            outcome.append(func())
        except BaseException as exc:  # handed to the caller's thread below
            failure.append(exc)

    thread = threading.Thread(target=body, name="bpftui-netns-probe", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]
