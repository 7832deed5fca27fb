"""The guest lane itself: the kernel allows what the dispatchers need."""

from __future__ import annotations

import pytest
from _guest import Stream

pytestmark = pytest.mark.guest


def test_the_guest_kernel_allows_freplace_through_xdp_loader(veth, compile_bpf):
    # libxdp's own multi-program dispatcher: two programs on one veth only
    # work where freplace does, and the trace shows both ran, in order.
    first = compile_bpf("dispatch/chain.c", MARK=1)
    second = compile_bpf("dispatch/chain.c", MARK=2)
    for obj, prio in ((second, 20), (first, 10)):
        done = veth.nsenter("b", "xdp-loader", "load", "-m", "skb", "-P", str(prio),
                            veth.b, str(obj))  # fmt: skip
        assert done.returncode == 0, done.stderr
    try:
        status = veth.nsenter("b", "xdp-loader", "status", veth.b).stdout
        assert status.count("chain_xdp") == 2, status
        with Stream(veth) as stream:
            stream.wait_for(20)
        assert {trace for _, trace in stream.received} == {(1, 2)}
    finally:
        veth.nsenter("b", "xdp-loader", "unload", "--all", veth.b)
