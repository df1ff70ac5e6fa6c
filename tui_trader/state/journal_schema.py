"""The journal's schema and its forward migrations, kept in one place because they are the
file format: a released script is never edited, since journals out there already ran it.

``PRAGMA user_version`` holds the schema version; :data:`MIGRATIONS` ``[i]`` upgrades version
``i`` to ``i + 1`` in one transaction (:func:`migrate`). A file with a newer version than this
code knows is refused with :class:`~tui_trader.state.journal_errors.JournalVersionError`,
never written to.

Versions: 1 intents, fills, events, the old daily-bar cache and a key/value store; 2 the
auto-trader's candidates (SPEC 11); 3 the alert outbox (SPEC 13); 4 drops the old bar cache
(the bars live in :mod:`tui_trader.state.bar_cache` since issue 12).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from tui_trader.state.journal_errors import JournalVersionError

_V1 = """
CREATE TABLE intents (
    intent_id       TEXT PRIMARY KEY,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    underlying      TEXT NOT NULL,
    status          TEXT NOT NULL,
    spec            TEXT NOT NULL,
    order_id        INTEGER,
    perm_id         INTEGER,
    filled          INTEGER NOT NULL DEFAULT 0,
    avg_fill_price  REAL,
    commission      REAL,
    last_error_code INTEGER,
    last_error_text TEXT,
    walk_step       INTEGER NOT NULL DEFAULT 0,
    working_limit   REAL
);
CREATE INDEX intents_status ON intents (status);
CREATE TABLE fills (
    exec_id    TEXT PRIMARY KEY,
    intent_id  TEXT,
    order_id   INTEGER NOT NULL,
    perm_id    INTEGER NOT NULL,
    con_id     INTEGER NOT NULL,
    symbol     TEXT NOT NULL,
    side       TEXT NOT NULL,
    quantity   REAL NOT NULL,
    price      REAL NOT NULL,
    time       TEXT NOT NULL,
    commission REAL,
    order_ref  TEXT
);
CREATE INDEX fills_intent ON fills (intent_id);
CREATE TABLE events (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    time      TEXT NOT NULL,
    level     TEXT NOT NULL,
    kind      TEXT NOT NULL,
    text      TEXT NOT NULL,
    intent_id TEXT
);
CREATE TABLE bar_cache (
    symbol     TEXT NOT NULL,
    day        TEXT NOT NULL,
    open       REAL,
    high       REAL,
    low        REAL,
    close      REAL,
    volume     REAL,
    fetched_on TEXT NOT NULL,
    PRIMARY KEY (symbol, day)
) WITHOUT ROWID;
CREATE TABLE kv (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

#: Version 2: the auto-trader's candidates (SPEC 11), one row per (New York trading day,
#: symbol, direction): the key is written before anything is sent, so it is tried at most
#: once a day whatever happens.
_V2 = """
CREATE TABLE auto_candidates (
    day        TEXT NOT NULL,
    symbol     TEXT NOT NULL,
    direction  TEXT NOT NULL,
    strategy   TEXT NOT NULL,
    state      TEXT NOT NULL,
    reason     TEXT,
    intent_id  TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    detail     TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (day, symbol, direction)
) WITHOUT ROWID;
"""

#: Version 3: SPEC 13's alert outbox (``tui_trader.alerts.outbox``), one row per alert and
#: channel, journaled before it is sent; ``sent_at`` stays NULL until the channel took it,
#: ``late`` is set on the rows a restart found unsent.
_V3 = """
CREATE TABLE alert_outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    channel    TEXT NOT NULL,
    severity   TEXT NOT NULL,
    dedupe_key TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    late       INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    sent_at    TEXT
);
CREATE INDEX alert_outbox_unsent ON alert_outbox (channel, sent_at, id);
CREATE INDEX alert_outbox_key ON alert_outbox (dedupe_key, created_at);
"""

#: Version 4: the daily bars moved to their own file in the user's cache folder
#: (:mod:`tui_trader.state.bar_cache`, issue 12); the journal's ``bar_cache`` table is
#: dropped, rows and all (a cache: losing it costs one refetch). Its freed pages stay in the
#: file and are reused by later writes (a VACUUM cannot run inside the step's transaction).
_V4 = """
DROP TABLE IF EXISTS bar_cache;
"""

#: ``PRAGMA application_id`` of a tui-trader journal: ``"TuiT"`` in ASCII, big-endian, as
#: SQLite stores it at offset 68 of the file header. Fixed forever: it is how a journal is
#: told from any other SQLite file.
APPLICATION_ID = 0x54756954
#: The tables every journal has had since version 1 and still has (what an id-less old
#: journal, and a journal the read-only report opens, is recognised by): version 1's, less
#: the ``bar_cache`` that version 4 drops.
OUR_TABLES = frozenset({"intents", "fills", "events", "kv"})

#: Forward migrations; ``MIGRATIONS[i]`` takes the schema from version i to i + 1. Append
#: only: a released script is never edited, since journals out there already ran it.
MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3, _V4)
SCHEMA_VERSION = len(MIGRATIONS)


def _user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _too_new(where: str, current: int, known: int) -> JournalVersionError:
    return JournalVersionError(
        f"The {where} has schema version {current}, but this tui-trader only understands "
        f"up to version {known}: it was written by a newer tui-trader. Upgrade tui-trader; "
        "do not delete the file, it holds the record of orders sent to IB."
    )


def migrate(conn: sqlite3.Connection, migrations: Sequence[str], where: str = "journal") -> int:
    """Bring the schema up to ``len(migrations)``; returns the version it is at.

    Each step runs in its own ``BEGIN IMMEDIATE`` transaction together with the
    ``user_version`` bump, so a failing script leaves the previous version intact, and a
    second process migrating at the same time re-reads the version under the lock instead of
    running a step twice. ``conn`` must be in autocommit mode.
    """
    target = len(migrations)
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = _user_version(conn)
            if current > target:
                raise _too_new(where, current, target)
            if current == target:
                conn.execute("COMMIT")
                return current
            conn.executescript(migrations[current])
            conn.execute(f"PRAGMA user_version = {current + 1}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
