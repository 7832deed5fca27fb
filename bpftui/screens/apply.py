"""Applying objects to the node, with the progress and the outcome shown."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, cast

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Label, LoadingIndicator, Static

from bpftui.core.errors import BpftuiError, VerifierError
from bpftui.core.session import BpfProgramView, Session
from bpftui.screens.widgets import condition_text


class ApplyScreen(ModalScreen[None]):
    """Runs ``session.apply`` in a thread worker and shows what came of it.

    While it runs, the object shows as "Applying" in the Programs screen;
    when it ends, each attach point is listed with its condition.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "show_programs", "Show in Programs"),
        Binding("escape", "close", "Close"),
    ]

    class Applied(Message):
        """The loader finished; ``programs`` holds each attach point."""

        def __init__(self, programs: Sequence[BpfProgramView]) -> None:
            self.programs = programs
            super().__init__()

    class ApplyFailed(Message):
        """The loader refused or failed; nothing half-done is left behind."""

        def __init__(self, error: BpftuiError) -> None:
            self.error = error
            super().__init__()

    def __init__(self, session: Session, objects: list[Any], ref: str) -> None:
        super().__init__(classes="dialog")
        self.session = session
        self.objects = objects
        self.ref = ref
        self.done = False
        self.programs: Sequence[BpfProgramView] = ()  # what apply made

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(f"Applying {self.ref}", classes="dialog-title")
            yield Static(self._progress_text(), id="apply-progress")
            yield LoadingIndicator(id="apply-spinner")
            yield Static("", id="apply-result")
            yield Static(
                Text("working… the node is being changed", style="dim"), id="apply-keys"
            )

    def _progress_text(self) -> Text:
        kinds = ", ".join(sorted({type(o).__name__ for o in self.objects}))
        return Text(f"loading and attaching on node {self.session.node_name} ({kinds})")

    def on_mount(self) -> None:
        self._app.mark_pending(self.ref, "Applying")
        self._apply()

    @property
    def _app(self) -> Any:
        return cast(Any, self.app)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _apply(self) -> None:
        try:
            programs = self.session.apply(self.objects)
        except BpftuiError as err:
            self.post_message(self.ApplyFailed(err))
            return
        self.post_message(self.Applied(programs))

    def on_apply_screen_applied(self, event: Applied) -> None:
        self.programs = event.programs
        self._finish()
        self.query_one("#apply-result", Static).update(self._outcome(event.programs))
        failed = [p for p in event.programs if p.condition.type != "Loaded"]
        severity = "warning" if failed else "information"
        self.notify(
            f"{self.ref}: applied to {len(event.programs)} attach points.",
            severity=severity,
        )

    def on_apply_screen_apply_failed(self, event: ApplyFailed) -> None:
        self._finish()
        text = Text(str(event.error), style="bold red")
        if isinstance(event.error, VerifierError):
            text.append("\n\nThe whole verifier log is in the program's details.")
        self.query_one("#apply-result", Static).update(text)

    def _finish(self) -> None:
        self.done = True
        self._app.mark_pending(self.ref, None)
        self.query_one("#apply-spinner").display = False
        keys = Text("enter: show in Programs   escape: close", style="dim")
        self.query_one("#apply-keys", Static).update(keys)

    def _outcome(self, programs: Sequence[BpfProgramView]) -> Table:
        table = Table(box=None, padding=(0, 1), header_style="bold")
        for name in ("ATTACH POINT", "CONDITION", "PROGRAM"):
            table.add_column(name)
        theme = self.app.current_theme
        for bp in programs:
            table.add_row(
                bp.attach_point,
                condition_text(bp.condition.type, theme),
                str(bp.program_id or "-"),
            )
        if not programs:
            table.add_row("-", Text("no attach point on this node", style="dim"), "")
        return table

    def action_show_programs(self) -> None:
        if self.done:
            self.dismiss()
            self._app.show_in_programs(self.ref)

    def action_close(self) -> None:
        if self.done:
            self.dismiss()
