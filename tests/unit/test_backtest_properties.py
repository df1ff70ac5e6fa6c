"""Properties of every back-test (hypothesis: random small universes, random settings):
equity = initial + realised + open marks on every day (the marks recomputed by hand from
the trades), no trade exits before it enters, the P&L's sign follows exit value vs debit,
and the book's limits hold."""

from __future__ import annotations

from collections import Counter
from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.backtest_data import quote
from tui_trader.core.backtest import RunResult, standard_runs
from tui_trader.core.backtest import run_backtest as simulate
from tui_trader.core.backtest_market import Market, prepare_market
from tui_trader.core.bars import Bars
from tui_trader.core.settings import Settings


def universe(seed: int, n_sym: int, n_days: int) -> pd.DataFrame:
    """Random walks with gaps (missing bars) and a few bad bars (dropped as SPEC 1 says)."""
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2023-01-02", periods=n_days).strftime("%Y-%m-%d")
    rows = []
    for k in range(n_sym):
        vol = rng.choice([0.01, 0.02, 0.035])
        close = rng.uniform(30, 400) * np.exp(np.cumsum(rng.normal(0.001, vol, n_days)))
        for t in range(n_days):
            if t > 25 and rng.random() < 0.05:
                continue  # no bar that day
            c = close[t]
            bad = rng.random() < 0.01
            rows.append((days[t], f"S{k}", c, c * 1.01, c * 0.99, -1.0 if bad else c, 3e6))
    return pd.DataFrame(rows, columns=["date", "symbol", "open", "high", "low", "close", "volume"])


config = st.fixed_dictionaries(
    {
        "max_positions": st.integers(1, 4),
        "max_daily_trades": st.integers(1, 3),
        "stop": st.sampled_from([0.5, 1.0, 2.0]),
        "fibo": st.booleans(),
        "min_days_to_exit": st.sampled_from([0, 7, 14, 25]),
        "commission": st.sampled_from([0.0, 0.65, 5.0]),
        "risk": st.sampled_from([0.005, 0.02, 0.1]),
        "half_spread_pct": st.sampled_from([0.0, 0.02, 0.1]),
    }
)


def make_settings(c: dict[str, object]) -> Settings:
    s = Settings()
    s.strategy.high_base_min_rsi = 50.0  # more signals on short random walks
    s.strategy.low_base_max_rsi = 50.0
    s.strategy.low_base_min_atr_ratio = 1.5
    s.risk.max_positions = int(c["max_positions"])  # type: ignore[call-overload]
    s.risk.max_daily_trades = int(c["max_daily_trades"])  # type: ignore[call-overload]
    s.risk.risk_per_trade = float(c["risk"])  # type: ignore[arg-type]
    s.exits.stop_loss_atr_mult = float(c["stop"])  # type: ignore[arg-type]
    s.exits.use_fibo_targets = bool(c["fibo"])
    s.exits.min_days_to_exit = int(c["min_days_to_exit"])  # type: ignore[call-overload]
    s.backtest.commission_per_contract = float(c["commission"])  # type: ignore[arg-type]
    s.backtest.half_spread_pct = float(c["half_spread_pct"])  # type: ignore[arg-type]
    return s


def open_marks(run: RunResult, market: Market, s: Settings) -> np.ndarray:
    """Per day: the open spreads' (mark - D) * 100 * n - entry commission, from the trades,
    each marked at its symbol's latest bar on or before the day (SPEC 12's marks)."""
    out = np.zeros(run.days.shape[0])
    sigma = market.sigma(s.backtest.iv_multiplier)
    day_index = {d: k for k, d in enumerate(run.days.astype("datetime64[D]").tolist())}
    for t in run.trades:
        row = market.bars.index(t.symbol)
        dates = market.bars.dates[row]
        first, last = (
            day_index[date.fromisoformat(t.entry_date)],
            day_index[date.fromisoformat(t.exit_date)],
        )
        for k in range(first, last):
            col = int(np.searchsorted(dates, run.days[k], side="right")) - 1
            spot = float(market.bars.close[row, col])
            dte = (date.fromisoformat(t.expiry) - dates[col].item()).days
            call = t.right == "C"
            m1 = quote(spot, t.long_strike, dte, float(sigma[row, col]), call, s)[0]
            m2 = quote(spot, t.short_strike, dte, float(sigma[row, col]), call, s)[0]
            comm = 2 * s.backtest.commission_per_contract * t.contracts
            out[k] += (m1 - m2 - t.entry_debit) * 100 * t.contracts - comm
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1), n_sym=st.integers(2, 4), n_days=st.integers(40, 90), c=config
)
def test_properties_of_every_run(seed: int, n_sym: int, n_days: int, c: dict[str, object]) -> None:
    s = make_settings(c)
    market = prepare_market(Bars.from_frame(universe(seed, n_sym, n_days)))
    runs = simulate(market, s, 0, len(market.days) - 1, standard_runs())
    for run in runs:
        days = [str(d) for d in run.days]
        realised = np.array([sum(t.pnl for t in run.trades if t.exit_date <= d) for d in days])
        held = open_marks(run, market, s)
        initial = s.backtest.initial_equity
        np.testing.assert_allclose(run.equity, initial + realised + held, rtol=0, atol=1e-6)
        np.testing.assert_allclose(run.realised + run.open_value + initial, run.equity, atol=1e-6)
        assert run.equity[-1] == pytest.approx(initial + sum(t.pnl for t in run.trades))

        per_day = Counter(t.entry_date for t in run.trades)
        assert max(per_day.values(), default=0) <= s.risk.max_daily_trades
        for t in run.trades:
            assert t.exit_date >= t.entry_date
            assert t.exit_date > t.entry_date or t.exit_reason == "END"
            assert 0.0 <= t.exit_value <= abs(t.short_strike - t.long_strike)
            assert 1 <= t.contracts <= s.risk.max_contracts_per_trade
            before_costs = t.pnl + 4 * s.backtest.commission_per_contract * t.contracts
            assert np.sign(round(before_costs, 9)) == np.sign(
                round(t.exit_value - t.entry_debit, 12)
            )
            if t.pnl > 0:
                assert t.exit_value > t.entry_debit
        for d in days:  # never more open than max_positions, never two on one underlying
            live = [t for t in run.trades if t.entry_date <= d < t.exit_date]
            assert len(live) <= s.risk.max_positions
            assert len({t.symbol for t in live}) == len(live)
