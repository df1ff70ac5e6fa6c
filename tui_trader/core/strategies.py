"""SPEC 3 universe filter and SPEC 4 strategies as boolean masks over (symbols x days).

Every mask is computed for every bar, not just the last, so the same code answers "does it
fire today?" for the scanner and "when did it fire?" for a chart or a back-test. Comparisons
with an undefined (NaN) indicator are False: nothing fires, and nothing passes the filter,
on a number we do not have.

Reason codes (stable strings; the CLI, JSON output and the TUI show them as they are):

==========================  =====================================================  ========
code                        meaning                                                eligible
==========================  =====================================================  ========
``no_data``                 the symbol has no valid bar at all                     no
``stale``                   its latest bar is older than the scan's latest date    no
``price_below_min``         close < ``[universe] min_price``                       no
``avgvol_below_min``        AVGVOL20 < ``[universe] min_volume``                   no
``avgvol_unknown``          AVGVOL20 undefined (fewer than 20 bars / no volume)    no
``market_cap_below_min``    known market cap < ``[universe] min_market_cap``       no
``market_cap_unknown``      market cap not known: eligible but flagged (SPEC 3)    yes
``insufficient_history``    fewer than 201 bars: the trend strategies cannot fire  yes
==========================  =====================================================  ========

``no_data`` and ``stale`` depend on the bars' dates, so the scanner sets them; the rest come
from :func:`universe_masks` and :func:`strategy_masks`.

On ``insufficient_history``: SPEC 1 asks for 201 bars before BULL_PULLBACK / BEAR_RALLY may
fire, although SMA200 itself is defined from the 200th bar (SPEC 2). We apply the stricter
rule per bar: at bar t the trend strategies need at least 201 valid bars up to and
including t.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from tui_trader.core.indicators import Indicators, jit, time_major
from tui_trader.core.markers import IB_UNSET_DOUBLE
from tui_trader.core.settings import StrategySettings, UniverseSettings

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


#: A scan's verdict per symbol. LONG / SHORT are the same strings core.spreads and
#: core.exits take; CONFLICT (a LONG and a SHORT strategy both fire) is shown, never traded.
Direction = Literal["LONG", "SHORT", "CONFLICT"]


HIGH_BASE = "HIGH_BASE"
LOW_BASE = "LOW_BASE"
BULL_PULLBACK = "BULL_PULLBACK"
BEAR_RALLY = "BEAR_RALLY"

#: Strategy name -> the direction it trades, in the order signals are listed.
STRATEGY_DIRECTIONS: Mapping[str, Direction] = {
    HIGH_BASE: "LONG",
    LOW_BASE: "SHORT",
    BULL_PULLBACK: "LONG",
    BEAR_RALLY: "SHORT",
}

#: SPEC 1: bars needed before the two SMA200 strategies may fire.
MIN_TREND_BARS = 201

REASON_NO_DATA = "no_data"
REASON_STALE = "stale"
REASON_PRICE_BELOW_MIN = "price_below_min"
REASON_AVGVOL_BELOW_MIN = "avgvol_below_min"
REASON_AVGVOL_UNKNOWN = "avgvol_unknown"
REASON_MARKET_CAP_BELOW_MIN = "market_cap_below_min"
REASON_MARKET_CAP_UNKNOWN = "market_cap_unknown"
REASON_INSUFFICIENT_HISTORY = "insufficient_history"

#: Every reason code, in the order a symbol's reasons are listed.
REASON_ORDER: tuple[str, ...] = (
    REASON_NO_DATA,
    REASON_STALE,
    REASON_PRICE_BELOW_MIN,
    REASON_AVGVOL_BELOW_MIN,
    REASON_AVGVOL_UNKNOWN,
    REASON_MARKET_CAP_BELOW_MIN,
    REASON_MARKET_CAP_UNKNOWN,
    REASON_INSUFFICIENT_HISTORY,
)
#: Reasons that are shown but do not stop a symbol from trading.
FLAG_REASONS: frozenset[str] = frozenset({REASON_MARKET_CAP_UNKNOWN, REASON_INSUFFICIENT_HISTORY})


@dataclass(frozen=True, eq=False, slots=True)
class StrategyMasks:
    """Where each strategy fires (symbols x days), and where history is too short."""

    high_base: BoolArray
    low_base: BoolArray
    bull_pullback: BoolArray
    bear_rally: BoolArray
    insufficient_history: BoolArray

    def by_name(self) -> dict[str, BoolArray]:
        """Strategy name -> mask, in :data:`STRATEGY_DIRECTIONS` order."""
        return {
            HIGH_BASE: self.high_base,
            LOW_BASE: self.low_base,
            BULL_PULLBACK: self.bull_pullback,
            BEAR_RALLY: self.bear_rally,
        }

    @property
    def long(self) -> BoolArray:
        out: BoolArray = self.high_base | self.bull_pullback
        return out

    @property
    def short(self) -> BoolArray:
        out: BoolArray = self.low_base | self.bear_rally
        return out


def enough_history(close: FloatArray, min_bars: int = MIN_TREND_BARS) -> BoolArray:
    """Per bar: has the symbol at least ``min_bars`` valid bars up to and including it?

    Rows are right-aligned with the padding first, so that is "was there a close
    ``min_bars - 1`` bars ago". A NaN inside a row (the indicators are NaN from such a hole
    on anyway) only ever makes the answer False.
    """
    out = np.zeros(close.shape, dtype=bool, order="F")
    lag = min_bars - 1
    if lag < close.shape[1]:
        np.isfinite(close[:, : close.shape[1] - lag], out=out[:, lag:])
    return out


@jit
def _strategy_kernel(
    close: FloatArray,
    hhv20: FloatArray,
    llv20: FloatArray,
    atr14: FloatArray,
    rsi14: FloatArray,
    sma50: FloatArray,
    sma200: FloatArray,
    limits: tuple[float, float, float, float, float, float],
    lag: int,
    high_base: BoolArray,
    low_base: BoolArray,
    bull_pullback: BoolArray,
    bear_rally: BoolArray,
    short_history: BoolArray,
) -> None:
    """SPEC 4 on time-major (days x symbols) arrays, one pass over the days.

    Every comparison is written so that NaN makes it False; ``short_history`` is
    :func:`enough_history`'s rule negated (no finite close ``lag`` bars back).
    """
    n_days, m = close.shape
    hb_ratio, hb_rsi, lb_ratio, lb_rsi, bull, bear = limits
    for t in range(n_days):
        c, hi, lo, atr, rsi = close[t], hhv20[t], llv20[t], atr14[t], rsi14[t]
        rsi_prev = rsi14[max(t - 1, 0)]  # row 0 at t = 0, where has_prev masks it
        fast, slow = sma50[t], sma200[t]
        back = close[max(t - lag, 0)]
        has_prev = t >= 1
        can_look_back = t >= lag
        out_hb, out_lb = high_base[t], low_base[t]
        out_bull, out_bear, out_short = bull_pullback[t], bear_rally[t], short_history[t]
        for i in range(m):
            ci, ai, ri, rp = c[i], atr[i], rsi[i], rsi_prev[i]
            # ATR 0 (a dead-flat stretch): no base (SPEC 12). The ratio alone would not
            # say so: a close kept outside its bar's range makes it -inf, which passes.
            out_hb[i] = (ai > 0.0) & ((hi[i] - ci) / ai <= hb_ratio) & (ri >= hb_rsi)
            out_lb[i] = (ai > 0.0) & ((ci - lo[i]) / ai <= lb_ratio) & (ri <= lb_rsi)
            enough = can_look_back & (abs(back[i]) < np.inf)
            out_short[i] = not enough
            f, sl = fast[i], slow[i]
            out_bull[i] = has_prev & (rp < bull) & (bull <= ri) & (f > sl) & enough
            out_bear[i] = has_prev & (rp > bear) & (bear >= ri) & (f < sl) & enough


def strategy_masks(ind: Indicators, settings: StrategySettings) -> StrategyMasks:
    """SPEC 4 for every bar. NaN anywhere in a rule's inputs means it does not fire.

    One compiled pass over the days (:func:`tui_trader.core.indicators.jit`; numpy took ~14
    ms for 5,000 symbols x 500 days, the pass ~6): each day's indicator rows are read
    once, and the ~25 comparisons per cell stay in registers.
    """
    arrays = (ind.close, ind.hhv20, ind.llv20, ind.atr14, ind.rsi14, ind.sma50, ind.sma200)
    close, hhv20, llv20, atr14, rsi14, sma50, sma200 = (time_major(a) for a in arrays)
    if any(a.shape != close.shape for a in (hhv20, llv20, atr14, rsi14, sma50, sma200)):
        raise ValueError("indicator arrays must be equally shaped")
    masks = [np.empty(close.shape, dtype=bool) for _ in range(5)]
    limits = (
        float(settings.high_base_max_atr_ratio),
        float(settings.high_base_min_rsi),
        float(settings.low_base_min_atr_ratio),
        float(settings.low_base_max_rsi),
        float(settings.bull_pullback_rsi_threshold),
        float(settings.bear_rally_rsi_threshold),
    )
    lag = MIN_TREND_BARS - 1
    _strategy_kernel(close, hhv20, llv20, atr14, rsi14, sma50, sma200, limits, lag, *masks)
    high_base, low_base, bull_pullback, bear_rally, short_history = (a.T for a in masks)
    return StrategyMasks(
        high_base=high_base,
        low_base=low_base,
        bull_pullback=bull_pullback,
        bear_rally=bear_rally,
        insufficient_history=short_history,
    )


def clean_market_caps(
    symbols: Sequence[str], market_caps: Mapping[str, float] | None
) -> FloatArray:
    """Per-symbol market caps aligned with ``symbols``; NaN where unknown.

    Missing, NaN, infinite, non-positive and IB's "no value" marker all count as unknown:
    SPEC 3 lets an unknown cap through (flagged), and a garbage number must not pass for a
    known one in either direction.
    """
    caps = np.full(len(symbols), np.nan)
    if market_caps:
        for i, sym in enumerate(symbols):
            value = market_caps.get(sym)
            if value is None:
                continue
            v = float(value)
            if np.isfinite(v) and 0.0 < v < IB_UNSET_DOUBLE:
                caps[i] = v
    return caps


@dataclass(frozen=True, eq=False, slots=True)
class UniverseMasks:
    """SPEC 3 per bar (2-D) and per symbol (1-D, market cap), with each failure kept apart."""

    price_below_min: BoolArray
    avgvol_below_min: BoolArray
    avgvol_unknown: BoolArray
    market_cap_below_min: BoolArray  # 1-D, per symbol
    market_cap_unknown: BoolArray  # 1-D, per symbol
    eligible: BoolArray  # 2-D: passes the whole filter at that bar

    def reasons_at(self, row: int, col: int = -1) -> list[str]:
        """The filter's reason codes for one symbol at one bar, in REASON_ORDER."""
        out: list[str] = []
        if self.price_below_min[row, col]:
            out.append(REASON_PRICE_BELOW_MIN)
        if self.avgvol_below_min[row, col]:
            out.append(REASON_AVGVOL_BELOW_MIN)
        if self.avgvol_unknown[row, col]:
            out.append(REASON_AVGVOL_UNKNOWN)
        if self.market_cap_below_min[row]:
            out.append(REASON_MARKET_CAP_BELOW_MIN)
        if self.market_cap_unknown[row]:
            out.append(REASON_MARKET_CAP_UNKNOWN)
        return out


@jit
def _universe_kernel(
    close: FloatArray,
    avgvol20: FloatArray,
    cap_ok: BoolArray,
    min_price: float,
    min_volume: float,
    price_below: BoolArray,
    volume_below: BoolArray,
    volume_unknown: BoolArray,
    eligible: BoolArray,
) -> None:
    """SPEC 3 on time-major (days x symbols) arrays; a NaN fails every comparison."""
    n_days, m = close.shape
    for t in range(n_days):
        c, v = close[t], avgvol20[t]
        out_price, out_vol, out_unknown, out_ok = (
            price_below[t],
            volume_below[t],
            volume_unknown[t],
            eligible[t],
        )
        for i in range(m):
            ci, vi = c[i], v[i]
            out_price[i] = ci < min_price
            out_vol[i] = vi < min_volume
            out_unknown[i] = vi != vi  # NaN
            out_ok[i] = (ci >= min_price) & (vi >= min_volume) & cap_ok[i]


def universe_masks(
    ind: Indicators, settings: UniverseSettings, market_caps: FloatArray
) -> UniverseMasks:
    """SPEC 3 for every bar. ``market_caps`` per symbol, NaN = unknown (clean_market_caps).

    A bar with no close is neither below nor above the minimum: it is not eligible, and it
    gets no price reason (the scanner reports such a symbol as ``no_data``).
    """
    close, avgvol = time_major(ind.close), time_major(ind.avgvol20)
    if avgvol.shape != close.shape or np.shape(market_caps) != (close.shape[1],):
        raise ValueError("close, AVGVOL20 and market caps must cover the same symbols")
    cap_unknown = np.isnan(market_caps)
    cap_below = market_caps < settings.min_market_cap
    cap_ok = np.ascontiguousarray(cap_unknown | ~cap_below)
    masks = [np.empty(close.shape, dtype=bool) for _ in range(4)]
    min_price, min_volume = float(settings.min_price), float(settings.min_volume)
    _universe_kernel(close, avgvol, cap_ok, min_price, min_volume, *masks)
    price_below, vol_below, vol_unknown, eligible = (a.T for a in masks)
    return UniverseMasks(
        price_below_min=price_below,
        avgvol_below_min=vol_below,
        avgvol_unknown=vol_unknown,
        market_cap_below_min=cap_below,
        market_cap_unknown=cap_unknown,
        eligible=eligible,
    )


_DIRECTION_BY_CODE: tuple[Direction | None, ...] = (
    None,
    "LONG",
    "SHORT",
    "CONFLICT",
)


def direction_codes(masks: StrategyMasks, col: int | None = None) -> NDArray[np.int8]:
    """0 none, 1 LONG, 2 SHORT, 3 CONFLICT (a LONG and a SHORT strategy both fire).

    Per bar (2-D), or for one column only (1-D per symbol) when ``col`` is given.
    """
    at = slice(None) if col is None else col
    long = masks.high_base[:, at] | masks.bull_pullback[:, at]
    short = masks.low_base[:, at] | masks.bear_rally[:, at]
    out: NDArray[np.int8] = long.astype(np.int8) + 2 * short.astype(np.int8)
    return out


def direction_of(code: int) -> Direction | None:
    """The Direction for a :func:`direction_codes` value (None: no signal)."""
    return _DIRECTION_BY_CODE[code]
