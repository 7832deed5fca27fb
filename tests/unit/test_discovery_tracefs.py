"""Tracepoints from a tracefs look-alike: listing, fields, and what is missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bpftui.core.discovery import tracefs
from bpftui.core.discovery.tracefs import parse_format, tracepoint_fields, tracepoints
from bpftui.core.errors import InputError, NotSupported, PermissionProblem
from bpftui.core.session import TracepointField, TracepointView

FORMAT = """name: sys_enter_openat
ID: 782
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;
\tfield:char comm[16];\toffset:32;\tsize:16;\tsigned:0;
\tfield:__data_loc char[] name;\toffset:48;\tsize:4;\tsigned:0;
\tfield:u8 grid[2][3];\toffset:52;\tsize:6;\tsigned:0;

print fmt: "filename: 0x%08lx", ((unsigned long)(REC->filename))
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A mounted-looking tracefs with two categories."""
    for category, name in [("syscalls", "sys_enter_openat"), ("sched", "sched_switch")]:
        event = tmp_path / "events" / category / name
        event.mkdir(parents=True)
        (event / "format").write_text(FORMAT)
    (tmp_path / "events" / "enable").write_text("0\n")  # files sit beside the dirs
    (tmp_path / "available_events").write_text(
        "syscalls:sys_enter_openat\nsched:sched_switch\n"
    )
    return tmp_path


def test_format_fields_with_their_types(root: Path) -> None:
    assert parse_format(FORMAT) == [
        TracepointField("common_type", "unsigned short", 0, 2, False),
        TracepointField("common_pid", "int", 4, 4, True),
        TracepointField("filename", "const char *", 24, 8, False),
        TracepointField("comm", "char[16]", 32, 16, False),
        TracepointField("name", "__data_loc char[]", 48, 4, False),
        TracepointField("grid", "u8[2][3]", 52, 6, False),
    ]


def test_tracepoints_from_available_events(root: Path) -> None:
    assert tracepoints(str(root)) == [
        TracepointView("sched", "sched_switch"),
        TracepointView("syscalls", "sys_enter_openat"),
    ]


def test_event_directories_when_available_events_is_unreadable(root: Path) -> None:
    (root / "available_events").unlink()
    (root / "available_events").mkdir()  # reading a directory fails
    assert [t.full_name for t in tracepoints(str(root))] == [
        "sched/sched_switch",
        "syscalls/sys_enter_openat",
    ]


def test_fields_of_one_tracepoint(root: Path) -> None:
    fields = tracepoint_fields("sched", "sched_switch", str(root))
    assert [f.name for f in fields][:2] == ["common_type", "common_pid"]


def test_unknown_tracepoint_is_an_input_error(root: Path) -> None:
    with pytest.raises(InputError, match="tracepoint 'sched/nope': not found"):
        tracepoint_fields("sched", "nope", str(root))


@pytest.mark.parametrize(
    ("category", "name"), [("..", "x"), ("sched", "../../etc"), ("", "x")]
)
def test_names_cannot_leave_the_events_directory(
    root: Path, category: str, name: str
) -> None:
    with pytest.raises(InputError, match="not a tracepoint name"):
        tracepoint_fields(category, name, str(root))


def test_unmounted_tracefs_needs_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(PermissionProblem, match="tracefs: not mounted") as caught:
        tracepoints(str(tmp_path))
    assert "mount -t tracefs" in str(caught.value)


def test_failed_mount_names_tracefs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(tracefs, "_mount", _refuse)
    with pytest.raises(NotSupported, match="tracefs is not supported") as caught:
        tracepoints(str(tmp_path))
    assert "CONFIG_TRACING" in str(caught.value)


def _refuse(root: str) -> None:
    raise NotSupported(
        "tracefs", needs=tracefs._NEEDS, detail="mount: permission denied"
    )
