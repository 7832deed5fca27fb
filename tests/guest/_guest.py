"""Helpers of the guest-lane tests: compiled test programs, veth pairs in
namespaces, trace packets, the dispatcher engine in a namespace.

Run as a script (``python tests/guest/_guest.py``) it compiles the test
programs the guest tests use; scripts/guest-lane.sh does so on the host
before booting, because clang under software emulation takes 10-30 s a file.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

TRACE_MAGIC = b"BTRC"
TRACE_MAX = 16
REPO = Path(__file__).resolve().parents[2]
SOURCES = REPO / "tests" / "bpf"
BUILD = SOURCES / "build" / "guest"
CHAIN = "dispatch/chain.c"

# What the guest tests compile: the chain program plain (marks and verdicts
# set as globaldata) and with marks built in (xdp-loader cannot set globals).
VARIANTS: tuple[tuple[str, Mapping[str, object]], ...] = (
    (CHAIN, {}),
    *((CHAIN, {"MARK": mark}) for mark in range(1, 11)),
)


# ------------------------------------------------------------- compiling


def build(source: str, **defines: object) -> Path:
    """Compile ``tests/bpf/<source>`` with ``-D`` defines; reuse a fresh result."""
    suffix = "-".join(f"{k}{v}" for k, v in sorted(defines.items())) or "plain"
    target = BUILD / f"{Path(source).stem}-{suffix}.o"
    origin = SOURCES / source
    if target.exists() and target.stat().st_mtime >= origin.stat().st_mtime:
        return target
    BUILD.mkdir(parents=True, exist_ok=True)
    include = f"/usr/include/{os.uname().machine}-linux-gnu"
    partial = target.with_name(f".{target.name}.{os.getpid()}")
    subprocess.run(
        ["clang", "-target", "bpf", "-O2", "-g", f"-I{include}",
         *(f"-D{k}={v}" for k, v in sorted(defines.items())),
         "-c", str(origin), "-o", str(partial)],
        check=True,
    )  # fmt: skip
    partial.replace(target)
    return target


# ----------------------------------------------------------- networking


def ip(*args: str) -> str:
    """Run ``ip`` and return its output; fails the test on an error."""
    done = subprocess.run(["ip", *args], check=False, capture_output=True, text=True)
    if done.returncode:
        raise AssertionError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


@dataclass
class VethPair:
    """Two network namespaces joined by a veth pair.

    ``a`` (10.199.0.1) sends, ``b`` (10.199.0.2) receives; dispatchers are
    usually attached to ``b`` (XDP, TC ingress) or ``a`` (TC egress).
    """

    ns_a: str
    ns_b: str
    a: str = "vpa"
    b: str = "vpb"
    addr_a: str = "10.199.0.1"
    addr_b: str = "10.199.0.2"
    index: dict[str, int] = field(default_factory=dict)
    mac: dict[str, bytes] = field(default_factory=dict)

    def path(self, side: str) -> str:
        return f"/run/netns/{self.ns_a if side == 'a' else self.ns_b}"

    def nsenter(self, side: str, *command: str) -> subprocess.CompletedProcess[str]:
        """Run a command in one side's namespace without remounting /sys.

        ``ip netns exec`` would remount /sys and hide the bpffs at
        /sys/fs/bpf, so libxdp would pin into a bpffs of its own.
        """
        return subprocess.run(
            ["nsenter", f"--net={self.path(side)}", *command],
            check=False,
            capture_output=True,
            text=True,
        )


def make_veth(pair: VethPair) -> None:
    """Create both namespaces and the veth pair; fill ``index`` and ``mac``.

    Two ``ip -batch`` runs instead of a dozen ``ip`` runs: under software
    emulation each process start costs about half a second.
    """
    ip("netns", "add", pair.ns_a)
    ip("netns", "add", pair.ns_b)
    ip("link", "add", pair.a, "netns", pair.ns_a, "type", "veth",
       "peer", "name", pair.b, "netns", pair.ns_b)  # fmt: skip
    for side, ns, dev, addr in (
        ("a", pair.ns_a, pair.a, pair.addr_a),
        ("b", pair.ns_b, pair.b, pair.addr_b),
    ):
        batch = f"addr add {addr}/24 dev {dev}\nlink set {dev} up\nlink set lo up\n"
        done = subprocess.run(
            ["ip", "-n", ns, "-batch", "-"], input=batch, text=True,
            capture_output=True, check=False,
        )  # fmt: skip
        if done.returncode:
            raise AssertionError(f"ip -n {ns} -batch: {done.stderr.strip()}")
        (link,) = json.loads(ip("-n", ns, "-j", "link", "show", dev))
        pair.index[side] = int(link["ifindex"])
        pair.mac[side] = bytes.fromhex(link["address"].replace(":", ""))


# ---------------------------------------------------------- trace packets


def _checksum(data: bytes) -> int:
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def trace_frame(
    pair: VethPair | None = None,
    seq: int = 0,
    port: int = 9999,
    overrides: Mapping[int, int] | None = None,
) -> bytes:
    """An Ethernet/IPv4/UDP frame from a to b whose payload holds an empty trace.

    ``overrides`` maps a program's mark to the verdict it must return for
    this packet (see tests/bpf/dispatch/chain.c). The UDP checksum is 0
    (none, allowed for IPv4) because the programs write into the payload.
    """
    dst = pair.mac["b"] if pair else b"\x02" * 6
    src = pair.mac["a"] if pair else b"\x04" * 6
    table = bytearray(16)
    for mark, verdict in (overrides or {}).items():
        table[mark & 15] = verdict + 2
    payload = TRACE_MAGIC + bytes(1 + TRACE_MAX) + struct.pack("!I", seq) + table
    payload += bytes(64 - len(payload))
    udp = struct.pack("!HHHH", 40000, port, 8 + len(payload), 0)
    saddr = socket.inet_aton(pair.addr_a if pair else "10.199.0.1")
    daddr = socket.inet_aton(pair.addr_b if pair else "10.199.0.2")
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp) + len(payload),
                         seq & 0xFFFF, 0, 64, 17, 0, saddr, daddr)  # fmt: skip
    header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
    return dst + src + b"\x08\x00" + header + udp + payload


def trace_of(frame_or_payload: bytes) -> tuple[int, ...]:
    """The marks stamped into a frame (or a bare UDP payload), in order."""
    at = frame_or_payload.find(TRACE_MAGIC)
    assert at >= 0, "no trace in the packet"
    count = frame_or_payload[at + 4]
    return tuple(frame_or_payload[at + 5 : at + 5 + count])


def seq_of(payload: bytes) -> int:
    at = payload.find(TRACE_MAGIC) + 5 + TRACE_MAX
    return struct.unpack("!I", payload[at : at + 4])[0]


class Stream:
    """A steady stream of trace frames from a to b, and what b's UDP socket got."""

    def __init__(self, pair: VethPair, interval: float = 0.001, port: int = 9999):
        from bpftui.native.netns import entered

        self.pair = pair
        self.interval = interval
        self.sent = 0
        self.received: list[tuple[int, tuple[int, ...]]] = []
        self._stop = threading.Event()
        with entered(pair.path("a")):
            self._tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
            self._tx.bind((pair.a, 0))
        with entered(pair.path("b")):
            self._rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._rx.bind((pair.addr_b, port))
            self._rx.settimeout(0.2)
        self.port = port
        self._threads = [
            threading.Thread(target=self._send, daemon=True),
            threading.Thread(target=self._receive, daemon=True),
        ]

    def __enter__(self) -> Stream:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._threads[0].join()
        time.sleep(0.3)  # let the last frames arrive
        self._threads[1].join()
        self._tx.close()
        self._rx.close()

    def wait_for(self, count: int, timeout: float = 10.0) -> None:
        """Wait until ``count`` frames arrived; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"only {len(self.received)} of {self.sent} frames arrived"
                )
            time.sleep(0.01)

    def _send(self) -> None:
        while not self._stop.is_set():
            self._tx.send(trace_frame(self.pair, self.sent, self.port))
            self.sent += 1
            time.sleep(self.interval)

    def _receive(self) -> None:
        while not (self._stop.is_set() and self._quiet()):
            try:
                payload = self._rx.recv(2048)
            except TimeoutError:
                continue
            self.received.append((seq_of(payload), trace_of(payload)))

    def _quiet(self) -> bool:
        try:
            payload = self._rx.recv(2048)
        except TimeoutError:
            return True
        self.received.append((seq_of(payload), trace_of(payload)))
        return False


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


# --------------------------------------------------------- the engine


class Rig:
    """The dispatcher engine over the real kernel, acting in one namespace.

    Args:
        pair: the veth pair; hooks are on side ``b`` unless said otherwise.
        root: bpftui's bpffs directory for this test.
        bpffs: where libxdp's ``xdp`` directory is: the test's own root, or
            the real /sys/fs/bpf for interop with xdp-loader.
    """

    def __init__(self, pair: VethPair, root: str, bpffs: str) -> None:
        from bpftui.core.revisions import Dispatchers
        from bpftui.native.backend import NativeBackend

        self.pair = pair
        self.root = root
        self.backend = NativeBackend(bpffs_root=root)
        self.engine = Dispatchers(self.backend, bpffs=bpffs, pin_root=root)
        self.chain = build(CHAIN)
        self._count = 0

    def hook(self, kind: str = "xdp", side: str = "b", direction: str = "ingress"):
        from bpftui.core.dispatchers import Hook, HookKind

        name = self.pair.a if side == "a" else self.pair.b
        if kind == "xdp":
            return Hook(HookKind.XDP, self.pair.index[side], name)
        return Hook(HookKind.TC, self.pair.index[side], name, direction)

    def program(
        self,
        mark: int,
        priority: int = 50,
        *,
        kind: str = "xdp",
        verdict: int | None = None,
        proceedon: Sequence[str] = (),
        key: str | None = None,
    ):
        """A request for the chain program stamping ``mark``."""
        from bpftui.core.revisions import NewProgram

        self._count += 1
        key = key or f"p{self._count}-m{mark}"
        globaldata = {"mark": bytes([mark])}
        if verdict is not None:
            name = "xdp_verdict" if kind == "xdp" else "tc_verdict"
            globaldata[name] = struct.pack("=i", verdict)
        return NewProgram(
            key=key,
            object_path=str(self.chain),
            function=f"chain_{kind}",
            priority=priority,
            map_pin_dir=f"{self.root}/maps/{key}",
            proceedon=tuple(proceedon),
            globaldata=globaldata,
        )

    @contextmanager
    def inside(self, side: str = "b") -> Iterator[None]:
        from bpftui.native.netns import entered

        with entered(self.pair.path(side)):
            yield

    def change(self, hook, *, side: str = "b", **kwargs):
        with self.inside(side):
            return self.engine.change(hook, mode="native", **kwargs)

    def read(self, hook, side: str = "b"):
        with self.inside(side):
            return self.engine.read(hook)

    def clear(self, hook, side: str = "b") -> None:
        """Remove whatever the hook runs."""
        revision = self.read(hook, side)
        ids = [m.prog_id for m in revision.members if m.prog_id is not None]
        if ids:
            self.change(hook, side=side, remove=ids)

    def clear_all(self) -> None:
        """Empty every hook of both sides, so the next test starts clean."""
        for side in ("a", "b"):
            self.clear(self.hook("xdp", side), side)
            for direction in ("ingress", "egress"):
                self.clear(self.hook("tc", side, direction), side)

    def run(
        self, revision, overrides: Mapping[int, int] | None = None
    ) -> tuple[int, tuple[int, ...]]:
        """BPF_PROG_TEST_RUN through the dispatcher: (verdict, trace).

        ``overrides``: mark -> the verdict that program returns this time.
        """
        from bpftui.native.testrun import prog_test_run

        frame = trace_frame(self.pair, overrides=overrides)
        result = prog_test_run(revision.dispatcher_id, frame)
        return result.retval, trace_of(result.data)

    def close(self) -> None:
        self.backend.close()


def xdp_loader_status(pair: VethPair, side: str = "b") -> list[dict[str, object]]:
    """The slots ``xdp-loader status`` lists for the side's interface.

    Each row: prio, name, id, actions (the chain call action names).
    """
    name = pair.a if side == "a" else pair.b
    done = pair.nsenter(side, "xdp-loader", "status", name)
    assert done.returncode == 0, done.stderr
    rows = []
    for line in done.stdout.splitlines():
        if not line.lstrip().startswith("=>"):
            continue
        fields = line.split()
        rows.append(
            {
                "prio": int(fields[1]),
                "name": fields[2],
                "id": int(fields[3]),
                "actions": tuple(",".join(fields[5:]).split(",")),
            }
        )
    return rows


if __name__ == "__main__":
    for variant_source, variant_defines in VARIANTS:
        print(build(variant_source, **variant_defines), file=sys.stderr)
