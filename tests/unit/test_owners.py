"""Who runs a program bpftui did not make: holders and libxdp's pins."""

from __future__ import annotations

import os
import time
from pathlib import Path

from bpftui.core.backend import KernelProgram
from bpftui.core.node_session import demo_session, foreign_owners
from bpftui.native import info
from bpftui.native.backend import NativeBackend
from bpftui.native.info import program_holders


def _program(prog_id: int, *, pinned=(), holders=()) -> KernelProgram:
    return KernelProgram(
        prog_id, f"p{prog_id}", "xdp", "00", pinned=pinned, holders=holders
    )


def test_a_program_in_a_libxdp_directory_and_its_dispatcher_are_libxdps():
    member = _program(7, pinned=("/sys/fs/bpf/xdp/dispatch-3-41/prog0-prog",))
    owners = foreign_owners([_program(41), member], "/sys/fs/bpf")
    assert owners == {7: "libxdp", 41: "libxdp"}


def test_a_dispatcher_running_a_program_of_bpftuis_is_not_libxdps():
    pins = "/sys/fs/bpf/xdp/dispatch-2-50/prog{}-prog"
    ours = _program(8, pinned=(pins.format(0),))
    theirs = _program(9, pinned=(pins.format(1),))
    owners = foreign_owners([_program(50), ours, theirs], "/sys/fs/bpf", {8})
    assert owners == {9: "libxdp"}


def test_the_holding_processes_speak_louder_than_pins():
    held = _program(
        7,
        pinned=("/sys/fs/bpf/xdp/dispatch-3-41/prog0-prog",),
        holders=("xdp-loader(12)", "sshd(40)"),
    )
    assert foreign_owners([held], "/sys/fs/bpf")[7] == "xdp-loader(12), sshd(40)"


def test_nothing_is_guessed_from_names_or_other_pins():
    programs = [
        _program(1, pinned=("/sys/fs/bpf/mine/prog",)),
        KernelProgram(2, "sd_devices", "cgroup_device", "00"),
        _program(3, pinned=("/sys/fs/bpf/xdp/notes",)),
        _program(4, pinned=("/elsewhere/xdp/dispatch-3-9/prog0-prog",)),
    ]
    assert foreign_owners(programs, "/sys/fs/bpf") == {}


def _task(proc: Path, pid: int, comm: str, fds: dict[int, tuple[str, str]]) -> None:
    """A fake /proc/<pid>: comm, fd symlinks and their fdinfo."""
    (proc / str(pid) / "fd").mkdir(parents=True)
    (proc / str(pid) / "fdinfo").mkdir()
    (proc / str(pid) / "comm").write_text(f"{comm}\n")
    for fd, (target, fdinfo) in fds.items():
        os.symlink(target, proc / str(pid) / "fd" / str(fd))
        (proc / str(pid) / "fdinfo" / str(fd)).write_text(fdinfo)


def test_holders_are_read_from_every_process_fd_table(tmp_path):
    prog = "anon_inode:bpf-prog"
    _task(tmp_path, 1, "systemd", {5: (prog, "pos:\t0\nprog_id:\t17\n")})
    _task(
        tmp_path,
        40,
        "agent",
        {
            3: (prog, "prog_id:\t17\n"),
            4: (prog, "prog_id:\t17\n"),  # twice open: named once
            5: (prog, "prog_id:\t18\n"),
            6: ("anon_inode:bpf-map", "map_id:\t17\n"),
            7: ("/dev/null", ""),
            8: (prog, "garbage"),
        },
    )
    _task(tmp_path, os.getpid(), "self", {3: (prog, "prog_id:\t17\n")})
    (tmp_path / "99").mkdir()  # a process gone, or unreadable
    (tmp_path / "self").mkdir()
    assert program_holders(str(tmp_path)) == {  # in the order of their pids
        17: ("systemd(1)", "agent(40)"),
        18: ("agent(40)",),
    }


def test_the_demo_node_names_systemd_and_libxdp():
    session = demo_session()
    try:
        owners = {p.name: session.owner_of(p.id) for p in session.kernel_programs()}
    finally:
        session.close()
    assert owners["sd_devices"] == "systemd(1)"
    assert owners["xdp_filter"] == "libxdp"


def _counted(monkeypatch, delay: float) -> list[float]:
    calls: list[float] = []

    def scan() -> dict[int, tuple[str, ...]]:
        calls.append(time.monotonic())
        time.sleep(delay)
        return {7: (f"agent({len(calls)})",)}

    monkeypatch.setattr(info, "program_holders", scan)
    return calls


def test_a_quick_holders_scan_is_made_afresh_every_time(monkeypatch):
    calls = _counted(monkeypatch, 0.0)
    backend = NativeBackend()
    assert backend._program_holders() == {7: ("agent(1)",)}
    assert backend._program_holders() == {7: ("agent(2)",)}
    assert len(calls) == 2


def test_a_slow_holders_scan_is_reused_for_nine_times_as_long(monkeypatch):
    calls = _counted(monkeypatch, 0.05)
    backend = NativeBackend()
    first = backend._program_holders()
    assert backend._program_holders() is first  # within 10 x 50 ms of the scan
    time.sleep(0.6)
    assert backend._program_holders() == {7: ("agent(2)",)}
    assert len(calls) == 2
