"""One contract, every attach kind: NativeBackend against the real kernel.

For each kind: load (maps pinned), attach, see the effect (a counter in a map
or packets dropped on a veth pair inside a test namespace), inspect through
``links()`` and ``programs()``, pin the link once more, reopen everything
from the pins with a second backend (as a later bpftui process would),
detach, see the effect stop, unload, and check nothing is left: no pins, no
program, no link, no qdisc. Kinds this kernel refuses are skipped with the
reason and marked ``guest`` for the guest-kernel lane.
"""

from __future__ import annotations

import os
import struct
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from _testbed import PERF_LINK_INFO, NetnsPair, leftovers, requires, wait_until

from bpftui.core.backend import LinkRecord, LoadedProgram, LoadSpec
from bpftui.native import netlink
from bpftui.native.backend import NativeBackend
from bpftui.native.elf import symbol_file_offset

pytestmark = pytest.mark.kernel

U64 = struct.Struct("<Q")


@dataclass
class Env:
    """What a case's steps need."""

    backend: NativeBackend
    root: str
    objects: dict[str, Path]
    netns: NetnsPair | None = None
    notes: dict[str, object] = field(default_factory=dict)

    def inside(self) -> AbstractContextManager[None]:
        return self.netns.inside() if self.netns else nullcontext()

    def counter(self, program: LoadedProgram, map_name: str, slot: int = 0) -> int:
        entries = dict(self.backend.map_entries(program.map_ids[map_name]))
        return int(U64.unpack(entries[struct.pack("<I", slot)])[0])


@dataclass(frozen=True)
class Case:
    """One attach kind: how to load, attach, make it fire, and see it fire."""

    kind: str
    obj: str
    function: str
    prog_type: str
    feature: str
    attach: Callable[[Env, LoadedProgram], LinkRecord]
    effect: Callable[[Env, LoadedProgram], bool]  # True: the program acts
    network: bool = False
    globaldata: Callable[[Env], dict[str, bytes]] = lambda env: {}
    attach_func: str | None = None


# --------------------------------------------------------------- tracepoint


def _attach_tracepoint(env: Env, program: LoadedProgram) -> LinkRecord:
    return env.backend.attach_tracepoint(
        program, "syscalls", "sys_enter_getpid", link_pin=f"{env.root}/link"
    )


def _getpid_counted(env: Env, program: LoadedProgram) -> bool:
    before = env.counter(program, "getpid_count")
    for _ in range(20):
        os.getpid()
    return env.counter(program, "getpid_count") - before >= 20


def _only_this_process(env: Env) -> dict[str, bytes]:
    return {"target_tgid": struct.pack("<I", os.getpid())}


# ------------------------------------------------------------------ uprobes


def _attach_uprobe(retprobe: bool) -> Callable[[Env, LoadedProgram], LinkRecord]:
    def attach(env: Env, program: LoadedProgram) -> LinkRecord:
        target = str(env.objects["uprobe_target"])
        offset = symbol_file_offset(target, "bpftui_probe_me")
        return env.backend.attach_uprobe(
            program, target, offset, retprobe, None, link_pin=f"{env.root}/link"
        )

    return attach


def _probe_fires(slot: int) -> Callable[[Env, LoadedProgram], bool]:
    def effect(env: Env, program: LoadedProgram) -> bool:
        before = env.counter(program, "uprobe_count", slot)
        subprocess.run([str(env.objects["uprobe_target"]), "5"], check=True)
        return env.counter(program, "uprobe_count", slot) - before >= 5

    return effect


# ---------------------------------------------------------------- XDP and TC


def _attach_xdp(link: bool) -> Callable[[Env, LoadedProgram], LinkRecord]:
    def attach(env: Env, program: LoadedProgram) -> LinkRecord:
        assert env.netns is not None
        pin = f"{env.root}/link" if link else None
        with env.inside():
            return env.backend.attach_xdp(
                program, env.netns.ifindex, "auto", link_pin=pin
            )

    return attach


def _attach_tc(env: Env, program: LoadedProgram) -> LinkRecord:
    assert env.netns is not None
    with env.inside():
        return env.backend.attach_tc(program, env.netns.ifindex, "ingress", priority=7)


def _packets_dropped(env: Env, program: LoadedProgram) -> bool:
    assert env.netns is not None
    return env.netns.udp_delivered() == 0


# --------------------------------------------------------- guest-only kinds


def _attach_kprobe(env: Env, program: LoadedProgram) -> LinkRecord:
    return env.backend.attach_kprobe(
        program, "do_sys_openat2", 0, False, link_pin=f"{env.root}/link"
    )


def _opens_counted(env: Env, program: LoadedProgram) -> bool:
    before = env.counter(program, "kprobe_count")
    for _ in range(5):
        with open("/proc/self/stat", "rb"):
            pass
    return env.counter(program, "kprobe_count") - before >= 5


def _attach_tracing(env: Env, program: LoadedProgram) -> LinkRecord:
    return env.backend.attach_tracing(program, link_pin=f"{env.root}/link")


def _unlinks_counted(slot: int) -> Callable[[Env, LoadedProgram], bool]:
    def effect(env: Env, program: LoadedProgram) -> bool:
        before = env.counter(program, "fentry_count", slot)
        for _ in range(3):
            handle, path = tempfile.mkstemp(prefix="bpftui-fentry-")
            os.close(handle)
            os.unlink(path)
        return env.counter(program, "fentry_count", slot) - before >= 3

    return effect


def _attach_freplace(env: Env, program: LoadedProgram) -> LinkRecord:
    target = env.notes["target"]
    assert isinstance(target, LoadedProgram)
    return env.backend.attach_freplace(
        program, target.id, "verdict", link_pin=f"{env.root}/link"
    )


CASES = [
    Case("tracepoint", "tracepoint", "tp_getpid", "tracepoint", "tracepoints",
         _attach_tracepoint, _getpid_counted, globaldata=_only_this_process),
    Case("uprobe", "uprobe", "uprobe_counter", "uprobe", "uprobes",
         _attach_uprobe(False), _probe_fires(0)),
    Case("uretprobe", "uprobe", "uretprobe_counter", "uprobe", "uprobes",
         _attach_uprobe(True), _probe_fires(1)),
    Case("xdp-netlink", "xdp_drop", "xdp_drop", "xdp", "xdp-native",
         _attach_xdp(False), _packets_dropped, network=True),
    Case("xdp-link", "xdp_drop", "xdp_drop", "xdp", "xdp-native",
         _attach_xdp(True), _packets_dropped, network=True),
    Case("tc", "tc", "tc_drop", "tc", "tc-clsact",
         _attach_tc, _packets_dropped, network=True),
    Case("kprobe", "kprobe", "kprobe_open", "kprobe", "kprobes",
         _attach_kprobe, _opens_counted),
    Case("fentry", "fentry", "fentry_unlinkat", "fentry", "fentry",
         _attach_tracing, _unlinks_counted(0), attach_func="do_unlinkat"),
    Case("fexit", "fentry", "fexit_unlinkat", "fexit", "fexit",
         _attach_tracing, _unlinks_counted(1), attach_func="do_unlinkat"),
    Case("freplace", "freplace", "drop_verdict", "ext", "freplace",
         _attach_freplace, _packets_dropped, network=True, attach_func="verdict"),
]  # fmt: skip
GUEST_KINDS = {"kprobe", "fentry", "fexit", "freplace"}
PERF_KINDS = {"tracepoint", "kprobe", "uprobe"}


def _params() -> Iterator[object]:
    for case in CASES:
        marks = [pytest.mark.guest] if case.kind in GUEST_KINDS else []
        yield pytest.param(case, id=case.kind, marks=marks)


# ------------------------------------------------------------- the contract


@pytest.fixture
def env(
    request: pytest.FixtureRequest, bpffs_root: str, bpf_objects: dict[str, Path]
) -> Iterator[Env]:
    case: Case = request.node.callspec.params["case"]
    requires(case.feature)
    pair = request.getfixturevalue("netns") if case.network else None
    backend = NativeBackend(bpffs_root=bpffs_root)
    yield Env(backend, bpffs_root, bpf_objects, pair)
    backend.close()


@pytest.mark.parametrize("case", list(_params()))
def test_attach_contract(case: Case, env: Env) -> None:
    target = _freplace_target(env) if case.kind == "freplace" else None
    program = env.backend.load(_spec(case, env, target))
    assert set(program.map_pins) <= set(program.map_ids)
    link = case.attach(env, program)
    try:
        _check_attached(case, env, program, link)
        reopened = _reopen_from_pins(env, program, link)
        with env.inside():
            reopened.detach(link)
            assert not reopened.exists(link)
        _wait_link_gone(env, link)
        assert not case.effect(env, program), "still acting after detach"
    finally:
        with env.inside():
            env.backend.detach(link)
        env.backend.unload(program)
        if target is not None:
            _detach_target(env, target)
    _check_nothing_left(env, program, link)


def _spec(case: Case, env: Env, target: LoadedProgram | None) -> LoadSpec:
    return LoadSpec(
        object_path=str(env.objects[case.obj]),
        function=case.function,
        prog_type=case.prog_type,
        pin_path=f"{env.root}/prog",
        map_pin_dir=f"{env.root}/maps",
        globaldata=case.globaldata(env),
        attach_func=case.attach_func,
        attach_prog_id=target.id if target else None,
    )


def _check_attached(
    case: Case, env: Env, program: LoadedProgram, link: LinkRecord
) -> None:
    assert case.effect(env, program), f"{case.kind}: no effect while attached"
    with env.inside():
        assert env.backend.exists(program)
        assert env.backend.exists(link)
        rows = {p.id: p for p in env.backend.programs()}
        assert rows[program.id].name == program.name
        assert f"{env.root}/prog" in rows[program.id].pinned
        expected = _expected_point(case, env)
        assert link.attach_point == (expected or link.attach_point), "attach point"
        if link.id is not None:
            links = {row.id: row for row in env.backend.links()}
            assert links[link.id].prog_id == program.id
            if PERF_LINK_INFO or link.kind not in PERF_KINDS:
                assert links[link.id].attach_point, "attach point not named"
            assert link.pin_path in links[link.id].pinned


def _expected_point(case: Case, env: Env) -> str | None:
    """How the record names where a tracing program runs, as the demo does."""
    if case.kind == "freplace":
        target = env.notes["target"]
        assert isinstance(target, LoadedProgram)
        return f"prog {target.id}/verdict"
    if case.kind in ("fentry", "fexit"):
        return "do_unlinkat"
    return None


def _reopen_from_pins(
    env: Env, program: LoadedProgram, link: LinkRecord
) -> NativeBackend:
    """A second backend finds both again from the records alone."""
    again = NativeBackend(bpffs_root=env.root)
    restored = LoadedProgram.from_dict(program.to_dict())
    restored_link = LinkRecord.from_dict(link.to_dict())
    with env.inside():
        assert again.exists(restored)
        assert again.exists(restored_link)
        if link.pin_path is not None:
            extra = f"{env.root}/link-again"
            again.pin(restored_link, extra)
            assert again.pinned_id(extra) == link.id
            again.unpin(extra)
    return again


def _freplace_target(env: Env) -> LoadedProgram:
    """The XDP program whose ``verdict`` function the extension replaces."""
    assert env.netns is not None
    spec = LoadSpec(
        object_path=str(env.objects["freplace"]),
        function="xdp_target",
        prog_type="xdp",
        pin_path=f"{env.root}/target",
        map_pin_dir=f"{env.root}/target-maps",
    )
    target = env.backend.load(spec)
    with env.inside():
        link = env.backend.attach_xdp(target, env.netns.ifindex, "auto")
    env.notes["target"], env.notes["target-link"] = target, link
    assert env.netns.udp_delivered() == 3, "the target alone must pass packets"
    return target


def _detach_target(env: Env, target: LoadedProgram) -> None:
    link = env.notes["target-link"]
    assert isinstance(link, LinkRecord)
    with env.inside():
        env.backend.detach(link)
    env.backend.unload(target)


def _wait_link_gone(env: Env, link: LinkRecord) -> None:
    if link.id is not None:
        gone = wait_until(lambda: link.id not in {r.id for r in env.backend.links()})
        assert gone, f"link {link.id} still in the kernel after detach"


def _check_nothing_left(env: Env, program: LoadedProgram, link: LinkRecord) -> None:
    assert not env.backend.exists(program)
    ids = lambda: {p.id for p in env.backend.programs()}  # noqa: E731
    assert wait_until(lambda: program.id not in ids()), "program still loaded"
    _wait_link_gone(env, link)
    assert leftovers(env.root) == []
    if env.netns is not None:
        with env.inside():
            assert netlink.qdisc_ingress_kind(env.netns.ifindex) is None
            assert netlink.link_xdp_state(env.netns.ifindex).prog_id is None
        assert env.netns.udp_delivered() == 3
