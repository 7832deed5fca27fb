"""Widgets shared by several screens: a virtual row list and condition badges."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

# ---------------------------------------------------------------- conditions

# Each condition is a symbol, a word and a colour: the word alone must be
# enough (NO_COLOR, colour-blind users), the colour only speeds reading.
_CONDITION_LOOK: dict[str, tuple[str, str]] = {
    "Loaded": ("●", "success"),
    "ReconcileSuccess": ("●", "success"),
    "NotLoaded": ("✖", "error"),
    "NotUnLoaded": ("✖", "error"),
    "ReconcileError": ("✖", "error"),
    "DeleteError": ("✖", "error"),
    "BytecodeSelectorError": ("✖", "error"),
    "MapOwnerNotFound": ("▲", "warning"),
    "MapOwnerNotLoaded": ("▲", "warning"),
    "NotYetLoaded": ("…", "warning"),
    "Applying": ("…", "warning"),
    "Deleting": ("…", "warning"),
    "NotSelected": ("○", "muted"),
    "NoContainersOnNode": ("○", "muted"),
    "Unloaded": ("○", "muted"),
    "kernel": ("·", "accent"),
}


def condition_text(condition: str, theme: Any = None) -> Text:
    """The condition as symbol and word, coloured from the theme when given."""
    symbol, role = _CONDITION_LOOK.get(condition, ("?", "muted"))
    return Text(f"{symbol} {condition}", style=_role_style(role, theme))


def _role_style(role: str, theme: Any) -> str:
    if role == "muted":
        return "dim"
    colour = getattr(theme, role, None) if theme is not None else None
    fallback = {"success": "green", "error": "red", "warning": "yellow"}
    return f"bold {colour or fallback.get(role, 'cyan')}"


def thousands(value: int) -> str:
    """``56198`` -> ``56,198``: counts read faster grouped."""
    return f"{value:,}"


# ---------------------------------------------------------------- row list


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a :class:`RowList`; ``width`` None takes what is left."""

    title: str
    cell: Callable[[Any], str]
    width: int | None = None
    style: str = ""


class RowList(ScrollView, can_focus=True):
    """A list of rows rendered on demand, for tens of thousands of rows.

    Only the lines on screen are rendered, so replacing the rows after a
    filter costs the same for 50 rows as for 50,000. The first line is a
    header that stays put while the rows scroll.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
        Binding("enter", "select", "Select", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "rowlist--cursor",
        "rowlist--header",
        "rowlist--empty",
    }
    DEFAULT_CSS = """
    RowList { overflow-x: hidden; }
    RowList > .rowlist--header { text-style: bold; background: $panel; }
    RowList > .rowlist--cursor { background: $block-cursor-blurred-background; }
    RowList:focus > .rowlist--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
        text-style: bold;
    }
    RowList > .rowlist--empty { color: $text-muted; text-style: italic; }
    """

    cursor: reactive[int] = reactive(0, always_update=True)

    class Highlighted(Message):
        """The cursor moved onto a row."""

        def __init__(self, rows: RowList, row: Any) -> None:
            self.rows = rows
            self.row = row
            super().__init__()

    class Selected(Message):
        """Enter was pressed on a row."""

        def __init__(self, rows: RowList, row: Any) -> None:
            self.rows = rows
            self.row = row
            super().__init__()

    def __init__(
        self,
        columns: Sequence[Column],
        *,
        empty: str = "nothing to show",
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.columns = tuple(columns)
        self.empty = empty
        self._rows: Sequence[Any] = ()

    @property
    def rows(self) -> Sequence[Any]:
        return self._rows

    @property
    def highlighted(self) -> Any | None:
        """The row under the cursor, if any."""
        return self._rows[self.cursor] if self._rows else None

    def set_rows(self, rows: Sequence[Any]) -> None:
        """Replace every row and put the cursor on the first."""
        self._rows = rows
        self.virtual_size = Size(self.size.width, len(rows) + 1)
        self.scroll_to(y=0, animate=False, immediate=True)
        self.cursor = 0
        self.refresh()

    # -- keys

    def action_cursor(self, delta: int) -> None:
        self.cursor = max(0, min(len(self._rows) - 1, self.cursor + delta))

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * max(1, self._page_height))

    def action_jump(self, index: int) -> None:
        self.cursor = max(0, len(self._rows) - 1) if index < 0 else index

    def action_select(self) -> None:
        if self._rows:
            self.post_message(self.Selected(self, self.highlighted))

    def on_click(self, event: events.Click) -> None:
        index = int(self.scroll_offset.y) + event.y - 1
        if event.y >= 1 and 0 <= index < len(self._rows):
            self.cursor = index

    def watch_cursor(self, old: int, new: int) -> None:
        self._scroll_cursor_into_view()
        self.refresh()
        if self._rows:
            self.post_message(self.Highlighted(self, self._rows[new]))

    # -- rendering

    @property
    def _page_height(self) -> int:
        return self.scrollable_content_region.height - 1

    def _scroll_cursor_into_view(self) -> None:
        top = int(self.scroll_offset.y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + self._page_height:
            y = self.cursor - self._page_height + 1
            self.scroll_to(y=y, animate=False, immediate=True)

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self._rows) + 1)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if y == 0:
            style = self.get_component_rich_style("rowlist--header")
            return self._strip([c.title for c in self.columns], style, width)
        index = int(self.scroll_offset.y) + y - 1
        if not self._rows:
            return self._empty_line(y, width)
        if index >= len(self._rows):
            return Strip.blank(width, self.rich_style)
        return self._row_strip(index, width)

    def _empty_line(self, y: int, width: int) -> Strip:
        if y != 1:
            return Strip.blank(width, self.rich_style)
        style = self.get_component_rich_style("rowlist--empty")
        return Strip([Segment(f" {self.empty}".ljust(width)[:width], style)])

    def _row_strip(self, index: int, width: int) -> Strip:
        row = self._rows[index]
        base = self.rich_style
        if index == self.cursor:
            base = base + self.get_component_rich_style("rowlist--cursor")
        cells = [column.cell(row) for column in self.columns]
        return self._strip(cells, base, width, styled=index != self.cursor)

    def _strip(
        self, cells: Sequence[str], base: Style, width: int, *, styled: bool = False
    ) -> Strip:
        segments, used = [], 0
        for column, text in zip(self.columns, cells, strict=True):
            cell_width = column.width or max(0, width - used - 1)
            cell = " " + _fit(text, cell_width)
            style = (
                base + Style.parse(column.style) if styled and column.style else base
            )
            segments.append(Segment(cell, style))
            used += len(cell)
        if used < width:
            segments.append(Segment(" " * (width - used), base))
        return Strip(segments).crop(0, width)


def _fit(text: str, width: int) -> str:
    if len(text) > width:
        return text[: max(0, width - 1)] + "…"
    return text.ljust(width)
