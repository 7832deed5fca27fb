"""``bpftui list WHAT``: one command, targets provided by several modules.

A target is registered in :data:`TARGETS` as ``name -> (help, "module:function")``;
the function takes the parsed arguments and returns the exit status. Keeping
the import path as a string keeps ``--help`` from importing pyroute2 or libbpf.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

from bpftui.cli.output import add_output_flag
from bpftui.core.errors import UsageError

TARGETS: dict[str, tuple[str, str]] = {
    "interfaces": (
        "network interfaces and what is attached",
        "bpftui.cli.discover:list_interfaces",
    ),
    "tracepoints": (
        "kernel tracepoints from tracefs",
        "bpftui.cli.discover:list_tracepoints",
    ),
    "functions": ("kernel functions from BTF", "bpftui.cli.discover:list_functions"),
    "symbols": (
        "function symbols of a binary or library (needs TARGET)",
        "bpftui.cli.discover:list_symbols",
    ),
    "processes": (
        "running processes, for a uprobe's pid",
        "bpftui.cli.discover:list_processes",
    ),
    "programs": ("every BPF program in the kernel", "bpftui.cli.node:list_programs"),
    "links": ("every BPF link in the kernel", "bpftui.cli.node:list_links"),
    "maps": ("every BPF map in the kernel", "bpftui.cli.node:list_maps"),
}

EPILOG = """\
examples:
  bpftui list interfaces
  bpftui list tracepoints --filter sched
  bpftui list functions --filter tcp_v4 -o json
  bpftui list functions --filter tcpv4conn --fuzzy
  bpftui list symbols libc --filter malloc
  bpftui list programs -o json
"""


def register(sub: Any) -> None:
    lines = "\n".join(f"  {name:12} {help_}" for name, (help_, _) in TARGETS.items())
    parser = sub.add_parser(
        "list",
        help="list what the node has: interfaces, tracepoints, functions, programs ...",
        description="List what this node has.\n\ntargets:\n" + lines,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "what", choices=list(TARGETS), metavar="WHAT", help="what to list"
    )
    parser.add_argument("target", nargs="?", help="binary or library, for 'symbols'")
    parser.add_argument("--filter", metavar="TEXT", help="keep only rows matching TEXT")
    parser.add_argument(
        "--fuzzy",
        action="store_true",
        help="functions: --filter also finds names holding TEXT's characters in "
        "order (tcpv4c finds tcp_v4_connect), after those holding TEXT",
    )
    add_output_flag(parser)
    parser.set_defaults(handler=run)


def refuse_fuzzy(what: str, fuzzy: bool) -> None:
    """``list WHAT --fuzzy``: only the kernel function catalogue searches fuzzily.

    Raises:
        UsageError: ``fuzzy`` for another list.
    """
    if fuzzy and what != "functions":
        raise UsageError(
            f"list {what}: --fuzzy is for functions only",
            hint="--filter alone keeps the rows containing TEXT",
        )


def run(args: argparse.Namespace) -> int:
    refuse_fuzzy(args.what, getattr(args, "fuzzy", False))
    _, path = TARGETS[args.what]
    module_name, func_name = path.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise UsageError(f"list {args.what}: not available in this build") from None
    handler = getattr(module, func_name, None)
    if handler is None:
        raise UsageError(f"list {args.what}: not available in this build")
    return int(handler(args) or 0)
