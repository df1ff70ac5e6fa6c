"""The open journal every part of :class:`~tui_trader.state.journal.Journal` builds on: the
connection, its write transactions and their storage failures, and the two small stores
every other part writes to -- the event log and the key/value store (breaker state, kill
switch, the auto-trader's exit records). The intents, fills and candidates are mixins over
this class in their own modules.

- **One short transaction per call** (``BEGIN IMMEDIATE`` ... ``COMMIT``), committed before
  the method returns; the write lock is taken up front so two writers never deadlock on a
  lock upgrade. Calls are synchronous and fast (sub-millisecond plus the fsync), fine to make
  from the asyncio loop.
- A write that fails for lack of storage (disk full, I/O error, read-only file) raises
  :class:`JournalWriteError` and leaves :attr:`JournalBase.write_error` set until
  :meth:`JournalBase.check_writable` proves a write of :data:`PROBE_BYTES` commits again:
  the engine sends no order meanwhile, since every order is journaled before it is sent.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from tui_trader.core.models import EventLevel, JournalEvent, new_intent_id
from tui_trader.state.journal_errors import JournalWriteError
from tui_trader.state.journal_open import _storage_failure, open_connection
from tui_trader.state.journal_rows import _event_from, _iso

#: What :meth:`JournalBase.check_writable` writes (and deletes) to prove the journal can
#: grow again: more than an order intent with its events and fills needs.
PROBE_BYTES = 64 * 1024


class JournalBase:
    """The journal file. Not thread-safe: use it from the thread that opened it (the loop's).

    ``new_id`` makes intent ids (tests pass a deterministic one); ``busy_timeout_s`` bounds
    how long a call waits for another process's write lock before failing.
    """

    def __init__(
        self,
        path: Path,
        *,
        new_id: Callable[[], str] = new_intent_id,
        busy_timeout_s: float = 2.0,
    ) -> None:
        self.path = Path(path)
        self._new_id = new_id
        self._write_error: str | None = None
        self._conn, self.schema_version = open_connection(self.path, busy_timeout_s)

    # -- plumbing -------------------------------------------------------------------------

    def close(self) -> None:
        """Close the file; every call before has already committed. Idempotent."""
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def write_error(self) -> str | None:
        """Why the last write failed for lack of storage; None once a write of
        :data:`PROBE_BYTES` has committed since (:meth:`check_writable`)."""
        return self._write_error

    def check_writable(self) -> str | None:
        """Prove the journal can take writes: write and delete :data:`PROBE_BYTES` in one
        transaction. None (and :attr:`write_error` cleared) when it committed, else the
        sentence for the user."""
        try:
            with self._tx() as c:
                c.execute(
                    "INSERT INTO kv (key, value) VALUES ('.probe', zeroblob(?)) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (PROBE_BYTES,),
                )
                c.execute("DELETE FROM kv WHERE key = '.probe'")
        except JournalWriteError as exc:
            return str(exc)
        self._write_error = None
        return None

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` ... ``COMMIT``; a storage failure becomes
        :class:`JournalWriteError` (SQLite may have rolled back already: a full disk does)."""
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    with suppress(sqlite3.Error):  # the original error says more
                        conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            if not _storage_failure(exc):
                raise
            self._write_error = (
                f"The journal {self.path} cannot be written ({exc}): free disk space or fix "
                "the file's permissions."
            )
            raise JournalWriteError(self._write_error) from exc

    def pragma(self, name: str) -> Any:
        """Read a PRAGMA (``journal_mode``, ``synchronous``, ``user_version``...)."""
        if not name.isidentifier():
            raise ValueError(f"not a pragma name: {name!r}")
        return self._conn.execute(f"PRAGMA {name}").fetchone()[0]

    # -- events ---------------------------------------------------------------------------

    def log_event(
        self,
        level: EventLevel,
        kind: str,
        text: str,
        now: datetime,
        *,
        intent_id: str | None = None,
    ) -> JournalEvent:
        event = JournalEvent(time=now, level=level, kind=kind, text=text, intent_id=intent_id)
        with self._tx() as c:
            self._insert_event(c, event)
        return event

    def events(self, limit: int = 200) -> list[JournalEvent]:
        """The last ``limit`` events, oldest first."""
        rows = self._conn.execute(
            "SELECT time, level, kind, text, intent_id FROM events ORDER BY id DESC LIMIT ?",
            (max(0, limit),),
        ).fetchall()
        return [_event_from(r) for r in reversed(rows)]

    def _insert_event(self, c: sqlite3.Connection, event: JournalEvent) -> None:
        c.execute(
            "INSERT INTO events (time, level, kind, text, intent_id) VALUES (?, ?, ?, ?, ?)",
            (_iso(event.time), event.level.value, event.kind, event.text, event.intent_id),
        )

    # -- key/value ------------------------------------------------------------------------

    def put_kv(self, key: str, value: object) -> None:
        """Store a JSON value (e.g. ``BreakerState.to_dict()``); NaN/inf are refused."""
        text = json.dumps(value, allow_nan=False, sort_keys=True)
        with self._tx() as c:
            c.execute(
                "INSERT INTO kv (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, text),
            )

    def get_kv(self, key: str) -> Any:
        """The stored JSON value, or None when the key is absent."""
        row = self._conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row["value"])

    # -- tables other modules keep in this file (tui_trader.alerts.outbox) ----------------

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """One write transaction, as every method here uses (a storage failure raises
        :class:`JournalWriteError`): for a module that keeps its own table in this file."""
        return self._tx()

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """The rows of one statement, outside any transaction (same purpose)."""
        return self._conn.execute(sql, tuple(args)).fetchall()
