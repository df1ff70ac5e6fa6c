"""The alert outbox: SPEC 13's "alerts are journaled before they are sent", in the
journal's ``alert_outbox`` table (schema version 3, :mod:`tui_trader.state.journal`).

One row per alert and channel, so a channel that fails is retried on its own and one
that worked is never sent the same alert again. A row is written (committed, fsynced)
before any attempt and marked sent after the channel took it: a process that stops
between the two sends that row again after the restart (at least once, never lost).
:meth:`Outbox.mark_late` flags, at start, what an earlier run left unsent.

De-duplication (SPEC 13, ``dedupe_s``): an alert whose key was journaled less than
``dedupe_s`` ago (by the engine's clock, across restarts) is not journaled again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tui_trader.core.alerts import Alert, Severity
from tui_trader.state.journal import Journal


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One alert waiting for (or sent on) one channel."""

    id: int
    created_at: datetime
    channel: str
    severity: Severity
    key: str
    title: str
    body: str
    attempts: int
    late: bool


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat()


class Outbox:
    """The ``alert_outbox`` table (module doc); every call commits before it returns."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal

    def add(self, alert: Alert, channels: Iterable[str], now: datetime, dedupe_s: float) -> bool:
        """Journal ``alert`` once per channel; False (nothing written) when the same key
        was journaled within ``dedupe_s`` or there is no channel."""
        names = list(dict.fromkeys(channels))
        if not names:
            return False
        since = _iso(now - timedelta(seconds=dedupe_s))
        with self._journal.transaction() as c:
            seen = c.execute(
                "SELECT 1 FROM alert_outbox WHERE dedupe_key = ? AND created_at > ? LIMIT 1",
                (alert.key, since),
            ).fetchone()
            if seen is not None and dedupe_s > 0:
                return False
            c.executemany(
                "INSERT INTO alert_outbox (created_at, channel, severity, dedupe_key, title, "
                "body) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (_iso(now), name, alert.severity.value, alert.key, alert.title, alert.body)
                    for name in names
                ],
            )
        return True

    def mark_late(self) -> int:
        """Flag every unsent row as late (an earlier run left it); how many."""
        with self._journal.transaction() as c:
            cur = c.execute("UPDATE alert_outbox SET late = 1 WHERE sent_at IS NULL AND late = 0")
            return int(cur.rowcount)

    def next_unsent(self, channel: str) -> OutboxRow | None:
        """The oldest row ``channel`` has not taken yet."""
        rows = self._journal.query(
            "SELECT id, created_at, channel, severity, dedupe_key, title, body, attempts, late "
            "FROM alert_outbox WHERE channel = ? AND sent_at IS NULL ORDER BY id LIMIT 1",
            (channel,),
        )
        if not rows:
            return None
        r = rows[0]
        return OutboxRow(
            id=int(r["id"]),
            created_at=datetime.fromisoformat(r["created_at"]),
            channel=str(r["channel"]),
            severity=Severity(r["severity"]),
            key=str(r["dedupe_key"]),
            title=str(r["title"]),
            body=str(r["body"]),
            attempts=int(r["attempts"]),
            late=bool(r["late"]),
        )

    def mark_sent(self, row_id: int, now: datetime) -> None:
        with self._journal.transaction() as c:
            c.execute(
                "UPDATE alert_outbox SET sent_at = ?, attempts = attempts + 1 WHERE id = ?",
                (_iso(now), row_id),
            )

    def mark_failed(self, row_id: int, error: str) -> None:
        with self._journal.transaction() as c:
            c.execute(
                "UPDATE alert_outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?",
                (error, row_id),
            )

    def unsent(self, channels: Iterable[str]) -> int:
        """How many rows of ``channels`` wait."""
        names = list(channels)
        if not names:
            return 0
        marks = ", ".join("?" * len(names))
        rows = self._journal.query(
            f"SELECT COUNT(*) FROM alert_outbox WHERE sent_at IS NULL AND channel IN ({marks})",
            names,
        )
        return int(rows[0][0])

    def unsent_elsewhere(self, channels: Iterable[str]) -> dict[str, int]:
        """Unsent rows of channels not in ``channels`` (removed from the config), by name."""
        names = set(channels)
        rows = self._journal.query(
            "SELECT channel, COUNT(*) AS n FROM alert_outbox WHERE sent_at IS NULL GROUP BY channel"
        )
        return {str(r["channel"]): int(r["n"]) for r in rows if r["channel"] not in names}
