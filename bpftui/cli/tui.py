"""``bpftui tui``: the full-screen console (also what plain ``bpftui`` runs)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "tui",
        help="the full-screen console (default when no command is given)",
        description="Browse the node, compose programs, load them and watch "
        "their conditions. Without root it offers demo mode.",
    )
    parser.add_argument("--theme", metavar="NAME", help="a Textual theme name")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    demo = bool(args.demo) or _offer_demo()
    if demo is None:
        return 1
    from bpftui.screens.app import BpftuiApp

    clock = _clock(demo)
    app = BpftuiApp(_opener(demo, args.config, clock), clock=clock, theme=args.theme)
    app.show_tracebacks = args.verbose >= 2
    app.run()
    if app.crash is not None and not app.show_tracebacks:
        raise app.crash  # main() reports it in one line
    return int(app.return_code or 0)


def _offer_demo() -> bool | None:
    """Without root: say so, and on a terminal offer demo mode.

    Returns:
        False to run on the real node, True for demo mode, None to stop.
    """
    if os.geteuid() == 0:
        return False
    print(
        "bpftui: not running as root: the kernel's BPF programs, links and maps "
        "cannot be read or changed.",
        file=sys.stderr,
    )
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        print(
            "bpftui: run it as root, or try 'bpftui --demo' for a simulated node.",
            file=sys.stderr,
        )
        return None
    try:
        answer = input("Start in demo mode on a simulated node instead? [Y/n] ")
    except EOFError:
        return None
    return True if answer.strip().lower() in ("", "y", "yes") else None


def _clock(demo: bool) -> Any:
    """Real time on a real node; on the demo node, time from a fixed start."""
    import time

    if not demo:
        return time.time
    from bpftui.core.node_session import DEMO_EPOCH

    start = time.monotonic()
    return lambda: DEMO_EPOCH + (time.monotonic() - start)


def _opener(demo: bool, config: str | None, clock: Any) -> Any:
    def open_() -> Any:
        from bpftui.core.session import open_session

        session = open_session(demo=demo, config_path=config, clock=clock)
        if demo:
            from bpftui.core.demo_scenario import seed

            seed(session)
        return session

    return open_
