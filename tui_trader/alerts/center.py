"""The alert center: what the engine calls to raise an alert, and what starts and stops
the sender.

:meth:`AlertCenter.raise_alert` routes an alert by its severity (``[alerts.routes]``),
journals it in the outbox (once per channel, de-duplicated per ``dedupe_s``) and wakes
the sender: a synchronous SQLite write, never a network call, so it is safe on the
trading path. :meth:`AlertCenter.start` first marks what an earlier run left unsent as
late (SPEC 13), then runs the sender as a background task.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping

from loguru import logger

from tui_trader.alerts.channels import Channel
from tui_trader.alerts.outbox import Outbox
from tui_trader.alerts.sender import AlertSender, Clock
from tui_trader.core.alerts import Alert
from tui_trader.core.settings import AlertSettings
from tui_trader.state.journal import Journal, JournalError
from tui_trader.state.store import Store


class AlertCenter:
    """Raise alerts into the outbox and run their sender (module doc)."""

    def __init__(
        self,
        settings: AlertSettings,
        channels: Mapping[str, Channel],
        journal: Journal,
        store: Store,
        clock: Clock,
        sender: AlertSender | None = None,
    ) -> None:
        self.settings = settings
        self.outbox = Outbox(journal)
        self._clock = clock
        self.sender = sender or AlertSender(
            self.outbox,
            channels,
            store,
            clock,
            settings.retry_initial_s,
            settings.retry_max_s,
        )
        self._task: asyncio.Task[None] | None = None

    def raise_alert(self, alert: Alert) -> bool:
        """Journal ``alert`` for its severity's channels and wake the sender; False when
        it was a duplicate, has no channel, or the journal cannot take it (logged)."""
        channels = self.settings.channels_for(alert.severity.value)
        try:
            added = self.outbox.add(alert, channels, self._clock(), self.settings.dedupe_s)
        except JournalError as exc:
            logger.warning("alerts: {} not journaled: {}", alert.key, exc)
            return False
        if added:
            self.sender.wake()
        return added

    def start(self) -> None:
        """Mark an earlier run's unsent alerts late and start sending (idempotent)."""
        if self._task is not None:
            return
        late = self.outbox.mark_late()
        if late:
            logger.info("alerts: {} alert(s) an earlier run left unsent go out now, late", late)
        self._task = asyncio.get_running_loop().create_task(self.sender.run(), name="alert-sender")

    async def stop(self) -> None:
        """Stop sending; unsent rows stay in the outbox for the next start."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
