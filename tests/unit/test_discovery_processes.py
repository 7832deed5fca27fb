"""Processes from a /proc look-alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from bpftui.core.discovery.processes import processes
from bpftui.core.errors import NotSupported
from bpftui.core.session import ProcessView


def _proc(root: Path, pid: int, comm: str, cmdline: bytes) -> None:
    (root / str(pid)).mkdir()
    (root / str(pid) / "comm").write_text(comm + "\n")
    (root / str(pid) / "cmdline").write_bytes(cmdline)


def test_processes_by_pid_with_their_command_lines(tmp_path: Path) -> None:
    _proc(tmp_path, 42, "nginx", b"nginx\0-g\0daemon off;\0")
    _proc(tmp_path, 7, "kthreadd", b"")
    (tmp_path / "self").mkdir()
    (tmp_path / "99").mkdir()  # exited before its files were read
    assert processes(str(tmp_path)) == [
        ProcessView(7, "kthreadd", ""),
        ProcessView(42, "nginx", "nginx -g daemon off;"),
    ]


def test_this_process_is_listed() -> None:
    import os

    mine = [p for p in processes() if p.pid == os.getpid()]
    assert len(mine) == 1
    assert "python" in mine[0].cmdline or "pytest" in mine[0].cmdline


def test_no_procfs(tmp_path: Path) -> None:
    with pytest.raises(NotSupported, match="process list"):
        processes(str(tmp_path / "absent"))
