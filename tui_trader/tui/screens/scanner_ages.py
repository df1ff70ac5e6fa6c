"""The Scanner's price-age column (issue 12): how old each row's live price is.

A universe past the market-data line budget is priced partly by rotating snapshots, so a
trader must see how fresh each price is (a price older than ``[scanner] max_price_age_s``
cannot be traded). The age is not part of the scan result but of ``ScanResults.price_ages``
(republished every few seconds, in whole seconds), so it is added to the rows the row cache
built, after "Last":

- Equal ages share one Text, and a row whose cells and age are the ones seen last time
  keeps its old tuple, so the table skips it (the table treats an identical tuple as
  unchanged, and compares cells by identity).
- ``-`` (muted) when the symbol has no live price yet.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from tui_trader.core.models import usable_number
from tui_trader.tui.widgets.cells import MISSING, Palette, right
from tui_trader.tui.widgets.tables import Justify

#: Where the column goes among the Scanner's: right after "Last".
AGE_AT = 3
AGE_COLUMN: tuple[str, str, Justify] = ("age", "Age", "right")

Row = tuple[str, tuple[Text, ...]]


def age_text(age: float | None) -> str:
    """``12s`` under two minutes, then whole minutes (``5m``), then hours (``3h``)."""
    if age is None or not usable_number(age):
        return MISSING
    seconds = max(0, int(age))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"


class AgeCells:
    """Adds the age cell to formatted Scanner rows (module doc)."""

    def __init__(self) -> None:
        self._texts: dict[str, Text] = {}
        self._rows: dict[str, tuple[tuple[Text, ...], Text, tuple[Text, ...]]] = {}
        self._palette: Palette | None = None

    def _cell(self, shown: str, palette: Palette) -> Text:
        cell = self._texts.get(shown)
        if cell is None:
            style = palette.muted if shown == MISSING else ""
            cell = self._texts[shown] = right(shown, style)
        return cell

    def add(
        self,
        rows: Sequence[Row],
        ages: Sequence[tuple[str, float | None]],
        palette: Palette,
    ) -> list[Row]:
        """``rows`` with each symbol's age cell inserted at :data:`AGE_AT`."""
        if palette is not self._palette:
            self._texts, self._rows, self._palette = {}, {}, palette
        by_symbol = dict(ages)
        out: list[Row] = []
        seen = self._rows
        for key, cells in rows:
            age = self._cell(age_text(by_symbol.get(key)), palette)
            last = seen.get(key)
            if last is not None and last[0] is cells and last[1] is age:
                out.append((key, last[2]))
                continue
            full = (*cells[:AGE_AT], age, *cells[AGE_AT:])
            seen[key] = (cells, age, full)
            out.append((key, full))
        if len(seen) > 2 * len(rows) + 64:
            shown = {k for k, _ in rows}
            self._rows = {k: v for k, v in seen.items() if k in shown}
        return out
