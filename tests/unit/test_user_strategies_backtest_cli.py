"""``tui-trader backtest`` with traders' own strategies (issue 15): run beside the built-in
four, swept over their parameters with ``--grid strategies.NAME.param=...``, and refused
(exit 2, the day and the symbol) when the sample check finds a look-ahead."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.unit.backtest_data import ENTRY, base_closes, frame
from tui_trader.cli import main
from tui_trader.engine.user_strategies import strategies_dir

MODULE = """
import pandas as pd


def every(df, params):
    out = pd.Series(None, index=df.index, dtype=object)
    out.iloc[params.get("warmup", 20):] = params.get("label", "LONG")
    return out


def peek(df, params):
    return (df["close"].shift(-1) > df["close"]).map({True: "LONG", False: None})
"""


@pytest.fixture
def files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> dict[str, Path]:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("TUI_TRADER_RISK__MAX_POSITIONS", raising=False)
    folder = strategies_dir()
    folder.mkdir(parents=True)
    module = f"bt_{request.node.name}"
    (folder / f"{module}.py").write_text(MODULE)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[strategies.every]\nfunction = "{module}:every"\n\n'
        f'[strategies.peek]\nfunction = "{module}:peek"\nenabled = false\n'
    )
    bars = tmp_path / "bars.csv"
    n = ENTRY + 30
    frame({"AAA": base_closes(1.0, n), "BBB": base_closes(1.37, n)}).to_csv(bars, index=False)
    return {"config": config, "bars": bars}


def _run(files: dict[str, Path], capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code = main(
        [
            "backtest",
            "--bars",
            str(files["bars"]),
            "--config",
            str(files["config"]),
            *argv,
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    out: dict[str, Any] = json.loads(captured.out)
    return out


def test_enabled_user_strategies_run_beside_the_built_ins(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = _run(files, capsys, "--strategies", "high_base,every")
    assert out["strategies"] == ["HIGH_BASE", "EVERY"]
    runs = {r["name"]: r for r in out["runs"]}
    assert set(runs) == {"ALL", "HIGH_BASE", "EVERY"}
    every = [(t["symbol"], t["entry_date"], t["pnl"]) for t in runs["EVERY"]["trades"]]
    built_in = [(t["symbol"], t["entry_date"], t["pnl"]) for t in runs["HIGH_BASE"]["trades"]]
    assert len(every) == len(built_in) > 0 and every == built_in  # both fire every day
    assert {t["strategy"] for t in runs["ALL"]["trades"]} == {"HIGH_BASE"}  # built-in first
    assert {t["strategy"] for t in runs["EVERY"]["trades"]} == {"EVERY"}
    default = _run(files, capsys)  # enabled user strategies join SPEC 4's four by default
    assert default["strategies"][-1] == "EVERY" and "PEEK" not in default["strategies"]


def test_grid_sweeps_a_user_strategys_parameter(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = _run(files, capsys, "--strategies", "every", "--grid", "strategies.every.warmup=20,45",
               "--workers", "1")  # fmt: skip
    sets = {s["params"]["strategies.every.warmup"]: s["metrics"] for s in out["sweep"]["sets"]}
    assert set(sets) == {20, 45}
    # From bar 45 on there are 5 bars left: fewer trades than from bar 20.
    assert 0 < sets[45]["trades"] < sets[20]["trades"]


def test_a_strategy_that_looks_ahead_is_refused_with_day_and_symbol(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["backtest", "--bars", str(files["bars"]), "--config", str(files["config"])]
    assert main([*argv, "--strategies", "peek"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "tui-trader: the back-test refuses PEEK looks ahead: on 2024-01-01 for AAA it says "
        "LONG with the whole history but nothing with the bars up to that day; run "
        "tui-trader strategy check PEEK --bars FILE\n"
    )
    assert main([*argv, "--grid", "strategies.nope.x=1,2"]) == 2
    assert "no user strategy 'nope' ([strategies]: EVERY, PEEK)" in capsys.readouterr().err
