"""Crafted daily bars for the back-test tests, and SPEC 12's money written out by hand.

``base_closes``: 21 bars that alternate +2 % / -1 % log moves from 100 -- RSI14 about 67,
the close within an ATR of HHV20, a 20-return volatility near 25 %: HIGH_BASE (LONG) fires
on every bar, and the 21st bar (index 20) is the first with a volatility, so the first
entry is on day 20 at its close.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from datetime import date

import numpy as np
import pandas as pd

from tui_trader.core.bars import Bars
from tui_trader.core.settings import Settings

START = "2024-01-01"
ENTRY = 20  # the first bar with a volatility


def base_closes(scale: float = 1.0, n: int = ENTRY + 1) -> list[float]:
    out = [100.0 * scale]
    for t in range(1, n):
        out.append(out[-1] * math.exp(0.02 if t % 2 else -0.01))
    return out


def business_days(n: int, start: str = START) -> list[date]:
    return [d.date() for d in pd.bdate_range(start, periods=n)]


def frame(series: dict[str, Sequence[float | None]], start: str = START) -> pd.DataFrame:
    """Long-format bars from closes per symbol (None: no bar that day); high/low 0.6 %
    either side of the close, open at the previous close, volume 2 M."""
    n = max(len(v) for v in series.values())
    days = business_days(n, start)
    rows = []
    for sym, closes in series.items():
        prev = None
        for d, c in zip(days, closes, strict=False):
            if c is None:
                continue
            rows.append(
                {
                    "date": d.isoformat(),
                    "symbol": sym,
                    "open": prev if prev is not None else c,
                    "high": max(c * 1.006, prev or c),
                    "low": min(c * 0.994, prev or c),
                    "close": c,
                    "volume": 2e6,
                }
            )
            prev = c
    return pd.DataFrame(rows)


def bars(series: dict[str, Sequence[float | None]]) -> Bars:
    return Bars.from_frame(frame(series))


# -- SPEC 12's numbers by hand (math.erf, statistics; nothing from tui_trader.core) --------


def norm_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def bs(spot: float, strike: float, dte: int, sigma: float, call: bool, s: Settings) -> float:
    r, q = s.pricing.risk_free_rate, s.pricing.dividend_yield
    t = max(dte, 0) / 365.0
    if t == 0:
        return max(spot - strike, 0.0) if call else max(strike - spot, 0.0)
    d1 = (math.log(spot / strike) + (r - q + sigma * sigma / 2) * t) / (sigma * math.sqrt(t))
    d2 = d1 - sigma * math.sqrt(t)
    if call:
        return spot * math.exp(-q * t) * norm_cdf(d1) - strike * math.exp(-r * t) * norm_cdf(d2)
    return strike * math.exp(-r * t) * norm_cdf(-d2) - spot * math.exp(-q * t) * norm_cdf(-d1)


def quote(
    spot: float, strike: float, dte: int, sigma: float, call: bool, s: Settings
) -> tuple[float, float, float]:
    """(mid, bid, ask) of a synthetic option (SPEC 12)."""
    mid = bs(spot, strike, dte, sigma, call, s)
    h = max(s.backtest.min_half_spread, s.backtest.half_spread_pct * mid)
    return mid, max(0.0, mid - h), mid + h


def sigma_at(closes: Sequence[float], t: int, s: Settings) -> float:
    """SPEC 12's volatility at bar t of one symbol's closes."""
    rets = [math.log(closes[i] / closes[i - 1]) for i in range(t - 19, t + 1)]
    raw = statistics.stdev(rets) * math.sqrt(252.0) * s.backtest.iv_multiplier
    return min(max(raw, 0.05), 3.0)


def atr14(closes: Sequence[float], t: int) -> float:
    """Wilder ATR14 of :func:`frame`'s bars (high/low 0.6 % around the close, widened to
    the previous close)."""
    c = [float(x) for x in closes]
    hi = [max(c[0] * 1.006, c[0])] + [max(c[i] * 1.006, c[i - 1]) for i in range(1, len(c))]
    lo = [min(c[0] * 0.994, c[0])] + [min(c[i] * 0.994, c[i - 1]) for i in range(1, len(c))]
    tr = [max(hi[i], c[i - 1]) - min(lo[i], c[i - 1]) for i in range(1, t + 1)]
    a = sum(tr[:14]) / 14
    for x in tr[14:]:
        a = (a * 13 + x) / 14
    return a


def dte(expiry: str, day: date) -> int:
    return (date.fromisoformat(expiry) - day).days


def as_array(x: Sequence[float]) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)
