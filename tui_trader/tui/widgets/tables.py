"""A DataTable that is given the rows it should show and changes only what differs.

Textual's DataTable repaints every visible cell on any change, and a live scanner changes
many times a second; so the screens hand :meth:`DiffTable.sync` the full desired rows (keyed,
in display order) at most a few times a second, and the table:

- calls ``update_cell`` only for cells whose text or style changed;
- removes rows that are gone and appends rows that are new;
- rebuilds (clear + add) only when the order of the rows changed (a new sort, or values
  that moved rows past each other), because DataTable cannot move a row;
- keeps the cursor on the same row *key* whatever moved, so a trader's selection never
  jumps to another symbol under his fingers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from rich.text import Text
from textual.widgets import DataTable

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
        self._order: list[str] = []
        #: Counters for tests and benchmarks: cells updated in place, full rebuilds.
        self.cells_updated = 0
        self.rebuilds = 0

    @property
    def keys(self) -> list[str]:
        """Row keys in display order."""
        return list(self._order)

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
        """Make the table show exactly ``rows`` (key, cells) in this order."""
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
        kept = [k for k in self._order if k in wanted]
        appended = [k for k in keys if k not in self._cells]
        if kept + appended != keys:
            self._rebuild(rows)
        else:
            self._update_in_place(rows)
        self._order = keys
        self._restore_cursor(cursor_key)

    def _update_in_place(self, rows: Sequence[tuple[str, Sequence[Text]]]) -> None:
        for key, cells in rows:
            old = self._cells.get(key)
            new = tuple(cells)
            if old is None:
                self.add_row(*new, key=key)
            else:
                for column, (a, b) in zip(
                    self._column_keys, zip(old, new, strict=True), strict=True
                ):
                    if not same_cell(a, b):
                        self.update_cell(key, column, b, update_width=True)
                        self.cells_updated += 1
            self._cells[key] = new

    def _rebuild(self, rows: Sequence[tuple[str, Sequence[Text]]]) -> None:
        self.rebuilds += 1
        self.clear()
        self._cells = {}
        for key, cells in rows:
            new = tuple(cells)
            self.add_row(*new, key=key)
            self._cells[key] = new

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
