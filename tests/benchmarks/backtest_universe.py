"""The back-test benchmarks' universe: the simulated gateway's history generator (regimes,
stochastic volatility, fat tails, gaps) for the 60 table tickers plus made-up ones, on
business days. Deterministic for a seed."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tui_trader.core.bars import Bars
from tui_trader.core.settings import DEFAULT_SYMBOLS
from tui_trader.sim.history import generate_history
from tui_trader.sim.universe import ticker_info


def universe_frame(n_symbols: int, n_days: int, seed: int = 11) -> pd.DataFrame:
    """Long-format daily bars (the ``scan`` / ``backtest`` CSV columns)."""
    names = list(DEFAULT_SYMBOLS[:n_symbols]) + [
        f"S{k:04d}" for k in range(max(0, n_symbols - len(DEFAULT_SYMBOLS)))
    ]
    days = pd.bdate_range("2015-01-02", periods=n_days)
    hist = generate_history([ticker_info(s) for s in names], [d.date() for d in days], seed)
    n = len(names)
    return pd.DataFrame(
        {
            "date": np.tile(days.strftime("%Y-%m-%d").to_numpy(), n),
            "symbol": np.repeat(names, n_days),
            "open": hist.open.ravel(),
            "high": hist.high.ravel(),
            "low": hist.low.ravel(),
            "close": hist.close.ravel(),
            "volume": hist.volume.ravel(),
        }
    )


def universe_bars(n_symbols: int, n_days: int, seed: int = 11) -> Bars:
    return Bars.from_frame(universe_frame(n_symbols, n_days, seed))
