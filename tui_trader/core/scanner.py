"""One scan of the universe: indicators, universe filter and strategies at each symbol's
latest bar, as plain records the CLI prints as a table or JSON and the engine acts on.

Every symbol in the bars gets a result, including those with no data: a symbol never
disappears from a scan silently. Which symbols the bars hold is the caller's choice (the
CLI scans a file's symbols, the engine loads ``[universe] symbols``); ``scan`` does not
filter on that list.

A symbol is evaluated at its own last column (see :mod:`tui_trader.core.bars`); when that
bar is older than the newest bar in the scan (``ScanReport.asof``), the symbol is ``stale``
and not eligible: its signals are last known, not current, and must not be traded.

User strategies (issue 15, :mod:`tui_trader.core.user_strategies`) run after the compiled
pass, per symbol, on the eligible symbols only: an ineligible symbol cannot trade, so
running a trader's pandas code on it would only cost time. Their names follow SPEC 4's
four in ``signals`` (in config order), and CONFLICT is decided over all strategies. A
user strategy that faults is left out of this scan and listed in ``ScanReport.faults``;
the caller disables it for the session.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tui_trader.core.bars import Bars
from tui_trader.core.indicators import compute_indicators
from tui_trader.core.settings import StrategySettings, UniverseSettings
from tui_trader.core.strategies import (
    REASON_AVGVOL_BELOW_MIN,
    REASON_AVGVOL_UNKNOWN,
    REASON_INSUFFICIENT_HISTORY,
    REASON_MARKET_CAP_BELOW_MIN,
    REASON_MARKET_CAP_UNKNOWN,
    REASON_NO_DATA,
    REASON_ORDER,
    REASON_PRICE_BELOW_MIN,
    REASON_STALE,
    STRATEGY_DIRECTIONS,
    Direction,
    clean_market_caps,
    direction_codes,
    direction_of,
    strategy_masks,
    universe_masks,
)
from tui_trader.core.user_strategies import BoundStrategy, Evaluator, StrategyFault, evaluate


@dataclass(slots=True)
class SymbolScan:
    """One symbol at its latest bar. Indicator values are None where undefined.

    Not frozen on purpose: a scan of 5,000 symbols builds 5,000 of these, and a frozen
    dataclass costs three times as much to construct. Treat it as read-only.
    """

    symbol: str
    last_date: date | None
    close: float | None
    rsi14: float | None
    atr14: float | None
    sma50: float | None
    sma200: float | None
    hhv20: float | None
    llv20: float | None
    avgvol20: float | None
    eligible: bool
    reasons: tuple[str, ...]
    signals: tuple[str, ...]
    direction: Direction | None
    #: Change from the previous bar's close, in percent points (1.5 = +1.5 %). Not part of
    #: the CLI's JSON contract; the dashboard's "change %" column reads it.
    change_pct: float | None = None

    @property
    def tradable(self) -> bool:
        """Eligible and one clear direction: CONFLICT is shown, never traded (SPEC 4)."""
        return self.eligible and self.direction in ("LONG", "SHORT")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: exactly the documented keys, None (never NaN) for unknown values."""
        return {
            "symbol": self.symbol,
            "close": self.close,
            "rsi14": self.rsi14,
            "atr14": self.atr14,
            "sma50": self.sma50,
            "sma200": self.sma200,
            "hhv20": self.hhv20,
            "llv20": self.llv20,
            "avgvol20": self.avgvol20,
            "eligible": self.eligible,
            "reasons": list(self.reasons),
            "signals": list(self.signals),
            "direction": self.direction,
        }


@dataclass(frozen=True, slots=True)
class ScanReport:
    """A scan's results; ``elapsed_ms`` is the indicator + filter + strategy compute alone."""

    asof: date | None
    symbols: int
    elapsed_ms: float
    results: list[SymbolScan]
    #: User strategies stopped during this scan (issue 15); their signals are absent.
    faults: tuple[StrategyFault, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "asof": None if self.asof is None else self.asof.isoformat(),
            "symbols": self.symbols,
            "elapsed_ms": self.elapsed_ms,
            "results": [r.to_dict() for r in self.results],
        }
        if self.faults:  # only then: the JSON contract of a scan without them is unchanged
            out["strategy_faults"] = [{"name": f.name, "reason": f.reason} for f in self.faults]
        return out


_VALUE_FIELDS = ("close", "rsi14", "atr14", "sma50", "sma200", "hhv20", "llv20", "avgvol20")


class _BitTuples(dict[int, tuple[str, ...]]):
    """Bit pattern -> the tuple of names whose bits are set, built on first use."""

    def __init__(self, names: Sequence[str]) -> None:
        super().__init__()
        self._names = tuple(names)

    def __missing__(self, bits: int) -> tuple[str, ...]:
        value = tuple(name for k, name in enumerate(self._names) if bits >> k & 1)
        self[bits] = value
        return value


def _values(arr: NDArray[np.float64]) -> list[float | None]:
    """Python floats, None for NaN (JSON has no NaN)."""
    boxed = arr.astype(object)
    boxed[np.isnan(arr)] = None
    values: list[float | None] = boxed.tolist()
    return values


def scan(
    bars: Bars,
    universe: UniverseSettings,
    strategy: StrategySettings,
    market_caps: Mapping[str, float] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    user: Sequence[BoundStrategy] = (),
    timeout_s: float = float("inf"),
    evaluator: Evaluator | None = None,
) -> ScanReport:
    """Evaluate every symbol of ``bars`` at its last column (SPEC 2-4), then the ``user``
    strategies on the eligible ones (module doc), each allowed ``timeout_s`` in all, run
    by ``evaluator`` (the engine's worker pool) when given, else in this thread."""
    caps = clean_market_caps(bars.symbols, market_caps)
    started = clock()
    ind = compute_indicators(bars)
    umasks = universe_masks(ind, universe, caps)
    smasks = strategy_masks(ind, strategy)

    last_dates = bars.last_dates
    has_data = ~np.isnat(last_dates)
    asof = bars.latest_date
    stale = has_data & (last_dates < np.datetime64(asof, "D")) if asof else has_data & False
    eligible_now = umasks.eligible[:, -1] & has_data & ~stale
    eligible = eligible_now.tolist()
    faults: tuple[StrategyFault, ...] = ()
    user_long = np.zeros(bars.n_symbols, dtype=bool)
    user_short = np.zeros(bars.n_symbols, dtype=bool)
    user_fired: list[NDArray[np.bool_]] = []
    if user:
        rows = np.flatnonzero(eligible_now).tolist()
        umask = evaluate(user, bars, rows, timeout_s, clock, evaluator)
        faults = umask.faults
        for s in user:
            lo = umask.long.get(s.name)
            sh = umask.short.get(s.name)
            if lo is None or sh is None:
                user_fired.append(np.zeros(bars.n_symbols, dtype=bool))
                continue
            user_long |= lo[:, -1]
            user_short |= sh[:, -1]
            user_fired.append(lo[:, -1] | sh[:, -1])
    elapsed_ms = (clock() - started) * 1000.0

    # Reasons and signals as one small integer per symbol (bit k = the k-th code), turned
    # into tuples through a cache: only a handful of combinations ever occur.
    reason_bits = np.zeros(bars.n_symbols, dtype=np.int64)
    flags = {
        REASON_NO_DATA: ~has_data,
        REASON_STALE: stale,
        REASON_PRICE_BELOW_MIN: umasks.price_below_min[:, -1],
        REASON_AVGVOL_BELOW_MIN: umasks.avgvol_below_min[:, -1],
        REASON_AVGVOL_UNKNOWN: umasks.avgvol_unknown[:, -1] & has_data,  # no_data says it
        REASON_MARKET_CAP_BELOW_MIN: umasks.market_cap_below_min,
        REASON_MARKET_CAP_UNKNOWN: umasks.market_cap_unknown,
        REASON_INSUFFICIENT_HISTORY: smasks.insufficient_history[:, -1],
    }
    for bit, code in enumerate(REASON_ORDER):
        reason_bits |= flags[code].astype(np.int64) << bit
    signal_bits = np.zeros(bars.n_symbols, dtype=np.int64)
    for bit, mask in enumerate([m[:, -1] for m in smasks.by_name().values()] + user_fired):
        signal_bits |= mask.astype(np.int64) << bit
    reasons_of = _BitTuples(REASON_ORDER)
    signals_of = _BitTuples((*STRATEGY_DIRECTIONS, *(s.name for s in user)))
    codes = direction_codes(smasks, col=-1)
    codes |= user_long.astype(np.int8) | (2 * user_short.astype(np.int8))  # CONFLICT: 3
    directions = [direction_of(code) for code in codes.tolist()]
    columns = [_values(getattr(ind, name)[:, -1]) for name in _VALUE_FIELDS]
    days: list[date | None] = last_dates.astype("datetime64[D]").tolist()  # NaT -> None

    # Bars are right-aligned, so the column before the last is each symbol's previous bar.
    if bars.n_days >= 2:
        with np.errstate(divide="ignore", invalid="ignore"):
            change = (ind.close[:, -1] / ind.close[:, -2] - 1.0) * 100.0
        change[~np.isfinite(change)] = np.nan
    else:
        change = np.full(bars.n_symbols, np.nan)
    changes = _values(change)

    reasons = [reasons_of[bits] for bits in reason_bits.tolist()]
    signals = [signals_of[bits] for bits in signal_bits.tolist()]
    rows = zip(
        bars.symbols,
        days,
        *columns,
        eligible,
        reasons,
        signals,
        directions,
        changes,
        strict=True,
    )  # SymbolScan's field order
    results = [SymbolScan(*row) for row in rows]
    return ScanReport(
        asof=asof, symbols=len(results), elapsed_ms=elapsed_ms, results=results, faults=faults
    )


def _fmt(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def format_table(results: Sequence[SymbolScan]) -> str:
    """Plain-text table for the CLI: one line per symbol, numbers right-aligned."""
    header = (
        "SYMBOL", "DATE", "CLOSE", "RSI14", "ATR14", "SMA50", "SMA200",
        "HHV20", "LLV20", "AVGVOL20", "DIR", "SIGNALS", "ELIGIBLE", "REASONS",
    )  # fmt: skip
    rows: list[tuple[str, ...]] = [header]
    for r in results:
        rows.append(
            (
                r.symbol,
                "-" if r.last_date is None else r.last_date.isoformat(),
                _fmt(r.close, 2),
                _fmt(r.rsi14, 1),
                _fmt(r.atr14, 2),
                _fmt(r.sma50, 2),
                _fmt(r.sma200, 2),
                _fmt(r.hhv20, 2),
                _fmt(r.llv20, 2),
                _fmt(r.avgvol20, 0),
                r.direction or "-",
                ",".join(r.signals) or "-",
                "yes" if r.eligible else "no",
                ",".join(r.reasons) or "-",
            )
        )
    widths = [max(len(row[k]) for row in rows) for k in range(len(header))]
    left = {0, 1, 10, 11, 12, 13}
    lines = []
    for row in rows:
        cells = [
            cell.ljust(widths[k]) if k in left else cell.rjust(widths[k])
            for k, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
