"""The circuit breakers and the kill switch as the engine keeps them: in the store for the
UI, in the journal so a restart cannot forget a halt.

Decisions:

- **Persisted on every change** under the journal key ``risk/breaker_state``, before the
  change is acted on (the kill switch is on disk before any order is cancelled).
- **A record that cannot be read is a halt.** Invalid JSON, a record of the wrong shape or
  a value that does not parse restores as the kill switch engaged (and is rewritten
  readable, with an ERROR event): a broken file must never silently re-open trading.
- **Breakers latch for the trading day.** A tripped DAILY_LOSS or REJECTIONS breaker is
  reset when the New York date moves past the day it tripped (a new session), at start or
  on the engine's periodic refresh; the user cannot clear it the same day (a daily loss
  limit that a key press lifts is not a limit). The kill switch is only cleared by the
  user (:meth:`BreakerKeeper.clear_kill_switch`).
- Rejection times are the ``updated_at`` of REJECTED intents (when the rejection was
  recorded); :func:`tui_trader.core.risk.update_breakers` ignores those at or before the
  last reset.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from loguru import logger

from tui_trader.core.calendar import ET
from tui_trader.core.models import EventLevel, IntentStatus, OrderIntent
from tui_trader.core.risk import (
    BreakerState,
    clear_kill_switch,
    engage_kill_switch,
    reset_breakers,
    update_breakers,
)
from tui_trader.core.settings import RiskSettings
from tui_trader.state.journal import Journal
from tui_trader.state.store import Store

#: Journal key of the persisted breaker state (kill switch included).
BREAKER_KEY = "risk/breaker_state"

EventSink = Callable[[EventLevel, str], None]


def rejection_times(intents: Sequence[OrderIntent]) -> list[datetime]:
    return [i.updated_at for i in intents if i.status is IntentStatus.REJECTED]


class BreakerKeeper:
    """The breaker state of one engine (module doc); ``event(level, text)`` reports."""

    def __init__(
        self,
        journal: Journal,
        store: Store,
        *,
        clock: Callable[[], datetime],
        risk: RiskSettings,
        event: EventSink,
    ) -> None:
        self._journal = journal
        self._store = store
        self._clock = clock
        self._risk = risk
        self._event = event

    @property
    def state(self) -> BreakerState:
        return self._store.get(BreakerState)

    def _save(self, state: BreakerState) -> None:
        try:
            self._journal.put_kv(BREAKER_KEY, state.to_dict())
        except Exception:
            logger.exception("persisting the breaker state failed")
        self._store.set(BreakerState, state)

    def restore(self) -> BreakerState:
        """The state from the journal (module doc), published to the store."""
        now = self._clock()
        try:
            record = self._journal.get_kv(BREAKER_KEY)
            if record is None:
                state = BreakerState()
            elif not isinstance(record, Mapping):
                raise ValueError(f"breaker state is not an object: {record!r}")
            else:
                state = BreakerState.from_dict(record)
        except Exception as exc:
            state = engage_kill_switch(BreakerState(), now)
            self._save(state)
            self._event(
                EventLevel.ERROR,
                f"The saved breaker state cannot be read ({exc}); treating it as the kill "
                "switch engaged: entries are halted until you clear it.",
            )
            return state
        self._store.set(BreakerState, state)
        state = self.new_day()
        if state.kill_switch:
            self._event(
                EventLevel.WARNING,
                "The kill switch is still engaged from an earlier run: entries are halted "
                "until you clear it.",
            )
        return state

    def new_day(self) -> BreakerState:
        """Reset a breaker tripped on an earlier New York day (a new session)."""
        state, now = self.state, self._clock()
        since = state.breaker_since
        if state.breaker_code is None or since is None:
            return state
        if since.astimezone(ET).date() >= now.astimezone(ET).date():
            return state
        new = reset_breakers(state, now)
        self._save(new)
        self._event(EventLevel.INFO, "A new trading day: circuit breakers reset.")
        return new

    def update(self, day_pnl: float | None, rejections: Sequence[datetime]) -> bool:
        """Trip a breaker when SPEC 8 says so; True when one tripped just now."""
        before = self.new_day()
        after = update_breakers(before, day_pnl, rejections, self._clock(), self._risk)
        if after == before:
            return False
        self._save(after)
        if after.breaker_code is not None and before.breaker_code is None:
            self._event(
                EventLevel.ERROR,
                f"Circuit breaker {after.breaker_code}: {after.breaker_reason}. New entries "
                "are halted; exits are still allowed.",
            )
            return True
        return False

    def engage_kill_switch(self) -> BreakerState:
        """HALTED (and on disk) until the user clears it."""
        state = engage_kill_switch(self.state, self._clock())
        self._save(state)
        return state

    def clear_kill_switch(self) -> BreakerState | None:
        """Release the kill switch (None: it was not engaged); a tripped breaker holds."""
        state = self.state
        if not state.kill_switch:
            return None
        new = clear_kill_switch(state)
        self._save(new)
        return new
