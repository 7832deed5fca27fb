"""Hostile input to ``bpftui apply`` on a node that already runs a program:
each is refused with a clear message and exit status 1, in bounded time and
memory, and the running program is not touched.

The commands run as child processes under ``RLIMIT_AS`` and a timeout
(tests/_hostile.py). YAML that attacks the reader is refused before the
node is opened, so the state store must not change at all; an object whose
bytecode is damaged, missing or writable by anyone is recorded NotLoaded
with the reason, and deleting it leaves the node as it was.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _hostile import TIME_LIMIT, YAML_CASES, elf_cases, limits
from _nodebed import Bed, check_node, program_yaml, tracepoint_yaml

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

# Every case is refused in tests/unit/test_hostile_input.py; these show
# that a refusal leaves a running node alone.
YAML_KINDS = (
    "alias bomb",
    "huge file",
    "deep flow nesting",
    "invalid UTF-8",
    "unknown kind",
    "path traversal name",
    "integer of 100000 digits",
)
ELF_KINDS = ("truncated in the middle", "absurd section size", "not BPF")


@pytest.fixture
def bed(bpffs_root, bpf_objects) -> Iterator[Bed]:
    with tempfile.TemporaryDirectory(prefix="bpftui-hostile-") as workdir:
        made = Bed(Path(workdir), bpffs_root)
        good = made.write("good", tracepoint_yaml(made, "good", bpf_objects["crash"]))
        assert made.run("apply", "-f", str(good)).code == 0
        try:
            yield made
        finally:
            made.cleanup()


def _apply(bed: Bed, path: Path) -> tuple[int, str, float]:
    started = time.monotonic()
    done = bed.spawn("apply", "-f", str(path), timeout=TIME_LIMIT, preexec_fn=limits)
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


def _snapshot(bed: Bed) -> tuple[dict[str, str], list[tuple[str, str]], int]:
    """What must not change: states, stored objects, the good program's id."""
    states = check_node(bed)
    with bed.session() as session:
        stored = [(s.ref, s.digest) for s in session.store.objects()]
        (good,) = session.store.attachments("TracepointProgram", "good")
    return states, stored, good.program.id


def _clear(code: int, output: str) -> None:
    assert code == 1, output
    assert "Traceback" not in output and "internal error" not in output, output
    assert "bpftui: " in output or "NotLoaded" in output, output


def test_hostile_yaml_changes_nothing(bed, tmp_path):
    before = _snapshot(bed)
    slowest = 0.0
    for case in YAML_KINDS:
        data, expected = YAML_CASES[case]
        path = tmp_path / "hostile.yaml"
        path.write_bytes(data)
        code, output, seconds = _apply(bed, path)
        _clear(code, output)
        assert expected in output, f"{case}: {output}"
        assert _snapshot(bed) == before, case
        slowest = max(slowest, seconds)
    _still_counts(bed)
    print(f"{len(YAML_KINDS)} hostile files refused, the slowest in {slowest:.1f} s")


def _bad_bytecode(workdir: Path, seed: bytes) -> dict[str, tuple[str, str]]:
    """Case -> (bytecode path, what the message must say)."""
    cases = {}
    for case, data in elf_cases(seed).items():
        if case not in ELF_KINDS:
            continue
        path = workdir / f"{case.replace(' ', '-')}.o"
        path.write_bytes(data)
        cases[f"ELF: {case}"] = (str(path), str(path))
    writable = workdir / "writable.o"
    writable.write_bytes(seed)
    writable.chmod(0o666)
    cases["writable by anyone"] = (str(writable), "writable by every user")
    link = workdir / "link-to-writable.o"
    link.symlink_to(writable)
    cases["symlink to a file writable by anyone"] = (str(link), "writable by every")
    open_dir = workdir / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)  # no sticky bit: anyone may replace what is inside
    (open_dir / "crash.o").write_bytes(seed)
    cases["in a directory writable by anyone"] = (
        str(open_dir / "crash.o"),
        f"its directory {open_dir} is writable by every user",
    )
    cases["a directory"] = (str(workdir), "not a regular file")
    cases["a device"] = ("/dev/zero", "not a regular file")
    cases["missing"] = (str(workdir / "missing.o"), "No such file")
    return cases


def test_bad_bytecode_is_not_loaded_and_leaves_the_rest_alone(
    bed, bpf_objects, tmp_path
):
    before = _snapshot(bed)
    seed = bpf_objects["crash"].read_bytes()
    for case, (bytecode, expected) in _bad_bytecode(tmp_path, seed).items():
        path = tmp_path / "bad.yaml"
        path.write_text(
            program_yaml(
                "TracepointProgram",
                "bad",
                "bt_crash_tp",
                bytecode,
                "  names: [syscalls/sys_enter_getppid]\n",
            )
        )
        code, output, _ = _apply(bed, path)
        _clear(code, output)
        assert expected in output, f"{case}: {output}"
        states = check_node(bed)
        assert states["TracepointProgram/good"] == "Loaded", case
        assert states.get("TracepointProgram/bad") in (None, "NotLoaded"), case
        assert bed.run("delete", "tracepoint/bad").code in (0, 1)
        assert _snapshot(bed) == before, case
    _still_counts(bed)


def test_a_function_the_object_lacks_is_not_loaded(bed, bpf_objects, tmp_path):
    before = _snapshot(bed)
    path = tmp_path / "nofunc.yaml"
    path.write_text(
        program_yaml(
            "TracepointProgram",
            "nofunc",
            "no_such_function",
            bpf_objects["crash"],
            "  names: [syscalls/sys_enter_getppid]\n",
        )
    )
    code, output, _ = _apply(bed, path)
    _clear(code, output)
    assert "no such function" in output and "bt_crash_tp" in output, output
    assert bed.run("delete", "tracepoint/nofunc").code == 0
    assert _snapshot(bed) == before


def _still_counts(bed: Bed) -> None:
    """The good program still runs: it counts getppid() calls."""
    key = (2).to_bytes(4, "little")
    with bed.session() as session:
        (good,) = session.store.attachments("TracepointProgram", "good")
        map_id = good.program.map_ids["bt_crash_hits"]
        first = int.from_bytes(dict(session.map_entries(map_id))[key], "little")
        for _ in range(5):
            os.getppid()
        second = int.from_bytes(dict(session.map_entries(map_id))[key], "little")
    assert second >= first + 5
