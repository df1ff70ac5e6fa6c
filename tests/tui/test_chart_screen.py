"""Issue 13, "a symbol's chart": the Chart screen (``g`` on the Scanner and on a preview).

The series are the scanner's own numbers (core.indicators, core.strategies) on the demo
market's daily bars: checked equal to ``compute_indicators`` on the same bars and, for
the markers, to a scan of the bars cut at each day of the window. Then the short-history
case (30 bars: no SMA200, and the screen says why), the live bar from the scan, the key
flow, the 16-colour theme, plotext's ticks under two hash seeds, and snapshots at 80x24
and 120x40 (regenerate on purpose with ``--snapshot-update`` and read the SVG diff).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from rich.color import ColorType
from textual.pilot import Pilot
from textual.widgets import Static
from textual_plotext.plot import Plot

from tests.engine.conftest import (  # noqa: F401  (pytest finds fixtures by name)
    MakeEngine,
    engine_gateway,
    make_engine,
)
from tests.sim.conftest import fake_time, make_gateway  # noqa: F401
from tests.tui.conftest import AppFactory, RecordingEngine
from tests.tui.demo_store import Demo
from tests.tui.test_ansi_payoff import SIXTEEN, colour_types
from tests.tui.test_backtest_screen import BarsEngine
from tests.tui.test_flows_gateway import dashboard, open_msft_preview, settle
from tui_trader.core.bars import Bars
from tui_trader.core.chart_series import WINDOW_SESSIONS, chart_series, symbol_bars
from tui_trader.core.indicators import compute_indicators
from tui_trader.core.scanner import scan
from tui_trader.demo import market_bars
from tui_trader.sim.gateway import SimGateway
from tui_trader.state.store import ScanResults, Store
from tui_trader.tui.screens.chart import ChartScreen
from tui_trader.tui.screens.help import HelpScreen
from tui_trader.tui.screens.preview import PreviewScreen
from tui_trader.tui.screens.scanner import ScannerScreen
from tui_trader.tui.widgets.price_chart import PricePlot, draw_price, fits_candles

#: A demo symbol whose last 120 sessions hold all four strategies' markers.
MARKED = "AAPL"
SHORT = "SHRT"
SHORT_BARS = 30


@pytest.fixture(scope="module")
def bars(demo: Demo) -> Bars:
    return market_bars(demo.market)


@pytest.fixture(scope="module")
def short_bars(demo: Demo) -> Bars:
    """The demo's AAPL, and SHRT: the last 30 bars of MSFT under another name."""
    rows = [
        (bar.day, name, bar.open, bar.high, bar.low, bar.close, bar.volume)
        for name, symbol, keep in (("AAPL", "AAPL", None), (SHORT, "MSFT", SHORT_BARS))
        for bar in demo.market.daily_bars(symbol)[-(keep or 0) :]
    ]
    frame = pd.DataFrame(rows, columns=["date", "symbol", "open", "high", "low", "close", "volume"])
    return Bars.from_frame(frame)


def cut(one: Bars, t: int) -> Bars:
    """A one-symbol Bars up to and including column ``t``."""
    return Bars(
        symbols=one.symbols,
        dates=one.dates[:, : t + 1],
        open=one.open[:, : t + 1],
        high=one.high[:, : t + 1],
        low=one.low[:, : t + 1],
        close=one.close[:, : t + 1],
        volume=one.volume[:, : t + 1],
    )


# -- the numbers --------------------------------------------------------------------------


def test_the_series_are_core_indicators_on_the_same_bars(demo: Demo, bars: Bars) -> None:
    s = chart_series(bars, MARKED, demo.settings.strategy)
    ind = compute_indicators(bars)
    row = bars.index(MARKED)
    assert s.sessions == WINDOW_SESSIONS and s.history == 521
    for name in ("close", "sma50", "sma200", "hhv20", "llv20", "rsi14"):
        np.testing.assert_array_equal(getattr(s, name), getattr(ind, name)[row, -WINDOW_SESSIONS:])
    for name in ("open", "high", "low"):
        np.testing.assert_array_equal(getattr(s, name), getattr(bars, name)[row, -WINDOW_SESSIONS:])
    # real numbers: the scan's row for AAPL, and SMA50 as a plain mean of the last 50 closes
    scan_row = next(r for r in demo.report.results if r.symbol == MARKED)
    assert s.latest("close") == scan_row.close == pytest.approx(225.82, abs=0.005)
    assert s.latest("sma200") == scan_row.sma200
    assert s.latest("rsi14") == scan_row.rsi14 == pytest.approx(30.9, abs=0.05)
    closes = bars.close[row, -50:]
    assert s.latest("sma50") == pytest.approx(float(np.mean(closes)), rel=1e-13)
    assert s.latest("hhv20") == float(np.max(bars.high[row, -20:]))
    assert s.days[-1].isoformat() == "2026-11-20"


def test_markers_are_on_the_days_the_scanner_says(demo: Demo, bars: Bars) -> None:
    """Each window day: the strategies marked equal the signals of a scan of the bars cut
    at that day (the scanner's own verdict, day by day)."""
    s = chart_series(bars, MARKED, demo.settings.strategy)
    one = symbol_bars(bars, MARKED)
    start = one.n_days - s.sessions
    for k in range(s.sessions):
        report = scan(cut(one, start + k), demo.settings.universe, demo.settings.strategy)
        marked = {m.strategy for m in s.markers if m.index == k}
        assert marked == set(report.results[0].signals), s.days[k]
        assert all(m.day == s.days[k] for m in s.markers if m.index == k)
    directions = {m.strategy: m.direction for m in s.markers}
    assert directions == {
        "HIGH_BASE": "LONG",
        "BULL_PULLBACK": "LONG",
        "LOW_BASE": "SHORT",
        "BEAR_RALLY": "SHORT",
    }
    last = [m.strategy for m in s.markers if m.index == s.sessions - 1]
    assert last == ["LOW_BASE"]  # the scan's AAPL today
    assert tuple(last) == next(r.signals for r in demo.report.results if r.symbol == MARKED)


def test_the_live_bar_is_the_scan_s_provisional_bar(demo: Demo, bars: Bars) -> None:
    one = symbol_bars(bars, MARKED)
    day = s_day = one.last_date(MARKED)
    assert day is not None
    nxt = day + timedelta(days=3)  # Monday after Friday 2026-11-20
    s = chart_series(bars, MARKED, demo.settings.strategy, live=(nxt, 231.5))
    assert s.live and s.days[-1] == nxt and s.days[-2] == s_day
    assert s.close[-1] == s.open[-1] == s.high[-1] == s.low[-1] == 231.5
    report = scan(
        bars.with_provisional(nxt, {MARKED: 231.5}),
        demo.settings.universe,
        demo.settings.strategy,
    )
    row = next(r for r in report.results if r.symbol == MARKED)
    assert s.latest("rsi14") == row.rsi14 and s.latest("sma50") == row.sma50
    assert {m.strategy for m in s.markers if m.index == s.sessions - 1} == set(row.signals)
    # the scan's own close on the loaded last day adds nothing
    same = chart_series(bars, MARKED, demo.settings.strategy, live=(day, float(one.close[0, -1])))
    assert not same.live and same.history == 521


def test_a_short_history_has_no_sma200_and_says_why(demo: Demo, short_bars: Bars) -> None:
    s = chart_series(short_bars, SHORT, demo.settings.strategy)
    assert s.sessions == s.history == SHORT_BARS
    assert s.latest("sma200") is None and s.latest("sma50") is None
    assert not np.isfinite(s.sma200).any()
    assert s.missing_reason("sma200") == "needs 200 bars, 30 loaded"
    assert s.missing_reason("sma50") == "needs 50 bars, 30 loaded"
    assert np.count_nonzero(np.isfinite(s.rsi14)) == SHORT_BARS - 14
    assert np.count_nonzero(np.isfinite(s.hhv20)) == SHORT_BARS - 19
    assert s.missing_reason("rsi14") is None
    assert not any(m.strategy in ("BULL_PULLBACK", "BEAR_RALLY") for m in s.markers)


def test_candles_only_where_each_session_has_a_column(demo: Demo, bars: Bars) -> None:
    s = chart_series(bars, MARKED, demo.settings.strategy)
    assert not fits_candles(s, 120) and fits_candles(s, 130)
    for width, candles in ((80, False), (160, True)):
        plt = Plot()
        assert draw_price(plt, s, width) is candles
        plt.plotsize(width, 20)
        picture = re.sub(r"\x1b\[[0-9;]*m", "", plt.build())
        assert ("█" in picture) is candles  # a candle's body
        assert "▲" in picture and "▼" in picture
        assert "269.13" in picture and "212.30" in picture  # high and low y ticks


# -- the screen ---------------------------------------------------------------------------


def values_text(app: Any) -> str:
    return str(app.screen.query_one("#chart-values", Static).render())


async def test_g_on_the_scanner_and_on_a_preview_opens_the_chart(
    make_app: AppFactory, bars: Bars
) -> None:
    app = make_app(engine=BarsEngine(bars))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        scanner = app.screen
        assert isinstance(scanner, ScannerScreen)
        scanner.table.select_key("MSFT")
        await pilot.press("g")
        await pilot.pause()
        chart = app.screen
        assert isinstance(chart, ChartScreen) and chart.symbol == "MSFT"
        assert chart.series is not None and chart.series.latest("close") is not None
        text = values_text(app)
        assert f"Close {chart.series.latest('close'):,.2f}" in text
        assert "SMA200 " in text and "RSI14 " in text and "▲ LONG ▼ SHORT" in text
        assert "120 sessions to " in str(chart.query_one("#title-text").render())
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is scanner
        scanner.table.select_key("AMZN")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        preview = app.screen
        assert isinstance(preview, PreviewScreen)
        await pilot.press("g")
        await pilot.pause()
        assert isinstance(app.screen, ChartScreen) and app.screen.symbol == "AMZN"
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is preview


async def test_g_where_there_is_no_symbol_says_where_it_works(
    make_app: AppFactory, bars: Bars
) -> None:
    app = make_app(engine=BarsEngine(bars))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        await pilot.pause()
        await pilot.press("g")
        await pilot.pause()
        assert not isinstance(app.screen, ChartScreen)
        assert any("No symbol to chart here" in n.message for n in app._notifications)


async def test_without_bars_the_chart_says_so(make_app: AppFactory) -> None:
    app = make_app(engine=RecordingEngine())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("g")
        await pilot.pause()
        assert isinstance(app.screen, ChartScreen)
        assert "No daily bars: no engine has loaded them yet." in values_text(app)


async def test_the_chart_of_30_bars_says_sma200_is_missing(
    make_app: AppFactory, short_bars: Bars
) -> None:
    app = make_app(engine=BarsEngine(short_bars))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.push_screen(ChartScreen(SHORT))
        await pilot.pause()
        text = values_text(app)
        assert "SMA200 n/a (needs 200 bars, 30 loaded)" in text
        assert "SMA50 n/a (needs 50 bars, 30 loaded)" in text
        assert "RSI14 n/a" not in text
        app.push_screen(ChartScreen("ZZZZ"))
        await pilot.pause()
        assert "No daily bars for ZZZZ" in values_text(app)


async def test_a_new_scan_moves_the_live_bar_and_nothing_else_redraws(
    make_app: AppFactory, store: Store, bars: Bars
) -> None:
    app = make_app(engine=BarsEngine(bars))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("g")
        await pilot.pause()
        chart = app.screen
        assert isinstance(chart, ChartScreen) and chart.symbol == MARKED
        before = chart.series
        assert before is not None and not before.live
        store.update(ScanResults, price_ages=((MARKED, 5.0),))
        await pilot.pause()
        assert chart.series is before  # the same numbers: not computed or drawn again
        report = store.get(ScanResults).report
        assert report is not None
        monday = before.days[-1] + timedelta(days=3)
        rows = [
            replace(r, last_date=monday, close=231.5) if r.symbol == MARKED else r
            for r in report.results
        ]
        store.update(ScanResults, report=replace(report, results=rows))
        await pilot.pause()
        after = chart.series
        assert after is not None and after.live and after.days[-1] == monday
        assert after.latest("close") == 231.5 and after.days[-2] == before.days[-1]
        assert "Close 231.50" in values_text(app)
        assert "120 sessions to 2026-11-23" in str(chart.query_one("#title-text").render())
        status = chart.query_one("#title-status")
        said = str(status.render())
        assert said == "esc back · last bar live"
        assert status.region.width >= len(said)  # whole at 80 columns, not cut


async def test_help_lists_the_chart_keys(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        sections = dict(app.screen.sections())
        assert ("g", "Chart of the highlighted (Scanner) or previewed symbol") in sections[
            "Everywhere"
        ]
        assert [k for k, _ in sections["Chart"]] == ["esc"]


async def test_the_ansi_theme_draws_the_chart_in_the_16_colours_only(
    make_app: AppFactory, bars: Bars
) -> None:
    app = make_app(engine=BarsEngine(bars), theme="ansi")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("g")
        await pilot.pause()
        plot = app.screen.query_one(PricePlot)
        segments = [seg for y in range(plot.size.height) for seg in plot.render_line(y)]
    assert colour_types(segments) <= SIXTEEN
    standard = {
        seg.style.color.number
        for seg in segments
        if seg.style and seg.style.color and seg.style.color.type is ColorType.STANDARD
    }
    # close (blue+), SMA50 (cyan), SMA200 (magenta), HHV/LLV (orange), markers
    assert {12, 6, 5, 3, 10, 1} <= standard and 0 not in standard


_PLOT_SCRIPT = """
import json
import re
import sys
from datetime import date
from types import SimpleNamespace
import numpy as np
from textual_plotext.plot import Plot
from tui_trader.tui.widgets.price_chart import draw_price, draw_rsi
raw = json.load(sys.stdin)
s = SimpleNamespace(
    **{k: np.array(v, dtype=float) for k, v in raw["arrays"].items()},
    days=[date.fromisoformat(d) for d in raw["days"]],
    markers=[SimpleNamespace(index=k, direction=d) for k, d in raw["markers"]],
    sessions=len(raw["days"]),
)
for draw, height in ((lambda p: draw_price(p, s, 70), 12), (lambda p: draw_rsi(p, s), 7)):
    plt = Plot()
    draw(plt)
    plt.plotsize(70, height)
    print(re.sub(r"\\x1b\\[[0-9;]*m", "", plt.build()))
"""


def test_the_chart_is_the_same_whatever_the_hash_seed(demo: Demo, bars: Bars) -> None:
    """plotext de-duplicates ticks through a set: the labels are put back in order, so
    two hash seeds draw the same picture (the series handed over as JSON: the drawing
    process needs no numba)."""
    import json

    s = chart_series(bars, MARKED, demo.settings.strategy)
    names = ("open", "high", "low", "close", "sma50", "sma200", "hhv20", "llv20", "rsi14")
    raw = {
        "arrays": {n: [None if np.isnan(v) else v for v in getattr(s, n).tolist()] for n in names},
        "days": [d.isoformat() for d in s.days],
        "markers": [(m.index, m.direction) for m in s.markers],
    }

    def draw(seed: str) -> subprocess.Popen[str]:
        env = {**os.environ, "PYTHONHASHSEED": seed}
        cmd = [sys.executable, "-c", _PLOT_SCRIPT]
        return subprocess.Popen(
            cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    procs = [draw(seed) for seed in ("1", "4")]
    pictures = [p.communicate(json.dumps(raw), timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert "2026-11-20" in pictures[0] and "269.13" in pictures[0] and "70" in pictures[0]
    assert "▲" in pictures[0] and "▼" in pictures[0]
    assert pictures[0] == pictures[1]


async def test_the_chart_through_the_real_engine_and_the_simulated_gateway(
    make_engine: MakeEngine,  # noqa: F811
    engine_gateway: SimGateway,  # noqa: F811
    tmp_path: Path,
) -> None:
    """As in the demo: the engine loads the gateway's daily bars, scans them with the live
    prices; ``g`` on the MSFT preview charts them, today's markers being the scan's."""
    engine = await make_engine()
    app = dashboard(engine, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await open_msft_preview(pilot, engine)
        await pilot.press("g")
        await settle(pilot)
        chart = app.screen
        assert isinstance(chart, ChartScreen) and chart.symbol == "MSFT"
        s = chart.series
        loaded = engine.daily_bars()
        assert s is not None and loaded is not None
        row = engine.universe.scan_row("MSFT")
        assert row is not None and row.last_date is not None
        assert s.days[-1] == row.last_date and s.latest("close") == row.close
        assert s.latest("sma50") == row.sma50 and s.latest("rsi14") == row.rsi14
        today = {m.strategy for m in s.markers if m.index == s.sessions - 1}
        assert today == set(row.signals) and row.direction == "LONG"
        assert s.history >= 200 and s.latest("sma200") == row.sma200


# -- snapshots ----------------------------------------------------------------------------

SnapCompare = Callable[..., bool]


def chart_of(symbol: str) -> Callable[[Pilot[Any]], Awaitable[None]]:
    """Put the scanner cursor on ``symbol`` and press ``g``."""

    async def run(pilot: Pilot[Any]) -> None:
        await pilot.pause()
        screen = pilot.app.screen
        assert isinstance(screen, ScannerScreen)
        screen.table.select_key(symbol)
        await pilot.press("g")
        await pilot.pause()
        await pilot.pause()

    return run


@pytest.mark.parametrize(
    "size", [(80, 24), (120, 40), (160, 40)], ids=["80x24", "120x40", "160x40-candles"]
)
def test_chart_snapshot(
    snap_compare: SnapCompare, make_app: AppFactory, bars: Bars, size: tuple[int, int]
) -> None:
    app = make_app(engine=BarsEngine(bars))
    assert snap_compare(app, terminal_size=size, run_before=chart_of(MARKED))
