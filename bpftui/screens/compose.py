"""The compose form: one kind, every field, each problem beside its field.

Every edit goes through :func:`bpftui.core.compose.set_path` (text to the
field's type) and then :func:`bpftui.core.rules.check` (every rule of the
API), so the form enforces exactly what ``bpftui validate`` does. The YAML
that would be exported is shown live beside the form on wide terminals and
with ctrl+o everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from rich.syntax import Syntax
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.suggester import Suggester
from textual.widget import Widget
from textual.widgets import Input, Label, Select, Static

from bpftui.core import api, compose, rules, yaml_io
from bpftui.core.errors import BpftuiError, InputError
from bpftui.core.rules import Problem
from bpftui.core.session import Session
from bpftui.screens import forms
from bpftui.screens.base import NodeScreen
from bpftui.screens.forms import FormField, PrefixSuggester

WIDE = 130  # columns from which the YAML preview sits beside the form
# Empty objects that must stay when their last field is cleared.
_KEEP_EMPTY = frozenset({"spec.nodeselector"})


class FieldRow(Horizontal):
    """A label, an editor and the field's problems, on one line."""

    def __init__(
        self, field: FormField, value: str, suggester: Suggester | None
    ) -> None:
        classes = "field required" if field.required else "field"
        super().__init__(classes=classes)
        self.field = field
        self.value = value
        self.suggester = suggester
        self._shown: tuple[tuple[str, ...], bool] = ((), False)

    def compose(self) -> ComposeResult:
        yield Label(self.field.label, classes="field-label")
        yield self._editor()
        yield Static("", classes="field-problem")

    def _editor(self) -> Widget:
        field = self.field
        tooltip = field.spec.description or None
        if field.choices:
            options = [(c, c) for c in field.choices]
            value = self.value if self.value in field.choices else Select.NULL
            return Select(
                options,
                value=value,
                prompt="(unset)",
                compact=True,
                id=field.widget_id,
                classes="field-input",
                tooltip=tooltip,
            )
        return Input(
            self.value,
            placeholder=field.placeholder,
            compact=True,
            suggester=self.suggester,
            id=field.widget_id,
            classes="field-input",
            tooltip=tooltip,
        )

    def show_problems(self, messages: Sequence[str], *, warning: bool = False) -> None:
        # Called for every row on every keystroke: touch only what changed,
        # since each update costs a layout pass of the whole form.
        shown = (tuple(messages), warning)
        if shown == self._shown:
            return
        self._shown = shown
        problem = self.query_one(".field-problem", Static)
        problem.update("; ".join(messages))
        problem.set_class(warning, "warning")
        self.set_class(bool(messages), "has-problem")


def apply_text(doc: dict[str, Any], path: str, text: str) -> tuple[dict[str, Any], str]:
    """``doc`` with ``path`` set from ``text`` (unset when empty).

    Returns:
        The new tree, and why the text could not be read ("" when it could).
    """
    if text.strip():
        try:
            return compose.set_path(doc, path, text), ""
        except InputError as err:
            why = err.message.split(": ", 1)[-1]
            return _prune(compose.unset_path(doc, path), path), why
    return _prune(compose.unset_path(doc, path), path), ""


def _prune(doc: dict[str, Any], path: str) -> dict[str, Any]:
    """Drop objects left empty by an unset, so rules see them as absent."""
    parts = path.split(".")
    for depth in range(len(parts) - 1, 1, -1):
        parent = doc
        for part in parts[: depth - 1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        key = parts[depth - 1]
        if (
            isinstance(parent, dict)
            and parent.get(key) == {}
            and ".".join(parts[:depth]) not in _KEEP_EMPTY
        ):
            del parent[key]
    return doc


class ComposeScreen(NodeScreen):
    """A form for one kind of program, validated as the user types."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "export", "Save YAML"),
        Binding("ctrl+y", "copy", "Copy"),
        Binding("ctrl+r", "apply", "Apply"),
        Binding("ctrl+o", "preview", "Preview"),
        Binding("escape", "leave", "Back"),
    ]

    class NodeRead(Message):
        """The node's interfaces, tracepoints and functions were read."""

        def __init__(self, facts: forms.NodeFacts) -> None:
            self.facts = facts
            super().__init__()

    class Saved(Message):
        """The composed object was written to ``path``."""

        def __init__(self, path: str) -> None:
            self.path = path
            super().__init__()

    class SaveFailed(Message):
        """Writing the composed object to a file failed."""

        def __init__(self, error: BpftuiError) -> None:
            self.error = error
            super().__init__()

    def __init__(self, kind: str, preset: dict[str, str] | None = None) -> None:
        super().__init__()
        self.kind = api.resolve_kind(kind)
        self.fields = forms.form_fields(self.kind)
        self.unreadable: dict[str, str] = {}  # path -> why its text is not readable
        self.problems: list[Problem] = []
        self.modified = False
        self.doc = compose.new_doc(
            self.kind, forms.default_name(self.kind, preset or {})
        )
        for path, text in (preset or {}).items():
            self.doc, _ = apply_text(self.doc, path, text)
        self._status = Text()
        self.facts = forms.NodeFacts()

    def screen_title(self) -> str:
        return f"Compose · {self.kind}"

    # -- layout

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="compose-body"):
            with VerticalScroll(id="form"):
                yield from self._form()
            with VerticalScroll(id="live-preview"):
                yield Static("", id="live-yaml")
        yield Static("", id="field-help", classes="summary")
        yield Static("", id="form-problems")

    def _form(self) -> ComposeResult:
        section = ""
        for field in self.fields:
            if field.section != section:
                section = field.section
                yield Static(section, classes="form-section")
            text = compose.get_text(self.doc, field.path)
            yield FieldRow(field, text, self._suggester(field))

    def _suggester(self, field: FormField) -> Suggester | None:
        short = field.spec.short_path
        if field.spec.type == "array" and field.spec.enum:
            return PrefixSuggester(forms.from_list(field.spec.enum), is_list=True)
        if short in ("bytecode.path", "target"):
            return PrefixSuggester(
                forms.file_paths if short != "target" else self._targets
            )
        known = (
            "interfaceselector.interfaces",
            "names",
            "func_name",
            "pid",
            "bpffunctionname",
        )
        if short in known:
            return PrefixSuggester(
                lambda word: self._candidates(short, word),
                is_list=field.spec.type == "array",
            )
        return None

    def on_mount(self) -> None:
        super().on_mount()
        self.revalidate()
        self._focus_first()

    def session_ready(self, session: Session) -> None:
        self._read_facts(session)

    @work(thread=True, exit_on_error=False)
    def _read_facts(self, session: Session) -> None:
        self.post_message(self.NodeRead(forms.read_facts(session.discovery)))

    def on_compose_screen_node_read(self, event: NodeRead) -> None:
        self.facts = event.facts
        self.revalidate()

    def _focus_first(self) -> None:
        rows = list(self.query(FieldRow))
        start = next((r for r in rows if r.has_class("has-problem")), rows[0])
        start.query_one(".field-input").focus()

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width >= WIDE, "wide")
        self._show_preview()

    # -- completions (called from worker threads by the suggesters)

    def _candidates(self, short: str, word: str) -> Sequence[str]:
        session = self.session
        if session is None:
            return ()
        # Interfaces and tracepoints come from what was read at mount.
        if short == "interfaceselector.interfaces":
            return sorted(self.facts.interfaces)
        if short == "names":
            return sorted(self.facts.tracepoints)
        if short == "pid":
            return [str(p.pid) for p in session.discovery.processes()]
        if short == "bpffunctionname":
            return forms.elf_programs(compose.get_text(self.doc, "bytecode.path"))
        return self._functions(session, word)

    def _functions(self, session: Session, word: str) -> Sequence[str]:
        if self.kind == "UprobeProgram":
            target = compose.get_text(self.doc, "target")
            return [s.name for s in session.discovery.symbols(target)] if target else ()
        views, _ = session.discovery.functions().filter(word, limit=200)
        return sorted(v.name for v in views)

    def _targets(self, word: str) -> Sequence[str]:
        if word.startswith("/"):
            return list(forms.file_paths(word))
        return [lib for lib in ("libc", "libssl") if lib.startswith(word)]

    # -- editing

    @on(Input.Changed, ".field-input")
    def _input_changed(self, event: Input.Changed) -> None:
        self.edit(self._field_of(event.input), event.value)

    @on(Select.Changed, ".field-input")
    def _select_changed(self, event: Select.Changed) -> None:
        value = "" if event.value is Select.NULL else str(event.value)
        self.edit(self._field_of(event.select), value)

    def _field_of(self, editor: Widget) -> FormField:
        row = editor.parent
        assert isinstance(row, FieldRow)
        return row.field

    def edit(self, field: FormField, text: str) -> None:
        """Set one field from its text and check the whole object again."""
        before = self.doc
        self.doc, why = apply_text(self.doc, field.path, text)
        self.unreadable.pop(field.path, None)
        if why:
            self.unreadable[field.path] = why
        self.modified = self.modified or self.doc != before
        self.revalidate()

    def revalidate(self) -> None:
        """Run every rule and show each problem beside its field."""
        self.problems = rules.check(self.doc)
        beside, general = forms.place_problems(self.problems, self.fields)
        warnings = forms.node_warnings(self.kind, self.doc, self.facts)
        for row in self.query(FieldRow):
            self._show_row(row, beside.get(row.field.path, []), warnings)
        self._show_status(general)
        self._show_preview()

    def _show_row(
        self, row: FieldRow, problems: list[Problem], warnings: dict[str, str]
    ) -> None:
        path = row.field.path
        messages = [self.unreadable[path]] if path in self.unreadable else []
        messages += [p.message for p in problems]
        messages += [warnings[path]] if path in warnings else []
        warning = not (path in self.unreadable or any(p.is_error for p in problems))
        row.show_problems(messages, warning=warning)

    def _show_status(self, general: list[Problem]) -> None:
        text = self._status_text(general)
        if text != self._status:
            self._status = text
            self.query_one("#form-problems", Static).update(text)

    def _status_text(self, general: list[Problem]) -> Text:
        blocking = self.blocking()
        if not blocking:
            return Text("✓ valid: ctrl+s saves, ctrl+r applies", style="bold green")
        text = Text(
            f"✖ {len(blocking)} problem{'s' if len(blocking) > 1 else ''}",
            style="bold red",
        )
        text.append(": " + "; ".join(f"{p}: {m}" for p, m in blocking[:2]))
        for problem in general:
            text.append(f"\n{problem.path or problem.subject}: {problem.message}")
        return text

    def blocking(self) -> list[tuple[str, str]]:
        """Field path and message of everything that makes the object invalid."""
        found = [(p, why) for p, why in self.unreadable.items()]
        found += [(p.path, p.message) for p in self.problems if p.is_error]
        return found

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        row = event.widget.parent
        if isinstance(row, FieldRow):
            spec = row.field.spec
            help_ = f"{spec.short_path}: {spec.description or spec.type}"
            self.query_one("#field-help", Static).update(help_)

    # -- output

    def yaml_text(self) -> str:
        """The object as it would be exported (normalised when valid)."""
        if not self.blocking():
            try:
                return yaml_io.dump_yaml([api.from_dict(self.doc)])
            except BpftuiError:
                pass
        return yaml_io.dump_yaml([self.doc])

    def _show_preview(self) -> None:
        if self.has_class("wide"):
            syntax = Syntax(
                self.yaml_text(), "yaml", theme="ansi_dark", background_color="default"
            )
            self.query_one("#live-yaml", Static).update(syntax)

    def refuse_if_invalid(self, action: str) -> bool:
        """Say which fields block ``action``; True when it must not go on."""
        blocking = self.blocking()
        if not blocking:
            return False
        names = ", ".join(dict.fromkeys(p for p, _ in blocking))
        first = f"{blocking[0][0]}: {blocking[0][1]}"
        self.notify(
            f"{action} is blocked: fix {names}.\n{first}",
            title=f"{self.kind} is not valid",
            severity="error",
            timeout=8,
        )
        self._focus_path(blocking[0][0])
        return True

    def _focus_path(self, path: str) -> None:
        target = forms.field_for_problem(path, self.fields)
        if target is not None:
            self.query_one(f"#{target.widget_id}").focus()

    def action_export(self) -> None:
        from bpftui.screens.dialogs import SaveScreen

        if self.refuse_if_invalid("Export"):
            return
        name = compose.get_text(self.doc, "metadata.name") or "program"
        self.app.push_screen(SaveScreen("Save YAML to", f"{name}.yaml"), self._save)

    def _save(self, path: str | None) -> None:
        if path:
            self._write(Path(path).expanduser(), self.yaml_text())

    @work(thread=True, exit_on_error=False)
    def _write(self, path: Path, text: str) -> None:
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as err:
            reason = err.strerror or str(err)
            self.post_message(
                self.SaveFailed(InputError(f"{path}: cannot write: {reason}"))
            )
            return
        self.post_message(self.Saved(str(path.resolve())))

    def on_compose_screen_saved(self, event: Saved) -> None:
        self.modified = False
        self.notify(f"Saved to {event.path}", title="Exported")

    def on_compose_screen_save_failed(self, event: SaveFailed) -> None:
        self.bpf_app.report_error(event.error)

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.yaml_text())
        problems = len(self.blocking())
        note = f" (it still has {problems} problems)" if problems else ""
        self.notify(
            f"YAML copied to the clipboard{note}.",
            severity="warning" if problems else "information",
        )

    def action_apply(self) -> None:
        if self.refuse_if_invalid("Apply"):
            return
        obj = api.from_dict(self.doc)
        self.bpf_app.apply_objects([obj], f"{self.kind}/{obj.metadata.name}")
        self.modified = False

    def action_preview(self) -> None:
        from bpftui.screens.preview import PreviewScreen

        self.app.push_screen(PreviewScreen(self))

    def action_leave(self) -> None:
        from bpftui.screens.dialogs import ConfirmScreen

        if not self.modified:
            self.dismiss()
            return
        question = f"Leave this {self.kind}? What is not saved is lost."
        self.app.push_screen(
            ConfirmScreen(question, yes="Leave"),
            lambda yes: self.dismiss() if yes else None,
        )
