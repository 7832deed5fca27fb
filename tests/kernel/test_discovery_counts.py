"""bpftui's listings count what the kernel's own tools count, on this machine.

``ip -o link`` for interfaces, tracefs' ``available_events`` for
tracepoints, ``bpftool btf dump file /sys/kernel/btf/vmlinux`` for the FUNC
entries of vmlinux; both through the library and through the CLI.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bpftui.core.discovery import RealDiscovery
from bpftui.core.discovery.btf import Btf
from bpftui.core.discovery.tracefs import tracefs_root

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (tracefs, BTF)"),
]

VMLINUX = Path("/sys/kernel/btf/vmlinux")
needs_btf = pytest.mark.skipif(not VMLINUX.exists(), reason="kernel without BTF")
needs_bpftool = pytest.mark.skipif(
    shutil.which("bpftool") is None, reason="needs bpftool"
)


def run(*argv: str) -> str:
    return subprocess.run(
        argv, capture_output=True, text=True, check=True, timeout=120
    ).stdout


def bpftui_json(tmp_path: Path, *argv: str) -> list[dict[str, object]]:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-m", "bpftui", "list", *argv, "-o", "json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
        env=env,
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def bpftool_functions() -> list[str]:
    if shutil.which("bpftool") is None or not VMLINUX.exists():
        pytest.skip("needs bpftool and /sys/kernel/btf/vmlinux")
    dump = run("bpftool", "btf", "dump", "file", str(VMLINUX))
    return re.findall(r"^\[\d+\] FUNC '([^']*)'", dump, re.M)


# ------------------------------------------------------------ interfaces


def ip_link_names() -> list[str]:
    return [
        line.split(":")[1].strip().split("@")[0]
        for line in run("ip", "-o", "link").splitlines()
    ]


def test_interfaces_match_ip_link() -> None:
    names = [v.name for v in RealDiscovery().interfaces()]
    assert len(names) == len(ip_link_names())
    assert sorted(names) == sorted(ip_link_names())


def test_cli_interfaces_match_ip_link(tmp_path: Path) -> None:
    assert len(bpftui_json(tmp_path, "interfaces")) == len(ip_link_names())


# ------------------------------------------------------------ tracepoints


def available_events() -> list[str]:
    path = Path(tracefs_root()) / "available_events"
    return [line for line in path.read_text().splitlines() if line.strip()]


def test_tracepoints_match_available_events() -> None:
    views = RealDiscovery().tracepoints()
    expected = available_events()
    assert len(views) == len(expected)
    assert {f"{v.category}:{v.name}" for v in views} == set(expected)


def test_cli_tracepoints_match_available_events(tmp_path: Path) -> None:
    assert len(bpftui_json(tmp_path, "tracepoints")) == len(available_events())


def test_fields_of_a_real_tracepoint() -> None:
    fields = {
        f.name: f for f in RealDiscovery().tracepoint_fields("sched", "sched_switch")
    }
    assert fields["common_pid"].type == "int"
    assert fields["common_pid"].signed
    assert fields["prev_comm"].type == "char[16]"
    assert fields["prev_comm"].size == 16


# ------------------------------------------------------------ functions


@needs_btf
@needs_bpftool
def test_vmlinux_functions_match_bpftool(
    bpftool_functions: list[str], tmp_path: Path
) -> None:
    catalogue = RealDiscovery(cache_dir=str(tmp_path)).functions()
    vmlinux = [
        n
        for n, m in zip(catalogue.names, _modules(catalogue), strict=True)
        if m == "vmlinux"
    ]
    assert len(vmlinux) == len(bpftool_functions)
    assert vmlinux == bpftool_functions


def _modules(catalogue: object) -> list[str]:
    counts = catalogue.module_counts()  # type: ignore[attr-defined]
    return [module for module, count in counts.items() for _ in range(count)]


@needs_btf
@needs_bpftool
def test_cli_functions_match_bpftool(
    bpftool_functions: list[str], tmp_path: Path
) -> None:
    rows = bpftui_json(tmp_path, "functions")
    assert sum(1 for r in rows if r["module"] == "vmlinux") == len(bpftool_functions)
    # The second run reads the cache and must say the same.
    assert bpftui_json(tmp_path, "functions") == rows


@needs_btf
@needs_bpftool
def test_every_module_matches_bpftool(tmp_path: Path) -> None:
    modules = sorted(p for p in VMLINUX.parent.iterdir() if p.name != "vmlinux")
    if not modules:
        pytest.skip("this kernel has no module BTF")
    base = Btf(VMLINUX.read_bytes(), "vmlinux")
    for path in modules:
        dump = run("bpftool", "-B", str(VMLINUX), "btf", "dump", "file", str(path))
        expected = re.findall(r"^\[\d+\] FUNC '([^']*)'", dump, re.M)
        assert Btf(path.read_bytes(), path.name, base).function_names() == expected
