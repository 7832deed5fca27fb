"""The XDP dispatcher on a kernel with freplace: slot order, proceed-on,
limits, rollback, and packets through a veth pair.

Each test program stamps its mark into a trace inside the packet, so
BPF_PROG_TEST_RUN through the dispatcher shows exactly which programs ran,
in which order, and what the dispatcher returned.
"""

from __future__ import annotations

import os

import pytest
from _guest import Stream

from bpftui.core.dispatchers import XDP_ACTIONS, DispatcherFull
from bpftui.core.errors import BpftuiError

pytestmark = pytest.mark.guest

ABORTED, DROP, PASS, TX, REDIRECT = 0, 1, 2, 3, 4


def _marks(revision):
    return [m.name for m in revision.members]


@pytest.mark.parametrize("count", [1, 2, 10])
def test_programs_run_in_priority_order(rig, count):
    # priorities deliberately not in the order the programs are given
    priorities = [(i * 7) % count * 10 + 5 for i in range(count)]
    programs = [rig.program(mark=p, priority=p) for p in priorities]
    revision = rig.change(rig.hook(), add=programs).revision
    assert len(revision.members) == count
    verdict, trace = rig.run(revision)
    assert verdict == PASS
    assert trace == tuple(sorted(priorities))
    assert [m.priority for m in rig.read(rig.hook()).members] == sorted(priorities)


def test_a_program_added_later_takes_its_place_by_priority(rig):
    hook = rig.hook()
    rig.change(hook, add=[rig.program(10, 10), rig.program(30, 30)])
    first = rig.read(hook)
    revision = rig.change(hook, add=[rig.program(20, 20)]).revision
    assert rig.run(revision) == (PASS, (10, 20, 30))
    # the programs already there were re-linked, not reloaded
    kept = {m.prog_id for m in first.members}
    assert kept <= {m.prog_id for m in revision.members}
    assert revision.dispatcher_id != first.dispatcher_id
    assert rig.backend.program_info(first.dispatcher_id) is None


def test_equal_priorities_keep_the_order_they_came_in(rig):
    hook = rig.hook()
    rig.change(hook, add=[rig.program(3, 50, key="zeta")])
    rig.change(hook, add=[rig.program(2, 50, key="beta")])
    revision = rig.change(hook, add=[rig.program(1, 50, key="alpha")]).revision
    assert rig.run(revision) == (PASS, (3, 2, 1))


@pytest.mark.parametrize("action", ["aborted", "drop", "pass", "tx", "redirect"])
def test_the_chain_stops_on_an_action_not_in_proceedon(rig, action):
    value = XDP_ACTIONS[action]
    others = [name for name in XDP_ACTIONS if name not in (action, "dispatcher_return")]
    first = rig.program(1, 10, verdict=value, proceedon=others)
    revision = rig.change(rig.hook(), add=[first, rig.program(2, 20)]).revision
    assert rig.run(revision) == (value, (1,))


def test_the_chain_goes_on_for_each_action_in_proceedon(rig):
    # Each slot returns another action and proceeds on exactly that one; the
    # last returns DROP and proceeds on it too, so the chain runs to the end
    # and the dispatcher answers XDP_PASS.
    actions = ["aborted", "drop", "pass", "tx", "redirect", "drop"]
    programs = [
        rig.program(i + 1, i, verdict=XDP_ACTIONS[a], proceedon=[a])
        for i, a in enumerate(actions)
    ]
    revision = rig.change(rig.hook(), add=programs).revision
    assert rig.run(revision) == (PASS, (1, 2, 3, 4, 5, 6))


def test_the_default_proceedon_goes_on_after_pass_only(rig):
    programs = [
        rig.program(1, 1),  # passes
        rig.program(2, 2, verdict=DROP),  # default proceedon: stops here
        rig.program(3, 3),
    ]
    revision = rig.change(rig.hook(), add=programs).revision
    assert rig.run(revision) == (DROP, (1, 2))


def test_a_lone_program_with_proceedon_beyond_pass_keeps_the_protocol(rig):
    # Proceeding on drop after the only slot means the dispatcher answers
    # XDP_PASS; the stub keeps that true (no whole-dispatcher shortcut).
    lone = rig.program(1, 1, verdict=DROP, proceedon=["drop"])
    revision = rig.change(rig.hook(), add=[lone]).revision
    assert rig.run(revision) == (PASS, (1,))


def test_ten_programs_fit_and_the_eleventh_is_refused(rig):
    hook = rig.hook()
    rig.change(hook, add=[rig.program(i + 1, i) for i in range(10)])
    before = rig.read(hook)
    pins = sorted(os.listdir(f"{rig.root}/xdp"))
    with pytest.raises(DispatcherFull, match="already holds 10 of 10"):
        rig.change(hook, add=[rig.program(11, 5)])
    assert rig.read(hook) == before
    assert sorted(os.listdir(f"{rig.root}/xdp")) == pins


def test_a_failing_load_leaves_the_old_revision(rig):
    hook = rig.hook()
    rig.change(hook, add=[rig.program(1, 10), rig.program(2, 20)])
    before = rig.read(hook)
    pins = sorted(os.listdir(f"{rig.root}/xdp"))
    bad = rig.program(3, 15, verdict=PASS)
    broken = bad.__class__(**{**_fields(bad), "function": "chain_tc"})
    with pytest.raises(BpftuiError):
        rig.change(hook, add=[broken])
    assert rig.read(hook) == before
    assert sorted(os.listdir(f"{rig.root}/xdp")) == pins
    assert rig.run(before) == (PASS, (1, 2))


def _fields(request):
    return {name: getattr(request, name) for name in request.__dataclass_fields__}


def test_removing_programs_then_the_last_detaches_the_dispatcher(rig):
    hook = rig.hook()
    revision = rig.change(
        hook, add=[rig.program(1, 1), rig.program(2, 2), rig.program(3, 3)]
    ).revision
    middle = revision.members[1].prog_id
    revision = rig.change(hook, remove=[middle]).revision
    assert rig.run(revision) == (PASS, (1, 3))
    rest = [m.prog_id for m in revision.members]
    assert rig.change(hook, remove=rest).revision.is_empty
    with rig.inside():
        assert rig.backend.hook_state(hook).programs == ()
    assert os.listdir(f"{rig.root}/xdp") == []


def test_packets_through_a_veth_see_the_whole_chain(rig, veth):
    hook = rig.hook()
    rig.change(hook, add=[rig.program(7, 20), rig.program(5, 10)])
    with Stream(veth) as stream:
        stream.wait_for(50)
    assert {trace for _, trace in stream.received} == {(5, 7)}
