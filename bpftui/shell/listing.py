"""``list WHAT``: what the node has, as tables or JSON.

Each target turns views from the session into rows for
:func:`bpftui.cli.output.print_table` and plain data for ``-o json``, so a
listing in the shell reads like the same listing of ``bpftui list``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bpftui.cli.output import print_json, print_table
from bpftui.core import rules
from bpftui.core.errors import InputError, UsageError
from bpftui.core.session import ChainView, InterfaceView
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


def matches(text: str | None, *values: Any) -> bool:
    """Whether ``text`` occurs in any of ``values``, ignoring case."""
    if not text:
        return True
    needle = text.lower()
    return any(needle in str(v).lower() for v in values)


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
# Columns and cell formats are those of ``bpftui list`` (bpftui.cli.discover).


def _interfaces(shell: Shell, args: argparse.Namespace) -> Listing:
    views = [
        v for v in shell.session.discovery.interfaces() if matches(args.filter, v.name)
    ]
    columns = (
        *("name", "index", "kind", "state", "mtu", "mac"),
        *("addresses", "primary", "attached"),
    )
    rows = [_interface_row(v) for v in views]
    return Listing(columns, rows, [as_data(v) for v in views])


def _interface_row(view: InterfaceView) -> Row:
    attached = " ".join(_chain_text(c) for c in view.chains) or "-"
    return {
        **as_data(view),
        "primary": "*" if view.primary else "",
        "attached": attached,
    }


def _chain_text(chain: ChainView) -> str:
    where = f"{chain.hook}({chain.mode})" if chain.mode else chain.hook
    slots = ",".join(
        f"{s.name or '?'}{f'#{s.prog_id}' if s.prog_id else ''}" for s in chain.slots
    )
    if chain.dispatcher_id is not None:
        return f"{where}:dispatcher#{chain.dispatcher_id}[{slots}]"
    return f"{where}:{slots}"


def _tracepoints(shell: Shell, args: argparse.Namespace) -> Listing:
    discovery = shell.session.discovery
    if args.target:
        category, _, name = args.target.partition("/")
        if not name:
            raise UsageError(f"list tracepoints: '{args.target}' is not category/name")
        fields = discovery.tracepoint_fields(category, name)
        listing = plain(f for f in fields if matches(args.filter, f.name))
        return dataclasses.replace(
            listing, columns=("name", "type", "offset", "size", "signed")
        )
    views = [v for v in discovery.tracepoints() if matches(args.filter, v.full_name)]
    rows = [{"tracepoint": v.full_name} for v in views]
    return Listing(("tracepoint",), rows, [as_data(v) for v in views])


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
        views, _ = catalog.filter(args.filter or "", limit=args.limit)
    rows = [
        {**as_data(v), "kprobe": "unknown" if v.kprobe is None else v.kprobe}
        for v in views
    ]
    columns = ("name", "module", "fentry", "kprobe", "prototype")
    return Listing(columns, rows, [as_data(v) for v in views])


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
    rows = [{**as_data(v), "offset": f"{v.offset:#x}"} for v in views]
    return Listing(("name", "offset", "size"), rows, [as_data(v) for v in views])


def _processes(shell: Shell, args: argparse.Namespace) -> Listing:
    views = [
        v
        for v in shell.session.discovery.processes()
        if matches(args.filter, v.comm, v.cmdline, v.pid)
    ]
    return dataclasses.replace(plain(views), columns=("pid", "comm", "cmdline"))


# ---------------------------------------------------------------- kernel tables
# Columns and headers are those of ``bpftui list`` (bpftui.cli.node).


def _kernel(
    rows: list[dict[str, Any]],
    args: argparse.Namespace,
    columns: tuple[str, ...],
    headers: tuple[str, ...],
) -> Listing:
    text = (args.filter or "").lower()
    kept = [r for r in rows if text in json.dumps(r, default=str).lower()]
    return Listing(columns, kept, kept, headers)


def _programs(shell: Shell, args: argparse.Namespace) -> Listing:
    session = shell.session
    programs = session.kernel_programs()
    attached = _attach_points(session)
    rows = [
        {
            **as_data(p),
            "owner": session.owner_of(p.id),
            "attached": attached.get(p.id, []),
        }
        for p in programs
    ]
    columns = ("id", "prog_type", "name", "tag", "owner", "attached", "run_cnt")
    headers = ("ID", "TYPE", "NAME", "TAG", "OWNER", "ATTACHED", "RUNS")
    return _kernel(rows, args, columns, headers)


def _attach_points(session: Any) -> dict[int, list[str]]:
    """Program id -> its links' attach points and those bpftui recorded
    (netlink attachments have no link)."""
    found: dict[int, list[str]] = {}
    for link in session.kernel_links():
        found.setdefault(link.prog_id, []).append(link.attach_point)
    for obj in session.status():
        for bpf in obj.bpfprograms:
            points = found.setdefault(bpf.program_id, []) if bpf.program_id else []
            if bpf.program_id and bpf.attach_point not in points:
                points.append(bpf.attach_point)
    return found


def _links(shell: Shell, args: argparse.Namespace) -> Listing:
    session = shell.session
    names = {p.id: p.name for p in session.kernel_programs()}
    rows = [
        {
            **as_data(link),
            "prog_name": names.get(link.prog_id),
            "owner": session.owner_of(link.prog_id),
        }
        for link in session.kernel_links()
    ]
    columns = ("id", "link_type", "prog_id", "prog_name", "attach_point", "owner")
    headers = ("ID", "TYPE", "PROG", "PROGNAME", "ATTACHPOINT", "OWNER")
    return _kernel(rows, args, columns, headers)


def _maps(shell: Shell, args: argparse.Namespace) -> Listing:
    users: dict[int, set[str]] = {}
    for obj in shell.session.status():
        for bpf in obj.bpfprograms:
            for map_id in bpf.map_ids.values():
                users.setdefault(map_id, set()).add(f"{obj.kind}/{obj.name}")
    rows = [
        {**as_data(m), "owner": sorted(users.get(m.id, ())) or None}
        for m in shell.session.kernel_maps()
    ]
    columns = (
        "id",
        "map_type",
        "name",
        "key_size",
        "value_size",
        "max_entries",
        "owner",
    )
    headers = ("ID", "TYPE", "NAME", "KEY", "VALUE", "MAX", "OWNER")
    return _kernel(rows, args, columns, headers)


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
    arg("--limit", type=int, metavar="N", help="at most N rows (functions)"),
    arg("-o", "--output", choices=["table", "json"]),
    details=_targets_help()
    + "\n\nexamples:\n  list interfaces\n  list functions --filter tcp_v4 -o json"
    + "\n  list symbols libc --filter malloc",
)
def list_command(shell: Shell, args: argparse.Namespace) -> None:
    _, build = TARGETS[args.what]
    emit(shell, build(shell, args), args.output)
