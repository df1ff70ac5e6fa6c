"""The SQLite journal on a real file: WAL, schema versions, intents that survive a kill,
fills, the same-day bar cache and the key/value store."""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tui_trader.core.models import (
    EventLevel,
    Fill,
    IntentStatus,
    IntentUpdate,
    SpreadLeg,
    SpreadOrderSpec,
)
from tui_trader.core.risk import BreakerState, engage_kill_switch
from tui_trader.state.journal import (
    APPLICATION_ID,
    MIGRATIONS,
    SCHEMA_VERSION,
    Journal,
    JournalError,
    JournalVersionError,
    JournalWriteError,
    UnknownIntentError,
    default_journal_path,
    migrate,
)
from tui_trader.state.reconcile import reconcile

S = IntentStatus
T0 = datetime(2026, 3, 2, 20, 50, tzinfo=UTC)
MARKER = 1.7976931348623157e308

SPEC = SpreadOrderSpec(
    underlying="AAPL",
    direction="LONG",
    legs=(
        SpreadLeg(
            con_id=1001, symbol="AAPL", expiry="20260417", strike=200, right="C", action="BUY"
        ),
        SpreadLeg(
            con_id=1002, symbol="AAPL", expiry="20260417", strike=205, right="C", action="SELL"
        ),
    ),
    action="BUY",
    quantity=2,
    order_type="LMT",
    limit_price=2.10,
    mode="paper",
)


def counter_ids() -> Any:
    n = iter(range(1, 10_000))
    return lambda: f"tt-{next(n):012x}"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "journal.sqlite3"


@pytest.fixture
def journal(path: Path) -> Iterator[Journal]:
    j = Journal(path, new_id=counter_ids())
    yield j
    j.close()


def fill(**changes: Any) -> Fill:
    base: dict[str, Any] = {
        "exec_id": "e1",
        "order_id": 7,
        "perm_id": 900,
        "con_id": 1001,
        "symbol": "AAPL",
        "side": "BOT",
        "quantity": 2.0,
        "price": 3.45,
        "time": T0,
        "commission": None,
        "order_ref": "tt-000000000001",
    }
    base.update(changes)
    return Fill.model_validate(base)


# -- file, mode, schema -------------------------------------------------------------------


def test_new_journal_is_wal_full_sync_and_current_schema(journal: Journal, path: Path) -> None:
    assert path.exists()  # parent directory created
    assert journal.pragma("journal_mode") == "wal"
    assert journal.pragma("synchronous") == 2  # FULL
    assert journal.pragma("user_version") == SCHEMA_VERSION == len(MIGRATIONS) == 4
    assert journal.schema_version == 4
    raw = sqlite3.connect(path)
    tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    raw.close()
    assert {"intents", "fills", "events", "kv"} <= tables
    assert "bar_cache" not in tables  # dropped by version 4: bars live in state.bar_cache


def test_newer_schema_is_refused_and_left_untouched(path: Path) -> None:
    Journal(path).close()
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA user_version = 7")
    raw.commit()
    raw.close()
    with pytest.raises(JournalVersionError, match=r"schema version 7.*up to version 4"):
        Journal(path)
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == 7
    raw.close()


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "journal.sqlite3"
    bad.write_bytes(b"this is not sqlite, just some text that is long enough" * 20)
    with pytest.raises(JournalError, match="cannot be opened"):
        Journal(bad)


def test_forward_migration_keeps_data_and_a_failed_step_rolls_back(
    journal: Journal, path: Path
) -> None:
    it = journal.record_intent(SPEC, T0)
    journal.close()
    raw = sqlite3.connect(path, autocommit=True)
    broken = (*MIGRATIONS, "ALTER TABLE intents ADD COLUMN note TEXT; SELECT * FROM nowhere;")
    with pytest.raises(sqlite3.OperationalError, match="nowhere"):
        migrate(raw, broken)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    cols = {r[1] for r in raw.execute("PRAGMA table_info(intents)")}
    assert "note" not in cols  # the half-run step was rolled back
    nxt = (*MIGRATIONS, "ALTER TABLE intents ADD COLUMN note TEXT;")
    assert migrate(raw, nxt) == SCHEMA_VERSION + 1
    assert migrate(raw, nxt) == SCHEMA_VERSION + 1  # already there: nothing runs twice
    assert raw.execute("SELECT intent_id FROM intents").fetchall() == [(it.intent_id,)]
    raw.close()


def test_default_path_is_in_the_user_data_dir() -> None:
    p = default_journal_path()
    assert p.name == "journal.sqlite3" and "tui-trader" in str(p)


# -- intents ------------------------------------------------------------------------------


def test_record_intent_is_pending_send_and_visible_to_a_fresh_reader(
    journal: Journal, path: Path
) -> None:
    it = journal.record_intent(SPEC, T0)
    assert it.intent_id == "tt-000000000001"
    assert (it.status, it.filled, it.order_id, it.working_limit) == (S.PENDING_SEND, 0, None, 2.10)
    # A second connection, the first still open (as after a kill): it sees the commit.
    other = Journal(path)
    try:
        again = other.intent(it.intent_id)
        assert again == it
        assert again is not None and again.spec == SPEC
    finally:
        other.close()


def test_intent_lifecycle(journal: Journal, path: Path) -> None:
    it = journal.record_intent(SPEC, T0)
    sent = journal.mark_sent(it.intent_id, 7, T0 + timedelta(milliseconds=5))
    assert (sent.status, sent.order_id) == (S.SENT, 7)
    working = journal.update_from_ib(
        it.intent_id, T0 + timedelta(seconds=1), status=S.WORKING, perm_id=900
    )
    assert (working.status, working.perm_id) == (S.WORKING, 900)
    stepped = journal.set_walk_step(it.intent_id, 1, 2.13, T0 + timedelta(seconds=21))
    assert (stepped.walk_step, stepped.working_limit) == (1, 2.13)
    part = journal.update_from_ib(
        it.intent_id, T0 + timedelta(seconds=30), status=S.PARTIALLY_FILLED, filled=1.0,
        avg_fill_price=2.13,
    )  # fmt: skip
    assert (part.status, part.filled, part.avg_fill_price) == (S.PARTIALLY_FILLED, 1, 2.13)
    done = journal.update_from_ib(
        it.intent_id, T0 + timedelta(seconds=31), status=S.FILLED, filled=2.0, avg_fill_price=2.12
    )
    assert (done.status, done.filled, done.avg_fill_price) == (S.FILLED, 2, 2.12)
    # a late, stale status cannot revive it; the refusal is logged
    late = journal.update_from_ib(it.intent_id, T0 + timedelta(seconds=32), status=S.WORKING)
    assert late.status is S.FILLED and late.updated_at == T0 + timedelta(seconds=31)
    # a walk step on a finished order is refused by returning it unchanged
    assert journal.set_walk_step(it.intent_id, 2, 2.16, T0 + timedelta(seconds=41)) == late
    texts = [e.text for e in journal.events()]
    assert texts == [
        "journaled BUY 2 AAPL 20260417 200/205 C LMT 2.10 (paper)",
        "PENDING_SEND -> SENT",
        "SENT -> WORKING",
        "walk step 1: limit 2.13",
        "WORKING -> PARTIALLY_FILLED",
        "filled 1 of 2",
        "PARTIALLY_FILLED -> FILLED",
        "filled 2 of 2",
        "ignored status WORKING: the order is FILLED, which cannot go back to it",
    ]
    journal.close()
    reopened = Journal(path)
    try:
        assert reopened.intent(it.intent_id) == late
    finally:
        reopened.close()


def test_rejection_error_is_recorded_and_logged(journal: Journal) -> None:
    it = journal.record_intent(SPEC, T0)
    journal.mark_sent(it.intent_id, 7, T0)
    rej = journal.update_from_ib(
        it.intent_id, T0, status=S.REJECTED, error_code=201, error_text="Order rejected - margin"
    )
    assert (rej.status, rej.last_error_code, rej.last_error_text) == (
        S.REJECTED,
        201,
        "Order rejected - margin",
    )
    last = journal.events()[-1]
    assert (last.level, last.text) == (EventLevel.ERROR, "IB error 201: Order rejected - margin")


def test_active_listing_lookup_and_unknown_ids(journal: Journal) -> None:
    a = journal.record_intent(SPEC, T0)
    b = journal.record_intent(SPEC, T0 + timedelta(seconds=1))
    c = journal.record_intent(SPEC, T0 + timedelta(seconds=2))
    journal.update_from_ib(a.intent_id, T0, status=S.CANCELLED)
    journal.update_from_ib(b.intent_id, T0, status=S.UNKNOWN)
    assert [i.intent_id for i in journal.intents()] == [a.intent_id, b.intent_id, c.intent_id]
    assert [i.intent_id for i in journal.intents(active_only=True)] == [b.intent_id, c.intent_id]
    assert journal.intent_by_order_ref(c.intent_id) == journal.intent(c.intent_id)
    assert journal.intent_by_order_ref("manual order") is None
    assert journal.intent_by_order_ref("") is None
    assert journal.intent("tt-ffffffffffff") is None
    with pytest.raises(UnknownIntentError, match="tt-ffffffffffff"):
        journal.mark_sent("tt-ffffffffffff", 8, T0)


def test_dismiss_unknown_only(journal: Journal) -> None:
    it = journal.record_intent(SPEC, T0)
    with pytest.raises(JournalError, match="PENDING_SEND, not UNKNOWN"):
        journal.dismiss_unknown(it.intent_id, "checked TWS", T0)
    journal.apply_update(IntentUpdate(it.intent_id, status=S.UNKNOWN), T0)
    gone = journal.dismiss_unknown(it.intent_id, "not in TWS", T0 + timedelta(minutes=1))
    assert (gone.status, gone.last_error_text) == (S.CANCELLED, "not in TWS")
    assert journal.intent(it.intent_id) == gone


def test_naive_times_are_refused(journal: Journal) -> None:
    with pytest.raises(ValueError, match="timezone"):
        journal.record_intent(SPEC, datetime(2026, 3, 2, 15, 50))
    assert journal.intents() == []


def test_id_collision_draws_another(path: Path) -> None:
    ids = iter(["tt-000000000001", "tt-000000000001", "tt-000000000002"])
    with Journal(path, new_id=lambda: next(ids)) as j:
        assert j.record_intent(SPEC, T0).intent_id == "tt-000000000001"
        assert j.record_intent(SPEC, T0).intent_id == "tt-000000000002"


CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from datetime import UTC, datetime
    from pathlib import Path
    from tui_trader.core.models import SpreadOrderSpec
    from tui_trader.state.journal import Journal

    spec = SpreadOrderSpec.model_validate_json(sys.argv[2])
    j = Journal(Path(sys.argv[1]))
    it = j.record_intent(spec, datetime(2026, 3, 2, 20, 50, tzinfo=UTC))
    print(it.intent_id, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # no close(), no atexit, no flush of anything
    """
)


def test_intent_survives_sigkill_right_after_record(path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), SPEC.model_dump_json()],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    intent_id = proc.stdout.strip()
    assert intent_id.startswith("tt-") and len(intent_id) == 15
    with Journal(path) as j:
        found = j.intent(intent_id)
        assert found is not None
        assert (found.status, found.spec, found.created_at) == (S.PENDING_SEND, SPEC, T0)
        # and reconciling it with an IB that never saw it marks it UNKNOWN, never resends
        result = reconcile(j.intents(), [], [], T0 + timedelta(minutes=1))
        changed = j.apply_reconcile(result, T0 + timedelta(minutes=1))
        assert [(i.intent_id, i.status) for i in changed] == [(intent_id, S.UNKNOWN)]
        assert j.events()[-1].level is EventLevel.WARNING
        assert "NOT be resent" in j.events()[-1].text


# -- fills --------------------------------------------------------------------------------


def test_fills_dedup_by_exec_id_and_late_commission(journal: Journal) -> None:
    it = journal.record_intent(SPEC, T0)
    f1 = fill(exec_id="e1", con_id=1001, side="BOT", price=3.45)
    f2 = fill(exec_id="e2", con_id=1002, side="SLD", price=1.33, time=T0 + timedelta(seconds=1))
    assert journal.add_fill(f1) is True
    assert journal.add_fill(f2) is True
    assert journal.add_fill(f1) is False  # a re-sync: ignored
    got = journal.fills(it.intent_id)
    assert [(f.exec_id, f.intent_id, f.commission) for f in got] == [
        ("e1", it.intent_id, None),
        ("e2", it.intent_id, None),
    ]
    assert journal.intent(it.intent_id).commission is None  # type: ignore[union-attr]
    assert journal.set_commission("e1", MARKER) is False  # IB's "not yet known"
    assert journal.set_commission("e1", math.nan) is False
    assert journal.set_commission("nope", 1.0) is False
    assert journal.set_commission("e1", 1.30) is True
    assert journal.intent(it.intent_id).commission == 1.30  # type: ignore[union-attr]
    # the re-sync copy of e2 carries its commission: the row is updated, not duplicated
    assert journal.add_fill(f2.model_copy(update={"commission": 1.25})) is False
    assert [f.commission for f in journal.fills()] == [1.30, 1.25]
    assert journal.intent(it.intent_id).commission == pytest.approx(2.55)  # type: ignore[union-attr]
    assert len(journal.fills()) == 2


def test_fill_without_our_ref_is_kept_unattached(journal: Journal) -> None:
    assert journal.add_fill(fill(exec_id="x1", order_ref="manual")) is True
    assert journal.add_fill(fill(exec_id="x2", order_ref=None)) is True
    assert [f.intent_id for f in journal.fills()] == [None, None]
    assert journal.fills("tt-000000000001") == []


# -- events -------------------------------------------------------------------------------


def test_events_last_n_oldest_first(journal: Journal) -> None:
    for k in range(5):
        journal.log_event(EventLevel.INFO, "test", f"event {k}", T0 + timedelta(seconds=k))
    assert [e.text for e in journal.events(3)] == ["event 2", "event 3", "event 4"]
    assert journal.events(0) == []
    assert journal.events()[0].time == T0


# -- key/value ----------------------------------------------------------------------------


def test_kv_round_trip_with_breaker_state(journal: Journal, path: Path) -> None:
    assert journal.get_kv("breakers") is None
    state = engage_kill_switch(BreakerState(), T0)
    journal.put_kv("breakers", state.to_dict())
    journal.close()
    with Journal(path) as again:
        restored = BreakerState.from_dict(again.get_kv("breakers"))
        assert restored == state and restored.kill_switch
        again.put_kv("breakers", BreakerState().to_dict())
        assert BreakerState.from_dict(again.get_kv("breakers")) == BreakerState()
        with pytest.raises(ValueError):
            again.put_kv("bad", {"x": math.nan})


# -- whose file, whole file, private file ---------------------------------------------------


def digest(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


def test_a_new_journal_carries_our_application_id(journal: Journal, path: Path) -> None:
    assert APPLICATION_ID == 0x54756954  # "TuiT"
    assert journal.pragma("application_id") == APPLICATION_ID
    journal.close()  # checkpointed into the file
    assert path.read_bytes()[68:72] == b"TuiT"  # the header field file(1) reads


def test_a_foreign_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    places = tmp_path / "places.sqlite"
    raw = sqlite3.connect(places)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT)")
    raw.execute("INSERT INTO moz_places (url) VALUES ('https://example.org/')")
    raw.commit()
    raw.close()
    before, files = digest(places), siblings(places)
    with pytest.raises(JournalError, match=r"is not a tui-trader journal.*moz_places"):
        Journal(places)
    assert digest(places) == before and siblings(places) == files
    raw = sqlite3.connect(places)
    tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"moz_places"} and raw.execute("PRAGMA application_id").fetchone()[0] == 0
    raw.close()


def test_another_programs_application_id_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite3"
    raw = sqlite3.connect(other)
    raw.execute("PRAGMA application_id = 1234")
    raw.commit()
    raw.close()
    before = digest(other)
    with pytest.raises(JournalError, match=r"not a tui-trader journal.*application id 1234"):
        Journal(other)
    assert digest(other) == before


def test_a_journal_of_an_older_version_is_adopted(path: Path) -> None:
    """Journals written before the application id existed: our tables, id 0."""
    path.parent.mkdir(parents=True)
    raw = sqlite3.connect(path, autocommit=True)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.executescript(MIGRATIONS[0])
    raw.execute("PRAGMA user_version = 1")
    raw.execute("INSERT INTO kv (key, value) VALUES ('breakers', '{}')")
    raw.close()
    with Journal(path) as adopted:
        assert adopted.pragma("application_id") == APPLICATION_ID
        assert adopted.get_kv("breakers") == {}
    with Journal(path) as again:  # and opens as ours from now on
        assert again.get_kv("breakers") == {}


def test_a_database_with_only_some_of_our_tables_is_not_adopted(path: Path) -> None:
    path.parent.mkdir(parents=True)
    raw = sqlite3.connect(path, autocommit=True)
    raw.execute("CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    raw.execute("PRAGMA user_version = 1")
    raw.close()
    with pytest.raises(JournalError, match="not a tui-trader journal"):
        Journal(path)


def corrupt_a_page(path: Path, page: int) -> None:
    """Overwrite the cell pointers of one b-tree page, as a bad sector would."""
    data = bytearray(path.read_bytes())
    size = 4096
    assert len(data) > (page + 1) * size
    data[page * size + 8 : page * size + 300] = b"\xff" * 292
    path.write_bytes(bytes(data))


def test_a_corrupt_page_is_refused_and_the_file_left_byte_identical(path: Path) -> None:
    with Journal(path, new_id=counter_ids()) as j:
        for i in range(60):
            j.record_intent(SPEC, T0 + timedelta(seconds=i))
    pages = path.stat().st_size // 4096
    corrupt_a_page(path, pages - 2)  # a leaf near the end: the header still reads fine
    before, files = digest(path), siblings(path)
    with pytest.raises(JournalError) as raised:
        Journal(path)
    message = str(raised.value)
    assert message.startswith(f"The journal {path} is damaged")
    assert "move it aside" in message and "backup" in message and "\n" not in message
    assert digest(path) == before and siblings(path) == files  # not touched at all


def test_a_damaged_schema_page_is_refused_too(path: Path) -> None:
    with Journal(path, new_id=counter_ids()) as j:
        j.record_intent(SPEC, T0)
    corrupt_a_page(path, 1)  # page 2: a table's root
    before = digest(path)
    with pytest.raises(JournalError, match=r"is damaged"):
        Journal(path)
    assert digest(path) == before


def test_the_journal_and_its_wal_files_are_private(path: Path) -> None:
    with Journal(path) as j:
        j.log_event(EventLevel.INFO, "test", "a line", T0)
        for name in ("", "-wal", "-shm"):
            f = path.with_name(path.name + name)
            assert f.exists() and (f.stat().st_mode & 0o777) == 0o600, name
    path.chmod(0o644)  # a journal an older version created
    with Journal(path):
        assert (path.stat().st_mode & 0o777) == 0o600


# -- a journal that cannot be written ------------------------------------------------------


def fill_up(journal: Journal) -> None:
    """No new page can be added: SQLite answers "database or disk is full" (SQLITE_FULL)
    exactly as it does for a full disk."""
    pages = journal.pragma("page_count")
    journal._conn.execute(f"PRAGMA max_page_count = {pages}")


def test_a_full_disk_is_a_write_error_until_a_write_works_again(journal: Journal) -> None:
    assert journal.write_error is None
    fill_up(journal)
    many = [[i, 1.0, 2.0, 0.5, 1.5, 9.0] for i in range(600)]  # a write needing new pages
    with pytest.raises(JournalWriteError, match=r"cannot be written.*database or disk is full"):
        journal.put_kv("many", many)
    assert journal.get_kv("many") is None  # rolled back whole
    assert journal.write_error is not None and "disk is full" in journal.write_error
    assert journal.check_writable() is not None  # still no room for a write of any size
    assert journal.write_error is not None
    journal._conn.execute("PRAGMA max_page_count = 1000000")  # space again
    assert journal.check_writable() is None and journal.write_error is None
    journal.put_kv("many", many)
    assert journal.get_kv("many") == many


def test_a_version_1_journal_gains_the_candidates_table_and_keeps_its_orders(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = sqlite3.connect(path, autocommit=True)
    migrate(raw, MIGRATIONS[:1])
    raw.close()
    with Journal(path) as old:
        assert old.schema_version == SCHEMA_VERSION
        assert old.candidates() == []


def test_candidates_are_keyed_once_a_day_and_keep_their_state(journal: Journal) -> None:
    from tui_trader.core.auto import Candidate, CandidateKey, CandidateState

    key = CandidateKey(T0.date(), "MSFT", "LONG")
    c = Candidate(key, "HIGH_BASE", CandidateState.QUEUED, T0, T0)
    assert journal.add_candidate(c)
    assert not journal.add_candidate(c)  # the key exists: never a second try
    sent = c.moved(CandidateState.SELECTING, T0).moved(
        CandidateState.SENT, T0, intent_id="tt-1", detail={"debit": 2.2, "quantity": 3}
    )
    journal.put_candidate(sent)
    (back,) = journal.candidates(T0.date())
    assert back == sent and back.detail == {"debit": 2.2, "quantity": 3}
    assert journal.candidates(date(2000, 1, 3)) == []
