"""``list WHAT``: what the node has, as tables or JSON.

Each target turns views from the session into rows for
:func:`bpftui.cli.output.print_table` and plain data for ``-o json``. The
rows and columns are :mod:`bpftui.cli.rows`, those of ``bpftui list``, so a
listing in the shell reads like the same listing on the command line.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bpftui.cli import rows as cli_rows
from bpftui.cli.listing import refuse_fuzzy
from bpftui.cli.output import print_json, print_table
from bpftui.cli.rows import matches
from bpftui.core import rules
from bpftui.core.errors import InputError, UsageError
from bpftui.shell.registry import arg, command
from bpftui.shell.state import Shell, short_ref

Row = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Listing:
    """Rows of one target, the columns to print, and the data for JSON."""

    columns: tuple[str, ...]
    rows: Sequence[Row]
    data: Sequence[Any]
    headers: tuple[str, ...] | None = None


def as_data(item: Any) -> Any:
    """A view as plain JSON-ready data."""
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        return dataclasses.asdict(item)
    return item


def emit(shell: Shell, listing: Listing, output: str | None) -> None:
    """Print a listing in the chosen format (the shell's default if None)."""
    if (output or shell.output) == "json":
        print_json(listing.data, out=shell.out)
    else:
        print_table(listing.rows, listing.columns, shell.out, listing.headers)


def plain(views: Iterable[Any]) -> Listing:
    """Views whose fields are the columns (set by the caller)."""
    data = [as_data(v) for v in views]
    return Listing((), data, data)


# ---------------------------------------------------------------- discovery


def _interfaces(shell: Shell, args: argparse.Namespace) -> Listing:
    views = [
        v for v in shell.session.discovery.interfaces() if matches(args.filter, v.name)
    ]
    rows = [cli_rows.interface_row(v) for v in views]
    return Listing(cli_rows.INTERFACE_COLUMNS, rows, [as_data(v) for v in views])


def _tracepoints(shell: Shell, args: argparse.Namespace) -> Listing:
    discovery = shell.session.discovery
    if args.target:
        category, _, name = args.target.partition("/")
        if not name:
            raise UsageError(f"list tracepoints: '{args.target}' is not category/name")
        fields = discovery.tracepoint_fields(category, name)
        listing = plain(f for f in fields if matches(args.filter, f.name))
        return dataclasses.replace(listing, columns=cli_rows.FIELD_COLUMNS)
    views = [v for v in discovery.tracepoints() if matches(args.filter, v.full_name)]
    rows = [cli_rows.tracepoint_row(v) for v in views]
    return Listing(cli_rows.TRACEPOINT_COLUMNS, rows, [as_data(v) for v in views])


def _functions(shell: Shell, args: argparse.Namespace) -> Listing:
    catalog = shell.session.discovery.functions()
    if args.target:
        found = catalog.get(args.target)
        if found is None:
            raise InputError(
                f"list functions: no kernel function '{args.target}' with BTF",
                hint="search with --filter",
            )
        views: Sequence[Any] = [found]
    else:
        views, _ = catalog.filter(args.filter or "", fuzzy=args.fuzzy, limit=args.limit)
    data = [cli_rows.function_dict(v) for v in views]
    return Listing(cli_rows.FUNCTION_COLUMNS, cli_rows.function_rows(views), data)


def _symbols(shell: Shell, args: argparse.Namespace) -> Listing:
    if not args.target:
        raise UsageError(
            "list symbols: which binary or library?", hint="list symbols libc"
        )
    views = [
        v
        for v in shell.session.discovery.symbols(args.target)
        if matches(args.filter, v.name)
    ]
    rows = [cli_rows.symbol_row(v) for v in views]
    return Listing(cli_rows.SYMBOL_COLUMNS, rows, [as_data(v) for v in views])


def _processes(shell: Shell, args: argparse.Namespace) -> Listing:
    views = [
        v
        for v in shell.session.discovery.processes()
        if matches(args.filter, v.comm, v.cmdline, v.pid)
    ]
    return dataclasses.replace(plain(views), columns=cli_rows.PROCESS_COLUMNS)


# ---------------------------------------------------------------- kernel tables


def _kernel(
    rows: list[dict[str, Any]],
    args: argparse.Namespace,
    columns: tuple[str, ...],
    headers: tuple[str, ...],
) -> Listing:
    kept = cli_rows.matching_rows(rows, args.filter)
    return Listing(columns, kept, kept, headers)


def _programs(shell: Shell, args: argparse.Namespace) -> Listing:
    rows = cli_rows.program_rows(shell.session)
    return _kernel(rows, args, cli_rows.PROGRAM_COLUMNS, cli_rows.PROGRAM_HEADERS)


def _links(shell: Shell, args: argparse.Namespace) -> Listing:
    rows = cli_rows.link_rows(shell.session)
    return _kernel(rows, args, cli_rows.LINK_COLUMNS, cli_rows.LINK_HEADERS)


def _maps(shell: Shell, args: argparse.Namespace) -> Listing:
    rows = cli_rows.map_rows(shell.session)
    return _kernel(rows, args, cli_rows.MAP_COLUMNS, cli_rows.MAP_HEADERS)


# ---------------------------------------------------------------- workspace


def _objects(shell: Shell, args: argparse.Namespace) -> Listing:
    data = []
    for ref, doc in shell.iter_docs():
        if matches(args.filter, ref):
            valid = rules_valid(doc)
            current = ref == shell.workspace.current
            data.append({"object": short_ref(ref), "valid": valid, "current": current})
    return Listing(("object", "valid", "current"), data, data)


def rules_valid(doc: Mapping[str, Any]) -> bool:
    """Whether ``doc`` breaks no rule (warnings allowed)."""
    return not rules.errors(rules.check(doc))


TARGETS: dict[str, tuple[str, Callable[[Shell, argparse.Namespace], Listing]]] = {
    "interfaces": ("network interfaces and what is attached", _interfaces),
    "tracepoints": ("kernel tracepoints", _tracepoints),
    "functions": ("kernel functions (BTF)", _functions),
    "symbols": ("function symbols of a binary or library (needs TARGET)", _symbols),
    "processes": ("running processes, for a uprobe's pid", _processes),
    "programs": ("every BPF program in the kernel", _programs),
    "links": ("every BPF link in the kernel", _links),
    "maps": ("every BPF map in the kernel", _maps),
    "objects": ("the objects composed in this shell", _objects),
}


def _targets_help() -> str:
    lines = (f"  {name:12} {help_}" for name, (help_, _) in TARGETS.items())
    return "targets:\n" + "\n".join(lines)


@command(
    "list",
    "list what the node has: interfaces, tracepoints, functions, programs ...",
    arg("what", choices=list(TARGETS), metavar="WHAT"),
    arg(
        "target",
        nargs="?",
        metavar="TARGET",
        help="symbols: the binary; "
        "tracepoints: one tracepoint's fields; functions: one function",
    ),
    arg("--filter", metavar="TEXT", help="keep only rows containing TEXT"),
    arg(
        "--fuzzy",
        action="store_true",
        help="functions: also names holding TEXT's characters in order",
    ),
    arg("--limit", type=int, metavar="N", help="at most N rows (functions)"),
    arg("-o", "--output", choices=["table", "json"]),
    details=_targets_help()
    + "\n\nexamples:\n  list interfaces\n  list functions --filter tcp_v4 -o json"
    + "\n  list symbols libc --filter malloc",
)
def list_command(shell: Shell, args: argparse.Namespace) -> None:
    refuse_fuzzy(args.what, args.fuzzy)
    _, build = TARGETS[args.what]
    emit(shell, build(shell, args), args.output)
