"""Rows of the Programs screen, computed off the UI thread from session views.

Plain Python (no textual) so the joins between applied objects, per-node
BpfPrograms, kernel programs and links can be tested on their own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bpftui.core.backend import KernelLink, KernelProgram
from bpftui.core.session import BpfProgramView, InterfaceView, ObjectStatusView

# (run count, when, events per second then) of one program, for rates.
Sample = tuple[int, float, float | None]


@dataclass(frozen=True, slots=True)
class ProgramRow:
    """One line of the Programs screen: an attach point or a kernel program."""

    key: str
    condition: str
    owner: str  # "XdpProgram/edge", or who else made it, or ""
    function: str
    attach_point: str = ""
    prog_type: str = ""
    prog_id: int | None = None
    priority: int | None = None
    slot: int | None = None
    run_cnt: int | None = None
    run_time_ns: int | None = None
    rate: float | None = None
    ref: str | None = None  # Kind/name of the applied object, if any
    bpfprogram: str | None = None

    @property
    def avg_ns(self) -> int | None:
        if not self.run_cnt or self.run_time_ns is None:
            return None
        return self.run_time_ns // self.run_cnt

    def search_text(self) -> str:
        parts = (
            self.condition,
            self.owner,
            self.function,
            self.attach_point,
            self.prog_type,
            str(self.prog_id or ""),
        )
        return " ".join(parts).lower()


@dataclass
class Snapshot:
    """Everything read from the session in one refresh."""

    status: Sequence[ObjectStatusView] = ()
    kernel: Sequence[KernelProgram] = ()
    links: Sequence[KernelLink] = ()
    owners: Mapping[int, str] = field(default_factory=dict)
    now: float = 0.0
    hooks: Mapping[int, str] = field(default_factory=dict)  # prog id -> "eth0 xdp"
    dispatchers: frozenset[int] = frozenset()


def function_name(obj: Any) -> str:
    """The ``bpffunctionname`` of an api object, wherever its class keeps it."""
    for holder in (obj, getattr(obj, "spec", None)):
        name = getattr(holder, "bpffunctionname", None)
        if isinstance(name, str):
            return name
    if isinstance(obj, Mapping):
        return str(obj.get("spec", {}).get("bpffunctionname", ""))
    return ""


def short_ref(ref: str) -> str:
    """``XdpProgram/edge`` -> ``xdp/edge``, as the command line writes it."""
    from bpftui.core import api  # imported by the session long before this runs

    kind, _, name = ref.partition("/")
    info = api.KINDS.get(kind)
    return f"{info.short}/{name}" if info else ref


def build_rows(
    snap: Snapshot,
    previous: Mapping[int, Sample],
    pending: Mapping[str, str],
) -> list[ProgramRow]:
    """Join the snapshot into rows: applied objects first, then the kernel's."""
    kernel = {p.id: p for p in snap.kernel}
    rows: list[ProgramRow] = []
    for status in snap.status:
        rows.extend(_object_rows(status, kernel, previous, snap.now))
    claimed = {r.prog_id for r in rows if r.prog_id is not None}
    attach = {**snap.hooks, **_attach_points(snap.links)}
    owners = dict.fromkeys(snap.dispatchers, "dispatcher") | dict(snap.owners)
    for prog in snap.kernel:
        if prog.id not in claimed:
            rows.append(_kernel_row(prog, attach, owners, previous, snap.now))
    return _with_pending(rows, pending)


def hooks_of(
    interfaces: Sequence[InterfaceView],
) -> tuple[dict[int, str], frozenset[int]]:
    """Where each dispatcher and chain member runs, from the interface chains.

    Netlink XDP attachments and TC filters are not bpf_links, so the link
    table alone cannot say where they are.
    """
    hooks: dict[int, str] = {}
    dispatchers = set()
    for iface in interfaces:
        where = f"{iface.netns}/{iface.name}" if iface.netns else iface.name
        for chain in iface.chains:
            if chain.dispatcher_id is not None:
                dispatchers.add(chain.dispatcher_id)
                hooks[chain.dispatcher_id] = f"{where} {chain.hook}"
            for slot in chain.slots:
                hooks.setdefault(slot.prog_id, f"{where} {chain.hook} slot {slot.slot}")
    return hooks, frozenset(dispatchers)


def samples(
    rows: Sequence[ProgramRow], previous: Mapping[int, Sample], now: float
) -> dict[int, Sample]:
    """Run counts to compare against at the next refresh.

    A refresh at the same instant (two in one clock tick) keeps the older
    sample, so the rate it gave is not lost to a zero-length interval.
    """
    out: dict[int, Sample] = {}
    for row in rows:
        if row.prog_id is None or row.run_cnt is None:
            continue
        before = previous.get(row.prog_id)
        keep = before is not None and now <= before[1]
        out[row.prog_id] = before if keep and before else (row.run_cnt, now, row.rate)
    return out


def _object_rows(
    status: ObjectStatusView,
    kernel: Mapping[int, KernelProgram],
    previous: Mapping[int, Sample],
    now: float,
) -> list[ProgramRow]:
    ref = f"{status.kind}/{status.name}"
    function = function_name(status.obj)
    if not status.bpfprograms:
        return [ProgramRow(f"obj:{ref}", status.condition.type, ref, function, ref=ref)]
    return [
        _bpfprogram_row(ref, function, bp, kernel, previous=previous, now=now)
        for bp in status.bpfprograms
    ]


def _bpfprogram_row(
    ref: str,
    function: str,
    bp: BpfProgramView,
    kernel: Mapping[int, KernelProgram],
    *,
    previous: Mapping[int, Sample],
    now: float,
) -> ProgramRow:
    prog = kernel.get(bp.program_id) if bp.program_id is not None else None
    return ProgramRow(
        key=f"bpf:{bp.name}",
        condition=bp.condition.type,
        owner=ref,
        function=function or (prog.name if prog else ""),
        attach_point=bp.attach_point,
        prog_type=bp.prog_type,
        prog_id=bp.program_id,
        priority=bp.priority,
        slot=bp.slot,
        ref=ref,
        bpfprogram=bp.name,
        **_stats(prog, previous, now),
    )


def _kernel_row(
    prog: KernelProgram,
    attach: Mapping[int, str],
    owners: Mapping[int, str],
    previous: Mapping[int, Sample],
    now: float,
) -> ProgramRow:
    return ProgramRow(
        key=f"kernel:{prog.id}",
        condition="kernel",
        owner=owners.get(prog.id, ""),
        function=prog.name,
        attach_point=attach.get(prog.id, ""),
        prog_type=prog.prog_type,
        prog_id=prog.id,
        **_stats(prog, previous, now),
    )


def _stats(
    prog: KernelProgram | None, previous: Mapping[int, Sample], now: float
) -> dict[str, Any]:
    if prog is None or prog.run_cnt is None:
        return {}
    rate = None
    before = previous.get(prog.id)
    if before is not None:
        count, when, last_rate = before
        rate = max(0, prog.run_cnt - count) / (now - when) if now > when else last_rate
    return {"run_cnt": prog.run_cnt, "run_time_ns": prog.run_time_ns, "rate": rate}


def _attach_points(links: Sequence[KernelLink]) -> dict[int, str]:
    points: dict[int, list[str]] = {}
    for link in links:
        points.setdefault(link.prog_id, []).append(link.attach_point)
    return {prog_id: ", ".join(names) for prog_id, names in points.items()}


def _with_pending(
    rows: list[ProgramRow], pending: Mapping[str, str]
) -> list[ProgramRow]:
    """Show objects being applied or deleted with that word as their condition."""
    if not pending:
        return rows
    seen = {r.ref for r in rows}
    out = [
        replace(r, condition=pending[r.ref]) if r.ref in pending else r for r in rows
    ]
    for ref, word in pending.items():
        if ref not in seen:
            out.insert(0, ProgramRow(f"obj:{ref}", word, ref, "", ref=ref))
    return out


SORTS: dict[str, Callable[[ProgramRow], Any]] = {
    "object": lambda r: (r.ref is None, r.owner, r.attach_point),
    "condition": lambda r: (r.condition, r.owner),
    "attach point": lambda r: (r.attach_point or "~", r.priority or 0),
    "id": lambda r: r.prog_id or 0,
    "runs": lambda r: -(r.run_cnt or 0),
}
