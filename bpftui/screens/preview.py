"""The YAML preview of a composed object: what export writes, byte for byte."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from bpftui.screens.base import NodeScreen

if TYPE_CHECKING:
    from bpftui.screens.compose import ComposeScreen


class PreviewScreen(NodeScreen):
    """The form's object as YAML, with save, copy and apply one key away."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s,ctrl+s", "export", "Save", key_display="s"),
        Binding("y,ctrl+y", "copy", "Copy", key_display="y"),
        Binding("a,ctrl+r", "apply", "Apply", key_display="a"),
        Binding("escape,ctrl+o", "app.pop_screen", "Back to form", key_display="esc"),
    ]

    def __init__(self, form: ComposeScreen) -> None:
        super().__init__()
        self.form = form

    def screen_title(self) -> str:
        return f"YAML preview · {self.form.kind}"

    def compose_body(self) -> ComposeResult:
        yield Static(self._status(), id="preview-status", classes="summary")
        with VerticalScroll(id="preview-scroll"):
            yield Static(self._syntax(), id="preview-yaml")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#preview-scroll").focus()

    def _syntax(self) -> Syntax:
        return Syntax(
            self.form.yaml_text(),
            "yaml",
            theme="ansi_dark",
            background_color="default",
            line_numbers=True,
        )

    def _status(self) -> Text:
        blocking = self.form.blocking()
        if not blocking:
            return Text("valid: this is exactly what save writes", style="green")
        return Text(
            f"{len(blocking)} problems: save and apply are blocked; "
            f"first: {blocking[0][0]}: {blocking[0][1]}",
            style="red",
        )

    def action_export(self) -> None:
        if not self.form.refuse_if_invalid("Export"):
            self.dismiss()
            self.form.action_export()

    def action_copy(self) -> None:
        self.form.action_copy()

    def action_apply(self) -> None:
        if not self.form.refuse_if_invalid("Apply"):
            self.dismiss()
            self.form.action_apply()
