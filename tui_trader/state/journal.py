"""The engine's SQLite journal: order intents (written *before* they are sent), fills, an
event log, a same-day bar cache and a small key/value store (breaker state, kill switch).

The rule it exists for: an order intent is committed to disk, with IB ``orderRef`` = intent
id, before ``placeOrder``; after any crash the intents are reconciled with IB by that ref
(:mod:`tui_trader.state.reconcile`) and an intent whose fate is unknown is shown, never
resent.

Durability decisions:

- **WAL** (``journal_mode=WAL``): a reader (the TUI, a second ``Journal`` on the same file)
  never blocks the writer, and a commit is one append to the ``-wal`` file. A journal that
  cannot run in WAL mode (some network file systems) is refused rather than silently run in
  another mode.
- **synchronous=FULL**: in WAL mode the default NORMAL already survives the *app* being
  killed, but a power cut or OS crash can roll back the last commits, because NORMAL fsyncs
  the WAL only at checkpoints. An intent lost that way would be an order live at IB that the
  journal has never heard of -- the one thing this file must prevent. FULL fsyncs the WAL on
  every commit: a few milliseconds per order, nothing at our order rate. Events, fills and
  the bar cache pay the same price, which is small (a handful of commits per minute, one bar
  cache write per symbol per day) and keeps one connection setting.
- **One short transaction per call** (``BEGIN IMMEDIATE`` ... ``COMMIT``), committed before
  the method returns; the write lock is taken up front so two writers never deadlock on a
  lock upgrade. Calls are synchronous and fast (sub-millisecond plus the fsync), fine to make
  from the asyncio loop.

Whose file, and is it whole (checked on a read-only connection before anything is written,
so a refused file stays byte-identical):

- **Ours only.** ``PRAGMA application_id`` is :data:`APPLICATION_ID` (``"TuiT"``, set when
  the journal is created). A non-empty database without it -- another program's SQLite
  file given as the journal -- is refused, never given our tables. A journal written before
  the id existed (all our tables, a schema version, id 0) is adopted: the id is set.
- **Whole or not at all.** ``PRAGMA quick_check`` reads every page at open; a damaged
  journal is refused with what to do (move it aside, restore a backup), because running
  on a journal whose intents cannot all be read could resend an order it has lost.
- **Private.** The file is created 0600 (and an older, wider one narrowed to the owner):
  it is the account's trading record. SQLite gives the ``-wal`` and ``-shm`` files the
  database file's mode.

A write that fails for lack of storage (disk full, I/O error, read-only file) raises
:class:`JournalWriteError` and leaves :attr:`Journal.write_error` set until
:meth:`Journal.check_writable` proves a write of :data:`PROBE_BYTES` commits again: the
engine sends no order meanwhile, since every order is journaled before it is sent.

Schema: ``PRAGMA user_version`` holds the schema version; :data:`MIGRATIONS` ``[i]`` upgrades
version ``i`` to ``i + 1`` in one transaction. A file with a newer version than this code
knows is refused with :class:`JournalVersionError`, never written to.

Storage conventions: times are UTC ISO 8601 strings (returned as aware UTC datetimes);
money and prices are REAL (a Python float round-trips exactly); the intent's spec is its
JSON. SQLite has no NaN (it stores NULL), so a NaN in a bar row comes back as NaN.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import stat
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import UTC, date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, NamedTuple, Self

from platformdirs import user_data_dir

from tui_trader.core.auto import Candidate, CandidateKey, CandidateState
from tui_trader.core.models import (
    EventLevel,
    Fill,
    IntentStatus,
    IntentUpdate,
    JournalEvent,
    OrderIntent,
    SpreadOrderSpec,
    apply_update,
    is_our_ref,
    new_intent_id,
    usable_number,
)
from tui_trader.state.reconcile import ReconcileResult

APP_NAME = "tui-trader"

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

#: ``PRAGMA application_id`` of a tui-trader journal: ``"TuiT"`` in ASCII, big-endian, as
#: SQLite stores it at offset 68 of the file header. Fixed forever: it is how a journal is
#: told from any other SQLite file.
APPLICATION_ID = 0x54756954
#: The tables every journal has had since version 1 (what an id-less old journal is
#: recognised by).
OUR_TABLES = frozenset({"intents", "fills", "events", "bar_cache", "kv"})
#: What :meth:`Journal.check_writable` writes (and deletes) to prove the journal can grow
#: again: more than an order intent with its events and fills needs.
PROBE_BYTES = 64 * 1024
#: SQLite primary result codes that mean "the storage cannot take the write" (full disk,
#: I/O error, read-only file), as opposed to a constraint or a busy lock.
_STORAGE_CODES = frozenset({sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY})

#: Forward migrations; ``MIGRATIONS[i]`` takes the schema from version i to i + 1. Append
#: only: a released script is never edited, since journals out there already ran it.
MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3)
SCHEMA_VERSION = len(MIGRATIONS)


class JournalError(Exception):
    """The journal cannot be opened or used; ``str()`` is the sentence for the user."""


class JournalVersionError(JournalError):
    """The file was written by a newer tui-trader (a higher schema version)."""


class JournalWriteError(JournalError):
    """A write failed for lack of storage (disk full, I/O error, read-only); nothing of the
    call was written."""


class UnknownIntentError(JournalError, KeyError):
    """No intent with that id in the journal."""

    def __str__(self) -> str:
        return f"no order intent {self.args[0]!r} in the journal"


class BarRow(NamedTuple):
    """One cached daily bar as IB returned it (prices per share; NaN allowed)."""

    day: date
    open: float
    high: float
    low: float
    close: float
    volume: float


def default_journal_path() -> Path:
    """Where the app keeps its journal unless told otherwise (callers pass the path)."""
    return Path(user_data_dir(APP_NAME)) / "journal.sqlite3"


def _iso(t: datetime) -> str:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"journal times must be timezone-aware, got {t!r}")
    return t.astimezone(UTC).isoformat()


def _time(s: str) -> datetime:
    return datetime.fromisoformat(s)


def _real(x: float | None) -> float:
    return math.nan if x is None else float(x)


def _user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _too_new(where: str, current: int, known: int) -> JournalVersionError:
    return JournalVersionError(
        f"The {where} has schema version {current}, but this tui-trader only understands "
        f"up to version {known}: it was written by a newer tui-trader. Upgrade tui-trader; "
        "do not delete the file, it holds the record of orders sent to IB."
    )


def _make_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600, or take the group and other bits off an existing
    file (the owner's own bits are kept: a file made read-only stays read-only)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if not path.exists():  # a symlink to a file yet to be made: make it
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
            return
        for f in (path, *_sidecars(path)):
            try:
                mode = stat.S_IMODE(f.stat().st_mode)
                if mode & 0o077:
                    f.chmod(mode & 0o700)
            except OSError:  # gone meanwhile, or not ours to change: SQLite will say
                pass
    else:
        os.close(fd)


def _sidecars(path: Path) -> tuple[Path, Path]:
    return path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")


def _has_content(path: Path) -> bool:
    """Anything to inspect: the file, or a WAL a crash left before the first checkpoint."""
    wal = _sidecars(path)[0]
    return path.stat().st_size > 0 or (wal.exists() and wal.stat().st_size > 0)


def _tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    return {str(r[0]) for r in rows}


def _foreign(path: Path, app_id: int, version: int, tables: set[str]) -> JournalError | None:
    """Why the database is not a journal of ours (None: it is ours, or empty, or an old
    journal of ours to adopt)."""
    if app_id == APPLICATION_ID or (app_id == 0 and not tables and version == 0):
        return None
    if app_id == 0 and tables >= OUR_TABLES and version >= 1:
        return None
    what = (
        f"application id {app_id}"
        if app_id
        else f"tables: {', '.join(sorted(tables)[:5]) or 'none'}"
    )
    return JournalError(
        f"{path} is not a tui-trader journal (a SQLite database of another program, {what}) "
        "and was not touched: move it away, or point tui-trader at another file."
    )


def _damage(conn: sqlite3.Connection) -> str | None:
    """The first problem ``PRAGMA quick_check`` finds, on one line; None when whole."""
    try:
        rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check").fetchall()]
    except sqlite3.DatabaseError as exc:
        return str(exc)
    if rows == ["ok"]:
        return None
    lines = [ln.strip() for r in rows for ln in r.splitlines()]
    first = next((ln for ln in lines if ln and not ln.startswith("***")), "not ok")
    return first[:200]


def _inspect(path: Path, busy_timeout_s: float) -> None:
    """Refuse a file that is not a whole journal of ours, reading only.

    A read-only connection never writes the database file (no checkpoint on close), so a
    refused file stays byte-identical; ``-wal``/``-shm`` files SQLite had to create for
    reading are removed again.
    """
    before = {f for f in _sidecars(path) if f.exists()}
    damage: str | None = None
    try:
        conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro", uri=True, autocommit=True, timeout=busy_timeout_s
        )
        try:
            app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
            version = _user_version(conn)
            tables = _tables(conn)
            foreign = _foreign(path, app_id, version, tables)
            if foreign is not None:
                raise foreign
            if version > SCHEMA_VERSION:
                raise _too_new(f"journal {path}", version, SCHEMA_VERSION)
            damage = _damage(conn)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_CORRUPT:
            _remove_created(before, path)
            raise JournalError(f"The journal {path} cannot be opened: {exc}.") from exc
        damage = str(exc)
    except BaseException:
        _remove_created(before, path)
        raise
    if damage is not None:
        _remove_created(before, path)
        raise JournalError(
            f"The journal {path} is damaged (SQLite's integrity check: {damage}) and was left "
            "as it is: move it aside (keep it, it holds the record of orders sent to IB) and "
            "restore a backup, or start without one to begin a new journal."
        )


def _remove_created(existed: set[Path], path: Path) -> None:
    """Remove the empty ``-wal`` and the ``-shm`` a read-only look created."""
    wal, shm = _sidecars(path)
    if wal in existed or shm in existed:
        return
    try:
        if wal.exists() and wal.stat().st_size:
            return  # someone else is writing it now: not ours to remove
        for f in (wal, shm):
            f.unlink(missing_ok=True)
    except OSError:
        pass


def _claim(conn: sqlite3.Connection, path: Path) -> None:
    """Set our application id on a new (or an old, id-less) journal, under the write lock,
    re-checking what :func:`_inspect` saw."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
        if app_id != APPLICATION_ID:
            foreign = _foreign(path, app_id, _user_version(conn), _tables(conn))
            if foreign is not None:
                raise foreign
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _storage_failure(exc: sqlite3.Error) -> bool:
    return (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF in _STORAGE_CODES


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


_INTENT_COLUMNS = (
    "intent_id, created_at, updated_at, underlying, status, spec, order_id, perm_id, filled, "
    "avg_fill_price, commission, last_error_code, last_error_text, walk_step, working_limit"
)
_FILL_COLUMNS = (
    "exec_id, intent_id, order_id, perm_id, con_id, symbol, side, quantity, price, time, "
    "commission, order_ref"
)


def _intent_row(i: OrderIntent) -> tuple[Any, ...]:
    return (
        i.intent_id,
        _iso(i.created_at),
        _iso(i.updated_at),
        i.spec.underlying,
        i.status.value,
        i.spec.model_dump_json(),
        i.order_id,
        i.perm_id,
        i.filled,
        i.avg_fill_price,
        i.commission,
        i.last_error_code,
        i.last_error_text,
        i.walk_step,
        i.working_limit,
    )


def _intent_from(row: sqlite3.Row) -> OrderIntent:
    return OrderIntent(
        intent_id=row["intent_id"],
        created_at=_time(row["created_at"]),
        updated_at=_time(row["updated_at"]),
        spec=SpreadOrderSpec.model_validate_json(row["spec"]),
        status=IntentStatus(row["status"]),
        order_id=row["order_id"],
        perm_id=row["perm_id"],
        filled=row["filled"],
        avg_fill_price=row["avg_fill_price"],
        commission=row["commission"],
        last_error_code=row["last_error_code"],
        last_error_text=row["last_error_text"],
        walk_step=row["walk_step"],
        working_limit=row["working_limit"],
    )


def _fill_from(row: sqlite3.Row) -> Fill:
    return Fill(
        exec_id=row["exec_id"],
        intent_id=row["intent_id"],
        order_id=row["order_id"],
        perm_id=row["perm_id"],
        con_id=row["con_id"],
        symbol=row["symbol"],
        side=row["side"],
        quantity=row["quantity"],
        price=row["price"],
        time=_time(row["time"]),
        commission=row["commission"],
        order_ref=row["order_ref"],
    )


def _candidate_row(c: Candidate) -> tuple[Any, ...]:
    k = c.key
    return (
        k.day.isoformat(), k.symbol, k.direction, c.strategy, c.state.value, c.reason,
        c.intent_id, _iso(c.created_at), _iso(c.updated_at),
        json.dumps(dict(c.detail), allow_nan=False, sort_keys=True),
    )  # fmt: skip


def _candidate_from(row: sqlite3.Row) -> Candidate:
    direction: Literal["LONG", "SHORT"] = "LONG" if row["direction"] == "LONG" else "SHORT"
    return Candidate(
        key=CandidateKey(date.fromisoformat(row["day"]), row["symbol"], direction),
        strategy=row["strategy"],
        state=CandidateState(row["state"]),
        created_at=_time(row["created_at"]),
        updated_at=_time(row["updated_at"]),
        reason=row["reason"],
        intent_id=row["intent_id"],
        detail=json.loads(row["detail"]),
    )


def _event_from(row: sqlite3.Row) -> JournalEvent:
    return JournalEvent(
        time=_time(row["time"]),
        level=EventLevel(row["level"]),
        kind=row["kind"],
        text=row["text"],
        intent_id=row["intent_id"],
    )


class HistoryInputs(NamedTuple):
    """What :func:`tui_trader.core.history.closed_trades` pairs: the filled intents, their
    fills, and closing intent id -> the auto-trader's exit rule (its ``auto/exit/`` records)."""

    intents: list[OrderIntent]
    fills: list[Fill]
    exit_rules: dict[str, str]


def read_history(conn: sqlite3.Connection) -> HistoryInputs:
    """Read the History's inputs on any connection to a journal (the engine's, or the
    read-only one of ``tui-trader journal``); only filled intents and their fills."""
    conn.row_factory = sqlite3.Row
    intents = [
        _intent_from(r)
        for r in conn.execute(
            f"SELECT {_INTENT_COLUMNS} FROM intents WHERE filled > 0 ORDER BY rowid"
        )
    ]
    fills = [
        _fill_from(r)
        for r in conn.execute(
            f"SELECT {_FILL_COLUMNS} FROM fills WHERE intent_id IN "
            "(SELECT intent_id FROM intents WHERE filled > 0) ORDER BY time, rowid"
        )
    ]
    rules: dict[str, str] = {}
    for r in conn.execute("SELECT value FROM kv WHERE key LIKE 'auto/exit/%'"):
        with suppress(ValueError, TypeError, AttributeError):
            record = json.loads(r["value"])
            if record.get("intent_id") and record.get("rule"):
                rules[str(record["intent_id"])] = str(record["rule"])
    return HistoryInputs(intents, fills, rules)


class Journal:
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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _make_private(self.path)
        if _has_content(self.path):
            _inspect(self.path, busy_timeout_s)  # ours, not too new, whole: before any write
        conn = sqlite3.connect(self.path, autocommit=True, timeout=busy_timeout_s)
        try:
            conn.row_factory = sqlite3.Row
            where = f"journal {self.path}"
            version = _user_version(conn)  # a newer file written meanwhile: still untouched
            if version > SCHEMA_VERSION:
                raise _too_new(where, version, SCHEMA_VERSION)
            mode = str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower()
            if mode != "wal":
                raise JournalError(
                    f"The journal {self.path} cannot use SQLite's WAL mode (got {mode!r}); "
                    "keep it on a local disk."
                )
            conn.execute("PRAGMA synchronous=FULL")
            _claim(conn, self.path)
            self.schema_version = migrate(conn, MIGRATIONS, where)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise JournalError(f"The journal {self.path} cannot be opened: {exc}.") from exc
        except BaseException:
            conn.close()
            raise
        self._conn = conn

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

    # -- intents --------------------------------------------------------------------------

    def record_intent(self, spec: SpreadOrderSpec, now: datetime) -> OrderIntent:
        """Journal a new intent (PENDING_SEND), committed to disk before this returns.

        Only after this returns may the broker call placeOrder with ``orderRef`` = the
        returned ``intent_id``.
        """
        for _ in range(5):
            intent = OrderIntent(
                intent_id=self._new_id(),
                created_at=now,
                updated_at=now,
                spec=spec,
                status=IntentStatus.PENDING_SEND,
                working_limit=spec.limit_price,
            )
            try:
                with self._tx() as c:
                    c.execute(
                        f"INSERT INTO intents ({_INTENT_COLUMNS}) VALUES ({', '.join('?' * 15)})",
                        _intent_row(intent),
                    )
                    self._insert_event(
                        c,
                        JournalEvent(
                            time=now,
                            level=EventLevel.INFO,
                            kind="order",
                            text=f"journaled {spec.describe()}",
                            intent_id=intent.intent_id,
                        ),
                    )
            except sqlite3.IntegrityError:
                continue  # an id collision (48 random bits): draw another
            return intent
        raise JournalError("could not draw an unused intent id in 5 attempts")

    def mark_sent(self, intent_id: str, order_id: int, now: datetime) -> OrderIntent:
        """placeOrder has been called with this IB order id: PENDING_SEND -> SENT."""
        return self.apply_update(
            IntentUpdate(intent_id, status=IntentStatus.SENT, order_id=order_id), now
        )

    def update_from_ib(
        self,
        intent_id: str,
        now: datetime,
        *,
        status: IntentStatus | None = None,
        order_id: int | None = None,
        perm_id: int | None = None,
        filled: float | None = None,
        avg_fill_price: float | None = None,
        error_code: int | None = None,
        error_text: str | None = None,
    ) -> OrderIntent:
        """Record what IB reported (order status, error); see :func:`apply_update`.

        Convert IB's status string with :func:`tui_trader.core.models.status_from_ib`.
        """
        update = IntentUpdate(
            intent_id,
            status=status,
            order_id=order_id,
            perm_id=perm_id,
            filled=filled,
            avg_fill_price=avg_fill_price,
            error_code=error_code,
            error_text=error_text,
        )
        return self.apply_update(update, now)

    def apply_update(self, update: IntentUpdate, now: datetime) -> OrderIntent:
        """Apply one update in one transaction; logs status changes, refusals and errors."""
        with self._tx() as c:
            return self._apply_in(c, update, now, log_changes=True)

    def set_walk_step(
        self, intent_id: str, walk_step: int, limit_price: float | None, now: datetime
    ) -> OrderIntent:
        """Journal a walk step's new limit *before* the replace is sent.

        A terminal intent is returned unchanged: the caller must check the returned status
        and not send the replace (the order filled or died in the meantime).
        """
        if walk_step < 0:
            raise ValueError(f"walk_step must be >= 0, got {walk_step}")
        if limit_price is not None and not (usable_number(limit_price) and limit_price >= 0):
            raise ValueError(f"walk limit must be a price >= 0, got {limit_price!r}")
        with self._tx() as c:
            intent = self._load(c, intent_id)
            if intent.is_terminal:
                return intent
            new = intent.model_copy(
                update={"walk_step": walk_step, "working_limit": limit_price, "updated_at": now}
            )
            c.execute(
                "UPDATE intents SET walk_step = ?, working_limit = ?, updated_at = ? "
                "WHERE intent_id = ?",
                (walk_step, limit_price, _iso(now), intent_id),
            )
            shown = "MKT" if limit_price is None else f"{limit_price:.2f}"
            self._insert_event(
                c,
                JournalEvent(
                    time=now,
                    level=EventLevel.INFO,
                    kind="order",
                    text=f"walk step {walk_step}: limit {shown}",
                    intent_id=intent_id,
                ),
            )
            return new

    def dismiss_unknown(self, intent_id: str, note: str, now: datetime) -> OrderIntent:
        """The user's decision on an UNKNOWN intent: it is treated as CANCELLED from now on.

        Only UNKNOWN can be dismissed (JournalError otherwise). If IB later reports the
        order after all, reconciliation warns about it (a terminal intent keeps its status),
        and its fills are still recorded.
        """
        with self._tx() as c:
            intent = self._load(c, intent_id)
            if intent.status is not IntentStatus.UNKNOWN:
                raise JournalError(
                    f"{intent_id} is {intent.status.value}, not UNKNOWN: only an order whose "
                    "outcome is unknown can be dismissed."
                )
            new = intent.model_copy(
                update={
                    "status": IntentStatus.CANCELLED,
                    "last_error_text": note,
                    "updated_at": now,
                }
            )
            self._write(c, new)
            self._insert_event(
                c,
                JournalEvent(
                    time=now,
                    level=EventLevel.WARNING,
                    kind="order",
                    text=f"UNKNOWN order dismissed by the user: {note}",
                    intent_id=intent_id,
                ),
            )
            return new

    def intents(self, active_only: bool = False) -> list[OrderIntent]:
        """Intents in the order they were recorded; ``active_only``: not FILLED/CANCELLED/
        REJECTED (UNKNOWN counts as active: it needs the user)."""
        sql = f"SELECT {_INTENT_COLUMNS} FROM intents"
        if active_only:
            sql += " WHERE status NOT IN ('FILLED', 'CANCELLED', 'REJECTED')"
        return [_intent_from(r) for r in self._conn.execute(sql + " ORDER BY rowid")]

    def intent(self, intent_id: str) -> OrderIntent | None:
        row = self._conn.execute(
            f"SELECT {_INTENT_COLUMNS} FROM intents WHERE intent_id = ?", (intent_id,)
        ).fetchone()
        return None if row is None else _intent_from(row)

    def intent_by_order_ref(self, order_ref: str | None) -> OrderIntent | None:
        """The intent an IB orderRef belongs to; None for refs we did not set or do not know."""
        if not is_our_ref(order_ref) or order_ref is None:
            return None
        return self.intent(order_ref.strip())

    # -- fills ----------------------------------------------------------------------------

    def add_fill(self, fill: Fill) -> bool:
        """Record an execution; True when it is new.

        A duplicate exec id (a re-sync) is ignored, except that a commission it carries
        replaces the stored one. The fill is attached to its intent by ``intent_id`` or else
        by ``order_ref``, and the intent's commission total is refreshed.
        """
        with self._tx() as c:
            return self._add_fill_in(c, fill)

    def set_commission(self, exec_id: str, commission: float) -> bool:
        """IB's commission report for an execution; False when the exec id is unknown or the
        value is IB's "not yet known" marker (or NaN)."""
        if not usable_number(commission):
            return False
        with self._tx() as c:
            row = c.execute("SELECT intent_id FROM fills WHERE exec_id = ?", (exec_id,)).fetchone()
            if row is None:
                return False
            c.execute("UPDATE fills SET commission = ? WHERE exec_id = ?", (commission, exec_id))
            if row["intent_id"] is not None:
                self._refresh_commission(c, row["intent_id"])
            return True

    def fills(self, intent_id: str | None = None) -> list[Fill]:
        """Fills in execution-time order, all or one intent's."""
        sql = f"SELECT {_FILL_COLUMNS} FROM fills"
        args: tuple[str, ...] = ()
        if intent_id is not None:
            sql += " WHERE intent_id = ?"
            args = (intent_id,)
        return [_fill_from(r) for r in self._conn.execute(sql + " ORDER BY time, rowid", args)]

    # -- reconciliation -------------------------------------------------------------------

    def apply_reconcile(self, result: ReconcileResult, now: datetime) -> list[OrderIntent]:
        """Apply a reconciliation in one transaction: updates, fills (ours and orphans) and
        the findings as events. Returns the intents that changed."""
        changed: list[OrderIntent] = []
        with self._tx() as c:
            for update in result.updates:
                before = self._load(c, update.intent_id)
                after = self._apply_in(c, update, now, log_changes=False)
                if after != before:
                    changed.append(after)
            for fill in (*result.fills, *result.orphan_fills):
                self._add_fill_in(c, fill, log=False)
            for finding in result.findings:
                self._insert_event(c, finding.to_event(now))
        return changed

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

    # -- bar cache ------------------------------------------------------------------------

    def put_bars(self, symbol: str, rows: Sequence[BarRow], fetched_on: date) -> None:
        """Replace ``symbol``'s cached bars with ``rows``, fetched on ``fetched_on``.

        An empty ``rows`` clears the cache for the symbol (nothing to serve, so the next
        call fetches again). Two rows for one day are refused: which is right cannot be
        guessed.
        """
        days = [r.day for r in rows]
        if len(set(days)) != len(days):
            dup = next(d for d in days if days.count(d) > 1)
            raise ValueError(f"two bars for {symbol} on {dup.isoformat()}")
        fetched = fetched_on.isoformat()
        with self._tx() as c:
            c.execute("DELETE FROM bar_cache WHERE symbol = ?", (symbol,))
            c.executemany(
                "INSERT INTO bar_cache (symbol, day, open, high, low, close, volume, "
                "fetched_on) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (symbol, r.day.isoformat(), r.open, r.high, r.low, r.close, r.volume, fetched)
                    for r in rows
                ],
            )

    def get_bars(self, symbol: str, fetched_on: date) -> list[BarRow] | None:
        """The cached bars in date order if they were fetched on ``fetched_on``, else None
        (a cache from another day is stale: today's session changes the last bars)."""
        rows = self._conn.execute(
            "SELECT day, open, high, low, close, volume, fetched_on FROM bar_cache "
            "WHERE symbol = ? ORDER BY day",
            (symbol,),
        ).fetchall()
        want = fetched_on.isoformat()
        if not rows or any(r["fetched_on"] != want for r in rows):
            return None
        return [
            BarRow(
                date.fromisoformat(r["day"]),
                _real(r["open"]),
                _real(r["high"]),
                _real(r["low"]),
                _real(r["close"]),
                _real(r["volume"]),
            )
            for r in rows
        ]

    # -- auto-trader candidates (SPEC 11) ------------------------------------------------

    def add_candidate(self, candidate: Candidate) -> bool:
        """Journal a new candidate; False (and nothing written) when its key is already
        there: a key is tried at most once a day, restarts included."""
        with self._tx() as c:
            cur = c.execute(
                "INSERT OR IGNORE INTO auto_candidates (day, symbol, direction, strategy, state, "
                "reason, intent_id, created_at, updated_at, detail) VALUES (?,?,?,?,?,?,?,?,?,?)",
                _candidate_row(candidate),
            )
            return cur.rowcount == 1

    def put_candidate(self, candidate: Candidate) -> None:
        """Write a candidate's new state (its key must be journaled already)."""
        with self._tx() as c:
            cur = c.execute(
                "UPDATE auto_candidates SET strategy = ?, state = ?, reason = ?, intent_id = ?, "
                "updated_at = ?, detail = ? WHERE day = ? AND symbol = ? AND direction = ?",
                (*_candidate_row(candidate)[3:7], *_candidate_row(candidate)[8:],
                 *_candidate_row(candidate)[:3]),
            )  # fmt: skip
            if cur.rowcount != 1:
                raise KeyError(f"candidate {candidate.key} is not journaled")

    def candidates(self, day: date | None = None) -> list[Candidate]:
        """The candidates of New York trading day ``day`` (all days when None), oldest
        first."""
        sql = "SELECT * FROM auto_candidates"
        args: tuple[Any, ...] = ()
        if day is not None:
            sql, args = sql + " WHERE day = ?", (day.isoformat(),)
        rows = self._conn.execute(sql + " ORDER BY created_at, symbol, direction", args)
        return [_candidate_from(r) for r in rows.fetchall()]

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

    def history_inputs(self) -> HistoryInputs:
        """The History screen's inputs (:func:`read_history`)."""
        return read_history(self._conn)

    # -- tables other modules keep in this file (tui_trader.alerts.outbox) ----------------

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """One write transaction, as every method here uses (a storage failure raises
        :class:`JournalWriteError`): for a module that keeps its own table in this file."""
        return self._tx()

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """The rows of one statement, outside any transaction (same purpose)."""
        return self._conn.execute(sql, tuple(args)).fetchall()

    # -- internals ------------------------------------------------------------------------

    def _load(self, c: sqlite3.Connection, intent_id: str) -> OrderIntent:
        row = c.execute(
            f"SELECT {_INTENT_COLUMNS} FROM intents WHERE intent_id = ?", (intent_id,)
        ).fetchone()
        if row is None:
            raise UnknownIntentError(intent_id)
        return _intent_from(row)

    def _write(self, c: sqlite3.Connection, intent: OrderIntent) -> None:
        row = _intent_row(intent)
        sets = ", ".join(f"{col.strip()} = ?" for col in _INTENT_COLUMNS.split(",")[1:])
        c.execute(f"UPDATE intents SET {sets} WHERE intent_id = ?", (*row[1:], row[0]))

    def _apply_in(
        self, c: sqlite3.Connection, update: IntentUpdate, now: datetime, *, log_changes: bool
    ) -> OrderIntent:
        before = self._load(c, update.intent_id)
        after = apply_update(before, update, now)
        if after is not before:
            self._write(c, after)
        iid = update.intent_id
        events: list[tuple[EventLevel, str]] = []
        if log_changes and update.status is not None and after.status != update.status:
            events.append(
                (
                    EventLevel.INFO,
                    f"ignored status {update.status.value}: the order is "
                    f"{before.status.value}, which cannot go back to it",
                )
            )
        if log_changes and after.status != before.status:
            level = EventLevel.WARNING if after.status is IntentStatus.UNKNOWN else EventLevel.INFO
            events.append((level, f"{before.status.value} -> {after.status.value}"))
        if log_changes and after.filled != before.filled:
            events.append((EventLevel.INFO, f"filled {after.filled} of {after.spec.quantity}"))
        if update.error_code is not None or update.error_text is not None:
            level = (
                EventLevel.ERROR if after.status is IntentStatus.REJECTED else EventLevel.WARNING
            )
            code = "" if update.error_code is None else f" {update.error_code}"
            detail = "" if update.error_text is None else f": {update.error_text}"
            events.append((level, f"IB error{code}{detail}"))
        for level, text in events:
            self._insert_event(
                c, JournalEvent(time=now, level=level, kind="order", text=text, intent_id=iid)
            )
        return after

    def _add_fill_in(self, c: sqlite3.Connection, fill: Fill, *, log: bool = True) -> bool:
        intent_id: str | None = None
        for ref in (fill.intent_id, fill.order_ref):
            if ref and c.execute("SELECT 1 FROM intents WHERE intent_id = ?", (ref,)).fetchone():
                intent_id = ref
                break
        row = c.execute("SELECT commission FROM fills WHERE exec_id = ?", (fill.exec_id,))
        existing = row.fetchone()
        if existing is None:
            c.execute(
                f"INSERT INTO fills ({_FILL_COLUMNS}) VALUES ({', '.join('?' * 12)})",
                (
                    fill.exec_id,
                    intent_id,
                    fill.order_id,
                    fill.perm_id,
                    fill.con_id,
                    fill.symbol,
                    fill.side,
                    fill.quantity,
                    fill.price,
                    _iso(fill.time),
                    fill.commission,
                    fill.order_ref,
                ),
            )
            if log:
                self._insert_event(
                    c,
                    JournalEvent(
                        time=fill.time,
                        level=EventLevel.INFO,
                        kind="fill",
                        text=(
                            f"{fill.side} {fill.quantity:g} {fill.symbol} (conId {fill.con_id}) "
                            f"@ {fill.price:.2f}"
                        ),
                        intent_id=intent_id,
                    ),
                )
        elif fill.commission is not None and existing["commission"] != fill.commission:
            c.execute(
                "UPDATE fills SET commission = ? WHERE exec_id = ?",
                (fill.commission, fill.exec_id),
            )
        else:
            return False
        stored = c.execute("SELECT intent_id FROM fills WHERE exec_id = ?", (fill.exec_id,))
        owner = stored.fetchone()["intent_id"]
        if owner is not None:
            self._refresh_commission(c, owner)
        return existing is None

    def _refresh_commission(self, c: sqlite3.Connection, intent_id: str) -> None:
        n, total = c.execute(
            "SELECT COUNT(commission), TOTAL(commission) FROM fills WHERE intent_id = ?",
            (intent_id,),
        ).fetchone()
        c.execute(
            "UPDATE intents SET commission = ? WHERE intent_id = ?",
            (total if n else None, intent_id),
        )

    def _insert_event(self, c: sqlite3.Connection, event: JournalEvent) -> None:
        c.execute(
            "INSERT INTO events (time, level, kind, text, intent_id) VALUES (?, ?, ?, ?, ?)",
            (_iso(event.time), event.level.value, event.kind, event.text, event.intent_id),
        )
