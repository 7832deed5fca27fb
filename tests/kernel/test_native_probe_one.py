"""One capability probed alone agrees with the full ``doctor`` probe."""

from __future__ import annotations

import os

import pytest

from bpftui.native.backend import NativeBackend

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to load BPF programs"),
]


@pytest.mark.parametrize("name", ["freplace", "tracepoints", "fentry", "bpf-stats"])
def test_one_probe_agrees_with_all_probes(name: str) -> None:
    backend = NativeBackend()
    everything = {f.name: f for f in backend.features()}
    alone = backend.feature(name)
    assert alone.name == name
    assert alone.available == everything[name].available
    assert alone.needs == everything[name].needs


def test_an_unknown_probe_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="no probe named"):
        NativeBackend().feature("warp-drive")
