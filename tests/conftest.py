"""Shared test set-up: compiled BPF test programs, namespaces, bpffs, features.

Fixtures and helpers for every layer (other conftest files may add more):

* ``bpf_objects`` (session): tests/bpf/*.c compiled with ``clang -target bpf
  -O2 -g`` into tests/bpf/build/ (gitignored), plus the ``uprobe_target``
  binary built for the host; a mapping of stem -> path. Objects are rebuilt
  only when their source is newer.
* ``netns``: a uniquely named network namespace holding one end of a veth
  pair whose other end sits in a second namespace; both are always deleted.
* ``bpffs_root``: a unique directory under /sys/fs/bpf (bpffs mounted if it
  was not), removed with everything in it afterwards.
* ``requires(feature)``: skip unless the kernel has a capability, probed for
  real by the native backend; the reason names what is missing, e.g.
  ``fentry: the kernel refuses BPF_PROG_TYPE_TRACING (fentry): EPERM ...``.

Tests marked ``kernel`` are skipped when not running as root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from _testbed import BPFFS, NetnsPair, make_pair, requires

TESTS = Path(__file__).resolve().parent
BPF_SOURCES = TESTS / "bpf"
BPF_BUILD = BPF_SOURCES / "build"
HOST_PROGRAMS = ("uprobe_target",)  # built for the host, not for BPF


# ---------------------------------------------------------------- markers


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("kernel") and os.geteuid() != 0:
        pytest.skip("kernel test: needs root (BPF, netlink, bpffs)")


# -------------------------------------------------------------- compiling


def _multiarch_include() -> str:
    found = subprocess.run(
        ["cc", "-print-multiarch"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return f"/usr/include/{found or os.uname().machine + '-linux-gnu'}"


def _build(source: Path, target: Path, command: list[str]) -> None:
    if target.exists() and target.stat().st_mtime >= source.stat().st_mtime:
        return
    partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    done = subprocess.run(
        [*command, "-o", str(partial)], capture_output=True, text=True, check=False
    )
    if done.returncode:
        partial.unlink(missing_ok=True)
        pytest.fail(f"compiling {source.name} failed:\n{done.stderr}")
    partial.replace(target)  # atomic: a parallel session never sees half a file


@pytest.fixture(scope="session")
def bpf_objects() -> dict[str, Path]:
    """Compile every test program; return stem -> path of the result."""
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed (needed to build tests/bpf/*.c)")
    BPF_BUILD.mkdir(exist_ok=True)
    include = _multiarch_include()
    built: dict[str, Path] = {}
    for source in sorted(BPF_SOURCES.glob("*.c")):
        stem = source.stem
        if stem in HOST_PROGRAMS:
            target = BPF_BUILD / stem
            _build(source, target, ["cc", "-O1", "-g", str(source)])
        else:
            target = BPF_BUILD / f"{stem}.o"
            command = ["clang", "-target", "bpf", "-O2", "-g", f"-I{include}"]
            _build(source, target, [*command, "-c", str(source)])
        built[stem] = target
    return built


@pytest.fixture(name="requires")
def requires_fixture() -> Callable[[str], None]:
    """``requires("fentry")`` inside a test: skip unless the kernel allows it."""
    return requires


# ------------------------------------------------------------------ bpffs


@pytest.fixture
def bpffs_root() -> Iterator[str]:
    """A fresh directory in bpffs; it and everything under it go afterwards."""
    from bpftui.native.fs import ensure_bpffs

    ensure_bpffs(BPFFS)
    root = os.path.join(BPFFS, f"bpftui-test-{uuid.uuid4().hex[:10]}")
    os.mkdir(root)
    try:
        yield root
    finally:
        _remove_tree(root)


def _remove_tree(root: str) -> None:
    # shutil.rmtree works on bpffs too, but a pin must be unlinked, and
    # unlinking a link's pin is what releases the link.
    for top, dirs, files in os.walk(root, topdown=False):
        for name in files:
            os.unlink(os.path.join(top, name))
        for name in dirs:
            os.rmdir(os.path.join(top, name))
    if os.path.isdir(root):
        os.rmdir(root)


# ----------------------------------------------------------- namespaces


@pytest.fixture
def netns() -> Iterator[NetnsPair]:
    """Two fresh namespaces joined by a veth pair; both deleted afterwards."""
    tag = uuid.uuid4().hex[:8]
    subnet = f"10.{200 + int(tag[:2], 16) % 50}.{int(tag[2:4], 16)}"
    pair = NetnsPair(
        f"bpftui-t-{tag}", f"bpftui-t-{tag}-p", f"{subnet}.1", f"{subnet}.2"
    )
    try:
        make_pair(pair)
        yield pair
    finally:
        for name in (pair.peer_name, pair.name):
            subprocess.run(
                ["ip", "netns", "del", name], capture_output=True, check=False
            )
