"""SPEC 12's inputs, computed once per universe: the calendar of days, each bar's day, the
SPEC 2 indicators, the 20-day realised volatility, and which (day, symbol, direction)
could trade in a run of some strategies.

Everything here is vectorised over symbols x bars; nothing loops over days in Python. The
indicators are :func:`tui_trader.core.indicators.compute_indicators` and the signals
:func:`tui_trader.core.strategies.strategy_masks` / ``universe_masks``, the scanner's own.

Decisions (the README carries them):

- **Days** are every date in the input, all symbols together, bad bars' dates included.
  A symbol's indicators and volatility run over *its own* valid bars (the right-aligned
  rows of :class:`~tui_trader.core.bars.Bars`), so a symbol missing a day is not shifted
  against the others, and a return spans the gap to its previous bar.
- **Volatility** ``sigma`` at a bar is the sample standard deviation (ddof 1) of the symbol's
  last 20 log returns, times sqrt(252), times ``iv_multiplier``, clipped to [0.05, 3.0];
  NaN before the symbol's 21st bar. The sums run in window order (oldest first), one
  addition at a time, so an independent implementation that adds in that order gets the
  same bits.
- **Signals** in a run of some strategies: only those strategies fire; LONG when one of its
  LONG strategies fires, SHORT likewise, both is CONFLICT (never traded). A trade belongs
  to the first strategy of SPEC 4's table that fired for its direction, then the first
  user strategy (issue 15) in config order. Eligibility is SPEC 3 at that bar with the
  market cap unknown.
- **A date range** (``--from``/``--to``) limits the days simulated; indicators and
  volatility still use every earlier bar (warm-up), and no bar after the range is used.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tui_trader.core.bars import Bars
from tui_trader.core.indicators import Indicators, compute_indicators
from tui_trader.core.settings import Settings
from tui_trader.core.strategies import (
    BEAR_RALLY,
    BULL_PULLBACK,
    HIGH_BASE,
    LOW_BASE,
    STRATEGY_DIRECTIONS,
    strategy_masks,
    universe_masks,
)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
DateArray = NDArray[np.datetime64]

#: SPEC 4's table, in order: a trade belongs to the first that fired for its direction.
STRATEGIES: tuple[str, ...] = tuple(STRATEGY_DIRECTIONS)
SIGMA_WINDOW = 20
SIGMA_MIN = 0.05
SIGMA_MAX = 3.0
TRADING_DAYS = 252.0

LONG, SHORT = 1, 2  # direction codes in the signal arrays


@dataclass(frozen=True, eq=False)
class Market:
    """A universe prepared for back-tests (module doc); independent of every setting.

    ``days``: every input date, ascending. ``day_of[i, j]``: the index in ``days`` of bar
    column j of symbol i (-1 on the padding). ``realised_vol``: sqrt(252) times the
    20-return sample standard deviation at each bar (before ``iv_multiplier`` and the
    clip), NaN where undefined.
    """

    bars: Bars
    days: DateArray
    day_of: IntArray
    ind: Indicators
    realised_vol: FloatArray

    @property
    def symbols(self) -> list[str]:
        return self.bars.symbols

    def sigma(self, iv_multiplier: float) -> FloatArray:
        """SPEC 12's sigma at every bar for this multiplier (NaN where undefined)."""
        out: FloatArray = np.clip(self.realised_vol * iv_multiplier, SIGMA_MIN, SIGMA_MAX)
        return out


def all_days(bars: Bars) -> DateArray:
    """Every date of the input: the bars' and the dropped bars' (SPEC 12 "Days")."""
    known = bars.dates[~np.isnat(bars.dates)]
    dropped = [d.date for rows in bars.dropped.values() for d in rows]
    both = np.concatenate([known, np.array(dropped, dtype="datetime64[D]")])
    out: DateArray = np.unique(both)
    return out


def realised_vol(close: FloatArray) -> FloatArray:
    """sqrt(252) x the sample std (ddof 1) of the last 20 log returns, at every bar of
    every (right-aligned) row; NaN before a row's 21st bar. Window sums are sequential in
    window order (module doc)."""
    c = np.asarray(close, dtype=np.float64)
    n_sym, n_cols = c.shape
    out = np.full((n_sym, n_cols), np.nan)
    w = SIGMA_WINDOW
    if n_cols <= w:
        return out
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.log(c[:, 1:] / c[:, :-1])  # r[:, k] is the return into column k + 1
    n_out = n_cols - w  # columns w .. n_cols - 1 have a full window
    total = np.zeros((n_sym, n_out))
    for k in range(w):
        total += r[:, k : k + n_out]
    mean = total / w
    squares = np.zeros((n_sym, n_out))
    for k in range(w):
        dev = r[:, k : k + n_out] - mean
        squares += dev * dev
    out[:, w:] = np.sqrt(squares / (w - 1)) * np.sqrt(TRADING_DAYS)
    return out


def prepare_market(bars: Bars) -> Market:
    """Indicators, bar days and realised volatility of ``bars`` (module doc)."""
    days = all_days(bars)
    dated = ~np.isnat(bars.dates)
    day_of = np.full(bars.dates.shape, -1, dtype=np.int64)
    day_of[dated] = np.searchsorted(days, bars.dates[dated])
    ind = compute_indicators(bars)
    return Market(
        bars=bars,
        days=days,
        day_of=day_of,
        ind=ind,
        realised_vol=realised_vol(np.ascontiguousarray(bars.close)),
    )


@dataclass(frozen=True, slots=True, eq=False)
class Signals:
    """Where a run of some strategies may trade, as flat arrays ordered by (day, symbol).

    ``row``/``col``: the bar (symbol row, bar column); ``day``: its index in Market.days;
    ``direction``: LONG (1) or SHORT (2); ``strategy``: index into :func:`strategy_order`.
    """

    row: IntArray
    col: IntArray
    day: IntArray
    direction: NDArray[np.int8]
    strategy: NDArray[np.int16]


def strategy_order(user: Iterable[str] = ()) -> tuple[str, ...]:
    """Every strategy a run may name: SPEC 4's four, then the user strategies given (in
    config order). Trades are attributed in this order."""
    return (*STRATEGIES, *(name for name in user if name not in STRATEGIES))


def run_signals(
    market: Market,
    settings: Settings,
    strategies: Sequence[str],
    first_day: int,
    last_day: int,
    sigma: FloatArray,
    user: Mapping[str, tuple[BoolArray, BoolArray]] | None = None,
) -> Signals:
    """The tradable signals of a run of ``strategies`` on days ``first_day..last_day``
    (indices into Market.days): eligible, LONG or SHORT (never CONFLICT), with sigma
    defined and within ``[risk] max_volatility_iv`` (SPEC 12's first gate, which depends on
    nothing else, so it is applied here). ``user``: each user strategy's (long, short)
    masks, in config order; ``Signals.strategy`` indexes :func:`strategy_order`."""
    user = user or {}
    names = strategy_order(user)
    unknown = [s for s in strategies if s not in names]
    if unknown or not strategies:
        raise ValueError(f"unknown strategies {unknown}; choose from {', '.join(names)}")
    ind = market.ind
    masks = strategy_masks(ind, settings.strategy).by_name()
    caps = np.full(len(market.symbols), np.nan)
    eligible = universe_masks(ind, settings.universe, caps).eligible
    on = set(strategies)
    long = np.zeros(eligible.shape, dtype=bool)
    short = np.zeros(eligible.shape, dtype=bool)
    # name -> (direction of its mask, mask), in attribution order (module doc).
    fires: list[tuple[str, bool, BoolArray]] = []
    for name in STRATEGIES:
        if name in on:
            goes_long = STRATEGY_DIRECTIONS[name] == "LONG"
            target = long if goes_long else short
            target |= masks[name]
            fires.append((name, goes_long, masks[name]))
    for name, (user_long, user_short) in user.items():
        if name in on:
            long |= user_long
            short |= user_short
            fires += [(name, True, user_long), (name, False, user_short)]
    with np.errstate(invalid="ignore"):
        vol_ok = sigma <= settings.risk.max_volatility_iv  # NaN: False
    in_range = (market.day_of >= first_day) & (market.day_of <= last_day)
    tradable = (long ^ short) & eligible & vol_ok & in_range
    rows, cols = np.nonzero(tradable)
    days = market.day_of[rows, cols]
    order = np.argsort(days * tradable.shape[0] + rows)  # (day, symbol): unique keys
    rows, cols, days = rows[order], cols[order], days[order]
    is_long = long[rows, cols]
    direction = np.where(is_long, LONG, SHORT).astype(np.int8)
    strategy = np.full(rows.shape[0], -1, dtype=np.int16)
    # The first that fired for the direction: assign in reverse order.
    for name, mask_long, mask in reversed(fires):
        fired = mask[rows, cols] & (is_long == mask_long)
        strategy[fired] = names.index(name)
    return Signals(
        row=rows.astype(np.int64),
        col=cols.astype(np.int64),
        day=days.astype(np.int64),
        direction=direction,
        strategy=strategy,
    )


__all__ = [
    "BEAR_RALLY",
    "BULL_PULLBACK",
    "HIGH_BASE",
    "LONG",
    "LOW_BASE",
    "SHORT",
    "STRATEGIES",
    "Market",
    "Signals",
    "all_days",
    "prepare_market",
    "realised_vol",
    "run_signals",
    "strategy_order",
]
