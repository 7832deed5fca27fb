"""The simulated node behind ``--demo``: discovery, scenario, Programs rows."""

from __future__ import annotations

import pytest
from _screens_support import Clock, demo_session

from bpftui.core.backend import KernelProgram
from bpftui.core.demo_discovery import DemoDiscovery
from bpftui.core.demo_scenario import scenario_objects
from bpftui.core.errors import InputError
from bpftui.core.session import (
    ChainView,
    ConditionView,
    Discovery,
    InterfaceView,
    ObjectStatusView,
    SlotView,
)
from bpftui.screens.rows import Snapshot, build_rows, hooks_of, samples


def test_demo_discovery_is_a_discovery_and_deterministic() -> None:
    one, two = DemoDiscovery(), DemoDiscovery()
    assert isinstance(one, Discovery)
    assert one.interfaces() == two.interfaces()
    assert list(one.functions().filter("")[0]) == list(two.functions().filter("")[0])
    assert one.tracepoints() == two.tracepoints()


def test_demo_node_has_the_sizes_the_screens_need() -> None:
    discovery = DemoDiscovery()
    assert 300 <= len(discovery.tracepoints()) <= 1000
    assert len({t.category for t in discovery.tracepoints()}) >= 15
    assert 3000 <= len(discovery.functions()) <= 10000
    assert discovery.primary_interface() == "eth0"
    kinds = {i.kind for i in discovery.interfaces()}
    assert {"loopback", "device", "bridge", "veth"} <= kinds


def test_demo_functions_filter_counts_and_limits() -> None:
    catalog = DemoDiscovery().functions()
    shown, total = catalog.filter("tcp_v4", limit=1)
    assert total == 2 and [f.name for f in shown] == ["tcp_v4_connect"]
    assert "struct sock *sk" in shown[0].prototype
    fuzzy, _ = catalog.filter("tv4cn", fuzzy=True)
    assert "tcp_v4_connect" in [f.name for f in fuzzy]
    assert catalog.get("no_such_function") is None


def test_demo_tracepoint_fields_and_unknown_tracepoint() -> None:
    discovery = DemoDiscovery()
    names = [f.name for f in discovery.tracepoint_fields("sched", "sched_switch")]
    assert names[:4] == [
        "common_type",
        "common_flags",
        "common_preempt_count",
        "common_pid",
    ]
    assert "next_pid" in names
    with pytest.raises(InputError, match="not found"):
        discovery.tracepoint_fields("sched", "nope")


def test_demo_libraries_symbols_and_processes() -> None:
    discovery = DemoDiscovery()
    libc = discovery.resolve_library("libc")
    assert libc.endswith("libc.so.6")
    assert "malloc" in {s.name for s in discovery.symbols("libc")}
    assert any(p.comm == "nginx" for p in discovery.processes())
    with pytest.raises(InputError, match="not found"):
        discovery.resolve_library("libnothing")


def test_demo_chains_come_from_the_given_source_and_watchers_hear_changes() -> None:
    chain = ChainView("xdp", "native", 7, 2, (SlotView(0, 8, "xdp_pass", 10, ()),))
    discovery = DemoDiscovery(chains=lambda i: [chain] if i.name == "eth1" else [])
    seen: list[int] = []
    stop = discovery.watch_interfaces(lambda found: seen.append(len(found)))
    discovery.changed()
    stop()
    discovery.changed()
    eth1 = next(i for i in discovery.interfaces() if i.name == "eth1")
    assert eth1.chains == (chain,)
    assert seen == [len(discovery.interfaces())]


def test_scenario_puts_every_condition_on_the_demo_node() -> None:
    session = demo_session(Clock())
    conditions = {bp.condition.type for s in session.status() for bp in s.bpfprograms}
    assert {"Loaded", "NotLoaded", "NotSelected", "MapOwnerNotFound"} <= conditions
    bad = next(s for s in session.status() if s.name == "bad-parser")
    assert "invalid access to packet" in (bad.bpfprograms[0].verifier_log or "")
    eth0 = next(i for i in session.discovery.interfaces() if i.name == "eth0")
    xdp = next(c for c in eth0.chains if c.hook == "xdp")
    assert [s.priority for s in xdp.slots] == [5, 20, 50]


def test_scenario_objects_all_pass_the_api_rules() -> None:
    kinds = {obj.kind for obj in scenario_objects()}
    assert kinds == {
        "XdpProgram",
        "TcProgram",
        "TracepointProgram",
        "KprobeProgram",
        "UprobeProgram",
        "FentryProgram",
    }


# ---------------------------------------------------------------- rows


def _status(name: str, condition: str) -> ObjectStatusView:
    cond = ConditionView(condition, "True", "r", "m", "2026-01-01T00:00:00Z")
    return ObjectStatusView("XdpProgram", name, None, cond)


def test_rows_join_objects_kernel_programs_and_pending_words() -> None:
    kernel = [
        KernelProgram(4, "xdp_dispatcher", "xdp", "t"),
        KernelProgram(9, "sd_devices", "cgroup_skb", "t"),
    ]
    iface = InterfaceView(
        "eth0",
        2,
        "device",
        "up",
        1500,
        "m",
        chains=(ChainView("xdp", "native", 4, 1, ()),),
    )
    hooks, dispatchers = hooks_of([iface])
    snap = Snapshot(
        [_status("edge", "NotYetLoaded")],
        kernel,
        (),
        {9: "systemd"},
        0.0,
        hooks,
        dispatchers,
    )
    rows = build_rows(snap, {}, {"XdpProgram/new": "Applying"})
    by_key = {r.key: r for r in rows}
    assert by_key["obj:XdpProgram/new"].condition == "Applying"
    assert by_key["obj:XdpProgram/edge"].condition == "NotYetLoaded"
    assert (by_key["kernel:4"].owner, by_key["kernel:4"].attach_point) == (
        "dispatcher",
        "eth0 xdp",
    )
    assert by_key["kernel:9"].owner == "systemd"


def test_rates_survive_two_refreshes_at_one_instant() -> None:
    def read(count: int, now: float, before: dict) -> tuple[list, dict]:
        snap = Snapshot(
            kernel=[KernelProgram(1, "p", "xdp", "t", run_cnt=count)], now=now
        )
        rows = build_rows(snap, before, {})
        return rows, samples(rows, before, now)

    _, first = read(100, 10.0, {})
    rows, second = read(600, 20.0, first)
    assert rows[0].rate == 50.0
    rows, _ = read(600, 20.0, second)  # a timer refresh in the same tick
    assert rows[0].rate == 50.0
