"""The state store and its lock: records, intents, files, other processes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from bpftui.core import api
from bpftui.core.backend import LinkRecord, LoadedProgram
from bpftui.core.errors import StateError
from bpftui.core.state import Attachment, StateLock, StateStore

DOC = {
    "apiVersion": "bpfman.io/v1alpha1",
    "kind": "TracepointProgram",
    "metadata": {"name": "opens"},
    "spec": {
        "bpffunctionname": "f",
        "names": ["a/b"],
        "nodeselector": {},
        "bytecode": {"path": "/opt/f.o"},
    },
}


def _attachment(**over):
    base = {
        "kind": "TracepointProgram",
        "name": "opens",
        "attach_point": "syscalls/sys_enter_openat",
        "bpfprogram": "opens-node-syscalls-sys-enter-openat",
        "prog_type": "tracepoint",
        "condition": api.BpfProgramConditionType.LOADED.condition(
            "2026-01-01T00:00:00Z"
        ),
        "digest": "d1",
        "program": LoadedProgram(
            7, "f", "tracepoint", "ab", "/b/prog", {"m": "/b/maps/m"}, {"m": 3}
        ),
        "links": (LinkRecord("tracepoint", "syscalls/sys_enter_openat", 7, 2, "/b/l"),),
        "pin_dir": "/b",
        "maps_dir": "/b/maps",
        "detail": {"hook": {"ifindex": 2}},
    }
    base.update(over)
    return Attachment(**base)


@pytest.fixture
def store(tmp_path):
    opened = StateStore.open(str(tmp_path / "state"))
    yield opened
    opened.close()


def test_directory_and_files_are_private(tmp_path, store):
    state_dir = tmp_path / "state"
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((state_dir / "state.db").stat().st_mode) == 0o600
    store.put_object("TracepointProgram", "opens", DOC, "d1", 1.0)
    for name in os.listdir(state_dir):
        mode = stat.S_IMODE((state_dir / name).stat().st_mode)
        assert mode & 0o077 == 0, name


def test_an_existing_open_directory_is_closed_down(tmp_path):
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o755)
    StateStore.open(str(state_dir)).close()
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700


def test_objects_keep_their_tree_and_count_generations(store):
    first = store.put_object("TracepointProgram", "opens", DOC, "d1", 1.0)
    same = store.put_object("TracepointProgram", "opens", DOC, "d1", 2.0)
    changed = store.put_object("TracepointProgram", "opens", DOC, "d2", 3.0)
    assert (first.generation, same.generation, changed.generation) == (1, 1, 2)
    assert changed.doc == DOC
    assert changed.applied_at == 3.0
    assert changed.program().metadata.name == "opens"
    assert [o.ref for o in store.objects()] == ["TracepointProgram/opens"]


def test_deleting_marks_and_removing_forgets_attachments(store):
    store.put_object("TracepointProgram", "opens", DOC, "d1", 1.0)
    store.put_attachment(_attachment())
    store.set_deleting("TracepointProgram", "opens", "detach failed")
    found = store.get_object("TracepointProgram", "opens")
    assert found.deleting and found.delete_error == "detach failed"
    store.remove_object("TracepointProgram", "opens")
    assert store.get_object("TracepointProgram", "opens") is None
    assert store.attachments() == []


def test_attachments_round_trip(store):
    original = _attachment()
    store.put_attachment(original)
    (back,) = store.attachments("TracepointProgram", "opens")
    assert back == original
    assert back.condition_type is api.BpfProgramConditionType.LOADED
    store.put_attachment(_attachment(digest="d2"))
    assert [a.digest for a in store.attachments()] == ["d2"]
    store.remove_attachment("TracepointProgram", "opens", "syscalls/sys_enter_openat")
    assert store.attachments() == []


def test_an_intent_lives_until_its_outcome_is_recorded(store):
    key = ("TracepointProgram", "opens", "syscalls/sys_enter_openat")
    intent = store.begin("attach", key, {"pin_dir": "/b"})
    store.record_step(intent, {"loaded": {"id": 7}})
    store.record_step(intent, {"attached": {"id": 2}})
    (pending,) = store.pending()
    assert pending.op == "attach"
    assert pending.pid == os.getpid()
    assert pending.planned == {"pin_dir": "/b"}
    assert pending.steps == ({"loaded": {"id": 7}}, {"attached": {"id": 2}})
    store.finish(intent, put=_attachment())
    assert store.pending() == []
    assert len(store.attachments()) == 1


def test_a_failed_transaction_changes_nothing(store):
    with pytest.raises(RuntimeError), store.transaction() as db:
        db.execute(
            "INSERT INTO intents (op, kind, name, attach_point, planned, steps, pid,"
            " started) VALUES ('attach', 'k', 'n', 'p', '{}', '[]', 1, 0)"
        )
        raise RuntimeError("boom")
    assert store.pending() == []


def test_a_second_process_sees_the_same_state(tmp_path, store):
    store.put_object("TracepointProgram", "opens", DOC, "d1", 1.0)
    store.put_attachment(_attachment())
    script = textwrap.dedent(
        f"""
        from bpftui.core.state import StateStore
        s = StateStore.open({str(tmp_path / "state")!r})
        print(len(s.objects()), s.attachments()[0].program.id)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["1", "7"]


def test_changed_notices_another_connections_commit(tmp_path, store):
    other = StateStore.open(str(tmp_path / "state"))
    try:
        assert store.changed() is False
        other.put_object("TracepointProgram", "opens", DOC, "d1", 1.0)
        assert store.changed() is True
        assert store.changed() is False
    finally:
        other.close()


def test_a_corrupt_database_is_a_clear_error(tmp_path):
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / "state.db").write_bytes(b"not a database at all" * 100)
    with pytest.raises(StateError, match="cannot open"):
        StateStore.open(str(state_dir))


def test_in_memory_store_works_without_files():
    store = StateStore.in_memory()
    store.put_object("TracepointProgram", "opens", DOC, "d1", 1.0)
    with store.lock.hold(), store.lock.hold():  # re-entrant
        assert len(store.objects()) == 1


# ---------------------------------------------------------------- the lock

HOLDER = """
import sys, time
from bpftui.core.state import StateLock
lock = StateLock(sys.argv[1])
with lock.hold("apply XdpProgram/edge"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _hold_in_child(path, seconds):
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, path, str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline().strip() == "held"
    return child


def test_the_lock_names_its_holder_on_timeout(tmp_path):
    path = str(tmp_path / "lock")
    child = _hold_in_child(path, 30)
    try:
        lock = StateLock(path, timeout=0.3)
        assert lock.holder() == f"{child.pid} apply XdpProgram/edge"
        started = time.monotonic()
        with (
            pytest.raises(StateError, match=f"held by pid {child.pid} \\(apply"),
            lock.hold(),
        ):
            pass
        assert time.monotonic() - started < 5
    finally:
        child.kill()
        child.wait()


def test_the_lock_serialises_processes(tmp_path):
    path = str(tmp_path / "lock")
    child = _hold_in_child(path, 0.5)
    try:
        started = time.monotonic()
        with StateLock(path, timeout=10).hold():
            waited = time.monotonic() - started
        assert waited > 0.2
        assert StateLock(path).holder() is None
    finally:
        child.kill()
        child.wait()


def test_the_lock_is_shared_by_threads_of_one_process(tmp_path):
    path = str(tmp_path / "lock")
    order = []
    first = StateLock(path)
    second = StateLock(path)

    def worker():
        with second.hold():
            order.append("worker")

    with first.hold():
        thread = threading.Thread(target=worker)
        thread.start()
        time.sleep(0.2)
        order.append("main")
    thread.join(5)
    assert order == ["main", "worker"]
