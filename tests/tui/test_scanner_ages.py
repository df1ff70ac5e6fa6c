"""Issue 12: the Scanner shows each row's price age after "Last" (``scanner_ages``)."""

from __future__ import annotations

from tests.tui.demo_store import Demo
from tui_trader.core.settings import Settings
from tui_trader.tui.screens.scanner import SORTS, RowCache, scanner_rows
from tui_trader.tui.screens.scanner_ages import AGE_AT, AgeCells, age_text
from tui_trader.tui.widgets.cells import Palette

PALETTE = Palette.from_variables({})


def test_ages_read_in_seconds_then_minutes_then_hours() -> None:
    assert [age_text(a) for a in (None, float("nan"), 0.0, 7.4, 119.0, 125.0, 7300.0)] == [
        "-", "-", "0s", "7s", "119s", "2m", "2h"
    ]  # fmt: skip


def test_the_age_cell_follows_last_and_unchanged_rows_keep_their_tuple(demo: Demo) -> None:
    results = demo.report.results
    base = scanner_rows(results, SORTS[0], "", PALETTE, RowCache())
    ages = AgeCells()
    first = ages.add(base, (("AAPL", 12.0), ("MSFT", None)), PALETTE)
    cells = dict(first)
    assert [c.plain for c in cells["AAPL"][: AGE_AT + 2]] == [
        "AAPL",
        "SHORT",
        "225.82",
        "12s",
        "-2.39",
    ]
    assert cells["MSFT"][AGE_AT].plain == "-"
    assert len(cells["AAPL"]) == len(dict(base)["AAPL"]) + 1
    again = dict(ages.add(base, (("AAPL", 12.0), ("MSFT", None)), PALETTE))
    assert all(again[k] is cells[k] for k in cells)  # the table skips them
    moved = dict(ages.add(base, (("AAPL", 17.0), ("MSFT", None)), PALETTE))
    assert moved["AAPL"][AGE_AT].plain == "17s" and moved["AAPL"] is not cells["AAPL"]
    assert moved["MSFT"] is cells["MSFT"]


def test_the_default_settings_allow_a_minute() -> None:
    assert Settings().scanner.max_price_age_s == 60.0
