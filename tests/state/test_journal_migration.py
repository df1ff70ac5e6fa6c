"""Schema step 4: the journal's old ``bar_cache`` table (the daily bars before issue 12 moved
them to ``state.bar_cache``, the user's cache folder) is dropped from existing journals.

A journal written by the previous release (schema version 3, our application id, a
``bar_cache`` table full of rows) must open, lose that table and nothing else: every other
table's schema and rows byte-for-byte as they were, readable through the ``Journal`` API.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.unit.test_journal import SPEC, T0
from tui_trader.core.models import IntentStatus
from tui_trader.state.journal import (
    APPLICATION_ID,
    MIGRATIONS,
    OUR_TABLES,
    SCHEMA_VERSION,
    Journal,
    migrate,
)

#: The version the previous release wrote: the last one with a ``bar_cache`` table.
PREVIOUS = 3


def tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    return {str(r[0]) for r in rows}


def dump(path: Path) -> dict[str, object]:
    """Every table's and index's SQL and every row (bar_cache aside), read-only."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        schema = conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name != 'bar_cache' "
            "ORDER BY type, name"
        ).fetchall()
        out: dict[str, object] = {"schema": schema}
        for t in sorted(tables(conn) - {"bar_cache"}):
            out[t] = sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
        return out
    finally:
        conn.close()


def previous_release_journal(path: Path) -> None:
    """A journal as the release before step 4 left it: version 3, our id, WAL, rows in
    every table -- 120 cached bars among them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = sqlite3.connect(path, autocommit=True)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    assert migrate(raw, MIGRATIONS[:PREVIOUS]) == PREVIOUS
    t = T0.isoformat()
    raw.execute("BEGIN")
    raw.execute(
        "INSERT INTO intents (intent_id, created_at, updated_at, underlying, status, spec, "
        "order_id, perm_id, filled, avg_fill_price, commission, walk_step, working_limit) "
        "VALUES ('tt-000000000001', ?, ?, 'AAPL', 'FILLED', ?, 7, 900, 2, 2.05, 2.6, 1, 2.05)",
        (t, t, SPEC.model_dump_json()),
    )
    raw.execute(
        "INSERT INTO fills VALUES ('e1', 'tt-000000000001', 7, 900, 1001, 'AAPL', 'BOT', 2.0, "
        "3.45, ?, 1.3, 'tt-000000000001')",
        (t,),
    )
    raw.execute(
        "INSERT INTO events (time, level, kind, text, intent_id) "
        "VALUES (?, 'INFO', 'order', 'journaled', 'tt-000000000001')",
        (t,),
    )
    raw.execute("INSERT INTO kv VALUES ('breakers', '{\"halted\": false}')")
    raw.execute(
        "INSERT INTO auto_candidates VALUES ('2026-03-02', 'MSFT', 'LONG', 'HIGH_BASE', "
        "'QUEUED', NULL, NULL, ?, ?, '{}')",
        (t, t),
    )
    raw.execute(
        "INSERT INTO alert_outbox (created_at, channel, severity, dedupe_key, title, body) "
        "VALUES (?, 'mail', 'WARNING', 'k1', 'title', 'body')",
        (t,),
    )
    raw.executemany(
        "INSERT INTO bar_cache VALUES (?, ?, 1.0, 2.0, 0.5, 1.5, 9.0, '2026-03-02')",
        [(sym, f"2025-{m:02d}-{d:02d}") for sym in ("AAPL", "MSFT") for m in (1, 2) for d in
         range(1, 31) if (m, d) < (2, 29)],
    )  # fmt: skip
    raw.execute("COMMIT")
    assert raw.execute("SELECT COUNT(*) FROM bar_cache").fetchone()[0] == 2 * (31 - 1 + 28)
    raw.close()


def test_a_previous_release_journal_loses_its_bar_cache_and_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    previous_release_journal(path)
    before = dump(path)
    assert SCHEMA_VERSION == PREVIOUS + 1 == len(MIGRATIONS)
    with Journal(path) as journal:
        assert journal.schema_version == SCHEMA_VERSION
        assert journal.pragma("user_version") == SCHEMA_VERSION
        assert journal.pragma("application_id") == APPLICATION_ID
        assert not hasattr(journal, "put_bars") and not hasattr(journal, "get_bars")
        # what the engine reads back, through the API
        [intent] = journal.intents()
        assert (intent.intent_id, intent.status, intent.filled) == (
            "tt-000000000001",
            IntentStatus.FILLED,
            2,
        )
        assert intent.spec == SPEC and intent.commission == 2.6
        assert [f.exec_id for f in journal.fills("tt-000000000001")] == ["e1"]
        assert [e.text for e in journal.events()] == ["journaled"]
        assert journal.get_kv("breakers") == {"halted": False}
        assert [c.key.symbol for c in journal.candidates()] == ["MSFT"]
        assert journal.query("SELECT dedupe_key FROM alert_outbox")[0][0] == "k1"
    raw = sqlite3.connect(path)
    assert "bar_cache" not in tables(raw)
    assert tables(raw) >= OUR_TABLES | {"auto_candidates", "alert_outbox"}
    assert raw.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    raw.close()
    assert dump(path) == before  # every other table, index and row exactly as it was
    with Journal(path) as again:  # opening again runs no step
        assert again.schema_version == SCHEMA_VERSION
    assert dump(path) == before


def test_a_new_journal_has_no_bar_cache_table(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    Journal(path).close()
    raw = sqlite3.connect(path)
    assert tables(raw) == {"intents", "fills", "events", "kv", "auto_candidates", "alert_outbox"}
    raw.close()


def test_an_old_id_less_journal_still_opens_through_every_step(tmp_path: Path) -> None:
    """Version 1, written before the application id existed, with cached bars: adopted,
    migrated to the current version, bar_cache dropped, its kv kept."""
    path = tmp_path / "journal.sqlite3"
    raw = sqlite3.connect(path, autocommit=True)
    raw.execute("PRAGMA journal_mode=WAL")
    migrate(raw, MIGRATIONS[:1])
    raw.execute("INSERT INTO kv VALUES ('breakers', '{}')")
    raw.execute("INSERT INTO bar_cache VALUES ('SPY', '2025-01-02', 1, 2, 0.5, 1.5, 9, 'x')")
    raw.close()
    with Journal(path) as old:
        assert old.schema_version == SCHEMA_VERSION
        assert old.pragma("application_id") == APPLICATION_ID
        assert old.get_kv("breakers") == {}
        assert "bar_cache" not in {r[0] for r in old.query("SELECT name FROM sqlite_master")}
