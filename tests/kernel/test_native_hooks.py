"""XDP and TC through NativeBackend: modes, atomic replace, conflicts, and
what the dispatcher engine reads back (hook_state, pins, the lock)."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from _testbed import NetnsPair, ip, leftovers, requires, tc

from bpftui.core.backend import LinkRecord, LoadedProgram, LoadSpec
from bpftui.core.dispatchers import Hook, HookKind
from bpftui.core.errors import KernelError, StateError
from bpftui.native import netlink
from bpftui.native.backend import NativeBackend

pytestmark = pytest.mark.kernel


@pytest.fixture
def backend(bpffs_root: str) -> Iterator[NativeBackend]:
    native = NativeBackend(bpffs_root=bpffs_root)
    yield native
    native.close()


@pytest.fixture
def load(
    backend: NativeBackend, bpffs_root: str, bpf_objects: dict[str, Path]
) -> Iterator[object]:
    """``load(obj, function, prog_type)``; everything loaded is unloaded after."""
    loaded: list[LoadedProgram] = []

    def _load(obj: str, function: str, prog_type: str) -> LoadedProgram:
        spec = LoadSpec(
            object_path=str(bpf_objects[obj]),
            function=function,
            prog_type=prog_type,
            pin_path=f"{bpffs_root}/{function}/prog",
            map_pin_dir=f"{bpffs_root}/{function}/maps",
        )
        loaded.append(backend.load(spec))
        return loaded[-1]

    yield _load
    for program in loaded:
        backend.unload(program)


def _detach_all(backend: NativeBackend, netns: NetnsPair, *links: LinkRecord) -> None:
    with netns.inside():
        for link in links:
            backend.detach(link)


# --------------------------------------------------------------------- XDP


@pytest.mark.parametrize("use_link", [False, True], ids=["netlink", "link"])
def test_xdp_replace_is_atomic_and_checked(
    backend: NativeBackend, load: object, netns: NetnsPair, bpffs_root: str,
    use_link: bool,
) -> None:  # fmt: skip
    requires("xdp-native")
    passer = load("xdp_pass", "xdp_pass", "xdp")  # type: ignore[operator]
    dropper = load("xdp_drop", "xdp_drop", "xdp")  # type: ignore[operator]
    pin = f"{bpffs_root}/xdp-link" if use_link else None
    with netns.inside():
        first = backend.attach_xdp(passer, netns.ifindex, "native", link_pin=pin)
    assert netns.udp_delivered() == 3
    with netns.inside():
        second = backend.attach_xdp(
            dropper, netns.ifindex, "native", link_pin=pin, replace_prog_id=passer.id
        )
        holder = backend.hook_state(Hook(HookKind.XDP, netns.ifindex)).programs
        assert [(p.prog_id, p.name, p.mode) for p in holder] == [
            (dropper.id, "xdp_drop", "native")
        ]
        with pytest.raises((KernelError, StateError)):  # passer no longer there
            backend.attach_xdp(
                passer, netns.ifindex, "native", link_pin=pin, replace_prog_id=passer.id
            )
    assert netns.udp_delivered() == 0
    _detach_all(backend, netns, first, second)
    assert netns.udp_delivered() == 3


def test_a_second_program_gets_the_dispatcher_hint(
    backend: NativeBackend, load: object, netns: NetnsPair
) -> None:
    requires("xdp-native")
    passer = load("xdp_pass", "xdp_pass", "xdp")  # type: ignore[operator]
    dropper = load("xdp_drop", "xdp_drop", "xdp")  # type: ignore[operator]
    with netns.inside():
        link = backend.attach_xdp(passer, netns.ifindex, "auto")
        with pytest.raises(KernelError) as caught:
            backend.attach_xdp(dropper, netns.ifindex, "native")
        assert "another XDP program is attached without a dispatcher" in str(
            caught.value
        )
        backend.detach(link)


def test_generic_mode(backend: NativeBackend, load: object, netns: NetnsPair) -> None:
    requires("xdp-generic")
    dropper = load("xdp_drop", "xdp_drop", "xdp")  # type: ignore[operator]
    with netns.inside():
        link = backend.attach_xdp(dropper, netns.ifindex, "generic")
        assert link.detail["mode"] == "generic"
        state = backend.hook_state(Hook(HookKind.XDP, netns.ifindex))
        assert state.programs[0].mode == "generic"
    assert netns.udp_delivered() == 0
    _detach_all(backend, netns, link)
    assert netns.udp_delivered() == 3


def test_detach_leaves_a_newer_program_alone(
    backend: NativeBackend, load: object, netns: NetnsPair
) -> None:
    requires("xdp-native")
    passer = load("xdp_pass", "xdp_pass", "xdp")  # type: ignore[operator]
    dropper = load("xdp_drop", "xdp_drop", "xdp")  # type: ignore[operator]
    with netns.inside():
        stale = backend.attach_xdp(passer, netns.ifindex, "native")
        current = backend.attach_xdp(
            dropper, netns.ifindex, "native", replace_prog_id=passer.id
        )
        backend.detach(stale)  # names passer, which is gone: nothing happens
        assert backend.exists(current) and not backend.exists(stale)
        backend.detach(current)
        assert not backend.exists(current)


# ---------------------------------------------------------------------- TC


def test_tc_both_directions_and_the_qdisc(
    backend: NativeBackend, load: object, netns: NetnsPair
) -> None:
    requires("tc-clsact")
    passer = load("tc", "tc_pass", "tc")  # type: ignore[operator]
    with netns.inside():
        ingress = backend.attach_tc(passer, netns.ifindex, "ingress", priority=3)
        egress = backend.attach_tc(
            passer, netns.ifindex, "egress", priority=4, handle=2
        )
        state = backend.hook_state(Hook(HookKind.TC, netns.ifindex, direction="egress"))
    assert state.qdisc == "clsact"
    assert [(p.prog_id, p.priority, p.handle, p.mode) for p in state.programs] == [
        (passer.id, 4, 2, "cls_bpf")
    ]
    assert ingress.detail["qdisc_created"] and not egress.detail["qdisc_created"]
    assert netns.udp_delivered() == 3
    _detach_all(backend, netns, ingress)
    with netns.inside():
        assert (
            backend.hook_state(
                Hook(HookKind.TC, netns.ifindex, direction="egress")
            ).qdisc
            == "clsact"
        )
    _detach_all(backend, netns, egress)
    assert "clsact" not in tc("-n", netns.name, "qdisc", "show", "dev", netns.dev)


def test_an_ingress_qdisc_is_not_replaced(
    backend: NativeBackend, load: object, netns: NetnsPair
) -> None:
    requires("tc-clsact")
    passer = load("tc", "tc_pass", "tc")  # type: ignore[operator]
    tc("-n", netns.name, "qdisc", "add", "dev", netns.dev, "ingress")
    with netns.inside(), pytest.raises(KernelError) as caught:
        backend.attach_tc(passer, netns.ifindex, "ingress", priority=1)
    assert "'ingress' qdisc" in str(caught.value)
    assert "tc qdisc del dev veth0 ingress" in str(caught.value)
    with netns.inside():
        state = backend.hook_state(
            Hook(HookKind.TC, netns.ifindex, direction="ingress")
        )
    assert state.qdisc == "ingress"


def test_tc_records_from_the_dispatcher_engine_detach(
    backend: NativeBackend, load: object, netns: NetnsPair
) -> None:
    """The engine builds TC records with ``direction`` and no ``parent``."""
    requires("tc-clsact")
    dropper = load("tc", "tc_drop", "tc")  # type: ignore[operator]
    with netns.inside():
        backend.attach_tc(dropper, netns.ifindex, "ingress", priority=50)
    assert netns.udp_delivered() == 0
    detail = {
        "ifindex": netns.ifindex,
        "direction": "ingress",
        "priority": 50,
        "handle": 1,
    }
    with netns.inside():
        backend.detach(LinkRecord("tc", "veth0 ingress", dropper.id, detail=detail))
    assert netns.udp_delivered() == 3


# ------------------------------------------------------ pins and the lock


def test_pin_unpin_and_pinned_id(
    backend: NativeBackend, load: object, bpffs_root: str
) -> None:
    program = load("xdp_pass", "xdp_pass", "xdp")  # type: ignore[operator]
    extra = f"{bpffs_root}/slot/prog0-prog"
    backend.pin(program, extra)
    assert backend.pinned_id(extra) == program.id
    assert backend.program_info(program.id).name == "xdp_pass"  # type: ignore[union-attr]
    with pytest.raises(StateError):
        backend.unpin(f"{bpffs_root}/slot")  # not empty
    backend.unpin(extra)
    backend.unpin(extra)  # gone already: no error
    backend.unpin(f"{bpffs_root}/slot")
    assert backend.pinned_id(extra) is None
    assert backend.program_info(2**31) is None


def test_lock_excludes_another_holder(backend: NativeBackend, bpffs_root: str) -> None:
    directory = f"{bpffs_root}/locks"
    held = threading.Event()
    with backend.lock(directory):

        def try_lock() -> None:
            fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held.set()
            except BlockingIOError:
                pass
            finally:
                os.close(fd)

        worker = threading.Thread(target=try_lock)
        worker.start()
        worker.join()
        assert not held.is_set(), "the lock did not exclude another holder"
    assert leftovers(bpffs_root) == [directory]


def test_auto_mode_falls_back_to_generic_with_a_warning(
    backend: NativeBackend,
    load: object,
    netns: NetnsPair,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A bridge has no native XDP: ``auto`` must end in generic mode."""
    requires("xdp-generic")
    ip("-n", netns.name, "link", "add", "br0", "type", "bridge")
    passer = load("xdp_pass", "xdp_pass", "xdp")  # type: ignore[operator]
    with netns.inside():
        ifindex = netlink.ifindex_of("br0")
        link = backend.attach_xdp(passer, ifindex, "auto")
        assert link.detail["mode"] == "generic"
        assert netlink.link_xdp_state(ifindex).mode == "xdpgeneric"
        backend.detach(link)
        assert netlink.link_xdp_state(ifindex).prog_id is None
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("falling back to generic mode" in w for w in warnings), warnings
