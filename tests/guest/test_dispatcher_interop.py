"""bpftui and xdp-loader (libxdp 1.3.1) on one interface: each sees and keeps
the other's programs, through libxdp's pins, lock and dispatcher config."""

from __future__ import annotations

import os

import pytest
from _guest import xdp_loader_status

pytestmark = pytest.mark.guest

PASS = 2


def _xdp_loader_load(veth, obj, prio, actions="XDP_PASS"):
    done = veth.nsenter(
        "b", "xdp-loader", "load", "-m", "native", "-P", str(prio), "-A", actions,
        veth.b, str(obj),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def _dispatch_dirs(veth):
    prefix = f"dispatch-{veth.index['b']}-"
    return [d for d in os.listdir("/sys/fs/bpf/xdp") if d.startswith(prefix)]


def test_xdp_loader_status_lists_bpftuis_programs(shared_rig, veth):
    rig = shared_rig
    revision = rig.change(
        rig.hook(),
        add=[rig.program(1, 10, proceedon=["pass", "drop"]), rig.program(2, 20)],
    ).revision
    rows = xdp_loader_status(veth)
    assert [(r["prio"], r["name"], r["id"]) for r in rows] == [
        (10, "chain_xdp", revision.members[0].prog_id),
        (20, "chain_xdp", revision.members[1].prog_id),
    ]
    assert set(rows[0]["actions"]) == {"XDP_PASS", "XDP_DROP"}
    assert rows[1]["actions"] == ("XDP_PASS",)
    assert _dispatch_dirs(veth) == [
        f"dispatch-{veth.index['b']}-{revision.dispatcher_id}"
    ]


def test_bpftui_keeps_what_xdp_loader_attached(shared_rig, veth, compile_bpf):
    rig = shared_rig
    _xdp_loader_load(
        veth, compile_bpf("dispatch/chain.c", MARK=5), 30, "XDP_PASS,XDP_DROP"
    )
    theirs = xdp_loader_status(veth)[0]["id"]
    revision = rig.change(
        rig.hook(), add=[rig.program(1, 10), rig.program(2, 40)]
    ).revision
    found = rig.read(rig.hook())
    assert [(m.prog_id, m.priority, m.owner) for m in found.members][1] == (
        theirs,
        30,
        "libxdp",
    )
    assert found.members[1].chain_mask & 0x6 == 0x6  # pass and drop
    assert rig.run(revision) == (PASS, (1, 5, 2))
    assert [r["prio"] for r in xdp_loader_status(veth)] == [10, 30, 40]


def test_xdp_loader_keeps_what_bpftui_attached(shared_rig, veth, compile_bpf):
    rig = shared_rig
    hook = rig.hook()
    ours = rig.change(hook, add=[rig.program(1, 10)]).added
    our_id = next(iter(ours.values())).id
    _xdp_loader_load(veth, compile_bpf("dispatch/chain.c", MARK=6), 20)
    now = rig.read(hook)
    assert now.members[0].prog_id == our_id
    assert rig.run(now) == (PASS, (1, 6))
    theirs = now.members[1].prog_id
    done = veth.nsenter("b", "xdp-loader", "unload", "--id", str(theirs), veth.b)
    assert done.returncode == 0, done.stderr
    now = rig.read(hook)
    assert [m.prog_id for m in now.members] == [our_id]
    assert rig.run(now) == (PASS, (1,))
    rig.change(hook, remove=[our_id])
    assert xdp_loader_status(veth) == []
    assert _dispatch_dirs(veth) == []
