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

import pytest
from _guest import Rig, VethPair, build, make_veth

from bpftui.core.errors import BpftuiError

IN_GUEST = os.environ.get("BPFTUI_GUEST") == "1"


@pytest.fixture(autouse=True)
def _only_in_the_guest() -> None:
    if not IN_GUEST:
        pytest.skip(
            "needs the guest-kernel lane (scripts/guest-lane.sh): this kernel "
            "refuses freplace, fentry/fexit and kprobes"
        )


# ------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def compile_bpf():
    """``compile_bpf("dispatch/chain.c", MARK=7)``: a compiled test program.

    Results are kept in tests/bpf/build/guest, where the lane compiles them
    on the host before booting (see _guest.VARIANTS).
    """
    return build


@pytest.fixture
def veth() -> Iterator[VethPair]:
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


@pytest.fixture
def rig(veth: VethPair, bpffs_root: str) -> Iterator[Rig]:
    """The engine on the veth pair, pinning under the test's own bpffs root."""
    made = Rig(veth, bpffs_root, bpffs=bpffs_root)
    yield made
    made.close()


@pytest.fixture
def shared_rig(veth: VethPair, bpffs_root: str) -> Iterator[Rig]:
    """The engine with libxdp's real pin directory, for xdp-loader interop.

    Whatever either tool left on the interface is removed afterwards, so no
    dispatch-* directory stays in /sys/fs/bpf/xdp.
    """
    made = Rig(veth, bpffs_root, bpffs="/sys/fs/bpf")
    try:
        yield made
    finally:
        with contextlib.suppress(BpftuiError):
            made.clear(made.hook())
        veth.nsenter("b", "xdp-loader", "unload", "--all", veth.b)
        made.close()
