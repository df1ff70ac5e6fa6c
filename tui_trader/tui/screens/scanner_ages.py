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
- The ages by symbol are looked up once per publication (the same ``price_ages`` tuple is
  handed over on every redraw between two publications), and a row whose raw age is the
  one seen last time is not formatted again: a redraw caused by a few price ticks then
  costs a dictionary look-up per row, not a dict build and 1,000 ``age_text`` calls.
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
        #: key -> (the row's cells, its raw age, the age cell, the full row) seen last.
        self._rows: dict[str, tuple[tuple[Text, ...], float | None, Text, tuple[Text, ...]]] = {}
        self._palette: Palette | None = None
        self._ages: Sequence[tuple[str, float | None]] | None = None
        self._by_symbol: dict[str, float | None] = {}

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
        if ages is not self._ages:
            self._ages, self._by_symbol = ages, dict(ages)
        by_symbol = self._by_symbol
        out: list[Row] = []
        seen = self._rows
        for key, cells in rows:
            raw = by_symbol.get(key)
            last = seen.get(key)
            if last is not None and last[1] == raw:  # None == None; a NaN age is redone
                if last[0] is cells:
                    out.append((key, last[3]))
                    continue
                age = last[2]
            else:
                age = self._cell(age_text(raw), palette)
                if last is not None and last[2] is age and last[0] is cells:
                    seen[key] = (cells, raw, age, last[3])
                    out.append((key, last[3]))
                    continue
            full = (*cells[:AGE_AT], age, *cells[AGE_AT:])
            seen[key] = (cells, raw, age, full)
            out.append((key, full))
        if len(seen) > 2 * len(rows) + 64:
            shown = {k for k, _ in rows}
            self._rows = {k: v for k, v in seen.items() if k in shown}
        return out
