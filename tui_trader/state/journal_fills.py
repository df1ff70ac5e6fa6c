"""Executions (fills) and their commissions. A fill is keyed by IB's exec id, so a re-sync
that reports it again changes nothing but a commission it now carries; it is attached to its
intent by intent id or else by ``orderRef``, and the intent's commission total is kept equal
to the sum of its fills'. Fills IB reports for orders we did not journal (orphans) are kept
too, without an intent. A mixin over :class:`~tui_trader.state.journal_base.JournalBase`.
"""

from __future__ import annotations

import sqlite3

from tui_trader.core.models import EventLevel, Fill, JournalEvent, usable_number
from tui_trader.state.journal_base import JournalBase
from tui_trader.state.journal_rows import _FILL_COLUMNS, _fill_from, _iso


class FillJournal(JournalBase):
    """The fills table and the commission totals it feeds into the intents."""

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
