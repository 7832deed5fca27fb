"""Details of one program: object YAML, conditions, verifier log, maps, links."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Log, Static, TabbedContent, TabPane

from bpftui.core.backend import KernelLink, KernelMap, KernelProgram
from bpftui.core.errors import BpftuiError
from bpftui.core.session import BpfProgramView, ObjectStatusView, Session
from bpftui.screens.base import NodeScreen
from bpftui.screens.rows import ProgramRow
from bpftui.screens.widgets import condition_text

MAP_ENTRIES_SHOWN = 64


@dataclass
class MapReading:
    """One map and the first entries read from it."""

    map_id: int
    name: str
    info: KernelMap | None
    entries: Sequence[tuple[bytes, bytes]] = ()
    error: str = ""


@dataclass
class DetailReading:
    """All a details screen shows, read in one go off the UI thread."""

    status: ObjectStatusView | None = None
    program: KernelProgram | None = None
    links: list[KernelLink] = field(default_factory=list)
    maps: list[MapReading] = field(default_factory=list)


def read_details(session: Session, row: ProgramRow) -> DetailReading:
    """Read the object, kernel program, links and maps of ``row``; blocking."""
    reading = DetailReading()
    if row.ref is not None:
        reading.status = next(
            (s for s in session.status() if f"{s.kind}/{s.name}" == row.ref), None
        )
    if row.prog_id is not None:
        reading.program = next(
            (p for p in session.kernel_programs() if p.id == row.prog_id), None
        )
        reading.links = [k for k in session.kernel_links() if k.prog_id == row.prog_id]
    reading.maps = _read_maps(session, row, reading)
    return reading


def _read_maps(
    session: Session, row: ProgramRow, reading: DetailReading
) -> list[MapReading]:
    names = dict.fromkeys(reading.program.map_ids if reading.program else (), "")
    bpfprogram = _bpfprogram(reading.status, row)
    if bpfprogram is not None:
        names.update({map_id: name for name, map_id in bpfprogram.map_ids.items()})
    infos = {m.id: m for m in session.kernel_maps()} if names else {}
    out = []
    for map_id, name in names.items():
        info = infos.get(map_id)
        reading_ = MapReading(map_id, name or (info.name if info else ""), info)
        try:
            reading_.entries = session.map_entries(map_id, limit=MAP_ENTRIES_SHOWN)
        except BpftuiError as err:
            reading_.error = str(err)
        out.append(reading_)
    return out


def _bpfprogram(
    status: ObjectStatusView | None, row: ProgramRow
) -> BpfProgramView | None:
    if status is None:
        return None
    programs = list(status.bpfprograms)
    match = [bp for bp in programs if bp.name == row.bpfprogram]
    return (match or programs or [None])[0]


class DetailsScreen(NodeScreen):
    """Everything about one row of the Programs screen, refreshed live."""

    REFRESH_SECONDS = 2.0
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("left_square_bracket", "tab(-1)", "Prev tab", key_display="["),
        Binding("right_square_bracket", "tab(1)", "Next tab", key_display="]"),
        Binding("d", "delete", "Delete"),
    ]

    class Read(Message):
        """A fresh reading of the program and its maps."""

        def __init__(self, reading: DetailReading) -> None:
            self.reading = reading
            super().__init__()

    def __init__(self, row: ProgramRow) -> None:
        super().__init__()
        self.row = row
        self._yaml_shown = False
        self._log_shown = False

    def screen_title(self) -> str:
        what = self.row.ref or f"kernel program {self.row.prog_id} {self.row.function}"
        where = f" · {self.row.attach_point}" if self.row.attach_point else ""
        return f"Details · {what}{where}"

    def compose_body(self) -> ComposeResult:
        first = "log" if self.row.condition == "NotLoaded" else "conditions"
        with TabbedContent(initial=first, id="detail-tabs"):
            with TabPane("Conditions", id="conditions"), VerticalScroll():
                yield Static("reading…", id="conditions-text")
            with TabPane("YAML", id="yaml"), VerticalScroll():
                yield Static("", id="yaml-text")
            with TabPane("Verifier log", id="log"):
                yield Log(id="verifier-log", highlight=False)
            with TabPane("Maps", id="maps"):
                yield DataTable(id="map-table", cursor_type="row")
            with TabPane("Links & pins", id="links"), VerticalScroll():
                yield Static("", id="links-text")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#map-table", DataTable).add_columns(
            "MAP", "ID", "TYPE", "KEY", "VALUE"
        )

    def session_ready(self, session: Session) -> None:
        self._read(session)
        self.set_interval(self.REFRESH_SECONDS, lambda: self._read(session))

    @work(thread=True, exclusive=True, group="details", exit_on_error=False)
    def _read(self, session: Session) -> None:
        try:
            reading = read_details(session, self.row)
        except BpftuiError as err:
            self.app.call_from_thread(self.bpf_app.report_error, err)
            return
        self.post_message(self.Read(reading))

    def on_details_screen_read(self, event: Read) -> None:
        reading = event.reading
        bpfprogram = _bpfprogram(reading.status, self.row)
        self.query_one("#conditions-text", Static).update(
            self._conditions(reading, bpfprogram)
        )
        self._show_yaml(reading.status)
        self._show_log(bpfprogram)
        self._show_maps(reading.maps)
        self.query_one("#links-text", Static).update(_links(reading, bpfprogram))

    # -- panes

    def _conditions(
        self, reading: DetailReading, bpfprogram: BpfProgramView | None
    ) -> RenderableType:
        theme = self.app.current_theme
        parts: list[RenderableType] = []
        if reading.status is not None:
            cond = reading.status.condition
            parts.append(_condition_block("object", cond, theme))
            for bp in reading.status.bpfprograms:
                parts.append(_condition_block(bp.attach_point, bp.condition, theme, bp))
        if reading.program is not None:
            parts.append(_program_block(reading.program))
        return Group(*parts) if parts else Text("gone from the node", style="italic")

    def _show_yaml(self, status: ObjectStatusView | None) -> None:
        if self._yaml_shown or status is None:
            return
        from bpftui.core import yaml_io

        text = yaml_io.dump_yaml([status.obj])
        syntax = Syntax(text, "yaml", theme="ansi_dark", background_color="default")
        self.query_one("#yaml-text", Static).update(syntax)
        self._yaml_shown = True

    def _show_log(self, bpfprogram: BpfProgramView | None) -> None:
        if self._log_shown:
            return
        log = self.query_one("#verifier-log", Log)
        if bpfprogram is not None and bpfprogram.verifier_log:
            log.write_lines(bpfprogram.verifier_log.splitlines())
        else:
            log.write_line("no verifier log: the program was loaded, or not tried")
        self._log_shown = True

    def _show_maps(self, maps: Sequence[MapReading]) -> None:
        table = self.query_one("#map-table", DataTable)
        row = table.cursor_row
        table.clear()
        for reading in maps:
            kind = reading.info.map_type if reading.info else "?"
            if reading.error or not reading.entries:
                note = reading.error or "empty"
                table.add_row(reading.name, str(reading.map_id), kind, "-", note)
            for key, value in reading.entries:
                table.add_row(
                    reading.name, str(reading.map_id), kind, _hex(key), _value(value)
                )
        if not maps:
            table.add_row("-", "-", "-", "-", "no maps: the program is not loaded")
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1), animate=False)

    # -- actions

    def action_tab(self, step: int) -> None:
        tabs = self.query_one(TabbedContent)
        ids = [pane.id for pane in tabs.query(TabPane)]
        tabs.active = ids[(ids.index(tabs.active) + step) % len(ids)] or ""

    def action_delete(self) -> None:
        if self.row.ref is None:
            self.notify(
                "Only objects applied with bpftui can be deleted here.",
                severity="warning",
            )
            return
        self.bpf_app.confirm_delete(self.row.ref)


def _condition_block(
    where: str, cond: object, theme: object, bp: BpfProgramView | None = None
) -> Text:
    text = Text.assemble((f"{where:<16}", "bold"), " ")
    text.append_text(condition_text(getattr(cond, "type", "?"), theme))
    text.append(f"  since {getattr(cond, 'last_transition_time', '')}", style="dim")
    if bp is not None:
        extra = [
            f"program {bp.program_id}" if bp.program_id is not None else "",
            f"priority {bp.priority}" if bp.priority is not None else "",
            f"slot {bp.slot}" if bp.slot is not None else "",
        ]
        text.append("  " + "  ".join(e for e in extra if e), style="dim")
    text.append(f"\n  {getattr(cond, 'reason', '')}: {getattr(cond, 'message', '')}\n")
    return text


def _program_block(prog: KernelProgram) -> Text:
    text = Text.assemble(
        ("\nkernel program", "bold"),
        f"  {prog.id} {prog.name} ({prog.prog_type}) tag {prog.tag}",
    )
    if prog.verified_insns is not None:
        text.append(f"\n  {prog.verified_insns} verified instructions")
    if prog.map_ids:
        text.append(f"\n  maps {', '.join(str(m) for m in prog.map_ids)}")
    return text


def _links(reading: DetailReading, bp: BpfProgramView | None) -> Text:
    text = Text("Links\n", style="bold")
    for link in reading.links:
        text.append(f"  {link.id} {link.link_type} → {link.attach_point}\n")
        for pin in link.pinned:
            text.append(f"      pinned {pin}\n", style="dim")
    for described in bp.links if bp else ():
        text.append(f"  {described}\n")
    pins = list(bp.pins) if bp else []
    pins += list(reading.program.pinned) if reading.program else []
    pins += list(bp.maps.values()) if bp else []
    text.append("\nPins\n", style="bold")
    for pin in dict.fromkeys(pins):
        text.append(f"  {pin}\n")
    if not pins:
        text.append("  none\n", style="dim")
    return text


def _hex(data: bytes) -> str:
    return data.hex(" ") if len(data) <= 16 else data[:16].hex(" ") + " …"


def _value(data: bytes) -> str:
    if len(data) in (4, 8):
        number = struct.unpack("<I" if len(data) == 4 else "<Q", data)[0]
        return f"{_hex(data)}  ({number:,})"
    return _hex(data)
