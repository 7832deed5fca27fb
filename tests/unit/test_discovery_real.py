"""RealDiscovery: one missing piece of the kernel fails alone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bpftui.core.discovery import RealDiscovery, open_discovery
from bpftui.core.errors import NotSupported, PermissionProblem
from bpftui.core.session import Discovery


@pytest.fixture
def bare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RealDiscovery:
    """A node without BTF, without tracefs, and no right to mount it."""
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    (tmp_path / "btf").mkdir()
    (tmp_path / "tracing").mkdir()
    return RealDiscovery(
        btf_dir=str(tmp_path / "btf"),
        tracefs=str(tmp_path / "tracing"),
        cache_dir=str(tmp_path / "cache"),
    )


def test_it_is_a_discovery() -> None:
    assert isinstance(open_discovery(), Discovery)


def test_missing_btf_names_the_kernel_option(bare: RealDiscovery) -> None:
    with pytest.raises(NotSupported, match="BTF is not supported here") as caught:
        bare.functions()
    assert "CONFIG_DEBUG_INFO_BTF" in str(caught.value)


def test_missing_tracefs_names_tracefs(bare: RealDiscovery) -> None:
    with pytest.raises(PermissionProblem, match="tracefs: not mounted"):
        bare.tracepoints()
    with pytest.raises(PermissionProblem, match="tracefs"):
        bare.tracepoint_fields("sched", "sched_switch")


def test_the_rest_keeps_working(bare: RealDiscovery) -> None:
    with pytest.raises(NotSupported):
        bare.functions()
    assert any(view.name == "lo" for view in bare.interfaces())
    assert any(view.pid == os.getpid() for view in bare.processes())
    assert bare.resolve_library("/opt/app") == "/opt/app"
