"""The XDP dispatcher on a kernel with freplace: slot order, proceed-on,
limits, rollback, and packets through a veth pair.

Each test program stamps its mark into a trace inside the packet, so
BPF_PROG_TEST_RUN through the dispatcher shows exactly which programs ran,
in which order, and what the dispatcher returned.
"""

from __future__ import annotations

import os
from dataclasses import replace

import pytest
from _guest import Stream

from bpftui.core.dispatchers import XDP_ACTIONS, DispatcherFull
from bpftui.core.errors import BpftuiError

pytestmark = pytest.mark.guest

ABORTED, DROP, PASS, TX, REDIRECT = 0, 1, 2, 3, 4


def _marks(revision):
    return [m.name for m in revision.members]


# marks 1..10 with priorities not in the order they are added
PRIORITIES = {1: 50, 2: 20, 3: 90, 4: 10, 5: 70, 6: 30, 7: 60, 8: 40, 9: 80, 10: 0}


def _by_priority(marks):
    return tuple(sorted(marks, key=PRIORITIES.__getitem__))


def test_one_two_and_ten_programs_run_in_priority_order(rig):
    hook = rig.hook()
    for marks in ([1], [2], list(range(3, 11))):
        revision = rig.change(
            hook, add=[rig.program(m, PRIORITIES[m]) for m in marks]
        ).revision
        expected = _by_priority(range(1, marks[-1] + 1))
        assert rig.run(revision) == (PASS, expected)
    found = rig.read(hook)
    assert [m.priority for m in found.members] == sorted(PRIORITIES.values())
    assert rig.backend.program_info(found.dispatcher_id).name == "xdp_dispatcher"


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


ACTIONS = [a for a in XDP_ACTIONS if a != "dispatcher_return"]


@pytest.mark.parametrize(
    ("proceedon", "goes_on"),
    [
        ((), {"pass"}),  # the default: pass, dispatcher_return
        (("dispatcher_return",), set()),
        (("drop", "tx"), {"drop", "tx"}),
        (tuple(ACTIONS), set(ACTIONS)),
    ],
)
def test_proceedon_decides_after_every_action(rig, proceedon, goes_on):
    # The first program returns each action in turn (the packet says which);
    # the second stops the chain with XDP_PASS whenever it runs.
    first = rig.program(1, 10, proceedon=proceedon)
    second = rig.program(2, 20, proceedon=["dispatcher_return"])
    revision = rig.change(rig.hook(), add=[first, second]).revision
    for action in ACTIONS:
        value = XDP_ACTIONS[action]
        expected = (PASS, (1, 2)) if action in goes_on else (value, (1,))
        assert rig.run(revision, {1: value}) == expected, action


def test_after_the_last_slot_the_dispatcher_answers_pass(rig):
    programs = [rig.program(m, m, proceedon=ACTIONS) for m in (1, 2)]
    revision = rig.change(rig.hook(), add=programs).revision
    for action in ACTIONS:
        value = XDP_ACTIONS[action]
        assert rig.run(revision, {1: value, 2: value}) == (PASS, (1, 2)), action


def test_a_lone_program_with_proceedon_beyond_pass_keeps_the_protocol(rig):
    # Proceeding on drop after the only slot means the dispatcher answers
    # XDP_PASS; the stub keeps that true (no whole-dispatcher shortcut),
    # while the default proceed-on takes the shortcut and answers the same.
    hook = rig.hook()
    lone = rig.program(1, 1, verdict=DROP, proceedon=["drop"])
    assert rig.run(rig.change(hook, add=[lone]).revision) == (PASS, (1,))
    rig.clear(hook)
    plain = rig.program(2, 1)
    revision = rig.change(hook, add=[plain]).revision
    assert rig.run(revision) == (PASS, (2,))
    assert rig.run(revision, {2: DROP}) == (DROP, (2,))


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
    # a TC program cannot replace an XDP stub: the kernel refuses the load
    # after the dispatcher was loaded and the first program re-linked
    broken = replace(rig.program(3, 15), function="chain_tc")
    with pytest.raises(BpftuiError):
        rig.change(hook, add=[broken])
    assert rig.read(hook) == before
    assert sorted(os.listdir(f"{rig.root}/xdp")) == pins
    assert rig.run(before) == (PASS, (1, 2))


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
