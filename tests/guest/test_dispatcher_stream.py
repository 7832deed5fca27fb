"""Twenty add/remove cycles under a steady stream of packets: every packet
is handled by a whole chain, the old one or the new one, never a part."""

from __future__ import annotations

from collections import Counter

import pytest
from _guest import Stream

pytestmark = pytest.mark.guest

CYCLES = 20


@pytest.mark.parametrize("kind", ["xdp", "tc"])
def test_no_packet_sees_a_partial_chain(rig, veth, kind):
    hook = rig.hook(kind)
    rig.change(hook, add=[rig.program(1, 10, kind=kind), rig.program(3, 30, kind=kind)])
    with Stream(veth, interval=0.0005) as stream:
        for _ in range(CYCLES):
            added = rig.change(hook, add=[rig.program(2, 20, kind=kind)]).added
            stream.wait_for(len(stream.received) + 3)
            rig.change(hook, remove=[program.id for program in added.values()])
            stream.wait_for(len(stream.received) + 3)
    traces = Counter(trace for _, trace in stream.received)
    assert set(traces) <= {(1, 3), (1, 2, 3)}, traces
    assert traces[(1, 3)] and traces[(1, 2, 3)], traces
    sequence = [seq for seq, _ in stream.received]
    assert len(sequence) == len(set(sequence)), "a packet was handled twice"
    print(f"{kind}: {stream.sent} sent, {len(sequence)} received, {dict(traces)}")
