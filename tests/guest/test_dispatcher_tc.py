"""The TC dispatcher on a kernel with freplace: both directions, slot order,
proceed-on with the TC offset, make-before-break, and the clsact qdisc."""

from __future__ import annotations

import os

import pytest
from _guest import Stream

from bpftui.core.dispatchers import TC_ACTIONS, DispatcherFull
from bpftui.core.errors import KernelError

pytestmark = pytest.mark.guest

OK, SHOT, PIPE = 0, 2, 3


def _tc(rig, mark, priority, **kw):
    return rig.program(mark, priority, kind="tc", **kw)


def _filters(veth, side, direction):
    dev = veth.a if side == "a" else veth.b
    done = veth.nsenter(side, "tc", "filter", "show", "dev", dev, direction)
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if " bpf " in line]


@pytest.mark.parametrize("count", [1, 2, 10])
@pytest.mark.parametrize("direction", ["ingress", "egress"])
def test_programs_run_in_priority_order(rig, count, direction):
    priorities = [(i * 3) % count * 10 + 1 for i in range(count)]
    programs = [_tc(rig, p, p) for p in priorities]
    revision = rig.change(rig.hook("tc", direction=direction), add=programs).revision
    # every slot answers TC_ACT_PIPE, which the default proceed-on continues
    # after; falling off the end answers TC_ACT_OK
    assert rig.run(revision) == (OK, tuple(sorted(priorities)))


def test_each_action_continues_when_in_proceedon(rig):
    actions = [a for a in TC_ACTIONS if a != "dispatcher_return"]
    programs = [
        _tc(rig, i + 1, i, verdict=TC_ACTIONS[a], proceedon=[a])
        for i, a in enumerate(actions[:10])
    ]
    revision = rig.change(rig.hook("tc"), add=programs).revision
    assert rig.run(revision) == (OK, tuple(range(1, len(programs) + 1)))


@pytest.mark.parametrize("action", [a for a in TC_ACTIONS if a != "dispatcher_return"])
def test_the_chain_stops_on_an_action_not_in_proceedon(rig, action):
    value = TC_ACTIONS[action]
    others = [a for a in TC_ACTIONS if a not in (action, "dispatcher_return")]
    first = _tc(rig, 1, 10, verdict=value, proceedon=others)
    revision = rig.change(rig.hook("tc"), add=[first, _tc(rig, 2, 20)]).revision
    assert rig.run(revision) == (value, (1,))


def test_swaps_alternate_filter_priorities_and_leave_one_filter(rig, veth):
    hook = rig.hook("tc")
    rig.change(hook, add=[_tc(rig, 1, 10)])
    assert len(_filters(veth, "b", "ingress")) == 1
    assert " pref 50 " in _filters(veth, "b", "ingress")[0]
    revision = rig.change(hook, add=[_tc(rig, 2, 20)]).revision
    (line,) = _filters(veth, "b", "ingress")
    assert " pref 51 " in line
    assert f"id {revision.dispatcher_id}" in line
    assert rig.run(revision) == (OK, (1, 2))


def test_equal_priorities_and_the_eleventh(rig):
    hook = rig.hook("tc", direction="egress")
    for mark in (9, 8, 7):
        rig.change(hook, add=[_tc(rig, mark, 50)])
    assert rig.run(rig.read(hook))[1] == (9, 8, 7)
    rig.change(hook, add=[_tc(rig, 10 + i, 60) for i in range(7)])
    with pytest.raises(DispatcherFull):
        rig.change(hook, add=[_tc(rig, 99, 1)])
    assert rig.run(rig.read(hook))[1] == (9, 8, 7, *range(10, 17))


def test_an_existing_clsact_is_reused_and_kept(rig, veth):
    done = veth.nsenter("b", "tc", "qdisc", "add", "dev", veth.b, "clsact")
    assert done.returncode == 0, done.stderr
    hook = rig.hook("tc")
    revision = rig.change(hook, add=[_tc(rig, 1, 1)]).revision
    rig.change(hook, remove=[revision.members[0].prog_id])
    qdiscs = veth.nsenter("b", "tc", "qdisc", "show", "dev", veth.b).stdout
    assert "clsact" in qdiscs
    assert _filters(veth, "b", "ingress") == []
    assert os.listdir(f"{rig.root}/tc") == []


def test_an_ingress_qdisc_is_refused(rig, veth):
    done = veth.nsenter("b", "tc", "qdisc", "add", "dev", veth.b, "ingress")
    assert done.returncode == 0, done.stderr
    with pytest.raises(KernelError, match="'ingress' qdisc is installed"):
        rig.change(rig.hook("tc"), add=[_tc(rig, 1, 1)])
    qdiscs = veth.nsenter("b", "tc", "qdisc", "show", "dev", veth.b).stdout
    assert "ingress" in qdiscs and "clsact" not in qdiscs


@pytest.mark.parametrize(("side", "direction"), [("b", "ingress"), ("a", "egress")])
def test_packets_through_a_veth_see_the_whole_chain(rig, veth, side, direction):
    hook = rig.hook("tc", side=side, direction=direction)
    rig.change(hook, side=side, add=[_tc(rig, 4, 20), _tc(rig, 3, 10)])
    with Stream(veth) as stream:
        stream.wait_for(50)
    assert {trace for _, trace in stream.received} == {(3, 4)}
