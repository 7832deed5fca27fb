"""Kernel function discovery: bpftui against bpftool, side by side, in one run.

    .venv/bin/python bench/discovery_bench.py [--runs N] [--btf PATH]

Every figure is the best of N runs (the machine's noise only ever adds
time). Rows:

* ``bpftool btf dump file`` with its output thrown away (``> /dev/null``)
  and with it read through a pipe (``| grep -c "FUNC '"``, as one counts
  functions with it): the reference.
* bpftui cold, no cache, every prototype rendered: with the C twins
  (``bpftui/native/_cbtf.c``, built by ``pip install`` when a compiler is
  present) in a running process and as a whole fresh process (interpreter
  start and imports included); then the pure-Python path a machine without
  a compiler runs (``BPFTUI_PURE_PYTHON=1``), also with its catalogue ready
  to browse before the prototypes (each rendered when first shown).
* bpftui warm: a second start, reading the cache.
* filtering per keystroke: substring and fuzzy, several queries, and each
  prefix of a typed word as a user types it; C twin and pure Python.
* memory: Python's peak allocation while building the catalogue, and the
  peak RSS of a fresh process that builds it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bpftui.core.discovery.functions import KernelFunctions, load_functions
from bpftui.native.speedups import PURE_PYTHON_ENV, report

QUERIES = ["t", "tcp", "tcp_v4_c", "do_unlinkat", "kmalloc", "xyzzy"]
TYPED = "tcp_v4_connect"


def best(runs: int, action: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def row(label: str, value: str, note: str = "") -> None:
    print(f"  {label:<58} {value:>12}  {note}")


# ------------------------------------------------------------------ bpftool


def bench_bpftool(btf: str, runs: int) -> tuple[float, float] | None:
    if shutil.which("bpftool") is None:
        row("bpftool btf dump file", "n/a", "bpftool not installed")
        return None
    devnull = best(runs, lambda: subprocess.run(
        ["bpftool", "btf", "dump", "file", btf], stdout=subprocess.DEVNULL, check=True
    ))  # fmt: skip
    piped = best(runs, lambda: subprocess.run(
        f"bpftool btf dump file {btf} | grep -c \"FUNC '\"",
        shell=True, stdout=subprocess.DEVNULL, check=True,
    ))  # fmt: skip
    row("bpftool btf dump file vmlinux > /dev/null", ms(devnull))
    row('bpftool btf dump file vmlinux | grep -c "FUNC \'"', ms(piped))
    return devnull, piped


# ------------------------------------------------------------------ bpftui


@contextlib.contextmanager
def pure_python(on: bool) -> Iterator[None]:
    """Run the block with the C twins off (``on``) or as installed."""
    before = os.environ.pop(PURE_PYTHON_ENV, None)
    if on:
        os.environ[PURE_PYTHON_ENV] = "1"
    try:
        yield
    finally:
        os.environ.pop(PURE_PYTHON_ENV, None)
        if before is not None:
            os.environ[PURE_PYTHON_ENV] = before


def engine(pure: bool, twin: str = "_cbtf") -> str:
    if pure:
        return "pure Python"
    return "C twin" if report()[twin] else "pure Python (C twin not built)"


def bench_cold(btf_dir: str, runs: int, pure: bool) -> tuple[float, float]:
    with pure_python(pure):
        ready = best(
            runs, lambda: load_functions(btf_dir, use_cache=False, background=True)
        )
        rendered = best(
            runs, lambda: load_functions(btf_dir, use_cache=False, background=False)
        )
    label = f"bpftui cold, {engine(pure)}, in process"
    if pure:
        row(f"{label}: catalogue ready", ms(ready), "(prototypes on first show)")
    row(f"{label}: every prototype", ms(rendered))
    return ready, rendered


def bench_cold_process(btf_dir: str, runs: int, pure: bool) -> float:
    code = (
        "from bpftui.core.discovery.functions import load_functions;"
        f"load_functions({btf_dir!r}, use_cache=False, background=False)"
    )
    env = dict(os.environ)
    env.pop(PURE_PYTHON_ENV, None)
    if pure:
        env[PURE_PYTHON_ENV] = "1"
    command = [sys.executable, "-c", code]
    whole = best(runs, lambda: subprocess.run(command, check=True, env=env))
    label = f"bpftui cold, {engine(pure)}, fresh process: every prototype"
    row(label, ms(whole), "(+ interpreter, imports)")
    return whole


def bench_warm(btf_dir: str, cache: str, runs: int) -> float:
    load_functions(btf_dir, cache).wait_saved(120)
    warm = best(runs, lambda: load_functions(btf_dir, cache))
    row("bpftui warm start from the cache (in process)", ms(warm), "(goal < 100 ms)")
    return warm


def bench_filters(btf_dir: str, cache: str, runs: int, pure: bool) -> float:
    with pure_python(pure):
        catalogue = load_functions(btf_dir, cache)  # its own index, this engine's
        return _filters(catalogue, runs, engine(pure, "_csearch"))


def _filters(catalogue: KernelFunctions, runs: int, how: str) -> float:
    index = catalogue.search_index
    catalogue.filter("warm-up", fuzzy=True)  # joins the names once, as a UI would
    worst = 0.0
    for fuzzy in (False, True):
        kind = "fuzzy" if fuzzy else "substring"
        for query in QUERIES:

            def once(q: str = query, f: bool = fuzzy) -> object:
                index.forget()  # a query typed from scratch: a full scan
                return catalogue.filter(q, fuzzy=f, limit=200)

            taken = best(runs, once)
            _, total = catalogue.filter(query, fuzzy=fuzzy)
            label = f"{how}: filter {kind:9} {query!r:14} ({total} matches)"
            row(label, ms(taken))
            worst = max(worst, taken)
        slowest = max(_typing(catalogue, fuzzy, runs))
        row(f"{how}: typing {TYPED!r} ({kind}), slowest key", ms(slowest))
        worst = max(worst, slowest)
    return worst


def _typing(catalogue: KernelFunctions, fuzzy: bool, runs: int) -> list[float]:
    """Each keystroke's best time over ``runs`` replays of typing TYPED."""
    per_key = [float("inf")] * len(TYPED)
    for _ in range(runs):
        catalogue.search_index.forget()
        for n in range(1, len(TYPED) + 1):
            start = time.perf_counter()
            catalogue.filter(TYPED[:n], fuzzy=fuzzy, limit=200)
            per_key[n - 1] = min(per_key[n - 1], time.perf_counter() - start)
    return per_key


def bench_memory(btf_dir: str, cache: str) -> tuple[float, float, float]:
    tracemalloc.start()
    cold = load_functions(btf_dir, use_cache=False, background=False)
    cold.filter("tcp", fuzzy=True)
    cold_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del cold
    tracemalloc.start()
    warm = load_functions(btf_dir, cache)
    warm.all_prototypes()
    warm.filter("tcp", fuzzy=True)
    warm_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss = _fresh_process_peak_rss(btf_dir)
    row("memory: Python peak, cold build, every prototype", mb(cold_peak))
    row("memory: Python peak, warm start, every prototype", mb(warm_peak))
    row("memory: peak RSS of a fresh process building it", mb(rss), "(goal < 100 MB)")
    return cold_peak, warm_peak, rss


def _fresh_process_peak_rss(btf_dir: str) -> int:
    # VmHWM, not ru_maxrss: Linux carries the parent's peak across exec.
    code = (
        "from bpftui.core.discovery.functions import load_functions;"
        f"c = load_functions({btf_dir!r}, use_cache=False, background=False);"
        "c.filter('tcp', fuzzy=True);"
        "print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])"
    )
    command = [sys.executable, "-c", code]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return int(done.stdout) * 1024


def mb(size: float) -> str:
    return f"{size / 2**20:8.1f} MB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=int, default=7, help="runs per figure (best is kept)"
    )
    parser.add_argument(
        "--btf-dir", default="/sys/kernel/btf", help="where the BTF files are"
    )
    args = parser.parse_args()
    vmlinux = os.path.join(args.btf_dir, "vmlinux")
    if not os.path.exists(vmlinux):
        print(f"no {vmlinux}: this kernel has no BTF", file=sys.stderr)
        return 1

    catalogue = load_functions(args.btf_dir, use_cache=False, background=False)
    counts = ", ".join(f"{m} {n}" for m, n in catalogue.module_counts().items())
    print(f"kernel functions: {len(catalogue)} ({counts}); best of {args.runs} runs")
    print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs\n")

    print("reading every kernel function with its prototype")
    reference = bench_bpftool(vmlinux, args.runs)
    _, fast = bench_cold(args.btf_dir, args.runs, pure=False)
    fresh = bench_cold_process(args.btf_dir, max(3, args.runs // 2), pure=False)
    ready, slow = bench_cold(args.btf_dir, args.runs, pure=True)
    bench_cold_process(args.btf_dir, max(3, args.runs // 2), pure=True)
    if reference:
        devnull, _ = reference
        ratios = [
            (f"{engine(False)}, in process, every prototype", fast),
            (f"{engine(False)}, fresh process, every prototype", fresh),
            ("pure Python, in process, catalogue ready", ready),
            ("pure Python, in process, every prototype", slow),
        ]
        for label, taken in ratios:
            row(f"bpftui / bpftool > /dev/null: {label}", f"{taken / devnull:8.2f} x")

    with tempfile.TemporaryDirectory() as cache:
        print("\nsecond start")
        bench_warm(args.btf_dir, cache, args.runs)
        print("\nfiltering every kernel function, per keystroke (limit 200 rows)")
        worst = bench_filters(args.btf_dir, cache, args.runs, pure=False)
        slowest = f"{engine(False, '_csearch')}: slowest keystroke of all"
        row(slowest, ms(worst), "(goal < 20 ms)")
        worst = bench_filters(args.btf_dir, cache, args.runs, pure=True)
        row("pure Python: slowest keystroke of all", ms(worst), "(goal < 20 ms)")
        print("\nmemory")
        bench_memory(args.btf_dir, cache)
    return 0


if __name__ == "__main__":
    sys.exit(main())
