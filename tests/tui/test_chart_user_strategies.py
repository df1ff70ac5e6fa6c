"""Issue 13 x issue 15: the trader's own strategies on the Chart screen.

A strategy module is written to the user strategies folder and loaded as the engine
loads it (``session_from_settings``); its markers are checked against the days counted
by hand on the demo's AAPL (a 30-day closing breakout), against the scan's verdict on the
last day, drawn off the UI's loop, and a strategy that raises is one line under the chart
while the built-in markers stay.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from textual.widgets import Static

from tests.engine.conftest import (  # noqa: F401  (pytest finds fixtures by name)
    MakeEngine,
    engine_gateway,
    engine_settings,
    make_engine,
)
from tests.sim.conftest import fake_time, make_gateway, until  # noqa: F401
from tests.tui.conftest import AppFactory
from tests.tui.demo_store import Demo
from tests.tui.test_backtest_screen import BarsEngine
from tests.tui.test_flows_gateway import dashboard, settle
from tui_trader.core.bars import Bars
from tui_trader.core.chart_series import chart_series, symbol_bars
from tui_trader.core.scanner import scan
from tui_trader.core.settings import Settings
from tui_trader.demo import market_bars
from tui_trader.engine.user_strategies import (
    UserScanPass,
    UserStrategySession,
    session_from_settings,
    strategies_dir,
)
from tui_trader.sim.gateway import SimGateway
from tui_trader.tui.screens.chart import ChartScreen, UserStrategiesSource
from tui_trader.tui.screens.scanner import ScannerScreen
from tui_trader.tui.widgets.price_chart import USER_LONG_MARK, USER_SHORT_MARK

SnapCompare = Callable[..., bool]
MODULE = '''
import threading
import pandas as pd

THREADS = []


def breakout(df, params):
    """LONG on a close above the highest of the ``days`` closes before, SHORT below the
    lowest."""
    THREADS.append(threading.current_thread().name)
    before = df["close"].shift(1).rolling(params["days"])
    out = pd.Series(None, index=df.index, dtype=object)
    out[df["close"] > before.max()] = "LONG"
    out[df["close"] < before.min()] = "SHORT"
    return out


def broken(df, params):
    return 1 / 0
'''
# The demo's AAPL over the chart's 120 sessions, counted by hand (a loop over the closes).
BREAKOUT_LONG = ["2026-06-18", "2026-06-23", "2026-06-25", "2026-07-08", "2026-07-09",
                 "2026-09-04", "2026-09-11", "2026-09-14", "2026-11-11", "2026-11-12"]  # fmt: skip
BREAKOUT_SHORT = ["2026-07-30", "2026-08-04", "2026-08-07", "2026-08-24", "2026-08-25",
                  "2026-08-26", "2026-08-27", "2026-11-19", "2026-11-20"]  # fmt: skip


@pytest.fixture(scope="module")
def bars(demo: Demo) -> Bars:
    return market_bars(demo.market)


@pytest.fixture
def user_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> str:
    """A user config dir whose strategies folder holds a module named for this test."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    folder = strategies_dir()
    folder.mkdir(parents=True)
    name = f"chart_{request.node.name.replace('[', '_').replace(']', '').replace('-', '_')}"
    (folder / f"{name}.py").write_text(MODULE)
    return name


def with_strategies(demo: Demo, module: str, *names: str) -> Settings:
    """The demo's settings with ``[strategies.NAME]`` for ``names`` (workers 0)."""
    section: dict[str, Any] = {"workers": 0}
    for name in names:
        section[name] = {"function": f"{module}:{name}", "params": {"days": 30}}
    data = demo.settings.model_dump()
    data["strategies"] = section
    return Settings.model_validate(data)


def session(demo: Demo, module: str, *names: str) -> UserStrategySession:
    return session_from_settings(with_strategies(demo, module, *names))


def test_user_markers_are_on_the_days_the_strategy_says(
    demo: Demo, bars: Bars, user_module: str
) -> None:
    user = session(demo, user_module, "breakout").active()
    s = chart_series(bars, "AAPL", demo.settings.strategy, user=user)
    assert s.user_strategies == ("BREAKOUT",) and s.faults == ()
    mine = [m for m in s.markers if m.strategy == "BREAKOUT"]
    assert all(m.user for m in mine) and not any(m.user for m in s.markers if m not in mine)
    assert [m.day.isoformat() for m in mine if m.direction == "LONG"] == BREAKOUT_LONG
    assert [m.day.isoformat() for m in mine if m.direction == "SHORT"] == BREAKOUT_SHORT
    assert all(s.days[m.index] == m.day for m in mine)
    # the same numbers by hand: a close above the max of the 30 closes before
    one = symbol_bars(bars, "AAPL")
    c = one.close[0]
    start = one.n_days - s.sessions
    by_hand = [k for k in range(s.sessions) if c[start + k] > np.max(c[start + k - 30 : start + k])]
    assert [m.index for m in mine if m.direction == "LONG"] == by_hand
    # the built-in markers are unchanged by the user strategy
    plain = chart_series(bars, "AAPL", demo.settings.strategy)
    assert [m for m in s.markers if not m.user] == list(plain.markers)
    # the last day is the scan's verdict (the same evaluation path, user strategies included)
    report = scan(bars, demo.settings.universe, demo.settings.strategy, user=user)
    row = next(r for r in report.results if r.symbol == "AAPL")
    last = [m.strategy for m in s.markers if m.index == s.sessions - 1]
    assert tuple(last) == row.signals == ("LOW_BASE", "BREAKOUT")


def test_a_faulting_user_strategy_has_no_markers_and_the_others_stay(
    demo: Demo, bars: Bars, user_module: str
) -> None:
    user = session(demo, user_module, "breakout", "broken").active()
    s = chart_series(bars, "AAPL", demo.settings.strategy, user=user)
    assert s.user_strategies == ("BREAKOUT",)
    assert [f.reason for f in s.faults] == [
        "BROKEN raised ZeroDivisionError: division by zero (on AAPL)"
    ]
    assert not any(m.strategy == "BROKEN" for m in s.markers)
    assert len([m for m in s.markers if m.strategy == "BREAKOUT"]) == 19


class UserEngine(BarsEngine):
    """Bars and the user strategies' scan pass, as the engine has them."""

    def __init__(self, bars: Bars, settings: Settings) -> None:
        super().__init__(bars)
        self.user_pass = UserScanPass(session_from_settings(settings), settings, lambda r: None)


def notes(app: Any) -> str:
    widget = app.screen.query_one("#chart-notes", Static)
    return str(widget.render()) if widget.display else ""


async def test_the_chart_draws_user_markers_off_the_loop_and_names_them(
    make_app: AppFactory, demo: Demo, bars: Bars, user_module: str
) -> None:
    engine = UserEngine(bars, with_strategies(demo, user_module, "breakout"))
    assert isinstance(engine, UserStrategiesSource)
    app = make_app(engine=engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("g")  # the Scanner's first row: AAPL
        await app.workers.wait_for_complete()
        await pilot.pause()
        chart = app.screen
        assert isinstance(chart, ChartScreen) and chart.symbol == "AAPL"
        s = chart.series
        assert s is not None and s.user_strategies == ("BREAKOUT",)
        days = [m.day.isoformat() for m in s.markers if m.strategy == "BREAKOUT"]
        assert sorted(days) == sorted(BREAKOUT_LONG + BREAKOUT_SHORT)
        text = str(chart.query_one("#chart-values", Static).render())
        assert f"{USER_LONG_MARK}{USER_SHORT_MARK} BREAKOUT" in text
        assert f"11-20 ▼LOW_BASE {USER_SHORT_MARK}BREAKOUT" in text
        assert notes(app) == ""
    threads = __import__(user_module).THREADS
    assert threads and threading.main_thread().name not in threads


async def test_a_failing_or_disabled_strategy_is_one_line_under_the_chart(
    make_app: AppFactory, demo: Demo, bars: Bars, user_module: str
) -> None:
    engine = UserEngine(bars, with_strategies(demo, user_module, "breakout", "broken"))
    app = make_app(engine=engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("g")
        await app.workers.wait_for_complete()
        await pilot.pause()
        chart = app.screen
        assert isinstance(chart, ChartScreen) and chart.series is not None
        assert notes(app) == (
            "Strategy BROKEN is not drawn: BROKEN raised ZeroDivisionError: division by zero "
            "(on AAPL)"
        )
        assert any(m.strategy == "LOW_BASE" for m in chart.series.markers)
        # the session disables it (a scan faulted): the chart says so, and runs the rest
        engine.user_pass.session.record(chart.series.faults)
        await pilot.press("escape", "g")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert notes(app) == (
            "Strategy BROKEN is disabled for this session: BROKEN raised ZeroDivisionError: "
            "division by zero (on AAPL)"
        )
        assert app.screen.series.user_strategies == ("BREAKOUT",)  # type: ignore[attr-defined]


def test_chart_with_a_user_strategy_120x40(
    snap_compare: SnapCompare, make_app: AppFactory, demo: Demo, bars: Bars, user_module: str
) -> None:
    app = make_app(
        engine=UserEngine(bars, with_strategies(demo, user_module, "breakout", "broken"))
    )

    async def run(pilot: Any) -> None:
        await pilot.pause()
        await pilot.press("g")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 40), run_before=run)


async def test_the_real_engine_s_user_strategies_on_its_chart(
    make_engine: MakeEngine,  # noqa: F811
    engine_gateway: SimGateway,  # noqa: F811
    tmp_path: Path,
    user_module: str,
) -> None:
    """The engine is a :class:`UserStrategiesSource`: ``g`` charts its session's strategy,
    and today's markers are its scan's signals, user strategies included."""
    settings = engine_settings(
        engine_gateway.port,
        strategies={
            "workers": 0,
            "breakout": {"function": f"{user_module}:breakout", "params": {"days": 30}},
        },
    )
    engine = await make_engine(settings=settings)
    assert isinstance(engine, UserStrategiesSource)
    await until(lambda: engine.user_pass.passes >= 1, 10.0, "the user strategies' pass")
    app = dashboard(engine, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        scanner = app.screen
        assert isinstance(scanner, ScannerScreen) and scanner.table.select_key("MSFT")
        await pilot.press("g")
        await settle(pilot)
        chart = app.screen
        assert isinstance(chart, ChartScreen) and chart.series is not None
        s = chart.series
        assert s.user_strategies == ("BREAKOUT",) and s.faults == ()
        row = engine.universe.scan_row("MSFT")
        assert row is not None and s.days[-1] == row.last_date
        today = tuple(m.strategy for m in s.markers if m.index == s.sessions - 1)
        assert today == row.signals
        assert any(m.strategy == "BREAKOUT" for m in s.markers)
