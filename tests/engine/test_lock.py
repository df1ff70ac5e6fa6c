"""One engine per journal: the second one is refused with the first one's pid, in this
process and from another process; the lock goes with its holder, even killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tui_trader.engine.lock import EngineLockedError, engine_lock, lock_path

HOLD = """
import sys, time
from pathlib import Path
from tui_trader.engine.lock import engine_lock
with engine_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_a_second_engine_on_the_same_journal_is_refused(tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite3"
    with engine_lock(journal) as path:
        assert path == lock_path(journal) and path.read_text() == f"{os.getpid()}\n"
        refused = rf"\(pid {os.getpid()}\).*journal\.sqlite3"
        with pytest.raises(EngineLockedError, match=refused), engine_lock(journal):
            pass
        with engine_lock(tmp_path / "other.sqlite3"):  # another journal: its own lock
            pass
    with engine_lock(journal):  # released on exit
        pass


def test_the_lock_is_held_across_processes_and_dies_with_its_holder(tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite3"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(journal)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(EngineLockedError, match=rf"\(pid {holder.pid}\)"), engine_lock(journal):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    with engine_lock(journal):  # killed -9: the kernel dropped its lock, nothing stale
        assert lock_path(journal).read_text() == f"{os.getpid()}\n"


def test_a_symlink_to_the_journal_shares_its_lock(tmp_path: Path) -> None:
    """The lock is named from the resolved file: a symlink to the journal (or to its
    folder) is the same journal, so the second engine is refused either way round."""
    data = tmp_path / "data"
    data.mkdir()
    journal = data / "journal.sqlite3"
    journal.write_bytes(b"")
    link = tmp_path / "link.sqlite3"
    link.symlink_to(journal)
    folder_link = tmp_path / "data-link"
    folder_link.symlink_to(data, target_is_directory=True)
    with engine_lock(journal):
        for other in (link, folder_link / "journal.sqlite3"):
            refused = pytest.raises(EngineLockedError, match=rf"\(pid {os.getpid()}\)")
            with refused, engine_lock(other):
                pass
    with engine_lock(link) as held:
        assert held == lock_path(journal) == data / "journal.sqlite3.lock"
        with pytest.raises(EngineLockedError), engine_lock(journal):
            pass


def test_a_symlink_and_the_real_path_are_one_lock_across_processes(tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite3"
    link = tmp_path / "via-link.sqlite3"
    link.symlink_to(journal)  # dangling until the journal is created: resolved all the same
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(link)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(EngineLockedError, match=rf"\(pid {holder.pid}\)"), engine_lock(journal):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    with engine_lock(journal):
        pass
