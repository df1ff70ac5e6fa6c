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
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
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
    return pd.DataFrame(
        {name: np.array(getattr(bars, name)[row, first:]) for name in FRAME_COLUMNS},
        index=index,
    )


class SignalShapeError(ValueError):
    """A strategy's answer is not a Series of LONG / SHORT / nothing for each bar."""


def signal_arrays(out: object, frame: pd.DataFrame) -> tuple[BoolArray, BoolArray]:
    """(long, short) per bar of ``frame`` from a strategy's answer; SignalShapeError (one
    sentence) for anything but a Series over exactly the frame's dates whose values are
    LONG, SHORT or missing."""
    if not isinstance(out, pd.Series):
        raise SignalShapeError(f"returned {type(out).__name__}, not a pandas Series")
    if len(out) != len(frame):
        raise SignalShapeError(
            f"returned {len(out)} values for {len(frame)} bars (one per bar is needed)"
        )
    if not out.index.equals(frame.index):
        raise SignalShapeError("returned a Series whose index is not the bars' dates")
    values = out.to_numpy(dtype=object)
    missing = np.asarray(pd.isna(values), dtype=bool)
    # Compare only the present values: ``pd.NA == "LONG"`` is NA, which numpy cannot
    # turn into a bool.
    present = np.where(missing, "", values)
    long = present == LONG
    short = present == SHORT
    bad = ~(long | short | missing)
    if bad.any():
        k = int(np.argmax(bad))
        day = frame.index[k].date().isoformat()
        raise SignalShapeError(
            f"returned {values[k]!r} on {day}; allowed are 'LONG', 'SHORT' or None"
        )
    return np.asarray(long, dtype=bool), np.asarray(short, dtype=bool)


def evaluate(
    strategies: Sequence[BoundStrategy],
    bars: Bars,
    rows: Iterable[int],
    timeout_s: float = float("inf"),
    clock: Callable[[], float] = time.perf_counter,
) -> UserMasks:
    """Run each strategy on each of ``rows`` (module doc); a strategy that faults, or whose
    total time over these rows exceeds ``timeout_s``, is dropped with its fault.

    Every call gets its own copy of the frame: pandas-ta's ``append=True`` adds columns to
    the frame it is given, and one strategy must not see another's columns.
    """
    shape = bars.close.shape
    long: dict[str, BoolArray] = {}
    short: dict[str, BoolArray] = {}
    faults: list[StrategyFault] = []
    alive = list(strategies)
    for s in alive:
        long[s.name] = np.zeros(shape, dtype=bool)
        short[s.name] = np.zeros(shape, dtype=bool)
    spent = dict.fromkeys((s.name for s in alive), 0.0)
    for row in rows:
        if not alive:
            break
        first = int(bars.first_valid[row])
        if first >= bars.n_days:
            continue
        base = symbol_frame(bars, row)
        for s in list(alive):
            fault = None
            started = clock()
            try:
                result = s.fn(base.copy(), s.params)
                lo, sh = signal_arrays(result, base)
            except SignalShapeError as exc:
                reason = f"{s.name} {exc} for {bars.symbols[row]}"
                fault = StrategyFault(s.name, reason, reason)
            except Exception as exc:
                reason = f"{s.name} raised {type(exc).__name__}: {exc} (on {bars.symbols[row]})"
                fault = StrategyFault(s.name, reason, traceback.format_exc())
            spent[s.name] += clock() - started
            if fault is None and spent[s.name] > timeout_s:
                reason = (
                    f"{s.name} took {spent[s.name]:.1f} s, more than [strategies] timeout_s "
                    f"= {timeout_s:g} s"
                )
                fault = StrategyFault(s.name, reason, reason)
            if fault is not None:
                faults.append(fault)
                alive.remove(s)
                del long[s.name], short[s.name]
                continue
            long[s.name][row, first:] = lo
            short[s.name][row, first:] = sh
    return UserMasks(long=long, short=short, faults=tuple(faults))


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
