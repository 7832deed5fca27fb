"""``bpftui list interfaces|tracepoints|functions|symbols|processes``.

Each handler takes the parsed arguments of ``bpftui list`` (``filter``,
``target``, ``output`` and the global ``demo``) and returns the exit status.
``--filter`` keeps rows whose name contains the text, ignoring case.
What a listing had to leave out (no backend for program names, an
unreadable ``available_filter_functions``) is said on stderr, once.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

from bpftui.cli import rows as cli_rows
from bpftui.cli.output import print_json, print_table
from bpftui.cli.rows import matches
from bpftui.core.errors import BpftuiError, UsageError
from bpftui.core.session import Discovery, FunctionView


@contextmanager
def _discovery(args: argparse.Namespace, *, with_kernel: bool = False) -> Iterator[Any]:
    """The demo node's discovery, or this node's.

    ``with_kernel`` asks for the discovery of a full kernel session, which
    knows program names and dispatcher slots; without root or the native
    backend it falls back to reading netlink, BTF and tracefs alone.
    """
    if getattr(args, "demo", False) or with_kernel:
        from bpftui.core.session import open_session

        try:
            session = open_session(
                demo=bool(getattr(args, "demo", False)),
                config_path=getattr(args, "config", None),
            )
        except BpftuiError:
            if getattr(args, "demo", False):
                raise
        else:
            try:
                yield session.discovery
            finally:
                session.close()
            return
    from bpftui.core.discovery import RealDiscovery

    yield RealDiscovery()


def _notes(discovery: Any) -> None:
    for note in getattr(discovery, "notes", []):
        print(f"bpftui: note: {note}", file=sys.stderr)


# ---------------------------------------------------------------- interfaces


def list_interfaces(args: argparse.Namespace) -> int:
    with _discovery(args, with_kernel=True) as discovery:
        views = [v for v in discovery.interfaces() if matches(args.filter, v.name)]
        if args.output == "json":
            print_json([asdict(v) for v in views])
        else:
            table = [cli_rows.interface_row(v) for v in views]
            print_table(table, cli_rows.INTERFACE_COLUMNS)
        _notes(discovery)
    return 0


# ---------------------------------------------------------------- tracepoints


def list_tracepoints(args: argparse.Namespace) -> int:
    """All tracepoints; with TARGET (``category/name``) that one's fields."""
    with _discovery(args) as discovery:
        if args.target:
            return _tracepoint_fields(discovery, args)
        views = [
            v for v in discovery.tracepoints() if matches(args.filter, v.full_name)
        ]
        if args.output == "json":
            print_json([asdict(v) for v in views])
        else:
            table = [cli_rows.tracepoint_row(v) for v in views]
            print_table(table, cli_rows.TRACEPOINT_COLUMNS)
    return 0


def _tracepoint_fields(discovery: Discovery, args: argparse.Namespace) -> int:
    category, _, name = str(args.target).partition("/")
    if not name:
        raise UsageError(
            f"list tracepoints: '{args.target}' is not category/name",
            hint="for example: bpftui list tracepoints syscalls/sys_enter_openat",
        )
    fields = [
        f
        for f in discovery.tracepoint_fields(category, name)
        if matches(args.filter, f.name)
    ]
    if args.output == "json":
        print_json([asdict(f) for f in fields])
    else:
        print_table((asdict(f) for f in fields), cli_rows.FIELD_COLUMNS)
    return 0


# ---------------------------------------------------------------- functions


def list_functions(args: argparse.Namespace) -> int:
    """Kernel functions with BTF; with TARGET only that function."""
    with _discovery(args) as discovery:
        catalogue = discovery.functions()
        if args.target:
            found = catalogue.get(args.target)
            views: Sequence[FunctionView] = [found] if found else []
        else:
            fuzzy = getattr(args, "fuzzy", False)
            views, _ = catalogue.filter(args.filter or "", fuzzy=fuzzy)
        if args.output == "json":
            print_json([cli_rows.function_dict(v) for v in views])
        else:
            print_table(cli_rows.function_rows(views), cli_rows.FUNCTION_COLUMNS)
        _notes(discovery)
        _kprobe_note(catalogue)
    if args.target and not views:
        raise UsageError(
            f"list functions: no kernel function '{args.target}' with BTF",
            hint="search with --filter",
        )
    return 0


def _kprobe_note(catalogue: Any) -> None:
    probe = getattr(catalogue, "kprobe_problem", None)
    if probe:
        print(f"bpftui: note: {probe}", file=sys.stderr)


# ---------------------------------------------------------------- uprobes


def list_symbols(args: argparse.Namespace) -> int:
    """Function symbols of a binary or library (TARGET), with file offsets."""
    if not args.target:
        raise UsageError(
            "list symbols: which binary or library?",
            hint="for example: bpftui list symbols libc --filter malloc",
        )
    with _discovery(args) as discovery:
        views = [
            v for v in discovery.symbols(args.target) if matches(args.filter, v.name)
        ]
    if args.output == "json":
        print_json([asdict(v) for v in views])
    else:
        print_table([cli_rows.symbol_row(v) for v in views], cli_rows.SYMBOL_COLUMNS)
    return 0


def list_processes(args: argparse.Namespace) -> int:
    """Running processes (pid, command), for a uprobe's ``pid``."""
    with _discovery(args) as discovery:
        views = [
            v
            for v in discovery.processes()
            if matches(args.filter, v.comm, v.cmdline, str(v.pid))
        ]
    if args.output == "json":
        print_json([asdict(v) for v in views])
    else:
        print_table((asdict(v) for v in views), cli_rows.PROCESS_COLUMNS)
    return 0
