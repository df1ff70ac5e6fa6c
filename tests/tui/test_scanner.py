"""The Scanner screen: rows from the scan report, sorting, filtering, live updates that
touch only changed cells and keep the cursor, and the keys that call the engine."""

from __future__ import annotations

from dataclasses import replace

from tests.tui.conftest import AppFactory, RecordingEngine
from tests.tui.demo_store import Demo
from tui_trader.core.scanner import SymbolScan
from tui_trader.state.store import ScanResults
from tui_trader.tui.screens.preview import PreviewScreen
from tui_trader.tui.screens.scanner import (
    SORTS,
    RowCache,
    ScannerScreen,
    matches,
    scanner_cells,
    scanner_rows,
    trend,
)
from tui_trader.tui.widgets.cells import Palette
from tui_trader.tui.widgets.tables import DiffTable

PALETTE = Palette.from_variables({})


def row_of(demo: Demo, symbol: str) -> SymbolScan:
    return next(r for r in demo.report.results if r.symbol == symbol)


def test_a_row_shows_the_scan_numbers(demo: Demo) -> None:
    cells = [c.plain for c in scanner_cells(row_of(demo, "AAPL"), PALETTE)]
    # AAPL in the seed-7 demo: close 225.82, RSI14 30.87, ATR14 7.875, SMA50 247.92 > SMA200
    # 235.81, LOW_BASE -> SHORT, eligible; previous close 231.36 -> change 225.82/231.36 - 1
    # = -2.39 %.
    assert cells == [
        "AAPL", "SHORT", "225.82", "-2.39", "30.9", "7.88", "▲ up", "LOW_BASE", "yes"
    ]  # fmt: skip


def test_unknown_values_show_a_dash_and_ineligible_rows_their_reasons(demo: Demo) -> None:
    base = row_of(demo, "AAPL")
    bad = replace(base, close=float("nan"), rsi14=None, sma200=None, eligible=False,
                  reasons=("insufficient_history", "price_below_min"), signals=(),
                  direction=None, change_pct=None)  # fmt: skip
    cells = [c.plain for c in scanner_cells(bad, PALETTE)]
    assert cells == ["AAPL", "-", "-", "-", "-", "7.88", "-", "-",
                     "insufficient_history, price_below_min"]  # fmt: skip
    assert trend(bad) is None


def test_sorting_puts_unknown_values_last_and_breaks_ties_by_symbol(demo: Demo) -> None:
    results = demo.report.results
    rsi = next(s for s in SORTS if s.column == "rsi")
    keys = [k for k, _ in scanner_rows(results, rsi, "", PALETTE)]
    values = {r.symbol: r.rsi14 for r in results}
    known = [values[k] for k in keys if values[k] is not None]
    assert known == sorted(known, reverse=True)
    assert keys[0] == "BA"  # RSI14 84.3, the highest of the demo
    direction = next(s for s in SORTS if s.column == "dir")
    dirs = [row_of(demo, k).direction for k, _ in scanner_rows(results, direction, "", PALETTE)]
    assert dirs[: dirs.count("LONG")] == ["LONG"] * dirs.count("LONG")
    assert dirs[-1] is None


def test_the_row_cache_redraws_only_the_cells_a_tick_changed(demo: Demo) -> None:
    results = list(demo.report.results)
    cache = RowCache()
    first = dict(cache.rows(results, PALETTE))
    assert first == {r.symbol: scanner_cells(r, PALETTE) for r in results}  # same texts
    aapl = results.index(row_of(demo, "AAPL"))
    results[aapl] = replace(results[aapl], close=226.01, change_pct=-2.31)
    results[aapl + 1] = replace(results[aapl + 1])  # a new object, equal values
    second = dict(cache.rows(results, PALETTE))
    assert [c.plain for c in second["AAPL"]][2:4] == ["226.01", "-2.31"]
    old, new = first["AAPL"], second["AAPL"]
    redrawn = [i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a is not b]
    assert redrawn == [2, 3]  # last and change %: the other seven cells are the same objects
    unchanged = results[aapl + 1].symbol
    assert second[unchanged] is first[unchanged]  # the table skips this row unseen
    assert all(second[s] is first[s] for s in first if s != "AAPL")
    yes = [cells[8] for cells in second.values() if cells[8].plain == "yes"]
    assert len(yes) > 1 and all(c is yes[0] for c in yes)  # one Text for every "yes"
    other = Palette.from_variables({"pnl-up": "#00ff00"})
    third = dict(cache.rows(results, other))  # a new theme: everything drawn again
    assert all(third[s][0] is not second[s][0] for s in second)


def test_a_filter_keeps_the_other_rows_cells_for_when_it_is_cleared(demo: Demo) -> None:
    """A filter letter showed a few rows and pruned every other row's cells (the cache's
    limit counted the rows shown, not the scan's); escape then drew them all again."""
    results = list(demo.report.results)
    cache = RowCache()
    scanner_rows(results, SORTS[0], "", PALETTE, cache)
    moved = [replace(r, close=r.close + 0.01) for r in results]  # a tick on every row
    drawn = dict(scanner_rows(moved, SORTS[0], "", PALETTE, cache))  # 120 prices cached
    filtered = scanner_rows(moved, SORTS[0], "aapl", PALETTE, cache)
    assert [k for k, _ in filtered] == ["AAPL"]
    cleared = dict(scanner_rows(moved, SORTS[0], "", PALETTE, cache))
    assert all(cleared[s] is drawn[s] for s in drawn)  # nothing drawn again


def test_the_filter_matches_symbol_direction_signal_and_reason(demo: Demo) -> None:
    aapl = row_of(demo, "AAPL")
    assert matches(aapl, "aap") and matches(aapl, "short") and matches(aapl, "low_b")
    assert not matches(aapl, "LONG") and matches(aapl, "")


async def test_s_cycles_the_sort_and_keeps_the_cursor_on_its_symbol(
    make_app: AppFactory, demo: Demo
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, ScannerScreen)
        table = screen.table
        assert table.keys == sorted(r.symbol for r in demo.report.results)
        table.select_key("MSFT")
        await pilot.press("s")  # direction
        assert screen.sort.column == "dir"
        assert table.highlighted_key == "MSFT"
        assert [row_of(demo, k).direction for k in table.keys[:3]] == ["LONG"] * 3
        await pilot.press("s", "s", "s")  # last, chg, rsi
        assert screen.sort.column == "rsi"
        assert table.keys[0] == "BA"
        assert table.highlighted_key == "MSFT"
        assert "sort: RSI14, highest first" in str(screen.query_one("#title-status").render())


async def test_slash_filters_rows_and_escape_clears(make_app: AppFactory, demo: Demo) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, ScannerScreen)
        await pilot.press("slash", "s", "h", "o", "r", "t")
        shorts = sorted(r.symbol for r in demo.report.results if r.direction == "SHORT")
        assert screen.table.keys == shorts == ["AAPL", "CAT", "TLT"]
        await pilot.press("enter")  # keeps the filter, back to the table
        assert screen.table.has_focus and screen.filter_text == "short"
        await pilot.press("escape")
        assert len(screen.table.keys) == 60


async def test_a_new_scan_updates_only_changed_cells_and_keeps_the_cursor(
    make_app: AppFactory, demo: Demo
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, ScannerScreen)
        table = screen.table
        table.select_key("MSFT")
        cursor_row = table.cursor_row
        before_reorders = table.reorders
        before_cells = table.cells_updated
        results = [
            replace(r, close=230.0) if r.symbol == "AAPL" else r for r in demo.report.results
        ]
        report = replace(demo.report, results=results)
        app.store.update(ScanResults, report=report)
        await pilot.pause()
        assert table.cells_updated - before_cells == 1  # AAPL's last, nothing else
        assert table.reorders == before_reorders
        assert table.cells("AAPL")[2].plain == "230.00"
        assert table.highlighted_key == "MSFT" and table.cursor_row == cursor_row


async def test_enter_previews_the_highlighted_symbol_and_r_rescans(make_app: AppFactory) -> None:
    engine = RecordingEngine()
    app = make_app(engine=engine)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, ScannerScreen)
        await pilot.press("r")
        screen.table.select_key("AMZN")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        assert isinstance(app.screen, PreviewScreen) and app.screen.symbol == "AMZN"
        assert engine.calls == [("rescan", ()), ("preview", ("AMZN",))]


async def test_scanner_shows_an_empty_state_before_the_first_scan(make_app: AppFactory) -> None:
    from tui_trader.state.store import Store

    app = make_app(store_=Store())
    async with app.run_test(size=(80, 24)):
        screen = app.screen
        assert isinstance(screen, ScannerScreen)
        assert screen.query_one(DiffTable).keys == []
        assert "no scan yet" in str(screen.query_one("#title-status").render())


async def test_an_ages_change_reuses_the_sorted_rows_and_a_new_report_does_not(
    make_app: AppFactory, demo: Demo
) -> None:
    """Issue 12: the price ages are republished every few seconds with the report
    unchanged; only the age cells are redone, the filter, sort and format are not."""
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, ScannerScreen)
        built: list[int] = []
        rows = screen._cache.rows

        def counting(*args: object, **kwargs: object) -> object:
            built.append(1)
            return rows(*args, **kwargs)  # type: ignore[arg-type]

        screen._cache.rows = counting  # type: ignore[method-assign]
        app.store.update(ScanResults, price_ages=(("AAPL", 7.0), ("MSFT", 65.0)))
        await pilot.pause()
        assert built == []
        assert screen.table.cells("AAPL")[3].plain == "7s"
        assert screen.table.cells("MSFT")[3].plain == "65s"
        app.store.update(ScanResults, price_ages=(("AAPL", 12.0),))
        await pilot.pause()
        assert built == [] and screen.table.cells("AAPL")[3].plain == "12s"
        assert screen.table.cells("MSFT")[3].plain == "-"
        results = [
            replace(r, close=230.0) if r.symbol == "AAPL" else r for r in demo.report.results
        ]
        app.store.update(ScanResults, report=replace(demo.report, results=results))
        await pilot.pause()
        assert built == [1] and screen.table.cells("AAPL")[2].plain == "230.00"
        await pilot.press("s")
        assert built == [1, 1]
        await pilot.press("slash", "a")
        assert len(built) == 3 and screen.filter_text == "a"
