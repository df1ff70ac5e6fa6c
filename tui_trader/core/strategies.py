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

from tui_trader.core.indicators import Indicators, day_blocks
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

_IB_NO_VALUE = float(np.finfo(np.float64).max)


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


def _bases_into(
    ind: Indicators, settings: StrategySettings, days: slice, high: BoolArray, low: BoolArray
) -> None:
    c, atr, rsi = ind.close[:, days], ind.atr14[:, days], ind.rsi14[:, days]
    dist = ind.hhv20[:, days] - c  # (HHV20 - close) / ATR14 <= k and RSI14 >= min
    dist /= atr
    np.less_equal(dist, settings.high_base_max_atr_ratio, out=high)
    high &= rsi >= settings.high_base_min_rsi
    np.subtract(c, ind.llv20[:, days], out=dist)  # (close - LLV20) / ATR14 <= k, RSI <= max
    dist /= atr
    np.less_equal(dist, settings.low_base_min_atr_ratio, out=low)
    low &= rsi <= settings.low_base_max_rsi


def _crossings_into(
    ind: Indicators,
    settings: StrategySettings,
    now: slice,
    enough: BoolArray,
    bull_pullback: BoolArray,
    bear_rally: BoolArray,
) -> None:
    prev = slice(now.start - 1, now.stop - 1)
    rsi, rsi_prev = ind.rsi14[:, now], ind.rsi14[:, prev]
    sma50, sma200 = ind.sma50[:, now], ind.sma200[:, now]
    bull = settings.bull_pullback_rsi_threshold  # RSI14_{t-1} < bull <= RSI14_t
    np.less(rsi_prev, bull, out=bull_pullback)
    bull_pullback &= bull <= rsi
    bull_pullback &= sma50 > sma200
    bull_pullback &= enough
    bear = settings.bear_rally_rsi_threshold  # RSI14_{t-1} > bear >= RSI14_t
    np.greater(rsi_prev, bear, out=bear_rally)
    bear_rally &= bear >= rsi
    bear_rally &= sma50 < sma200
    bear_rally &= enough


def strategy_masks(ind: Indicators, settings: StrategySettings) -> StrategyMasks:
    """SPEC 4 for every bar. NaN anywhere in a rule's inputs means it does not fire.

    Evaluated a block of days at a time (:func:`day_blocks`), so the ~25 elementwise
    steps work on cache-sized slices instead of streaming every array from memory each.
    """
    n_symbols, n_days = ind.close.shape
    enough = enough_history(ind.close)

    def empty() -> BoolArray:
        return np.zeros((n_symbols, n_days), dtype=bool, order="F")

    high_base, low_base, bull_pullback, bear_rally = empty(), empty(), empty(), empty()
    # An ATR of 0 (a dead-flat stretch) makes the ratio +inf or 0/0 = NaN (a tiny one may
    # overflow to inf): all compare False, so no base in a market that traded no range.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for days in day_blocks(n_days, n_symbols):
            _bases_into(ind, settings, days, high_base[:, days], low_base[:, days])
            # The crossings look one bar back; a row's first column has no previous bar.
            now = slice(max(days.start, 1), days.stop)
            if now.start < now.stop:
                ok = enough[:, now]
                _crossings_into(ind, settings, now, ok, bull_pullback[:, now], bear_rally[:, now])
    return StrategyMasks(
        high_base=high_base,
        low_base=low_base,
        bull_pullback=bull_pullback,
        bear_rally=bear_rally,
        insufficient_history=~enough,
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
            if np.isfinite(v) and 0.0 < v < _IB_NO_VALUE:
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


def universe_masks(
    ind: Indicators, settings: UniverseSettings, market_caps: FloatArray
) -> UniverseMasks:
    """SPEC 3 for every bar. ``market_caps`` per symbol, NaN = unknown (clean_market_caps).

    A bar with no close is neither below nor above the minimum: it is not eligible, and it
    gets no price reason (the scanner reports such a symbol as ``no_data``).
    """
    close, avgvol = ind.close, ind.avgvol20
    n_symbols, n_days = close.shape
    cap_unknown = np.isnan(market_caps)
    cap_below = market_caps < settings.min_market_cap
    cap_ok = (cap_unknown | ~cap_below)[:, None]
    masks = [np.zeros((n_symbols, n_days), dtype=bool, order="F") for _ in range(4)]
    price_below, vol_below, vol_unknown, eligible = masks
    for days in day_blocks(n_days, n_symbols):
        c, v = close[:, days], avgvol[:, days]
        np.less(c, settings.min_price, out=price_below[:, days])
        np.less(v, settings.min_volume, out=vol_below[:, days])
        np.isnan(v, out=vol_unknown[:, days])
        ok = np.greater_equal(c, settings.min_price, out=eligible[:, days])
        ok &= v >= settings.min_volume
        ok &= cap_ok
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
