"""Fixtures for the guest-kernel lane: compiled test programs, network
namespaces with a veth pair, and packets carrying a trace of the programs
that saw them (helpers in _guest.py).

These tests need what the host kernel refuses (freplace, fentry, kprobes);
scripts/guest-lane.sh runs them inside a stock Debian kernel under QEMU and
sets BPFTUI_GUEST=1 there. Anywhere else they are skipped.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from _guest import Rig, VethPair, build, make_veth

from bpftui.core.errors import BpftuiError

IN_GUEST = os.environ.get("BPFTUI_GUEST") == "1"
GUEST_DIR = Path(__file__).resolve().parent
BPFFS = "/sys/fs/bpf"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A skip marker, not a fixture: the module-scoped fixtures below must not
    # make namespaces on a host that cannot run these tests anyway.
    if IN_GUEST:
        return
    skip = pytest.mark.skip(
        reason="needs the guest-kernel lane (scripts/guest-lane.sh): this kernel "
        "refuses freplace, fentry/fexit and kprobes"
    )
    for item in items:
        if GUEST_DIR in item.path.parents:
            item.add_marker(skip)


# ------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def compile_bpf():
    """``compile_bpf("dispatch/chain.c", MARK=7)``: a compiled test program.

    Results are kept in tests/bpf/build/guest, where the lane compiles them
    on the host before booting (see _guest.VARIANTS).
    """
    return build


@pytest.fixture(scope="module")
def veth() -> Iterator[VethPair]:
    """One veth pair per test module (a pair costs seconds under emulation)."""
    tag = uuid.uuid4().hex[:6]
    pair = VethPair(f"bt-{tag}-a", f"bt-{tag}-b")
    try:
        make_veth(pair)
        yield pair
    finally:
        for name in (pair.ns_b, pair.ns_a):
            subprocess.run(
                ["ip", "netns", "del", name], check=False, capture_output=True
            )


@pytest.fixture(scope="module")
def pin_root() -> Iterator[str]:
    """A bpffs directory for the module's pins; removed with all it holds."""
    from bpftui.native.fs import ensure_bpffs

    ensure_bpffs(BPFFS)
    root = f"{BPFFS}/bpftui-guest-{uuid.uuid4().hex[:8]}"
    os.mkdir(root)
    try:
        yield root
    finally:
        for top, dirs, files in os.walk(root, topdown=False):
            for name in files:
                os.unlink(os.path.join(top, name))  # unpinning a link ends it
            for name in dirs:
                os.rmdir(os.path.join(top, name))
        os.rmdir(root)


@pytest.fixture(scope="module")
def module_rig(veth: VethPair, pin_root: str) -> Iterator[Rig]:
    made = Rig(veth, pin_root, bpffs=pin_root)
    yield made
    made.close()


@pytest.fixture
def rig(module_rig: Rig) -> Iterator[Rig]:
    """The engine on the module's veth pair; every hook is emptied afterwards."""
    yield module_rig
    module_rig.clear_all()


@pytest.fixture
def shared_rig(veth: VethPair, pin_root: str) -> Iterator[Rig]:
    """The engine with libxdp's real pin directory, for xdp-loader interop.

    Whatever either tool left on the interface is removed afterwards, so no
    dispatch-* directory stays in /sys/fs/bpf/xdp.
    """
    made = Rig(veth, pin_root, bpffs=BPFFS)
    try:
        yield made
    finally:
        with contextlib.suppress(BpftuiError):
            made.clear(made.hook())
        veth.nsenter("b", "xdp-loader", "unload", "--all", veth.b)
        made.close()
