"""Crashes in dispatcher changes, on the demo kernel (freplace allowed).

The host kernel refuses freplace, so its crash test (tests/kernel/
test_crash.py) sees one program per hook; the guest lane kills real
dispatcher changes. This test kills them on the demo kernel in every
build: the operation runs on a thread that freezes for good at a
checkpoint (``faults.on_fault``), which is what SIGKILL leaves of a
process: the kernel (the demo backend) and the state store as they were at
that instant, nothing unwound. The next "process" (a new session over the
same backend and database, with its own lock) must then find a consistent
node: every program fully on its hook or gone, one dispatcher per hook and
no other, no orphan pins.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bpftui.core import faults
from bpftui.core.demo import DemoBackend
from bpftui.core.demo_discovery import DemoDiscovery
from bpftui.core.dispatchers import (
    TC_DISPATCHER_NAME,
    XDP_DISPATCHER_NAME,
    Hook,
    HookKind,
)
from bpftui.core.loader import NodeIdentity
from bpftui.core.node_session import NodeSession, demo_chains
from bpftui.core.state import StateLock, StateStore

NOW = 1_767_225_600.0
ROOT = "/sys/fs/bpf/bpftui"
DISPATCHERS = {XDP_DISPATCHER_NAME, TC_DISPATCHER_NAME}


class Frozen(BaseException):
    """Raised in a frozen thread once the test is over, to let it end."""


# ---------------------------------------------------------------- the node


def _session(backend: DemoBackend, db: Path) -> NodeSession:
    """One "process": its own store connection and lock, the shared kernel."""
    holder: dict[str, NodeSession] = {}
    discovery = DemoDiscovery(chains=lambda iface: demo_chains(holder, iface))
    holder["session"] = NodeSession(
        backend,
        StateStore(str(db), StateLock(None)),
        discovery,
        NodeIdentity("node-1", {"kubernetes.io/hostname": "node-1"}),
        bpffs_root=ROOT,
        clock=lambda: NOW,
        bytecode=lambda p: p.spec.bytecode.path or "/x.o",
        tidy_dirs=False,
    )
    return holder["session"]


def _kernel() -> DemoBackend:
    interfaces = {i.index: i.name for i in DemoDiscovery().interfaces() if not i.netns}
    return DemoBackend(clock=lambda: NOW, interfaces=interfaces)


def _eth0() -> int:
    return next(i.index for i in DemoDiscovery().interfaces() if i.name == "eth0")


HOOKS = {
    "XdpProgram": Hook(HookKind.XDP, _eth0(), "eth0"),
    "TcProgram": Hook(HookKind.TC, _eth0(), "eth0", "ingress"),
}


def _doc(kind: str, name: str, priority: int) -> dict[str, object]:
    spec: dict[str, object] = {
        "bpffunctionname": f"fn_{name}",
        "nodeselector": {},
        "bytecode": {"path": f"/opt/{name}.o"},
        "interfaceselector": {"interfaces": ["eth0"]},
        "priority": priority,
    }
    if kind == "TcProgram":
        spec["direction"] = "ingress"
    return {
        "apiVersion": "bpfman.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    }


# ---------------------------------------------------------------- freezing


@pytest.fixture
def freeze(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """``freeze(point, operation)``: run it on a thread frozen at ``point``."""
    gates: list[tuple[threading.Event, threading.Thread]] = []

    def run(point: str, operation: Callable[[], object]) -> None:
        gate, reached = threading.Event(), threading.Event()

        def stop_here() -> None:
            reached.set()
            gate.wait()
            raise Frozen()

        monkeypatch.setattr(faults, "on_fault", stop_here)
        monkeypatch.setenv(faults.FAULT_ENV, point)
        faults.reset()
        thread = threading.Thread(target=_swallow(operation), daemon=True)
        thread.start()
        gates.append((gate, thread))
        assert reached.wait(10), f"{point}: never reached"
        monkeypatch.delenv(faults.FAULT_ENV)
        faults.reset()

    yield run
    # The frozen threads unwind on kernels no one looks at any more.
    for gate, thread in gates:
        gate.set()
        thread.join(10)
    faults.reset()


def _swallow(operation: Callable[[], object]) -> Callable[[], None]:
    def body() -> None:
        with contextlib.suppress(Frozen):
            operation()

    return body


def _points(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, operation: Callable[[], object]
) -> list[str]:
    trace = tmp_path / "trace"
    monkeypatch.setenv(faults.TRACE_ENV, str(trace))
    faults.reset()
    try:
        operation()
    finally:
        monkeypatch.delenv(faults.TRACE_ENV)
        faults.reset()
    points = []
    for line in trace.read_text().splitlines():
        _, step, count, _ = line.split()
        if step != "unlock":
            points.append(f"{step}:{count}")
    return points


# ---------------------------------------------------------------- checking


def check(session: NodeSession) -> dict[str, str]:
    """Assert the node is consistent; return ``Kind/name`` -> condition."""
    store, backend = session.store, session.backend
    assert store.pending() == []
    attachments = store.attachments()
    loaded = [a for a in attachments if a.condition.type == "Loaded"]
    for found in attachments:
        if found.condition.type != "Loaded":
            assert found.program is None, found
    ids = {a.program.id for a in loaded if a.program}
    programs = {p.id: p.name for p in backend.programs()}
    users = {i for i, name in programs.items() if name not in DISPATCHERS}
    assert users == ids, f"kernel has {users}, the store {ids}"

    engine = session.loader.attacher.engine
    running: set[int | None] = set()
    for kind, hook in HOOKS.items():
        revision = engine.read(hook)
        wanted = {a.program.id for a in loaded if a.kind == kind and a.program}
        assert {m.prog_id for m in revision.members} == wanted, (kind, revision)
        running.add(revision.dispatcher_id)
    dispatchers = {i for i, name in programs.items() if name in DISPATCHERS}
    assert dispatchers == running - {None}, f"dispatchers {dispatchers}"
    _check_pins(backend, loaded, ids)
    return {a.ref: a.condition.type for a in attachments}


def _check_pins(backend: DemoBackend, loaded: list, ids: set[int]) -> None:
    link_progs = {link.id: link.prog_id for link in backend.links()}
    maps_dirs = [a.maps_dir for a in loaded if a.maps_dir]
    for pin in backend.pins():
        pinned = backend.pinned_id(pin)
        if pinned is None:
            assert any(pin.startswith(d + "/") for d in maps_dirs), pin
        else:
            assert pinned in ids or link_progs.get(pinned) in ids, pin


@contextlib.contextmanager
def _at(point: str) -> Iterator[None]:
    try:
        yield
    except AssertionError as err:
        raise AssertionError(f"frozen at {point}: {err}") from None


# ---------------------------------------------------------------- the tests


@pytest.mark.parametrize("kind", ["XdpProgram", "TcProgram"])
def test_adding_a_second_program_killed_at_every_step(
    kind, freeze, monkeypatch, tmp_path
):
    first, second = _doc(kind, "first", 10), _doc(kind, "second", 20)
    traced_kernel = _kernel()
    traced = _session(traced_kernel, tmp_path / "traced.db")
    traced.apply([first])
    points = _points(monkeypatch, tmp_path, lambda: traced.apply([second]))
    assert any(p.startswith("dispatcher-swap") for p in points), points
    outcomes = set()
    for number, point in enumerate(points):
        _add_second(freeze, tmp_path / f"{number}.db", point, first, second, outcomes)
    assert outcomes == {"Loaded", "NotLoaded", "absent"}


def _add_second(freeze, db, point, first, second, outcomes) -> None:
    kind = first["kind"]
    with _at(point):
        kernel = _kernel()
        _session(kernel, db).apply([first])
        freeze(point, lambda k=kernel, d=db: _session(k, d).apply([second]))
        nxt = _session(kernel, db)
        nxt.status()  # the next command recovers
        states = check(nxt)
        assert states[f"{kind}/first"] == "Loaded", (point, states)
        outcomes.add(states.get(f"{kind}/second", "absent"))
        assert [v.condition.type for v in nxt.apply([second])] == ["Loaded"]
        check(nxt)
        nxt.delete([f"{kind}/second"])
        assert check(nxt) == {f"{kind}/first": "Loaded"}


@pytest.mark.parametrize("kind", ["XdpProgram", "TcProgram"])
def test_removing_one_of_two_programs_killed_at_every_step(
    kind, freeze, monkeypatch, tmp_path
):
    first, second = _doc(kind, "first", 10), _doc(kind, "second", 20)
    traced = _session(_kernel(), tmp_path / "traced.db")
    traced.apply([first, second])
    points = _points(monkeypatch, tmp_path, lambda: traced.delete([f"{kind}/second"]))
    assert any(p.startswith("dispatcher-swap") for p in points), points
    for number, point in enumerate(points):
        _remove_second(freeze, tmp_path / f"{number}.db", point, first, second)


def _remove_second(freeze, db, point, first, second) -> None:
    kind = first["kind"]
    with _at(point):
        kernel = _kernel()
        _session(kernel, db).apply([first, second])
        freeze(point, lambda: _session(kernel, db).delete([f"{kind}/second"]))
        nxt = _session(kernel, db)
        nxt.status()
        states = check(nxt)
        assert states.get(f"{kind}/first") == "Loaded", states
        nxt.delete([f"{kind}/second"])
        assert check(nxt) == {f"{kind}/first": "Loaded"}
        nxt.delete([f"{kind}/first"])
        assert check(nxt) == {}
