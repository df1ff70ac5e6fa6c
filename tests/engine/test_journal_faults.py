"""The journal when it fails: a full disk while the bars are cached (the engine boots and
scans on what it fetched, says so, and sends nothing until the journal takes writes
again), and a damaged or foreign journal at start (exit 2, one sentence, file untouched),
for the dashboard and the headless engine alike.

The full disk is SQLite's own: ``PRAGMA max_page_count`` at the file's current size makes
every write that needs a new page fail with "database or disk is full" (SQLITE_FULL), the
error a full disk gives.
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.engine.conftest import ENGINE_SYMBOLS, HistoricalSpy, engine_settings, short_sleep
from tests.environment import isolated_env
from tests.sim.conftest import FakeMonotonic, until
from tui_trader.core.models import EventLevel, IntentStatus, JournalEvent
from tui_trader.core.settings import Settings
from tui_trader.engine.engine import Engine
from tui_trader.engine.runtime import EngineStartError, running_engine
from tui_trader.sim.gateway import SimGateway
from tui_trader.state.bar_cache import BarCache, default_cache_path
from tui_trader.state.journal import Journal, JournalWriteError
from tui_trader.state.store import EventLog, Orders, Positions, ScanResults


def fill_up(journal: Journal) -> None:
    journal._conn.execute(f"PRAGMA max_page_count = {journal.pragma('page_count')}")


def make_room(journal: Journal) -> None:
    journal._conn.execute("PRAGMA max_page_count = 1073741823")


def journal_events(engine: Engine) -> list[JournalEvent]:
    return [e for e in engine.store.get(EventLog).items if e.kind == "journal"]


@pytest.fixture
async def engine_on(
    engine_gateway: SimGateway, fake_time: FakeMonotonic, tmp_path: Path
) -> AsyncIterator[Callable[[Journal], Any]]:
    """Factory: an engine on ``journal`` (as tests/engine/conftest.py's ``make_engine``, but
    the test prepares the journal first), started but not waited for."""
    made: list[Engine] = []

    async def _make(journal: Journal) -> Engine:
        engine = Engine(
            engine_settings(engine_gateway.port),
            journal,
            clock=engine_gateway.sim_time,
            monitor_interval_s=None,
            monotonic=fake_time,
            session_options={
                "health_interval_s": None,
                "sleep": short_sleep,
                "rng": random.Random(5),
                "monotonic": fake_time,
            },
        )
        made.append(engine)
        await engine.start()
        return engine

    yield _make
    for engine in made:
        await engine.stop()


async def test_a_full_disk_while_caching_bars_boots_on_the_fetched_bars_and_sends_nothing(
    engine_on: Callable[[Journal], Any], engine_gateway: SimGateway, tmp_path: Path
) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    fill_up(journal)
    # the same full disk under the bar cache (issue 12 moved it out of the journal): its
    # file cannot be made, so every fetched bar stays in memory
    default_cache_path().mkdir(parents=True)
    spy = HistoricalSpy(engine_gateway)
    engine = await engine_on(journal)
    try:
        assert await engine.wait_booted(20.0), "the engine did not boot on a full disk"
        bars = engine.scanner.bars
        assert bars is not None and sorted(bars.symbols) == sorted(ENGINE_SYMBOLS)
        assert int(bars.n_valid.min()) >= 201
        report = engine.store.get(ScanResults).report
        assert report is not None and report.symbols == 4
        assert spy.count == 4  # each symbol fetched once: nothing thrown away and refetched
        assert BarCache().get_bars("MSFT", engine.today()) is None  # kept in memory
        (alarm,) = journal_events(engine)
        assert alarm.level is EventLevel.ERROR
        assert "disk is full" in alarm.text and "no order is sent" in alarm.text

        # an opening order: refused before anything is journaled or sent
        assert (await engine.preview("MSFT")).ok
        refused = await engine.transmit()
        assert not refused.ok
        assert refused.message.startswith(f"The journal {journal.path} cannot be written")
        assert "database or disk is full" in refused.message
        assert "nothing was sent" in refused.message
        assert engine.store.get(Orders).intents == () and journal.intents() == []
        await engine_gateway.pump()
        assert engine_gateway.exchange.positions() == []

        # space again: the next transmit proves the journal writable, says so, and sends
        make_room(journal)
        assert (await engine.preview("MSFT")).ok
        sent = await engine.transmit()
        assert sent.ok, sent.message
        assert journal.write_error is None
        levels = [e.level for e in journal_events(engine)]
        assert levels == [EventLevel.ERROR, EventLevel.WARNING, EventLevel.INFO]
        (intent,) = journal.intents()
        assert intent.intent_id in sent.message
    finally:
        await engine.stop()
        journal.close()


async def test_a_closing_order_waits_for_the_journal_too(
    engine_on: Callable[[Journal], Any], engine_gateway: SimGateway, tmp_path: Path
) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    engine = await engine_on(journal)
    try:
        assert await engine.wait_booted(20.0)
        assert (await engine.preview("MSFT")).ok
        opened = await engine.transmit()
        assert opened.ok, opened.message
        iid = journal.intents()[0].intent_id
        await until(
            lambda: journal.intent(iid).status is IntentStatus.FILLED,  # type: ignore[union-attr]
            what="the opening fill",
        )
        await until(lambda: len(engine.store.get(Positions).spreads) == 1, what="the position")

        fill_up(journal)
        with pytest.raises(JournalWriteError, match="disk is full"):  # the disk fills up
            journal.log_event(EventLevel.INFO, "test", "x" * 200_000, engine.now())
        assert (await engine.preview_close(iid)).ok
        refused = await engine.transmit()
        assert not refused.ok and "cannot be written" in refused.message
        assert len(journal.intents()) == 1
        await engine_gateway.pump()
        assert len(engine_gateway.exchange.positions()) == 2  # both legs still held

        make_room(journal)
        closed = await engine.transmit()
        assert closed.ok, closed.message
        await until(lambda: engine.store.get(Positions).spreads == (), what="flat")
    finally:
        await engine.stop()
        journal.close()


# -- a journal that must not be run on ------------------------------------------------------


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def damaged_journal(path: Path) -> str:
    """A journal with 80 intents and one page of its intents table overwritten; its digest."""
    from tests.unit.test_journal import SPEC, T0, corrupt_a_page

    with Journal(path) as j:
        for i in range(80):
            j.record_intent(SPEC, T0 + timedelta(seconds=i))
    corrupt_a_page(path, path.stat().st_size // 4096 - 2)
    return digest(path)


async def test_a_foreign_or_damaged_journal_is_a_start_error(tmp_path: Path) -> None:
    settings = Settings.model_validate({"connection": {"port": 9, "connect_timeout_s": 0.5}})
    places = tmp_path / "places.sqlite"
    raw = sqlite3.connect(places)
    raw.execute("CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT)")
    raw.commit()
    raw.close()
    with pytest.raises(EngineStartError, match=rf"^{places} is not a tui-trader journal"):
        async with running_engine(settings, demo=False, journal_path=places):
            pass
    damaged = tmp_path / "journal.sqlite3"
    before = damaged_journal(damaged)
    with pytest.raises(EngineStartError, match=rf"^The journal {damaged} is damaged"):
        async with running_engine(settings, demo=False, journal_path=damaged):
            pass
    assert digest(damaged) == before


@pytest.mark.parametrize(
    "command",
    [["run", "--headless"], ["--log-file", "LOG"]],
    ids=["headless", "dashboard"],
)
def test_tui_trader_exits_2_on_a_damaged_journal_and_leaves_it_as_it_was(
    tmp_path: Path, command: list[str]
) -> None:
    journal = tmp_path / "data" / "tui-trader" / "journal.sqlite3"
    journal.parent.mkdir(parents=True)
    before = damaged_journal(journal)
    log = tmp_path / "tui.log"
    done = subprocess.run(
        [sys.executable, "-m", "tui_trader.cli",
         *[str(log) if a == "LOG" else a for a in command]],
        env=isolated_env(tmp_path),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    # the dashboard's stderr is also its terminal: the sentence comes after it was restored
    last = done.stderr[done.stderr.rindex("tui-trader: ") :]
    assert last.startswith(f"tui-trader: The journal {journal} is damaged"), done.stderr
    assert last.endswith(".\n") and last.count("\n") == 1
    assert "move it aside" in last and "backup" in last
    assert "Traceback" not in done.stderr + done.stdout
    assert digest(journal) == before
    assert sorted(p.name for p in journal.parent.iterdir()) == [
        "journal.sqlite3",
        "journal.sqlite3.lock",
    ]
    if "--log-file" in command:  # the dashboard's log: the account's activity, owner only
        assert (log.stat().st_mode & 0o777) == 0o600


def test_the_log_file_is_private_even_when_it_existed(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "tui.log"
    log.parent.mkdir()
    log.write_text("an old line\n")
    log.chmod(0o644)
    probe = (
        "import sys; from pathlib import Path; from loguru import logger; "
        "from tui_trader.engine.runtime import configure_logging; "
        "configure_logging(Path(sys.argv[1])); logger.info('order for DU1234567')"
    )
    subprocess.run([sys.executable, "-c", probe, str(log)], check=True, timeout=60)
    assert (log.stat().st_mode & 0o777) == 0o600
    text = log.read_text()
    assert "order for DU…567" in text and "DU1234567" not in text
    fresh = tmp_path / "new.log"
    subprocess.run([sys.executable, "-c", probe, str(fresh)], check=True, timeout=60)
    assert (fresh.stat().st_mode & 0o777) == 0o600
