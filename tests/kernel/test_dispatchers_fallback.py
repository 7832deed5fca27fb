"""The dispatcher engine on a kernel that refuses freplace (this host's).

Without extensions there is no dispatcher: a program attaches alone on its
hook, and a second one is refused naming multi-program mode. The
multi-program behaviour itself is tested in the guest lane.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _testbed import NetnsPair, features, leftovers, tc, wait_until

from bpftui.core.dispatchers import Hook, HookKind
from bpftui.core.errors import KernelError, NotSupported
from bpftui.core.revisions import Dispatchers, NewProgram
from bpftui.native.backend import NativeBackend

pytestmark = pytest.mark.kernel


@pytest.fixture
def engine(bpffs_root: str) -> Iterator[Dispatchers]:
    if features()["freplace"].available:
        pytest.skip("this kernel allows freplace: the fallback cannot be seen here")
    backend = NativeBackend(bpffs_root=bpffs_root)
    # The test's own bpffs directory stands in for /sys/fs/bpf, so libxdp's
    # xdp/ directory and lock are the test's too.
    yield Dispatchers(backend, bpffs=bpffs_root, pin_root=bpffs_root)
    backend.close()


def _request(objects: dict[str, Path], root: str, name: str, function: str):
    obj = "tc" if function.startswith("tc_") else function
    return NewProgram(
        key=name,
        object_path=str(objects[obj]),
        function=function,
        priority=50,
        map_pin_dir=f"{root}/maps/{name}",
    )


def _hooks(netns: NetnsPair) -> list[Hook]:
    return [
        Hook(HookKind.XDP, netns.ifindex, netns.dev),
        Hook(HookKind.TC, netns.ifindex, netns.dev, "ingress"),
    ]


@pytest.mark.parametrize("kind", ["xdp", "tc"])
def test_a_program_attaches_alone_and_a_second_is_refused(
    engine, netns, bpf_objects, bpffs_root, kind
):
    hook = _hooks(netns)[0 if kind == "xdp" else 1]
    drop, other = ("xdp_drop", "xdp_pass") if kind == "xdp" else ("tc_drop", "tc_pass")
    with netns.inside():
        change = engine.change(
            hook, add=[_request(bpf_objects, bpffs_root, "first", drop)]
        )
    program = change.added["first"]
    try:
        assert change.revision.dispatcher_id is None
        assert "multi-program mode is unavailable" in change.note
        assert netns.udp_delivered() == 0  # the lone program runs: it drops
        with netns.inside():
            held = engine.backend.hook_state(hook).programs
            assert [p.prog_id for p in held] == [program.id]
            with pytest.raises(NotSupported) as caught:
                engine.change(
                    hook, add=[_request(bpf_objects, bpffs_root, "second", other)]
                )
            assert [p.prog_id for p in engine.backend.hook_state(hook).programs] == [
                program.id
            ]
        message = str(caught.value)
        assert message.startswith("multi-program mode is not supported here")
        assert f"already runs '{drop}'" in message
        assert "freplace" in message
        assert not [p for p in leftovers(bpffs_root) if "second" in p]
    finally:
        with netns.inside():
            engine.change(hook, remove=[program.id])
    assert netns.udp_delivered() == 3
    with netns.inside():
        assert engine.backend.hook_state(hook).programs == ()
    assert wait_until(lambda: engine.backend.program_info(program.id) is None)
    # left: the maps (the loader releases them), the lock directories, and
    # the clsact marker (removed with the qdisc when the netns goes)
    kept = [f"{bpffs_root}/{name}" for name in ("maps", "clsact", "xdp", "tc")]
    left = [
        p
        for p in leftovers(bpffs_root)
        if not any(p == k or p.startswith(k + "/") for k in kept)
    ]
    assert left == []


def test_an_ingress_qdisc_is_left_alone_with_a_clear_error(
    engine, netns, bpf_objects, bpffs_root
):
    hook = _hooks(netns)[1]
    with netns.inside():
        tc("qdisc", "add", "dev", netns.dev, "ingress")
        with pytest.raises(KernelError) as caught:
            engine.change(
                hook, add=[_request(bpf_objects, bpffs_root, "first", "tc_pass")]
            )
        qdiscs = tc("qdisc", "show", "dev", netns.dev)
    assert "qdisc ingress" in qdiscs
    assert "clsact" not in qdiscs
    assert "'ingress' qdisc is installed" in str(caught.value)
    assert f"tc qdisc del dev {netns.dev} ingress" in str(caught.value)
