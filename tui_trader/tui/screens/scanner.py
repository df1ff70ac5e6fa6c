"""The Scanner screen: one row per symbol of the latest scan, sortable and filterable.

Rows come from the ``ScanResults`` slice as the engine's scan produced them (``core.scanner``):
last price, change %, RSI14, ATR14, the SMA50/SMA200 trend, signals, direction, and why a
symbol is not eligible. A new scan updates the cells that changed in place; the cursor
stays on its symbol whatever the sort does.

Sorting: ``s`` moves to the next sort column (symbol A-Z, then direction, last, change %,
RSI, ATR descending, trend, signals, eligibility); unknown values always sort last, ties go
by symbol. Filtering: ``/`` opens a filter line; a row is kept when the text occurs
(case-insensitive) in its symbol, direction, signals or reasons; ``escape`` clears it.

A reason every row carries (``market_cap_unknown`` when the gateway gives no market caps)
is said once, in the title (``every symbol: market_cap_unknown``), not on every row
(issue 13): the Eligibility cells show the other reasons only.

While the daily bars load (issue 12) the title leads with ``loading bars 312/500`` and the
rows are the scan of the symbols loaded so far; the whole universe's scan follows the load.

Change % is shown when the scan result carries ``change_pct`` (percent points, 1.5 =
+1.5%); the current ``core.scanner.SymbolScan`` has no previous close, so the column shows
``-`` until it does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import Input

from tui_trader.core.calendar import ET
from tui_trader.core.models import usable_number
from tui_trader.state.store import ScanResults
from tui_trader.tui.screens.base import TraderScreen
from tui_trader.tui.screens.preview import PreviewScreen
from tui_trader.tui.screens.scanner_ages import AGE_AT, AGE_COLUMN, AgeCells
from tui_trader.tui.widgets.cells import MISSING, Palette, left, number, right
from tui_trader.tui.widgets.tables import DiffTable, Justify

if TYPE_CHECKING:  # the scanner module pulls numba and pandas: not before the first frame
    from tui_trader.core.scanner import SymbolScan

COLUMNS: tuple[tuple[str, str, Justify], ...] = (
    ("symbol", "Symbol", "left"),
    ("dir", "Dir", "left"),
    ("last", "Last", "right"),
    ("chg", "Chg%", "right"),
    ("rsi", "RSI14", "right"),
    ("atr", "ATR14", "right"),
    ("trend", "Trend", "left"),
    ("signals", "Signals", "left"),
    ("elig", "Eligibility", "left"),
)

_DIR_ORDER = {"LONG": 0, "SHORT": 1, "CONFLICT": 2}
_TREND_ORDER = {"up": 0, "down": 1, "flat": 2}


def change_pct(result: SymbolScan) -> float | None:
    """The day's change in percent points when the scan provides it (see module doc)."""
    value = getattr(result, "change_pct", None)
    return float(value) if isinstance(value, int | float) and usable_number(value) else None


def trend(result: SymbolScan) -> str | None:
    """``up`` when SMA50 > SMA200, ``down`` when below, ``flat`` when equal; None when
    either is unknown (fewer than 200 bars)."""
    a, b = result.sma50, result.sma200
    if a is None or b is None or not (usable_number(a) and usable_number(b)):
        return None
    return "up" if a > b else "down" if a < b else "flat"


def _desc(value: float | None) -> tuple[int, float]:
    """Descending order with unknown values last."""
    if value is None or not usable_number(value):
        return (1, 0.0)
    return (0, -value)


@dataclass(frozen=True, slots=True)
class SortSpec:
    column: str
    label: str
    key: Callable[[SymbolScan], tuple[Any, ...]]


SORTS: tuple[SortSpec, ...] = (
    SortSpec("symbol", "symbol A-Z", lambda r: (r.symbol,)),
    SortSpec("dir", "direction", lambda r: (_DIR_ORDER.get(r.direction or "", 3), r.symbol)),
    SortSpec("last", "last, highest first", lambda r: (*_desc(r.close), r.symbol)),
    SortSpec("chg", "change %, highest first", lambda r: (*_desc(change_pct(r)), r.symbol)),
    SortSpec("rsi", "RSI14, highest first", lambda r: (*_desc(r.rsi14), r.symbol)),
    SortSpec("atr", "ATR14, highest first", lambda r: (*_desc(r.atr14), r.symbol)),
    SortSpec("trend", "trend", lambda r: (_TREND_ORDER.get(trend(r) or "", 3), r.symbol)),
    SortSpec(
        "signals", "signals first", lambda r: (-len(r.signals), ",".join(r.signals), r.symbol)
    ),
    SortSpec("elig", "eligible first", lambda r: (not r.eligible, ",".join(r.reasons), r.symbol)),
)


def matches(result: SymbolScan, needle: str) -> bool:
    """The filter rule: ``needle`` (case-insensitive) in symbol, direction, signals or
    reasons; an empty needle keeps everything."""
    if not needle:
        return True
    hay = " ".join((result.symbol, result.direction or "", *result.signals, *result.reasons))
    return needle.lower() in hay.lower()


def _eligibility(value: tuple[bool, tuple[str, ...]], palette: Palette) -> Text:
    eligible, reasons = value
    if eligible:
        return left("yes" if not reasons else "yes (" + ", ".join(reasons) + ")")
    return left(", ".join(reasons) or "no", palette.muted)


def shared_reasons(results: Sequence[SymbolScan]) -> frozenset[str]:
    """The reasons every result carries (none for no results): said once in the title."""
    if not results:
        return frozenset()
    common = set(results[0].reasons)
    for r in results[1:]:
        if not common:
            break
        common.intersection_update(r.reasons)
    return frozenset(common)


def _trend(value: str | None, palette: Palette) -> Text:
    if value == "up":
        return left("▲ up", palette.up)
    if value == "down":
        return left("▼ down", palette.down)
    return left("= flat") if value == "flat" else left(MISSING, palette.muted)


#: Per column of :data:`COLUMNS`: what the cell shows (a hashable value of the result) and
#: how it is drawn from that value alone, so equal values give equal cells.
CELLS: tuple[tuple[Callable[[SymbolScan], Any], Callable[[Any, Palette], Text]], ...] = (
    (lambda r: r.symbol, lambda v, p: left(v, "bold")),
    (lambda r: r.direction, lambda v, p: left(v or MISSING, p.direction(v))),
    (lambda r: r.close, lambda v, p: right(number(v, 2))),
    (change_pct, lambda v, p: right(number(v, 2, sign=True), p.signed(v))),
    (lambda r: r.rsi14, lambda v, p: right(number(v, 1))),
    (lambda r: r.atr14, lambda v, p: right(number(v, 2))),
    (trend, _trend),
    (lambda r: r.signals, lambda v, p: left(",".join(v) or MISSING)),
    (lambda r: (r.eligible, r.reasons), _eligibility),
)
#: The Eligibility column's index in :data:`CELLS` (its reasons lose the shared ones).
ELIG_AT = len(CELLS) - 1


def scanner_cells(result: SymbolScan, palette: Palette) -> tuple[Text, ...]:
    """One scanner row, in :data:`COLUMNS` order."""
    return tuple(draw(value(result), palette) for value, draw in CELLS)


class RowCache:
    """Formatted rows, so a redraw formats only the cells whose values changed (building
    Rich Text for 1,000 x 9 cells costs ~100 ms a time).

    - A live price moves a few symbols at a time and the engine hands the unchanged ones on
      as the very same objects: a result that *is* the one seen last time for its symbol
      takes its row as it was, without a look.
    - Otherwise each cell comes from a per-column cache by the value it shows, so a price
      tick draws the price (and change) cells only, and equal values in different rows
      share one Text (all the "yes" and "-" cells): fewer objects for the garbage
      collector to walk, and the table sees unchanged cells as the same objects.
    - A row whose cells all came back the same keeps its old tuple, so the table skips it.
    - Cleared when the palette changes; a column cache that outgrows the rows on screen is
      cut back to what they show.
    """

    def __init__(self) -> None:
        self._cells: list[dict[Any, Text]] = [{} for _ in CELLS]
        #: symbol -> (the result seen last, its cells, the values they show)
        self._last: dict[str, tuple[SymbolScan, tuple[Text, ...], tuple[Any, ...]]] = {}
        self._palette: Palette | None = None
        self._hide: frozenset[str] = frozenset()

    def rows(
        self,
        results: Sequence[SymbolScan],
        palette: Palette,
        hide: frozenset[str] = frozenset(),
        keep: Sequence[SymbolScan] | None = None,
    ) -> list[tuple[str, tuple[Text, ...]]]:
        """``hide``: reasons left out of the Eligibility cells (:func:`shared_reasons`).
        ``keep``: the rows whose cells stay cached (default ``results``); the whole scan
        when ``results`` is the filter's part of it, so that a filter letter does not
        prune the other rows' cells and its escape does not draw them all again."""
        if palette is not self._palette or hide != self._hide:
            self._cells = [{} for _ in CELLS]
            self._last = {}
            self._palette = palette
            self._hide = hide
        out: list[tuple[str, tuple[Text, ...]]] = []
        last, caches = self._last, self._cells
        for r in results:
            seen = last.get(r.symbol)
            if seen is not None and seen[0] is r:
                out.append((r.symbol, seen[1]))
                continue
            built: list[Text] = []
            values = tuple(self._value(i, r) for i in range(len(CELLS)))
            for value, (_, draw), cache in zip(values, CELLS, caches, strict=True):
                cell = cache.get(value)
                if cell is None:
                    cell = cache[value] = draw(value, palette)
                built.append(cell)
            cells = tuple(built)
            if seen is not None and all(a is b for a, b in zip(seen[1], cells, strict=True)):
                cells = seen[1]
            last[r.symbol] = (r, cells, values)
            out.append((r.symbol, cells))
        kept = results if keep is None else keep
        limit = 2 * len(kept) + 64
        if any(len(cache) > limit for cache in caches):
            self._prune({r.symbol for r in kept})
        return out

    def _prune(self, shown: set[str]) -> None:
        """Keep the rows and cells of the symbols shown; drop the rest. Every scan whose
        prices moved comes here (its new values outgrow the limit), so the values each
        row shows are kept with it rather than computed again."""
        self._last = {s: v for s, v in self._last.items() if s in shown}
        for i in range(len(CELLS)):
            self._cells[i] = {values[i]: cells[i] for _, cells, values in self._last.values()}

    def _value(self, i: int, r: SymbolScan) -> Any:
        """What column ``i`` shows for ``r`` (the Eligibility reasons without the hidden)."""
        value = CELLS[i][0](r)
        if i == ELIG_AT and self._hide:
            value = (value[0], tuple(x for x in value[1] if x not in self._hide))
        return value


def scanner_rows(
    results: Sequence[SymbolScan],
    sort: SortSpec,
    needle: str,
    palette: Palette,
    cache: RowCache | None = None,
) -> list[tuple[str, tuple[Text, ...]]]:
    """The rows the table should show: filtered, sorted, formatted; the reasons every
    result carries (all of ``results``, not only those the filter keeps) are left out of
    the Eligibility cells: the title says them once."""
    kept = sorted((r for r in results if matches(r, needle)), key=sort.key)
    if cache is None:
        cache = RowCache()
    return cache.rows(kept, palette, shared_reasons(results), keep=results)


class ScannerScreen(TraderScreen):
    """Scanner: every symbol of the latest scan."""

    TITLE = "Scanner"
    AUTO_FOCUS = "#scanner-table"
    WATCHES = frozenset({ScanResults})
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "preview", "Preview spreads for the highlighted symbol", id="preview"),
        Binding("slash", "filter", "Filter rows", id="filter"),
        Binding("s", "next_sort", "Sort by the next column", id="sort"),
        Binding("r", "rescan", "Rescan now", id="rescan"),
        Binding("plus", "watch_add", "Add a symbol to the watchlist (asks)", id="watch_add"),
        Binding("minus", "watch_remove", "Remove the highlighted symbol (asks)", id="watch_remove"),
        Binding("escape", "clear_filter", "Clear the filter", show=False, id="clear_filter"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.sort_index = 0
        self.filter_text = ""
        self._cache = RowCache()
        self._ages = AgeCells()  # issue 12: each row's price age, after "Last"
        #: The formatted rows and what they were built from (report, sort, filter,
        #: palette): see :meth:`_formatted`.
        self._formatted_for: tuple[object, int, str, Palette] | None = None
        self._formatted_rows: list[tuple[str, tuple[Text, ...]]] = []

    def compose_body(self) -> Iterable[Any]:
        # The filter line is mounted on the first "/": an Input mounted while the app is
        # still installing its first screen trips Textual (ScreenStackError in
        # Input._watch_selection under App.run).
        yield DiffTable((*COLUMNS[:AGE_AT], AGE_COLUMN, *COLUMNS[AGE_AT:]), id="scanner-table")

    @property
    def table(self) -> DiffTable:
        return self.query_one("#scanner-table", DiffTable)

    @property
    def sort(self) -> SortSpec:
        return SORTS[self.sort_index]

    def render_body(self) -> None:
        scan = self.trader.store.get(ScanResults)
        rows = self._ages.add(self._formatted(scan), scan.price_ages, self.palette)
        self.table.sync(rows)
        self.set_status(self._status(scan, len(rows)))

    def _formatted(self, scan: ScanResults) -> list[tuple[str, tuple[Text, ...]]]:
        """The scan's rows, filtered, sorted and formatted: built again only when the
        report, the sort, the filter or the palette changed. Most ``ScanResults`` changes
        are the price ages' (every few seconds, issue 12) or the SCANNING flag's, which
        leave the report as it was: filtering, sorting and looking up 1,000 rows again for
        them is work with a known answer (~0.5 ms of the ~10 ms an ages redraw costs; the
        rest is the age cells and the table's diff)."""
        key = (scan.report, self.sort_index, self.filter_text, self.palette)
        last = self._formatted_for
        if last is not None and key[0] is last[0] and key[3] is last[3] and key[1:3] == last[1:3]:
            return self._formatted_rows
        results = scan.report.results if scan.report is not None else []
        self._formatted_rows = scanner_rows(
            results, self.sort, self.filter_text, self.palette, self._cache
        )
        self._formatted_for = key
        return self._formatted_rows

    def _status(self, scan: ScanResults, shown: int) -> str:
        parts: list[str] = []
        loading = scan.bars_total > 0 and scan.bars_loaded < scan.bars_total
        if loading:
            parts.append(f"loading bars {max(0, scan.bars_loaded)}/{scan.bars_total}")
        if scan.report is None:
            parts.append("no scan yet (r: scan now)")
            parts.append(f"sort: {self.sort.label}")
        else:
            results = scan.report.results
            signalled = sum(1 for r in results if r.signals)
            parts.append(f"{len(results)} symbols, {signalled} with signals")
            parts.append(f"sort: {self.sort.label}")
            if self.filter_text:
                parts.append(f"{shown} match {self.filter_text!r}")
            shared = shared_reasons(results)
            if shared:
                parts.append("every symbol: " + ", ".join(sorted(shared)))
            if scan.updated_at is not None:
                parts.append(f"scanned {scan.updated_at.astimezone(ET):%H:%M:%S} ET")
        if scan.running and not loading:
            parts.append("SCANNING")
        if scan.error:
            parts.append(f"last scan failed: {scan.error}")
        return " · ".join(parts)

    # -- actions -----------------------------------------------------------------------

    def action_next_sort(self) -> None:
        self.sort_index = (self.sort_index + 1) % len(SORTS)
        self.redraw()

    def _filter_box(self) -> Input | None:
        boxes = self.query("#filter").results(Input)
        return next(iter(boxes), None)

    async def action_filter(self) -> None:
        box = self._filter_box()
        if box is None:
            box = Input(
                placeholder="filter: symbol, LONG/SHORT, signal or reason",
                id="filter",
                select_on_focus=False,
            )
            box.cursor_blink = self.trader.cursor_blink
            await self.mount(box, before=self.table)
        box.display = True
        box.focus()

    def action_clear_filter(self) -> None:
        box = self._filter_box()
        if box is None or (not box.display and not self.filter_text):
            return
        box.value = ""
        box.display = False
        self.filter_text = ""
        self.redraw()
        self.table.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.filter_text = event.value.strip()
            self.redraw()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            if not self.filter_text:
                event.input.display = False
            self.table.focus()

    def action_preview(self) -> None:
        symbol = self.table.highlighted_key
        if symbol is None:
            self.notify("No symbol to preview.", severity="warning")
            return
        # quiet: the preview screen is the answer; a refusal is still a notice
        self.trader.call_engine(f"preview {symbol}", lambda e: e.preview(symbol), quiet=True)
        self.app.push_screen(PreviewScreen(symbol))

    def action_rescan(self) -> None:
        # quiet: the title bar says SCANNING and then the scan's time; a failure is a notice
        self.trader.call_engine("rescan", lambda e: e.rescan(), quiet=True)

    def action_watch_add(self) -> None:
        """Issue 13: add a symbol (:mod:`tui_trader.tui.screens.watchlist`)."""
        from tui_trader.tui.screens.watchlist import ask_add

        ask_add(self)

    def action_watch_remove(self) -> None:
        """Issue 13: remove the highlighted symbol (asks; refused with a position/order)."""
        from tui_trader.tui.screens.watchlist import ask_remove

        ask_remove(self, self.table.highlighted_key)
