"""A DataTable that is given the rows it should show and changes only what differs.

Textual's DataTable repaints every visible cell on any change, and a live scanner changes
many times a second; so the screens hand :meth:`DiffTable.sync` the full desired rows (keyed,
in display order) at most a few times a second, and the table:

- calls ``update_cell`` only for cells whose text or style changed;
- removes rows that are gone and appends rows that are new;
- re-sorts (DataTable.sort, no row re-added) only when the order of the rows changed (a
  new sort key, or values that moved rows past each other);
- asks the table to re-measure a column only when a new value is wider than the column
  (DataTable re-measures every row of the column for each such update);
- keeps the cursor on the same row *key* whatever moved, so a trader's selection never
  jumps to another symbol under his fingers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

Justify = Literal["left", "right", "center"]


def same_cell(a: Text, b: Text) -> bool:
    """Equal text, style and justification (Rich's ``Text.__eq__`` ignores the base style)."""
    return (
        a.plain == b.plain and a.style == b.style and a.justify == b.justify and a.spans == b.spans
    )


class DiffTable(DataTable[Text]):
    """Row-cursor DataTable fed whole snapshots through :meth:`sync`; ``columns`` are
    ``(key, label, justify)``; ``cursor`` False makes a read-only table (no cursor, not
    focusable)."""

    DEFAULT_CSS = """
    DiffTable {
        height: 1fr;
    }
    """

    def __init__(
        self,
        columns: Sequence[tuple[str, str, Justify]],
        *,
        id: str | None = None,
        cursor: bool = True,
    ) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, id=id, show_cursor=cursor)
        self.can_focus = cursor
        self._column_keys = [key for key, _, _ in columns]
        for key, label, justify in columns:
            self.add_column(Text(label, justify=justify), key=key)
        self._cells: dict[str, tuple[Text, ...]] = {}
        #: The cell sequence each row was last synced from: a caller that caches its rows
        #: hands back the same object for an unchanged row, and that row is skipped
        #: without comparing its cells (a 1,000-row scanner redraws a few rows, not all).
        self._given: dict[str, Sequence[Text]] = {}
        self._order: list[str] = []
        #: Counters for tests and benchmarks: cells updated in place, row reorders.
        self.cells_updated = 0
        self.reorders = 0

    @property
    def keys(self) -> list[str]:
        """Row keys in the order the table shows them."""
        return [str(row.key.value) for row in self.ordered_rows]

    @property
    def highlighted_key(self) -> str | None:
        """The key of the row under the cursor (None for an empty table)."""
        if not self._order or not self.is_valid_row_index(self.cursor_row):
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return key

    def cells(self, key: str) -> tuple[Text, ...]:
        """The cells last synced for a row (KeyError when absent)."""
        return self._cells[key]

    def sync(self, rows: Sequence[tuple[str, Sequence[Text]]]) -> None:
        """Make the table show exactly ``rows`` (key, cells) in this order.

        A row whose cell sequence is the very object passed last time is taken as
        unchanged: callers must not mutate a sequence after handing it over (tuples).
        """
        keys = [key for key, _ in rows]
        if len(set(keys)) != len(keys):
            raise ValueError("DiffTable.sync: row keys must be unique")
        width = len(self._column_keys)
        for key, cells in rows:
            if len(cells) != width:
                raise ValueError(f"row {key!r} has {len(cells)} cells, the table {width} columns")
        cursor_key = self.highlighted_key
        wanted = set(keys)
        for key in [k for k in self._order if k not in wanted]:
            self.remove_row(key)
            del self._cells[key]
            self._given.pop(key, None)
        order = [k for k in self._order if k in wanted]
        given = self._given
        for key, cells in rows:
            if key in self._cells:
                if given.get(key) is not cells:
                    self._update_row(key, cells)
            else:
                new = tuple(cells)
                self.add_row(*new, key=key)
                self._cells[key] = new
                order.append(key)
            given[key] = cells
        if order != keys:
            self._reorder(keys)
        self._order = keys
        self._restore_cursor(cursor_key)

    def _update_row(self, key: str, cells: Sequence[Text]) -> None:
        """update_cell where a cell differs; the unchanged cells keep their objects."""
        old = self._cells[key]
        merged: list[Text] = []
        for column, a, b in zip(self._column_keys, old, cells, strict=True):
            if same_cell(a, b):
                merged.append(a)
                continue
            # Re-measuring a column costs a pass over all its rows: only when it must grow.
            current = self.columns.get(ColumnKey(column))
            grow = current is None or cell_len(b.plain) > current.content_width
            self.update_cell(key, column, b, update_width=grow)
            self.cells_updated += 1
            merged.append(b)
        self._cells[key] = tuple(merged)

    def _reorder(self, keys: list[str]) -> None:
        """Put the rows in ``keys`` order with DataTable.sort (no row is re-added).

        The sort key is the identity of each row's first cell: the table holds the very
        objects :attr:`_cells` holds, one distinct object per row."""
        position = {id(self._cells[key][0]): i for i, key in enumerate(keys)}
        if len(position) != len(keys):  # a caller shared one cell object between rows
            self._rebuild(keys)
            return
        self.reorders += 1
        self.sort(self._column_keys[0], key=lambda cell: position[id(cell)])

    def _rebuild(self, keys: list[str]) -> None:
        self.reorders += 1
        cells = self._cells
        self.clear()
        for key in keys:
            self.add_row(*cells[key], key=key)

    def _restore_cursor(self, cursor_key: str | None) -> None:
        if cursor_key is None or cursor_key not in self._cells:
            return
        index = self.get_row_index(cursor_key)
        if index != self.cursor_row:
            self.move_cursor(row=index, animate=False)

    def select_key(self, key: str) -> bool:
        """Put the cursor on ``key``'s row; False when there is no such row."""
        if key not in self._cells:
            return False
        self.move_cursor(row=self.get_row_index(key), animate=False)
        return True
