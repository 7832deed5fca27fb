"""A bpftui killed with SIGKILL at any step leaves nothing the next run
cannot finish or roll back.

Each test first runs the command once with ``BPFTUI_FAULT_TRACE`` to learn
every step at which it changes the kernel or the state store (see
``bpftui.core.faults``), then once per step with ``BPFTUI_FAULT=<step>:<n>``
as a child process that kills itself right after that step. After each kill
the next command (``bpftui status``, which rolls back or completes what the
dead process left) runs, and :func:`_nodebed.check_node` asserts that the
store and the kernel agree: every program fully attached or fully gone, no
orphan pin, program, link, filter or qdisc. Then ``apply`` must succeed and
``delete`` must leave nothing.

The objects: an XDP program and a TC program on a veth in a test namespace,
and a tracepoint program, all from tests/bpf/crash.c.
"""

from __future__ import annotations

import contextlib
import os
import struct
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from _nodebed import (
    Bed,
    check_node,
    documents,
    forked_killed_at,
    kill_points,
    killed_at,
    tc_yaml,
    traced,
    tracepoint_yaml,
    xdp_yaml,
)
from _testbed import wait_until

pytestmark = [pytest.mark.kernel, pytest.mark.slow]


@pytest.fixture(autouse=True)
def probed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Answer the backend's capability probe from one real probe.

    The dispatcher engine of every command probes every capability (about a
    second here, 40 s under the guest's emulation) to learn whether
    freplace works; the answer cannot change between two commands, and the
    killed children are separate interpreters that probe for real.
    """
    from bpftui.native.backend import NativeBackend

    found = NativeBackend().features()
    monkeypatch.setattr(NativeBackend, "features", lambda self: found)


@pytest.fixture
def bed(bpffs_root, netns, bpf_objects) -> Iterator[Bed]:
    with tempfile.TemporaryDirectory(prefix="bpftui-crash-") as workdir:
        made = Bed(Path(workdir), bpffs_root, netns)
        try:
            yield made
        finally:
            made.cleanup()


def _three_objects(bed: Bed, obj: Path) -> Path:
    return bed.write(
        "three",
        documents(
            xdp_yaml(bed, "crash-xdp", obj),
            tc_yaml(bed, "crash-tc", obj, "ingress"),
            tracepoint_yaml(bed, "crash-tp", obj),
        ),
    )


@contextlib.contextmanager
def _at(point: str) -> Iterator[None]:
    """Name the kill point in any failure inside the block."""
    try:
        yield
    except AssertionError as err:
        raise AssertionError(f"killed at {point}: {err}") from None


def _all_loaded(bed: Bed, path: Path) -> None:
    done = bed.run("apply", "-f", str(path))
    assert done.code == 0, done.text
    assert set(check_node(bed).values()) == {"Loaded"}


def _all_gone(bed: Bed, path: Path) -> None:
    done = bed.run("delete", "-f", str(path))
    assert done.code in (0, 1), done.text  # 1: some were not applied
    assert check_node(bed) == {}


def test_apply_killed_at_every_step(bed, bpf_objects, tmp_path):
    path = _three_objects(bed, bpf_objects["crash"])
    points = traced(bed, tmp_path / "trace", "apply", "-f", str(path))
    _all_gone(bed, path)
    assert len(points) > 20, points  # 31 here: the hooks are in place
    outcomes: Counter[str] = Counter()
    started = time.monotonic()
    for point in points:
        with _at(point):
            killed_at(bed, point, "apply", "-f", str(path))
            status = bed.run("status", "-o", "json")
            assert status.code == 0, status.text
            states = check_node(bed)
            assert set(states.values()) <= {"Loaded", "NotLoaded", "absent"}
            outcomes.update(states.values())
            _all_loaded(bed, path)
            _all_gone(bed, path)
    # Both ways out were taken: attach points rolled back and completed ones.
    assert outcomes["NotLoaded"] and outcomes["Loaded"], outcomes
    print(f"{len(points)} kill points in {time.monotonic() - started:.1f} s")


def test_delete_killed_at_every_step(bed, bpf_objects, tmp_path):
    path = _three_objects(bed, bpf_objects["crash"])
    _all_loaded(bed, path)
    points = traced(bed, tmp_path / "trace", "delete", "-f", str(path))
    assert check_node(bed) == {}
    assert len(points) > 15, points  # 25 here
    started = time.monotonic()
    for point in points:
        with _at(point):
            _all_loaded(bed, path)
            killed_at(bed, point, "delete", "-f", str(path))
            assert bed.run("status").code == 0
            states = check_node(bed)
            # an interrupted delete is completed; one not begun stays whole
            assert set(states.values()) <= {"Loaded"}, states
            _all_gone(bed, path)
    print(f"{len(points)} kill points in {time.monotonic() - started:.1f} s")


def test_after_the_kills_the_programs_still_work(bed, bpf_objects, tmp_path):
    """The kill loops leave a node on which apply still gives working
    programs: the tracepoint counts, XDP and TC let packets through."""
    path = _three_objects(bed, bpf_objects["crash"])
    killed_at(bed, "attach:2", "apply", "-f", str(path))
    _all_loaded(bed, path)
    assert bed.netns.udp_delivered() == 3
    for _ in range(5):
        os.getppid()
    hits = _hits(bed)
    assert hits["crash-tp"][2] >= 5
    assert hits["crash-xdp"][0] >= 3 and hits["crash-tc"][1] >= 3
    _all_gone(bed, path)
    assert wait_until(lambda: bed.netns.udp_delivered() == 3)


def _hits(bed: Bed) -> dict[str, list[int]]:
    """The three counters of each object's ``bt_crash_hits`` map."""
    found = {}
    with bed.session() as session:
        for obj in session.status():
            (bp,) = obj.bpfprograms
            entries = dict(session.map_entries(bp.map_ids["bt_crash_hits"]))
            found[obj.name] = [
                struct.unpack("<Q", entries[struct.pack("<I", key)])[0]
                for key in range(3)
            ]
    return found


# ---------------------------------------------------------------- guest lane


@pytest.mark.guest
def test_adding_a_second_xdp_program_killed_at_every_step(
    bed, bpf_objects, requires, tmp_path
):
    """A dispatcher change (a second XDP program joins the first through a
    new dispatcher revision) killed at every step: the first program keeps
    running, the second is fully in or fully out, one dispatcher is left.

    The killed commands are forked from this process (see
    :func:`_nodebed.forked_killed_at`): an exec'd interpreter needs about a
    minute per command under the guest's software emulation.
    """
    requires("freplace")
    obj = bpf_objects["crash"]
    first = bed.write("first", xdp_yaml(bed, "first", obj, priority=10))
    second = bed.write("second", xdp_yaml(bed, "second", obj, priority=20))
    _all_loaded(bed, first)
    points = _traced_in_fork(bed, tmp_path / "trace", "apply", "-f", str(second))
    assert any(p.startswith("dispatcher-swap") for p in points), points
    _remove_second(bed, second)
    outcomes: Counter[str] = Counter()
    started = time.monotonic()
    for point in points:
        with _at(point):
            forked_killed_at(bed, point, "apply", "-f", str(second))
            assert bed.run("status").code == 0
            states = check_node(bed, only_dispatchers=True)
            assert states["XdpProgram/first"] == "Loaded", states
            outcomes[states.get("XdpProgram/second", "absent")] += 1
            _remove_second(bed, second)
    assert outcomes["Loaded"] and outcomes["NotLoaded"], outcomes
    # and the node still takes the second program, both running
    _all_loaded(bed, second)
    assert check_node(bed, only_dispatchers=True) == {
        "XdpProgram/first": "Loaded",
        "XdpProgram/second": "Loaded",
    }
    assert bed.netns.udp_delivered() == 3
    print(f"{len(points)} kill points in {time.monotonic() - started:.1f} s")


def _traced_in_fork(bed: Bed, trace: Path, *args: str) -> list[str]:
    from bpftui.core import faults

    os.environ[faults.TRACE_ENV] = str(trace)
    faults.reset()
    try:
        done = bed.run(*args)
    finally:
        del os.environ[faults.TRACE_ENV]
        faults.reset()
    assert done.code == 0, done.text
    return kill_points(trace)


def _remove_second(bed: Bed, second: Path) -> None:
    done = bed.run("delete", "-f", str(second))
    assert done.code in (0, 1), done.text
    states = check_node(bed, only_dispatchers=True)
    assert states == {"XdpProgram/first": "Loaded"}, states
