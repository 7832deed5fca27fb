"""Fault injection for the crash tests: die right after a named step.

Every step that changes the kernel or the state store calls
:func:`checkpoint` with its name once the change has landed. Two
environment variables, read once per process, turn the calls into something:

``BPFTUI_FAULT=<step>[:<n>]``
    the process sends itself SIGKILL right after the ``n``-th time (default
    the first) it passes ``<step>``: no ``finally`` block, no rollback, no
    flush, exactly what a crash, an OOM kill or a power cut leaves.
``BPFTUI_FAULT_TRACE=<file>``
    one line per step passed is appended to the file:
    ``<pid> <step> <n> <seconds since the epoch>``. The crash tests run an
    operation once with it to learn every kill point, then once per point.

Without them a checkpoint costs one dictionary lookup. The steps:

==================  ===================================================
``load``            the kernel accepted a program (not pinned yet)
``pin``             a program is pinned
``attach``          a link, netlink XDP program or TC filter is made
``link-pin``        a link is pinned
``detach``          an attachment is removed
``unpin``           a pin is removed
``unload``          a program's pins are removed
``dispatcher-slot`` a slot of a new dispatcher revision is filled
``dispatcher-swap`` a hook runs a new dispatcher revision
``dispatcher-retire`` the old revision's pins are removed
``state-write``     a state store transaction is committed
``lock``            the node-wide state lock is taken
``unlock``          the node-wide state lock is released
==================  ===================================================
"""

from __future__ import annotations

import functools
import os
import signal
import time
from collections import Counter
from collections.abc import Callable

FAULT_ENV = "BPFTUI_FAULT"
TRACE_ENV = "BPFTUI_FAULT_TRACE"

STEPS = frozenset(
    {
        "load",
        "pin",
        "attach",
        "link-pin",
        "detach",
        "unpin",
        "unload",
        "dispatcher-slot",
        "dispatcher-swap",
        "dispatcher-retire",
        "state-write",
        "lock",
        "unlock",
    }
)


class _Plan:
    """What the environment asked for, read on the first checkpoint."""

    def __init__(self, fault: str, trace: str) -> None:
        step, _, count = fault.partition(":")
        self.step = step or None
        self.count = int(count) if count.isdigit() and int(count) > 0 else 1
        self.trace = trace or None
        self.seen: Counter[str] = Counter()

    @property
    def idle(self) -> bool:
        return self.step is None and self.trace is None


def checkpoint(step: str) -> None:
    """Note that ``step`` has just happened; die here if asked to."""
    plan = _current()
    if plan.idle:
        return
    plan.seen[step] += 1
    if plan.trace is not None:
        _write_trace(plan.trace, step, plan.seen[step])
    if step == plan.step and plan.seen[step] == plan.count:
        on_fault()


def sigkill() -> None:
    """Die at once: SIGKILL cannot be caught, so no ``finally`` block, no
    rollback and no flush runs, which is the point."""
    os.kill(os.getpid(), signal.SIGKILL)


on_fault: Callable[[], None] = sigkill
"""What a checkpoint does when the fault fires. Tests that simulate a
crash inside one process replace it (for example, freezing the thread)."""


def reset() -> None:
    """Read the environment again on the next checkpoint (for tests)."""
    _current.cache_clear()


@functools.cache
def _current() -> _Plan:
    return _Plan(os.environ.get(FAULT_ENV, ""), os.environ.get(TRACE_ENV, ""))


def _write_trace(path: str, step: str, count: int) -> None:
    line = f"{os.getpid()} {step} {count} {time.time():.6f}\n"
    # O_APPEND writes of one short line land whole even with many writers.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
