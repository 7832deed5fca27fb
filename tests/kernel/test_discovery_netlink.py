"""Interfaces over real netlink, in a network namespace made per test.

Every test builds its own namespace with a veth pair, attaches with the
kernel's own tools (``ip``, ``tc``) and compares bpftui's view with what
those tools report; the namespace (and with it every attachment) is deleted
afterwards, even on failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from bpftui.core.discovery import RealDiscovery
from bpftui.core.discovery.interfaces import InterfaceReader, primary_interface
from bpftui.core.session import InterfaceView

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(
        os.geteuid() != 0, reason="needs root to make network namespaces"
    ),
]

PROGRAM = """
#include <linux/bpf.h>
#define SEC(x) __attribute__((section(x), used))
SEC("xdp") int disc_xdp(struct xdp_md *ctx) { return XDP_PASS; }
SEC("tc") int disc_tc(struct __sk_buff *skb) { return 0; }
char _license[] SEC("license") = "GPL";
"""


def sh(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
    assert done.returncode == 0, f"{' '.join(argv)}: {done.stderr.strip()}"
    return done.stdout


@pytest.fixture(scope="module")
def bpf_object(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("clang") is None:
        pytest.skip("needs clang to build the test program")
    work = tmp_path_factory.mktemp("bpf")
    (work / "p.c").write_text(PROGRAM)
    sh(
        "clang",
        "-O2",
        "-g",
        "-target",
        "bpf",
        "-c",
        str(work / "p.c"),
        "-o",
        str(work / "p.o"),
    )
    return work / "p.o"


@pytest.fixture
def netns() -> Iterator[str]:
    """A namespace with veth pair va (10.77.0.1/24, up) <-> vb (down)."""
    name = f"bpftui-disc-{uuid.uuid4().hex[:8]}"
    sh("ip", "netns", "add", name)
    try:
        sh("ip", "-n", name, "link", "add", "va", "type", "veth", "peer", "name", "vb")
        sh("ip", "-n", name, "addr", "add", "10.77.0.1/24", "dev", "va")
        sh("ip", "-n", name, "link", "set", "va", "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def by_name(views: Sequence[InterfaceView]) -> dict[str, InterfaceView]:
    return {v.name: v for v in views}


def ip_json(netns: str, *argv: str) -> list[dict[str, object]]:
    return json.loads(sh("ip", "-n", netns, "-j", *argv))  # type: ignore[no-any-return]


def test_links_as_ip_shows_them(netns: str) -> None:
    views = by_name(InterfaceReader(netns=netns).list())
    expected = {link["ifname"]: link for link in ip_json(netns, "link", "show")}
    assert set(views) == set(expected) == {"lo", "va", "vb"}
    va = views["va"]
    assert (va.kind, va.index, va.mtu, va.mac) == (
        "veth",
        expected["va"]["ifindex"],
        expected["va"]["mtu"],
        expected["va"]["address"],
    )
    assert va.netns == netns
    assert "10.77.0.1/24" in va.addresses
    assert views["vb"].state == "down"
    assert views["lo"].kind == "loopback"
    assert not any(v.primary for v in views.values())
    assert va.chains == ()


def test_default_route_marks_the_primary_interface(netns: str) -> None:
    sh("ip", "-n", netns, "route", "add", "default", "via", "10.77.0.2", "dev", "va")
    assert primary_interface(netns) == "va"
    views = by_name(InterfaceReader(netns=netns).list())
    assert views["va"].primary
    assert not views["lo"].primary


def test_xdp_program_and_mode(netns: str, bpf_object: Path) -> None:
    sh(
        "ip",
        "-n",
        netns,
        "link",
        "set",
        "dev",
        "va",
        "xdpgeneric",
        "obj",
        str(bpf_object),
        "sec",
        "xdp",
    )
    prog_id = ip_json(netns, "link", "show", "va")[0]["xdp"]["prog"]["id"]  # type: ignore[index]
    (chain,) = by_name(InterfaceReader(netns=netns).list())["va"].chains
    assert (chain.hook, chain.mode, chain.dispatcher_id) == ("xdp", "generic", None)
    assert [s.prog_id for s in chain.slots] == [prog_id]


def test_tc_filters_per_direction(netns: str, bpf_object: Path) -> None:
    sh("tc", "-n", netns, "qdisc", "add", "dev", "va", "clsact")
    for direction, pref in (("ingress", "7"), ("egress", "9")):
        tc = ["tc", "-n", netns, "filter", "add", "dev", "va", direction, "pref", pref]
        sh(*tc, "bpf", "da", "obj", str(bpf_object), "sec", "tc")
    ids = {
        direction: tc_prog_id(netns, direction) for direction in ("ingress", "egress")
    }
    chains = {
        c.hook: c for c in by_name(InterfaceReader(netns=netns).list())["va"].chains
    }
    assert set(chains) == {"tc-ingress", "tc-egress"}
    assert [(s.prog_id, s.priority) for s in chains["tc-ingress"].slots] == [
        (ids["ingress"], 7)
    ]
    assert [(s.prog_id, s.priority) for s in chains["tc-egress"].slots] == [
        (ids["egress"], 9)
    ]
    assert chains["tc-ingress"].mode == "cls_bpf"


def tc_prog_id(netns: str, direction: str) -> int:
    shown = sh("tc", "-n", netns, "-j", "filter", "show", "dev", "va", direction)
    return int(json.loads(shown)[-1]["options"]["prog"]["id"])


class Collector:
    """Keeps every listing a watch delivers."""

    def __init__(self) -> None:
        self.seen: list[Sequence[InterfaceView]] = []
        self.event = threading.Event()

    def __call__(self, views: Sequence[InterfaceView]) -> None:
        self.seen.append(views)
        self.event.set()

    def wait_for(self, test: Callable[[dict[str, InterfaceView]], bool]) -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if any(test(by_name(views)) for views in list(self.seen)):
                return
            self.event.wait(0.1)
            self.event.clear()
        raise AssertionError("no notification showed the change within 5 s")


def test_watch_reports_link_and_address_changes(netns: str) -> None:
    discovery = RealDiscovery(netns=netns)
    collect = Collector()
    stop = discovery.watch_interfaces(collect)
    try:
        sh("ip", "-n", netns, "link", "set", "va", "mtu", "1400")
        collect.wait_for(lambda v: v["va"].mtu == 1400)
        sh("ip", "-n", netns, "addr", "add", "10.88.0.1/16", "dev", "vb")
        collect.wait_for(lambda v: "10.88.0.1/16" in v["vb"].addresses)
        sh("ip", "-n", netns, "link", "add", "vc", "type", "veth", "peer", "name", "vd")
        collect.wait_for(lambda v: "vc" in v)
    finally:
        stop()
    watchers = [t for t in threading.enumerate() if t.name == "bpftui-netlink-watch"]
    assert not any(t.is_alive() for t in watchers)


def test_a_burst_of_changes_gives_few_listings(netns: str) -> None:
    discovery = RealDiscovery(netns=netns)
    collect = Collector()
    stop = discovery.watch_interfaces(collect)
    try:
        for mtu in range(1300, 1320):
            sh("ip", "-n", netns, "link", "set", "va", "mtu", str(mtu))
        collect.wait_for(lambda v: v["va"].mtu == 1319)
    finally:
        stop()
    assert len(collect.seen) < 20


def test_changed_asks_watchers_to_list_again(netns: str) -> None:
    discovery = RealDiscovery(netns=netns)
    collect = Collector()
    stop = discovery.watch_interfaces(collect)
    try:
        discovery.changed()
        collect.wait_for(lambda v: "va" in v)
    finally:
        stop()
    stop()  # stopping twice is harmless


def test_without_backend_the_listing_says_what_is_missing(netns: str) -> None:
    reader = InterfaceReader(netns=netns)
    reader.list()
    assert reader.notes == ["program names, TCX links and dispatcher slots: no backend"]
