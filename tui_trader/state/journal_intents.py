"""Order intents: the journal's reason to exist. An intent is committed to disk, with IB
``orderRef`` = intent id, *before* ``placeOrder``; every status IB reports, every walk step
(journaled before its replace is sent) and the user's dismissal of an UNKNOWN intent is one
transaction that also logs what changed. A mixin over
:class:`~tui_trader.state.journal_base.JournalBase`; the :class:`Journal` combines it with
the fills and candidates.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from tui_trader.core.models import (
    EventLevel,
    IntentStatus,
    IntentUpdate,
    JournalEvent,
    OrderIntent,
    SpreadOrderSpec,
    apply_update,
    is_our_ref,
    usable_number,
)
from tui_trader.state.journal_base import JournalBase
from tui_trader.state.journal_errors import JournalError, UnknownIntentError
from tui_trader.state.journal_rows import _INTENT_COLUMNS, _intent_from, _intent_row, _iso


class IntentJournal(JournalBase):
    """The intents table: written before an order is sent, updated from what IB reports."""

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
