"""The daily-bar cache: each universe symbol's bars and qualified stock contract, per day,
on disk in the user's cache folder (issue 12), so a restart the same day asks IB only for
what it does not hold yet.

Decisions:

- **Where**: ``platformdirs.user_cache_dir("tui-trader")/bars.sqlite3`` by default
  (:func:`default_cache_path`; on Linux ``$XDG_CACHE_HOME`` moves it, which is how tests
  and child processes keep it in a temporary folder). It is a cache, not a record: losing
  it costs one refetch, so it lives apart from the journal (which must never be thrown
  away) and a full cache never makes the journal look unwritable.
- **One SQLite file, one row per symbol** (not one file per symbol): a load of 500 symbols
  is one query instead of 500 file opens, a write is atomic (a crash mid-write leaves the
  old row or the new, never half a file), two engines of one user (the dashboard and a
  headless run) share it under SQLite's own locking, and corruption is detectable
  (``PRAGMA quick_check``, our ``application_id``). Each row holds the symbol's bars as
  one blob of float64s (day ordinal, open, high, low, close, volume: NaN kept) with the
  day it was fetched; a row fetched on another day is stale and not served.
- **Contracts**: the stock contracts IB qualified (``conId``, primary exchange, ...) are
  kept per symbol and day too, so a warm start asks IB for no contract details at all.
- **Never fatal**: a file that is not ours or is damaged is set aside (renamed
  ``*.corrupt``) and a new one started; a cache that cannot be opened or written (a
  read-only folder, a full disk, a lock held too long) makes :attr:`BarCache.problem` say
  so -- logged once, the caller shows it once -- and the bars live in memory: reads miss
  (a refetch), writes are dropped. Nothing here raises to the caller except
  :class:`BarCacheError` from :meth:`BarCache.put_bars`, which the loader turns into
  "used from memory" (issue 14 item 6).
- **Journal-held bars** (the cache before issue 12, in the journal's ``bar_cache`` table)
  were never read back: the journal's schema step 4 drops that table, costing one refetch
  on the first start after the upgrade.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import fields
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from ib_insync import Contract, Stock
from loguru import logger
from platformdirs import user_cache_dir


class BarRow(NamedTuple):
    """One daily bar as IB returned it (prices per share; NaN allowed)."""

    day: date
    open: float
    high: float
    low: float
    close: float
    volume: float


APP_NAME = "tui-trader"
CACHE_FILE = "bars.sqlite3"
#: Marks the file as ours ("TTBC"); a file without it is set aside, never written to.
APPLICATION_ID = 0x54544243
SCHEMA_VERSION = 1
#: Rows fetched this many days before the load's day are deleted at the next load.
KEEP_DAYS = 7
#: How long a write waits for another process's lock before the cache counts as busy.
BUSY_TIMEOUT_S = 2.0
#: Contract fields kept (scalars; a stock has no combo legs).
_CONTRACT_FIELDS = tuple(
    f.name
    for f in fields(Contract)
    if f.name not in ("comboLegs", "deltaNeutralContract", "secIdType", "secId", "description")
)
_COLUMNS = 6

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS bars (symbol TEXT PRIMARY KEY, fetched_on TEXT NOT NULL, "
    "n INTEGER NOT NULL, data BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS contracts (symbol TEXT PRIMARY KEY, "
    "fetched_on TEXT NOT NULL, fields TEXT NOT NULL)",
)


class BarCacheError(Exception):
    """The cache could not take a write (the bars stay in memory)."""


def default_cache_path() -> Path:
    """The cache file in the user's cache folder (module doc)."""
    return Path(user_cache_dir(APP_NAME)) / CACHE_FILE


def _encode(rows: Sequence[BarRow]) -> bytes:
    arr = np.array(
        [(r.day.toordinal(), r.open, r.high, r.low, r.close, r.volume) for r in rows],
        dtype=np.float64,
    ).reshape(len(rows), _COLUMNS)
    return arr.tobytes()


def _decode(n: int, data: bytes) -> list[BarRow] | None:
    """The rows of a blob; None when it is not ``n`` rows of ours (a damaged row)."""
    if n <= 0 or len(data) != n * _COLUMNS * 8:
        return None
    arr = np.frombuffer(data, dtype=np.float64).reshape(n, _COLUMNS)
    out: list[BarRow] = []
    for d, o, h, lo, c, v in arr.tolist():
        if not 1 <= d <= date.max.toordinal():
            return None
        out.append(BarRow(date.fromordinal(int(d)), o, h, lo, c, v))
    return out


def _contract_text(c: Contract) -> str:
    return json.dumps({name: getattr(c, name) for name in _CONTRACT_FIELDS})


def _contract_from(text: str) -> Contract | None:
    try:
        data: dict[str, Any] = json.loads(text)
        stock = Stock(str(data["symbol"]), str(data["exchange"]), str(data["currency"]))
        for name in _CONTRACT_FIELDS:
            if name in data:
                setattr(stock, name, data[name])
    except (ValueError, KeyError, TypeError):
        return None
    return stock if isinstance(stock.conId, int) and stock.conId > 0 else None


class BarCache:
    """Bars and contracts per symbol and day (module doc). ``path`` None: the default."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = default_cache_path() if path is None else Path(path)
        #: Why the cache is not used (None: it works); set once, logged once.
        self.problem: str | None = None
        #: Set when a damaged or foreign file was set aside and a new cache started.
        self.notice: str | None = None
        self._conn: sqlite3.Connection | None = None
        self._open()

    # ------------------------------------------------------------------ opening

    def _open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = self._connect()
            return
        except _Foreign as exc:
            why = str(exc)
        except (sqlite3.Error, OSError) as exc:
            self._fail(f"the bar cache {self.path} cannot be opened ({exc})")
            return
        aside = self.path.with_name(self.path.name + ".corrupt")
        try:
            self.path.replace(aside)
            for extra in ("-journal", "-wal", "-shm"):  # never replayed into the new file
                Path(f"{self.path}{extra}").unlink(missing_ok=True)
            self._conn = self._connect()
        except (sqlite3.Error, OSError, _Foreign) as exc:
            self._fail(f"the bar cache {self.path} {why} and cannot be replaced ({exc})")
            return
        self.notice = f"the bar cache {self.path} {why}: set aside as {aside.name}"
        logger.warning("{}, the bars are fetched again", self.notice)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if app_id != APPLICATION_ID and tables:
                raise _Foreign("is not a tui-trader bar cache")
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise _Foreign(f"is damaged ({check})")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if tables and version != SCHEMA_VERSION:
                raise _Foreign(f"has schema {version}, not {SCHEMA_VERSION}")
            if not tables:  # a new file: its schema whole or not at all
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                for sql in _SCHEMA:
                    conn.execute(sql)
                conn.execute("COMMIT")
            conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.OperationalError:  # cannot open, locked, I/O: not the file's fault
            conn.close()
            raise
        except sqlite3.DatabaseError as exc:  # "file is not a database", "malformed"
            conn.close()
            raise _Foreign(f"is damaged ({exc})") from exc
        except BaseException:
            conn.close()
            raise
        return conn

    def _fail(self, problem: str) -> None:
        """Remember the first problem and log it once (the caller shows it once)."""
        if self.problem is None:
            self.problem = problem
            logger.warning("{}: the bars are kept in memory and fetched again", problem)

    def close(self) -> None:
        if self._conn is not None:
            with suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None

    def __enter__(self) -> BarCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ bars

    def get_bars(self, symbol: str, fetched_on: date) -> list[BarRow] | None:
        """``symbol``'s bars in date order when fetched on ``fetched_on``, else None."""
        return self.get_many([symbol], fetched_on).get(symbol)

    def get_many(self, symbols: Iterable[str], fetched_on: date) -> dict[str, list[BarRow]]:
        """The bars of those ``symbols`` cached on ``fetched_on`` (the others: absent)."""
        wanted = list(symbols)
        if self._conn is None or not wanted:
            return {}
        out: dict[str, list[BarRow]] = {}
        try:
            for i in range(0, len(wanted), 500):
                chunk = wanted[i : i + 500]
                marks = ",".join("?" * len(chunk))
                for sym, n, data in self._conn.execute(
                    "SELECT symbol, n, data FROM bars "
                    f"WHERE fetched_on = ? AND symbol IN ({marks})",
                    (fetched_on.isoformat(), *chunk),
                ):
                    rows = _decode(int(n), bytes(data))
                    if rows is not None:
                        out[str(sym)] = rows
        except sqlite3.Error as exc:
            self._fail(f"the bar cache {self.path} cannot be read ({exc})")
            return {}
        return out

    def put_bars(self, symbol: str, rows: Sequence[BarRow], fetched_on: date) -> None:
        """Keep ``symbol``'s bars fetched on ``fetched_on`` (replacing what was kept); empty
        ``rows`` forget the symbol. :class:`BarCacheError` when it cannot be written."""
        days = [r.day for r in rows]
        if len(set(days)) != len(days):
            dup = next(d for d in days if days.count(d) > 1)
            raise ValueError(f"two bars for {symbol} on {dup.isoformat()}")
        ordered = sorted(rows, key=lambda r: r.day)
        if ordered:
            sql = "INSERT OR REPLACE INTO bars (symbol, fetched_on, n, data) VALUES (?, ?, ?, ?)"
            params: tuple[Any, ...] = (
                symbol,
                fetched_on.isoformat(),
                len(ordered),
                _encode(ordered),
            )
        else:
            sql, params = "DELETE FROM bars WHERE symbol = ?", (symbol,)
        self._write(sql, params)

    def prune(self, today: date) -> None:
        """Delete rows fetched more than :data:`KEEP_DAYS` before ``today`` (symbols that
        left the universe would otherwise stay forever)."""
        cutoff = date.fromordinal(today.toordinal() - KEEP_DAYS).isoformat()
        for table in ("bars", "contracts"):
            with suppress(BarCacheError):
                self._write(f"DELETE FROM {table} WHERE fetched_on < ?", (cutoff,))

    # ------------------------------------------------------------------ contracts

    def get_contracts(self, symbols: Iterable[str], fetched_on: date) -> dict[str, Contract]:
        """The qualified stock contracts of ``symbols`` kept on ``fetched_on``."""
        wanted = list(symbols)
        if self._conn is None or not wanted:
            return {}
        out: dict[str, Contract] = {}
        try:
            for i in range(0, len(wanted), 500):
                chunk = wanted[i : i + 500]
                marks = ",".join("?" * len(chunk))
                for sym, text in self._conn.execute(
                    f"SELECT symbol, fields FROM contracts WHERE fetched_on = ? "
                    f"AND symbol IN ({marks})",
                    (fetched_on.isoformat(), *chunk),
                ):
                    c = _contract_from(str(text))
                    if c is not None and c.symbol == sym:
                        out[str(sym)] = c
        except sqlite3.Error as exc:
            self._fail(f"the bar cache {self.path} cannot be read ({exc})")
            return {}
        return out

    def put_contracts(self, contracts: Mapping[str, Contract], fetched_on: date) -> bool:
        """Keep qualified contracts (conId > 0) for the day, in one transaction; False
        when the cache cannot take them (said once, never raised: they are only a
        shortcut)."""
        rows = [
            (sym, fetched_on.isoformat(), _contract_text(c))
            for sym, c in contracts.items()
            if c.conId > 0
        ]
        if not rows or self._conn is None:
            return False
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO contracts (symbol, fetched_on, fields) "
                    "VALUES (?, ?, ?)",
                    rows,
                )
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    with suppress(sqlite3.Error):
                        self._conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            self._fail(f"the bar cache {self.path} cannot be written ({exc})")
            return False
        return True

    # ------------------------------------------------------------------ writing

    def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        if self._conn is None:
            raise BarCacheError(self.problem or f"the bar cache {self.path} is not open")
        try:
            self._conn.execute(sql, params)
        except sqlite3.Error as exc:
            problem = f"the bar cache {self.path} cannot be written ({exc})"
            self._fail(problem)
            raise BarCacheError(problem) from exc


class _Foreign(Exception):
    """The file is not a usable cache of ours (why in the message): set aside."""
