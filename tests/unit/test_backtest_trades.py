"""SPEC 12, trade by trade: one crafted symbol per exit reason, every number of the first
trade (debit, contracts, exit value, P&L, the day's equity) recomputed by hand from SPEC 12's
formulas (tests.unit.backtest_data: math.erf Black-Scholes, statistics.stdev volatility).

The spread itself is checked against SPEC 5 on the *full* synthetic chain (every Friday,
every strike 0.7-1.3 x spot, both rights: tests.benchmarks.backtest_reference.choose),
which the product prunes.
"""

from __future__ import annotations

import math
from datetime import date

import pytest

from tests.benchmarks.backtest_reference import choose
from tests.unit.backtest_data import (
    ENTRY,
    atr14,
    bars,
    base_closes,
    business_days,
    dte,
    quote,
    sigma_at,
)
from tui_trader.core.backtest import RunResult, RunSpec, Trade, run_backtest
from tui_trader.core.backtest_market import prepare_market
from tui_trader.core.settings import Settings

ALL = RunSpec("ALL", ("HIGH_BASE", "LOW_BASE", "BULL_PULLBACK", "BEAR_RALLY"))


def simulate(closes: list[float | None], settings: Settings) -> RunResult:
    market = prepare_market(bars({"AAA": closes}))
    (run,) = run_backtest(market, settings, 0, len(market.days) - 1, [ALL])
    return run


def check_first_trade(closes: list[float], settings: Settings, reason: str, exit_bar: int) -> Trade:
    """The first trade opens on bar ENTRY and closes on ``exit_bar`` for ``reason``; its
    money is what SPEC 12's formulas give by hand."""
    run = simulate(list(closes), settings)
    days = business_days(len(closes))
    t = run.trades[0]
    entry_day = days[ENTRY]
    spot = closes[ENTRY]
    sig = sigma_at(closes, ENTRY, settings)
    full = choose(entry_day, spot, sig, True, settings)
    assert full is not None
    assert (t.entry_date, t.direction, t.right, t.strategy) == (
        entry_day.isoformat(),
        "LONG",
        "C",
        "HIGH_BASE",
    )
    assert (t.expiry, t.long_strike, t.short_strike) == (full.expiry.isoformat(), full.k1, full.k2)

    d0 = dte(t.expiry, entry_day)
    mid1, _, ask1 = quote(spot, t.long_strike, d0, sig, True, settings)
    mid2, bid2, _ = quote(spot, t.short_strike, d0, sig, True, settings)
    debit = ask1 - bid2
    assert t.entry_debit == pytest.approx(debit, rel=1e-9)
    n = min(10, math.floor(100_000 * 0.02 / (debit * 100)))
    assert t.contracts == n

    x_day = days[exit_bar]
    x_spot = closes[exit_bar]
    x_sig = sigma_at(closes, exit_bar, settings)
    xd = dte(t.expiry, x_day)
    _, xbid1, _ = quote(x_spot, t.long_strike, xd, x_sig, True, settings)
    _, _, xask2 = quote(x_spot, t.short_strike, xd, x_sig, True, settings)
    value = min(max(xbid1 - xask2, 0.0), t.short_strike - t.long_strike)
    assert (t.exit_reason, t.exit_date) == (reason, x_day.isoformat())
    assert t.exit_value == pytest.approx(value, rel=1e-9, abs=1e-12)
    pnl = (value - debit) * 100 * n - 4 * 0.65 * n
    assert t.pnl == pytest.approx(pnl, rel=1e-9)

    # The entry day's equity: initial + (mark - D) * 100 * n - the entry commission.
    mark = mid1 - mid2
    k = ENTRY
    assert run.equity[k] == pytest.approx(100_000 + (mark - debit) * 100 * n - 2 * 0.65 * n)
    return t


def base() -> tuple[list[float], float, float]:
    c = base_closes()
    return c, c[ENTRY], atr14(c, ENTRY)


def test_stop() -> None:
    c, e, a = base()
    check_first_trade([*c, e - 2.5 * a, e], Settings(), "STOP", ENTRY + 1)


def test_r_multiple_target_comes_first_when_several_targets_hold() -> None:
    c, e, a = base()
    s = Settings()
    closes = [*c, e + 4.5 * a, e]  # beyond R (4 ATR), ATR (3 ATR) and Fibonacci targets
    hhv, llv = max(x * 1.006 for x in c[1:]), min(x * 0.994 for x in c[1:])
    assert llv + 1.618 * (hhv - llv) < closes[ENTRY + 1]
    check_first_trade(closes, s, "TARGET_R", ENTRY + 1)


def test_atr_target() -> None:
    c, e, a = base()
    check_first_trade([*c, e + 3.5 * a, e], Settings(), "TARGET_ATR", ENTRY + 1)


def test_fibonacci_target() -> None:
    c, e, a = base()
    s = Settings()
    s.exits.use_r_multiple_target = False
    s.exits.use_atr_target = False
    check_first_trade([*c, e + 6 * a, e], s, "TARGET_FIBO", ENTRY + 1)


def test_time_exit_on_the_first_day_at_or_below_min_days_to_exit() -> None:
    c, e, _ = base()
    closes = [*c, *[e] * 40]  # flat: no price rule holds
    t = check_first_trade(
        closes, Settings(), "TIME", _first_bar_with_dte_at_most(closes, 14, Settings())
    )
    assert dte(t.expiry, date.fromisoformat(t.exit_date)) <= 14


def _first_bar_with_dte_at_most(closes: list[float], limit: int, s: Settings) -> int:
    days = business_days(len(closes))
    full = choose(days[ENTRY], closes[ENTRY], sigma_at(closes, ENTRY, s), True, s)
    assert full is not None
    return next(k for k in range(ENTRY + 1, len(closes)) if (full.expiry - days[k]).days <= limit)


def test_end_closes_what_is_open_on_the_last_day() -> None:
    c, e, _ = base()
    closes = [*c, e, e * 1.001, e * 0.999]
    t = check_first_trade(closes, Settings(), "END", len(closes) - 1)
    run = simulate(closes, Settings())
    assert run.equity[-1] == pytest.approx(100_000 + t.pnl)  # last point: initial + net


def test_a_spread_opened_on_the_last_day_closes_end_at_its_own_day() -> None:
    run = simulate(base_closes(), Settings())  # data ends on the entry bar
    (t,) = run.trades
    assert (t.exit_reason, t.entry_date, t.exit_date) == ("END", t.entry_date, t.entry_date)
    assert t.pnl < 0  # paid the spread's half-spreads and four legs' commission
    assert run.equity[-1] == pytest.approx(100_000 + t.pnl)
    assert not run.exposed[-1]


def test_a_missing_bar_neither_exits_nor_moves_the_mark() -> None:
    c, e, a = base()
    closes: list[float | None] = [*c, None, e - 2.5 * a, e]
    market = prepare_market(bars({"AAA": closes, "BBB": [100.0] * len(closes)}))
    (run,) = run_backtest(market, Settings(), 0, len(market.days) - 1, [ALL])
    t = run.trades[0]
    days = business_days(len(closes))
    assert (t.symbol, t.exit_reason, t.exit_date) == ("AAA", "STOP", days[ENTRY + 2].isoformat())
    assert run.equity[ENTRY + 1] == run.equity[ENTRY]  # AAA kept its last mark
    assert run.exposed[ENTRY + 1]
