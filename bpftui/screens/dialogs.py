"""Modal dialogs: confirm, error, choose a kind, save to a file, help."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from bpftui.screens.widgets import condition_text

KINDS = (
    ("XdpProgram", "XDP on interfaces, in a dispatcher slot"),
    ("TcProgram", "TC ingress or egress, in a dispatcher slot"),
    ("TracepointProgram", "kernel tracepoints"),
    ("KprobeProgram", "kprobe or kretprobe on a kernel function"),
    ("UprobeProgram", "uprobe or uretprobe in a binary or library"),
    ("FentryProgram", "fentry on a kernel function (BTF)"),
    ("FexitProgram", "fexit on a kernel function (BTF)"),
)


class ConfirmScreen(ModalScreen[bool]):
    """Ask a yes/no question; Enter or y says yes, Escape or n says no."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, *, yes: str = "Yes") -> None:
        super().__init__(classes="dialog")
        self.question = question
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Static(self.question, classes="dialog-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes} (y)", variant="error", id="yes")
                yield Button("Cancel (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class ErrorScreen(ModalScreen[None]):
    """An error with its whole message, scrollable; fatal ones quit on close."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter,q", "close", "Close"),
    ]

    def __init__(self, message: str, *, fatal: bool = False) -> None:
        super().__init__(classes="dialog")
        self.message = message
        self.fatal = fatal

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box error-box"):
            yield Label("Error", classes="dialog-title")
            with VerticalScroll(classes="dialog-scroll"):
                yield Static(Text(self.message), classes="dialog-text")
            close = "Quit" if self.fatal else "Close"
            yield Static(Text(f"enter: {close.lower()}", style="dim"))

    def action_close(self) -> None:
        if self.fatal:
            self.app.exit(return_code=1, message=self.message)
        else:
            self.dismiss()


class KindChooser(ModalScreen[str | None]):
    """Pick the kind of program to compose."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label("New program: which kind?", classes="dialog-title")
            options = [
                Option(_kind_prompt(kind, what), id=kind) for kind, what in KINDS
            ]
            yield OptionList(*options, id="kinds")

    def on_mount(self) -> None:
        self.query_one(OptionList).highlighted = 0

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


def _kind_prompt(kind: str, what: str) -> Text:
    return Text.assemble((f"{kind:<18}", "bold"), (what, "dim"))


class SaveScreen(ModalScreen[str | None]):
    """Ask for a file name to save to."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, default: str) -> None:
        super().__init__(classes="dialog")
        self.title_text = title
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(self.title_text, classes="dialog-title")
            yield Input(self.default, id="path")
            yield Static(Text("enter: save   escape: cancel", style="dim"))

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)


class HelpScreen(ModalScreen[None]):
    """The keys of the screen underneath, the global keys, and the legend."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "close", "Close", key_display="esc"),
    ]

    def __init__(self, under: Screen[Any]) -> None:
        super().__init__(classes="dialog")
        self.under = under

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box help-box"):
            yield Label("Keys", classes="dialog-title")
            with VerticalScroll(classes="dialog-scroll"):
                yield Static(self._keys_table())
                yield Static(_legend())
            yield Static(Text("escape: close", style="dim"))

    def _keys_table(self) -> Table:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for key, what in self.key_rows():
            table.add_row(key, what)
        return table

    def key_rows(self) -> list[tuple[str, str]]:
        """The keys of the screen underneath and of the app, then the global ones."""
        rows: dict[str, tuple[str, str]] = {}
        for key, active in self.under.active_bindings.items():
            binding = active.binding
            # The screen's and the app's own keys; widget navigation is generic.
            mine = active.node is self.under or active.node is self.app
            if mine and binding.description and binding.description not in rows:
                rows[binding.description] = (
                    binding.key_display or key,
                    binding.description,
                )
        return [*rows.values(), *_GLOBAL_KEYS]

    def action_close(self) -> None:
        self.dismiss()


_GLOBAL_KEYS = (
    ("1 2 3 4", "Programs, Interfaces, Tracepoints, Functions"),
    ("tab / shift+tab", "next / previous pane or field"),
    ("arrows pgup pgdn", "move in lists and tables; home/end: first/last"),
    ("enter", "open the highlighted row"),
    ("ctrl+p", "command palette: screens, actions, themes"),
)


def _legend() -> Text:
    text = Text("\nConditions\n", style="bold")
    for word in (
        "Loaded",
        "NotLoaded",
        "NotSelected",
        "MapOwnerNotFound",
        "Applying",
        "kernel",
    ):
        text.append_text(condition_text(word))
        text.append("\n")
    text.append("'kernel' is a program bpftui did not apply.", style="dim")
    return text
