"""The scan (core/scanner.py): every symbol reported at its latest bar, with reasons, and
its signals equal to SPEC 4 evaluated by hand on TA-Lib's indicator values."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
import talib

from tui_trader.core.bars import Bars
from tui_trader.core.scanner import SymbolScan, format_table, scan
from tui_trader.core.settings import StrategySettings, UniverseSettings

START = date(2024, 1, 1)
DICT_KEYS = [
    "symbol", "close", "rsi14", "atr14", "sma50", "sma200", "hhv20", "llv20", "avgvol20",
    "eligible", "reasons", "signals", "direction",
]  # fmt: skip


def _frame(series: dict[str, tuple[np.ndarray, ...]], start: date = START) -> pd.DataFrame:
    """symbol -> (close, volume[, first_day_offset]) as a long frame; high/low +-0.5 %."""
    rows = []
    for sym, data in series.items():
        close, volume = data[0], data[1]
        offset = int(data[2][0]) if len(data) > 2 else 0
        for k, (c, v) in enumerate(zip(close, volume, strict=True)):
            day = start + timedelta(days=offset + k)
            rows.append((day, sym, c, c * 1.005, c * 0.995, c, v))
    return pd.DataFrame(rows, columns=["date", "symbol", "open", "high", "low", "close", "volume"])


def _by_symbol(results: list[SymbolScan]) -> dict[str, SymbolScan]:
    return {r.symbol: r for r in results}


def _ticks(*values: float) -> Iterator[float]:
    yield from values


@pytest.fixture
def report_fixture() -> tuple[Bars, dict[str, SymbolScan]]:
    n = 260
    up = 50.0 + 0.5 * np.arange(n)
    down = 200.0 - 0.5 * np.arange(n)
    liquid = np.full(n, 2e6)
    frame = _frame(
        {
            "UP": (up, liquid),
            "DOWN": (down, liquid),
            "THIN": (up, np.full(n, 5e5)),
            "CHEAP": (up / 10, liquid),
            "YOUNG": (up[:150], liquid[:150], np.array([n - 150])),
            "STALE": (up[:-1], liquid[:-1]),
        }
    )
    bad = pd.DataFrame(
        [(START, "EMPTY", 10.0, 9.0, 11.0, 10.0, 1e6)],  # high < low: dropped
        columns=frame.columns,
    )
    bars = Bars.from_frame(pd.concat([frame, bad]))
    clock = _ticks(10.0, 10.125)
    report = scan(
        bars,
        UniverseSettings(),
        StrategySettings(),
        market_caps={"UP": 2e12, "DOWN": 5e9},
        clock=lambda: next(clock),
    )
    assert report.elapsed_ms == pytest.approx(125.0)
    assert report.asof == START + timedelta(days=n - 1)
    assert report.symbols == 7 == len(report.results)
    return bars, _by_symbol(report.results)


def test_signals_directions_and_reasons(
    report_fixture: tuple[Bars, dict[str, SymbolScan]],
) -> None:
    _, res = report_fixture
    up, down = res["UP"], res["DOWN"]
    assert up.signals == ("HIGH_BASE",) and up.direction == "LONG"
    assert up.eligible and up.reasons == () and up.tradable
    assert down.signals == ("LOW_BASE",) and down.direction == "SHORT"
    assert not down.eligible and down.reasons == ("market_cap_below_min",)
    assert res["THIN"].reasons == ("avgvol_below_min", "market_cap_unknown")
    assert res["THIN"].signals == ("HIGH_BASE",)  # shown, with why it cannot trade
    assert res["CHEAP"].reasons == ("price_below_min", "market_cap_unknown")
    young = res["YOUNG"]
    assert young.eligible and young.reasons == ("market_cap_unknown", "insufficient_history")
    assert young.sma200 is None and young.sma50 is not None
    stale = res["STALE"]
    assert stale.reasons == ("stale", "market_cap_unknown") and not stale.eligible
    assert stale.last_date == START + timedelta(days=258)
    empty = res["EMPTY"]
    assert empty.reasons == ("no_data", "market_cap_unknown", "insufficient_history")
    assert not empty.eligible and empty.close is None and empty.signals == ()


def test_values_are_the_last_bar(report_fixture: tuple[Bars, dict[str, SymbolScan]]) -> None:
    bars, res = report_fixture
    up = res["UP"]
    close = bars.close[bars.index("UP")]
    high, low = bars.high[bars.index("UP")], bars.low[bars.index("UP")]
    assert up.close == close[-1] == 50.0 + 0.5 * 259
    assert up.rsi14 == 100.0  # only gains
    assert up.atr14 == pytest.approx(talib.ATR(high, low, close, 14)[-1], rel=1e-12)
    assert up.sma50 == pytest.approx(close[-50:].mean(), rel=1e-12)
    assert up.sma200 == pytest.approx(close[-200:].mean(), rel=1e-12)
    assert up.hhv20 == high[-1] and up.llv20 == low[-20]
    assert up.avgvol20 == 2e6


def test_to_dict_is_strict_json(report_fixture: tuple[Bars, dict[str, SymbolScan]]) -> None:
    _, res = report_fixture
    for r in res.values():
        d = r.to_dict()
        assert list(d) == DICT_KEYS
        json.dumps(d, allow_nan=False)  # raises on NaN / inf
    assert res["EMPTY"].to_dict()["rsi14"] is None
    assert res["UP"].to_dict()["signals"] == ["HIGH_BASE"]
    assert res["UP"].to_dict()["direction"] == "LONG"
    assert res["CHEAP"].to_dict()["direction"] == "LONG"
    assert res["YOUNG"].to_dict()["reasons"] == ["market_cap_unknown", "insufficient_history"]


def test_report_to_dict_and_table(report_fixture: tuple[Bars, dict[str, SymbolScan]]) -> None:
    bars, _ = report_fixture
    clock = _ticks(0.0, 0.5)
    report = scan(bars, UniverseSettings(), StrategySettings(), clock=lambda: next(clock))
    d = report.to_dict()
    assert d["asof"] == "2024-09-16" and d["symbols"] == 7 and d["elapsed_ms"] == 500.0
    assert [r["symbol"] for r in d["results"]] == sorted(bars.symbols)
    json.dumps(d, allow_nan=False)
    table = format_table(report.results).splitlines()
    assert table[0].split()[:3] == ["SYMBOL", "DATE", "CLOSE"]
    assert len(table) == 8
    up_line = next(line for line in table if line.startswith("UP "))
    assert "HIGH_BASE" in up_line and "LONG" in up_line and "179.50" in up_line
    empty_line = next(line for line in table if line.startswith("EMPTY"))
    assert "no_data" in empty_line


def test_provisional_bar_moves_today(report_fixture: tuple[Bars, dict[str, SymbolScan]]) -> None:
    """A live last below the 20-day high by more than 2 ATR takes UP out of its high base."""
    bars, _ = report_fixture
    today = START + timedelta(days=260)
    live = bars.with_provisional(today, {"UP": 150.0, "DOWN": 70.5}, {"UP": 1e6})
    res = _by_symbol(scan(live, UniverseSettings(), StrategySettings()).results)
    assert res["UP"].last_date == today and res["UP"].close == 150.0
    assert "HIGH_BASE" not in res["UP"].signals
    assert res["DOWN"].avgvol20 is None  # no volume for today's bar: unknown, not guessed
    assert "avgvol_unknown" in res["DOWN"].reasons
    assert "stale" in res["THIN"].reasons  # no quote today: yesterday's signal can't trade


def test_empty_bars() -> None:
    bars = Bars.from_frame(
        pd.DataFrame(columns=["date", "symbol", "open", "high", "low", "close", "volume"])
    )
    report = scan(bars, UniverseSettings(), StrategySettings())
    assert report.asof is None and report.results == []
    assert report.to_dict()["asof"] is None


def test_signals_match_spec_on_talib_values() -> None:
    """Random walks through the whole scan; each symbol's signals re-derived from TA-Lib's
    indicators with the SPEC 4 comparisons written out by hand."""
    rng = np.random.default_rng(2024)
    n_sym, n_days = 300, 240
    series = {}
    for i in range(n_sym):
        length = n_days - int(rng.integers(0, 60))  # 180..240 bars: some too short
        close = 40.0 * np.exp(np.cumsum(rng.normal(0.0005, 0.02, length)))
        series[f"S{i:03d}"] = (close, np.full(length, 2e6), np.array([n_days - length]))
    bars = Bars.from_frame(_frame(series))
    s = StrategySettings()
    report = scan(bars, UniverseSettings(), s)
    counts: dict[str, int] = {}
    for r in report.results:
        row = bars.index(r.symbol)
        valid = ~np.isnan(bars.close[row])
        c, h, lo = bars.close[row, valid], bars.high[row, valid], bars.low[row, valid]
        rsi = talib.RSI(c, 14)
        atr = talib.ATR(h, lo, c, 14)[-1]
        sma50, sma200 = talib.SMA(c, 50)[-1], talib.SMA(c, 200)[-1]
        hhv, llv = h[-20:].max(), lo[-20:].min()
        expected = []
        if (hhv - c[-1]) / atr <= s.high_base_max_atr_ratio and rsi[-1] >= s.high_base_min_rsi:
            expected.append("HIGH_BASE")
        if (c[-1] - llv) / atr <= s.low_base_min_atr_ratio and rsi[-1] <= s.low_base_max_rsi:
            expected.append("LOW_BASE")
        trend_ok = c.size >= 201
        if trend_ok and sma50 > sma200 and rsi[-2] < s.bull_pullback_rsi_threshold <= rsi[-1]:
            expected.append("BULL_PULLBACK")
        if trend_ok and sma50 < sma200 and rsi[-2] > s.bear_rally_rsi_threshold >= rsi[-1]:
            expected.append("BEAR_RALLY")
        assert list(r.signals) == expected, r.symbol
        assert ("insufficient_history" in r.reasons) is (c.size < 201)
        assert r.rsi14 == pytest.approx(rsi[-1], rel=1e-12)
        assert (r.sma200 is None) is math.isnan(sma200)
        for name in expected:
            counts[name] = counts.get(name, 0) + 1
    assert set(counts) == {"HIGH_BASE", "LOW_BASE", "BULL_PULLBACK", "BEAR_RALLY"}


def test_change_pct_is_the_move_from_the_previous_close() -> None:
    import pandas as pd

    from tui_trader.core.bars import Bars
    from tui_trader.core.scanner import scan
    from tui_trader.core.settings import StrategySettings, UniverseSettings

    rows = [
        ("2026-11-18", "A", 100.0), ("2026-11-19", "A", 100.0), ("2026-11-20", "A", 101.5),
        ("2026-11-20", "B", 50.0),
    ]  # fmt: skip
    frame = pd.DataFrame(
        [(pd.Timestamp(d), s, c, c, c, c, 1e6) for d, s, c in rows],
        columns=["date", "symbol", "open", "high", "low", "close", "volume"],
    )
    report = scan(Bars.from_frame(frame), UniverseSettings(), StrategySettings())
    by_symbol = {r.symbol: r for r in report.results}
    assert by_symbol["A"].change_pct == pytest.approx(1.5)
    assert by_symbol["B"].change_pct is None  # one bar: no previous close
    assert "change_pct" not in by_symbol["A"].to_dict()  # the JSON contract is unchanged
