"""Running processes from /proc, for a uprobe's ``pid``."""

from __future__ import annotations

import os

from bpftui.core.errors import NotSupported
from bpftui.core.session import ProcessView

PROC = "/proc"


def processes(proc: str = PROC) -> list[ProcessView]:
    """Every process this one can see, by pid. Kernel threads have no cmdline.

    Raises:
        NotSupported: ``/proc`` is not mounted.
    """
    try:
        pids = sorted(int(entry) for entry in os.listdir(proc) if entry.isdigit())
    except OSError as exc:
        raise NotSupported(
            "process list", needs=f"procfs mounted at {proc}", detail=exc.strerror
        ) from None
    found = (_process(proc, pid) for pid in pids)
    return [view for view in found if view is not None]


def _process(proc: str, pid: int) -> ProcessView | None:
    try:
        with open(f"{proc}/{pid}/comm", "rb") as file:
            comm = file.read().decode(errors="replace").rstrip("\n")
        with open(f"{proc}/{pid}/cmdline", "rb") as file:
            raw = file.read()
    except OSError:
        return None  # exited between the listing and the read
    cmdline = raw.rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")
    return ProcessView(pid, comm, cmdline)
