"""The background sender: delivers the outbox's rows, one channel at a time, off the
trading path.

Decisions:

- **Never blocks trading**: apprise's clients are blocking (SMTP, HTTP), so each delivery
  runs in a worker thread; the engine only writes the outbox row and wakes the sender.
- **Per-channel backoff**: a channel whose delivery fails waits ``retry_initial_s``,
  doubled per failure up to ``retry_max_s`` (:func:`~tui_trader.core.alerts.backoff_s`),
  before its oldest unsent row is tried again; the other channels go on. Rows of one
  channel go out in order (the oldest first), so a channel that comes back delivers what
  it missed in the order it happened.
- **Time is injected**: :meth:`AlertSender.pump` does one pass at the clock's ``now``;
  the loop (:meth:`AlertSender.run`) only sleeps until the earliest retry or a wake-up,
  so tests drive retries by moving the clock, not by sleeping.
- **Failing is visible**: the store's :class:`~tui_trader.state.store.Alerts` slice lists
  the channels whose last delivery failed and since when (the health footer's
  ``alerts: slack failing 3m``); the log says when a channel starts and stops failing
  (by name, never its URL).
- **Late**: a row a restart found unsent (``late``) is sent with ``[late, raised HH:MM
  UTC]`` in its title: the trader must not take it for news.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from loguru import logger

from tui_trader.alerts.channels import Channel, deliver
from tui_trader.alerts.outbox import Outbox, OutboxRow
from tui_trader.core.alerts import backoff_s
from tui_trader.state.store import Alerts, Store

Clock = Callable[[], datetime]
#: Longest the loop sleeps with nothing due (a wake-up ends it sooner).
IDLE_S = 30.0


@dataclass(slots=True)
class _ChannelState:
    failures: int = 0
    next_at: datetime | None = None
    failing_since: datetime | None = None


def late_title(row: OutboxRow) -> str:
    """The title a row goes out with: ``[late, raised 14:05 UTC]`` added to a late one."""
    if not row.late:
        return row.title
    return f"{row.title} [late, raised {row.created_at.astimezone(UTC):%H:%M} UTC]"


def _send(channel: Channel, row: OutboxRow) -> bool:
    return deliver(channel, late_title(row), row.body, row.severity)


class AlertSender:
    """Delivers the outbox (module doc). ``send`` is the blocking delivery, run in a
    worker thread (default: apprise through :func:`channels.deliver`)."""

    def __init__(
        self,
        outbox: Outbox,
        channels: Mapping[str, Channel],
        store: Store,
        clock: Clock,
        retry_initial_s: float,
        retry_max_s: float,
        send: Callable[[Channel, OutboxRow], bool] = _send,
    ) -> None:
        self._outbox = outbox
        self._channels = dict(channels)
        self._store = store
        self._clock = clock
        self._initial = retry_initial_s
        self._max = retry_max_s
        self._send = send
        self._state = {name: _ChannelState() for name in self._channels}
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Something new is in the outbox: send it now rather than at the next timeout."""
        self._wake.set()

    async def pump(self) -> int:
        """One pass at ``clock()``: each channel that is due sends its unsent rows, oldest
        first, until one fails (then it backs off). How many rows were delivered."""
        sent = 0
        for name, channel in self._channels.items():
            state = self._state[name]
            while True:
                now = self._clock()
                if state.next_at is not None and now < state.next_at:
                    break
                row = self._outbox.next_unsent(name)
                if row is None:
                    break
                ok = await self._attempt(channel, row)
                if self._record(name, row, ok, now):
                    sent += 1
                    continue
                break
        self._publish()
        return sent

    async def _attempt(self, channel: Channel, row: OutboxRow) -> bool:
        """Deliver ``row`` in a worker thread. Cancelled meanwhile (the engine stops), it
        waits the delivery out and journals its outcome before the cancellation goes on:
        a row that reached its channel must not be sent again after the restart."""
        delivery = asyncio.ensure_future(asyncio.to_thread(self._send, channel, row))
        try:
            return await asyncio.shield(delivery)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                ok = await delivery
                self._record(channel.name, row, ok, self._clock())
            raise

    def _record(self, name: str, row: OutboxRow, ok: bool, now: datetime) -> bool:
        """Journal one attempt's outcome and the channel's backoff; ``ok`` back."""
        state = self._state[name]
        if ok:
            self._outbox.mark_sent(row.id, self._clock())
            if state.failing_since is not None:
                logger.info("alerts: channel {} delivers again", name)
            state.failures, state.next_at, state.failing_since = 0, None, None
            return True
        self._outbox.mark_failed(row.id, "delivery failed")
        state.failures += 1
        wait = backoff_s(state.failures, self._initial, self._max)
        state.next_at = now + timedelta(seconds=wait)
        if state.failing_since is None:
            state.failing_since = now
            logger.warning("alerts: channel {} failed; retrying with backoff", name)
        return False

    def _publish(self) -> None:
        failing = tuple(
            sorted(
                ((n, s.failing_since) for n, s in self._state.items() if s.failing_since),
                key=lambda item: item[1],
            )
        )
        self._store.set(Alerts, Alerts(failing=failing, unsent=self._outbox.unsent(self._channels)))

    def next_due_s(self) -> float:
        """Seconds until the earliest retry (``IDLE_S`` when none waits)."""
        now = self._clock()
        due = [s.next_at for s in self._state.values() if s.next_at is not None]
        if not due:
            return IDLE_S
        return max(0.0, min(IDLE_S, (min(due) - now).total_seconds()))

    async def run(self) -> None:
        """Pump until cancelled, sleeping until the next retry or a :meth:`wake`."""
        while True:
            self._wake.clear()  # before the pass: a wake-up during it is not lost
            try:
                await self.pump()
            except Exception:  # the journal failing must not end alerting for good
                logger.exception("alerts: sending failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.next_due_s())


def failing_text(alerts: Alerts, now: datetime) -> str | None:
    """The health footer's words for failing channels, ``alerts: slack failing 3m`` (the
    oldest streak's age; several channels named together); None when all deliver."""
    if not alerts.failing:
        return None
    names = ", ".join(name for name, _ in alerts.failing)
    seconds = max(0, int((now - alerts.failing[0][1]).total_seconds()))
    if seconds < 60:
        age = f"{seconds}s"
    elif seconds < 3600:
        age = f"{seconds // 60}m"
    else:
        age = f"{seconds // 3600}h"
    return f"alerts: {names} failing {age}"
