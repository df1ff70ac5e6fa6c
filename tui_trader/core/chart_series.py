"""A symbol's chart as numbers: its last sessions' bars, SMA50/SMA200, HHV20/LLV20, RSI14
and the days a strategy fired (issue 13, "a symbol's chart").

Nothing here is a second implementation of anything: the indicators are
:func:`tui_trader.core.indicators.compute_indicators` and the markers
:func:`tui_trader.core.strategies.strategy_masks`, the very functions
:func:`tui_trader.core.scanner.scan` runs, on the symbol's own row of the universe's bars.
Indicators and strategies are per row and per bar (a row is computed exactly as if it
were alone), so the series equal the scanner's numbers for that symbol, and a marker sits
on day ``d`` exactly when a scan of the bars up to ``d`` lists that strategy among the
symbol's signals.

The markers are SPEC 4's four strategies and, when the caller passes them, the trader's
own (issue 15): :func:`tui_trader.core.user_strategies.evaluate`, the very function the
scan runs them through, on the symbol's frame (its valid bars, the live bar included), so
a user strategy is marked on the days its Series says LONG or SHORT, and on the last day
exactly when the scan lists it (the scan runs them only for eligible symbols; the chart
draws every day). It is pandas code that may be slow: the Chart screen calls this in a
worker thread when there are user strategies. A user strategy that faults here (raises,
wrong answer, over ``timeout_s``) is in :attr:`ChartSeries.faults` and has no markers;
the built-in markers are drawn all the same.

The live bar: the engine scans its loaded bars with today's provisional bar from the live
price (SPEC 1); the dashboard has the loaded bars and the scan's row. :func:`chart_series`
takes the row's date and close as ``live`` and adds that bar the way the scanner does
(:meth:`tui_trader.core.bars.Bars.with_provisional`), so today's markers are the scan's
signals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
from numpy.typing import NDArray

from tui_trader.core.bars import Bars
from tui_trader.core.indicators import (
    RANGE_PERIOD,
    RSI_PERIOD,
    SMA_FAST,
    SMA_SLOW,
    compute_indicators,
)
from tui_trader.core.settings import StrategySettings
from tui_trader.core.strategies import STRATEGY_DIRECTIONS, Direction, strategy_masks
from tui_trader.core.user_strategies import BoolArray, BoundStrategy, StrategyFault, evaluate

FloatArray = NDArray[np.float64]

#: Sessions a chart shows (about six months of trading days).
WINDOW_SESSIONS = 120


@dataclass(frozen=True, slots=True)
class Marker:
    """``strategy`` fired on session ``index`` of the window (``day``), trading ``direction``;
    ``user``: it is one of the trader's own strategies (issue 15), not SPEC 4's."""

    index: int
    day: date
    strategy: str
    direction: Direction
    user: bool = False


@dataclass(frozen=True, eq=False, slots=True)
class ChartSeries:
    """One symbol's last ``len(days)`` sessions, oldest first; NaN where an indicator is
    undefined (SMA200 before the 200th bar of the history, and so on).

    ``history`` is how many bars the symbol has in all (the window may show fewer), so the
    chart can say why an indicator is missing; ``live`` whether the last bar is the
    provisional one built from the scan's live price. ``user_strategies``: the trader's
    strategies evaluated without a fault, in config order (the legend names them, with
    or without markers in the window); ``faults``: those that faulted instead.
    """

    symbol: str
    days: tuple[date, ...]
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    sma50: FloatArray
    sma200: FloatArray
    hhv20: FloatArray
    llv20: FloatArray
    rsi14: FloatArray
    markers: tuple[Marker, ...]
    history: int
    live: bool
    user_strategies: tuple[str, ...] = ()
    faults: tuple[StrategyFault, ...] = ()

    @property
    def sessions(self) -> int:
        return len(self.days)

    def latest(self, name: str) -> float | None:
        """The last session's value of series ``name`` (``close``, ``sma50``...); None
        when undefined or when there is no session at all."""
        values: FloatArray = getattr(self, name)
        if values.size == 0 or not np.isfinite(values[-1]):
            return None
        return float(values[-1])

    def missing_reason(self, name: str) -> str | None:
        """Why series ``name`` has no value on the last session, in words (``needs 200
        bars, 30 loaded``); None when it has one."""
        if self.latest(name) is not None:
            return None
        needs = NEEDED_BARS.get(name)
        if needs is not None and self.history < needs:
            return f"needs {needs} bars, {self.history} loaded"
        return "no value"


#: Bars of history an indicator needs before its first value (SPEC 2).
NEEDED_BARS: dict[str, int] = {
    "sma50": SMA_FAST,
    "sma200": SMA_SLOW,
    "hhv20": RANGE_PERIOD,
    "llv20": RANGE_PERIOD,
    "rsi14": RSI_PERIOD + 1,
}


def symbol_bars(bars: Bars, symbol: str) -> Bars:
    """The symbol's row of ``bars`` alone, its left padding cut (KeyError: not held;
    ValueError: it has no valid bar)."""
    i = bars.index(symbol)
    first = int(bars.first_valid[i])
    if first >= bars.n_days:
        raise ValueError(f"no valid daily bar for {symbol}")
    keep = slice(first, None)

    def row(a: FloatArray) -> FloatArray:
        out: FloatArray = np.asfortranarray(a[i : i + 1, keep])
        return out

    dates: NDArray[np.datetime64] = np.asfortranarray(bars.dates[i : i + 1, keep])
    return Bars(
        symbols=[symbol],
        dates=dates,
        open=row(bars.open),
        high=row(bars.high),
        low=row(bars.low),
        close=row(bars.close),
        volume=row(bars.volume),
        asof=bars.asof,
    )


def chart_series(
    bars: Bars,
    symbol: str,
    strategy: StrategySettings,
    *,
    live: tuple[date, float] | None = None,
    window: int = WINDOW_SESSIONS,
    user: Sequence[BoundStrategy] = (),
    timeout_s: float = float("inf"),
) -> ChartSeries:
    """The chart of ``symbol`` from the universe's ``bars`` (module doc).

    ``live``: the scan's (date, close) for the symbol; when it is not already the last
    bar as loaded it becomes the provisional last bar, as in the scan. ``user``: the
    trader's strategies to mark too, each allowed ``timeout_s`` (module doc). KeyError when
    ``bars`` does not hold the symbol, ValueError when it has no valid bar or ``window``
    is below 1.
    """
    if window < 1:
        raise ValueError("a chart shows at least one session")
    own = symbol_bars(bars, symbol)
    is_live = False
    if live is not None:
        day, price = live
        last_day = own.last_date(symbol)
        last_close = float(own.close[0, -1])
        if last_day is not None and (day > last_day or (day == last_day and price != last_close)):
            own = own.with_provisional(day, {symbol: price})
            is_live = own.last_date(symbol) == day
    ind = compute_indicators(own)
    masks = strategy_masks(ind, strategy)
    n = own.n_days
    start = max(0, n - window)
    cut = slice(start, n)
    days = tuple(own.dates[0, cut].astype("datetime64[D]").tolist())
    markers = [
        Marker(int(k), days[int(k)], name, STRATEGY_DIRECTIONS[name])
        for name, mask in masks.by_name().items()
        for k in np.flatnonzero(mask[0, cut])
    ]
    user_names: list[str] = []
    faults: tuple[StrategyFault, ...] = ()
    if user:
        umasks = evaluate(user, own, [0], timeout_s)
        faults = umasks.faults
        for s in user:
            if s.name not in umasks.long:
                continue
            user_names.append(s.name)
            sides: tuple[tuple[Direction, BoolArray], ...] = (
                ("LONG", umasks.long[s.name]),
                ("SHORT", umasks.short[s.name]),
            )
            for direction, umask in sides:
                markers.extend(
                    Marker(int(k), days[int(k)], s.name, direction, user=True)
                    for k in np.flatnonzero(umask[0, cut])
                )
    order = {name: i for i, name in enumerate([*STRATEGY_DIRECTIONS, *user_names])}
    markers.sort(key=lambda m: (m.index, order[m.strategy]))

    def part(a: FloatArray) -> FloatArray:
        out: FloatArray = np.ascontiguousarray(a[0, cut], dtype=np.float64)
        return out

    return ChartSeries(
        symbol=symbol,
        days=days,
        open=part(own.open),
        high=part(own.high),
        low=part(own.low),
        close=part(own.close),
        sma50=part(ind.sma50),
        sma200=part(ind.sma200),
        hhv20=part(ind.hhv20),
        llv20=part(ind.llv20),
        rsi14=part(ind.rsi14),
        markers=tuple(markers),
        history=n,
        live=is_live,
        user_strategies=tuple(user_names),
        faults=faults,
    )
