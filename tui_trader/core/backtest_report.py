"""The back-test's plain-text report: runs ranked in a table, a text equity curve, and the
parameter sweep's table. Ratios print as percentages here (JSON keeps fractions)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from tui_trader.core.backtest import RunResult
from tui_trader.core.backtest_metrics import Metric

_PERCENT = frozenset({"win_rate", "max_drawdown", "cagr", "exposure"})
_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("trades", "trades", 6),
    ("win_rate", "win", 6),
    ("avg_win", "avg win", 9),
    ("avg_loss", "avg loss", 9),
    ("profit_factor", "PF", 5),
    ("net_profit", "net profit", 11),
    ("max_drawdown", "max DD", 7),
    ("sharpe", "sharpe", 6),
    ("cagr", "CAGR", 7),
    ("exposure", "exposed", 7),
    ("avg_days_held", "days", 5),
)


def fmt_metric(name: str, value: Metric) -> str:
    if value is None:
        return "-"
    if name == "trades":
        return f"{int(value):,}"
    if name in _PERCENT:
        return f"{value:.1%}"
    if name in ("avg_win", "avg_loss", "net_profit"):
        return f"{value:,.0f}"
    return f"{value:.2f}"


def _metric_cells(metrics: dict[str, Metric]) -> str:
    return " ".join(f"{fmt_metric(k, metrics.get(k)):>{w}}" for k, _, w in _COLUMNS)


def _metric_header() -> str:
    return " ".join(f"{title:>{w}}" for _, title, w in _COLUMNS)


def equity_chart(
    days: NDArray[np.datetime64], equity: NDArray[np.float64], width: int = 64, height: int = 10
) -> list[str]:
    """A text chart of the equity curve: one column per stretch of days (its last value),
    the highest and lowest equity on the axis, the first and last date below."""
    n = int(equity.shape[0])
    if n == 0:
        return []
    cols = min(width, n)
    ends = np.linspace(0, n, cols + 1).astype(np.int64)[1:] - 1
    values = equity[ends]
    lo, hi = float(np.min(equity)), float(np.max(equity))
    span = hi - lo if hi > lo else 1.0
    level = np.rint((values - lo) / span * (height - 1)).astype(np.int64)
    label_w = max(len(f"{hi:,.0f}"), len(f"{lo:,.0f}"))
    lines = []
    for row in range(height - 1, -1, -1):
        label = f"{hi:,.0f}" if row == height - 1 else f"{lo:,.0f}" if row == 0 else ""
        cells = "".join("*" if v == row else ("|" if v > row else " ") for v in level.tolist())
        lines.append(f"{label:>{label_w}} {cells}")
    first, last = str(days[0]), str(days[-1])
    lines.append(" " * (label_w + 1) + first + last.rjust(max(cols - len(first), len(last) + 1)))
    return lines


def format_report(runs: Sequence[RunResult], header: str, metric: str) -> str:
    """Runs (already ranked) as a table, then the first-listed combined run's equity curve
    and exit reasons (``ALL`` when present, else the best run)."""
    lines = [header, f"ranked by {metric}", ""]
    name_w = max([len("run"), *(len(r.name) for r in runs)])
    lines.append(f"{'#':>2} {'run':<{name_w}} {_metric_header()}")
    for k, r in enumerate(runs, 1):
        lines.append(f"{k:>2} {r.name:<{name_w}} {_metric_cells(r.metrics)}")
    if runs:
        shown = next((r for r in runs if r.name == "ALL"), runs[0])
        lines += ["", f"Equity of {shown.name}:"]
        lines += equity_chart(shown.days, shown.equity)
        reasons = Counter(t.exit_reason for t in shown.trades)
        if reasons:
            listed = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items()))
            lines += ["", f"Exit reasons of {shown.name}: {listed}"]
    return "\n".join(lines)


def format_sweep(
    rows: Sequence[tuple[dict[str, str], dict[str, Metric]]],
    metric: str,
    out_of_sample: tuple[str, dict[str, Metric]] | None = None,
    limit: int = 20,
) -> str:
    """Sweep sets (already ranked: params, in-sample metrics) as a table; with ``--split``
    the best set's out-of-sample metrics below it (the period in words, metrics)."""
    keys = list(rows[0][0]) if rows else []
    widths = [max(len(k), *(len(p[k]) for p, _ in rows)) for k in keys]
    params_head = " ".join(f"{k:>{w}}" for k, w in zip(keys, widths, strict=True))
    lines = [f"{len(rows)} parameter sets, ranked by {metric}", ""]
    lines.append(f"{'#':>3} {params_head} {_metric_header()}")
    for k, (params, metrics) in enumerate(rows[:limit], 1):
        cells = " ".join(f"{params[key]:>{w}}" for key, w in zip(keys, widths, strict=True))
        lines.append(f"{k:>3} {cells} {_metric_cells(metrics)}")
    if len(rows) > limit:
        lines.append(f"... {len(rows) - limit} more sets not shown (all are in --json)")
    if out_of_sample is not None:
        period, metrics = out_of_sample
        lines += ["", f"Best set out of sample ({period}):"]
        lines.append(f"    {_metric_header()}")
        lines.append(f"    {_metric_cells(metrics)}")
    return "\n".join(lines)
