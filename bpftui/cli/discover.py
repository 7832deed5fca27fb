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
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

from bpftui.cli.output import print_json, print_table
from bpftui.core.errors import BpftuiError, UsageError
from bpftui.core.session import ChainView, Discovery, FunctionView, InterfaceView


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


def _matches(text: str | None, *names: str) -> bool:
    if not text:
        return True
    wanted = text.lower()
    return any(wanted in name.lower() for name in names)


def _notes(discovery: Any) -> None:
    for note in getattr(discovery, "notes", []):
        print(f"bpftui: note: {note}", file=sys.stderr)


# ---------------------------------------------------------------- interfaces


def list_interfaces(args: argparse.Namespace) -> int:
    with _discovery(args, with_kernel=True) as discovery:
        views = [v for v in discovery.interfaces() if _matches(args.filter, v.name)]
        if args.output == "json":
            print_json([asdict(v) for v in views])
        else:
            rows = [_interface_row(v) for v in views]
            print_table(rows, _INTERFACE_COLUMNS)
        _notes(discovery)
    return 0


_INTERFACE_COLUMNS = (
    "name",
    "index",
    "kind",
    "state",
    "mtu",
    "mac",
    "addresses",
    "primary",
    "attached",
)


def _interface_row(view: InterfaceView) -> dict[str, Any]:
    row = asdict(view)
    row["primary"] = "*" if view.primary else ""
    row["attached"] = " ".join(_chain_text(c) for c in view.chains) or "-"
    return row


def _chain_text(chain: ChainView) -> str:
    where = f"{chain.hook}({chain.mode})" if chain.mode else chain.hook
    slots = ",".join(_slot_text(s.name, s.prog_id) for s in chain.slots)
    if chain.dispatcher_id is not None:
        return f"{where}:dispatcher#{chain.dispatcher_id}[{slots}]"
    return f"{where}:{slots}"


def _slot_text(name: str, prog_id: int) -> str:
    ident = f"#{prog_id}" if prog_id else ""
    return f"{name or '?'}{ident}"


# ---------------------------------------------------------------- tracepoints


def list_tracepoints(args: argparse.Namespace) -> int:
    """All tracepoints; with TARGET (``category/name``) that one's fields."""
    with _discovery(args) as discovery:
        if args.target:
            return _tracepoint_fields(discovery, args)
        views = [
            v for v in discovery.tracepoints() if _matches(args.filter, v.full_name)
        ]
        if args.output == "json":
            print_json([asdict(v) for v in views])
        else:
            print_table(({"tracepoint": v.full_name} for v in views), ["tracepoint"])
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
        if _matches(args.filter, f.name)
    ]
    if args.output == "json":
        print_json([asdict(f) for f in fields])
    else:
        print_table(
            (asdict(f) for f in fields), ["name", "type", "offset", "size", "signed"]
        )
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
            views, _ = catalogue.filter(args.filter or "")
        if args.output == "json":
            print_json([_function_dict(v) for v in views])
        else:
            print_table(_function_rows(views), _FUNCTION_COLUMNS)
        _notes(discovery)
        _kprobe_note(catalogue)
    if args.target and not views:
        raise UsageError(
            f"list functions: no kernel function '{args.target}' with BTF",
            hint="search with --filter",
        )
    return 0


_FUNCTION_COLUMNS = ("name", "module", "fentry", "kprobe", "prototype")


def _function_dict(view: FunctionView) -> dict[str, Any]:
    # Spelled out: dataclasses.asdict deep-copies and takes seconds on 56k rows.
    return {
        "name": view.name,
        "module": view.module,
        "prototype": view.prototype,
        "fentry": view.fentry,
        "kprobe": view.kprobe,
    }


def _function_rows(views: Iterable[FunctionView]) -> Iterator[dict[str, Any]]:
    for view in views:
        kprobe = "unknown" if view.kprobe is None else view.kprobe
        yield {**_function_dict(view), "kprobe": kprobe}


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
            v for v in discovery.symbols(args.target) if _matches(args.filter, v.name)
        ]
    if args.output == "json":
        print_json([asdict(v) for v in views])
    else:
        rows = ({**asdict(v), "offset": f"{v.offset:#x}"} for v in views)
        print_table(rows, ["name", "offset", "size"])
    return 0


def list_processes(args: argparse.Namespace) -> int:
    """Running processes (pid, command), for a uprobe's ``pid``."""
    with _discovery(args) as discovery:
        views = [
            v
            for v in discovery.processes()
            if _matches(args.filter, v.comm, v.cmdline, str(v.pid))
        ]
    if args.output == "json":
        print_json([asdict(v) for v in views])
    else:
        print_table((asdict(v) for v in views), ["pid", "comm", "cmdline"])
    return 0
