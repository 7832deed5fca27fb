"""Dispatcher benchmark: bpftui against libxdp (xdp-loader) and the bare program.

Needs root and a kernel that allows freplace; run it in the guest lane::

    GUEST_LANE_CMD=".venv/bin/python bench/dispatcher_bench.py" scripts/guest-lane.sh

It prints one table with two parts:

* data path: nanoseconds per packet through BPF_PROG_TEST_RUN with
  ``repeat`` (the kernel's own timing), for the bare program attached alone,
  bpftui's dispatcher and libxdp's dispatcher, each holding 1, 5 and 10
  copies of the same program (tests/bpf/dispatch/chain.c; the packet carries
  no trace, so each program reads a few bytes and passes it on);
* control path: wall time to add the 1st, 2nd ... 10th program to one
  interface with bpftui's engine (in process) and with ``xdp-loader load``
  (a process per program, as an operator would run it).

Each side gets its own veth pair in its own network namespace; the sides
take turns at every step, so background load hits both alike. Figures are
the best of several rounds (load from elsewhere only ever adds time), and
the dispatchers' machine code sizes are given as a figure no noise touches.
Under software emulation expect times 10-50x those of real hardware, with
the ratios between columns still fair.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "guest"))

from _guest import CHAIN, VethPair, build, make_veth  # noqa: E402

from bpftui.core.backend import LoadSpec  # noqa: E402
from bpftui.core.dispatchers import Hook, HookKind  # noqa: E402
from bpftui.core.revisions import Dispatchers, NewProgram  # noqa: E402
from bpftui.native.backend import NativeBackend  # noqa: E402
from bpftui.native.netns import entered  # noqa: E402
from bpftui.native.testrun import prog_test_run  # noqa: E402

COUNTS = (1, 5, 10)
BPFFS = "/sys/fs/bpf"


@dataclass
class Results:
    """What was measured: ns per packet by (column, count), ms per add step."""

    packet_ns: dict[tuple[str, int], float] = field(default_factory=dict)
    jited: dict[tuple[str, int], int] = field(default_factory=dict)
    add_ms: dict[str, list[float]] = field(default_factory=dict)


# ------------------------------------------------------------- the rigs


@contextmanager
def veth_pair() -> Iterator[VethPair]:
    tag = uuid.uuid4().hex[:6]
    pair = VethPair(f"bb-{tag}-a", f"bb-{tag}-b")
    try:
        make_veth(pair)
        yield pair
    finally:
        for name in (pair.ns_b, pair.ns_a):
            subprocess.run(["ip", "netns", "del", name], check=False)


def bare_frame() -> bytes:
    """Ethernet/IPv4/UDP, 64 bytes of payload, no trace: the programs pass it."""
    header = bytes(12) + b"\x08\x00" + bytes([0x45]) + bytes(19)
    return header + struct.pack("!HHHH", 1, 2, 72, 0) + bytes(64)


def ns_per_packet(prog_id: int, repeat: int, rounds: int) -> float:
    """The best of ``rounds`` means: other load on the machine only adds."""
    frame = bare_frame()
    return min(
        prog_test_run(prog_id, frame, repeat=repeat).duration_ns for _ in range(rounds)
    )


def jited_bytes(prog_id: int) -> int:
    """Machine code size of a program: what the data path executes, exactly."""
    done = subprocess.run(
        ["bpftool", "-j", "prog", "show", "id", str(prog_id)],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(json.loads(done.stdout)["bytes_jited"])


class Bpftui:
    """bpftui's engine on side b of a veth pair."""

    def __init__(self, pair: VethPair, root: str) -> None:
        self.pair = pair
        self.root = root
        self.backend = NativeBackend(bpffs_root=root)
        self.engine = Dispatchers(self.backend, bpffs=BPFFS, pin_root=root)
        self.hook = Hook(HookKind.XDP, pair.index["b"], pair.b)
        self.chain = str(build(CHAIN))
        self.count = 0

    def add(self) -> int:
        """Add one more program; return the dispatcher's id."""
        self.count += 1
        request = NewProgram(
            key=f"bench-{self.count}",
            object_path=self.chain,
            function="chain_xdp",
            priority=self.count,
            map_pin_dir=f"{self.root}/maps/{self.count}",
            globaldata={"mark": bytes([self.count])},
        )
        with entered(self.pair.path("b")):
            change = self.engine.change(self.hook, add=[request], mode="native")
        assert change.revision.dispatcher_id is not None
        return change.revision.dispatcher_id

    def clear(self) -> None:
        with entered(self.pair.path("b")):
            revision = self.engine.read(self.hook)
            ids = [m.prog_id for m in revision.members if m.prog_id is not None]
            if ids:
                self.engine.change(self.hook, remove=ids)
        self.count = 0


class XdpLoader:
    """xdp-loader (libxdp) on side b of another veth pair."""

    def __init__(self, pair: VethPair) -> None:
        self.pair = pair
        self.count = 0

    def add(self) -> int:
        self.count += 1
        obj = build(CHAIN, MARK=self.count)
        done = self.pair.nsenter(
            "b", "xdp-loader", "load", "-m", "native", "-P", str(self.count),
            self.pair.b, str(obj),
        )  # fmt: skip
        if done.returncode:
            raise RuntimeError(f"xdp-loader load: {done.stderr.strip()}")
        return self.dispatcher_id()

    def dispatcher_id(self) -> int:
        done = self.pair.nsenter("b", "ip", "-j", "link", "show", self.pair.b)
        import json

        (link,) = json.loads(done.stdout)
        return int(link["xdp"]["prog"]["id"])

    def clear(self) -> None:
        self.pair.nsenter("b", "xdp-loader", "unload", "--all", self.pair.b)
        self.count = 0


# ----------------------------------------------------------- measuring


def timed(step: Callable[[], int]) -> tuple[int, float]:
    start = time.perf_counter()
    result = step()
    return result, (time.perf_counter() - start) * 1000


def measure(
    sides: dict[str, Bpftui | XdpLoader],
    results: Results,
    args: argparse.Namespace,
) -> None:
    """Add programs 1..10 to every side in turn, ``args.sequences`` times,
    keeping each step's best time; in the first sequence, at 1, 5 and 10
    programs, time the data path. The sides take turns at every step, so
    background load hits them alike."""
    best: dict[str, list[float]] = {name: [] for name in sides}
    for sequence in range(args.sequences):
        for count in range(1, max(COUNTS) + 1):
            dispatchers = {}
            for name, side in sides.items():
                dispatchers[name], ms = timed(side.add)
                steps = best[name]
                if sequence == 0:
                    steps.append(ms)
                steps[count - 1] = min(steps[count - 1], ms)
            if sequence == 0 and count in COUNTS:
                time_data_path(dispatchers, count, results, args)
        for side in sides.values():
            side.clear()
    results.add_ms.update(best)


def time_data_path(
    dispatchers: dict[str, int], count: int, results: Results, args: argparse.Namespace
) -> None:
    samples: dict[str, list[float]] = {name: [] for name in dispatchers}
    order = list(dispatchers.items())
    for _ in range(args.rounds):
        order.reverse()  # neither side always runs first
        for name, prog_id in order:
            samples[name].append(ns_per_packet(prog_id, args.repeat, 1))
    for name, values in samples.items():
        results.packet_ns[(name, count)] = min(values)
        results.jited[(name, count)] = jited_bytes(dispatchers[name])


def measure_bare(root: str, results: Results, repeat: int, rounds: int) -> None:
    backend = NativeBackend(bpffs_root=root)
    spec = LoadSpec(
        object_path=str(build(CHAIN)),
        function="chain_xdp",
        prog_type="xdp",
        pin_path=f"{root}/bare/prog",
        map_pin_dir=f"{root}/bare/maps",
        globaldata={"mark": b"\x01"},
    )
    program = backend.load(spec)
    try:
        results.packet_ns[("bare", 1)] = ns_per_packet(program.id, repeat, rounds)
    finally:
        backend.unload(program)


# ------------------------------------------------------------- printing


def machine() -> str:
    cpu = "unknown CPU"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"Linux {platform.release()}, {cpu}, {os.cpu_count()} CPUs"


def table(results: Results, args: argparse.Namespace) -> str:
    lines = [
        f"dispatcher benchmark on {machine()}",
        "",
        f"data path: ns per packet (BPF_PROG_TEST_RUN, repeat {args.repeat}, "
        f"best of {args.rounds}) and dispatcher machine code (bytes)",
        f"{'programs':>8}  {'bare program':>12}  {'bpftui':>8}  {'libxdp':>8}"
        f"  {'bpftui/libxdp':>13}  {'code bpftui':>11}  {'code libxdp':>11}",
    ]
    for count in COUNTS:
        ours = results.packet_ns[("bpftui", count)]
        theirs = results.packet_ns[("libxdp", count)]
        bare = results.packet_ns.get(("bare", count))
        bare_text = f"{bare:12.0f}" if bare is not None else f"{'-':>12}"
        lines.append(
            f"{count:>8}  {bare_text}  {ours:8.0f}  {theirs:8.0f}"
            f"  {ours / theirs:13.2f}  {results.jited[('bpftui', count)]:11d}"
            f"  {results.jited[('libxdp', count)]:11d}"
        )
    lines += [
        "",
        f"control path: ms to add the Nth program to one interface "
        f"(best of {args.sequences})",
        f"{'N':>8}  {'bpftui':>8}  {'xdp-loader':>10}  {'bpftui/xdp-loader':>17}",
    ]
    ours, theirs = results.add_ms["bpftui"], results.add_ms["libxdp"]
    for number, (a, b) in enumerate(zip(ours, theirs, strict=True), start=1):
        lines.append(f"{number:>8}  {a:8.0f}  {b:10.0f}  {a / b:17.2f}")
    total_a, total_b = sum(ours), sum(theirs)
    lines.append(
        f"{'total':>8}  {total_a:8.0f}  {total_b:10.0f}  {total_a / total_b:17.2f}"
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--sequences", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("dispatcher_bench: needs root", file=sys.stderr)
        return 2
    root = f"{BPFFS}/bpftui-bench-{uuid.uuid4().hex[:6]}"
    results = Results()
    with veth_pair() as ours, veth_pair() as theirs:
        bpftui = Bpftui(ours, root)
        if not bpftui.engine.freplace_works():
            print("dispatcher_bench: this kernel refuses freplace; run it in the "
                  "guest lane (see the module docstring)", file=sys.stderr)  # fmt: skip
            return 2
        measure_bare(root, results, args.repeat, args.rounds)
        sides = {"bpftui": bpftui, "libxdp": XdpLoader(theirs)}
        measure(sides, results, args)
        bpftui.backend.close()
    subprocess.run(["rm", "-rf", root], check=False)
    print(table(results, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
