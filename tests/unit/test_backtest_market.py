"""SPEC 12's inputs: the days, the volatility, and which signals a run may trade."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pandas as pd
import pytest

from tests.unit.backtest_data import ENTRY, bars, base_closes, frame
from tui_trader.core.backtest import day_range
from tui_trader.core.backtest_market import (
    STRATEGIES,
    all_days,
    prepare_market,
    realised_vol,
    run_signals,
)
from tui_trader.core.bars import Bars
from tui_trader.core.settings import Settings


def test_days_include_a_date_whose_bars_were_all_dropped() -> None:
    f = frame({"AAA": [100.0, 101.0, 102.0], "BBB": [50.0, 51.0, 52.0]})
    f.loc[f["date"] == f["date"].iloc[1], "close"] = -1.0  # every bar of day 2 is bad
    b = Bars.from_frame(f)
    assert all_days(b).tolist() == sorted(pd.to_datetime(f["date"].unique()).date.tolist())
    assert len(all_days(b)) == 3 and b.n_days == 2


def test_volatility_is_the_sample_std_of_20_log_returns_annualised() -> None:
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, (2, 60)), axis=1))
    close[1, :7] = np.nan  # a shorter history, right-aligned
    vol = realised_vol(close)
    for i, first in ((0, 0), (1, 7)):
        assert np.isnan(vol[i, : first + 20]).all()  # defined from the 21st bar
        for t in range(first + 20, 60):
            rets = [math.log(close[i, k] / close[i, k - 1]) for k in range(t - 19, t + 1)]
            assert vol[i, t] == pytest.approx(statistics.stdev(rets) * math.sqrt(252), rel=1e-12)


def test_sigma_applies_the_multiplier_and_the_clip() -> None:
    m = prepare_market(bars({"AAA": base_closes()}))
    raw = m.realised_vol[0, ENTRY]
    assert m.sigma(1.0)[0, ENTRY] == raw
    assert m.sigma(2.0)[0, ENTRY] == pytest.approx(2 * raw)
    assert m.sigma(1e-3)[0, ENTRY] == 0.05 and m.sigma(20.0)[0, ENTRY] == 3.0


def _signals(
    series: dict[str, list[float | None]], strategies: tuple[str, ...], s: Settings | None = None
) -> list[tuple[str, int, int, str]]:
    s = s or Settings()
    m = prepare_market(bars(series))
    sig = run_signals(m, s, strategies, 0, len(m.days) - 1, m.sigma(1.0))
    return [
        (m.symbols[r], int(d), int(dr), STRATEGIES[k])
        for r, d, dr, k in zip(sig.row, sig.day, sig.direction, sig.strategy, strict=True)
    ]


def test_signals_are_eligible_have_a_volatility_and_name_their_first_strategy() -> None:
    got = _signals({"AAA": base_closes(1.0, ENTRY + 3)}, STRATEGIES)
    assert [(s, d, k) for s, d, _, k in got] == [
        ("AAA", ENTRY, "HIGH_BASE"),
        ("AAA", ENTRY + 1, "HIGH_BASE"),
        ("AAA", ENTRY + 2, "HIGH_BASE"),
    ]
    cheap = Settings()
    cheap.universe.min_price = 1_000.0  # nothing is eligible
    assert _signals({"AAA": base_closes(1.0, ENTRY + 3)}, STRATEGIES, cheap) == []
    capped = Settings()
    capped.risk.max_volatility_iv = 0.1  # SPEC 12's first gate
    assert _signals({"AAA": base_closes(1.0, ENTRY + 3)}, STRATEGIES, capped) == []


def test_a_conflict_is_never_traded_but_a_single_run_ignores_the_other_side() -> None:
    s = Settings()
    s.strategy.low_base_min_atr_ratio = 100.0  # LOW_BASE fires too: (close - LLV20) / ATR
    s.strategy.low_base_max_rsi = 100.0
    series = {"AAA": base_closes(1.0, ENTRY + 2)}
    assert _signals(series, STRATEGIES, s) == []  # LONG and SHORT: CONFLICT
    assert {k for *_, k in _signals(series, ("HIGH_BASE",), s)} == {"HIGH_BASE"}
    low = _signals(series, ("LOW_BASE",), s)
    assert low and {(dr, k) for _, _, dr, k in low} == {(2, "LOW_BASE")}


def test_an_unknown_strategy_is_refused() -> None:
    m = prepare_market(bars({"AAA": base_closes()}))
    with pytest.raises(ValueError, match="unknown strategies"):
        run_signals(m, Settings(), ("MOON",), 0, 0, m.sigma(1.0))


def test_day_range() -> None:
    m = prepare_market(bars({"AAA": base_closes()}))
    days = m.days
    assert day_range(m.days, None, None) == (0, len(days) - 1)
    assert day_range(m.days, days[3].item(), days[5].item()) == (3, 5)
    with pytest.raises(ValueError, match="no trading day"):
        day_range(m.days, days[5].item(), days[3].item())
