"""The Programs screen: applied objects and every program the kernel holds."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Input, Static

from bpftui.core.errors import BpftuiError
from bpftui.core.session import Session
from bpftui.screens.base import NodeScreen
from bpftui.screens.rows import (
    SORTS,
    ProgramRow,
    Sample,
    Snapshot,
    build_rows,
    hooks_of,
    samples,
    short_ref,
)
from bpftui.screens.widgets import condition_text, thousands

COLUMNS = (
    "CONDITION",
    "OBJECT",
    "ATTACH POINT",
    "PRI",
    "SLOT",
    "FUNCTION",
    "ID",
    "TYPE",
)
STATS_COLUMNS = ("RUNS", "AVG NS", "EV/S")


def read_snapshot(session: Session, now: float) -> Snapshot:
    """Read what the Programs screen shows; blocking (thread workers only)."""
    kernel = session.kernel_programs()
    status = session.status()
    claimed = {bp.program_id for s in status for bp in s.bpfprograms}
    owners = {
        p.id: owner
        for p in kernel
        if p.id not in claimed and (owner := session.owner_of(p.id))
    }
    try:
        hooks, dispatchers = hooks_of(session.discovery.interfaces())
    except BpftuiError:  # no netlink: the link table still names most hooks
        hooks, dispatchers = {}, frozenset()
    links = session.kernel_links()
    return Snapshot(status, kernel, links, owners, now, hooks, dispatchers)


class ProgramsScreen(NodeScreen):
    """Applied objects with their conditions, live, and the kernel's programs."""

    MODE = "programs"
    REFRESH_SECONDS = 1.0
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("s", "sort", "Sort"),
        Binding("b", "toggle_stats", "BPF stats"),
        Binding("d", "delete", "Delete"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    stats: reactive[bool] = reactive(False, init=False)
    sort: reactive[str] = reactive("object", init=False)

    class Refreshed(Message):
        """A new reading of the node, joined into rows."""

        def __init__(self, rows: list[ProgramRow], samples: dict[int, Sample]) -> None:
            self.rows = rows
            self.samples = samples
            super().__init__()

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[ProgramRow] = []
        self._wanted: str | None = None  # Kind/name to put the cursor on
        self._shown_keys: list[str] = []
        self._shown_rows: tuple[Any, ...] | None = None
        self._widths: tuple[int, ...] = ()
        self._samples: dict[int, Sample] = {}

    def compose_body(self) -> ComposeResult:
        yield Static("reading the node…", id="programs-summary", classes="summary")
        yield DataTable(id="programs", cursor_type="row", zebra_stripes=True)
        yield Input(placeholder="filter programs", id="programs-filter", compact=True)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#programs-filter").display = False
        self._set_columns()
        self.query_one(DataTable).focus()

    def session_ready(self, session: Session) -> None:
        self.refresh_now()
        self.set_interval(self.REFRESH_SECONDS, self.refresh_now)
        self.watch(
            self.app, "node_generation", lambda _: self.refresh_now(), init=False
        )

    def refresh_now(self) -> None:
        """Read the node again (in a thread worker)."""
        if self.session is not None:
            pending = dict(self.bpf_app.pending)
            self._read(self.session, dict(self._samples), pending)

    @work(thread=True, exclusive=True, group="refresh", exit_on_error=False)
    def _read(
        self,
        session: Session,
        previous: Mapping[int, Sample],
        pending: Mapping[str, str],
    ) -> None:
        try:
            snap = read_snapshot(session, self.bpf_app.clock())
        except BpftuiError as err:
            self.app.call_from_thread(self.bpf_app.report_error, err)
            return
        rows = build_rows(snap, previous, pending)
        self.post_message(self.Refreshed(rows, samples(rows, previous, snap.now)))

    def on_programs_screen_refreshed(self, event: Refreshed) -> None:
        self.rows = event.rows
        self._samples = event.samples
        self._show()

    # -- drawing

    def _set_columns(self, widths: Sequence[int] = ()) -> None:
        # Widths are measured here, not left to the table: a DataTable
        # measures on idle, which a screen under a modal never reaches, and
        # then shows columns as narrow as their headers.
        table = self.query_one(DataTable)
        table.clear(columns=True)
        self._shown_rows = None
        self._widths = tuple(widths)
        names = COLUMNS + (STATS_COLUMNS if self.stats else ())
        for name, width in itertools.zip_longest(names, widths[: len(names)]):
            table.add_column(name, key=name, width=width)

    def _visible_rows(self) -> list[ProgramRow]:
        needle = self.query_one("#programs-filter", Input).value.strip().lower()
        rows = [r for r in self.rows if needle in r.search_text()]
        return sorted(rows, key=SORTS[self.sort])

    def _show(self) -> None:
        table = self.query_one(DataTable)
        keep = self.highlighted_row()
        visible = self._visible_rows()
        keys = [r.key for r in visible]
        cells = [self._cells(row) for row in visible]
        widths = _widths(COLUMNS + (STATS_COLUMNS if self.stats else ()), cells)
        if keys != self._shown_keys or widths != self._widths:
            self._shown_keys = keys
            self._set_columns(widths)
        drawn = (self.app.theme, *visible)
        if drawn != self._shown_rows:
            self._shown_rows = drawn
            table.clear()
            for row, row_cells in zip(visible, cells, strict=True):
                table.add_row(*row_cells, key=row.key)
        target = self._take_wanted(visible) or keep
        if target is not None and target.key in table.rows:
            table.move_cursor(row=table.get_row_index(target.key), animate=False)
        self._summarise(len(visible))

    def _cells(self, row: ProgramRow) -> list[Any]:
        cells: list[Any] = [
            condition_text(row.condition, self.app.current_theme),
            short_ref(row.owner) if row.owner else Text("-", style="dim"),
            row.attach_point or "-",
            _opt(row.priority),
            _opt(row.slot),
            row.function,
            _opt(row.prog_id),
            row.prog_type,
        ]
        if self.stats:
            rate = None if row.rate is None else f"{row.rate:,.1f}"
            cells += [
                _opt(row.run_cnt, thousands),
                _opt(row.avg_ns, thousands),
                _opt(rate),
            ]
        return cells

    def _summarise(self, shown: int) -> None:
        objects = len({r.ref for r in self.rows if r.ref})
        kernel = sum(1 for r in self.rows if r.condition == "kernel")
        text = f"{objects} objects · {kernel} other kernel programs"
        if shown != len(self.rows):
            text += f" · showing {shown} of {len(self.rows)}"
        stats = "on" if self.stats else "off"
        text += f" · sort: {self.sort} · BPF stats {stats}"
        self.query_one("#programs-summary", Static).update(text)

    def _take_wanted(self, visible: list[ProgramRow]) -> ProgramRow | None:
        found = next(
            (r for r in visible if self._wanted and r.ref == self._wanted), None
        )
        if found is not None:
            self._wanted = None
        return found

    def highlight_ref(self, ref: str) -> None:
        """Put the cursor on the first row of the object ``ref``."""
        self._wanted = ref
        self._show()

    def highlighted_row(self) -> ProgramRow | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((r for r in self.rows if r.key == key), None)

    # -- reactions

    def watch_stats(self, enabled: bool) -> None:
        self._set_columns()
        self._show()
        if self.session is not None:
            self._set_stats(self.session, enabled)

    def watch_sort(self) -> None:
        self._show()

    @work(thread=True, group="stats", exit_on_error=False)
    def _set_stats(self, session: Session, enabled: bool) -> None:
        try:
            session.set_stats(enabled)
        except BpftuiError as err:
            self.app.call_from_thread(self.bpf_app.report_error, err)

    @on(DataTable.RowSelected)
    def _open_details(self) -> None:
        from bpftui.screens.details import DetailsScreen

        row = self.highlighted_row()
        if row is not None:
            self.app.push_screen(DetailsScreen(row))

    @on(Input.Changed, "#programs-filter")
    def _filter_changed(self) -> None:
        self._show()

    @on(Input.Submitted, "#programs-filter")
    def _filter_submitted(self) -> None:
        self.query_one(DataTable).focus()

    # -- actions

    def action_filter(self) -> None:
        field = self.query_one("#programs-filter", Input)
        field.display = True
        field.focus()

    def action_clear_filter(self) -> None:
        field = self.query_one("#programs-filter", Input)
        field.value = ""
        field.display = False
        self.query_one(DataTable).focus()

    def action_sort(self) -> None:
        names = list(SORTS)
        self.sort = names[(names.index(self.sort) + 1) % len(names)]

    def action_toggle_stats(self) -> None:
        self.stats = not self.stats

    def action_delete(self) -> None:
        row = self.highlighted_row()
        if row is None or row.ref is None:
            self.notify(
                "Only objects applied with bpftui can be deleted here.",
                severity="warning",
            )
            return
        self.bpf_app.confirm_delete(row.ref)


def _opt(value: Any, fmt: Any = str) -> Any:
    return Text("-", style="dim") if value is None else fmt(value)


def refs_of(rows: Sequence[ProgramRow]) -> set[str]:
    """The applied objects among rows (tests and the palette use it)."""
    return {r.ref for r in rows if r.ref}


def _widths(names: Sequence[str], rows: Sequence[Sequence[Any]]) -> tuple[int, ...]:
    """Each column's width: its widest cell or its header."""
    widths = [cell_len(name) for name in names]
    for cells in rows:
        for i, cell in enumerate(cells[: len(widths)]):
            text = cell.plain if isinstance(cell, Text) else str(cell)
            widths[i] = max(widths[i], cell_len(text))
    return tuple(widths)
