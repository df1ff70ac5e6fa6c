"""The Backtest screen's work, apart from its widgets: the trader's choices checked into a
job (one sentence for what is wrong), and SPEC 12's runs done step by step in a worker
thread, so the screen can show progress and stop between steps when cancelled.

Nothing here is a second copy of the back-test: the steps are
:func:`tui_trader.core.backtest.run_backtest`'s own (one :class:`~tui_trader.core.backtest.
Backtest` on the range, :meth:`~tui_trader.core.backtest.Backtest.prepare` for every run,
then :meth:`~tui_trader.core.backtest.Backtest.run` per run), the runs are
:func:`~tui_trader.core.backtest.standard_runs` and the ranking is
:func:`~tui_trader.core.backtest_metrics.rank`, as ``tui-trader backtest`` ranks its report
(a test checks the screen's numbers against the command's JSON). Imported when the screen
is first used: it pulls numpy, which the dashboard's first frame does not need.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
from numpy.typing import NDArray

from tui_trader.core.backtest import Backtest, RunResult, day_range, standard_runs
from tui_trader.core.backtest_market import all_days, prepare_market
from tui_trader.core.backtest_metrics import rank
from tui_trader.core.bars import Bars
from tui_trader.core.settings import Settings

#: ``progress(done, total)``: steps done of the job's steps.
Progress = Callable[[int, int], None]


class JobError(ValueError):
    """The trader's choices cannot be run; the message is one sentence for the screen."""


def parse_day(text: str, label: str) -> date | None:
    """A typed date (``YYYY-MM-DD``); None when the box is empty (the bars' own end)."""
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise JobError(f"{label} {text!r} is not a date: write it as YYYY-MM-DD.") from None


@dataclass(frozen=True, slots=True, eq=False)
class BacktestJob:
    """What to run: the bars, the settings, the strategies, the range (indices into
    ``days``, inclusive, as :func:`~tui_trader.core.backtest.day_range` gives them)."""

    bars: Bars
    settings: Settings
    strategies: tuple[str, ...]
    days: NDArray[np.datetime64]
    first: int
    last: int

    @property
    def steps(self) -> int:
        """Progress steps: the market, the spreads, then one per run."""
        return 2 + len(standard_runs(self.strategies))

    def period(self) -> str:
        n = self.last - self.first + 1
        return f"{self.days[self.first]} to {self.days[self.last]} ({n} day{'s' * (n != 1)})"


def plan_job(
    bars: Bars,
    settings: Settings,
    strategies: Sequence[str],
    start_text: str,
    end_text: str,
) -> BacktestJob:
    """The job for the trader's choices; :class:`JobError` (one sentence) for no strategy,
    a date that is not one, or a range without a trading day in ``bars``."""
    if not strategies:
        raise JobError("Choose at least one strategy to back-test.")
    start = parse_day(start_text, "From")
    end = parse_day(end_text, "To")
    if start is not None and end is not None and start > end:
        raise JobError(f"From {start} is after to {end}: the range is empty.")
    days = all_days(bars)
    if days.shape[0] == 0:
        raise JobError("The loaded bars hold no trading day.")
    try:
        first, last = day_range(days, start, end)
    except ValueError:
        since = start.isoformat() if start else "the first bar"
        until = end.isoformat() if end else "the last bar"
        raise JobError(
            f"No trading day from {since} to {until}: the bars run from {days[0]} to {days[-1]}."
        ) from None
    return BacktestJob(bars, settings, tuple(strategies), days, first, last)


@dataclass(frozen=True, slots=True, eq=False)
class BacktestReport:
    """A finished job: its runs in :func:`standard_runs` order, and how long it took."""

    job: BacktestJob
    runs: list[RunResult]
    elapsed_s: float

    def ranked(self, metric: str) -> list[RunResult]:
        """The runs best first by ``metric``, as the command's report ranks them."""
        return rank(self.runs, metric, lambda r: r.metrics)


def run_job(
    job: BacktestJob, progress: Progress, cancelled: Callable[[], bool]
) -> BacktestReport | None:
    """Run ``job`` (in a worker thread), calling ``progress`` after each step; None as soon
    as ``cancelled()`` says so between two steps (a step itself is not interrupted)."""
    started = time.perf_counter()
    specs = standard_runs(job.strategies)
    total = job.steps
    progress(0, total)
    market = prepare_market(job.bars)
    if cancelled():
        return None
    progress(1, total)
    bt = Backtest(market, job.settings, job.first, job.last)
    bt.prepare(specs)
    if cancelled():
        return None
    progress(2, total)
    runs: list[RunResult] = []
    for spec in specs:
        runs.append(bt.run(spec))
        if cancelled():
            return None
        progress(2 + len(runs), total)
    return BacktestReport(job, runs, time.perf_counter() - started)
