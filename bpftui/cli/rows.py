"""The rows of the node listings, one definition for ``bpftui list`` and the shell.

Each builder turns views into the dicts :func:`bpftui.cli.output.print_table`
prints, and the ``*_COLUMNS``/``*_HEADERS`` tuples say which keys to print
under which heading. The kernel tables take a
:class:`~bpftui.core.session.Session`: the command line and the shell open a
fresh one for each listing.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from typing import Any

from bpftui.core.session import (
    ChainView,
    FunctionView,
    InterfaceView,
    Session,
    SymbolView,
    TracepointView,
)

INTERFACE_COLUMNS = (
    *("name", "index", "kind", "state", "mtu", "mac"),
    *("addresses", "primary", "attached"),
)
TRACEPOINT_COLUMNS = ("tracepoint",)
FIELD_COLUMNS = ("name", "type", "offset", "size", "signed")
FUNCTION_COLUMNS = ("name", "module", "fentry", "kprobe", "prototype")
SYMBOL_COLUMNS = ("name", "offset", "size")
PROCESS_COLUMNS = ("pid", "comm", "cmdline")

PROGRAM_COLUMNS = ("id", "prog_type", "name", "tag", "owner", "attached", "run_cnt")
PROGRAM_HEADERS = ("ID", "TYPE", "NAME", "TAG", "OWNER", "ATTACHED", "RUNS")
LINK_COLUMNS = ("id", "link_type", "prog_id", "prog_name", "attach_point", "owner")
LINK_HEADERS = ("ID", "TYPE", "PROG", "PROGNAME", "ATTACHPOINT", "OWNER")
MAP_COLUMNS = (
    *("id", "map_type", "name", "key_size", "value_size", "max_entries"),
    "owner",
)
MAP_HEADERS = ("ID", "TYPE", "NAME", "KEY", "VALUE", "MAX", "OWNER")


def matches(text: str | None, *values: Any) -> bool:
    """Whether ``text`` occurs in any of ``values``, ignoring case."""
    if not text:
        return True
    needle = text.lower()
    return any(needle in str(v).lower() for v in values)


def matching_rows(rows: list[dict[str, Any]], text: str | None) -> list[dict[str, Any]]:
    """The rows whose JSON text holds ``text``, ignoring case (all if empty)."""
    if not text:
        return rows
    needle = text.lower()
    return [r for r in rows if needle in json.dumps(r, default=str).lower()]


# ---------------------------------------------------------------- discovery


def interface_row(view: InterfaceView) -> dict[str, Any]:
    """An interface with its primary mark and what is attached, as text."""
    row = dataclasses.asdict(view)
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


def tracepoint_row(view: TracepointView) -> dict[str, Any]:
    """A tracepoint as ``category/name``."""
    return {"tracepoint": view.full_name}


def function_dict(view: FunctionView) -> dict[str, Any]:
    """A kernel function as JSON-ready data."""
    # Spelled out: dataclasses.asdict deep-copies and takes seconds on 56k rows.
    return {
        "name": view.name,
        "module": view.module,
        "prototype": view.prototype,
        "fentry": view.fentry,
        "kprobe": view.kprobe,
    }


def function_rows(views: Iterable[FunctionView]) -> list[dict[str, Any]]:
    """Kernel functions, with ``unknown`` where kprobe support is not known."""
    return [
        {**function_dict(v), "kprobe": "unknown" if v.kprobe is None else v.kprobe}
        for v in views
    ]


def symbol_row(view: SymbolView) -> dict[str, Any]:
    """A symbol with its file offset in hex."""
    return {**dataclasses.asdict(view), "offset": f"{view.offset:#x}"}


# ---------------------------------------------------------------- kernel tables


def program_rows(session: Session) -> list[dict[str, Any]]:
    """Every program in the kernel, with its owner and where it is attached."""
    programs = session.kernel_programs()
    links = session.kernel_links()
    owners = {p.id: session.owner_of(p.id) for p in programs}
    attached = _attach_points(session, links)
    return [
        {
            **dataclasses.asdict(p),
            "owner": owners[p.id],
            "attached": attached.get(p.id, []),
        }
        for p in programs
    ]


def link_rows(session: Session) -> list[dict[str, Any]]:
    """Every BPF link in the kernel, with its program's name and owner."""
    links = session.kernel_links()
    names = {p.id: p.name for p in session.kernel_programs()}
    owners = {link.prog_id: session.owner_of(link.prog_id) for link in links}
    return [
        {
            **dataclasses.asdict(link),
            "prog_name": names.get(link.prog_id),
            "owner": owners[link.prog_id],
        }
        for link in links
    ]


def map_rows(session: Session) -> list[dict[str, Any]]:
    """Every BPF map in the kernel, with the objects whose programs use it."""
    maps = session.kernel_maps()
    users = _map_users(session)
    return [
        {**dataclasses.asdict(m), "owner": sorted(users.get(m.id, ())) or None}
        for m in maps
    ]


def _attach_points(session: Session, links: Sequence[Any]) -> dict[int, list[str]]:
    """Program id -> where it is attached: its links, and bpftui's own records
    (XDP and TC attachments made through netlink have no link)."""
    found: dict[int, list[str]] = {}
    for link in links:
        found.setdefault(link.prog_id, []).append(link.attach_point)
    for obj in session.status():
        for bp in obj.bpfprograms:
            if bp.program_id is None:
                continue
            points = found.setdefault(bp.program_id, [])
            if bp.attach_point not in points:
                points.append(bp.attach_point)
    return found


def _map_users(session: Session) -> dict[int, set[str]]:
    users: dict[int, set[str]] = {}
    for obj in session.status():
        for bp in obj.bpfprograms:
            for map_id in bp.map_ids.values():
                users.setdefault(map_id, set()).add(f"{obj.kind}/{obj.name}")
    return users
