"""Browsing attach points: tracepoints and kernel functions.

Both screens are a category list, an instant filter and a virtual row list.
Filtering runs in an exclusive thread worker, so a keystroke never waits
for the previous filter over tens of thousands of rows; only the newest
result is shown, and only the rows on screen are rendered.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from bpftui.core.errors import BpftuiError
from bpftui.core.session import FunctionView, Session, TracepointView
from bpftui.screens.base import NodeScreen
from bpftui.screens.widgets import Column, RowList, thousands

ALL = ""


class BrowseScreen(NodeScreen):
    """A category list, a filter and a row list; subclasses say what rows are."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_filter", "Filter", key_display="/"),
        Binding("escape", "leave_filter", "Clear filter", show=False),
    ]
    COLUMNS: ClassVar[Sequence[Column]] = ()
    NOUN: ClassVar[str] = "rows"

    class Matched(Message):
        """A filter finished: ``rows`` match ``query`` out of ``total``."""

        def __init__(self, query: str, rows: Sequence[Any], matched: int) -> None:
            self.query = query
            self.rows = rows
            self.matched = matched
            super().__init__()

    class Listed(Message):
        """The full list was read: its size and the count per category."""

        def __init__(self, total: int, categories: Counter[str]) -> None:
            self.total = total
            self.categories = categories
            super().__init__()

    class Described(Message):
        """The detail text of the highlighted row is ready."""

        def __init__(self, text: Text) -> None:
            self.text = text
            super().__init__()

    def __init__(self) -> None:
        super().__init__()
        self.category = ALL
        self.total = 0
        self.shown_query: str | None = None  # the query the list shows (tests)

    def compose_body(self) -> ComposeResult:
        with Horizontal(classes="browse"):
            yield OptionList(id="categories")
            with Vertical(classes="browse-main"):
                with Horizontal(classes="filter-row"):
                    yield Input(placeholder="/ filter", id="filter", compact=True)
                    yield Static("", id="count")
                yield RowList(self.COLUMNS, empty=f"no {self.NOUN} match", id="rows")
                yield Static("", id="detail")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(RowList).focus()

    def session_ready(self, session: Session) -> None:
        self._list(session)

    # -- loading and filtering (thread workers)

    @work(thread=True, exclusive=True, group="list", exit_on_error=False)
    def _list(self, session: Session) -> None:
        try:
            total, categories = self.read_all(session)
        except BpftuiError as err:
            self.app.call_from_thread(self.bpf_app.report_error, err)
            return
        self.post_message(self.Listed(total, categories))

    @work(thread=True, exclusive=True, group="filter", exit_on_error=False)
    def _filter(self, session: Session, query: str, category: str) -> None:
        rows, matched = self.matches(session, query, category)
        if not get_current_worker().is_cancelled:
            self.post_message(self.Matched(query, rows, matched))

    @work(thread=True, exclusive=True, group="detail", exit_on_error=False)
    def _describe(self, session: Session, row: Any) -> None:
        try:
            text = self.describe(session, row)
        except BpftuiError as err:
            text = Text(str(err), style="italic")
        if not get_current_worker().is_cancelled:
            self.post_message(self.Described(text))

    def refilter(self) -> None:
        """Run the filter again with the current query and category."""
        if self.session is not None:
            query = self.query_one("#filter", Input).value
            self._filter(self.session, query, self.category)

    # -- subclass hooks (run in thread workers)

    def read_all(self, session: Session) -> tuple[int, Counter[str]]:
        raise NotImplementedError

    def matches(
        self, session: Session, query: str, category: str
    ) -> tuple[Sequence[Any], int]:
        raise NotImplementedError

    def describe(self, session: Session, row: Any) -> Text:
        raise NotImplementedError

    # -- messages

    def on_browse_screen_listed(self, event: Listed) -> None:
        self.total = event.total
        options = [Option(f"All  {thousands(event.total)}", id="\0all")]
        for name, count in sorted(event.categories.items()):
            options.append(Option(f"{name}  {thousands(count)}", id=name))
        categories = self.query_one("#categories", OptionList)
        categories.set_options(options)
        categories.highlighted = 0
        self.refilter()

    def on_browse_screen_matched(self, event: Matched) -> None:
        self.query_one(RowList).set_rows(event.rows)
        count = f"{thousands(event.matched)} of {thousands(self.total)} "
        if len(event.rows) < event.matched:
            count += f"· {thousands(len(event.rows))} listed "
        # Fixed-size widgets: updating them needs no layout pass per keystroke.
        self.query_one("#count", Static).update(count, layout=False)
        self.shown_query = event.query
        if not event.rows:
            self.query_one("#detail", Static).update("", layout=False)

    def on_browse_screen_described(self, event: Described) -> None:
        self.query_one("#detail", Static).update(event.text, layout=False)

    @on(Input.Changed, "#filter")
    def _query_changed(self) -> None:
        self.refilter()

    @on(Input.Submitted, "#filter")
    def _query_submitted(self) -> None:
        self.query_one(RowList).focus()

    @on(OptionList.OptionHighlighted, "#categories")
    def _category_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        option_id = event.option.id or ""
        self.category = ALL if option_id == "\0all" else option_id
        self.refilter()

    @on(RowList.Highlighted)
    def _row_highlighted(self, event: RowList.Highlighted) -> None:
        if self.session is not None:
            self._describe(self.session, event.row)

    @on(RowList.Selected)
    def _row_selected(self, event: RowList.Selected) -> None:
        self.compose_for(event.row, "")

    def compose_for(self, row: Any, kind: str) -> None:
        """Open the compose form for a program attached to ``row``."""
        raise NotImplementedError

    # -- actions

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_leave_filter(self) -> None:
        """Escape drops the filter and goes back to the list (Enter keeps it)."""
        field = self.query_one("#filter", Input)
        if field.has_focus:
            field.value = ""
        self.query_one(RowList).focus()

    def action_compose_highlighted(self, kind: str) -> None:
        row = self.query_one(RowList).highlighted
        if row is None:
            self.notify("Nothing highlighted to attach to.", severity="warning")
            return
        self.compose_for(row, kind)


class TracepointsScreen(BrowseScreen):
    """Every tracepoint of the node, by category."""

    MODE = "tracepoints"
    NOUN = "tracepoints"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "compose_highlighted('TracepointProgram')", "Compose"),
    ]
    COLUMNS = (
        Column("CATEGORY", lambda t: t.category, 16, "dim"),
        Column("TRACEPOINT", lambda t: t.name),
    )

    def read_all(self, session: Session) -> tuple[int, Counter[str]]:
        points = session.discovery.tracepoints()
        return len(points), Counter(t.category for t in points)

    def matches(
        self, session: Session, query: str, category: str
    ) -> tuple[Sequence[TracepointView], int]:
        needle = query.strip().lower()
        found = [
            t
            for t in session.discovery.tracepoints()
            if (not category or t.category == category)
            and needle in t.full_name.lower()
        ]
        return found, len(found)

    def describe(self, session: Session, row: TracepointView) -> Text:
        fields = session.discovery.tracepoint_fields(row.category, row.name)
        text = Text.assemble((row.full_name, "bold"), "  attach: ")
        text.append("TracepointProgram", "bold")
        text.append(" (c or enter)\n", "dim")
        own = [f for f in fields if not f.name.startswith("common_")]
        text.append("  ".join(f"{f.type} {f.name}" for f in own) or "no own fields")
        return text

    def compose_for(self, row: TracepointView, kind: str) -> None:
        self.bpf_app.compose_program("TracepointProgram", {"names": row.full_name})


def _attach_flags(view: FunctionView) -> str:
    kprobe = {True: "kprobe", False: "-", None: "kprobe?"}[view.kprobe]
    fentry = "fentry fexit" if view.fentry else "-"
    return f"{fentry} {kprobe}"


class FunctionsScreen(BrowseScreen):
    """Every kernel function BTF knows, by module, with what can attach."""

    MODE = "functions"
    NOUN = "functions"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "compose_highlighted('FentryProgram')", "Fentry"),
        Binding("x", "compose_highlighted('FexitProgram')", "Fexit"),
        Binding("k", "compose_highlighted('KprobeProgram')", "Kprobe"),
        Binding("r", "compose_highlighted('kretprobe')", "Kretprobe"),
    ]
    COLUMNS = (
        Column("FUNCTION", lambda f: f.name, 30),
        Column("MODULE", lambda f: f.module, 12, "dim"),
        Column("ATTACH", _attach_flags),
    )

    # Views made per keystroke when all modules are shown: making a view
    # costs, the whole real list (56,198 here) takes 0.3 s, 1,000 take 20 ms.
    LIST_CAP = 500

    def __init__(self) -> None:
        super().__init__()
        self._by_module: dict[str, list[FunctionView]] | None = None

    def read_all(self, session: Session) -> tuple[int, Counter[str]]:
        catalog = session.discovery.functions()
        counts = getattr(catalog, "module_counts", None)
        if callable(counts):  # the real catalogue knows without making views
            return len(catalog), Counter(counts())
        views, total = catalog.filter("")
        return total, Counter(f.module for f in views)

    def matches(
        self, session: Session, query: str, category: str
    ) -> tuple[Sequence[FunctionView], int]:
        catalog = session.discovery.functions()
        if not category:
            # Names holding the query first, then those holding its
            # characters in order (``tcpv4c`` finds tcp_v4_connect).
            return catalog.filter(query, fuzzy=True, limit=self.LIST_CAP)
        needle = query.strip().lower()
        found = [f for f in self._module(catalog, category) if needle in f.name.lower()]
        return found, len(found)

    def _module(self, catalog: Any, module: str) -> list[FunctionView]:
        """One module's functions; every view is made once, on first use."""
        if self._by_module is None:
            by_module: dict[str, list[FunctionView]] = {}
            for view in catalog.filter("")[0]:
                by_module.setdefault(view.module, []).append(view)
            self._by_module = by_module
        return self._by_module.get(module, [])

    def describe(self, session: Session, row: FunctionView) -> Text:
        text = Text(row.prototype, style="bold")
        text.append(f"\nmodule {row.module}   ")
        text.append(_attach_words(row))
        text.append("\nf fentry  x fexit  k kprobe  r kretprobe", style="dim")
        return text

    def compose_for(self, row: FunctionView, kind: str) -> None:
        kind = kind or ("FentryProgram" if row.fentry else "KprobeProgram")
        preset = {"func_name": row.name}
        if kind == "kretprobe":
            kind, preset["retprobe"] = "KprobeProgram", "true"
        self.bpf_app.compose_program(kind, preset)


def _attach_words(view: FunctionView) -> Text:
    text = Text()
    for name, ok in (("fentry", view.fentry), ("fexit", view.fentry)):
        text.append(f"{name} {'yes' if ok else 'no'}  ", "green" if ok else "red")
    kprobe = {True: ("yes", "green"), False: ("no", "red"), None: ("unknown", "dim")}
    word, style = kprobe[view.kprobe]
    text.append(f"kprobe {word}", style)
    return text
