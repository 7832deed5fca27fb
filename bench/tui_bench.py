"""How fast the TUI starts and answers a keystroke in the functions filter.

Two figures, each beside the same figure for a bare Textual app measured in
the same run (so machine load cancels out):

* start: from launching the process to the first frame that takes keys;
  bpftui opens its session in a worker, so the first frame comes before the
  node is read; the time until the Programs table is filled is shown too.
* keystroke: from a key pressed in the Kernel functions filter to the list
  showing the new matches, over the real node's full function list
  (``RealDiscovery``; the demo list when this machine has no BTF or no root).

Goal: start within 0.3 s of the bare app; a filter keystroke under 50 ms.

Usage: .venv/bin/python bench/tui_bench.py [--runs 5] [--demo-functions]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any, ClassVar

SIZE = (100, 30)

# Each child prints READY when its first frame is ready to be written (the
# app's private _display hook: headless runs render every frame but write
# none) and then takes keys; bpftui's child also prints FILLED at the first
# frame showing the Programs table with rows.
_MARKERS = """
import sys

def watch(app, filled=None):
    display = app._display
    said = set()

    def marked(screen, renderable):
        display(screen, renderable)
        if renderable is None:
            return
        for name, ready in (("READY", True), ("FILLED", filled and filled(app))):
            if ready and name not in said:
                said.add(name)
                print(name, flush=True)
        if len(said) == (2 if filled else 1):
            app.exit()

    app._display = marked
"""

_BARE_CHILD = (
    _MARKERS
    + """
from textual.app import App
from textual.widgets import Footer, Static

class Bare(App):
    def compose(self):
        yield Static("hello")
        yield Footer()

app = Bare()
watch(app)
app.run(headless=True, size={size})
"""
)

_BPFTUI_CHILD = (
    _MARKERS
    + """
from bpftui.cli.tui import _clock, _opener
from bpftui.screens.app import BpftuiApp

app = BpftuiApp(_opener(True, None, _clock(True)), clock=_clock(True))
watch(app, lambda app: bool(getattr(app.screen, "rows", None)))
app.run(headless=True, size={size})
"""
)


def _launch(code: str) -> dict[str, float]:
    """Seconds from launch to each marker line the child prints."""
    env = {**os.environ, "TEXTUAL": ""}
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", code.format(size=SIZE)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    marks: dict[str, float] = {}
    assert child.stdout is not None
    for line in child.stdout:
        marks[line.strip()] = time.perf_counter() - start
    child.wait()
    return marks


def measure_start(runs: int) -> dict[str, list[float]]:
    """Alternate bare and bpftui launches so both see the same load."""
    times: dict[str, list[float]] = {"bare": [], "bpftui": [], "filled": []}
    _launch(_BARE_CHILD)  # warm the file cache for both
    _launch(_BPFTUI_CHILD)
    for _ in range(runs):
        times["bare"].append(_launch(_BARE_CHILD)["READY"])
        marks = _launch(_BPFTUI_CHILD)
        times["bpftui"].append(marks["READY"])
        times["filled"].append(marks.get("FILLED", float("nan")))
    return times


# ---------------------------------------------------------------- keystroke


class _BrowseOnlySession:
    """Just enough of a Session for the browse screens: a node with no programs."""

    backend_name = "bench"
    node_name = "this-node"
    node_labels: ClassVar[dict[str, str]] = {}

    def __init__(self, discovery: Any) -> None:
        self.discovery = discovery

    def status(self) -> list[Any]:
        return []

    kernel_programs = kernel_links = kernel_maps = status

    def owner_of(self, prog_id: int) -> None:
        return None

    def close(self) -> None:
        pass


def _discovery(demo: bool) -> tuple[Any, str]:
    if not demo:
        try:
            from bpftui.core.discovery import open_discovery

            discovery = open_discovery()
            discovery.functions()
            return discovery, "real node (RealDiscovery)"
        except Exception as err:  # no BTF, no root: say so and fall back
            print(f"RealDiscovery unavailable ({err}); using the demo list")
    from bpftui.core.demo_discovery import DemoDiscovery

    return DemoDiscovery(), "demo node (DemoDiscovery)"


async def _wait(check: Any) -> None:
    while not check():
        await asyncio.sleep(0.0005)


class _Frames:
    """Notes the first frame in which a condition holds (via the app's
    private ``_display`` hook, called with each finished frame)."""

    def __init__(self, app: Any) -> None:
        self.until: Any = None
        self.hit = 0.0
        display = app._display

        def marked(screen: Any, renderable: Any) -> None:
            display(screen, renderable)
            if renderable is not None and self.until is not None and self.until():
                self.hit, self.until = time.perf_counter(), None

        app._display = marked


async def _keystroke(app: Any, frames: _Frames, key: str, done: Any) -> float:
    """Seconds from a key reaching the app to the first frame showing its effect.

    The key goes in as the terminal driver would send it; Pilot's press is
    not used because it also waits for the process to look idle.
    """
    from textual import events

    char = {"underscore": "_", "backspace": None}.get(key, key)
    event = events.Key(key, char)
    event.set_sender(app)
    frames.until = done
    start = time.perf_counter()
    app._driver.send_message(event)
    await _wait(lambda: frames.until is None)
    return frames.hit - start


async def _bpftui_keystrokes(discovery: Any, keys: Sequence[str]) -> list[float]:
    from bpftui.screens.app import BpftuiApp
    from bpftui.screens.browse import FunctionsScreen

    app = BpftuiApp(session=_BrowseOnlySession(discovery))  # type: ignore[arg-type]
    latencies = []
    async with app.run_test(size=SIZE) as pilot:
        frames = _Frames(app)
        await pilot.press("4")
        screen = app.screen
        assert isinstance(screen, FunctionsScreen)
        await _wait(lambda: screen.shown_query is not None)
        await pilot.press("slash")
        await pilot.pause()
        field = screen.query_one("#filter")
        for key in keys:
            expected = _after(field.value, key)
            done = lambda want=expected: screen.shown_query == want  # noqa: E731
            latencies.append(await _keystroke(app, frames, key, done))
            await pilot.pause()
    return latencies


def _after(text: str, key: str) -> str:
    if key == "backspace":
        return text[:-1]
    return text + {"underscore": "_"}.get(key, key)


async def _bare_keystrokes(keys: Sequence[str]) -> list[float]:
    from textual.app import App, ComposeResult
    from textual.widgets import Input

    class Bare(App[None]):
        def compose(self) -> ComposeResult:
            yield Input()

    latencies = []
    app = Bare()
    async with app.run_test(size=SIZE) as pilot:
        frames = _Frames(app)
        field = app.query_one(Input)
        for key in keys:
            expected = _after(field.value, key)
            done = lambda want=expected: field.value == want  # noqa: E731
            latencies.append(await _keystroke(app, frames, key, done))
            await pilot.pause()
    return latencies


KEYS = ("t", "c", "p", "underscore", "v", "4", "backspace", "backspace", "s", "e")


def measure_keystrokes(demo: bool) -> tuple[str, int, list[float], list[float], float]:
    discovery, where = _discovery(demo)
    catalog = discovery.functions()
    start = time.perf_counter()
    catalog.filter("t", limit=500)
    one_filter = time.perf_counter() - start
    bare = asyncio.run(_bare_keystrokes(KEYS))
    ours = asyncio.run(_bpftui_keystrokes(discovery, KEYS))
    return where, len(catalog), bare, ours, one_filter


# ---------------------------------------------------------------- report


def _ms(values: Sequence[float]) -> str:
    clean = [v * 1000 for v in values if not math.isnan(v)]
    return f"median {statistics.median(clean):7.1f} ms  max {max(clean):7.1f} ms"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="launches of each app")
    parser.add_argument(
        "--demo-functions",
        action="store_true",
        help="use the demo function list even on a real node",
    )
    args = parser.parse_args(argv)

    times = measure_start(args.runs)
    gap = statistics.median(times["bpftui"]) - statistics.median(times["bare"])
    print(
        f"start to first interactive frame ({args.runs} runs each, {SIZE[0]}x{SIZE[1]})"
    )
    print(f"  bare Textual app      {_ms(times['bare'])}")
    print(f"  bpftui --demo         {_ms(times['bpftui'])}")
    print(f"  bpftui, table filled  {_ms(times['filled'])}")
    verdict = "ok" if gap <= 0.3 else "OVER the 0.3 s goal"
    print(f"  bpftui - bare         {gap * 1000:7.1f} ms   ({verdict})")

    where, count, bare, ours, one = measure_keystrokes(args.demo_functions)
    print(f"\nkeystroke in the functions filter: {count:,} functions, {where}")
    print(f"  bare Input keystroke  {_ms(bare)}")
    print(f"  bpftui filter key     {_ms(ours)}")
    print(f"  catalogue.filter('t', limit=500) alone: {one * 1000:.1f} ms")
    verdict = "ok" if statistics.median(ours) < 0.05 else "OVER the 50 ms goal"
    print(f"  ({verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
