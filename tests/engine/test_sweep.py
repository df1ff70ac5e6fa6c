"""Parameter sweeps: the grid, and the same results in this process, on a process pool and
on a Dask cluster (a small in-process LocalCluster); ``--split``'s out-of-sample report."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask
import pytest
from distributed import Client, LocalCluster

from tests.unit.backtest_data import ENTRY, bars, base_closes, frame
from tui_trader.cli import main
from tui_trader.config import with_overrides
from tui_trader.core.backtest import RunResult
from tui_trader.core.backtest_market import STRATEGIES
from tui_trader.core.settings import Settings
from tui_trader.engine.sweep import SetTask, bars_token, grid_sets, run_dask, run_local

N = ENTRY + 40
SERIES: dict[str, list[float | None]] = {
    "AAA": list(base_closes(1.0, N)),
    "BBB": list(base_closes(1.37, N)),
    "CCC": list(base_closes(0.74, N)),
}
GRID = [("exits.stop_loss_atr_mult", ["1", "2.5"]), ("risk.max_positions", ["1", "3"])]


def tasks() -> list[SetTask]:
    sets = [with_overrides(Settings(), p, "--grid") for p in grid_sets(GRID)]
    return [SetTask(k, s, 0, N - 1, STRATEGIES) for k, s in enumerate(sets)]


def summary(results: list[RunResult]) -> list[Any]:
    return [
        (r.name, r.metrics, [t.to_dict() for t in r.trades], r.equity.tolist()) for r in results
    ]


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as c:
        yield c


def test_grid_is_the_cartesian_product_first_key_slowest() -> None:
    assert grid_sets(GRID) == [
        {"exits.stop_loss_atr_mult": "1", "risk.max_positions": "1"},
        {"exits.stop_loss_atr_mult": "1", "risk.max_positions": "3"},
        {"exits.stop_loss_atr_mult": "2.5", "risk.max_positions": "1"},
        {"exits.stop_loss_atr_mult": "2.5", "risk.max_positions": "3"},
    ]
    assert grid_sets([]) == [{}]


def test_the_results_do_not_depend_on_where_the_sets_ran(cluster: LocalCluster) -> None:
    b = bars(SERIES)
    token = bars_token(b)
    here = run_local(b, token, tasks(), workers=1)
    pool = run_local(b, token, tasks(), workers=2)
    with Client(cluster) as client:
        remote = run_dask("", b, token, tasks(), client=client)
    assert summary(here) == summary(pool) == summary(remote)
    assert len({json.dumps(r.metrics, sort_keys=True) for r in here}) > 1  # the sets differ
    assert all(r.trades for r in here)


def test_progress_is_reported_per_set() -> None:
    b = bars(SERIES)
    seen: list[tuple[int, int]] = []
    run_local(b, bars_token(b), tasks()[:2], workers=1, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(1, 2), (2, 2)]


@pytest.fixture
def bars_csv(tmp_path: Path) -> Path:
    path = tmp_path / "bars.csv"
    frame(SERIES).to_csv(path, index=False)
    return path


def sweep_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    args = [
        "backtest",
        "--grid",
        "exits.stop_loss_atr_mult=1,2.5",
        "--grid",
        "risk.max_positions=1,3",
        "--json",
        *argv,
    ]
    assert main(args) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out


def test_cli_sweep_with_split(capsys: pytest.CaptureFixture[str], bars_csv: Path) -> None:
    days = sorted(set(frame(SERIES)["date"]))
    split = days[ENTRY + 20]
    out = sweep_json(capsys, "--bars", str(bars_csv), "--split", split, "--workers", "1")
    sw = out["sweep"]
    assert sw["keys"] == ["exits.stop_loss_atr_mult", "risk.max_positions"]
    assert len(sw["sets"]) == 4 and sw["split"] == split
    sharpes = [s["metrics"]["sharpe"] for s in sw["sets"]]
    assert sharpes == sorted(sharpes, key=lambda x: -x if x is not None else float("inf"))
    best = sw["best"]
    assert best["params"] == sw["sets"][0]["params"]
    assert best["in_sample"]["to"] < split == best["out_of_sample"]["from"]
    assert best["out_of_sample"]["to"] == days[-1]
    assert [(r["from"], r["to"]) for r in out["runs"]] == [
        (days[0], best["in_sample"]["to"]),
        (split, days[-1]),
    ]
    assert out["runs"][1]["metrics"] == best["out_of_sample"]["metrics"]
    assert {"exits.stop_loss_atr_mult": 1.0, "risk.max_positions": 1} in [
        s["params"] for s in sw["sets"]
    ]  # typed values, as the configuration holds them


def test_cli_sweep_on_dask_equals_local(
    capsys: pytest.CaptureFixture[str], bars_csv: Path, cluster: LocalCluster
) -> None:
    local = sweep_json(capsys, "--bars", str(bars_csv), "--workers", "2")
    remote = sweep_json(capsys, "--bars", str(bars_csv), "--dask", cluster.scheduler_address)
    for out in (local, remote):
        out.pop("elapsed_ms")
    assert local == remote


def test_an_unreachable_scheduler_is_exit_2(
    capsys: pytest.CaptureFixture[str], bars_csv: Path
) -> None:
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        code = main(
            [
                "backtest",
                "--bars",
                str(bars_csv),
                "--grid",
                "risk.max_positions=1,2",
                "--dask",
                "tcp://127.0.0.1:9",
            ]
        )
    assert code == 2
    err = capsys.readouterr().err
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err
    assert err.count("\n") == 1
