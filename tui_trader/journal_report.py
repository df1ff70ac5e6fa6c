"""``tui-trader journal``: what happened on one New York trading day, read from the journal.

What it lists: the auto-trader's candidates of the day, the orders *created* that day (New
York date of the intent; an order sent yesterday that filled today is yesterday's), with
their fills, the auto-trader's exit orders of the day (its ``auto/exit/<spread>`` records)
and every event of the day. ``--json`` prints one object whose keys are a contract
(:data:`JSON_KEYS`, the README's table).

Decisions:

- **Read-only, always.** The journal is opened with SQLite's ``mode=ro`` URI, never through
  :class:`~tui_trader.state.journal.Journal`, whose constructor writes (WAL pragma,
  application id, migrations). A read-only connection cannot write the database or its
  ``-wal`` and never checkpoints, so the report works beside a running engine (WAL readers
  neither wait for nor block the writer, and the engine lock is not taken) and leaves the
  file byte-identical. The ``-wal``/``-shm`` files SQLite has to create to read a journal
  no engine has open are removed again, as the journal's own read-only inspection does.
- **The journal's own row decoders** (``state.journal``'s ``_intent_from`` and kin) turn
  rows into models, so the report cannot drift from how the engine reads its file.
- **Not a journal, not touched**: a file that is not SQLite, another program's database
  (no tui-trader application id and not our tables) or one written by a newer tui-trader
  is refused with one sentence (exit 2), as are a missing file and a folder.
- Times in the JSON are the journal's UTC ISO 8601 strings; the text report shows New York
  time. A non-finite number (SQLite NULL read as NaN) is ``null`` in the JSON.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from tui_trader.core.auto import Candidate
from tui_trader.core.calendar import ET
from tui_trader.core.models import Fill, JournalEvent, OrderIntent
from tui_trader.state.journal import (
    _FILL_COLUMNS,
    _INTENT_COLUMNS,
    APPLICATION_ID,
    OUR_TABLES,
    SCHEMA_VERSION,
    _candidate_from,
    _event_from,
    _fill_from,
    _intent_from,
    _remove_created,
    _sidecars,
    _tables,
)

#: The kv prefix of the auto-trader's exit records (``engine.auto_exits.EXIT_KEY``; not
#: imported from there, which would pull the broker and ib_insync into this command; a
#: test keeps the two equal).
EXIT_KEY = "auto/exit/"

#: Top-level keys of ``--json`` and the keys of each listed item (README: "journal --json").
JSON_KEYS: Mapping[str, tuple[str, ...]] = {
    "report": ("journal", "day", "timezone", "candidates", "orders", "exits", "events"),
    "candidates": ("key", "symbol", "direction", "strategy", "state", "reason", "intent_id",
                   "created_at", "updated_at", "detail"),
    "orders": ("intent_id", "order_ref", "symbol", "direction", "action", "legs", "quantity",
               "order_type", "limit", "mode", "status", "filled", "avg_fill_price",
               "commission", "error_code", "error_text", "auto", "created_at", "updated_at",
               "fills"),
    "legs": ("con_id", "expiry", "strike", "right", "action", "ratio"),
    "fills": ("exec_id", "con_id", "symbol", "side", "quantity", "price", "commission", "time"),
    "exits": ("spread", "symbol", "rule", "state", "attempts", "intent_id", "order_status",
              "updated_at"),
    "events": ("time", "level", "kind", "text", "intent_id"),
}  # fmt: skip


class JournalReportError(Exception):
    """The journal cannot be reported on; ``str()`` is the sentence for the user."""


@dataclass(frozen=True, slots=True)
class ExitRecord:
    """One closing order the auto-trader worked on for a spread (its ``auto/exit/`` record):
    ``spread`` is the opening order's intent id, ``intent_id`` the closing order's (its
    status in ``order_status``, whatever day it was sent)."""

    spread: str
    symbol: str
    rule: str
    state: str
    attempts: int
    intent_id: str | None
    order_status: str | None
    updated_at: str | None


@dataclass(frozen=True, slots=True)
class DayReport:
    """What the journal holds for one New York trading day (module doc)."""

    journal: Path
    day: date
    candidates: tuple[Candidate, ...]
    orders: tuple[tuple[OrderIntent, tuple[Fill, ...]], ...]
    exits: tuple[ExitRecord, ...]
    events: tuple[JournalEvent, ...]

    @property
    def empty(self) -> bool:
        return not (self.candidates or self.orders or self.exits or self.events)


def new_york_day(now: datetime) -> date:
    """The New York calendar date of ``now`` (the default ``--day``)."""
    return now.astimezone(ET).date()


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of ``day`` in New York, as UTC instants (23 or 25 hours at DST)."""
    start = datetime.combine(day, time(0), ET)
    end = datetime.combine(day + timedelta(days=1), time(0), ET)
    return start.astimezone(UTC), end.astimezone(UTC)


@contextmanager
def open_read_only(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the journal at ``path`` (module doc), checked to be a
    tui-trader journal this version can read; :class:`JournalReportError` otherwise."""
    if not path.exists():
        raise JournalReportError(
            f"there is no journal at {path}: give the engine's journal with --journal FILE"
        )
    if not path.is_file():
        raise JournalReportError(f"{path} is not a file: give the journal file with --journal")
    before = {f for f in _sidecars(path) if f.exists()}
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error as exc:
        raise JournalReportError(f"cannot open the journal {path}: {exc}") from None
    try:
        conn.row_factory = sqlite3.Row
        _check(conn, path)
        yield conn
    except sqlite3.DatabaseError as exc:
        if exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_NOTADB:
            raise JournalReportError(
                f"{path} is not a tui-trader journal (not an SQLite database)"
            ) from None
        raise JournalReportError(f"cannot read the journal {path}: {exc}") from None
    except (ValueError, KeyError) as exc:  # a row our decoders refuse (pydantic included)
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise JournalReportError(
            f"the journal {path} has a row that cannot be read ({first})"
        ) from None
    finally:
        conn.close()
        _remove_created(before, path)


def _check(conn: sqlite3.Connection, path: Path) -> None:
    app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    tables = _tables(conn)
    if app_id not in (0, APPLICATION_ID) or not tables >= OUR_TABLES or version < 1:
        raise JournalReportError(
            f"{path} is not a tui-trader journal (an SQLite database of another program)"
        )
    if version > SCHEMA_VERSION:
        raise JournalReportError(
            f"the journal {path} has schema version {version}, but this tui-trader reads only "
            f"up to {SCHEMA_VERSION}: upgrade tui-trader"
        )


def read_day(path: Path, day: date) -> DayReport:
    """The report of ``day`` from the journal at ``path``, read-only (module doc)."""
    start, end = _day_bounds(day)
    with open_read_only(path) as conn:
        candidates: tuple[Candidate, ...] = ()
        if "auto_candidates" in _tables(conn):  # version 1 journals have none
            rows = conn.execute(
                "SELECT * FROM auto_candidates WHERE day = ? "
                "ORDER BY created_at, symbol, direction",
                (day.isoformat(),),
            )
            candidates = tuple(_candidate_from(r) for r in rows.fetchall())
        intents = _in_day(
            conn,
            f"SELECT {_INTENT_COLUMNS} FROM intents WHERE created_at "
            ">= ? AND created_at < ? ORDER BY rowid",
            _intent_from,
            start,
            end,
        )
        orders = tuple((i, tuple(_fills(conn, i.intent_id))) for i in intents)
        events = _in_day(
            conn,
            "SELECT time, level, kind, text, intent_id FROM events "
            "WHERE time >= ? AND time < ? ORDER BY id",
            _event_from,
            start,
            end,
        )
        exits = tuple(_exits(conn, day))
    return DayReport(path, day, candidates, orders, exits, events)


def _in_day[T: (OrderIntent, JournalEvent)](
    conn: sqlite3.Connection,
    sql: str,
    decode: Callable[[sqlite3.Row], T],
    start: datetime,
    end: datetime,
) -> tuple[T, ...]:
    """Rows whose time is in [start, end). The SQL range is a day wider on each side
    (stored strings order like times only roughly: fractions of a second); the exact cut
    is on the decoded time."""
    wide = ((start - timedelta(days=1)).isoformat(), (end + timedelta(days=1)).isoformat())
    items = map(decode, conn.execute(sql, wide).fetchall())
    return tuple(x for x in items if start <= _when(x) < end)


def _when(x: OrderIntent | JournalEvent) -> datetime:
    return x.created_at if isinstance(x, OrderIntent) else x.time


def _fills(conn: sqlite3.Connection, intent_id: str) -> Iterator[Fill]:
    rows = conn.execute(
        f"SELECT {_FILL_COLUMNS} FROM fills WHERE intent_id = ? ORDER BY time, rowid",
        (intent_id,),
    )
    return map(_fill_from, rows.fetchall())


def _exits(conn: sqlite3.Connection, day: date) -> list[ExitRecord]:
    """The auto-trader's exit records started on ``day`` (a record keeps the day of its
    first attempt, as the Automation screen shows it), oldest first; a record that is not
    a JSON object is skipped."""
    rows = conn.execute(
        "SELECT key, value FROM kv WHERE substr(key, 1, ?) = ? ORDER BY key",
        (len(EXIT_KEY), EXIT_KEY),
    )
    found: list[ExitRecord] = []
    for row in rows.fetchall():
        try:
            record = json.loads(row["value"])
        except ValueError:
            continue
        if not isinstance(record, dict) or record.get("day") != day.isoformat():
            continue
        order = str(record["intent_id"]) if record.get("intent_id") else None
        status = None
        if order is not None:
            hit = conn.execute("SELECT status FROM intents WHERE intent_id = ?", (order,))
            status = next((str(r[0]) for r in hit.fetchall()), None)
        updated = record.get("updated_at")
        found.append(
            ExitRecord(
                spread=str(row["key"])[len(EXIT_KEY) :],
                symbol=str(record.get("symbol", "")),
                rule=str(record.get("rule", "")),
                state=str(record.get("state", "")),
                attempts=int(record.get("attempts") or 0),
                intent_id=order,
                order_status=status,
                updated_at=str(updated) if updated else None,
            )
        )
    return sorted(found, key=lambda e: (e.updated_at or "", e.spread))


# -- JSON -------------------------------------------------------------------------------------


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else x


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).isoformat()


def _auto_kind(report: DayReport) -> dict[str, str]:
    """Which of the day's orders the auto-trader sent: "entry" or "exit"."""
    kinds = {c.intent_id: "entry" for c in report.candidates if c.intent_id}
    kinds.update({e.intent_id: "exit" for e in report.exits if e.intent_id})
    return kinds


def to_json(report: DayReport) -> dict[str, Any]:
    """The ``--json`` object (keys: :data:`JSON_KEYS`)."""
    auto = _auto_kind(report)
    return {
        "journal": str(report.journal),
        "day": report.day.isoformat(),
        "timezone": "America/New_York",
        "candidates": [_candidate_json(c) for c in report.candidates],
        "orders": [_order_json(i, fills, auto.get(i.intent_id)) for i, fills in report.orders],
        "exits": [_exit_json(e) for e in report.exits],
        "events": [
            {"time": _iso(e.time), "level": e.level.value, "kind": e.kind, "text": e.text,
             "intent_id": e.intent_id}
            for e in report.events
        ],
    }  # fmt: skip


def _candidate_json(c: Candidate) -> dict[str, Any]:
    return {
        "key": str(c.key), "symbol": c.key.symbol, "direction": c.key.direction,
        "strategy": c.strategy, "state": c.state.value, "reason": c.reason,
        "intent_id": c.intent_id, "created_at": _iso(c.created_at),
        "updated_at": _iso(c.updated_at), "detail": dict(c.detail),
    }  # fmt: skip


def _order_json(i: OrderIntent, fills: Sequence[Fill], auto: str | None) -> dict[str, Any]:
    s = i.spec
    return {
        "intent_id": i.intent_id, "order_ref": i.intent_id, "symbol": s.underlying,
        "direction": s.direction, "action": s.action,
        "legs": [
            {"con_id": leg.con_id, "expiry": leg.expiry, "strike": leg.strike,
             "right": leg.right, "action": leg.action, "ratio": leg.ratio}
            for leg in s.legs
        ],
        "quantity": s.quantity, "order_type": s.order_type, "limit": _num(s.limit_price),
        "mode": s.mode, "status": i.status.value, "filled": i.filled,
        "avg_fill_price": _num(i.avg_fill_price), "commission": _num(i.commission),
        "error_code": i.last_error_code, "error_text": i.last_error_text, "auto": auto,
        "created_at": _iso(i.created_at), "updated_at": _iso(i.updated_at),
        "fills": [
            {"exec_id": f.exec_id, "con_id": f.con_id, "symbol": f.symbol, "side": f.side,
             "quantity": f.quantity, "price": _num(f.price), "commission": _num(f.commission),
             "time": _iso(f.time)}
            for f in fills
        ],
    }  # fmt: skip


def _exit_json(e: ExitRecord) -> dict[str, Any]:
    return {
        "spread": e.spread, "symbol": e.symbol, "rule": e.rule, "state": e.state,
        "attempts": e.attempts, "intent_id": e.intent_id,
        "order_status": e.order_status,
        "updated_at": e.updated_at,
    }  # fmt: skip


# -- text -------------------------------------------------------------------------------------


def _et(t: datetime) -> str:
    return f"{t.astimezone(ET):%H:%M:%S}"


def _money(x: float | None) -> str:
    x = _num(x)
    return "-" if x is None else f"{x:.2f}"


def format_text(report: DayReport) -> str:
    """The readable report (New York times)."""
    out = [f"Journal: {report.journal}", f"Day: {report.day.isoformat()} (New York time)"]
    if report.empty:
        out.append("Nothing was journaled on this day.")
        return "\n".join(out) + "\n"
    out.append(f"\nCandidates ({len(report.candidates)}):")
    for c in report.candidates:
        why = f" ({c.reason})" if c.reason else ""
        order = f" order {c.intent_id}" if c.intent_id else ""
        out.append(
            f"  {_et(c.created_at)}  {c.key.symbol} {c.key.direction} {c.strategy}: "
            f"{c.state.value}{why} at {_et(c.updated_at)}{order}"
        )
    out.append(f"\nOrders ({len(report.orders)}):")
    for i, fills in report.orders:
        fill = f" {i.filled}/{i.spec.quantity} @ {_money(i.avg_fill_price)}" if i.filled else ""
        err = f" (IB {i.last_error_code}: {i.last_error_text})" if i.last_error_text else ""
        out.append(
            f"  {_et(i.created_at)}  {i.intent_id}  {i.spec.describe()}: {i.status.value}"
            f"{fill}, commission {_money(i.commission)}{err}"
        )
        for f in fills:
            out.append(
                f"    fill {_et(f.time)} {f.side} {f.quantity:g} {f.symbol} (conId {f.con_id}) "
                f"@ {_money(f.price)}, commission {_money(f.commission)}"
            )
    out.append(f"\nExits ({len(report.exits)}):")
    for e in report.exits:
        order = f"order {e.intent_id} {e.order_status or '?'}" if e.intent_id else "no order"
        out.append(
            f"  {e.symbol} (spread {e.spread}): rule {e.rule}, {e.state}, {order}, "
            f"{e.attempts} attempt(s)"
        )
    out.append(f"\nEvents ({len(report.events)}):")
    for ev in report.events:
        out.append(f"  {_et(ev.time)}  {ev.level.value:<7} {ev.kind:<8} {ev.text}")
    return "\n".join(out) + "\n"


# -- the command ------------------------------------------------------------------------------


def cmd_journal(journal: Path | None, day: date | None, as_json: bool, now: datetime) -> str:
    """What ``tui-trader journal`` prints; :class:`JournalReportError` for bad input.

    ``journal`` None: :func:`~tui_trader.state.journal.default_journal_path` (the one the
    dashboard and ``kill-switch`` use); ``day`` None: ``now``'s New York date.
    """
    from tui_trader.state.journal import default_journal_path

    path = journal if journal is not None else default_journal_path()
    report = read_day(path, day if day is not None else new_york_day(now))
    if as_json:
        return json.dumps(to_json(report), allow_nan=False, indent=2) + "\n"
    return format_text(report)
