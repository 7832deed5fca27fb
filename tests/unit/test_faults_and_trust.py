"""The fault-injection hook, files bpftui refuses to trust, and readers that
leave recovery to a live lock holder."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bpftui.core import api, faults
from bpftui.core.config import load_config
from bpftui.core.errors import InputError, PermissionProblem
from bpftui.core.loader import resolve_bytecode_file
from bpftui.core.state import StateLock, StateStore
from bpftui.core.trust import untrusted_reason

# ---------------------------------------------------------------- faults


def _child(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


STEPS = "from bpftui.core.faults import checkpoint as c\nfor s in {steps!r}:\n"
STEPS += "    c(s)\n    print(s, flush=True)\n"


def test_a_process_dies_by_sigkill_right_after_the_named_step():
    code = STEPS.format(steps=["load", "pin", "load", "attach"])
    done = _child(code, BPFTUI_FAULT="load:2")
    assert done.returncode == -9
    assert done.stdout.split() == ["load", "pin"]


def test_without_a_count_the_first_pass_is_fatal():
    done = _child(STEPS.format(steps=["pin", "pin"]), BPFTUI_FAULT="pin")
    assert done.returncode == -9 and done.stdout == ""


def test_the_trace_names_every_step_in_order(tmp_path):
    trace = tmp_path / "trace"
    code = STEPS.format(steps=["lock", "load", "load", "unlock"])
    done = _child(code, BPFTUI_FAULT_TRACE=str(trace))
    assert done.returncode == 0
    lines = [line.split() for line in trace.read_text().splitlines()]
    assert [(step, int(n)) for _, step, n, _ in lines] == [
        ("lock", 1),
        ("load", 1),
        ("load", 2),
        ("unlock", 1),
    ]
    assert {int(pid) for pid, *_ in lines} == {int(lines[0][0])}


def test_without_the_environment_checkpoints_do_nothing(monkeypatch):
    monkeypatch.delenv(faults.FAULT_ENV, raising=False)
    monkeypatch.delenv(faults.TRACE_ENV, raising=False)
    monkeypatch.setattr(faults, "on_fault", lambda: pytest.fail("fired"))
    faults.reset()
    for step in sorted(faults.STEPS):
        faults.checkpoint(step)
    faults.reset()


def test_every_checkpoint_in_the_code_is_a_documented_step():
    root = Path(faults.__file__).resolve().parents[1]
    used = set()
    for path in root.rglob("*.py"):
        text = path.read_text()
        for piece in text.split('checkpoint("')[1:]:
            used.add(piece.split('"', 1)[0])
    assert used and used <= faults.STEPS, used - faults.STEPS
    for step in faults.STEPS:
        assert f"``{step}``" in faults.__doc__, step


# ---------------------------------------------------------------- trust


def _object(path: str) -> api.Program:
    return api.from_dict(
        {
            "apiVersion": "bpfman.io/v1alpha1",
            "kind": "TracepointProgram",
            "metadata": {"name": "t"},
            "spec": {
                "bpffunctionname": "f",
                "nodeselector": {},
                "names": ["a/b"],
                "bytecode": {"path": path},
            },
        }
    )


@pytest.fixture
def private(tmp_path):
    tmp_path.chmod(0o700)
    return tmp_path


def test_a_private_file_is_trusted(private):
    good = private / "ok.o"
    good.write_bytes(b"x")
    assert untrusted_reason(str(good)) is None
    assert resolve_bytecode_file(_object(str(good))) == str(good)


def test_a_file_anyone_may_write_is_refused(private):
    bad = private / "bad.o"
    bad.write_bytes(b"x")
    bad.chmod(0o666)
    with pytest.raises(InputError, match="writable by every user") as caught:
        resolve_bytecode_file(_object(str(bad)))
    assert f"chmod o-w {bad}" in str(caught.value)
    link = private / "link.o"
    link.symlink_to(bad)
    with pytest.raises(InputError, match="writable by every user"):
        resolve_bytecode_file(_object(str(link)))


def test_a_directory_anyone_may_write_to_is_refused_unless_sticky(private):
    shared = private / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    inside = shared / "x.o"
    inside.write_bytes(b"x")
    with pytest.raises(InputError, match=f"its directory {shared} is writable"):
        resolve_bytecode_file(_object(str(inside)))
    shared.chmod(0o1777)  # like /tmp: others cannot replace the file
    assert resolve_bytecode_file(_object(str(inside))) == str(inside)


def test_a_symlinked_directory_is_judged_where_it_leads(private):
    shared = private / "shared"
    shared.mkdir()
    (shared / "x.o").write_bytes(b"x")
    shared.chmod(0o777)
    alias = private / "alias"
    alias.symlink_to(shared)
    assert "writable by every user" in (untrusted_reason(str(alias / "x.o")) or "")


def test_a_config_anyone_may_write_is_refused(private):
    config = private / "bpftui.toml"
    config.write_text('[node]\nname = "n"\n')
    config.chmod(0o600)
    assert load_config(str(config)).node_name == "n"
    config.chmod(0o666)
    with pytest.raises(PermissionProblem, match="writable by every user"):
        load_config(str(config))
    config.chmod(0o600)
    private.chmod(0o777)
    try:
        with pytest.raises(PermissionProblem, match="its directory"):
            load_config(str(config))
    finally:
        private.chmod(0o700)


# ---------------------------------------------------------------- recovery


def test_a_reader_leaves_recovery_to_a_live_lock_holder(tmp_path):
    """status() must not roll back the work of a process that is alive and
    holds the lock: it neither waits nor touches the intent."""
    from test_crash_demo import _kernel, _session

    store = StateStore.open(str(tmp_path / "state"))
    key = ("TracepointProgram", "t", "a/b")
    intent = store.begin("attach", key, {"pin_dir": "/x"})
    store.close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\n"
            "time.sleep(60)\n",
            str(tmp_path / "state" / "lock"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        session = _session(_kernel(), tmp_path / "state" / "state.db")
        session.store.lock = StateLock(str(tmp_path / "state" / "lock"))
        started = time.monotonic()
        session.status()
        assert time.monotonic() - started < 5
        assert [i.id for i in session.store.pending()] == [intent]
    finally:
        holder.kill()
        holder.wait()
    session.status()  # the holder is gone: now it is recovered
    assert session.store.pending() == []


# ---------------------------------------------------------------- pin paths


@pytest.mark.parametrize(
    "name", ["../../etc", "..", "a/b", "/etc", "UPPER", "a..b", "", "x\x00y"]
)
def test_an_object_name_that_is_not_a_plain_name_never_becomes_a_path(name):
    from bpftui.core.loader import PinLayout

    with pytest.raises(InputError, match="cannot be used in a pin path"):
        PinLayout("/sys/fs/bpf/bpftui").object_dir("XdpProgram", name)


@given(st.text(max_size=300))
def test_any_attach_point_is_one_path_component_under_the_root(value):
    from bpftui.core.loader import PinLayout, point_component
    from bpftui.core.node import AttachPoint

    point = AttachPoint("tracepoint", value)
    component = point_component(point)
    assert "/" not in component and "\x00" not in component
    assert component not in ("", ".", "..") and len(component) <= 111
    root = "/sys/fs/bpf/bpftui"
    path = PinLayout(root).point_dir("TracepointProgram", "t", point)
    assert os.path.normpath(path) == path and path.startswith(root + "/")


def test_attach_points_that_read_alike_get_distinct_directories():
    from bpftui.core.loader import point_component
    from bpftui.core.node import AttachPoint

    values = ["a/b_c", "a_b/c", "a-b-c", "A/B/C", "/usr/lib/a_b", "/usr/lib/a/b"]
    components = {point_component(AttachPoint("target", v)) for v in values}
    assert len(components) == len(values)
