"""The engine's events (what the Log screen and the toasts show) and the journal's own
health (can it be written?).

Why one place: an event is journaled (the trader's record), shown (the store's EventLog)
and logged, in that order, and a journal that cannot take it must neither lose the event
from the screen nor flood the log with a traceback per event. The journal's writability
is a trading condition (every order is journaled before it is sent), so the order desk
asks :class:`JournalHealth` before each send.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from loguru import logger

from tui_trader.core.models import EventLevel, JournalEvent
from tui_trader.state.journal import Journal, JournalError
from tui_trader.state.store import Store

Clock = Callable[[], datetime]


class EventSink(Protocol):
    """How a component reports something the trader should see."""

    def __call__(
        self, level: EventLevel, kind: str, text: str, intent_id: str | None = None
    ) -> None: ...


class EventLog:
    """Journal, show and log events (module doc)."""

    def __init__(self, journal: Journal, store: Store, clock: Clock) -> None:
        self._journal = journal
        self._store = store
        self._clock = clock
        self._journal_failing = False

    def __call__(
        self, level: EventLevel, kind: str, text: str, intent_id: str | None = None
    ) -> None:
        self.emit(level, kind, text, intent_id)

    def emit(self, level: EventLevel, kind: str, text: str, intent_id: str | None = None) -> None:
        now = self._clock()
        try:
            self._journal.log_event(level, kind, text, now, intent_id=intent_id)
            self._journal_failing = False
        except JournalError as exc:
            if not self._journal_failing:  # said once per failing streak, not per event
                logger.warning("events are not journaled while the journal fails: {}", exc)
            self._journal_failing = True
        except Exception:
            logger.exception("journaling an event failed")
        self._store.add_event(
            JournalEvent(time=now, level=level, kind=kind, text=text, intent_id=intent_id)
        )
        log = logger.warning if level is not EventLevel.INFO else logger.info
        log("{}: {}", kind, text)


class JournalHealth:
    """Whether the journal can be written, told once when it fails and once when it works
    again. Once a write failed for lack of storage the journal stays suspect until a probe
    write commits (:meth:`Journal.check_writable`)."""

    def __init__(self, journal: Journal, events: EventSink) -> None:
        self._journal = journal
        self._events = events

    def problem(self) -> str | None:
        """Why the journal cannot be written now (None: it can); probes a suspect one."""
        if self._journal.write_error is None:
            return None
        problem = self._journal.check_writable()
        if problem is None:
            self._events(
                EventLevel.INFO,
                "journal",
                f"The journal {self._journal.path} can be written again.",
            )
            return None
        return problem.rstrip(".")

    def after_cache_write(self) -> None:
        """The bars were loaded: say so if their cache could not be written."""
        if self._journal.write_error is None:
            return
        problem = self.problem()
        if problem is not None:
            self._events(
                EventLevel.ERROR,
                "journal",
                f"{problem}; the bars are used from memory and no order is sent until it can "
                "be written.",
            )
