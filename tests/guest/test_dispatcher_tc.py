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
    """The cls_bpf filters of a direction, one line each."""
    dev = veth.a if side == "a" else veth.b
    done = veth.nsenter(side, "tc", "filter", "show", "dev", dev, direction)
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if " handle " in line]


ACTIONS = [a for a in TC_ACTIONS if a != "dispatcher_return"]


@pytest.mark.parametrize("direction", ["ingress", "egress"])
def test_one_two_and_ten_programs_run_in_priority_order(rig, direction):
    hook = rig.hook("tc", direction=direction)
    priorities = {m: (m * 7) % 10 * 10 for m in range(1, 11)}
    for marks in ([1], [2], list(range(3, 11))):
        revision = rig.change(
            hook, add=[_tc(rig, m, priorities[m]) for m in marks]
        ).revision
        ran = sorted(range(1, marks[-1] + 1), key=priorities.__getitem__)
        # every slot answers TC_ACT_PIPE, which the default proceed-on
        # continues after; falling off the end answers TC_ACT_OK
        assert rig.run(revision) == (OK, tuple(ran))


@pytest.mark.parametrize(
    ("proceedon", "goes_on"),
    [
        ((), {"pipe"}),  # the default: pipe, dispatcher_return
        (("dispatcher_return",), set()),
        (("unspec", "shot"), {"unspec", "shot"}),
        (tuple(ACTIONS), set(ACTIONS)),
    ],
)
def test_proceedon_decides_after_every_action(rig, proceedon, goes_on):
    first = _tc(rig, 1, 10, proceedon=proceedon)
    second = _tc(rig, 2, 20, verdict=OK, proceedon=["dispatcher_return"])
    revision = rig.change(rig.hook("tc"), add=[first, second]).revision
    for action in ACTIONS:
        value = TC_ACTIONS[action]
        expected = (OK, (1, 2)) if action in goes_on else (value, (1,))
        assert rig.run(revision, {1: value}) == expected, action


def test_after_the_last_slot_the_dispatcher_answers_ok(rig):
    programs = [_tc(rig, m, m, proceedon=ACTIONS) for m in (1, 2)]
    revision = rig.change(rig.hook("tc", direction="egress"), add=programs).revision
    for action in ACTIONS:
        value = TC_ACTIONS[action]
        assert rig.run(revision, {1: value, 2: value}) == (OK, (1, 2)), action


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


@pytest.fixture
def qdisc(veth):
    """``qdisc(kind)`` adds a qdisc to side b; it is deleted afterwards."""
    added = []

    def add(kind):
        done = veth.nsenter("b", "tc", "qdisc", "add", "dev", veth.b, kind)
        assert done.returncode == 0, done.stderr
        added.append(kind)

    yield add
    for kind in added:
        veth.nsenter("b", "tc", "qdisc", "del", "dev", veth.b, kind)


def test_an_existing_clsact_is_reused_and_kept(rig, veth, qdisc):
    qdisc("clsact")
    hook = rig.hook("tc")
    revision = rig.change(hook, add=[_tc(rig, 1, 1)]).revision
    rig.change(hook, remove=[revision.members[0].prog_id])
    qdiscs = veth.nsenter("b", "tc", "qdisc", "show", "dev", veth.b).stdout
    assert "clsact" in qdiscs
    assert _filters(veth, "b", "ingress") == []
    assert [d for d in os.listdir(f"{rig.root}/tc") if "-2-ingress-" in d] == []


def test_an_ingress_qdisc_is_refused(rig, veth, qdisc):
    # whatever an earlier test left, clsact and ingress cannot coexist
    veth.nsenter("b", "tc", "qdisc", "del", "dev", veth.b, "clsact")
    qdisc("ingress")
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
