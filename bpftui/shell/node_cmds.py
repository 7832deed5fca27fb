"""Commands that read or change the node: inspect, apply, delete, status,
watch, doctor, stats."""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bpftui.cli.output import print_json, print_table
from bpftui.core import api, node, yaml_io
from bpftui.core.errors import BpftuiError, InputError
from bpftui.core.session import BpfProgramView, ObjectStatusView
from bpftui.shell.listing import as_data
from bpftui.shell.registry import arg, command
from bpftui.shell.state import Shell, normalize_ref, short_ref

# Per-node conditions that count as success, as for ``bpftui apply``.
APPLY_OK = frozenset(str(t) for t in node.APPLY_OK)


def describe(shell: Shell, fields: Sequence[tuple[str, Any]], output: str) -> None:
    """Print ``field: value`` lines, or one JSON object."""
    if output == "json":
        print_json(dict(fields), out=shell.out)
        return
    width = max((len(k) for k, _ in fields), default=0) + 1
    for key, value in fields:
        shell.echo(f"{key + ':':{width}}  {_text(value)}")


def _text(value: Any) -> str:
    if value is None or value in ((), []):
        return "<none>"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "<none>"
    return str(value)


# ---------------------------------------------------------------- inspect


def _find(items: Iterable[Any], ident: int, what: str) -> Any:
    for item in items:
        if item.id == ident:
            return item
    raise InputError(f"{what} {ident}: not found", hint=f"'list {what}s' shows the ids")


def _inspect_program(shell: Shell, ident: int, output: str) -> None:
    session = shell.session
    prog = _find(session.kernel_programs(), ident, "program")
    fields = list(as_data(prog).items())
    fields.append(("owner", session.owner_of(ident)))
    per_node = [b for s in session.status() for b in s.bpfprograms]
    fields.extend(_bpfprogram_fields(b) for b in per_node if b.program_id == ident)
    describe(shell, fields, output)


def _bpfprogram_fields(view: BpfProgramView) -> tuple[str, Any]:
    cond = view.condition
    return ("bpfprogram", f"{view.name} ({cond.type}: {cond.message or cond.reason})")


def _inspect_map(shell: Shell, ident: int, output: str, limit: int) -> None:
    found = _find(shell.session.kernel_maps(), ident, "map")
    entries = shell.session.map_entries(ident, limit=limit)
    rows = [
        {"key": _hex(k), "value": _hex(v), "as_int": _as_int(v)} for k, v in entries
    ]
    if output == "json":
        print_json({**as_data(found), "entries": rows}, out=shell.out)
        return
    describe(shell, list(as_data(found).items()), output)
    shell.echo()
    print_table(rows, ("key", "value", "as_int"), out=shell.out)


def _hex(data: bytes) -> str:
    return data.hex(" ")


def _as_int(data: bytes) -> int | None:
    return int.from_bytes(data, "little") if len(data) in (1, 2, 4, 8) else None


def _inspect_link(shell: Shell, ident: int, output: str) -> None:
    link = _find(shell.session.kernel_links(), ident, "link")
    describe(shell, list(as_data(link).items()), output)


def _inspect_object(shell: Shell, ref: str, output: str) -> None:
    wanted = normalize_ref(ref)
    for view in shell.session.status():
        if f"{view.kind}/{view.name}" == wanted:
            describe(shell, _status_fields(view), output)
            return
    raise InputError(f"{wanted}: not applied on this node", hint="'status' lists them")


def _status_fields(view: ObjectStatusView) -> list[tuple[str, Any]]:
    cond = view.condition
    fields: list[tuple[str, Any]] = [
        ("object", f"{view.kind}/{view.name}"),
        ("condition", f"{cond.type} ({cond.reason})"),
        ("message", cond.message),
        ("since", cond.last_transition_time),
    ]
    for bpf in view.bpfprograms:
        fields.append(_bpfprogram_fields(bpf))
        fields.append(("  attach point", bpf.attach_point))
        fields.append(("  program id", bpf.program_id))
        fields.append(("  maps", dict(bpf.map_ids) or None))
        fields.append(("  links", list(bpf.links)))
        if bpf.verifier_log:
            fields.append(("  verifier log", bpf.verifier_log.strip()))
    return fields


def _inspect_bytecode(shell: Shell, path: str, output: str) -> None:
    from bpftui.core.bytecode import inspect_bytecode

    spec = inspect_bytecode(os.path.expanduser(path))
    if output == "json":
        print_json(as_data(spec), out=shell.out)
        return
    from bpftui.cli.inspect import print_spec

    print_spec(spec, out=shell.out)


@command(
    "inspect",
    "show a program, map, link (by id), an applied object or a bytecode file",
    arg(
        "what", choices=["program", "map", "link", "object", "bytecode"], metavar="WHAT"
    ),
    arg("ident", metavar="ID|KIND/NAME|FILE"),
    arg("--limit", type=int, default=100, metavar="N", help="map entries to show"),
    arg("-o", "--output", choices=["table", "json"]),
    details="examples:\n  inspect program 42\n  inspect map 7 --limit 10\n"
    "  inspect object xdp/edge\n  inspect bytecode ./xdp_pass.o",
)
def inspect_command(shell: Shell, args: argparse.Namespace) -> None:
    output = args.output or shell.output
    if args.what == "object":
        _inspect_object(shell, args.ident, output)
        return
    if args.what == "bytecode":
        _inspect_bytecode(shell, args.ident, output)
        return
    ident = _int_id(args.ident, args.what)
    if args.what == "program":
        _inspect_program(shell, ident, output)
    elif args.what == "map":
        _inspect_map(shell, ident, output, args.limit)
    else:
        _inspect_link(shell, ident, output)


def _int_id(text: str, what: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise InputError(f'{what} id "{text}" is not a number') from None


# ---------------------------------------------------------------- apply, delete


@command(
    "apply",
    "load and attach an object on this node (the current one by default)",
    arg("names", nargs="*", metavar="NAME"),
    arg("--all", action="store_true", help="every object in the workspace"),
    details="Prints one line per attach point with its condition, as\n"
    "'bpftui apply' does.\n\nexamples:\n  apply\n  apply xdp/edge\n  apply --all",
)
def apply_command(shell: Shell, args: argparse.Namespace) -> None:
    from bpftui.cli.node import outcome_line

    if args.all:
        refs = list(shell.workspace.docs)
    else:
        refs = [shell.workspace.resolve(n) for n in args.names or [None]]
    objects = [api.from_dict(shell.workspace.docs[r]) for r in refs]
    views = shell.session.apply(objects)
    shell.forget_cache()
    for view in views:
        shell.echo(outcome_line(view))
    failed = [v for v in views if v.condition.type not in APPLY_OK]
    if failed:
        first = failed[0]
        raise BpftuiError(
            f"{first.owner_kind}/{first.owner_name} {first.attach_point}: "
            f"{first.condition.type}",
            hint="'inspect object' shows the details",
        )


@command(
    "delete",
    "detach, unload and unpin applied objects",
    arg("refs", nargs="+", metavar="KIND/NAME"),
    details="examples:\n  delete xdp/edge\n  delete XdpProgram/edge tc/shaper",
)
def delete_command(shell: Shell, args: argparse.Namespace) -> None:
    refs = list(dict.fromkeys(normalize_ref(r) for r in args.refs))
    gone = set(shell.session.delete(refs))
    shell.forget_cache()
    for ref in refs:
        if ref in gone:
            shell.echo(f"{_k8s_ref(ref)} deleted")
    missing = [r for r in refs if r not in gone]
    if missing:
        names = ", ".join(_k8s_ref(r) for r in missing)
        raise InputError(
            f"{names}: not applied on this node", hint="'status' lists them"
        )


def _k8s_ref(ref: str) -> str:
    """``XdpProgram/edge`` as kubectl names it: ``xdpprogram.bpfman.io/edge``."""
    kind, _, name = ref.partition("/")
    return f"{kind.lower()}.{api.API_GROUP}/{name}"


# ---------------------------------------------------------------- status, watch


def print_status(shell: Shell, views: Sequence[ObjectStatusView], output: str) -> None:
    """``status`` exactly as ``bpftui status`` prints it."""
    from bpftui.cli.node import k8s_list, print_status_tables

    if output == "json":
        print_json(k8s_list(views), out=shell.out)
    elif output == "yaml":
        shell.out.write(yaml_io.dump_yaml([k8s_list(views)]))
    elif not views:
        print("No resources found", file=shell.err)
    else:
        # The CLI's tables print to sys.stdout; the shell's output may be
        # elsewhere (tests, a redirected REPL).
        with contextlib.redirect_stdout(shell.out):
            print_status_tables(views, wide=output == "wide")


@command(
    "status",
    "what is applied on this node, with its condition",
    arg("-o", "--output", choices=["table", "wide", "json", "yaml"]),
)
def status_command(shell: Shell, args: argparse.Namespace) -> None:
    print_status(shell, shell.session.status(), args.output or shell.output)


def condition_rows(views: Sequence[ObjectStatusView]) -> list[dict[str, Any]]:
    """One row per object and per node-level program under it."""
    rows: list[dict[str, Any]] = []
    for view in views:
        cond = view.condition
        rows.append(
            {
                "object": short_ref(f"{view.kind}/{view.name}"),
                "condition": cond.type,
                "reason": cond.reason,
                "message": cond.message,
            }
        )
        for bpf in view.bpfprograms:
            rows.append(
                {
                    "object": f"  {bpf.attach_point}",
                    "condition": bpf.condition.type,
                    "reason": bpf.condition.reason,
                    "message": bpf.condition.message,
                    "program": bpf.program_id,
                }
            )
    return rows


@command(
    "watch",
    "show conditions, refreshing until Ctrl-C",
    arg("--interval", type=float, default=2.0, metavar="SECONDS"),
    arg("--count", type=int, metavar="N", help="stop after N refreshes"),
    details="In a terminal the screen is redrawn; otherwise a table is printed\n"
    "each time something changed.",
)
def watch_command(shell: Shell, args: argparse.Namespace) -> None:
    if args.interval <= 0:
        raise InputError("watch: --interval must be above 0")
    last: list[dict[str, Any]] | None = None
    shown = 0
    try:
        while args.count is None or shown < args.count:
            rows = condition_rows(shell.session.status())
            if rows != last or shell.interactive:
                _draw(shell, rows)
                last = rows
            shown += 1
            if args.count is None or shown < args.count:
                time.sleep(args.interval)
    except KeyboardInterrupt:
        shell.echo()  # a watch ends with Ctrl-C: that is success, not a failure


def _draw(shell: Shell, rows: list[dict[str, Any]]) -> None:
    if shell.interactive and shell.out.isatty():
        shell.out.write("\x1b[H\x1b[2J")
    stamp = time.strftime("%H:%M:%S")
    shell.echo(f"# {stamp}  conditions ({len(rows)} rows; Ctrl-C to stop)")
    if rows:
        columns = ("object", "condition", "reason", "program", "message")
        print_table(rows, columns, out=shell.out)
    else:
        shell.echo("nothing applied")
    shell.out.flush()


# ---------------------------------------------------------------- doctor, stats


@command(
    "doctor",
    "what this node can do: BPF features probed for real",
    arg("-o", "--output", choices=["table", "json"]),
)
def doctor_command(shell: Shell, args: argparse.Namespace) -> None:
    features = shell.session.doctor()
    if (args.output or shell.output) == "json":
        print_json([as_data(f) for f in features], out=shell.out)
        return
    rows = [
        {**as_data(f), "available": "yes" if f.available else "no"} for f in features
    ]
    print_table(rows, ("name", "available", "detail", "needs"), out=shell.out)


@command(
    "stats",
    "turn the kernel's run-time statistics on or off",
    arg("state", choices=["on", "off"]),
)
def stats_command(shell: Shell, args: argparse.Namespace) -> None:
    shell.session.set_stats(args.state == "on")
    shell.echo(f"run-time statistics {args.state}")
