"""Opening the journal file: whose it is, whether it is whole, and the connection settings
that make a commit durable -- all decided before the first write, so a refused file stays
byte-identical. Kept apart from the reads and writes because it runs once per open and is
about the file, not the records.

Durability decisions:

- **WAL** (``journal_mode=WAL``): a reader (the TUI, a second ``Journal`` on the same file)
  never blocks the writer, and a commit is one append to the ``-wal`` file. A journal that
  cannot run in WAL mode (some network file systems) is refused rather than silently run in
  another mode.
- **synchronous=FULL**: in WAL mode the default NORMAL already survives the *app* being
  killed, but a power cut or OS crash can roll back the last commits, because NORMAL fsyncs
  the WAL only at checkpoints. An intent lost that way would be an order live at IB that the
  journal has never heard of -- the one thing this file must prevent. FULL fsyncs the WAL on
  every commit: a few milliseconds per order, nothing at our order rate. Events and fills
  pay the same price, which is small (a handful of commits per minute) and keeps one
  connection setting.

Whose file, and is it whole (checked on a read-only connection before anything is written):

- **Ours only.** ``PRAGMA application_id`` is
  :data:`~tui_trader.state.journal_schema.APPLICATION_ID` (``"TuiT"``, set when the journal
  is created). A non-empty database without it -- another program's SQLite file given as the
  journal -- is refused, never given our tables. A journal written before the id existed
  (our tables, a schema version, id 0) is adopted: the id is set.
- **Whole or not at all.** ``PRAGMA quick_check`` reads every page at open; a damaged
  journal is refused with what to do (move it aside, restore a backup), because running
  on a journal whose intents cannot all be read could resend an order it has lost.
- **Private.** The file is created 0600 (and an older, wider one narrowed to the owner):
  it is the account's trading record. SQLite gives the ``-wal`` and ``-shm`` files the
  database file's mode.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

from tui_trader.state.journal_errors import JournalError
from tui_trader.state.journal_schema import (
    APPLICATION_ID,
    MIGRATIONS,
    OUR_TABLES,
    SCHEMA_VERSION,
    _too_new,
    _user_version,
    migrate,
)

#: SQLite primary result codes that mean "the storage cannot take the write" (full disk,
#: I/O error, read-only file), as opposed to a constraint or a busy lock.
_STORAGE_CODES = frozenset({sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY})


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


def open_connection(path: Path, busy_timeout_s: float) -> tuple[sqlite3.Connection, int]:
    """The checked, migrated, autocommit connection to the journal at ``path`` (its parent
    folder made) and the schema version it is at; :class:`JournalError` when refused."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _make_private(path)
    if _has_content(path):
        _inspect(path, busy_timeout_s)  # ours, not too new, whole: before any write
    conn = sqlite3.connect(path, autocommit=True, timeout=busy_timeout_s)
    try:
        conn.row_factory = sqlite3.Row
        where = f"journal {path}"
        version = _user_version(conn)  # a newer file written meanwhile: still untouched
        if version > SCHEMA_VERSION:
            raise _too_new(where, version, SCHEMA_VERSION)
        mode = str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower()
        if mode != "wal":
            raise JournalError(
                f"The journal {path} cannot use SQLite's WAL mode (got {mode!r}); "
                "keep it on a local disk."
            )
        conn.execute("PRAGMA synchronous=FULL")
        _claim(conn, path)
        version = migrate(conn, MIGRATIONS, where)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise JournalError(f"The journal {path} cannot be opened: {exc}.") from exc
    except BaseException:
        conn.close()
        raise
    return conn, version
