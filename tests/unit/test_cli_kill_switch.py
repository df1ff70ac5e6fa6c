"""``tui-trader kill-switch status|engage|clear``: the journal written directly while no
engine runs (a real subprocess on a temporary journal), refused with one sentence while an
engine holds the journal, exit codes 0 / 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

from tui_trader.core.risk import BreakerState
from tui_trader.engine.breakers import BREAKER_KEY
from tui_trader.engine.lock import engine_lock
from tui_trader.state.journal import Journal


def cli(*args: str, journal: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui_trader.cli", "kill-switch", *args, "--journal", str(journal)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def saved(journal: Path) -> BreakerState:
    with Journal(journal) as j:
        return BreakerState.from_dict(j.get_kv(BREAKER_KEY))


def test_status_engage_clear_round_trip(tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite3"
    first = cli("status", journal=journal)
    assert first.returncode == 0, first.stderr
    assert "the kill switch is not engaged" in first.stdout
    assert not journal.exists()  # status only reads

    engaged = cli("engage", journal=journal)
    assert engaged.returncode == 0, engaged.stderr
    assert "starts HALTED" in engaged.stdout
    state = saved(journal)
    assert state.kill_switch and state.kill_switch_since is not None

    status = cli("status", journal=journal)
    assert status.returncode == 0, status.stderr
    since = state.kill_switch_since.astimezone(ZoneInfo("America/New_York"))
    assert f"Kill switch: ENGAGED since {since:%Y-%m-%d %H:%M:%S} ET" in status.stdout
    assert "Entries: HALTED" in status.stdout

    again = cli("engage", journal=journal)
    assert again.returncode == 0 and "already engaged" in again.stdout
    assert saved(journal).kill_switch_since == state.kill_switch_since  # since kept

    cleared = cli("clear", journal=journal)
    assert cleared.returncode == 0, cleared.stderr
    assert "Kill switch cleared" in cleared.stdout
    assert not saved(journal).kill_switch
    after = cli("status", journal=journal)
    assert "Kill switch: not engaged." in after.stdout and "Entries: ALLOWED" in after.stdout
    with Journal(journal) as j:
        texts = [e.text for e in j.events() if e.kind == "risk"]
    assert any("engaged from the command line" in t for t in texts)
    assert any("cleared from the command line" in t for t in texts)

    nothing = cli("clear", journal=journal)
    assert nothing.returncode == 0 and "not engaged" in nothing.stdout


def test_clear_keeps_a_breaker_tripped_today(tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite3"
    assert cli("engage", journal=journal).returncode == 0
    since = saved(journal).kill_switch_since
    assert since is not None
    with Journal(journal) as j:
        record = j.get_kv(BREAKER_KEY)
        record.update(breaker_code="DAILY_LOSS", breaker_reason="day P&L -1,200.00",
                      breaker_since=since.isoformat())  # fmt: skip
        j.put_kv(BREAKER_KEY, record)
    status = cli("status", journal=journal)
    assert "Circuit breaker: DAILY_LOSS since" in status.stdout
    cleared = cli("clear", journal=journal)
    assert cleared.returncode == 0
    assert "still halted" in cleared.stdout.lower() and "DAILY_LOSS" in cleared.stdout
    state = saved(journal)
    assert not state.kill_switch and state.breaker_code == "DAILY_LOSS"


def test_engage_and_clear_are_refused_while_an_engine_holds_the_journal(tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite3"
    assert cli("engage", journal=journal).returncode == 0
    with engine_lock(journal):  # what a running tui-trader holds
        for action, key in (("clear", "ctrl+u"), ("engage", "ctrl+k")):
            refused = cli(action, journal=journal)
            assert refused.returncode == 2
            assert refused.stdout == ""
            lines = refused.stderr.strip().splitlines()
            assert len(lines) == 1 and f"(pid {os.getpid()})" in lines[0]
            assert f"dashboard's key ({key})" in lines[0]
            assert "Traceback" not in refused.stderr
        status = cli("status", journal=journal)  # reading is safe: WAL readers never block
        assert status.returncode == 0 and "ENGAGED" in status.stdout
    assert saved(journal).kill_switch  # untouched


def test_the_refusal_names_a_remapped_key(tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite3"
    config = tmp_path / "config.toml"
    config.write_text('[ui.keys]\nclear_kill_switch = "f9"\n')
    assert cli("engage", journal=journal).returncode == 0
    with engine_lock(journal):
        refused = cli("clear", "--config", str(config), journal=journal)
    assert refused.returncode == 2 and "dashboard's key (f9)" in refused.stderr


def test_bad_input_is_one_sentence_and_exit_2(tmp_path: Path) -> None:
    not_a_journal = tmp_path / "notes.txt"
    not_a_journal.write_text("hello, not SQLite\n" * 100)
    for action in ("status", "engage", "clear"):
        out = cli(action, journal=not_a_journal)
        assert out.returncode == 2, out
        assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    unknown = subprocess.run(
        [sys.executable, "-m", "tui_trader.cli", "kill-switch", "toggle"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert unknown.returncode == 2 and "invalid choice" in unknown.stderr
