"""One back-test measurement in a fresh process, so that its peak memory is its own:
``python -m tests.benchmarks.backtest_measure run|sweep BARS.csv`` prints JSON.

- ``run``: SPEC 12's report (all strategies plus the four single runs): the CSV read
  (timed apart), then market preparation (indicators, volatility), signals, spreads and
  the five runs from the in-memory bars; and ``tui-trader backtest --json`` end to end.
- ``sweep``: ``tui-trader backtest --grid ... --json`` end to end with 100 sets (4 stops x
  5 R-multiples x 5 position limits) on a process pool over all cores.

Peak RSS is the whole process tree's, summed (the sweep's workers are the forkserver's
children, not ours, so getrusage cannot see them; sampled every 50 ms).
"""

from __future__ import annotations

import contextlib
import io
import json
import resource
import sys
import threading
import time

import psutil

from tui_trader.cli import main as cli_main
from tui_trader.core.backtest import run_backtest
from tui_trader.core.backtest_market import prepare_market
from tui_trader.core.settings import Settings
from tui_trader.datafiles.bars import read_bars_csv

GRID = [
    "exits.stop_loss_atr_mult=1.5,2,2.5,3",
    "exits.r_multiple_target=1.5,2,2.5,3,4",
    "risk.max_positions=3,5,8,10,15",
]


class TreeRss:
    """The peak of the summed RSS of this process and all its descendants."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = me.memory_info().rss
            for child in me.children(recursive=True):
                with contextlib.suppress(psutil.Error):  # a worker may just have exited
                    total += child.memory_info().rss
            self.peak = max(self.peak, total)
            self._stop.wait(0.05)

    def stop_mb(self) -> float:
        self._stop.set()
        self._thread.join()
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return max(self.peak, own) / 2**20


def _cli(argv: list[str]) -> float:
    started = time.perf_counter()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli_main(argv)
    if code != 0:
        raise SystemExit(f"backtest exited {code}")
    json.loads(out.getvalue())
    return time.perf_counter() - started


def measure(what: str, csv: str) -> dict[str, object]:
    rss = TreeRss()
    if what == "run":
        started = time.perf_counter()
        bars = read_bars_csv(csv)
        read = time.perf_counter()
        market = prepare_market(bars)
        prepared = time.perf_counter()
        runs = run_backtest(market, Settings(), 0, len(market.days) - 1)
        done = time.perf_counter()
        del market, runs, bars
        command = _cli(["backtest", "--bars", csv, "--json"])
        return {
            "read_s": read - started,
            "seconds": done - read,
            "prepare_s": prepared - read,
            "runs_s": done - prepared,
            "command_s": command,
            "peak_rss_mb": rss.stop_mb(),
        }
    grid = [arg for g in GRID for arg in ("--grid", g)]
    seconds = _cli(["backtest", "--bars", csv, *grid, "--json"])
    return {"seconds": seconds, "sets": 100, "peak_rss_mb": rss.stop_mb()}


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1], sys.argv[2])))
