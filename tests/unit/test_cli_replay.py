"""``--speed X`` and ``--start "YYYY-MM-DD HH:MM"`` on the dashboard's ``--demo``,
``run --headless --demo`` and ``gateway``: listed in the help, checked before anything
starts (exit 2, one sentence), only with the simulated market, and a closed start moved
to the next session's open with a note."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest

from tui_trader.cli import _replay_start, main


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui_trader.cli", *argv],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("command", [[], ["run"], ["gateway"]])
def test_the_help_lists_speed_and_start(command: list[str]) -> None:
    proc = _cli(*command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "--speed X" in proc.stdout and '--start "YYYY-MM-DD HH:MM"' in proc.stdout
    assert "instant" in proc.stdout  # closed hours pass in an instant
    assert "14:30" in proc.stdout  # the default start


def test_a_bad_start_is_one_sentence_and_exit_2_from_the_shell() -> None:
    proc = _cli("run", "--headless", "--demo", "--start", "tomorrow")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == (
        "tui-trader: argument --start: 'tomorrow' is not a time of the form YYYY-MM-DD HH:MM "
        "(New York time)\n"
    )


DEMO_COMMANDS = [["--demo"], ["run", "--headless", "--demo"], ["gateway"]]


@pytest.mark.parametrize("command", DEMO_COMMANDS)
@pytest.mark.parametrize(
    ("option", "value", "why"),
    [
        ("--speed", "0", "must be a positive number"),
        ("--speed", "-3", "must be a positive number"),
        ("--speed", "fast", "is not a number"),
        ("--speed", "nan", "must be a positive number"),
        ("--speed", "10001", "is more than 10000"),
        ("--start", "2026-11-20", "YYYY-MM-DD HH:MM"),
        ("--start", "2026-11-20 25:00", "YYYY-MM-DD HH:MM"),
        ("--start", "1999-12-31 10:00", "between the years 2000 and 2099"),
    ],
)
def test_bad_values_exit_2_with_one_sentence(
    command: list[str], option: str, value: str, why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main([*command, option, value])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"tui-trader: argument {option}: ") and why in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("command", [[], ["run", "--headless"]])
@pytest.mark.parametrize(("option", "value"), [("--speed", "30"), ("--start", "2026-11-20 14:30")])
def test_speed_and_start_need_the_simulated_market(
    command: list[str], option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*command, option, value]) == 2
    err = capsys.readouterr().err
    assert err == f"tui-trader: {option} sets the simulated market's clock: add --demo\n"


def test_a_closed_start_moves_to_the_next_open_and_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _replay_start("2026-11-20 14:30") == datetime(2026, 11, 20, 19, 30, tzinfo=UTC)
    assert capsys.readouterr().err == ""
    assert _replay_start("2026-11-21 10:00") == datetime(2026, 11, 23, 14, 30, tzinfo=UTC)
    assert capsys.readouterr().err == (
        "tui-trader: 2026-11-21 10:00 ET is outside regular trading hours: the simulated "
        "market starts at the next session's open, 2026-11-23 09:30 ET.\n"
    )
    assert _replay_start(None) is None


def test_dry_run_without_auto_is_refused() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "tui_trader.cli", "run", "--headless", "--dry-run"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--dry-run goes with --auto" in done.stderr
    assert "Traceback" not in done.stderr
