"""Reading BPF ELF objects: the compiled test programs, hostile files, fuzz."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpftui.core.errors import ElfError
from bpftui.native import elf
from bpftui.native.elf import inspect_bytes, inspect_object, section_program_type

# ----------------------------------------------------------- real objects


def test_programs_with_section_type_and_size(bpf_objects: dict[str, Path]) -> None:
    spec = inspect_object(bpf_objects["tc"])
    assert [(p.name, p.section, p.prog_type, p.kernel_type) for p in spec.programs] == [
        ("tc_pass", "tc", "tc", "sched_cls"),
        ("tc_drop", "tc", "tc", "sched_cls"),
    ]
    first, second = spec.programs
    assert first.offset == 0 and second.offset == first.insn_count * 8
    assert all(p.insn_count > 5 for p in spec.programs)


def test_attach_targets_and_return_probes(bpf_objects: dict[str, Path]) -> None:
    tracepoint = inspect_object(bpf_objects["tracepoint"]).programs[0]
    assert tracepoint.attach_to == "syscalls/sys_enter_getpid"
    kprobes = inspect_object(bpf_objects["kprobe"]).programs
    assert [(p.prog_type, p.retprobe, p.attach_to) for p in kprobes] == [
        ("kprobe", False, "do_sys_openat2"),
        ("kprobe", True, "do_sys_openat2"),
    ]
    uprobes = inspect_object(bpf_objects["uprobe"]).programs
    assert [(p.prog_type, p.retprobe) for p in uprobes] == [
        ("uprobe", False),
        ("uprobe", True),
    ]
    fentry = inspect_object(bpf_objects["fentry"]).programs
    assert [p.prog_type for p in fentry] == ["fentry", "fexit"]


def test_btf_defined_map(bpf_objects: dict[str, Path]) -> None:
    (counter,) = inspect_object(bpf_objects["xdp_pass"]).maps
    assert counter == elf.MapSpec(
        name="xdp_pass_count",
        map_type="array",
        key_size=4,
        value_size=8,
        max_entries=1,
        key_type="__u32",
        value_type="__u64",
    )


def test_legacy_maps_section(bpf_objects: dict[str, Path]) -> None:
    (legacy,) = inspect_object(bpf_objects["legacy_maps"]).maps
    assert (legacy.name, legacy.section, legacy.map_type) == (
        "legacy_hash",
        "maps",
        "hash",
    )
    assert (legacy.key_size, legacy.value_size, legacy.max_entries) == (4, 8, 128)


def test_globals_and_their_data_maps(bpf_objects: dict[str, Path]) -> None:
    spec = inspect_object(bpf_objects["globals"])
    found = {g.name: (g.section, g.offset, g.size, g.type_name) for g in spec.globals}
    assert found == {
        "verdict": (".rodata", 0, 4, "const volatile __u32"),
        "tag": (".rodata", 4, 8, "const volatile __u8[8]"),
        "marker": (".data", 0, 8, "__u64"),
        "seen": (".bss", 0, 8, "__u64"),
    }
    assert spec.global_var("verdict").constant  # type: ignore[union-attr]
    assert not spec.global_var("marker").constant  # type: ignore[union-attr]
    internal = {m.name: m.value_size for m in spec.maps if m.internal}
    assert internal == {".rodata": 12, ".data": 8, ".bss": 8}


def test_license_and_btf(bpf_objects: dict[str, Path]) -> None:
    spec = inspect_object(bpf_objects["globals"])
    assert (spec.license, spec.has_btf, spec.has_btf_ext) == (
        "Dual BSD/GPL",
        True,
        True,
    )
    assert spec.byte_order == "little"
    assert inspect_object(bpf_objects["xdp_pass"]).license == "GPL"


def test_to_dict_is_json(bpf_objects: dict[str, Path]) -> None:
    data = inspect_object(bpf_objects["globals"]).to_dict()
    assert json.loads(json.dumps(data))["globals"][0]["constant"] is True
    assert "section_sizes" not in data


# ------------------------------------------------------------ bad input


def test_an_executable_is_not_a_bpf_object() -> None:
    with pytest.raises(ElfError, match="ELF machine 62, BPF is 247") as caught:
        inspect_object("/bin/sh")
    assert "clang -target bpf" in str(caught.value)


def test_a_text_file_is_not_elf(tmp_path: Path) -> None:
    path = tmp_path / "notes.o"
    path.write_text("not an object\n")
    with pytest.raises(ElfError, match="not an ELF file"):
        inspect_object(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ElfError, match="cannot read: No such file"):
        inspect_object(tmp_path / "absent.o")


def test_32_bit_and_truncated_headers() -> None:
    with pytest.raises(ElfError, match="truncated ELF header"):
        inspect_bytes(b"\x7fELF\x02\x01\x01")
    with pytest.raises(ElfError, match="32-bit"):
        inspect_bytes(b"\x7fELF\x01\x01\x01" + bytes(57))


def test_truncated_object(bpf_objects: dict[str, Path]) -> None:
    data = bpf_objects["xdp_pass"].read_bytes()
    with pytest.raises(ElfError, match=r"truncated|past the end"):
        inspect_bytes(data[: len(data) // 2], "half.o")


def test_absurd_section_size(bpf_objects: dict[str, Path]) -> None:
    data = bytearray(bpf_objects["xdp_pass"].read_bytes())
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    # Section 2's sh_size (offset 32 in its 64-byte header): 1 TiB.
    struct.pack_into("<Q", data, shoff + 2 * 64 + 32, 1 << 40)
    with pytest.raises(ElfError, match="runs past the end of the file"):
        inspect_bytes(bytes(data), "huge.o")


def test_oversized_file_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(elf, "MAX_OBJECT_SIZE", 1024)
    path = tmp_path / "big.o"
    path.write_bytes(b"\x7fELF" + bytes(4096))
    with pytest.raises(ElfError, match="larger than any plausible"):
        inspect_object(path)


# ----------------------------------------------------- section conventions


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("xdp", ("xdp", "xdp", "", False)),
        ("xdp.frags", ("xdp", "xdp", "", False)),
        ("tc", ("tc", "sched_cls", "", False)),
        ("classifier", ("tc", "sched_cls", "", False)),
        (
            "tracepoint/sched/sched_switch",
            ("tracepoint", "tracepoint", "sched/sched_switch", False),
        ),
        (
            "tp/syscalls/sys_enter_kill",
            ("tracepoint", "tracepoint", "syscalls/sys_enter_kill", False),
        ),
        ("kprobe/do_unlinkat", ("kprobe", "kprobe", "do_unlinkat", False)),
        ("kretprobe/do_unlinkat", ("kprobe", "kprobe", "do_unlinkat", True)),
        (
            "uprobe//usr/lib/libc.so.6:malloc",
            ("uprobe", "kprobe", "/usr/lib/libc.so.6:malloc", False),
        ),
        ("uretprobe", ("uprobe", "kprobe", "", True)),
        ("fentry/do_unlinkat", ("fentry", "tracing", "do_unlinkat", False)),
        ("fexit/do_unlinkat", ("fexit", "tracing", "do_unlinkat", False)),
        ("freplace/prog0", ("ext", "ext", "prog0", False)),
        ("lsm/file_open", ("lsm", "lsm", "file_open", False)),
        ("cgroup_skb/egress", ("cgroup_skb", "cgroup_skb", "", False)),
        ("kprobex/foo", ("", "", "", False)),
        ("xdpfoo", ("", "", "", False)),
        ("tracepointless", ("", "", "", False)),
    ],
)
def test_section_conventions(
    section: str, expected: tuple[str, str, str, bool]
) -> None:
    assert section_program_type(section) == expected


# ------------------------------------------------------- uprobe offsets


@pytest.mark.skipif(shutil.which("nm") is None, reason="needs nm")
def test_symbol_file_offset(bpf_objects: dict[str, Path]) -> None:
    target = str(bpf_objects["uprobe_target"])
    listing = subprocess.run(["nm", target], capture_output=True, text=True, check=True)
    address = next(
        int(line.split()[0], 16)
        for line in listing.stdout.splitlines()
        if line.endswith(" bpftui_probe_me")
    )
    offset = elf.symbol_file_offset(target, "bpftui_probe_me")
    readelf = subprocess.run(
        ["readelf", "-lW", target], capture_output=True, text=True, check=True
    )
    text_segment = next(
        line.split() for line in readelf.stdout.splitlines()
        if line.split()[:1] == ["LOAD"] and "E" in line.split()[-2]
    )  # fmt: skip
    file_offset, vaddr = int(text_segment[1], 16), int(text_segment[2], 16)
    assert offset == address - vaddr + file_offset
    with pytest.raises(ElfError, match="no function 'nope'"):
        elf.symbol_file_offset(target, "nope")


# -------------------------------------------------------------------- fuzz

FUZZ_SEEDS = ("globals", "legacy_maps", "tc")


@pytest.fixture(scope="module")
def seeds(bpf_objects: dict[str, Path]) -> list[bytes]:
    return [bpf_objects[name].read_bytes() for name in FUZZ_SEEDS]


def _inspect_or_elf_error(data: bytes) -> None:
    try:
        spec = inspect_bytes(data, "fuzz.o")
    except ElfError as err:
        assert str(err).startswith("fuzz.o: ")
        return
    json.dumps(spec.to_dict())


FUZZ = settings(
    max_examples=300,
    deadline=2000,  # ms per example: a hang or a runaway loop fails the test
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@FUZZ
@given(data=st.data())
def test_fuzz_truncated(seeds: list[bytes], data: st.DataObject) -> None:
    seed = data.draw(st.sampled_from(seeds))
    _inspect_or_elf_error(seed[: data.draw(st.integers(0, len(seed)))])


@FUZZ
@given(data=st.data())
def test_fuzz_mutated(seeds: list[bytes], data: st.DataObject) -> None:
    blob = bytearray(data.draw(st.sampled_from(seeds)))
    flips = data.draw(
        st.lists(
            st.tuples(st.integers(0, len(blob) - 1), st.integers(0, 255)),
            min_size=1,
            max_size=32,
        )
    )
    for position, value in flips:
        blob[position] = value
    _inspect_or_elf_error(bytes(blob))


@FUZZ
@given(body=st.binary(max_size=4096))
def test_fuzz_random_after_an_elf_header(seeds: list[bytes], body: bytes) -> None:
    _inspect_or_elf_error(seeds[0][:64] + body)


def test_inspecting_the_same_object_twice_reads_it_once(
    bpf_objects: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second inspection of unchanged bytes reuses the first spec; changed
    bytes under the same name are read again."""
    source = next(iter(sorted(bpf_objects.values())))
    path = tmp_path / "copy.o"
    path.write_bytes(source.read_bytes())
    calls: list[str] = []
    real = elf.inspect_bytes
    monkeypatch.setattr(
        elf, "inspect_bytes", lambda data, name: calls.append(name) or real(data, name)
    )
    first = elf.inspect_object(path)
    assert elf.inspect_object(path) is first
    assert len(calls) == 1

    path.write_bytes(source.read_bytes() + b"\0" * 8)
    elf.inspect_object(path)
    assert len(calls) == 2
