"""The command line of traders' own strategies (issue 15): an import error at start is
exit 2 naming the module; ``strategy check NAME --bars FILE`` names the first day a
strategy's signal differs between a prefix and the whole history."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_trader.cli import main
from tui_trader.engine.user_strategies import strategies_dir

MODULE = """
import pandas as pd


def peek(df, params):
    # LONG when tomorrow closes higher: reads a later bar.
    up = df["close"].shift(-1) > df["close"]
    return up.map({True: "LONG", False: None})


def honest(df, params):
    up = df["close"] > df["close"].shift(1)
    return up.map({True: "LONG", False: None})
"""

CLOSES = [10.0, 10.5, 10.2, 10.8, 11.0, 10.9, 11.4, 11.2]


@pytest.fixture
def setup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> dict[str, Path]:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    folder = strategies_dir()
    folder.mkdir(parents=True)
    module = f"cli_{request.node.name}"
    (folder / f"{module}.py").write_text(MODULE)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[strategies.peek]\nfunction = "{module}:peek"\n\n'
        f'[strategies.honest]\nfunction = "{module}:honest"\nenabled = false\n'
    )
    rows = ["date,symbol,open,high,low,close,volume"]
    for k, c in enumerate(CLOSES):
        rows.append(f"2024-03-{k + 4:02d},XYZ,{c},{c * 1.01},{c * 0.99},{c},1000000")
    bars = tmp_path / "bars.csv"
    bars.write_text("\n".join(rows) + "\n")
    return {"config": config, "bars": bars}


def _check(setup: dict[str, Path], name: str) -> list[str]:
    return [
        "strategy",
        "check",
        name,
        "--bars",
        str(setup["bars"]),
        "--config",
        str(setup["config"]),
    ]


def test_check_names_the_first_day_that_differs(
    setup: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_check(setup, "peek")) == 1
    # 2024-03-04 closes 10.0 and the next day 10.5: LONG only with the whole history.
    assert capsys.readouterr().out == (
        "PEEK looks ahead: on 2024-03-04 for XYZ it says LONG with the whole history "
        "but nothing with the bars up to that day\n"
    )
    assert main(_check(setup, "honest")) == 0  # disabled strategies can be checked too
    assert (
        capsys.readouterr().out == "HONEST: no look-ahead (1 symbol(s), every prefix of 8 bars)\n"
    )
    assert main(_check(setup, "nope")) == 2
    assert capsys.readouterr().err == (
        "tui-trader: no user strategy 'nope' ([strategies]: PEEK, HONEST)\n"
    )


def test_an_import_error_at_start_is_exit_2_naming_the_module(
    setup: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[strategies.gone]\nfunction = "no_such_module_xyz:signal"\n')
    assert main(["--config", str(config), "run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "tui-trader: strategy GONE: cannot import module 'no_such_module_xyz' "
        "(ModuleNotFoundError: No module named 'no_such_module_xyz'); user modules live in "
    )
    assert err.count("\n") == 1 and str(strategies_dir()) in err
    config.write_text(
        f'[strategies.typo]\nfunction = "{setup["config"].stem}x:peek"\nenabled = false\n'
    )
    # `strategy check` loads even a disabled strategy, and refuses one that cannot import.
    assert (
        main(["--config", str(config), "strategy", "check", "typo", "--bars", str(setup["bars"])])
        == 2
    )
    assert "cannot import module 'configx'" in capsys.readouterr().err
