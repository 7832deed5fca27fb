"""The ``bpftui`` command line.

Each area lives in its own module with a ``register(subparsers)`` function
that adds its commands; a command's handler takes the parsed arguments and
returns the exit status. Handlers import heavy modules (textual, pyroute2,
libbpf) inside themselves so that ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from bpftui import __version__
from bpftui.core.errors import BpftuiError

# The order is the order of ``bpftui --help``.
COMMAND_MODULES = (
    "bpftui.cli.compose",
    "bpftui.cli.node",
    "bpftui.cli.listing",
    "bpftui.cli.inspect",
    "bpftui.cli.image",
    "bpftui.cli.shell",
    "bpftui.cli.tui",
)

EPILOG = """\
examples:
  bpftui                         start the TUI (demo mode when not root)
  bpftui --demo                  the TUI on a simulated node
  bpftui validate -f prog.yaml   check objects against the API rules
  bpftui new xdp edge --set priority=10 --set interfaceselector.interfaces=eth0 \\
      --set bytecode.path=/opt/xdp.o --set bpffunctionname=xdp_pass
  bpftui apply -f prog.yaml      load and attach on this node
  bpftui status -o wide          what is applied, with conditions
"""

log = logging.getLogger("bpftui")


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with one clear line on a usage error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="bpftui",
        description="A console for the eBPF programs on one Linux node.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"bpftui {__version__}")
    parser.add_argument(
        "--demo", action="store_true", help="use a simulated node (no root, no BPF)"
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=os.environ.get("BPFTUI_CONFIG"),
        help="configuration file (default: $BPFTUI_CONFIG or /etc/bpftui/bpftui.toml)",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log more (repeatable)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def _setup_logging(verbosity: int) -> None:
    level = logging.WARNING - 10 * min(verbosity, 2)
    logging.basicConfig(
        level=level, format="bpftui: %(levelname)s: %(name)s: %(message)s"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    if args.command is None:
        args.command = "tui"
        args = parser.parse_args([*(sys.argv[1:] if argv is None else argv), "tui"])
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args) or 0)
    except BpftuiError as err:
        print(f"bpftui: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("bpftui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output went away (``bpftui list ... | head``).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception as err:  # a bug of ours: one line, the details only with -vv
        log.debug("unexpected error", exc_info=True)
        print(
            f"bpftui: internal error: {type(err).__name__}: {err}; "
            "run again with -vv for details and report it",
            file=sys.stderr,
        )
        return 1
