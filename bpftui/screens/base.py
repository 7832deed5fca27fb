"""What every bpftui screen shares: the top bar, the footer, the session hook."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Static

from bpftui.core.session import Session

if TYPE_CHECKING:
    from bpftui.screens.app import BpftuiApp


class TopBar(Horizontal):
    """One line: the four modes with their keys, and the node's name."""

    def __init__(self, mode: str, title: str = "") -> None:
        super().__init__(id="topbar")
        self.mode = mode
        self.title = title

    def compose(self) -> ComposeResult:
        yield Static(self._tabs(), id="topbar-tabs")
        yield Static("", id="topbar-node")

    def _tabs(self) -> Text:
        from bpftui.screens.app import MODE_SCREENS

        if self.title:
            return Text.assemble((" " + self.title, "bold"))
        text = Text()
        for name, (_, label, key) in MODE_SCREENS.items():
            style = "reverse bold" if name == self.mode else ""
            text.append(f" {key} {label} ", style=style)
        return text

    def show_node(self, session: Session | None) -> None:
        label = "opening…"
        if session is not None:
            label = f"{session.node_name} · {session.backend_name}"
        self.query_one("#topbar-node", Static).update(label + " ")


class NodeScreen(Screen[Any]):
    """A screen over the node session; subclasses fill :meth:`compose_body`.

    ``session_ready`` runs once the app has a session (at once when it is
    already open), so screens never read a session that is still opening.
    """

    MODE: ClassVar[str] = ""
    TITLE_TEXT: ClassVar[str] = ""

    def compose(self) -> ComposeResult:
        yield TopBar(self.MODE, self.screen_title())
        yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def screen_title(self) -> str:
        return self.TITLE_TEXT

    @property
    def bpf_app(self) -> BpftuiApp:
        return cast("BpftuiApp", self.app)

    @property
    def session(self) -> Session | None:
        return self.bpf_app.session

    def on_mount(self) -> None:
        self.watch(self.app, "session", self._session_changed, init=True)

    def _session_changed(self, session: Session | None) -> None:
        self.query_one(TopBar).show_node(session)
        if session is not None:
            self.session_ready(session)

    def session_ready(self, session: Session) -> None:
        """Called once the session is open; load what the screen shows."""
