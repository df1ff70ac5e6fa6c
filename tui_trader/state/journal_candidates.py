"""The auto-trader's candidates (SPEC 11), one row per (New York trading day, symbol,
direction): the key is written before anything is sent, so a key is tried at most once a
day whatever happens, restarts included. A mixin over
:class:`~tui_trader.state.journal_base.JournalBase`.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from tui_trader.core.auto import Candidate
from tui_trader.state.journal_base import JournalBase
from tui_trader.state.journal_rows import _candidate_from, _candidate_row


class CandidateJournal(JournalBase):
    """The ``auto_candidates`` table."""

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
