"""``tui-trader backtest``: the JSON contract, the report, the CSV files, determinism, bad
input (exit 2, one sentence), ``--set`` overrides and the sweep's progress bar."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.unit.backtest_data import ENTRY, base_closes, frame
from tui_trader.backtest_cli import ProgressBar, split_values
from tui_trader.cli import main
from tui_trader.config import ConfigError, with_overrides
from tui_trader.core.settings import Settings

TRADE_KEYS = {
    "symbol",
    "strategy",
    "direction",
    "entry_date",
    "exit_date",
    "expiry",
    "right",
    "long_strike",
    "short_strike",
    "contracts",
    "entry_debit",
    "exit_value",
    "pnl",
    "exit_reason",
}
METRIC_KEYS = {
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
}


@pytest.fixture
def bars_csv(tmp_path: Path) -> Path:
    n = ENTRY + 30
    series: dict[str, list[float | None]] = {
        "AAA": [*base_closes(1.0, n)],
        "BBB": [*base_closes(1.37, n)],
        "CCC": [*base_closes(0.74, ENTRY + 8), *[None] * 3, *base_closes(0.8, n - ENTRY - 11)],
    }
    path = tmp_path / "bars.csv"
    frame(series).to_csv(path, index=False)
    return path


@pytest.fixture(autouse=True)
def no_user_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("tui_trader.config.default_config_path", lambda: tmp_path / "none.toml")
    monkeypatch.delenv("TUI_TRADER_RISK__MAX_POSITIONS", raising=False)


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main(["backtest", *argv, "--json"]) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out


def test_json_contract(capsys: pytest.CaptureFixture[str], bars_csv: Path) -> None:
    out = run_json(capsys, "--bars", str(bars_csv))
    assert {"runs", "elapsed_ms", "from", "to", "days", "symbols", "metric"} <= set(out)
    assert out["symbols"] == 3 and out["metric"] == "sharpe"
    names = [r["name"] for r in out["runs"]]
    assert sorted(names) == sorted(["ALL", "HIGH_BASE", "LOW_BASE", "BULL_PULLBACK", "BEAR_RALLY"])
    sharpes = [r["metrics"]["sharpe"] for r in out["runs"]]
    known = [x for x in sharpes if x is not None]
    assert known == sorted(known, reverse=True)  # ranked, undefined last
    assert sharpes[: len(known)] == known
    for r in out["runs"]:
        assert set(r["metrics"]) == METRIC_KEYS
        assert len(r["equity"]) == out["days"]
        assert set(r["equity"][0]) == {"date", "equity"}
        assert r["equity"][-1]["equity"] == pytest.approx(
            100_000 + sum(t["pnl"] for t in r["trades"])
        )
    all_run = next(r for r in out["runs"] if r["name"] == "ALL")
    assert all_run["trades"] and set(all_run["trades"][0]) == TRADE_KEYS


def test_two_runs_give_identical_json(capsys: pytest.CaptureFixture[str], bars_csv: Path) -> None:
    first = run_json(capsys, "--bars", str(bars_csv))
    second = run_json(capsys, "--bars", str(bars_csv))
    first.pop("elapsed_ms")
    second.pop("elapsed_ms")  # the only field that may differ: wall time
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def test_text_report(capsys: pytest.CaptureFixture[str], bars_csv: Path) -> None:
    assert main(["backtest", "--bars", str(bars_csv), "--metric", "net_profit"]) == 0
    out = capsys.readouterr().out
    assert "Back-test of 3 symbols" in out and "ranked by net_profit" in out
    assert "Equity of ALL:" in out and "Exit reasons of ALL:" in out
    assert " 1 " in out and " 5 " in out


def test_files_for_quantstats_and_a_spreadsheet(
    capsys: pytest.CaptureFixture[str], bars_csv: Path, tmp_path: Path
) -> None:
    returns, trades = tmp_path / "returns.csv", tmp_path / "trades.csv"
    out = run_json(
        capsys, "--bars", str(bars_csv), "--returns-csv", str(returns), "--trades-csv", str(trades)
    )
    series = pd.read_csv(returns, index_col=0, parse_dates=True)
    assert list(series.columns) == ["returns"]
    assert isinstance(series.index, pd.DatetimeIndex)
    equity = np.array(
        [p["equity"] for p in next(r for r in out["runs"] if r["name"] == "ALL")["equity"]]
    )
    np.testing.assert_allclose(series["returns"].to_numpy(), equity[1:] / equity[:-1] - 1)
    table = pd.read_csv(trades)
    assert list(table.columns) == ["run", *TRADE_KEYS_ORDER]
    assert len(table) == sum(len(r["trades"]) for r in out["runs"])


TRADE_KEYS_ORDER = [
    "symbol",
    "strategy",
    "direction",
    "entry_date",
    "exit_date",
    "expiry",
    "right",
    "long_strike",
    "short_strike",
    "contracts",
    "entry_debit",
    "exit_value",
    "pnl",
    "exit_reason",
]


def test_strategies_range_and_set(capsys: pytest.CaptureFixture[str], bars_csv: Path) -> None:
    days = sorted(pd.read_csv(bars_csv)["date"].unique())
    out = run_json(
        capsys,
        "--bars",
        str(bars_csv),
        "--strategies",
        "high_base",
        "--from",
        days[5],
        "--to",
        days[-3],
        "--set",
        "risk.max_positions=1",
    )
    assert [r["name"] for r in out["runs"]] == ["HIGH_BASE"]
    run = out["runs"][0]
    assert (run["from"], run["to"]) == (days[5], days[-3])
    assert out["days"] == len(days) - 7
    starts = sorted(t["entry_date"] for t in run["trades"])
    ends = sorted(t["exit_date"] for t in run["trades"])
    assert all(b >= e for b, e in zip(starts[1:], ends, strict=False))  # one position at a time


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--set", "risk.nope=1"], "unknown key [risk] nope"),
        (["--set", "risk.max_positions=many"], "[risk] max_positions"),
        (["--set", "max_positions"], "section.key=value"),
        (["--strategies", "HIGH_BASE,MOON"], "unknown strategy MOON"),
        (["--from", "2030-01-01"], "no trading day from 2030-01-01"),
        (["--grid", "exits.stop_loss_atr_mult=1,,2"], "empty value"),
        (["--grid", "exits.nope=1,2"], "unknown key [exits] nope"),
        (["--grid", "risk.max_positions=1,2", "--grid", "risk.max_positions=3"], "twice"),
        (["--split", "2000-01-01"], "both sides"),
    ],
)
def test_bad_input_is_one_sentence_and_exit_2(
    capsys: pytest.CaptureFixture[str], bars_csv: Path, argv: list[str], words: str
) -> None:
    assert main(["backtest", "--bars", str(bars_csv), *argv]) == 2
    err = capsys.readouterr().err
    assert words in err and err.startswith("tui-trader:") and err.count("\n") == 1
    assert "Traceback" not in err


def test_a_bad_csv_is_the_scan_commands_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("date,symbol,open,high,low,close\n2024-01-02,AAA,1,1,1,1\n")
    assert main(["backtest", "--bars", str(path)]) == 2
    err = capsys.readouterr().err
    assert "lacks column(s) volume" in err and err.count("\n") == 1


def test_overrides_are_validated_like_the_file() -> None:
    s = with_overrides(
        Settings(),
        {"risk.max_positions": "3", "execution.mode": "live", "backtest.initial_equity": "5e4"},
        "--set",
    )
    assert (s.risk.max_positions, s.execution.mode, s.backtest.initial_equity) == (3, "live", 5e4)
    for bad in (
        {"backtest.commission_per_contract": "-1"},
        {"nope.x": "1"},
        {"risk.max_positions": "2.5"},
        {"backtest.iv_multiplier": "inf"},
    ):
        with pytest.raises(ConfigError, match="--set"):
            with_overrides(Settings(), bad, "--set")


def test_grid_values_split_outside_brackets() -> None:
    assert split_values("1, 2.5,3") == ["1", "2.5", "3"]
    assert split_values('["SPY","QQQ"],["IWM"]') == ['["SPY","QQQ"]', '["IWM"]']


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_after_a_second_and_only_on_a_terminal() -> None:
    now = [0.0]
    stream = _Tty()
    bar = ProgressBar(stream, clock=lambda: now[0])
    bar(1, 4)
    assert stream.getvalue() == ""  # under a second: nothing
    now[0] = 1.5
    bar(2, 4)
    assert stream.getvalue() == "\r[###############...............] 2/4 sets, 2 s"
    bar(4, 4)
    assert stream.getvalue().endswith("4/4 sets, 2 s\n")
    plain = io.StringIO()
    late = ProgressBar(plain, clock=lambda: now[0])
    now[0] = 10.0
    late(1, 2)
    assert plain.getvalue() == ""


def test_the_clis_names_are_cores() -> None:
    """The command lists them without importing numpy (``--help`` stays instant)."""
    from tui_trader.backtest_cli import METRIC_NAMES, STRATEGY_NAMES
    from tui_trader.core.backtest_market import STRATEGIES
    from tui_trader.core.backtest_metrics import METRICS

    assert (STRATEGY_NAMES, METRIC_NAMES) == (STRATEGIES, METRICS)


def test_the_clis_copies_of_the_names_match_the_core() -> None:
    """backtest_cli repeats the strategy and metric names so --help loads no numpy: they
    must stay the core's."""
    from tui_trader import backtest_cli
    from tui_trader.core import backtest_metrics, strategies

    assert backtest_cli.METRIC_NAMES == backtest_metrics.METRICS
    assert tuple(strategies.STRATEGY_DIRECTIONS) == backtest_cli.STRATEGY_NAMES
