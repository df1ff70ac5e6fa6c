"""The daily bars' load on screen (issue 12): ``bars 312/500`` in the footer and
``loading bars 312/500`` in the Scanner's title while it runs, the Scanner showing the
symbols loaded so far; both gone once every symbol is loaded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from tests.tui.conftest import AppFactory
from tests.tui.demo_store import APP_NOW, Demo
from tests.tui.test_snapshots import WIDE, steps
from tui_trader.core.risk import BreakerState
from tui_trader.core.settings import TimingSettings
from tui_trader.state.store import Account, Health, ScanResults, Store
from tui_trader.tui.screens.scanner import ScannerScreen
from tui_trader.tui.widgets.footer import HealthFooter, footer_parts

SnapCompare = Callable[..., bool]


@pytest.mark.parametrize("compact", [False, True])
@pytest.mark.parametrize(
    ("loaded", "total", "text"),
    [(312, 500, "bars 312/500"), (0, 500, "bars 0/500"), (500, 500, ""), (0, 0, "")],
)
def test_the_footer_shows_the_load_only_while_it_runs(
    loaded: int, total: int, text: str, compact: bool
) -> None:
    health = Health(bars_loaded=loaded, bars_total=total)
    parts = footer_parts(health, Account(), BreakerState(), APP_NOW, TimingSettings(),
                         compact=compact)  # fmt: skip
    assert parts["bars"].text == text


def loading_store(slices: list[object], demo: Demo, loaded: int) -> Store:
    """The demo store while ``loaded`` of its 60 symbols' bars are in: the Scanner holds
    the partial scan of those (the first ``loaded`` results)."""
    store = Store(slices)
    partial = replace(demo.report, results=demo.report.results[:loaded])
    store.update(ScanResults, report=partial, running=True, bars_loaded=loaded, bars_total=60)
    store.update(Health, bars_loaded=loaded, bars_total=60)
    return store


async def test_the_scanner_title_says_the_load_and_shows_what_has_loaded(
    make_app: AppFactory, slices: list[object], demo: Demo
) -> None:
    store = loading_store(slices, demo, 25)
    app = make_app(store_=store)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, ScannerScreen)
        title = str(screen.query_one("#title-status").render())
        assert title.startswith("loading bars 25/60 · 25 symbols")
        assert "SCANNING" not in title  # the load says what runs
        assert len(screen.table.keys) == 25
        assert "bars 25/60" in screen.query_one(HealthFooter).text

        store.update(ScanResults, report=demo.report)  # a partial scan of 25 more
        await pilot.pause()
        assert not app.gc_pacer.settling  # the load is not in yet
        store.update(ScanResults, bars_loaded=60)  # the last symbols arrive...
        store.update(Health, bars_loaded=60)
        store.update(ScanResults, report=demo.report, running=False)  # ...the full scan
        await pilot.pause()
        # the universe is loaded: the collector's next quiet pass settles it (gcpacing)
        assert app.gc_pacer.settling or app.gc_pacer.collections == 1
        title = str(screen.query_one("#title-status").render())
        assert title.startswith("60 symbols") and "loading" not in title
        assert len(screen.table.keys) == 60
        assert "bars" not in screen.query_one(HealthFooter).text


def test_scanner_loading_bars_120x40(
    snap_compare: SnapCompare, make_app: AppFactory, slices: list[object], demo: Demo
) -> None:
    """The Scanner 25 symbols into a 60-symbol load: title and footer say 25/60."""
    app = make_app(store_=loading_store(slices, demo, 25))
    assert snap_compare(app, terminal_size=WIDE, run_before=steps())
