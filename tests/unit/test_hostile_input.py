"""Hostile input: a clear message and a non-zero exit, in bounded time and
memory, never a traceback.

The command line runs as a child process under an address-space limit
(``RLIMIT_AS``) and a timeout, fed YAML bombs, huge and deeply nested
files, wrong types in every field, unknown kinds, invalid UTF-8, names that
are path traversals, and damaged ELF objects. Hypothesis then fuzzes what
the other fuzz tests leave out: alias graphs in YAML, the ELF section table
field by field, and the object BTF reader (``bpftui.native.btf``). Fuzzing
of the YAML reader and validator on arbitrary text and trees lives in
test_properties.py, of the ELF inspector on flipped bytes in
test_native_elf.py, of the kernel BTF reader in test_btf_fuzz.py.

The same inputs against a node with a program already loaded are in
tests/kernel/test_hostile_kernel.py.
"""

from __future__ import annotations

import copy
import os
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from _hostile import (
    EXTREMES,
    HEADER_FIELDS,
    OBJECT,
    SECTION_FIELDS,
    TIME_LIMIT,
    YAML_CASES,
    bomb,
    elf_cases,
    limits,
    poke,
    section_header,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpftui.core import rules, yaml_io
from bpftui.core.errors import ElfError, InputError
from bpftui.native.btf import Btf, BtfError
from bpftui.native.elf import inspect_bytes

SAMPLES = sorted((Path(__file__).parents[1] / "data/crds/samples").glob("*.yaml"))


# ---------------------------------------------------------------- running


def bpftui(*args: str, stdin: bytes | None = None) -> tuple[int, str, float]:
    """Run bpftui as a bounded child; return exit status, output, seconds."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "bpftui", *args],
        input=stdin,
        capture_output=True,
        timeout=TIME_LIMIT,
        preexec_fn=limits,
        check=False,
    )
    output = (done.stdout + done.stderr).decode("utf-8", "replace")
    return done.returncode, output, time.monotonic() - started


def assert_refused(code: int, output: str, *expected: str) -> None:
    """A non-zero exit with a clear message, not a crash."""
    assert code == 1, output[-2000:]
    assert "Traceback" not in output and "internal error" not in output, output
    assert "MemoryError" not in output, output
    for text in expected:
        assert text in output, output[-2000:]


# ---------------------------------------------------------------- YAML


@pytest.mark.parametrize("case", sorted(YAML_CASES))
def test_validate_refuses_hostile_yaml(case, tmp_path):
    data, expected = YAML_CASES[case]
    path = tmp_path / "hostile.yaml"
    path.write_bytes(data)
    code, output, seconds = bpftui("validate", "-f", str(path))
    assert_refused(code, output, expected)
    assert seconds < TIME_LIMIT


@pytest.mark.parametrize("case", ["alias bomb", "huge file", "invalid UTF-8"])
def test_apply_refuses_hostile_yaml_on_stdin(case):
    data, expected = YAML_CASES[case]
    code, output, _ = bpftui("--demo", "apply", "-f", "-", stdin=data)
    assert_refused(code, output, expected)


def test_a_fifo_is_read_like_a_pipe(tmp_path):
    """``-f <(command)`` gives a pipe: read it, do not refuse it."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    child = subprocess.Popen(
        [sys.executable, "-m", "bpftui", "validate", "-f", str(fifo)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    with open(fifo, "wb") as writer:
        writer.write(bomb().encode())
    output = child.communicate(timeout=TIME_LIMIT)[0].decode()
    assert_refused(child.returncode, output, "aliases expand")


# ---------------------------------------------------------------- fields


def _paths(tree: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into a tree: mappings by key, lists by index."""
    if prefix:
        yield prefix
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            yield from _paths(value, (*prefix, index))


def _replaced(tree: Any, path: tuple[Any, ...], value: Any) -> Any:
    changed = copy.deepcopy(tree)
    parent = changed
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return changed


WRONG = [
    None,
    True,
    -1,
    2**70,
    1.5,
    float("nan"),
    "",
    "x" * 10_000,
    "../../etc",
    [],
    [[[[[]]]]],
    {},
    {"nested": {"deeper": [1, {"x": None}]}},
]


def _every_wrong_field() -> Iterator[tuple[str, Any]]:
    for sample in SAMPLES:
        tree = yaml.safe_load(sample.read_text())
        for path in _paths(tree):
            for value in WRONG:
                yield sample.stem, _replaced(tree, path, value)


def test_wrong_types_in_every_field_get_problems_not_exceptions():
    """Every field of every sample object, replaced by each wrong value:
    the validator answers with problems, and an object it passes builds."""
    from bpftui.core import api

    checked = 0
    started = time.monotonic()
    for _, tree in _every_wrong_field():
        problems = rules.check(tree)
        assert all(isinstance(p, rules.Problem) and p.message for p in problems)
        if not rules.errors(problems):
            api.from_dict(tree)
        checked += 1
    assert checked > 1000
    assert time.monotonic() - started < 60


def test_a_wrong_type_is_refused_by_the_command_with_its_line(tmp_path):
    tree = yaml.safe_load(OBJECT % "x")
    tree["spec"]["names"] = {"not": "a list"}
    path = tmp_path / "wrong.yaml"
    path.write_text(yaml.safe_dump(tree, sort_keys=False))
    code, output, _ = bpftui("validate", "-f", str(path))
    assert_refused(code, output, "spec.names", "wrong.yaml:")


# ---------------------------------------------------------------- ELF


@pytest.fixture(scope="module")
def elf_seed(bpf_objects: dict[str, Path]) -> bytes:
    return bpf_objects["crash"].read_bytes()


def test_inspect_refuses_damaged_objects(elf_seed, tmp_path):
    for case, data in elf_cases(elf_seed).items():
        path = tmp_path / f"{case.replace(' ', '-')}.o"
        path.write_bytes(data)
        code, output, seconds = bpftui("inspect", str(path))
        assert code == 1, f"{case}: {output}"
        assert_refused(code, output, str(path))
        assert seconds < TIME_LIMIT, case


def test_inspect_refuses_a_huge_file_unread(tmp_path):
    path = tmp_path / "huge.o"
    with open(path, "wb") as stream:
        stream.truncate(4 << 30)  # sparse: 4 GiB that take no disk
    code, output, seconds = bpftui("inspect", str(path))
    assert_refused(code, output, "larger than any plausible one")
    assert seconds < 10


def test_inspect_of_a_directory_or_a_missing_file(tmp_path):
    for target in (tmp_path, tmp_path / "missing.o"):
        code, output, _ = bpftui("inspect", str(target))
        assert_refused(code, output, str(target))


FUZZ = settings(
    max_examples=200,
    deadline=timedelta(seconds=2),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(data=st.data())
def test_fuzz_section_table_fields(elf_seed, data):
    """Any section header field, or several, set to any extreme value."""
    (shnum,) = struct.unpack_from("<H", elf_seed, 0x3C)
    blob = elf_seed
    for _ in range(data.draw(st.integers(1, 4))):
        if data.draw(st.booleans()):
            offset, fmt = HEADER_FIELDS[
                data.draw(st.sampled_from(sorted(HEADER_FIELDS)))
            ]
        else:
            index = data.draw(st.integers(0, shnum - 1))
            name = data.draw(st.sampled_from(sorted(SECTION_FIELDS)))
            field_offset, fmt = SECTION_FIELDS[name]
            offset = section_header(elf_seed, index) + field_offset
        value = data.draw(st.sampled_from(EXTREMES) | st.integers(0, 2**64 - 1))
        blob = poke(blob, offset, fmt, value)
    _inspect_cleanly(blob)


def _inspect_cleanly(blob: bytes) -> None:
    try:
        inspect_bytes(blob, "fuzz.o")
    except ElfError as err:
        assert str(err).startswith("fuzz.o: ")


# ---------------------------------------------------------------- object BTF


@pytest.fixture(scope="module")
def btf_seed(bpf_objects: dict[str, Path]) -> bytes:
    from elftools.elf.elffile import ELFFile

    with open(bpf_objects["globals"], "rb") as stream:
        return ELFFile(stream).get_section_by_name(".BTF").data()


def _walk(data: bytes) -> None:
    """Read a .BTF section and ask it everything the inspector asks."""
    try:
        btf = Btf(data)
    except BtfError:
        return
    for type_id in range(len(btf.types) + 2):
        for ask in (btf.type_name, btf.size_of, btf.array_length, btf.pointee):
            _clean(ask, type_id)
    for name in btf.datasec_names():
        _clean(btf.datasec, name)


def _clean(ask: Callable[[Any], Any], arg: Any) -> None:
    try:
        ask(arg)
    except BtfError as err:
        assert str(err)


WORDS = st.sampled_from([0, 1, 2, 0xFFFF, 0x7FFF_FFFF, 0xFFFF_FFFF]) | st.integers(
    0, 2**32 - 1
)


@FUZZ
@given(data=st.data())
def test_fuzz_object_btf_words(btf_seed, data):
    blob = bytearray(btf_seed)
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(blob) - 4)) & ~3
        blob[at : at + 4] = data.draw(WORDS).to_bytes(4, "little")
    _walk(bytes(blob))


@FUZZ
@given(length=st.integers(0, 4096), junk=st.binary(max_size=64))
def test_fuzz_object_btf_truncated_or_extended(btf_seed, length, junk):
    _walk(btf_seed[:length] + junk)


# ---------------------------------------------------------------- alias graphs


@st.composite
def alias_graphs(draw: st.DrawFn) -> str:
    """YAML whose nodes reuse each other through anchors and aliases."""
    lines = []
    for index in range(draw(st.integers(1, 12))):
        width = draw(st.integers(0, 12))
        refs = (
            [f"*n{draw(st.integers(0, index))}" for _ in range(width)] if index else []
        )
        style = draw(st.sampled_from(["list", "map", "merge"]))
        if style == "list" or not refs:
            body = "[" + ", ".join([*refs, "1"]) + "]"
        elif style == "map":
            body = "{" + ", ".join(f"k{i}: {r}" for i, r in enumerate(refs)) + "}"
        else:
            body = "{<<: [" + ", ".join(refs) + "], z: 1}"
        lines.append(f"n{index}: &n{index} {body}")
    return "\n".join(lines) + "\n"


@settings(max_examples=150, deadline=timedelta(seconds=3))
@given(alias_graphs())
def test_fuzz_alias_graphs_read_quickly_or_are_refused(text):
    try:
        documents = yaml_io.read_text(text, "aliases.yaml")
    except InputError as err:
        assert str(err).startswith("aliases.yaml")
        return
    for doc in documents:
        doc.check()
