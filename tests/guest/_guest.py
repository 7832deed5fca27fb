"""Helpers of the guest-lane tests: veth pairs in namespaces, trace packets."""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field

TRACE_MAGIC = b"BTRC"
TRACE_MAX = 16


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


# ---------------------------------------------------------- trace packets


def _checksum(data: bytes) -> int:
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def trace_frame(pair: VethPair | None = None, seq: int = 0, port: int = 9999) -> bytes:
    """An Ethernet/IPv4/UDP frame from a to b whose payload holds an empty trace.

    The UDP checksum is 0 (none, allowed for IPv4) because the programs write
    into the payload.
    """
    dst = pair.mac["b"] if pair else b"\x02" * 6
    src = pair.mac["a"] if pair else b"\x04" * 6
    payload = TRACE_MAGIC + bytes(1 + TRACE_MAX) + struct.pack("!I", seq)
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
