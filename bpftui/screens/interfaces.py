"""The Interfaces screen: each interface with its XDP and TC chains."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Static

from bpftui.core.errors import BpftuiError
from bpftui.core.session import ChainView, InterfaceView, Session
from bpftui.screens.base import NodeScreen

HOOKS = ("xdp", "tc-ingress", "tc-egress")
COLUMNS = (
    "",
    "NAME",
    "NETNS",
    "KIND",
    "STATE",
    "MTU",
    "XDP",
    "TC IN",
    "TC OUT",
    "ADDRESSES",
)


class InterfacesScreen(NodeScreen):
    """Interfaces on top; the chains of the highlighted one below."""

    MODE = "interfaces"
    REFRESH_SECONDS = 3.0
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("x", "compose('XdpProgram')", "New XDP here"),
        Binding("t", "compose('TcProgram')", "New TC here"),
    ]

    class Listed(Message):
        """The node's interfaces were read (or changed)."""

        def __init__(self, interfaces: Sequence[InterfaceView]) -> None:
            self.interfaces = interfaces
            super().__init__()

    def __init__(self) -> None:
        super().__init__()
        self.interfaces: Sequence[InterfaceView] = ()
        self._unwatch: Callable[[], None] | None = None

    def compose_body(self) -> ComposeResult:
        yield DataTable(id="interfaces", cursor_type="row")
        with VerticalScroll(id="chains-pane"):
            yield Static("", id="chains")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(DataTable).add_columns(*COLUMNS)
        self.query_one(DataTable).focus()

    def session_ready(self, session: Session) -> None:
        self._read(session)
        self.set_interval(self.REFRESH_SECONDS, lambda: self._read(session))
        self.watch(
            self.app, "node_generation", lambda _: self._read(session), init=False
        )
        self._watch(session)

    @work(thread=True, exit_on_error=False)
    def _watch(self, session: Session) -> None:
        try:
            self._unwatch = session.discovery.watch_interfaces(
                lambda found: self.post_message(self.Listed(found))
            )
        except BpftuiError as err:  # no netlink events: the timer still refreshes
            self.app.call_from_thread(self.bpf_app.report_error, err)

    def on_unmount(self) -> None:
        if self._unwatch is not None:
            self._unwatch()

    @work(thread=True, exclusive=True, group="read", exit_on_error=False)
    def _read(self, session: Session) -> None:
        try:
            found = session.discovery.interfaces()
        except BpftuiError as err:
            self.app.call_from_thread(self.bpf_app.report_error, err)
            return
        self.post_message(self.Listed(found))

    def on_interfaces_screen_listed(self, event: Listed) -> None:
        if tuple(event.interfaces) == tuple(self.interfaces):
            return
        first = not self.interfaces
        self.interfaces = event.interfaces
        table = self.query_one(DataTable)
        row = table.cursor_row
        if first:  # start on the primary interface: where programs usually go
            row = next((i for i, f in enumerate(self.interfaces) if f.primary), 0)
        table.clear()
        for index, iface in enumerate(self.interfaces):
            table.add_row(*_cells(iface), key=str(index))
        table.move_cursor(row=min(row, len(self.interfaces) - 1), animate=False)
        self._show_chains()

    @on(DataTable.RowHighlighted)
    def _show_chains(self) -> None:
        iface = self.highlighted()
        if iface is not None:
            self.query_one("#chains", Static).update(chains_renderable(iface))

    def highlighted(self) -> InterfaceView | None:
        table = self.query_one(DataTable)
        if not self.interfaces or table.cursor_row < 0:
            return None
        return self.interfaces[min(table.cursor_row, len(self.interfaces) - 1)]

    def action_compose(self, kind: str) -> None:
        iface = self.highlighted()
        if iface is None:
            return
        if iface.primary:
            preset = {"interfaceselector.primarynodeinterface": "true"}
        else:
            preset = {"interfaceselector.interfaces": iface.name}
        self.bpf_app.compose_program(kind, preset)


def _cells(iface: InterfaceView) -> tuple[RenderableType, ...]:
    hooks = {c.hook: c for c in iface.chains}
    marker = Text("★", style="bold") if iface.primary else Text("")
    return (
        marker,
        Text(iface.name, style="bold" if iface.primary else ""),
        iface.netns or "-",
        iface.kind,
        iface.state,
        str(iface.mtu),
        *(_chain_summary(hooks.get(hook)) for hook in HOOKS),
        ", ".join(iface.addresses) or "-",
    )


def _chain_summary(chain: ChainView | None) -> Text:
    if chain is None or not chain.slots:
        return Text("-", style="dim")
    if chain.dispatcher_id is None:
        return Text(chain.slots[0].name)
    count = len(chain.slots)
    return Text(f"{count} slot{'s' if count > 1 else ''}", style="bold")


def chains_renderable(iface: InterfaceView) -> RenderableType:
    """The interface's chains, slot by slot in run order."""
    title = Text.assemble((iface.name, "bold"), f"  index {iface.index}")
    if iface.netns:
        title.append(f"  netns {iface.netns}")
    if iface.primary:
        title.append("  ★ primary node interface", style="bold")
    if not any(c.slots for c in iface.chains):
        return Group(title, Text("nothing attached to XDP or TC", style="dim"))
    return Group(title, *(_chain_table(c) for c in iface.chains if c.slots))


def _chain_table(chain: ChainView) -> Table:
    table = Table(
        title=_chain_title(chain),
        title_justify="left",
        box=None,
        padding=(0, 1),
        header_style="bold",
        expand=False,
    )
    for name in ("SLOT", "PRI", "PROGRAM", "ID", "PROCEED-ON", "OWNER"):
        table.add_column(name, no_wrap=name != "PROCEED-ON")
    for slot in chain.slots:
        table.add_row(
            str(slot.slot),
            str(slot.priority),
            slot.name,
            str(slot.prog_id),
            " ".join(slot.proceedon) or "-",
            slot.owner or "-",
        )
    return table


def _chain_title(chain: ChainView) -> Text:
    text = Text(f"\n{chain.hook}", style="bold underline")
    if chain.mode:
        text.append(f" ({chain.mode})")
    if chain.dispatcher_id is not None:
        text.append(f"  dispatcher {chain.dispatcher_id}", style="dim")
        if chain.revision is not None:
            text.append(f" revision {chain.revision}", style="dim")
    else:
        text.append("  single program, no dispatcher", style="dim")
    return text
