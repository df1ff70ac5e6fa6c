"""How the journal's records are stored in its rows, and read back: one place for the
column lists and the row <-> model conversions, shared by the :class:`Journal` and by the
read-only ``tui-trader journal`` report (:mod:`tui_trader.journal_report`), so the two can
never decode a row differently.

Storage conventions: times are UTC ISO 8601 strings (returned as aware UTC datetimes; a
naive time is refused); money and prices are REAL (a Python float round-trips exactly); an
intent's spec is its JSON, a candidate's detail sorted JSON without NaN.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, date, datetime
from typing import Any, Literal

from tui_trader.core.auto import Candidate, CandidateKey, CandidateState
from tui_trader.core.models import (
    EventLevel,
    Fill,
    IntentStatus,
    JournalEvent,
    OrderIntent,
    SpreadOrderSpec,
)


def _iso(t: datetime) -> str:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"journal times must be timezone-aware, got {t!r}")
    return t.astimezone(UTC).isoformat()


def _time(s: str) -> datetime:
    return datetime.fromisoformat(s)


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
