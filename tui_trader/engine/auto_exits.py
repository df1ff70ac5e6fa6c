"""The auto-trader's exits (SPEC 11): closing orders for the spreads we opened whose SPEC 9
rule holds, through the same order desk as a key press.

- Checked whenever the market is open and the auto-trader is not OFF (HALTED included: a
  breaker stops entries, never exits). Only spreads the journal says we opened (not
  ``external`` ones) are closed.
- One closing order at a time per spread: while one works nothing more is sent; a filled
  one ends it. A rejected or cancelled exit is sent again on the next check, at most
  ``[auto] exit_retries`` times; then an ERROR event (SPEC 13's HIGH alert) says to close
  it by hand, and it is not tried again (``GAVE_UP``).
- Each spread's record lives in the journal's kv store under ``auto/exit/<intent id>``
  (rule, attempts, the closing intent, state, day), so a restart neither forgets an exit
  in flight nor sends a second one.
- Dry-run plans the close from live quotes and journals what it would send, once.

Split from :mod:`tui_trader.engine.autotrader` (which owns the mode and calls
:meth:`AutoExits.run`) to keep each component small.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from loguru import logger

from tui_trader.core.auto import Direction
from tui_trader.core.entry import CloseRequest, Refusal, plan_close
from tui_trader.core.models import EventLevel, IntentStatus
from tui_trader.core.settings import Settings
from tui_trader.engine.desk import OrderDesk
from tui_trader.engine.events import EventSink
from tui_trader.engine.legs import LegReader, leg_quote
from tui_trader.state.journal import Journal
from tui_trader.state.store import AutoExitRow, Positions, SpreadPosition, Store

#: The kv prefix of the exit records (``journal_report`` reads them by this name).
EXIT_KEY = "auto/exit/"


class AutoExits:
    """Closing orders for our spreads whose exit rule holds (module doc)."""

    def __init__(
        self,
        settings: Settings,
        journal: Journal,
        store: Store,
        desk: OrderDesk,
        reader: LegReader,
        *,
        events: EventSink,
        clock: Callable[[], datetime],
        today: Callable[[], date],
        on_order: Callable[[str], None],
    ) -> None:
        self._settings = settings
        self._journal = journal
        self._store = store
        self._desk = desk
        self._reader = reader
        self._events = events
        self._clock = clock
        self._today = today
        self._on_order = on_order

    async def run(self, *, dry_run: bool) -> None:
        """One check: each of our spreads whose exit rule holds (module doc)."""
        try:
            for sp in self._store.get(Positions).spreads:
                if sp.exit_reason is not None and sp.intent_id and not sp.external:
                    await self._exit(sp, dry_run)
        except Exception:
            logger.exception("the auto-trader's exits failed")

    async def _exit(self, sp: SpreadPosition, dry_run: bool) -> None:
        key = EXIT_KEY + str(sp.intent_id)
        record: dict[str, Any] = self._journal.get_kv(key) or {
            "symbol": sp.underlying, "rule": sp.exit_reason, "attempts": 0,
            "intent_id": None, "state": "PENDING", "day": self._today().isoformat(),
        }  # fmt: skip
        last = self._journal.intent(record["intent_id"]) if record["intent_id"] else None
        if last is not None and not last.is_terminal:
            return  # one closing order at a time
        if last is not None and last.status is IntentStatus.FILLED:
            return
        if record["state"] == "GAVE_UP":
            return
        limit = self._settings.auto.exit_retries
        if record["attempts"] > limit:
            record["state"] = "GAVE_UP"
            self._journal.put_kv(key, record)
            self._events(
                EventLevel.ERROR,
                "exit",
                f"{sp.underlying}: the {sp.exit_reason} exit failed {record['attempts']} times; "
                "close it yourself (c on Positions).",
                sp.intent_id,
            )
            return
        if len(sp.legs) != 2 or sp.direction not in ("LONG", "SHORT"):
            return
        lo, sh = sp.legs
        long_leg = self._reader.leg(lo.con_id, "BUY", lo.expiry, lo.strike, lo.right)
        short_leg = self._reader.leg(sh.con_id, "SELL", sh.expiry, sh.strike, sh.right)
        direction: Direction = "LONG" if sp.direction == "LONG" else "SHORT"
        plan = plan_close(
            CloseRequest(sp.underlying, direction, leg_quote(long_leg), leg_quote(short_leg),
                         held=sp.quantity),
            self._settings,
        )  # fmt: skip
        if isinstance(plan, Refusal):  # no usable quote now: the next check tries again
            logger.info("exit of {} waits: {}", sp.underlying, plan.message)
            return
        if dry_run:
            if record["state"] != "DRY-RUN":
                record["state"] = "DRY-RUN"
                self._journal.put_kv(key, record)
                self._events(
                    EventLevel.INFO, "exit", f"dry-run: would send {plan.spec.describe()}",
                    sp.intent_id,
                )  # fmt: skip
            return
        out, intent = await self._desk.submit(plan.spec, None)
        record["attempts"] += 1
        record["rule"] = sp.exit_reason
        record["updated_at"] = self._clock().isoformat()
        if intent is not None:
            record["intent_id"], record["state"] = intent.intent_id, "SENT"
            self._on_order("exit")
        else:
            record["state"] = f"refused: {out.message}"
        self._journal.put_kv(key, record)

    def rows(self) -> tuple[AutoExitRow, ...]:
        """Today's exit orders, for the Automation slice."""
        rows: list[AutoExitRow] = []
        today = self._today().isoformat()
        today_start = f"{today}T00:00:00+00:00"
        for sp in self._store.get(Positions).spreads:
            record = self._journal.get_kv(EXIT_KEY + str(sp.intent_id)) if sp.intent_id else None
            if record is None or record.get("day") != today:
                continue
            it = self._journal.intent(record["intent_id"]) if record["intent_id"] else None
            rows.append(
                AutoExitRow(
                    spread_key=str(sp.intent_id), symbol=record["symbol"],
                    rule=str(record["rule"]),
                    state=it.status.value if it is not None else str(record["state"]),
                    attempts=int(record["attempts"]),
                    updated_at=datetime.fromisoformat(record.get("updated_at") or today_start),
                    intent_id=record["intent_id"],
                )
            )  # fmt: skip
        return tuple(rows)
