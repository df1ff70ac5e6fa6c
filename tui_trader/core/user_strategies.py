"""Traders' own strategies (issue 15), evaluated beside SPEC 4's four.

The contract: ``fn(df, params) -> pd.Series`` over one symbol's daily bars (a
``DatetimeIndex`` named ``date``; float columns open, high, low, close, volume; oldest
first), giving per day ``"LONG"``, ``"SHORT"`` or nothing (None / NaN / pd.NA). ``params``
is the ``[strategies.NAME] params`` table, validated into the pydantic model the function
declares as its ``params`` annotation, or the plain dict when it declares none.

Why per symbol and not vectorised like the built-ins: the functions are the trader's,
written with pandas / pandas-ta on one symbol's frame; there is no way to vectorise them
across symbols. They run after the compiled pass, only over the symbols that pass the
universe filter in a scan, and their answers become the same (symbols x days) masks the
built-ins produce, so the scanner's CONFLICT rule and the back-test's signal arrays
treat them alike.

Why faults are values here, not exceptions: one user function must never stop a scan.
A function that raises, returns something that is not such a Series (wrong type, length,
index, values), or takes longer than the time allowed per scan yields a
:class:`StrategyFault` (one sentence and the traceback); the caller disables it and goes
on. Everything here is pure: modules are imported, and faults logged, outside ``core``
(:mod:`tui_trader.engine.user_strategies`).

Why :class:`SymbolRows` and :func:`evaluate_rows` beside :func:`evaluate`: the engine
runs the strategies in worker processes (:mod:`tui_trader.engine.strategy_pool`), which
get chunks of symbols as plain arrays and run exactly the loop the thread runs, with a
:data:`Guard` around each call; ``evaluate(..., evaluator=pool.evaluate)`` routes there. The loop's
own cost per symbol is kept small (one float block copied per strategy, one date index
shared by symbols with the same dates): ~0.1 ms of the ~6 ms a five-indicator pandas-ta
strategy takes.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import BaseModel, ValidationError

from tui_trader.core.bars import Bars

BoolArray = NDArray[np.bool_]
StrategyFn = Callable[[pd.DataFrame, Any], Any]

LONG = "LONG"
SHORT = "SHORT"
FRAME_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")


class StrategyParamsError(ValueError):
    """The parameters do not fit the strategy's model; ``str()`` is one sentence."""


@dataclass(frozen=True, slots=True)
class UserStrategy:
    """A loaded user strategy: its config name, its function and the pydantic model its
    ``params`` argument is annotated with (None: it takes the plain dict)."""

    name: str
    fn: StrategyFn
    params_model: type[BaseModel] | None = None

    def bind(self, raw: Mapping[str, Any]) -> BoundStrategy:
        """This strategy with ``raw`` parameters checked (StrategyParamsError if not)."""
        return BoundStrategy(self.name, self.fn, check_params(self, raw))


@dataclass(frozen=True, slots=True)
class BoundStrategy:
    """A user strategy with its parameters, ready to run."""

    name: str
    fn: StrategyFn
    params: Any


def check_params(strategy: UserStrategy, raw: Mapping[str, Any]) -> Any:
    """``raw`` validated by the strategy's model (strictly, as the config file is), or a
    copy of ``raw`` when the function declares none."""
    if strategy.params_model is None:
        return dict(raw)
    try:
        return strategy.params_model.model_validate(dict(raw), strict=True)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "params"
        message = str(err["msg"]).removeprefix("Value error, ")
        got = f" (got {err['input']!r})" if err["type"] != "missing" else ""
        raise StrategyParamsError(
            f"[strategies.{strategy.name}] params.{where}: {message}{got}"
        ) from None


@dataclass(frozen=True, slots=True)
class StrategyFault:
    """Why a user strategy was stopped: ``reason`` is the one line shown, ``detail`` the
    traceback (or the same line when there is none) for the log."""

    name: str
    reason: str
    detail: str
    #: It was over its time (the worker pool sums chunks' times into one sentence).
    overtime: bool = False


class StrategyFailed(Exception):
    """A user strategy faulted where its answer is needed whole (the back-test);
    ``str()`` is the fault's one line, ``fault.detail`` the traceback."""

    def __init__(self, fault: StrategyFault) -> None:
        super().__init__(fault.reason)
        self.fault = fault


@dataclass(frozen=True, eq=False, slots=True)
class UserMasks:
    """Where each user strategy fires (symbols x days, as Bars), in the order given, and
    the strategies that faulted instead (their masks are absent)."""

    long: dict[str, BoolArray]
    short: dict[str, BoolArray]
    faults: tuple[StrategyFault, ...]


def symbol_frame(bars: Bars, row: int) -> pd.DataFrame:
    """Row ``row``'s valid bars as the frame a strategy gets (module doc)."""
    first = int(bars.first_valid[row])
    index = pd.DatetimeIndex(bars.dates[row, first:], name="date")
    return _frame(_row_values(bars, row, first), index)


_COLUMNS = pd.Index(FRAME_COLUMNS)


def _row_values(bars: Bars, row: int, first: int) -> NDArray[np.float64]:
    return np.column_stack([getattr(bars, name)[row, first:] for name in FRAME_COLUMNS])


def _frame(values: NDArray[np.float64], index: pd.DatetimeIndex) -> pd.DataFrame:
    """A frame over its own copy of ``values`` (one float block, as ``DataFrame.copy``
    makes): each strategy gets its own, since pandas-ta's ``append=True`` adds columns
    to the frame it is given and one strategy must not see another's columns."""
    return pd.DataFrame(values.copy(), index=index, columns=_COLUMNS, copy=False)


class SignalShapeError(ValueError):
    """A strategy's answer is not a Series of LONG / SHORT / nothing for each bar."""


def signal_arrays(out: object, frame: pd.DataFrame | pd.Index) -> tuple[BoolArray, BoolArray]:
    """(long, short) per bar of ``frame`` (or of its date index) from a strategy's answer;
    SignalShapeError (one sentence) for anything but a Series over exactly the frame's
    dates whose values are LONG, SHORT or missing."""
    index = frame if isinstance(frame, pd.Index) else frame.index
    if not isinstance(out, pd.Series):
        raise SignalShapeError(f"returned {type(out).__name__}, not a pandas Series")
    if len(out) != len(index):
        raise SignalShapeError(
            f"returned {len(out)} values for {len(index)} bars (one per bar is needed)"
        )
    if out.index is not index and not out.index.equals(index):
        raise SignalShapeError("returned a Series whose index is not the bars' dates")
    values = out.to_numpy(dtype=object)
    missing = np.asarray(pd.isna(values), dtype=bool)
    if missing.any():
        # Compare only the present values: ``pd.NA == "LONG"`` is NA, which numpy cannot
        # turn into a bool.
        values = np.where(missing, "", values)
    long = np.asarray(values == LONG, dtype=bool)
    short = np.asarray(values == SHORT, dtype=bool)
    bad = ~(long | short | missing)
    if bad.any():
        k = int(np.argmax(bad))
        day = index[k].date().isoformat()
        raise SignalShapeError(
            f"returned {out.iloc[k]!r} on {day}; allowed are 'LONG', 'SHORT' or None"
        )
    return long, short


@dataclass(frozen=True, eq=False, slots=True)
class SymbolRows:
    """Some symbols' valid bars as strategies get them, apart from :class:`Bars` so that
    they can be sent to a worker process whole (plain arrays, no checks to redo).

    ``rows``: each symbol's row in the bars it came from; ``first``: its first valid
    column; ``dates`` (k, n_days) and ``values`` (k, n_days, 5 columns of
    :data:`FRAME_COLUMNS`) as in the bars.
    """

    symbols: tuple[str, ...]
    rows: tuple[int, ...]
    first: NDArray[np.int64]
    dates: NDArray[np.datetime64]
    values: NDArray[np.float64]

    @classmethod
    def of(cls, bars: Bars, rows: Iterable[int]) -> SymbolRows:
        """``rows`` of ``bars`` that hold data (a row with none is left out)."""
        keep = [int(r) for r in rows if int(bars.first_valid[r]) < bars.n_days]
        take = np.asarray(keep, dtype=np.int64)
        values = np.stack([getattr(bars, name)[take] for name in FRAME_COLUMNS], axis=-1)
        return cls(
            symbols=tuple(bars.symbols[r] for r in keep),
            rows=tuple(keep),
            first=np.asarray(bars.first_valid[take], dtype=np.int64),
            dates=np.asarray(bars.dates[take]),
            values=values,
        )

    def __len__(self) -> int:
        return len(self.rows)

    def part(self, start: int, stop: int) -> SymbolRows:
        """Symbols ``start:stop`` of these."""
        return SymbolRows(
            self.symbols[start:stop],
            self.rows[start:stop],
            self.first[start:stop],
            self.dates[start:stop],
            self.values[start:stop],
        )


@dataclass(frozen=True, eq=False, slots=True)
class RowsResult:
    """What each strategy said on some :class:`SymbolRows` (k x n_days masks), the time
    it took there, and the strategies that faulted instead (their masks are absent)."""

    long: dict[str, BoolArray]
    short: dict[str, BoolArray]
    spent: dict[str, float]
    faults: tuple[StrategyFault, ...]


class Overtime(BaseException):
    """Raised into a strategy by a :data:`Guard` when its time is up (a BaseException so
    that the trader's ``except Exception`` does not swallow it)."""


#: Wraps each call of a strategy: ``guard(strategy_index, symbol_index, budget_s)``; a
#: worker process uses it to say what runs and to interrupt a call that overruns.
Guard = Callable[[int, int, float], AbstractContextManager[object]]


def timeout_fault(name: str, spent: float, timeout_s: float) -> StrategyFault:
    """The fault of a strategy over its time (``spent``, in all, this scan)."""
    reason = f"{name} took {spent:.1f} s, more than [strategies] timeout_s = {timeout_s:g} s"
    return StrategyFault(name, reason, reason, overtime=True)


def evaluate_rows(
    strategies: Sequence[BoundStrategy],
    part: SymbolRows,
    timeout_s: float = float("inf"),
    clock: Callable[[], float] = time.perf_counter,
    guard: Guard | None = None,
) -> RowsResult:
    """Run each strategy on each symbol of ``part``; a strategy that faults, or whose
    total time here exceeds ``timeout_s``, is dropped with its fault (the first in symbol
    order). Symbols with the same dates share one (immutable) date index."""
    n_days = part.dates.shape[1] if part.dates.ndim == 2 else 0
    shape = (len(part), n_days)
    long: dict[str, BoolArray] = {s.name: np.zeros(shape, dtype=bool) for s in strategies}
    short: dict[str, BoolArray] = {s.name: np.zeros(shape, dtype=bool) for s in strategies}
    spent = dict.fromkeys(long, 0.0)
    faults: list[StrategyFault] = []
    alive = list(enumerate(strategies))
    index: pd.DatetimeIndex | None = None
    last_dates: NDArray[np.datetime64] | None = None
    for k in range(len(part)):
        if not alive:
            break
        first = int(part.first[k])
        dates = part.dates[k, first:]
        if index is None or last_dates is None or not np.array_equal(dates, last_dates):
            index = pd.DatetimeIndex(dates, name="date")
            last_dates = dates
        values = part.values[k, first:]
        for i, s in list(alive):
            fault = None
            started = clock()
            try:
                if guard is None:
                    result = s.fn(_frame(values, index), s.params)
                else:
                    with guard(i, k, timeout_s - spent[s.name]):
                        result = s.fn(_frame(values, index), s.params)
                lo, sh = signal_arrays(result, index)
            except SignalShapeError as exc:
                reason = f"{s.name} {exc} for {part.symbols[k]}"
                fault = StrategyFault(s.name, reason, reason)
            except Overtime:
                fault = timeout_fault(s.name, spent[s.name] + clock() - started, timeout_s)
            except Exception as exc:
                reason = f"{s.name} raised {type(exc).__name__}: {exc} (on {part.symbols[k]})"
                fault = StrategyFault(s.name, reason, traceback.format_exc())
            spent[s.name] += clock() - started
            if fault is None and spent[s.name] > timeout_s:
                fault = timeout_fault(s.name, spent[s.name], timeout_s)
            if fault is not None:
                faults.append(fault)
                alive.remove((i, s))
                del long[s.name], short[s.name]
                continue
            long[s.name][k, first:] = lo
            short[s.name][k, first:] = sh
    return RowsResult(long=long, short=short, spent=spent, faults=tuple(faults))


def scatter(
    strategies: Sequence[BoundStrategy], bars: Bars, rows: Sequence[int], result: RowsResult
) -> UserMasks:
    """``result`` over ``rows`` of ``bars`` as masks over all of ``bars``."""
    shape = bars.close.shape
    take = np.asarray(rows, dtype=np.int64)
    long: dict[str, BoolArray] = {}
    short: dict[str, BoolArray] = {}
    for s in strategies:
        if s.name not in result.long:
            continue
        long[s.name] = np.zeros(shape, dtype=bool)
        short[s.name] = np.zeros(shape, dtype=bool)
        long[s.name][take] = result.long[s.name]
        short[s.name][take] = result.short[s.name]
    return UserMasks(long=long, short=short, faults=result.faults)


#: Who runs the strategies over a :class:`SymbolRows` part instead of this thread: the
#: engine passes its worker pool's ``evaluate`` (through
#: :func:`tui_trader.core.scanner.scan`), which knows nothing more about processes.
Evaluator = Callable[[Sequence[BoundStrategy], SymbolRows, float], RowsResult]


def evaluate(
    strategies: Sequence[BoundStrategy],
    bars: Bars,
    rows: Iterable[int],
    timeout_s: float = float("inf"),
    clock: Callable[[], float] = time.perf_counter,
    evaluator: Evaluator | None = None,
) -> UserMasks:
    """Run each strategy on each of ``rows`` (module doc); a strategy that faults, or whose
    total time over these rows exceeds ``timeout_s``, is dropped with its fault. Runs in
    this thread, or through ``evaluator`` (the engine's worker pool) when one is given."""
    part = SymbolRows.of(bars, rows)
    if evaluator is None or not strategies or not len(part):
        result = evaluate_rows(strategies, part, timeout_s, clock)
    else:
        result = evaluator(strategies, part, timeout_s)
    return scatter(strategies, bars, part.rows, result)


@dataclass(frozen=True, slots=True)
class LookAhead:
    """A day on which a strategy's signal from the bars up to that day differs from its
    signal on the whole history: it used later bars."""

    symbol: str
    day: str
    full: str | None
    prefix: str | None

    def sentence(self, name: str) -> str:
        return (
            f"{name} looks ahead: on {self.day} for {self.symbol} it says "
            f"{self.full or 'nothing'} with the whole history but {self.prefix or 'nothing'} "
            "with the bars up to that day"
        )


def _label(long: BoolArray, short: BoolArray, k: int) -> str | None:
    return LONG if long[k] else SHORT if short[k] else None


def look_ahead(
    strategy: BoundStrategy,
    frame: pd.DataFrame,
    symbol: str,
    ends: Iterable[int] | None = None,
) -> LookAhead | None:
    """The first day where ``strategy`` on a prefix of ``frame`` disagrees with it on the
    whole frame, or None. ``ends``: the prefixes' last bars (indices into the frame;
    default every bar). Each prefix's whole answer is compared, not only its last day, so a
    sample of prefixes still catches a look-ahead of several bars. Exceptions and shape
    errors propagate (the caller reports them as such)."""
    full_long, full_short = signal_arrays(strategy.fn(frame.copy(), strategy.params), frame)
    first_bad: int | None = None
    found: LookAhead | None = None
    for end in sorted(set(range(len(frame)) if ends is None else ends)):
        if first_bad is not None and end >= first_bad:
            break
        prefix = frame.iloc[: end + 1]
        lo, sh = signal_arrays(strategy.fn(prefix.copy(), strategy.params), prefix)
        diff = (lo != full_long[: end + 1]) | (sh != full_short[: end + 1])
        if diff.any():
            k = int(np.argmax(diff))
            if first_bad is None or k < first_bad:
                first_bad = k
                found = LookAhead(
                    symbol=symbol,
                    day=frame.index[k].date().isoformat(),
                    full=_label(full_long, full_short, k),
                    prefix=_label(lo, sh, k),
                )
    return found


def sample_ends(long: BoolArray, short: BoolArray, count: int) -> list[int]:
    """Up to ``count`` prefix ends for a quick look-ahead check: days where the whole
    history fires (a signal that needs later bars shows there), evenly spread, plus the
    last day."""
    fired = np.flatnonzero(long | short)
    n = long.shape[0]
    if fired.shape[0] > count:
        fired = fired[np.linspace(0, fired.shape[0] - 1, count).round().astype(int)]
    ends = {int(k) for k in fired}
    if n:
        ends.add(n - 1)
    return sorted(ends)
