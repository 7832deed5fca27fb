"""The kernel's tables through NativeBackend, compared with bpftool's."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from _testbed import PERF_LINK_INFO, requires

from bpftui.core.backend import LinkRecord, LoadedProgram, LoadSpec
from bpftui.native.backend import NativeBackend
from bpftui.native.probes import NEEDS

pytestmark = pytest.mark.kernel


@dataclass
class Traced:
    backend: NativeBackend
    program: LoadedProgram
    link: LinkRecord


@pytest.fixture
def traced(bpffs_root: str, bpf_objects: dict[str, Path]) -> Iterator[Traced]:
    """A tracepoint program, loaded and attached, taken down afterwards."""
    requires("tracepoints")
    backend = NativeBackend(bpffs_root=bpffs_root)
    spec = LoadSpec(
        object_path=str(bpf_objects["tracepoint"]),
        function="tp_getpid",
        prog_type="tracepoint",
        pin_path=f"{bpffs_root}/prog",
        map_pin_dir=f"{bpffs_root}/maps",
    )
    program = backend.load(spec)
    link = backend.attach_tracepoint(
        program, "syscalls", "sys_enter_getpid", link_pin=f"{bpffs_root}/link"
    )
    yield Traced(backend, program, link)
    backend.detach(link)
    backend.unload(program)
    backend.close()


def _bpftool(*args: str) -> object:
    if shutil.which("bpftool") is None:
        pytest.skip("bpftool is not installed")
    done = subprocess.run(
        ["bpftool", "-j", *args], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def test_programs_agree_with_bpftool(traced: Traced) -> None:
    backend, program = traced.backend, traced.program
    ours = {p.id: p for p in backend.programs()}[program.id]
    theirs = next(p for p in _bpftool("prog", "show") if p["id"] == program.id)  # type: ignore[attr-defined]
    assert ours.prog_type == theirs["type"] == "tracepoint"
    assert ours.tag == theirs["tag"]
    assert set(ours.map_ids) == set(theirs["map_ids"])
    assert ours.name == "tp_getpid"
    assert ours.loaded_at is not None and abs(ours.loaded_at - theirs["loaded_at"]) < 2


def test_links_name_their_attach_point(traced: Traced) -> None:
    backend, program, link = traced.backend, traced.program, traced.link
    row = {row.id: row for row in backend.links()}[link.id]
    assert (row.link_type, row.prog_id) == ("perf_event", program.id)
    if PERF_LINK_INFO:
        assert row.attach_point == "tracepoint:syscalls/sys_enter_getpid"
    else:
        assert row.attach_point == ""
    assert row.pinned == (link.pin_path,)


def test_maps_and_entries(traced: Traced) -> None:
    backend, program = traced.backend, traced.program
    rows = {m.id: m for m in backend.maps()}
    counter = rows[program.map_ids["getpid_count"]]
    assert (counter.map_type, counter.key_size, counter.value_size) == ("array", 4, 8)
    assert counter.pinned == (program.map_pins["getpid_count"],)
    os.getpid()
    ((key, value),) = backend.map_entries(counter.id)
    assert key == bytes(4) and int.from_bytes(value, "little") >= 1
    assert backend.map_entries(counter.id, limit=0) == []


def test_stats_count_runs(traced: Traced) -> None:
    backend, program = traced.backend, traced.program
    requires("bpf-stats")
    backend.set_stats(True)
    try:
        for _ in range(10):
            os.getpid()
        row = {p.id: p for p in backend.programs()}[program.id]
        assert row.run_cnt is not None and row.run_cnt >= 10
    finally:
        backend.set_stats(False)


def test_features_cover_every_capability() -> None:
    found = NativeBackend().features()
    assert [f.name for f in found if f.name not in NEEDS] == []
    assert {f.name for f in found} == set(NEEDS)
    for feature in found:
        assert feature.detail, f"{feature.name}: no detail"
        if not feature.available:
            assert feature.needs, f"{feature.name}: missing but needs nothing"


def test_programs_name_the_processes_holding_them(traced: Traced) -> None:
    """A process with the program open is its holder (bpftool's ``pids``,
    which this machine's bpftool, built without its pid iterator, lacks)."""
    program = traced.program
    code = (
        "import sys; from bpftui.native.info import obj_get;"
        f"fd = obj_get({program.pin_path!r}, 'program');"
        "print('held', flush=True); sys.stdin.read()"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "held\n"
        row = {p.id: p for p in traced.backend.programs()}[program.id]
        with open(f"/proc/{child.pid}/comm") as comm:
            assert f"{comm.read().strip()}({child.pid})" in row.holders, row.holders
    finally:
        child.communicate("")
    row = {p.id: p for p in traced.backend.programs()}[program.id]
    assert not any(who.endswith(f"({child.pid})") for who in row.holders)
    assert not any(who.endswith(f"({os.getpid()})") for who in row.holders)
