"""``tui-trader backtest``: SPEC 12 on a CSV of daily bars, as a report, JSON or CSV files.

``tui-trader backtest --bars FILE [--from DATE] [--to DATE] [--strategies A,B]
[--set section.key=value ...] [--grid section.key=v1,v2 ...] [--metric M] [--split DATE]
[--workers N] [--dask tcp://host:8786] [--json] [--trades-csv FILE] [--returns-csv FILE]``

Bad input -- the ``scan`` CSV rules, an unknown or invalid ``--set`` / ``--grid`` key or
value, an unknown strategy, a range without a trading day, a ``--split`` date that leaves
no day on one side, an unreachable Dask scheduler -- ends with exit code 2 and one sentence.
Kept apart from :mod:`tui_trader.cli` (which registers it) so that module stays short;
heavy imports happen inside the command so ``--help`` stays instant.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from tui_trader.core.settings import Settings

if TYPE_CHECKING:
    from tui_trader.core.backtest import RunResult
    from tui_trader.core.bars import Bars

#: SPEC 4's strategies (as core.strategies names them; repeated here so --help needs no numpy).
STRATEGY_NAMES = ("HIGH_BASE", "LOW_BASE", "BULL_PULLBACK", "BEAR_RALLY")
#: SPEC 12's metrics (core.backtest_metrics.METRICS, for the same reason).
METRIC_NAMES = (
    "trades",
    "win_rate",
    "avg_win",
    "avg_loss",
    "profit_factor",
    "net_profit",
    "max_drawdown",
    "sharpe",
    "cagr",
    "exposure",
    "avg_days_held",
)


def add_backtest_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """The ``backtest`` subcommand's arguments (``sub`` is cli's subparsers object)."""
    from tui_trader.cli import _parse_date

    p = sub.add_parser(
        "backtest", parents=[common], help="back-test the strategies on a CSV of daily bars"
    )
    p.add_argument(
        "--bars",
        type=Path,
        required=True,
        metavar="FILE",
        help="CSV with header date,symbol,open,high,low,close,volume",
    )
    p.add_argument(
        "--from",
        dest="start",
        type=_parse_date,
        metavar="YYYY-MM-DD",
        help="first day simulated (earlier bars still warm the indicators)",
    )
    p.add_argument(
        "--to",
        dest="end",
        type=_parse_date,
        metavar="YYYY-MM-DD",
        help="last day simulated (later bars are ignored)",
    )
    p.add_argument(
        "--strategies", metavar="A,B", help=f"comma-separated subset of {', '.join(STRATEGY_NAMES)}"
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="section.key=value",
        help="override a setting for this back-test (repeatable)",
    )
    p.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="section.key=v1,v2",
        help="sweep a setting over values (repeatable: cartesian product)",
    )
    p.add_argument(
        "--metric",
        choices=METRIC_NAMES,
        default="sharpe",
        help="what runs and sweep sets are ranked by (default sharpe)",
    )
    p.add_argument(
        "--split",
        type=_parse_date,
        metavar="YYYY-MM-DD",
        help="pick the best set before this day, report it from this day on",
    )
    p.add_argument(
        "--workers",
        type=_positive_int,
        metavar="N",
        help="local processes for a sweep (default: one per core)",
    )
    p.add_argument(
        "--dask",
        metavar="tcp://HOST:PORT",
        help="run a sweep's sets on this Dask scheduler (extra: tui-trader[cluster])",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--trades-csv", type=Path, metavar="FILE", help="write every run's trades")
    p.add_argument(
        "--returns-csv",
        type=Path,
        metavar="FILE",
        help="write daily returns (date,returns) for quantstats / pyfolio",
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _usage(message: str) -> Exception:
    from tui_trader.cli import UsageError

    return UsageError(message)


def _assignment(text: str, flag: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise _usage(f"{flag} {text!r} must look like section.key=value")
    return name.strip(), value.strip()


def split_values(text: str) -> list[str]:
    """``v1,v2`` split on commas outside brackets and quotes (a list value keeps its own)."""
    out, depth, quote, cur = [], 0, "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        cur += ch
    out.append(cur.strip())
    return out


def _strategies(text: str | None, settings: Settings | None = None) -> tuple[str, ...]:
    """SPEC 4's four, then the user strategies of ``settings`` (issue 15: the enabled ones
    by default, any configured one by name), in config order."""
    user = settings.strategies if settings is not None else None
    names = (*STRATEGY_NAMES, *(user.user if user is not None else ()))
    if text is None:
        return (*STRATEGY_NAMES, *(user.enabled if user is not None else ()))
    wanted = [s.strip().upper() for s in text.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in names]
    if unknown or not wanted:
        raise _usage(
            f"--strategies {text!r}: unknown strategy {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(names)}"
        )
    return tuple(s for s in names if s in wanted)


class ProgressBar:
    """A sweep's progress on ``stream`` (stderr), drawn only on a terminal and only once
    the sweep has taken longer than ``delay`` seconds; the clock is injected for tests."""

    def __init__(
        self,
        stream: TextIO,
        clock: Callable[[], float] = time.monotonic,
        delay: float = 1.0,
        width: int = 30,
    ) -> None:
        self.stream, self.clock, self.delay, self.width = stream, clock, delay, width
        self.started = clock()
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        elapsed = self.clock() - self.started
        if elapsed < self.delay or not self.stream.isatty():
            return
        filled = self.width * done // max(total, 1)
        bar = "#" * filled + "." * (self.width - filled)
        end = "\n" if done >= total else ""
        self.stream.write(f"\r[{bar}] {done}/{total} sets, {elapsed:.0f} s{end}")
        self.stream.flush()
        self.drawn = True


def _value(settings: Settings, name: str) -> Any:
    from tui_trader.engine.user_strategies import is_strategy_key, override_value

    if is_strategy_key(name):
        return override_value(settings, name)
    section, _, key = name.partition(".")
    return getattr(settings, section).model_dump(mode="json")[key]


def _run_dict(run: RunResult, detail: bool = True) -> dict[str, Any]:
    out = run.to_dict(detail)
    out["from"], out["to"] = str(run.days[0]), str(run.days[-1])
    return out


def _write_trades(path: Path, runs: Sequence[RunResult]) -> None:
    from tui_trader.core.backtest import Trade

    fields = list(Trade.__dataclass_fields__)
    try:
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["run", *fields])
            for run in runs:
                for t in run.trades:
                    row = t.to_dict()
                    w.writerow(
                        [
                            run.name,
                            *(
                                repr(v) if isinstance(v, float) else v
                                for v in (row[f] for f in fields)
                            ),
                        ]
                    )
    except OSError as exc:
        raise _usage(f"cannot write --trades-csv {path}: {exc.strerror or exc}") from None


def _write_returns(path: Path, run: RunResult) -> None:
    from tui_trader.core.backtest_metrics import daily_returns

    returns = daily_returns(run.equity)
    try:
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["date", "returns"])
            for day, r in zip(run.days[1:], returns.tolist(), strict=True):
                w.writerow([str(day), repr(r)])
    except OSError as exc:
        raise _usage(f"cannot write --returns-csv {path}: {exc.strerror or exc}") from None


def _day_range(days: Any, args: argparse.Namespace) -> tuple[int, int]:
    from tui_trader.core.backtest import day_range

    try:
        return day_range(days, args.start, args.end)
    except ValueError:
        since = args.start.isoformat() if args.start else "the first bar"
        until = args.end.isoformat() if args.end else "the last bar"
        raise _usage(f"{args.bars} has no trading day from {since} to {until}") from None


def cmd_backtest(args: argparse.Namespace, settings: Settings) -> int:
    from tui_trader.cli import _print_json, _report_dropped
    from tui_trader.core.backtest_market import all_days
    from tui_trader.datafiles.bars import read_bars_csv
    from tui_trader.engine.user_strategies import (
        StrategyLoadError,
        apply_overrides,
        backtest_strategies,
    )

    started = time.perf_counter()
    settings = apply_overrides(settings, dict(_assignment(t, "--set") for t in args.set), "--set")
    strategies = _strategies(args.strategies, settings)
    grid: list[tuple[str, list[str]]] = []
    for text in args.grid:
        name, values = _assignment(text, "--grid")
        if name in [k for k, _ in grid]:
            raise _usage(f"--grid {name} is given twice; list all its values in one --grid")
        parts = split_values(values)
        if any(not v for v in parts):
            raise _usage(f"--grid {text!r} has an empty value")
        grid.append((name, parts))
    sweep = bool(grid) or args.split is not None
    from tui_trader.engine.sweep import grid_sets, release_memory

    sets = [apply_overrides(settings, params, "--grid") for params in grid_sets(grid)]

    bars = read_bars_csv(args.bars)
    release_memory()  # the CSV parser's freed heap, before the back-test allocates its own
    _report_dropped(bars.dropped)
    try:  # issue 15: imported, and checked for look-ahead, before they are trusted
        user = backtest_strategies(sets, bars, strategies)
    except StrategyLoadError as exc:
        raise _usage(str(exc)) from None
    days = all_days(bars)
    first, last = _day_range(days, args)
    header = (
        f"Back-test of {len(bars.symbols)} symbols, {days[first]} to {days[last]} "
        f"({last - first + 1} days)"
    )
    payload: dict[str, Any] = {
        "bars": str(args.bars),
        "symbols": len(bars.symbols),
        "from": str(days[first]),
        "to": str(days[last]),
        "days": last - first + 1,
        "strategies": list(strategies),
        "metric": args.metric,
    }
    if sweep:  # the workers prepare the market: this process need not hold it too
        runs, text = _sweep(args, days, bars, sets, grid, strategies, first, last, payload)
    else:
        runs, text = _report(args, bars, settings, strategies, first, last, header, payload, user)
    elapsed = time.perf_counter() - started
    payload["elapsed_ms"] = elapsed * 1000.0
    if args.trades_csv is not None:
        _write_trades(args.trades_csv, runs)
    if args.returns_csv is not None:
        combined = next((r for r in runs if r.name == "ALL"), runs[0])
        _write_returns(args.returns_csv, combined)
    if args.json:
        _print_json(payload)
    else:
        print(text)
        print(f"\n{elapsed:.1f} s")
    return 0


def _report(
    args: argparse.Namespace,
    bars: Bars,
    settings: Settings,
    strategies: tuple[str, ...],
    first: int,
    last: int,
    header: str,
    payload: dict[str, Any],
    user: Sequence[Any] = (),
) -> tuple[list[RunResult], str]:
    from tui_trader.core.backtest import run_backtest, standard_runs
    from tui_trader.core.backtest_market import prepare_market
    from tui_trader.core.backtest_metrics import rank
    from tui_trader.core.backtest_report import format_report
    from tui_trader.core.user_strategies import StrategyFailed

    market = prepare_market(bars)
    try:
        runs = run_backtest(market, settings, first, last, standard_runs(strategies), user)
    except StrategyFailed as exc:  # issue 15: a fault on a bar the check did not sample
        raise _usage(f"the back-test stopped: {exc}") from None
    ranked = rank(runs, args.metric, lambda r: r.metrics)
    payload["runs"] = [_run_dict(r) for r in ranked]
    return ranked, format_report(ranked, header, args.metric)


def _sweep(
    args: argparse.Namespace,
    days: Any,
    bars: Bars,
    sets: list[Settings],
    grid: list[tuple[str, list[str]]],
    strategies: tuple[str, ...],
    first: int,
    last: int,
    payload: dict[str, Any],
) -> tuple[list[RunResult], str]:
    import numpy as np

    from tui_trader.core.backtest_metrics import rank
    from tui_trader.core.backtest_report import format_sweep
    from tui_trader.engine.sweep import SetTask, bars_token

    in_last = last
    if args.split is not None:
        split = int(np.searchsorted(days, np.datetime64(args.split, "D")))
        if not first < split <= last:
            raise _usage(
                f"--split {args.split.isoformat()} must leave trading days on both sides "
                f"(the range is {days[first]} to {days[last]})"
            )
        in_last = split - 1
    keys = [k for k, _ in grid]
    from tui_trader.engine.user_strategies import strategies_dir

    user_dir = str(strategies_dir())
    tasks = [SetTask(k, s, first, in_last, strategies, user_dir) for k, s in enumerate(sets)]
    token = bars_token(bars)
    progress = ProgressBar(sys.stderr)
    results = _run_tasks(args, bars, token, tasks, progress)
    order = rank(list(range(len(tasks))), args.metric, lambda k: results[k].metrics)
    params = [{k: _value(sets[i], k) for k in keys} for i in range(len(sets))]
    best = order[0]
    runs = [results[best]]
    oos = None
    if args.split is not None:
        task = SetTask(len(tasks), sets[best], in_last + 1, last, strategies, user_dir)
        (oos,) = _run_tasks(args, bars, token, [task], None)
        runs.append(oos)
    payload["sweep"] = {
        "keys": keys,
        "split": None if args.split is None else args.split.isoformat(),
        "sets": [
            {"index": i, "params": params[i], "metrics": dict(results[i].metrics)} for i in order
        ],
        "best": {
            "index": best,
            "params": params[best],
            "in_sample": _period(results[best]),
            "out_of_sample": None if oos is None else _period(oos),
        },
    }
    payload["runs"] = [_run_dict(r) for r in runs]
    rows = [({k: str(params[i][k]) for k in keys}, results[i].metrics) for i in order]
    shown = None if oos is None else (f"{oos.days[0]} to {oos.days[-1]}", oos.metrics)
    period = f"{results[best].days[0]} to {results[best].days[-1]}"
    text = f"In sample {period}: " + format_sweep(rows, args.metric, shown)
    return runs, text


def _period(run: RunResult) -> dict[str, Any]:
    return {"from": str(run.days[0]), "to": str(run.days[-1]), "metrics": dict(run.metrics)}


def _run_tasks(
    args: argparse.Namespace,
    bars: Any,
    token: str,
    tasks: Sequence[Any],
    progress: Callable[[int, int], None] | None,
) -> list[RunResult]:
    from tui_trader.engine.sweep import run_dask, run_local

    if args.dask is None:
        return run_local(bars, token, tasks, args.workers, progress)
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise _usage("--dask needs the cluster extra: pip install 'tui-trader[cluster]'") from None
    try:
        return run_dask(args.dask, bars, token, tasks, progress)
    except (OSError, TimeoutError) as exc:
        raise _usage(f"cannot reach the Dask scheduler at {args.dask}: {exc}") from None
