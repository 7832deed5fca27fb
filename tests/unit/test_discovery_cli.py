"""``bpftui list interfaces|tracepoints|functions|symbols|processes`` output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from bpftui.cli import discover, main
from bpftui.core.discovery.functions import KernelFunctions
from bpftui.core.errors import InputError
from bpftui.core.session import (
    ChainView,
    InterfaceView,
    ProcessView,
    SlotView,
    SymbolView,
    TracepointField,
    TracepointView,
)


class FakeDiscovery:
    notes = ("program names: no backend",)

    def interfaces(self) -> list[InterfaceView]:
        xdp = ChainView(
            "xdp", "native", 40, slots=(SlotView(0, 41, "filter", 10, ("pass",)),)
        )
        tc = ChainView("tc-ingress", "cls_bpf", slots=(SlotView(0, 70, "", 1, ()),))
        return [
            InterfaceView("lo", 1, "loopback", "unknown", 65536, "00:00:00:00:00:00"),
            InterfaceView(
                "eth0",
                2,
                "device",
                "up",
                1500,
                "52:54:00:00:00:01",
                ("10.0.0.2/24",),
                primary=True,
                chains=(xdp, tc),
            ),
        ]

    def tracepoints(self) -> list[TracepointView]:
        return [
            TracepointView("sched", "sched_switch"),
            TracepointView("syscalls", "sys_enter_openat"),
        ]

    def tracepoint_fields(self, category: str, name: str) -> list[TracepointField]:
        if (category, name) != ("sched", "sched_switch"):
            raise InputError(f"tracepoint '{category}/{name}': not found")
        return [TracepointField("prev_pid", "pid_t", 24, 4, True)]

    def functions(self) -> KernelFunctions:
        names = ["do_unlinkat", "tcp_v4_connect"]
        protos: list[str | None] = [
            "int do_unlinkat(int dfd, struct filename *name)",
            "int tcp_v4_connect(void)",
        ]
        return KernelFunctions(names, [("vmlinux", 2)], protos, kprobe=lambda n: None)

    def symbols(self, target: str) -> list[SymbolView]:
        return [
            SymbolView("malloc", 0x98930, 791, "/lib/libc.so.6"),
            SymbolView("free", 0x99000, 10, "/lib/libc.so.6"),
        ]

    def processes(self) -> list[ProcessView]:
        return [
            ProcessView(1, "init", "/sbin/init"),
            ProcessView(42, "nginx", "nginx -g daemon off;"),
        ]


@pytest.fixture(autouse=True)
def fake(monkeypatch: pytest.MonkeyPatch) -> None:
    @contextmanager
    def opened(args: Any, *, with_kernel: bool = False) -> Iterator[FakeDiscovery]:
        yield FakeDiscovery()

    monkeypatch.setattr(discover, "_discovery", opened)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["list", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_interfaces_table_shows_attachments_and_notes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "interfaces")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "NAME",
        "INDEX",
        "KIND",
        "STATE",
        "MTU",
        "MAC",
        "ADDRESSES",
        "PRIMARY",
        "ATTACHED",
    ]
    assert "xdp(native):dispatcher#40[filter#41] tc-ingress(cls_bpf):?#70" in lines[2]
    assert " * " in lines[2]
    assert "note: program names: no backend" in err


def test_interfaces_json_and_filter(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "interfaces", "--filter", "ETH", "-o", "json")
    data = json.loads(out)
    assert [i["name"] for i in data] == ["eth0"]
    assert data[0]["chains"][0]["slots"][0]["proceedon"] == ["pass"]


def test_tracepoints_and_their_fields(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "tracepoints", "--filter", "sched")
    assert out.splitlines() == ["TRACEPOINT", "sched/sched_switch"]
    _, out, _ = run(capsys, "tracepoints", "sched/sched_switch", "-o", "json")
    assert json.loads(out) == [
        {"name": "prev_pid", "type": "pid_t", "offset": 24, "size": 4, "signed": True}
    ]


def test_tracepoint_target_must_be_category_and_name(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(capsys, "tracepoints", "sched_switch")
    assert code == 2
    assert "is not category/name" in err


def test_unknown_tracepoint_is_one_clean_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "tracepoints", "sched/nope")
    assert (code, out) == (1, "")
    assert err.strip() == "bpftui: tracepoint 'sched/nope': not found"


def test_functions_table_says_unknown_for_kprobe(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, out, _ = run(capsys, "functions", "--filter", "unlink")
    assert out.splitlines()[1].split()[:4] == [
        "do_unlinkat",
        "vmlinux",
        "true",
        "unknown",
    ]
    assert out.rstrip().endswith("int do_unlinkat(int dfd, struct filename *name)")


def test_one_function_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "functions", "do_unlinkat", "-o", "json")
    assert json.loads(out) == [
        {
            "name": "do_unlinkat",
            "module": "vmlinux",
            "prototype": "int do_unlinkat(int dfd, struct filename *name)",
            "fentry": True,
            "kprobe": None,
        }
    ]


def test_unknown_function(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "functions", "nope")
    assert code == 2
    assert "no kernel function 'nope'" in err


def test_symbols_need_a_target(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "symbols")
    assert code == 2
    assert "which binary or library" in err


def test_symbols_show_hex_offsets(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "symbols", "libc", "--filter", "malloc")
    assert out.splitlines() == ["NAME     OFFSET    SIZE", "malloc   0x98930   791"]


def test_processes_filter_on_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "processes", "--filter", "daemon", "-o", "json")
    assert [p["pid"] for p in json.loads(out)] == [42]
