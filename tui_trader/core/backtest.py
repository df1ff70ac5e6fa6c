"""SPEC 12: the back-test. Deterministic -- the same bars and settings give the same trades.

The same rules as the scanner, the preview and the auto-trader, not a copy of them:
indicators and signals (:mod:`~tui_trader.core.backtest_market`, which calls the
scanner's functions), SPEC 5 selection on a synthetic Black-Scholes chain
(:mod:`~tui_trader.core.backtest_chain`), SPEC 11's order of attempts
(:func:`tui_trader.core.auto.attempt_key`), sizing (:func:`tui_trader.core.risk.
size_contracts`), exits (:func:`tui_trader.core.exits.exit_levels` / ``check_exit``).

How it is fast: everything that does not depend on the book is computed up front and
vectorised -- signals over symbols x days, the chosen spread of every (day, symbol,
direction) a run could trade, in a few large batches. A spread's life after entry depends
only on its symbol's later bars, never on the rest of the book, so when a position opens
its whole path (daily mark, exit value, the first exit rule that holds) is computed at once,
and cached: the run of all strategies and the four single runs share most entries. What
is left for the day loop is the book: slots, the order of attempts, sizing, cash.

Decisions where SPEC 12 is silent (the README carries them):

- **Sizing** uses :func:`~tui_trader.core.risk.size_contracts` on ``initial_equity +
  realised P&L`` (trades closed before the entry, today's exits included), in decimal
  arithmetic of the floats' shortest repr, so 100,000 * 0.02 / 200 is 10, not 9.
- **P&L** of a trade: ``(exit_value - D) * multiplier * n - 4 * commission * n`` (two legs
  at entry, two at exit); an open spread counts ``(mark - D) * multiplier * n - 2 *
  commission * n``. The multiplier is ``[selection] multiplier`` (SPEC 12's 100).
- **Returns** are the equity curve's day-to-day simple returns: one fewer than the days
  (the first day has no previous point; SPEC 12's CAGR also starts from the first point).
- **A run of some strategies** (``--strategies``) is named ``ALL``; one strategy alone is
  only its own run. Trades are listed in the order they were opened.
- **Candidates without a spread** are dropped before the order of attempts (SPEC 11 sorts
  them last and skips them ``no_spread``: the same trades).
- **User strategies** (issue 15) run on every symbol's whole history once per parameter
  set (cached across runs and :meth:`Backtest.reuse`); a trade belongs to the first of
  SPEC 4's four that fired for its direction, else the first user strategy in config
  order. A user strategy that faults stops the back-test (:class:`~tui_trader.core.
  user_strategies.StrategyFailed`): its trades would be a guess.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
from numpy.typing import NDArray

from tui_trader.core.auto import attempt_key
from tui_trader.core.backtest_chain import BestSpreads, best_spreads, quotes
from tui_trader.core.backtest_market import LONG, Market, Signals, run_signals, strategy_order
from tui_trader.core.backtest_metrics import compute_metrics
from tui_trader.core.backtest_results import (
    ALL,
    END,
    RunResult,
    RunSpec,
    Trade,
    iso_day,
    standard_runs,
)
from tui_trader.core.exits import EntrySnapshot, check_exit, exit_levels
from tui_trader.core.risk import size_contracts
from tui_trader.core.settings import Settings
from tui_trader.core.user_strategies import StrategyFailed, UserStrategy, evaluate

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

#: Chains per best_spreads call: bounds the temporary arrays (~30 MB at 2,000).
BATCH = 2_000


@dataclass(slots=True)
class _Path:
    """What happens to a spread opened on a given bar, whatever the book: its marks per
    day from entry (forward-filled over days its symbol has no bar), and its exit."""

    entry_day: int
    exit_day: int  # the day it closes (the range's last day for END)
    reason: str
    exit_value: float
    marks: list[float]  # per day entry_day .. exit_day - 1


@dataclass(slots=True)
class _Position:
    seq: int
    row: int
    pair: int
    strategy: int
    contracts: int
    debit: float
    entry_commission: float
    path: _Path


@dataclass(slots=True)
class _Pairs:
    """Every (bar, direction) some run may trade, keyed ``(row * n_cols + col) * 2 + dir``,
    sorted, with its chosen spread."""

    codes: IntArray
    spreads: BestSpreads


@dataclass
class Backtest:
    """SPEC 12 on one market, one configuration and one range of days (indices into
    ``market.days``, inclusive). :meth:`run` simulates one run; runs share the spreads
    and paths they have in common."""

    market: Market
    settings: Settings
    first_day: int
    last_day: int
    #: The user strategies a run may name (issue 15), in config order; their parameters
    #: come from ``settings.strategies``.
    user: tuple[UserStrategy, ...] = ()
    _sigma: FloatArray = field(init=False, repr=False)
    _close: FloatArray = field(init=False, repr=False)
    _date_num: IntArray = field(init=False, repr=False)
    _last_col: list[int] = field(init=False, repr=False)
    _pairs: _Pairs | None = field(default=None, init=False, repr=False)
    _paths: dict[int, _Path] = field(default_factory=dict, init=False, repr=False)  # by code
    _signals: dict[tuple[str, ...], Signals] = field(default_factory=dict, init=False, repr=False)
    _prepared: set[tuple[str, ...]] = field(default_factory=set, init=False, repr=False)
    #: (name, parameters) -> the user strategy's (long, short) masks: they depend on
    #: nothing else, so every run and every reused back-test shares them.
    _user_masks: dict[tuple[str, str], tuple[BoolArray, BoolArray]] = field(
        default_factory=dict, init=False, repr=False
    )

    def __post_init__(self) -> None:
        if not 0 <= self.first_day <= self.last_day < self.market.days.shape[0]:
            raise ValueError("the range of days is empty or outside the market's days")
        mkt = self.market
        # Row-major copies: a path reads a few consecutive bars of one symbol.
        self._sigma = np.ascontiguousarray(mkt.sigma(self.settings.backtest.iv_multiplier))
        self._close = np.ascontiguousarray(mkt.ind.close)
        dates = mkt.bars.dates.astype(np.int64)
        dates[mkt.day_of < 0] = np.iinfo(np.int64).min  # padding sorts first
        self._date_num = np.ascontiguousarray(dates)
        self._last_col = (np.count_nonzero(mkt.day_of <= self.last_day, axis=1) - 1).tolist()

    def reuse(self, settings: Settings) -> Backtest:
        """A back-test of the same market and days under ``settings``, keeping what those
        settings do not change: signals (strategy, universe, IV cap, iv_multiplier),
        chosen spreads (selection, pricing, the synthetic quotes) and paths (those and
        the exits). A parameter sweep over exits or risk limits chooses spreads once."""
        new = Backtest.__new__(Backtest)
        new.market, new.settings = self.market, settings
        new.first_day, new.last_day = self.first_day, self.last_day
        new.user, new._user_masks = self.user, self._user_masks
        new._close, new._date_num, new._last_col = self._close, self._date_num, self._last_col
        same_vol = settings.backtest.iv_multiplier == self.settings.backtest.iv_multiplier
        new._sigma = (
            self._sigma
            if same_vol
            else np.ascontiguousarray(self.market.sigma(settings.backtest.iv_multiplier))
        )
        same_signals = _signal_key(settings) == _signal_key(self.settings)
        same_spreads = _spread_key(settings) == _spread_key(self.settings)
        new._signals = self._signals if same_signals else {}
        new._prepared = self._prepared if same_signals and same_spreads else set()
        new._pairs = self._pairs if same_spreads else None
        same_paths = same_spreads and settings.exits == self.settings.exits
        new._paths = self._paths if same_paths else {}
        return new

    # -- signals and spreads ------------------------------------------------------------

    def signals(self, strategies: Sequence[str]) -> Signals:
        key = tuple(strategies)
        sig = self._signals.get(key)
        if sig is None:
            user = {u.name: self.user_masks(u) for u in self.user if u.name in key}
            sig = run_signals(
                self.market, self.settings, key, self.first_day, self.last_day, self._sigma, user
            )
            self._signals[key] = sig
        return sig

    def user_masks(self, strategy: UserStrategy) -> tuple[BoolArray, BoolArray]:
        """Where ``strategy`` fires (long, short) over the whole market under this
        back-test's parameters for it; StrategyFailed when it faults."""
        config = self.settings.strategies.user.get(strategy.name)
        raw = config.params if config is not None else {}
        key = (strategy.name, repr(sorted(raw.items())))
        masks = self._user_masks.get(key)
        if masks is None:
            bound = strategy.bind(raw)
            out = evaluate([bound], self.market.bars, range(self.market.bars.n_symbols))
            if out.faults:
                raise StrategyFailed(out.faults[0])
            masks = (out.long[strategy.name], out.short[strategy.name])
            self._user_masks[key] = masks
        return masks

    @property
    def strategy_names(self) -> tuple[str, ...]:
        """What ``Signals.strategy`` indexes: SPEC 4's four, then the user strategies."""
        return strategy_order(u.name for u in self.user)

    def _codes(self, sig: Signals) -> IntArray:
        n_cols = self.market.bars.n_days
        out: IntArray = (sig.row * n_cols + sig.col) * 2 + (sig.direction == LONG)
        return out

    def prepare(self, runs: Sequence[RunSpec]) -> None:
        """Choose the spread of every (bar, direction) any of ``runs`` may trade and no
        earlier run needed, in batches (the expensive, vectorised part)."""
        todo = [r.strategies for r in runs if r.strategies not in self._prepared]
        if not todo:
            return
        codes = np.unique(np.concatenate([self._codes(self.signals(s)) for s in todo]))
        self._prepared.update(todo)
        old = self._pairs
        if old is not None:
            codes = np.setdiff1d(codes, old.codes, assume_unique=True)
            if codes.shape[0] == 0:
                return
        spreads = self._choose(codes)
        if old is not None:
            both = np.concatenate((old.codes, codes))
            order = np.argsort(both)
            codes = both[order]
            spreads = BestSpreads(
                *(
                    np.concatenate((getattr(old.spreads, n), getattr(spreads, n)))[order]
                    for n in BestSpreads.__slots__
                )
            )
        self._pairs = _Pairs(codes=codes, spreads=spreads)

    def _choose(self, codes: IntArray) -> BestSpreads:
        n_cols = self.market.bars.n_days
        bar, want_call = np.divmod(codes, 2)
        rows, cols = np.divmod(bar, n_cols)
        day = self._date_num[rows, cols]
        spot = self._close[rows, cols]
        sigma = self._sigma[rows, cols]
        parts = [
            best_spreads(day[s], spot[s], sigma[s], want_call[s].astype(bool), self.settings)
            for s in (slice(k, k + BATCH) for k in range(0, max(codes.shape[0], 1), BATCH))
        ]
        return BestSpreads(
            *(np.concatenate([getattr(p, name) for p in parts]) for name in BestSpreads.__slots__)
        )

    # -- a spread's life ------------------------------------------------------------------

    def _path(self, pair: int, row: int, col: int, long: bool) -> _Path:
        """The life of the spread chosen for pair ``pair`` (an index into the pairs, which
        shifts when later runs add pairs: the cache is keyed by the pair's code)."""
        assert self._pairs is not None
        code = int(self._pairs.codes[pair])
        cached = self._paths.get(code)
        if cached is not None:
            return cached
        sp = self._pairs.spreads
        mkt, ex = self.market, self.settings.exits
        expiry = int(sp.expiry[pair])
        dates = self._date_num[row]
        # The bars from entry to the first one where TIME holds (dte <= min_days_to_exit),
        # which is as far as the spread can live, or to the range's end.
        due = int(np.searchsorted(dates, expiry - ex.min_days_to_exit))
        stop = min(self._last_col[row], max(due, col + 1))
        cs = slice(col, stop + 1)
        close = self._close[row, cs]
        dte = expiry - dates[cs]
        n = close.shape[0]
        strikes = np.empty(2 * n)
        strikes[:n], strikes[n:] = sp.long_strike[pair], sp.short_strike[pair]
        sigma = self._sigma[row, cs]
        mid, bid, ask = quotes(
            np.concatenate((close, close)),
            strikes,
            np.concatenate((dte, dte)),
            np.concatenate((sigma, sigma)),
            long,
            self.settings.pricing,
            self.settings.backtest,
        )
        marks = mid[:n] - mid[n:]
        values = np.clip(bid[:n] - ask[n:], 0.0, sp.width[pair])
        snapshot = EntrySnapshot(
            "LONG" if long else "SHORT",
            float(close[0]),
            float(mkt.ind.atr14[row, col]),
            float(mkt.ind.hhv20[row, col]),
            float(mkt.ind.llv20[row, col]),
        )
        levels = exit_levels(snapshot, ex)
        exit_k, reason = n - 1, END
        for k, (price, left) in enumerate(
            zip(close[1:].tolist(), dte[1:].tolist(), strict=True), 1
        ):
            decision = check_exit(levels, price, left, ex)
            if decision is not None:
                exit_k, reason = k, decision.reason.value
                break
        days = mkt.day_of[row, cs]
        first = int(days[0])
        exit_day = int(days[exit_k]) if reason != END else self.last_day
        if int(days[-1]) - first == n - 1 and exit_day - first <= n:  # a bar every day
            filled = marks[: exit_day - first]
        else:
            span = np.arange(first, exit_day)
            filled = marks[np.searchsorted(days, span, side="right") - 1]
        path = _Path(first, exit_day, reason, float(values[exit_k]), filled.tolist())
        self._paths[code] = path
        return path

    # -- the book ---------------------------------------------------------------------------

    def run(self, spec: RunSpec) -> RunResult:
        """Simulate one run (SPEC 12's day loop: exits, then entries, then END)."""
        self.prepare([spec])
        assert self._pairs is not None
        sig = self.signals(spec.strategies)
        pair_of = np.searchsorted(self._pairs.codes, self._codes(sig))
        sp = self._pairs.spreads
        has = sp.found[pair_of]
        days = sig.day[has]
        pairs = pair_of[has]
        rows, cols = sig.row[has].tolist(), sig.col[has].tolist()
        longs = (sig.direction[has] == LONG).tolist()
        strategy = sig.strategy[has].tolist()
        rr, pop = sp.reward_risk[pairs].tolist(), sp.pop[pairs].tolist()
        debit = sp.debit[pairs].tolist()
        pairs_l = pairs.tolist()
        symbols = self.market.symbols
        bounds = np.searchsorted(days, np.arange(self.first_day, self.last_day + 2)).tolist()

        s = self.settings
        risk, mult = s.risk, s.selection.multiplier
        initial, commission = s.backtest.initial_equity, s.backtest.commission_per_contract
        n_days = self.last_day - self.first_day + 1
        equity = np.empty(n_days)
        realised_curve = np.empty(n_days)
        open_curve = np.empty(n_days)
        exposed = np.zeros(n_days, dtype=bool)
        book: list[_Position] = []
        busy: set[int] = set()
        closing: dict[int, list[_Position]] = {}
        closed: list[tuple[int, Trade]] = []
        realised = 0.0
        seq = 0

        def close(p: _Position, day: int, reason: str, value: float) -> float:
            pnl = (value - p.debit) * mult * p.contracts - 2.0 * p.entry_commission
            closed.append((p.seq, self._trade(p, day, reason, value, pnl, symbols)))
            book.remove(p)
            busy.discard(p.row)
            return pnl

        for k, day in enumerate(range(self.first_day, self.last_day + 1)):
            for p in closing.pop(day, ()):  # (1) exits of spreads opened before today
                realised += close(p, day, p.path.reason, p.path.exit_value)
            lo, hi = bounds[k], bounds[k + 1]
            if hi > lo and len(book) < risk.max_positions and risk.max_daily_trades > 0:
                order = sorted(
                    range(lo, hi), key=lambda c: attempt_key(rr[c], pop[c], symbols[rows[c]])
                )
                entries = 0
                for c in order:  # (2) entries, SPEC 11's order, SPEC 12's gates
                    if len(book) >= risk.max_positions or entries >= risk.max_daily_trades:
                        break
                    row = rows[c]
                    if row in busy:
                        continue
                    d = debit[c]
                    n = size_contracts(initial + realised, d * mult, risk)
                    if n < 1:
                        continue
                    pair = pairs_l[c]
                    path = self._path(pair, row, cols[c], longs[c])
                    pos = _Position(seq, row, pair, strategy[c], n, d, commission * 2.0 * n, path)
                    seq += 1
                    book.append(pos)
                    busy.add(row)
                    entries += 1
                    if path.reason != END:
                        closing.setdefault(path.exit_day, []).append(pos)
            if day == self.last_day:  # END: whatever is still open closes at its value
                for p in list(book):
                    realised += close(p, day, END, p.path.exit_value)
            held = 0.0
            for p in book:
                mark = p.path.marks[day - p.path.entry_day]
                held += (mark - p.debit) * mult * p.contracts - p.entry_commission
            equity[k] = initial + realised + held
            realised_curve[k] = realised
            open_curve[k] = held
            exposed[k] = bool(book)

        trades = [t for _, t in sorted(closed, key=lambda x: x[0])]
        run_days = self.market.days[self.first_day : self.last_day + 1]
        metrics = compute_metrics(run_days, equity, exposed, trades)
        return RunResult(
            spec.name, run_days, equity, realised_curve, open_curve, exposed, trades, metrics
        )

    def _trade(
        self, p: _Position, day: int, reason: str, value: float, pnl: float, symbols: list[str]
    ) -> Trade:
        assert self._pairs is not None
        sp, pair = self._pairs.spreads, p.pair
        code = int(self._pairs.codes[pair])
        long = bool(code % 2)
        return Trade(
            symbol=symbols[p.row],
            strategy=self.strategy_names[p.strategy],
            direction="LONG" if long else "SHORT",
            entry_date=iso_day(int(self.market.days[p.path.entry_day].astype(np.int64))),
            exit_date=iso_day(int(self.market.days[day].astype(np.int64))),
            expiry=iso_day(int(sp.expiry[pair])),
            right="C" if long else "P",
            long_strike=float(sp.long_strike[pair]),
            short_strike=float(sp.short_strike[pair]),
            contracts=p.contracts,
            entry_debit=p.debit,
            exit_value=value,
            pnl=pnl,
            exit_reason=reason,
        )


def _signal_key(s: Settings) -> tuple[object, ...]:
    return (
        s.strategy,
        s.universe,
        s.risk.max_volatility_iv,
        s.backtest.iv_multiplier,
        s.strategies,
    )


def _spread_key(s: Settings) -> tuple[object, ...]:
    b = s.backtest
    return (s.selection, s.pricing, b.iv_multiplier, b.min_half_spread, b.half_spread_pct)


def day_range(
    days: NDArray[np.datetime64], start: date | None, end: date | None
) -> tuple[int, int]:
    """Indices of the first and last of ``days`` (Market.days, or
    :func:`~tui_trader.core.backtest_market.all_days`) in [start, end] (None: open);
    ValueError when no day lies there."""
    lo = 0 if start is None else int(np.searchsorted(days, np.datetime64(start, "D")))
    hi = days.shape[0] - 1
    if end is not None:
        hi = int(np.searchsorted(days, np.datetime64(end, "D"), side="right")) - 1
    if days.shape[0] == 0 or lo > hi:
        raise ValueError("no trading day in the range")
    return lo, hi


def run_backtest(
    market: Market,
    settings: Settings,
    first_day: int,
    last_day: int,
    runs: Sequence[RunSpec] | None = None,
    user: Sequence[UserStrategy] = (),
) -> list[RunResult]:
    """Every run of ``runs`` (default: :func:`standard_runs`) on one range, sharing spreads
    and paths; in the order given (rank them with :func:`~tui_trader.core.backtest_metrics.
    rank`). ``user``: the user strategies the runs may name."""
    specs = list(runs) if runs is not None else standard_runs()
    bt = Backtest(market, settings, first_day, last_day, tuple(user))
    bt.prepare(specs)
    return [bt.run(spec) for spec in specs]


__all__ = [
    "ALL",
    "END",
    "Backtest",
    "RunResult",
    "RunSpec",
    "Trade",
    "day_range",
    "run_backtest",
    "standard_runs",
]
