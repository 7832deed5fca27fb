"""Helpers shared by the test layers (fixtures live in conftest.py).

Import as ``from _testbed import requires, leftovers, NetnsPair``: tests/ is
on ``sys.path`` because its conftest.py is.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

import pytest

from bpftui.core.backend import Feature

BPFFS = "/sys/fs/bpf"


# --------------------------------------------------------------- features


_FEATURES: dict[str, Feature] = {}


def features() -> dict[str, Feature]:
    """Every capability the native backend probes, once per session."""
    if not _FEATURES:
        from bpftui.native.backend import NativeBackend

        for feature in NativeBackend().features():
            _FEATURES[feature.name] = feature
    return _FEATURES


def requires(name: str) -> None:
    """Skip the calling test unless the kernel has capability ``name``.

    The reason names what is missing and what would provide it, as in
    ``fentry: the kernel refuses BPF_PROG_TYPE_TRACING (fentry): EPERM ...``.
    """
    if os.geteuid() != 0:
        pytest.skip(f"{name}: probing kernel capabilities needs root")
    feature = features().get(name)
    if feature is None:
        pytest.fail(f"no capability named {name!r} is probed")
    if not feature.available:
        needs = f"; needs {feature.needs}" if feature.needs else ""
        pytest.skip(f"{name}: {feature.detail or 'not available'}{needs}")


def wait_until(predicate: Callable[[], bool], timeout: float = 3.0) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass.

    The kernel frees programs and links after an RCU grace period once their
    last pin is unlinked, so "gone" is something to wait for, briefly.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def kernel_at_least(major: int, minor: int) -> bool:
    """Whether the running kernel is ``major.minor`` or newer."""
    release = os.uname().release.split("-")[0].split(".")
    return (int(release[0]), int(release[1])) >= (major, minor)


# Links made on perf events name their tracepoint, kprobe or uprobe from 6.6.
PERF_LINK_INFO = kernel_at_least(6, 6)


def leftovers(root: str) -> list[str]:
    """Every file and directory left under ``root``."""
    found = []
    for top, dirs, files in os.walk(root):
        found += [os.path.join(top, name) for name in dirs + files]
    return sorted(found)


# ----------------------------------------------------------- namespaces


def ip(*args: str) -> str:
    """Run ``ip`` and return its output; raise with its message on failure."""
    return _run("ip", *args)


def tc(*args: str) -> str:
    """Run ``tc`` and return its output; raise with its message on failure."""
    return _run("tc", *args)


def _run(*command: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)}: {done.stderr.strip()}")
    return done.stdout


@dataclass
class NetnsPair:
    """A test network namespace with a veth pair to a peer namespace.

    ``dev`` (address ``addr``) lives in ``name``; ``peer_dev`` (``peer_addr``)
    in ``peer_name``. Traffic between the two crosses the veth pair; nothing
    else is reachable from either namespace.
    """

    name: str
    peer_name: str
    addr: str
    peer_addr: str
    dev: str = "veth0"
    peer_dev: str = "veth1"
    ifindex: int = 0

    @property
    def path(self) -> str:
        return f"/run/netns/{self.name}"

    @property
    def peer_path(self) -> str:
        return f"/run/netns/{self.peer_name}"

    def inside(self) -> AbstractContextManager[None]:
        """Run a block with this thread in the test namespace."""
        from bpftui.native.netns import entered

        return entered(self.path)

    def udp_delivered(self, count: int = 3, timeout: float = 0.5) -> int:
        """Send ``count`` datagrams from the peer to ``addr``; return how many
        arrived. XDP or TC on ``dev`` decides their fate (and that of ARP)."""
        from bpftui.native.netns import entered

        with entered(self.path):
            receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with entered(self.peer_path):
            sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with receiver, sender:
            receiver.bind((self.addr, 0))
            receiver.settimeout(timeout)
            port = receiver.getsockname()[1]
            for number in range(count):
                sender.sendto(b"bpftui %d" % number, (self.addr, port))
                time.sleep(0.01)
            return _count_received(receiver, count)


def _count_received(receiver: socket.socket, expected: int) -> int:
    received = 0
    while received < expected:
        try:
            receiver.recv(64)
        except TimeoutError:
            break
        received += 1
    return received


def make_pair(pair: NetnsPair) -> None:
    """Create both namespaces, the veth pair, addresses; fill ``ifindex``."""
    ip("netns", "add", pair.name)
    ip("netns", "add", pair.peer_name)
    ip("-n", pair.name, "link", "add", pair.dev, "type", "veth",
       "peer", "name", pair.peer_dev, "netns", pair.peer_name)  # fmt: skip
    for ns, dev, addr in (
        (pair.name, pair.dev, pair.addr),
        (pair.peer_name, pair.peer_dev, pair.peer_addr),
    ):
        ip("-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
        ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", ns, "link", "set", dev, "up")
    pair.ifindex = int(
        ip("-n", pair.name, "-o", "link", "show", pair.dev).split(":")[0]
    )


def netns_exists(name: str) -> bool:
    return os.path.exists(f"/run/netns/{name}")
