"""Issue 13: the Eligibility column carried ``yes (market_cap_unknown)`` on every row when
the gateway gives no market caps; a reason every symbol carries is said once, in the
title, and each row shows only its own reasons."""

from __future__ import annotations

from dataclasses import replace

from textual.widgets import Label

from tests.tui.conftest import AppFactory
from tests.tui.demo_store import Demo
from tui_trader.core.strategies import REASON_MARKET_CAP_UNKNOWN
from tui_trader.state.store import ScanResults, Store
from tui_trader.tui.screens.scanner import SORTS, RowCache, ScannerScreen, scanner_rows
from tui_trader.tui.widgets.cells import Palette

PALETTE = Palette.from_variables({})
UNKNOWN = REASON_MARKET_CAP_UNKNOWN


def flagged(demo: Demo) -> list:  # type: ignore[type-arg]
    """The demo's results as a gateway without market caps gives them: every symbol
    flagged, AAPL also ineligible for a reason of its own."""
    out = []
    for r in demo.report.results:
        if r.symbol == "AAPL":
            out.append(replace(r, eligible=False, reasons=("price_below_min", UNKNOWN)))
        else:
            out.append(replace(r, reasons=(*r.reasons, UNKNOWN)))
    return out


def eligibility(rows: list) -> dict[str, str]:  # type: ignore[type-arg]
    return {key: cells[-1].plain for key, cells in rows}


def test_a_reason_every_row_carries_is_left_out_of_the_cells(demo: Demo) -> None:
    results = flagged(demo)
    cache = RowCache()
    cells = eligibility(scanner_rows(results, SORTS[0], "", PALETTE, cache))
    assert len(cells) == len(results) == 60
    assert not any(UNKNOWN in c for c in cells.values())
    assert cells["AAPL"] == "price_below_min"
    assert cells["MSFT"] == "yes"
    # one symbol with a market cap: the reason is no longer shared, each row says it again
    known = [replace(r, reasons=()) if r.symbol == "MSFT" else r for r in results]
    cells = eligibility(scanner_rows(known, SORTS[0], "", PALETTE, cache))
    assert cells["MSFT"] == "yes"
    assert cells["NVDA"] == f"yes ({UNKNOWN})"
    assert cells["AAPL"] == f"price_below_min, {UNKNOWN}"
    # the filter does not change what is shared: the title speaks of every symbol
    cells = eligibility(scanner_rows(results, SORTS[0], "aapl", PALETTE, cache))
    assert cells == {"AAPL": "price_below_min"}


async def test_the_title_says_it_once(make_app: AppFactory, demo: Demo, store: Store) -> None:
    scan = store.get(ScanResults)
    assert scan.report is not None
    store.set(ScanResults, replace(scan, report=replace(scan.report, results=flagged(demo))))
    app = make_app(store_=store)
    async with app.run_test(size=(200, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ScannerScreen)
        assert f"every symbol: {UNKNOWN}" in str(screen.query_one("#title-status", Label).render())
        table = screen.table
        assert not any(UNKNOWN in table.cells(k)[-1].plain for k in table.keys)
