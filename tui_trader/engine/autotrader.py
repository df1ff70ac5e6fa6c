"""The auto-trader (SPEC 11): signal -> spread -> risk -> order in the window -> exits,
with no key pressed, through exactly the same path as a key press.

- **Mode**: OFF, ARMED, DRY-RUN (every step, nothing transmitted), shown HALTED while a
  breaker or the kill switch stops entries. Persisted in the journal (``auto/state``), so
  it survives a restart; ``[auto] enabled`` (``run --headless --auto``) arms at start.
  The kill switch disarms it.
- **Candidates** (:mod:`tui_trader.core.auto`): after every scan each tradable row whose
  key (New York day, symbol, direction) is new today is journaled QUEUED *before*
  anything is sent. Inside the entry window (SPEC 7), when it opens and on every later
  scan, a cycle re-checks each queued candidate with the live scan (``signal_gone``),
  fetches its chain (SELECTING, journaled first), selects SPEC 5's best spread
  (``no_spread`` with the rejection counts), orders the attempts (reward/risk, POP,
  symbol), and for as many as today's limits allow plans the entry with
  :func:`tui_trader.core.entry.plan_entry` from live leg quotes, asks IB's what-if for
  that exact order, gates that order again with the answer as things stand then
  (:func:`~tui_trader.core.entry.entry_gate`, as the preview desk does: a tick during the
  what-if never re-prices it), and hands it to the order desk (SENT)
  -- or SKIPPED ``gate:<CODE>`` / ``refused:<why>`` / ``limit_reached`` (kept for the
  next scan in the window). Dry-run journals the would-be order as DRY-RUN. Queued
  candidates still waiting when the window closes are EXPIRED.
- **Restart safety**: a candidate is SELECTING only while it is tried (journaled at its
  turn, before its chain is asked for), so a kill leaves the rest of the queue QUEUED, to
  be tried after the restart. One found SELECTING at start was interrupted; if an opening
  order for its symbol was journaled since it was selected it becomes SENT with that
  order, otherwise SKIPPED ``interrupted``: never tried twice. SENT candidates follow
  their order to FILLED, CANCELLED or REJECTED; an order whose outcome is unknown stays
  SENT and shows UNKNOWN on the Orders screen, never resent.
- **Exits** (:mod:`tui_trader.engine.auto_exits`): whenever the market is open and the
  auto-trader is not OFF -- HALTED included -- our spreads whose SPEC 9 rule holds get
  one closing order at a time through the same desk, retried ``[auto] exit_retries`` times.
- Breakers stop new entries at once; a SENT candidate is not cancelled by a breaker
  (only the kill switch cancels working orders).

Writes the Automation slice; reads everything else.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from ib_insync import Contract
from loguru import logger

from tui_trader.broker.chains import ChainError, qualify_chain, quote_chain, release_chain
from tui_trader.broker.marketdata import MarketData
from tui_trader.broker.orders import OrderManager
from tui_trader.broker.session import Session
from tui_trader.core.auto import (
    LIMIT_REACHED,
    AutoMode,
    Candidate,
    CandidateKey,
    CandidateState,
    Ranked,
    attempt_order,
    candidates_from_scan,
    slots_left,
    still_signals,
)
from tui_trader.core.calendar import WindowState, market_open, window_status
from tui_trader.core.entry import (
    AccountState,
    EntryPlan,
    EntryRequest,
    Refusal,
    WhatIf,
    entry_gate,
    plan_entry,
)
from tui_trader.core.models import ConnectionState, EventLevel, IntentStatus, OrderIntent
from tui_trader.core.risk import BreakerState, BreakerStatus
from tui_trader.core.scanner import ScanReport
from tui_trader.core.settings import Settings
from tui_trader.core.spreads import OptionChain, SpreadSelection, select_spreads
from tui_trader.engine.actions import Outcome
from tui_trader.engine.auto_exits import AutoExits
from tui_trader.engine.desk import OrderDesk
from tui_trader.engine.events import EventSink
from tui_trader.engine.legs import LegReader, leg_quote
from tui_trader.engine.preview_desk import book_of
from tui_trader.engine.universe import Universe
from tui_trader.state.journal import Journal
from tui_trader.state.store import (
    Account,
    AutoCandidateRow,
    Automation,
    Orders,
    Store,
)

STATE_KEY = "auto/state"
S = CandidateState


@dataclass(slots=True)
class _Prep:
    """A queued candidate's chain, qualified before the window, and its best spread's
    (reward/risk, POP) on the quotes of that moment (None: no spread then)."""

    contracts: list[Contract]
    rank: tuple[float | None, float | None]


@dataclass(slots=True)
class _Selected:
    """A candidate's chain, reduced to its best spread: only those two legs keep their
    lines (pinned ``auto:<symbol>``) while the others are ranked and tried, so a cycle of
    many candidates stays within the market-data line budget."""

    candidate: Candidate
    chain: OptionChain
    selection: SpreadSelection
    pin: str


def _spread_text(detail: dict[str, Any]) -> str | None:
    if "expiry" not in detail:
        return None
    return (
        f"{detail['expiry']} {detail['long_strike']:g}/{detail['short_strike']:g} {detail['right']}"
    )


class AutoTrader:
    """SPEC 11's loop (module doc)."""

    def __init__(
        self,
        settings: Settings,
        journal: Journal,
        store: Store,
        session: Session,
        marketdata: MarketData,
        orders: OrderManager,
        universe: Universe,
        desk: OrderDesk,
        *,
        events: EventSink,
        clock: Callable[[], datetime],
        today: Callable[[], date],
        spawn: Callable[[Coroutine[Any, Any, None], str], None],
        on_order: Callable[[str], None] = lambda kind: None,
        chain_timeout_s: float = 5.0,
    ) -> None:
        self._settings = settings
        self._journal = journal
        self._store = store
        self._session = session
        self._md = marketdata
        self._orders = orders
        self._universe = universe
        self._desk = desk
        self._events = events
        self._clock = clock
        self._today = today
        self._spawn = spawn
        self._on_order = on_order
        self._chain_timeout_s = chain_timeout_s
        self._reader = LegReader(marketdata, desk.quote_age)
        self._exit_orders = AutoExits(
            settings, journal, store, desk, self._reader,
            events=events, clock=clock, today=today, on_order=on_order,
        )  # fmt: skip
        self._armed = False
        self._dry_run = False
        self._cycling = False
        self._exiting = False
        self._window_was_open = False
        self._prep: dict[CandidateKey, _Prep] = {}
        self._preparing: asyncio.Event | None = None

    # ------------------------------------------------------------------ mode

    def restore(self) -> None:
        """The mode from the journal (``[auto] enabled`` arms at start); interrupted
        candidates settled (module doc)."""
        saved = self._journal.get_kv(STATE_KEY) or {}
        self._armed = bool(saved.get("armed", False))
        self._dry_run = bool(saved.get("dry_run", False))
        auto = self._settings.auto
        if auto.enabled:
            self._armed, self._dry_run = True, auto.dry_run
            self._save_mode()
        self._settle_interrupted()
        self.publish()

    def _save_mode(self) -> None:
        self._journal.put_kv(STATE_KEY, {"armed": self._armed, "dry_run": self._dry_run})

    @property
    def mode(self) -> AutoMode:
        if not self._armed:
            return AutoMode.OFF
        if self._store.get(BreakerState).status is BreakerStatus.HALTED:
            return AutoMode.HALTED
        return AutoMode.DRY_RUN if self._dry_run else AutoMode.ARMED

    async def arm(self, dry_run: bool) -> Outcome:
        if self._store.get(BreakerState).kill_switch:
            return Outcome(False, "The kill switch is engaged: clear it before arming.")
        self._armed, self._dry_run = True, dry_run
        self._save_mode()
        what = "DRY-RUN (nothing is transmitted)" if dry_run else self._mode_word()
        self._events(EventLevel.WARNING, "auto", f"Auto-trader armed: {what}.")
        report = self._universe.scanner.report
        if report is not None:
            self.on_scan(report)  # the signals of the scan on screen, not the next one's
        self.publish()
        self.kick()
        return Outcome(True, f"Auto-trader armed: {what}.")

    async def disarm(self, why: str = "by the user") -> Outcome:
        if not self._armed:
            return Outcome(True, "The auto-trader is already off.")
        self._armed = False
        self._save_mode()
        self._events(EventLevel.WARNING, "auto", f"Auto-trader disarmed {why}.")
        self.publish()
        return Outcome(True, f"Auto-trader disarmed {why}; working orders stay.")

    def _mode_word(self) -> str:
        return "LIVE" if self._settings.execution.mode == "live" else "PAPER"

    # ------------------------------------------------------------------ candidates

    def _save(self, c: Candidate) -> Candidate:
        self._journal.put_candidate(c)
        return c

    def _move(self, c: Candidate, state: CandidateState, reason: str | None = None,
              intent_id: str | None = None,
              detail: dict[str, Any] | None = None) -> Candidate:  # fmt: skip
        moved = self._save(c.moved(state, self._clock(), reason, intent_id, detail))
        if state in (S.SKIPPED, S.EXPIRED, S.DRY_RUN, S.SENT):
            why = f" ({reason})" if reason else ""
            self._events(EventLevel.INFO, "auto", f"{c.key}: {state.value}{why}", intent_id)
        return moved

    def _settle_interrupted(self) -> None:
        """SELECTING at start: sent meanwhile, or skipped for good (module doc)."""
        intents = self._journal.intents()
        for c in self._journal.candidates():
            if c.state is not S.SELECTING:
                continue
            sent = next(
                (
                    it
                    for it in intents
                    if it.spec.action == "BUY"
                    and it.spec.underlying == c.key.symbol
                    and it.created_at >= c.updated_at
                ),
                None,
            )
            if sent is not None:
                self._move(c, S.SENT, intent_id=sent.intent_id)
            else:
                self._move(c, S.SKIPPED, "interrupted")

    def on_scan(self, report: ScanReport) -> None:
        """Journal new candidates (QUEUED); inside the window, run a cycle."""
        if not self._armed:
            return
        day = self._today()
        known = [c.key for c in self._journal.candidates(day)]
        for c in candidates_from_scan(report.results, day, known, self._clock()):
            if self._journal.add_candidate(c):
                self._events(EventLevel.INFO, "auto", f"{c.key}: QUEUED ({c.strategy})")
        self.publish()
        self.kick(fresh=True)
        self.prepare_soon()

    def kick(self, *, fresh: bool = False) -> None:
        """Start an entry cycle when one may run now and none is running; ``fresh``: the
        scan was just made (else the cycle scans first, so signals are re-checked on live
        prices)."""
        if self._cycling or self.mode not in (AutoMode.ARMED, AutoMode.DRY_RUN):
            return
        now = self._clock()
        if not window_status(now, self._settings.timing).is_open:
            return
        self._cycling = True
        self._spawn(self._cycle(fresh), "auto-cycle")

    async def _cycle(self, fresh: bool) -> None:
        try:
            if not fresh and self._universe.scanner.bars is not None:
                self._universe.scanner.scan_now()  # its candidates join this cycle
            await self._entries()
        except Exception:
            logger.exception("the auto-trader's cycle failed")
            self._events(EventLevel.ERROR, "auto", "The auto-trader's cycle failed; see the log.")
        finally:
            self._cycling = False
            self.publish()

    def _waiting(self) -> list[Candidate]:
        return [
            c
            for c in self._journal.candidates(self._today())
            if c.state is S.QUEUED or (c.state is S.SKIPPED and c.reason == LIMIT_REACHED)
        ]

    async def _entries(self) -> None:
        """One pass over the waiting candidates inside the window (module doc)."""
        if not self._session.is_connected:
            return
        await self._prep_done()
        ranked: list[Ranked] = []
        for c in self._waiting():
            if self.mode not in (AutoMode.ARMED, AutoMode.DRY_RUN):
                return  # halted or disarmed meanwhile: the rest stay queued
            if c.state is S.SKIPPED:
                if self._slots() <= 0:
                    continue  # still no slot: it stays limit_reached, no churn in the Log
                c = self._move(c, S.QUEUED)
            if not still_signals(self._universe.scan_row(c.key.symbol), c.key.direction):
                self._move(c, S.SKIPPED, "signal_gone")
                continue
            prep = self._prep.get(c.key)
            ranked.append(Ranked(c, *(prep.rank if prep is not None else (None, None))))
        for r in attempt_order(ranked):
            # the journal's own row: the window's close may have expired it meanwhile
            c = next((x for x in self._journal.candidates(r.candidate.key.day)
                      if x.key == r.candidate.key), r.candidate)  # fmt: skip
            if c.state is not S.QUEUED:
                continue
            if self._slots() <= 0:
                self._move(c, S.SKIPPED, LIMIT_REACHED)
                continue
            if self.mode not in (AutoMode.ARMED, AutoMode.DRY_RUN):
                continue  # halted or disarmed meanwhile: it stays queued
            # SELECTING only at its turn, journaled before its chain is asked for: a kill
            # gives up this one (``interrupted``), the rest of the queue stays queued
            c = self._move(c, S.SELECTING)
            selected = await self._select(c)
            if selected is None:
                continue
            try:
                await self._attempt(selected)
            finally:
                self._release(selected)

    def _slots(self) -> int:
        """Entries today's limits still allow; a dry run counts its would-be orders, so it
        shows what the limits would allow."""
        book = book_of(self._store, self._today())
        dry = sum(1 for x in self._journal.candidates(self._today()) if x.state is S.DRY_RUN)
        return slots_left(book.entries_today + dry, book.open_spreads + dry, self._settings.risk)

    async def _chain(self, c: Candidate, spot: float) -> list[Contract]:
        """The candidate's qualified option contracts: prepared while it was queued, else
        asked of IB now."""
        prep = self._prep.get(c.key)
        if prep is not None:
            return prep.contracts
        stock = await self._universe.stock(c.key.symbol)
        return await qualify_chain(
            self._session.ib, c.key.symbol, c.key.direction, spot, self._settings.selection,
            self._today(), underlying_con_id=stock.conId if stock is not None else 0,
        )  # fmt: skip

    async def _select(self, c: Candidate) -> _Selected | None:
        """A fresh chain (live quotes) and SPEC 5's spreads; None (and SKIPPED, or QUEUED
        again after a drop) when there is none."""
        symbol, direction = c.key.symbol, c.key.direction
        spot = self._universe.spot(symbol)
        if spot is None or not math.isfinite(spot) or spot <= 0:
            self._move(c, S.SKIPPED, "no_spread (no underlying price)")
            return None
        try:
            contracts = await self._chain(c, spot)
            chain = await quote_chain(
                self._md, symbol, contracts, timeout_s=self._chain_timeout_s, release=False
            )
        except ChainError as exc:
            self._move(c, S.SKIPPED, f"no_spread ({exc})")
            return None
        except (ConnectionError, TimeoutError) as exc:  # a drop mid-fetch: next scan
            self._move(c, S.QUEUED, f"chain not fetched: {exc or type(exc).__name__}")
            return None
        sel = select_spreads(
            chain, spot, direction, self._today(), self._settings.selection, self._settings.pricing
        )
        if len(sel) == 0:
            counts = ", ".join(f"{k} {v}" for k, v in sel.rejected.items() if v)
            self._move(c, S.SKIPPED, f"no_spread ({counts or 'no candidates'})")
            release_chain(self._md, chain, symbol)
            return None
        pin = f"auto:{symbol}"
        for row in (int(sel.long_row[0]), int(sel.short_row[0])):
            contract = self._md.contract(int(chain.con_id[row]))
            if contract is not None:
                self._md.subscribe(contract, pin=pin)
        release_chain(self._md, chain, symbol)  # the best spread's legs stay, pinned
        return _Selected(c, chain, sel, pin)

    # ------------------------------------------------------------------ preparation

    def prepare_soon(self) -> None:
        """Before the window: qualify each queued candidate's chain and rank it on the
        quotes of the moment, one at a time, so that when the window opens the order of
        attempts is known and each attempt needs only fresh quotes (module doc)."""
        if self._preparing is not None or self.mode not in (AutoMode.ARMED, AutoMode.DRY_RUN):
            return
        if not self._session.is_connected:
            return
        if window_status(self._clock(), self._settings.timing).is_open:
            return
        if all(c.key in self._prep for c in self._waiting()):
            return
        self._preparing = asyncio.Event()
        self._spawn(self._prepare(self._preparing), "auto-prepare")

    async def _prep_done(self) -> None:
        if self._preparing is not None:
            await self._preparing.wait()

    async def _prepare(self, done: asyncio.Event) -> None:
        try:
            for c in self._waiting():
                if c.key in self._prep:
                    continue
                if window_status(self._clock(), self._settings.timing).is_open:
                    return  # the cycle takes over: the rest is fetched at its turn
                if not self._session.is_connected or not self._armed:
                    return
                await self._prepare_one(c)
        except Exception:
            logger.exception("preparing the auto-trader's chains failed")
        finally:
            self._preparing = None
            done.set()

    async def _prepare_one(self, c: Candidate) -> None:
        symbol = c.key.symbol
        spot = self._universe.spot(symbol)
        if spot is None or not math.isfinite(spot) or spot <= 0:
            return
        try:
            stock = await self._universe.stock(symbol)
            contracts = await qualify_chain(
                self._session.ib, symbol, c.key.direction, spot, self._settings.selection,
                self._today(), underlying_con_id=stock.conId if stock is not None else 0,
            )  # fmt: skip
            chain = await quote_chain(
                self._md, symbol, contracts, timeout_s=self._chain_timeout_s, release=True
            )
        except (ChainError, ConnectionError, TimeoutError) as exc:
            logger.info("{}: chain not prepared ({})", c.key, exc)
            return
        sel = select_spreads(
            chain, spot, c.key.direction, self._today(), self._settings.selection,
            self._settings.pricing,
        )  # fmt: skip
        rank = (float(sel.reward_risk[0]), float(sel.pop[0])) if len(sel) else (None, None)
        self._prep[c.key] = _Prep(contracts, rank)

    def _release(self, s: _Selected) -> None:
        """Give the best spread's lines back (an order's legs stay pinned as the order's)."""
        for row in (int(s.selection.long_row[0]), int(s.selection.short_row[0])):
            con_id = int(s.chain.con_id[row])
            try:
                self._md.unpin(con_id, s.pin)
                self._md.unsubscribe(con_id)  # a no-op while another owner pins it
            except Exception:
                logger.exception("releasing line {} failed", con_id)

    def _request(self, s: _Selected) -> EntryRequest:
        sel, chain = s.selection, s.chain
        long_leg = self._reader.chain_leg(chain, int(sel.long_row[0]), "BUY")
        short_leg = self._reader.chain_leg(chain, int(sel.short_row[0]), "SELL")
        key = s.candidate.key
        return EntryRequest(key.symbol, key.direction, leg_quote(long_leg), leg_quote(short_leg))

    def _account(self) -> AccountState:
        nl = self._store.get(Account).net_liquidation
        return AccountState(
            net_liquidation=nl if nl is not None else math.nan,
            connection_healthy=self._session.state is ConnectionState.CONNECTED,
            breakers=self._store.get(BreakerState),
        )

    def _plan(self, req: EntryRequest, what_if: WhatIf | None) -> EntryPlan | Refusal:
        book = book_of(self._store, self._today())
        return plan_entry(req, book, self._account(), self._settings, what_if)

    async def _attempt(self, s: _Selected) -> None:
        """Plan, what-if, gate again, send (or DRY-RUN) one candidate (module doc)."""
        c = s.candidate
        req = self._request(s)
        first = self._plan(req, None)
        if isinstance(first, Refusal):
            self._move(c, S.SKIPPED, f"refused: {first.message}")
            return
        answer = await self._orders.what_if(first.spec)
        # the order IB assessed, gated as things stand now (quote ages, book, breakers), as
        # the preview desk sends it: re-planning would re-price it on the ticks that came
        # during the what-if, and IB's answer would not be for it (WHATIF_PENDING)
        what_if = WhatIf(first.spec, answer.available_funds_after)
        book = book_of(self._store, self._today())
        gate = entry_gate(first, self._request(s), book, self._account(), self._settings, what_if)
        plan = replace(first, gate=gate)
        detail = self._detail(s, plan)
        if not plan.gate.ok:
            code = plan.gate.reason_code.value if plan.gate.reason_code else "REFUSED"
            self._move(c, S.SKIPPED, f"gate:{code}", detail=detail)
            return
        if self._dry_run:
            self._move(c, S.DRY_RUN, f"would send {plan.spec.describe()}", detail=detail)
            return
        out, intent = await self._desk.submit(
            plan.spec, plan.gate, max_debit=plan.worst_debit, what_if_warning=answer.warning
        )
        if intent is None:
            self._move(c, S.SKIPPED, f"refused: {out.message}", detail=detail)
            return
        self._on_order("entry")
        self._move(c, S.SENT, intent_id=intent.intent_id, detail=detail)

    def _detail(self, s: _Selected, plan: EntryPlan) -> dict[str, Any]:
        sel = s.selection
        spec = plan.spec
        return {
            "expiry": spec.long_leg.expiry,
            "right": spec.long_leg.right,
            "long_strike": spec.long_leg.strike,
            "short_strike": spec.short_leg.strike,
            "debit": spec.limit_price,
            "quantity": spec.quantity,
            "reward_risk": float(sel.reward_risk[0]),
            "pop": float(sel.pop[0]),
        }

    # ------------------------------------------------------------------ orders, window

    def on_orders(self) -> None:
        """SENT candidates follow their orders (module doc)."""
        by_id = {it.intent_id: it for it in self._store.get(Orders).intents}
        changed = False
        for c in self._journal.candidates(self._today()):
            if c.state is not S.SENT or c.intent_id is None:
                continue
            it = by_id.get(c.intent_id) or self._journal.intent(c.intent_id)
            final = _final_state(it)
            if final is not None:
                reason = it.last_error_text if it is not None else None
                self._move(c, final, reason)
                changed = True
        if changed:
            self.publish()

    def tick(self) -> None:
        """The periodic work: the window opening starts a cycle; its close expires what
        still waits; exits; the slice."""
        now = self._clock()
        is_open = window_status(now, self._settings.timing).is_open
        if is_open and not self._window_was_open:
            self.kick()
        if not is_open:
            self._expire()
        self._window_was_open = is_open
        if self._armed and not self._exiting and market_open(now, self._settings.timing.calendar):
            self._exiting = True
            self._spawn(self._exits(), "auto-exits")
        self.publish()

    def _expire(self) -> None:
        """Candidates still waiting outside the window: EXPIRED (today's once the window
        has closed, earlier days' always)."""
        today = self._today()
        status = window_status(self._clock(), self._settings.timing)
        for c in self._journal.candidates():
            waiting = c.state is S.QUEUED or (c.state is S.SKIPPED and c.reason == LIMIT_REACHED)
            if not waiting:
                continue
            if c.key.day < today or (c.key.day == today and status.state is WindowState.CLOSED):
                self._move(c, S.EXPIRED, "the entry window closed")

    async def _exits(self) -> None:
        try:
            await self._exit_orders.run(dry_run=self._dry_run)
        finally:
            self._exiting = False

    # ------------------------------------------------------------------ slice

    def publish(self) -> None:
        """The Automation slice."""
        today = self._today()
        book = book_of(self._store, today)
        risk = self._settings.risk
        rows = tuple(
            AutoCandidateRow(
                key=str(c.key), symbol=c.key.symbol, direction=c.key.direction,
                strategy=c.strategy, state=c.state.value, reason=c.reason,
                created_at=c.created_at, updated_at=c.updated_at, intent_id=c.intent_id,
                spread=_spread_text(dict(c.detail)), debit=c.detail.get("debit"),
                quantity=c.detail.get("quantity"),
            )
            for c in self._journal.candidates(today)
        )  # fmt: skip
        self._store.set(
            Automation,
            Automation(
                mode=self.mode.value,
                live=self._settings.execution.mode == "live",
                entries_today=book.entries_today,
                max_daily_trades=risk.max_daily_trades,
                open_spreads=book.open_spreads,
                max_positions=risk.max_positions,
                universe_size=len(self._settings.universe.symbols),
                window=window_status(self._clock(), self._settings.timing).label,
                candidates=rows,
                exits=self._exit_orders.rows(),
            ),
        )


def _final_state(it: OrderIntent | None) -> CandidateState | None:
    if it is None or not it.is_terminal:
        return None
    if it.status is IntentStatus.FILLED or it.filled > 0:
        return S.FILLED
    if it.status is IntentStatus.REJECTED:
        return S.REJECTED
    return S.CANCELLED
