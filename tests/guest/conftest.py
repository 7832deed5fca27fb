"""Fixtures for the guest-kernel lane: compiled test programs, network
namespaces with a veth pair, and packets carrying a trace of the programs
that saw them (helpers in _guest.py).

These tests need what the host kernel refuses (freplace, fentry, kprobes);
scripts/guest-lane.sh runs them inside a stock Debian kernel under QEMU and
sets BPFTUI_GUEST=1 there. Anywhere else they are skipped.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from _guest import VethPair, ip

IN_GUEST = os.environ.get("BPFTUI_GUEST") == "1"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _only_in_the_guest() -> None:
    if not IN_GUEST:
        pytest.skip(
            "needs the guest-kernel lane (scripts/guest-lane.sh): this kernel "
            "refuses freplace, fentry/fexit and kprobes"
        )


# ------------------------------------------------------------- compiling


@pytest.fixture(scope="session")
def compile_bpf(tmp_path_factory: pytest.TempPathFactory):
    """Compile a C source under tests/bpf with clang; results are cached.

    Call as ``compile_bpf("dispatch/chain.c", MARK=7)``; keyword arguments
    become ``-D`` defines.
    """
    out = tmp_path_factory.mktemp("bpf")
    built: dict[tuple[str, tuple[tuple[str, object], ...]], Path] = {}
    include = f"/usr/include/{os.uname().machine}-linux-gnu"

    def build(source: str, **defines: object) -> Path:
        key = (source, tuple(sorted(defines.items())))
        if key not in built:
            suffix = "-".join(f"{k}{v}" for k, v in key[1]) or "plain"
            target = out / f"{Path(source).stem}-{suffix}.o"
            flags = [f"-D{k}={v}" for k, v in key[1]]
            subprocess.run(
                ["clang", "-target", "bpf", "-O2", "-g", f"-I{include}", *flags,
                 "-c", str(REPO / "tests" / "bpf" / source), "-o", str(target)],
                check=True,
            )  # fmt: skip
            built[key] = target
        return built[key]

    return build


# ----------------------------------------------------------- networking


@pytest.fixture
def veth() -> Iterator[VethPair]:
    tag = uuid.uuid4().hex[:6]
    pair = VethPair(f"bt-{tag}-a", f"bt-{tag}-b")
    ip("netns", "add", pair.ns_a)
    try:
        ip("netns", "add", pair.ns_b)
        ip("link", "add", pair.a, "netns", pair.ns_a, "type", "veth",
           "peer", "name", pair.b, "netns", pair.ns_b)  # fmt: skip
        for side, name, addr in (
            ("a", pair.a, pair.addr_a),
            ("b", pair.b, pair.addr_b),
        ):
            ns = pair.ns_a if side == "a" else pair.ns_b
            ip("-n", ns, "addr", "add", f"{addr}/24", "dev", name)
            ip("-n", ns, "link", "set", name, "up")
            ip("-n", ns, "link", "set", "lo", "up")
            pair.index[side] = int(
                ip("-n", ns, "-o", "link", "show", name).split(":")[0]
            )
            mac = (
                ip("-n", ns, "-o", "link", "show", name)
                .split("link/ether ")[1]
                .split()[0]
            )
            pair.mac[side] = bytes.fromhex(mac.replace(":", ""))
        yield pair
    finally:
        subprocess.run(
            ["ip", "netns", "del", pair.ns_b], check=False, capture_output=True
        )
        subprocess.run(
            ["ip", "netns", "del", pair.ns_a], check=False, capture_output=True
        )
