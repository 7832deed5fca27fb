"""perf events for tracepoints, kprobes and uprobes: ``perf_event_open(2)``.

A BPF program of type tracepoint or kprobe (which also serves uprobes) runs
when a perf event fires; ``bpf_link_create(prog_fd, perf_fd, BPF_PERF_EVENT)``
ties them with a link that can be pinned (kernel 5.15 and later). The perf
event names its source: a tracepoint id read from tracefs, or the kprobe and
uprobe PMUs of ``/sys/bus/event_source/devices`` with the function, file and
offset in ``config1``/``config2``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os
import platform
import re

from bpftui.core.errors import InputError, NotSupported
from bpftui.native.failure import check
from bpftui.native.fs import tracefs_root
from bpftui.native.structs import perf_event_attr
from bpftui.native.uapi import PERF_FLAG_FD_CLOEXEC, PERF_TYPE_TRACEPOINT

log = logging.getLogger(__name__)

PMU_DIR = "/sys/bus/event_source/devices"
_SYS_PERF_EVENT_OPEN = {"x86_64": 298, "aarch64": 241, "ppc64le": 319, "s390x": 331}
_TRACEPOINT_PART = re.compile(r"^[A-Za-z0-9_.-]+$")


@functools.cache
def _lib() -> ctypes.CDLL:
    """libc, opened once, with errno kept for :func:`ctypes.get_errno`."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def perf_event_open(
    attr: perf_event_attr, pid: int, cpu: int, group_fd: int, flags: int, *, entity: str
) -> int:
    """The ``perf_event_open`` system call; return the event's fd."""
    number = _SYS_PERF_EVENT_OPEN.get(platform.machine())
    if number is None:
        raise NotSupported(
            f"perf events on {platform.machine()}",
            needs="x86_64, aarch64, ppc64le or s390x",
        )
    attr.size = ctypes.sizeof(perf_event_attr)
    # SAFETY: attr is a local of the caller and outlives the syscall; the
    # kernel copies it before returning.
    result = _lib().syscall(
        ctypes.c_long(number),
        ctypes.byref(attr),
        ctypes.c_int(pid),
        ctypes.c_int(cpu),
        ctypes.c_int(group_fd),
        ctypes.c_ulong(flags),
    )
    if result < 0:
        result = -ctypes.get_errno()
    return check(int(result), entity, "open perf event")


def tracepoint_id(category: str, name: str) -> int:
    """Return the id tracefs gives tracepoint ``category/name``.

    Raises:
        InputError: no such tracepoint.
        NotSupported: no tracefs.
    """
    for part in (category, name):
        if not _TRACEPOINT_PART.match(part):
            raise InputError(f"tracepoint {category}/{name}: not a valid name")
    path = os.path.join(tracefs_root(), "events", category, name, "id")
    try:
        with open(path, encoding="ascii") as stream:
            return int(stream.read().strip())
    except FileNotFoundError:
        raise InputError(
            f"tracepoint {category}/{name}: not found in tracefs",
            hint="`bpftui list tracepoints` shows the tracepoints",
        ) from None


def open_tracepoint(category: str, name: str) -> int:
    """Open the perf event of tracepoint ``category/name``; return its fd."""
    attr = perf_event_attr()
    attr.type = PERF_TYPE_TRACEPOINT
    attr.config = tracepoint_id(category, name)
    attr.sample_period = 1
    attr.wakeup_events = 1
    # Like libbpf: pid -1 (every process) needs a cpu; the BPF program runs
    # on every cpu anyway, because it hangs off the tracepoint, not the event.
    entity = f"tracepoint {category}/{name}"
    return perf_event_open(attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC, entity=entity)


def pmu_type(pmu: str) -> int:
    """Return the perf type number of dynamic PMU ``pmu`` (kprobe, uprobe).

    Raises:
        NotSupported: the kernel has no such PMU.
    """
    try:
        with open(os.path.join(PMU_DIR, pmu, "type"), encoding="ascii") as stream:
            return int(stream.read().strip())
    except FileNotFoundError:
        needs = "CONFIG_KPROBES" if pmu == "kprobe" else "CONFIG_UPROBE_EVENTS"
        raise NotSupported(
            f"{pmu}s",
            needs=f"a kernel with {needs}",
            detail=f"the kernel has no {pmu} PMU in {PMU_DIR}",
        ) from None


def retprobe_bit(pmu: str) -> int:
    """Return the ``config`` bit that makes a probe a return probe."""
    path = os.path.join(PMU_DIR, pmu, "format", "retprobe")
    try:
        with open(path, encoding="ascii") as stream:
            text = stream.read().strip()  # "config:0"
        return 1 << int(text.split(":", 1)[1])
    except (OSError, ValueError, IndexError):
        return 1  # bit 0 on every kernel so far


def open_kprobe(func_name: str, offset: int, retprobe: bool) -> int:
    """Open a kprobe (or kretprobe) perf event on kernel function ``func_name``."""
    kind = "kretprobe" if retprobe else "kprobe"
    attr = perf_event_attr()
    attr.type = pmu_type("kprobe")
    attr.config = retprobe_bit("kprobe") if retprobe else 0
    name = ctypes.create_string_buffer(func_name.encode())
    # SAFETY: the kernel reads the name during the syscall; ``name`` lives
    # until this function returns.
    attr.kprobe_func = ctypes.addressof(name)
    attr.probe_offset = offset
    entity = f"{kind} {func_name}+{offset:#x}"
    return perf_event_open(attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC, entity=entity)


def open_uprobe(path: str, offset: int, retprobe: bool, pid: int | None) -> int:
    """Open a uprobe (or uretprobe) perf event at ``offset`` of file ``path``.

    Args:
        path: the executable or library.
        offset: the file offset of the probed instruction.
        retprobe: probe the return instead of the entry.
        pid: only this process; None for every process.
    """
    kind = "uretprobe" if retprobe else "uprobe"
    attr = perf_event_attr()
    attr.type = pmu_type("uprobe")
    attr.config = retprobe_bit("uprobe") if retprobe else 0
    name = ctypes.create_string_buffer(os.fsencode(path))
    # SAFETY: as in open_kprobe, ``name`` outlives the syscall.
    attr.uprobe_path = ctypes.addressof(name)
    attr.probe_offset = offset
    entity = f"{kind} {path}+{offset:#x}"
    if pid is None:
        return perf_event_open(attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC, entity=entity)
    return perf_event_open(attr, pid, -1, -1, PERF_FLAG_FD_CLOEXEC, entity=entity)
