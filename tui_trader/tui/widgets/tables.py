"""A keyed, row-cursor table that is given the rows it should show and draws only what
changed: the dashboard's one table widget.

Why not Textual's DataTable: it renders every visible cell through Rich on each repaint
(about 0.3 ms a cell), so a 1,000-row scanner with live prices spent a third of a core
redrawing and a keypress could wait 300 ms behind a repaint. This table is a Line API
widget (``ScrollView``) that keeps each row it drew lately as one pre-rendered strip:

- :meth:`DiffTable.sync` takes the full desired rows (keyed, in display order). A row whose
  cell tuple is the very object given last time is skipped without a look; otherwise only
  cells that differ count as changed (:attr:`cells_updated`) and only that row's strip is
  rebuilt and its screen line repainted.
- A repaint of a line is a crop of the cached strip (plus the cursor style for the cursor
  row), so scrolling and cursor moves cost microseconds per line, whatever the row count.
- Columns are as wide as their widest cell (or label): they grow at once when a value gets
  wider, and shrink back when rows are removed.
- The cursor stays on the same row *key* whatever the order does, so a trader's selection
  never jumps to another symbol under his fingers; a row hidden (a filter) hands the cursor
  to its nearest neighbour and takes it back when shown again; :class:`DiffTable.RowHighlighted` is
  posted whenever the highlighted key changes (a move, or a sync that changed the row under
  the cursor).
- The table binds only movement keys (up/down, page up/down, home/end, left/right scroll
  a whole column).
  ``enter`` and every action key belong to the screens, so remapping a screen's binding in
  ``[ui] keys`` really moves it.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import ClassVar, Literal

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

Justify = Literal["left", "right", "center"]
#: A cell's width in terminal cells (``Text.cell_len``, called from C by ``map``).
_width = operator.attrgetter("cell_len")

#: Spaces on each side of a cell (Textual's DataTable default, so columns look the same).
CELL_PADDING = 1
_HEADER = "\x00header"


def same_cell(a: Text, b: Text) -> bool:
    """Equal text, style and justification (Rich's ``Text.__eq__`` ignores the base style)."""
    return (
        a.plain == b.plain and a.style == b.style and a.justify == b.justify and a.spans == b.spans
    )


class DiffTable(ScrollView, can_focus=True):
    """Row-cursor table fed whole snapshots through :meth:`sync`; ``columns`` are
    ``(key, label, justify)``; ``cursor`` False makes a read-only table (no cursor, not
    focusable); ``mirror`` True with it keeps the cursor bar drawn on a table that takes
    no focus, for a table that follows another's cursor (the Positions risk table: the
    trader must see which risk row belongs to the selected spread, issue 13)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"diff-table--header", "diff-table--cursor"}

    DEFAULT_CSS = """
    DiffTable {
        background: $surface;
        color: $foreground;
        height: 1fr;
        scrollbar-size-vertical: 1;
        & > .diff-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .diff-table--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .diff-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus {
            background-tint: $foreground 5%;
            & > .diff-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .diff-table--header {
                background-tint: $foreground 5%;
            }
        }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Cursor up", show=False),
        Binding("down", "cursor(1)", "Cursor down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "first", "First row", show=False),
        Binding("end", "last", "Last row", show=False),
        Binding("left", "column(-1)", "Scroll a column left", show=False),
        Binding("right", "column(1)", "Scroll a column right", show=False),
    ]

    class RowHighlighted(Message):
        """The highlighted row's key changed (``key`` None: the table is empty)."""

        def __init__(self, table: DiffTable, key: str | None) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> DiffTable:
            return self.table

    def __init__(
        self,
        columns: Sequence[tuple[str, str, Justify]],
        *,
        id: str | None = None,
        cursor: bool = True,
        mirror: bool = False,
    ) -> None:
        super().__init__(id=id)
        self.can_focus = cursor
        self.show_cursor = cursor or mirror
        self._column_keys = [key for key, _, _ in columns]
        self._column_index = {key: i for i, key in enumerate(self._column_keys)}
        self._labels = tuple(Text(label, justify=justify) for _, label, justify in columns)
        self._justify = tuple(justify for _, _, justify in columns)
        self._widths = [cell_len(label) for _, label, _ in columns]
        self._cells: dict[str, tuple[Text, ...]] = {}
        #: Each row's cell widths, kept with its cells: a row count change (a filter
        #: letter) measures the columns from these, not 11,000 ``cell_len`` calls.
        self._row_widths: dict[str, tuple[int, ...]] = {}
        #: The cell sequence each row was last synced from (identity skip, see sync).
        self._given: dict[str, Sequence[Text]] = {}
        self._order: list[str] = []
        self._index: dict[str, int] = {}
        #: Finished lines by (row key, is the cursor row), for rows drawn lately: bounded
        #: (see _remember) so a trader paging through 1,000 rows does not keep 1,000 strips
        #: alive for the garbage collector to walk.
        self._lines: dict[tuple[str, bool], Strip] = {}
        self._line_styles: tuple[Style, Style, Style] | None = None
        self._announced: str | None = None
        #: The key the cursor was last put on (a key, a click, select_key): see sync.
        self._chosen: str | None = None
        self.cursor_row = 0
        #: Counters for tests and benchmarks: cells updated in place, row reorders.
        self.cells_updated = 0
        self.reorders = 0

    # -- what the table holds -------------------------------------------------------

    @property
    def keys(self) -> list[str]:
        """Row keys in the order the table shows them."""
        return list(self._order)

    @property
    def row_count(self) -> int:
        return len(self._order)

    @property
    def highlighted_key(self) -> str | None:
        """The key of the row under the cursor (None for an empty table)."""
        if not self._order:
            return None
        return self._order[min(self.cursor_row, len(self._order) - 1)]

    def cells(self, key: str) -> tuple[Text, ...]:
        """The cells last synced for a row (KeyError when absent)."""
        return self._cells[key]

    def get_cell(self, key: str, column: str) -> Text:
        """One cell by row key and column key (KeyError when either is absent)."""
        return self._cells[key][self._column_index[column]]

    def get_row_index(self, key: str) -> int:
        return self._index[key]

    # -- sync -----------------------------------------------------------------------

    def sync(self, rows: Sequence[tuple[str, Sequence[Text]]]) -> None:
        """Make the table show exactly ``rows`` (key, cells) in this order.

        A row whose cell sequence is the very object passed last time is taken as
        unchanged: callers must not mutate a sequence after handing it over (tuples).
        """
        keys = [key for key, _ in rows]
        structural = keys != self._order
        if structural and len(set(keys)) != len(keys):  # same order as last time: unique
            raise ValueError("DiffTable.sync: row keys must be unique")
        old_cells, given = self._cells, self._given
        # Only rows not handed over unchanged need a look (checked before anything changes).
        todo = [(k, c) for k, c in rows if given.get(k) is not c or k not in old_cells]
        width = len(self._column_keys)
        for key, cells in todo:
            if len(cells) != width:
                raise ValueError(f"row {key!r} has {len(cells)} cells, the table {width} columns")
        cursor_key, before = self.highlighted_key, self._order
        wanted = set(keys) if structural else None
        removed = [k for k in self._order if k not in wanted] if wanted is not None else []
        row_widths = self._row_widths
        for key in removed:
            del old_cells[key]
            del row_widths[key]
            given.pop(key, None)
            self._forget_lines(key)
        changed: list[str] = []
        widths = self._widths
        resized = False
        for key, cells in todo:
            old = old_cells.get(key)
            given[key] = cells
            if old is None:
                new = tuple(cells)
                measured = tuple(map(_width, new))
            else:
                new, differs = self._merge(old, cells)
                if not differs:
                    continue
                changed.append(key)
                grown = list(row_widths[key])  # only a cell that changed is measured again
                for i in differs:
                    grown[i] = new[i].cell_len
                measured = tuple(grown)
            old_cells[key] = new
            row_widths[key] = measured
            self._forget_lines(key)
            if any(map(operator.gt, measured, widths)):  # a column grows
                self._widths = widths = list(map(max, widths, measured))
                resized = True
        if wanted is not None:
            kept = [k for k in self._order if k in wanted]
            kept.extend(k for k in keys if k not in self._index)
            if kept != keys:  # not just rows removed or appended: the order changed
                self.reorders += 1
            self._order = keys
            self._index = {key: i for i, key in enumerate(keys)}
        if removed:
            resized = self._measure() or resized
        if resized:
            self._lines.clear()
        size = Size(self._total_width(), len(keys) + 1)
        if size != self.virtual_size:  # setting it, even unchanged, repaints the whole table
            self._set_virtual_size(size)
        self._keep_cursor(cursor_key, before)
        if structural or resized:
            self.refresh()
        elif changed:
            top, height = round(self.scroll_y), self.size.height
            for key in changed:  # repaint the changed rows that are on screen
                y = self._index[key] + 1 - top
                if 1 <= y < height:
                    self.refresh_lines(self._index[key] + 1)
        self._announce()

    def _set_virtual_size(self, size: Size) -> None:
        """A new row count or width without a layout pass of the whole screen.

        ``virtual_size`` is a layout reactive: setting it makes Textual arrange and paint
        every widget of the screen again (~20 ms with a 1,000-row Scanner), which every
        filter letter paid. Nothing outside this widget depends on it: its region comes
        from CSS, and its scrollbars are its own. So the value is set without the
        reactive's side effect, the scrollbars are updated the way Textual's own size
        update does (``Widget._scroll_update``, Textual pinned in pyproject.toml), and only
        this widget is repainted. A scrollbar that appears or goes away is a layout
        change, and Textual's ``show_*_scrollbar`` reactives still ask for one."""
        self.set_reactive(DiffTable.virtual_size, size)
        if self.is_mounted and self.container_size:
            self._scroll_update(size)
        self.refresh()

    def _merge(
        self, old: tuple[Text, ...], cells: Sequence[Text]
    ) -> tuple[tuple[Text, ...], list[int]]:
        """The new cells (the caller's own tuple, so a caller's row cache and the table
        share one set of Text objects for the garbage collector to walk) and the indices
        of those that differ; ``old`` itself and none when every cell is equal, so the
        row is not redrawn. (An equal cell that is another object keeps its width.)"""
        differs = [
            i
            for i, (a, b) in enumerate(zip(old, cells, strict=True))
            if a is not b and not same_cell(a, b)
        ]
        if not differs:
            return old, differs
        self.cells_updated += len(differs)
        return (cells if isinstance(cells, tuple) else tuple(cells)), differs

    def _measure(self) -> bool:
        """Column widths from scratch (after rows went away); True when any changed."""
        widths = [label.cell_len for label in self._labels]
        if self._row_widths:
            widest = map(max, zip(*self._row_widths.values(), strict=True))
            widths = [max(a, b) for a, b in zip(widths, widest, strict=True)]
        if widths == self._widths:
            return False
        self._widths = widths
        return True

    def _total_width(self) -> int:
        return sum(self._widths) + 2 * CELL_PADDING * len(self._widths)

    def _forget_lines(self, key: str) -> None:
        self._lines.pop((key, False), None)
        self._lines.pop((key, True), None)

    # -- cursor ---------------------------------------------------------------------

    def move_cursor(self, *, row: int, animate: bool = False) -> None:
        """Put the cursor on ``row`` (clamped to the table) and scroll it into view."""
        del animate  # the table never animates: a trader's cursor must be where he looks
        last = len(self._order) - 1
        row = max(0, min(row, last)) if last >= 0 else 0
        if row != self.cursor_row:
            self._refresh_row(self.cursor_row)
            self.cursor_row = row
            self._refresh_row(row)
        self._chosen = self.highlighted_key
        self._scroll_to_cursor()
        self._announce()

    def select_key(self, key: str) -> bool:
        """Put the cursor on ``key``'s row; False when there is no such row."""
        index = self._index.get(key)
        if index is None:
            return False
        self.move_cursor(row=index)
        return True

    def _keep_cursor(self, cursor_key: str | None, before: Sequence[str]) -> None:
        """After a sync, the cursor follows its key, never its row index (issue 13: a new
        order on top moved ``c`` to another order; a filter left the cursor on whatever
        sat at the old position): the row the trader last chose (:meth:`move_cursor`)
        when it is shown, else the row the cursor was on, else the nearest row that was
        shown after it (``before``: the previous order), else the nearest before it, else
        the first. The chosen row is remembered while hidden, so clearing a filter brings
        the cursor back to it."""
        index = self._index.get(self._chosen) if self._chosen is not None else None
        if index is None and cursor_key is not None:
            index = self._index.get(cursor_key)
            if index is None:
                index = self._nearest(cursor_key, before)
        if index is None:
            index = 0
        if index != self.cursor_row:
            self.cursor_row = index
            self._scroll_to_cursor()

    def _nearest(self, gone: str, before: Sequence[str]) -> int | None:
        """The index of the first row shown after ``gone`` in ``before`` that is still
        shown, else of the last one before it; None when none is left (or ``gone`` was
        not shown). Only runs when the cursor's row went away."""
        try:
            at = before.index(gone)
        except ValueError:
            return None
        index = self._index
        for key in before[at + 1 :]:
            if key in index:
                return index[key]
        for key in reversed(before[:at]):
            if key in index:
                return index[key]
        return None

    def _scroll_to_cursor(self) -> None:
        body = self.scrollable_content_region.height - 1  # lines under the header
        if body <= 0:
            return
        top = round(self.scroll_y)
        row = self.cursor_row
        target = row if row < top else row - body + 1 if row >= top + body else None
        if target is not None:  # force: the scrollbars may not be laid out for new rows yet
            self.scroll_to(y=target, animate=False, force=True, immediate=True)

    def _announce(self) -> None:
        key = self.highlighted_key
        if key != self._announced:
            self._announced = key
            self.post_message(self.RowHighlighted(self, key))

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 2)

    def action_cursor(self, step: int) -> None:
        self.move_cursor(row=self.cursor_row + step)

    def action_page(self, direction: int) -> None:
        self.move_cursor(row=self.cursor_row + direction * self._page())

    def action_column(self, direction: int) -> None:
        """Scroll a whole column (issue 13: one character a press took forty presses to
        read the Orders' last column): right brings the next column's left edge to the
        window's left edge, or the table's right end; left the previous column's edge."""
        edges, x = [], 0
        for width in self._widths:
            edges.append(x)
            x += width + 2 * CELL_PADDING
        now = round(self.scroll_x)
        if direction > 0:
            target = next((e for e in edges if e > now), self.max_scroll_x)
        else:
            target = max((e for e in edges if e < now), default=0)
        self.scroll_to(x=min(target, self.max_scroll_x), animate=False)

    def action_first(self) -> None:
        self.move_cursor(row=0)

    def action_last(self) -> None:
        self.move_cursor(row=len(self._order) - 1)

    def on_click(self, event: events.Click) -> None:
        """Put the cursor on the clicked row; a click on the header, a border or the
        padding does nothing (``event.y`` counts from the border: the risk table has one)."""
        offset = event.get_content_offset(self)
        if not self.show_cursor or offset is None or offset.y < 1:
            return
        self.move_cursor(row=round(self.scroll_y) + offset.y - 1)

    # -- drawing --------------------------------------------------------------------

    def _refresh_row(self, index: int) -> None:
        """Repaint one row's screen line, when it is on screen."""
        y = index + 1 - round(self.scroll_y)
        if 1 <= y < self.size.height:
            self.refresh_lines(index + 1)

    def _remember(self, key: tuple[str, bool], line: Strip) -> None:
        """Cache a finished line; past a few screens' worth, start again (a repaint of
        the visible rows costs a few ms, once)."""
        if len(self._lines) >= max(256, 4 * self.size.height):
            self._lines.clear()
        self._lines[key] = line

    def _render_cells(self, cells: Sequence[Text], style: Style) -> Strip:
        """One row at the current column widths, padded and truncated; ``style`` under
        the cells' own styles (a cell's colour wins over the cursor's)."""
        console = self.app.console
        segments: list[Segment] = []
        pad = " " * CELL_PADDING
        for cell, width, justify in zip(cells, self._widths, self._justify, strict=True):
            text = cell
            length = text.cell_len
            if length > width:  # only while a column is being re-measured
                text = text.copy()
                text.truncate(width, overflow="ellipsis")
                length = width
            space = width - length
            align = text.justify or justify
            before = space if align == "right" else space // 2 if align == "center" else 0
            segments.append(Segment(pad + " " * before))
            if text.spans:
                segments.extend(text.render(console))
            else:  # Text.render drops the base style of a Text without spans
                segments.append(Segment(text.plain, console.get_style(text.style)))
            segments.append(Segment(" " * (space - before) + pad))
        return Strip(segments, self._total_width()).apply_style(style)

    def _update_styles(self) -> tuple[Style, Style, Style]:
        """The line styles (plain, cursor, header); a change (theme, focus, tint) drops
        the finished lines."""
        base = self.rich_style
        styles = (
            base,
            base + self.get_component_rich_style("diff-table--cursor"),
            base + self.get_component_rich_style("diff-table--header"),
        )
        if styles != self._line_styles:
            self._line_styles = styles
            self._lines.clear()
        return styles

    def render_lines(self, crop: Region) -> list[Strip]:
        self._update_styles()  # once per repaint, not per line: each lookup walks the CSS
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x, scroll_y = self.scroll_offset
        styles = self._line_styles or self._update_styles()
        base = styles[0]
        if y == 0:
            key, style = _HEADER, styles[2]
            cursor = False
        else:
            index = scroll_y + y - 1
            if index >= len(self._order):
                return Strip.blank(width, base)
            key = self._order[index]
            cursor = self.show_cursor and index == self.cursor_row
            style = styles[1] if cursor else base
        line = self._lines.get((key, cursor))
        if line is None:
            cells = self._labels if key == _HEADER else self._cells[key]
            line = self._render_cells(cells, style)
            self._remember((key, cursor), line)
        # The cursor bar runs the whole width, so it is seen on a wide screen too.
        return line.crop_extend(scroll_x, scroll_x + width, style if cursor else base)

    def on_resize(self) -> None:
        self._scroll_to_cursor()
