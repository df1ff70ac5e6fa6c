"""The back-test (SPEC 12) against the straightforward reference loop, and its budgets.

Universe: 500 symbols x 2,520 business days (ten years) from the simulated gateway's
history generator (tests/benchmarks/backtest_universe.py).

1. Agreement and speed-up: the reference (backtest_reference.py: per run, per day, per
   symbol, the full chain and SPEC 5 per signal) runs on every 20th symbol (25 symbols,
   all 2,520 days); the product runs on the same 25 and must produce the same trades (to
   1e-6 relative on money: vectorised and scalar libm differ in the last bits) and the
   same metrics. The reference's time is scaled x20 to the 500 symbols (its cost is per
   symbol-day and per signal, so it scales with the symbol count) and compared with the
   product's time on all 500: at least 100x, and under 10 s.
2. A 100-set sweep on the 500 symbols (process pool, all cores): under 3 minutes.
3. Peak RSS of each measurement (own process and its workers): under 2 GB.

The product is measured in a fresh process (backtest_measure.py), so its peak RSS is its
own. Figures are printed; run with ``make bench`` or
``python -m pytest tests/benchmarks/test_bench_backtest.py -o addopts="" -s -q``.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.benchmarks import backtest_reference as ref
from tests.benchmarks.backtest_universe import universe_frame
from tui_trader.core.backtest import run_backtest, standard_runs
from tui_trader.core.backtest_market import prepare_market
from tui_trader.core.bars import Bars
from tui_trader.core.settings import Settings

N_SYMBOLS = 500
N_DAYS = 2_520
EVERY = 20
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return universe_frame(N_SYMBOLS, N_DAYS)


@pytest.fixture(scope="module")
def bars_csv(frame: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("backtest") / "bars.csv"
    frame.to_csv(path, index=False)
    return path


def measure(what: str, csv: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.backtest_measure", what, str(csv)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    for key, x in a.items():
        y = b[key]
        if isinstance(x, float):
            if abs(x - y) > 1e-6 * max(1.0, abs(x)):
                return False
        elif x != y:
            return False
    return True


def test_backtest_is_100x_the_reference_and_under_10_s(frame: pd.DataFrame, bars_csv: Path) -> None:
    symbols = sorted(frame["symbol"].unique())[::EVERY]
    part = frame[frame["symbol"].isin(symbols)].reset_index(drop=True)
    settings = Settings()

    market = prepare_market(Bars.from_frame(part))
    ours = run_backtest(market, settings, 0, len(market.days) - 1)
    started = time.perf_counter()
    days, data = ref.load(part)
    theirs = []
    for spec in standard_runs():
        trades, equity = ref.run(days, data, settings, spec.strategies)
        theirs.append((trades, equity, ref.metrics(days, equity, trades)))
    ref_seconds = time.perf_counter() - started

    n_trades = 0
    for run, (trades, equity, metrics) in zip(ours, theirs, strict=True):
        mine = [t.to_dict() for t in run.trades]
        other = [dataclasses.asdict(t) for t in trades]
        assert len(mine) == len(other), run.name
        assert all(_same(a, b) for a, b in zip(mine, other, strict=True)), run.name
        assert max(abs(x - y) for x, y in zip(run.equity, equity, strict=True)) < 1e-4
        for key, value in metrics.items():
            got = run.metrics[key]
            assert (got is None) == (value is None), (run.name, key)
            if value is not None:
                assert abs(float(got) - value) <= 1e-9 * max(1.0, abs(value)), (run.name, key)
        n_trades += len(mine)

    full = measure("run", bars_csv)
    scaled = ref_seconds * N_SYMBOLS / len(symbols)
    ratio = scaled / full["seconds"]
    print(
        f"\nbacktest {N_SYMBOLS} symbols x {N_DAYS} days, all strategies + 4 single runs: "
        f"{full['seconds']:.2f} s (indicators and volatility {full['prepare_s']:.2f} s, signals,"
        f" spreads and runs {full['runs_s']:.2f} s); CSV read {full['read_s']:.2f} s; the whole"
        f" command {full['command_s']:.2f} s; peak RSS {full['peak_rss_mb']:.0f} MB\n"
        f"reference on {len(symbols)} symbols: {ref_seconds:.1f} s, {n_trades} trades, all equal"
        f" -> scaled x{N_SYMBOLS // len(symbols)}: {scaled:.0f} s; speed-up {ratio:.0f}x"
    )
    assert full["seconds"] < 10.0
    assert ratio >= 100.0
    assert full["peak_rss_mb"] < 2048


def test_a_100_set_sweep_is_under_3_minutes(bars_csv: Path) -> None:
    sweep = measure("sweep", bars_csv)
    print(
        f"\nsweep of {sweep['sets']} sets on {N_SYMBOLS} x {N_DAYS} (the whole command, CSV "
        f"read included): {sweep['seconds']:.1f} s, peak RSS of the process tree "
        f"{sweep['peak_rss_mb']:.0f} MB"
    )
    assert sweep["sets"] == 100
    assert sweep["seconds"] < 180.0
    assert sweep["peak_rss_mb"] < 2048
