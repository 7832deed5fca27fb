"""Loading through NativeBackend: globaldata, maps, the verifier, refusals."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from _testbed import NetnsPair, features, leftovers, requires

from bpftui.core.backend import LoadedProgram, LoadSpec
from bpftui.core.errors import InputError, NotSupported, StateError, VerifierError
from bpftui.native.backend import NativeBackend

pytestmark = pytest.mark.kernel
XDP_DROP = 1


@pytest.fixture
def backend(bpffs_root: str) -> Iterator[NativeBackend]:
    native = NativeBackend(bpffs_root=bpffs_root)
    yield native
    native.close()


def _spec(objects: dict[str, Path], root: str, obj: str, function: str,
          prog_type: str, name: str = "p", **extra: object) -> LoadSpec:  # fmt: skip
    return LoadSpec(
        object_path=str(objects[obj]),
        function=function,
        prog_type=prog_type,
        pin_path=f"{root}/{name}/prog",
        map_pin_dir=f"{root}/{name}/maps",
        **extra,  # type: ignore[arg-type]
    )


def _data_section(backend: NativeBackend, program: LoadedProgram, suffix: str) -> bytes:
    (map_id,) = [i for name, i in program.map_ids.items() if name.endswith(suffix)]
    ((_, value),) = backend.map_entries(map_id)
    return value


# -------------------------------------------------------------- globaldata


def test_globaldata_is_written_before_load(
    backend: NativeBackend,
    bpffs_root: str,
    bpf_objects: dict[str, Path],
    netns: NetnsPair,
) -> None:
    requires("xdp-native")
    globaldata = {
        "verdict": struct.pack("<I", XDP_DROP),
        "tag": b"\x05" + bytes(7),
        "marker": struct.pack("<Q", 0xFEED),
    }
    spec = _spec(bpf_objects, bpffs_root, "globals", "xdp_globals", "xdp",
                 globaldata=globaldata)  # fmt: skip
    program = backend.load(spec)
    try:
        rodata = _data_section(backend, program, ".rodata")
        assert rodata[:4] == globaldata["verdict"] and rodata[4:12] == globaldata["tag"]
        assert _data_section(backend, program, ".data") == globaldata["marker"]
        with netns.inside():
            link = backend.attach_xdp(program, netns.ifindex, "auto")
        assert netns.udp_delivered() == 0, "verdict from globaldata not in effect"
        assert _data_section(backend, program, ".bss") == struct.pack("<Q", 0xFEED + 5)
        with netns.inside():
            backend.detach(link)
    finally:
        backend.unload(program)
    assert leftovers(bpffs_root) == [f"{bpffs_root}/p"]


def test_globaldata_size_mismatch_names_both_sizes(
    backend: NativeBackend, bpffs_root: str, bpf_objects: dict[str, Path]
) -> None:
    spec = _spec(bpf_objects, bpffs_root, "globals", "xdp_globals", "xdp",
                 globaldata={"verdict": b"\x01\x00"})  # fmt: skip
    with pytest.raises(InputError) as caught:
        backend.load(spec)
    message = str(caught.value)
    assert "globaldata 'verdict'" in message
    assert "2 bytes given" in message and "is 4 bytes" in message
    assert leftovers(bpffs_root) == []


def test_unknown_global_and_function_list_what_exists(
    backend: NativeBackend, bpffs_root: str, bpf_objects: dict[str, Path]
) -> None:
    spec = _spec(bpf_objects, bpffs_root, "globals", "xdp_globals", "xdp",
                 globaldata={"nope": b"\x01"})  # fmt: skip
    with pytest.raises(InputError, match="its globals: verdict, tag, marker, seen"):
        backend.load(spec)
    spec = _spec(bpf_objects, bpffs_root, "tc", "tc_nope", "tc")
    with pytest.raises(InputError, match="its programs: tc_pass, tc_drop"):
        backend.load(spec)


# -------------------------------------------------------------------- maps


def test_maps_are_shared_through_the_map_directory(
    backend: NativeBackend, bpffs_root: str, bpf_objects: dict[str, Path]
) -> None:
    shared = f"{bpffs_root}/owner/maps"
    owner = backend.load(_spec(bpf_objects, bpffs_root, "tc", "tc_pass", "tc", "owner"))
    user_spec = _spec(bpf_objects, bpffs_root, "tc", "tc_drop", "tc", "user")
    user = backend.load(
        LoadSpec(**{**_fields(user_spec), "map_pin_dir": shared})  # type: ignore[arg-type]
    )
    assert user.map_ids["tc_count"] == owner.map_ids["tc_count"]
    assert user.map_pins["tc_count"] == f"{shared}/tc_count"
    backend.unload(owner)
    assert os.path.exists(f"{shared}/tc_count"), "unpinned while still in use"
    backend.unload(user)
    assert not os.path.exists(shared)


def test_an_incompatible_pinned_map_is_explained(
    backend: NativeBackend, bpffs_root: str, bpf_objects: dict[str, Path]
) -> None:
    owner = backend.load(_spec(bpf_objects, bpffs_root, "tc", "tc_pass", "tc", "a"))
    try:
        os.rename(
            f"{bpffs_root}/a/maps/tc_count", f"{bpffs_root}/a/maps/xdp_pass_count"
        )
        spec = _spec(bpf_objects, bpffs_root, "xdp_pass", "xdp_pass", "xdp", "b")
        spec = LoadSpec(**{**_fields(spec), "map_pin_dir": f"{bpffs_root}/a/maps"})  # type: ignore[arg-type]
        with pytest.raises(StateError, match=r"max_entries 2.*wants.*max_entries 1"):
            backend.load(spec)
    finally:
        os.rename(
            f"{bpffs_root}/a/maps/xdp_pass_count", f"{bpffs_root}/a/maps/tc_count"
        )
        backend.unload(owner)


def _fields(spec: LoadSpec) -> dict[str, object]:
    return {name: getattr(spec, name) for name in LoadSpec.__slots__}  # type: ignore[attr-defined]


# ---------------------------------------------------------------- verifier


def test_verifier_refusal_keeps_the_whole_log(
    backend: NativeBackend, bpffs_root: str, bpf_objects: dict[str, Path]
) -> None:
    spec = _spec(bpf_objects, bpffs_root, "verifier_fail", "xdp_out_of_bounds", "xdp")
    with pytest.raises(VerifierError) as caught:
        backend.load(spec)
    err = caught.value
    lines = err.log.strip().splitlines()
    assert len(lines) >= 4, err.log
    assert lines[0].startswith("0: "), "the log starts at the first instruction"
    assert "invalid access to packet" in err.log
    assert "verifier log (last lines)" in str(err) and lines[-1].strip() in str(err)
    assert str(err).startswith("program 'xdp_out_of_bounds': load failed:")
    assert leftovers(bpffs_root) == []


# ------------------------------------------------------- what lacks here


def test_fentry_refused_names_the_capability(
    backend: NativeBackend, bpffs_root: str, bpf_objects: dict[str, Path]
) -> None:
    if features()["fentry"].available:
        pytest.skip("fentry works here; the refusal is tested where it does not")
    spec = _spec(bpf_objects, bpffs_root, "fentry", "fentry_unlinkat", "fentry",
                 attach_func="do_unlinkat")  # fmt: skip
    with pytest.raises(NotSupported) as caught:
        backend.load(spec)
    assert caught.value.feature == "fentry"
    assert "BPF_PROG_TYPE_TRACING (fentry)" in str(caught.value)
    assert "needs a kernel with BTF that allows tracing programs" in str(caught.value)
    assert leftovers(bpffs_root) == []


def test_kprobe_refused_names_the_capability(
    backend: NativeBackend, bpffs_root: str, bpf_objects: dict[str, Path]
) -> None:
    if features()["kprobes"].available:
        pytest.skip("kprobes work here; the refusal is tested where they do not")
    program = backend.load(
        _spec(bpf_objects, bpffs_root, "kprobe", "kprobe_open", "kprobe")
    )
    try:
        with pytest.raises(NotSupported) as caught:
            backend.attach_kprobe(program, "do_sys_openat2", 0, False,
                                  link_pin=f"{bpffs_root}/p/link")  # fmt: skip
        assert caught.value.feature == "kprobes"
        assert "CONFIG_KPROBES" in str(caught.value)
    finally:
        backend.unload(program)


def test_kretprobe_with_offset_is_refused(
    backend: NativeBackend, bpffs_root: str, bpf_objects: dict[str, Path]
) -> None:
    program = backend.load(
        _spec(bpf_objects, bpffs_root, "kprobe", "kretprobe_open", "kprobe")
    )
    try:
        with pytest.raises(InputError, match="offset cannot be set for kretprobes"):
            backend.attach_kprobe(program, "do_sys_openat2", 8, True,
                                  link_pin=f"{bpffs_root}/p/link")  # fmt: skip
    finally:
        backend.unload(program)


def test_tracepoint_typo_is_an_input_error(
    backend: NativeBackend, bpffs_root: str, bpf_objects: dict[str, Path]
) -> None:
    program = backend.load(
        _spec(bpf_objects, bpffs_root, "tracepoint", "tp_getpid", "tracepoint")
    )
    try:
        with pytest.raises(InputError, match="syscalls/sys_enter_nope: not found"):
            backend.attach_tracepoint(program, "syscalls", "sys_enter_nope",
                                      link_pin=f"{bpffs_root}/p/link")  # fmt: skip
    finally:
        backend.unload(program)
