"""The preview desk: the order a trader looks at before confirming it.

- **Preview** (``preview``, ``select_spread``, ``adjust_*``, ``refresh_what_if``,
  ``preview_close``): the chain is fetched with its lines pinned (``preview:<symbol>``) for
  as long as it is previewed; the previous preview's pin is lifted first. The order is
  planned by :func:`tui_trader.core.entry.plan_entry` (or :func:`plan_close`) from the
  legs' *live* quotes, the book, the account and IB's what-if answer for this exact order:
  the same function the auto-trader calls. IB's what-if is asked automatically after each
  of these actions (``auto_what_if``), because the buying-power gate cannot pass without
  an answer for the exact order; ``w`` asks again.
- **Only a trader's action re-plans.** The periodic refresh republishes live leg quotes,
  their ages and a fresh gate verdict (:func:`tui_trader.core.entry.entry_gate`), and an
  answer from IB never changes the order the trader is looking at: the confirmation
  shows exactly what ``transmit`` sends. When the legs' quotes move away from the market
  the order was priced in, the screen marks the order STALE; ``refresh_what_if`` (``w``,
  and ``t`` on a stale order) re-plans from the quotes now before asking IB again.
- **The trader's limit stays inside the natural market** (``[``/``]``, issue 13): between
  the natural bid and ask on the tick grid (a BUY also under the cost cap), held at the
  edge with a sentence saying so, and kept inside when a re-plan finds the market moved.
- **Transmit** hands the planned order to the order desk (:mod:`tui_trader.engine.desk`),
  with SPEC 8's verdict for it as things stand at that moment; the desk's single
  pre-send check decides. On success the preview is released.
- **Manual entries are not held to the entry window** (SPEC 7): the window schedules the
  auto-trader's entries; a trader sending by hand sees the window in the footer and
  decides. (Decision; see the README.)
- **A trader-chosen vertical** (the chain screen, issue 13: ``preview_spread``) is the same
  preview with its legs chosen by the trader instead of ranked from a signal's chain: a
  one-spread selection of those two contracts (SPEC 5's automatic picking rules -- DTE
  window, delta band, reward/risk -- do not choose for him; bad quotes, missing greeks and
  the cost cap still refuse), then the same plan, gates, what-if and transmit. At the send,
  no scan signal is asked of it (``OrderDesk.context(manual=True)``).

This desk is the only writer of the Preview and Candidates slices.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ib_insync import Contract
from loguru import logger

from tui_trader.broker.chains import (
    ChainError,
    fetch_chain,
    quote_chain,
    release_chain,
    spot_of,
    underlying_quote,
)
from tui_trader.broker.marketdata import MarketData
from tui_trader.broker.order_reports import WhatIfPreview
from tui_trader.broker.orders import OrderManager
from tui_trader.broker.session import Session
from tui_trader.core.entry import (
    AccountState,
    Book,
    ClosePlan,
    CloseRequest,
    EntryPlan,
    EntryRequest,
    Refusal,
    WhatIf,
    entry_gate,
    legs_natural,
    plan_close,
    plan_entry,
)
from tui_trader.core.limits import limit_bounds, step_limit
from tui_trader.core.models import ConnectionState
from tui_trader.core.pricing import NaturalQuotes, PriceRefusal, RefusalCode
from tui_trader.core.risk import BreakerState, GateResult
from tui_trader.core.settings import Settings
from tui_trader.core.spreads import Direction, OptionChain, SpreadSelection, select_spreads
from tui_trader.engine.actions import Outcome
from tui_trader.engine.desk import OrderDesk
from tui_trader.engine.exits import find_spread
from tui_trader.engine.legs import LegReader, leg_quote
from tui_trader.engine.preview import busy_underlyings, entries_on, net_greek, open_spread_count
from tui_trader.engine.universe import Universe
from tui_trader.state.store import (
    Account,
    Candidates,
    CandidateSet,
    Orders,
    Positions,
    Preview,
    PreviewLeg,
    SpreadPosition,
    Store,
)

Plan = EntryPlan | ClosePlan

#: SPEC 5's picking rules lifted for a trader-chosen vertical (module doc): only the pair
#: he chose is a candidate, whatever its DTE, delta or reward/risk.
_MANUAL_RULES: dict[str, Any] = {
    "min_dte": 0,
    "max_dte": 100_000,
    "max_strikes_apart": 1,
    "min_delta": 0.0,
    "max_delta": 1.0,
    "min_reward_risk": 0.0,
}


@dataclass(slots=True)
class _PreviewState:
    """What is being previewed; ``closing`` set for a closing order. ``quantity`` and
    ``limit`` are the trader's choices (None: the plan's)."""

    symbol: str
    direction: Direction
    spot: float
    chain: OptionChain | None = None
    selection: SpreadSelection | None = None
    index: int = 0
    closing: SpreadPosition | None = None
    quantity: int | None = None
    limit: float | None = None
    plan: Plan | None = None
    refusal: PriceRefusal | None = None
    what_if: tuple[Any, WhatIfPreview] | None = None
    what_if_at: datetime | None = None
    pinned: bool = False
    manual: bool = False

    @property
    def entry(self) -> EntryPlan | None:
        return self.plan if isinstance(self.plan, EntryPlan) else None


def book_of(store: Store, today: date) -> Book:
    """SPEC 8's counts from the store (see :mod:`tui_trader.engine.preview`)."""
    intents = store.get(Orders).intents
    spreads = store.get(Positions).spreads
    return Book(
        open_spreads=open_spread_count(spreads, intents),
        entries_today=entries_on(intents, today),
        busy_underlyings=busy_underlyings(spreads, intents),
    )


class PreviewDesk:
    """The previewed order and its actions (module doc)."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        session: Session,
        marketdata: MarketData,
        orders: OrderManager,
        universe: Universe,
        desk: OrderDesk,
        *,
        clock: Callable[[], datetime],
        today: Callable[[], date],
        chain_timeout_s: float = 5.0,
        quote_timeout_s: float = 2.0,
        auto_what_if: bool = True,
    ) -> None:
        self._settings = settings
        self._store = store
        self._session = session
        self._md = marketdata
        self._orders = orders
        self._universe = universe
        self._desk = desk
        self._clock = clock
        self._today = today
        self._chain_timeout_s = chain_timeout_s
        self._quote_timeout_s = quote_timeout_s
        self._auto = auto_what_if
        self._reader = LegReader(marketdata, desk.quote_age)
        self._pv: _PreviewState | None = None
        self._lock = asyncio.Lock()

    # ------------------------------------------------------------------ legs

    def _legs(self, pv: _PreviewState) -> tuple[PreviewLeg, PreviewLeg] | None:
        if pv.closing is not None:
            lo, sh = pv.closing.legs
            return (
                self._reader.leg(lo.con_id, "BUY", lo.expiry, lo.strike, lo.right,
                          {k: v for k, v in (("bid", lo.bid), ("ask", lo.ask)) if v is not None}),
                self._reader.leg(sh.con_id, "SELL", sh.expiry, sh.strike, sh.right,
                          {k: v for k, v in (("bid", sh.bid), ("ask", sh.ask)) if v is not None}),
            )  # fmt: skip
        sel, chain = pv.selection, pv.chain
        if sel is None or chain is None or not 0 <= pv.index < len(sel):
            return None
        return (
            self._reader.chain_leg(chain, int(sel.long_row[pv.index]), "BUY"),
            self._reader.chain_leg(chain, int(sel.short_row[pv.index]), "SELL"),
        )

    # ------------------------------------------------------------------ planning

    def _account(self) -> AccountState:
        account = self._store.get(Account)
        nl = account.net_liquidation
        return AccountState(
            net_liquidation=nl if nl is not None else math.nan,
            connection_healthy=self._session.state is ConnectionState.CONNECTED,
            breakers=self._store.get(BreakerState),
        )

    def _entry_request(self, pv: _PreviewState, legs: tuple[PreviewLeg, ...]) -> EntryRequest:
        long_leg, short_leg = legs
        return EntryRequest(
            pv.symbol, pv.direction, leg_quote(long_leg), leg_quote(short_leg),
            quantity=pv.quantity, limit=pv.limit,
        )  # fmt: skip

    def _what_if_answer(self, pv: _PreviewState) -> WhatIfPreview | None:
        plan = pv.plan
        if plan is not None and pv.what_if is not None and pv.what_if[0] == plan.spec:
            return pv.what_if[1]
        return None

    def _what_if(self, pv: _PreviewState) -> WhatIf | None:
        if pv.what_if is None:
            return None
        spec, answer = pv.what_if
        return WhatIf(spec, answer.available_funds_after)

    def _live_natural(self, pv: _PreviewState) -> NaturalQuotes | None:
        """The combo's natural market from the legs' quotes now (None: not priceable)."""
        legs = self._legs(pv)
        if legs is None:
            return None
        nat = legs_natural(leg_quote(legs[0]), leg_quote(legs[1]))
        return None if isinstance(nat, PriceRefusal) else nat

    def _market_bounds(self, action: str, nat: NaturalQuotes) -> tuple[float, float]:
        """The lowest and highest limit the trader may set: on the tick grid inside the
        natural market (README: a limit never leaves it), a BUY also under the cost cap
        and at least one tick. ``core.limits`` lets a BUY rest below the bid (the walk
        starts from there); the preview does not offer that (issue 13, defect 9)."""
        ex, sel = self._settings.execution, self._settings.selection
        if action == "BUY":
            cap = sel.max_spread_cost / sel.multiplier
            _, hi = limit_bounds("BUY", nat, ex.combo_tick, cap)
            lo, _ = limit_bounds("SELL", nat, ex.combo_tick)  # the bid, up to the tick
            lo = min(max(lo, ex.combo_tick), hi)
            return lo, hi
        return limit_bounds("SELL", nat, ex.combo_tick)

    def _replan(self, pv: _PreviewState) -> str | None:
        """Plan the previewed order from the legs' live quotes and publish it; the problem
        in words when no order can be built (the slice then shows the legs and why)."""
        pv.plan, pv.refusal = None, None
        legs = self._legs(pv)
        if legs is None:
            self._publish(pv)
            return "No spread is selected."
        plan: Plan | Refusal
        nat = self._live_natural(pv)
        if pv.limit is not None and nat is not None:  # the market moved: keep it inside
            lo, hi = self._market_bounds("SELL" if pv.closing is not None else "BUY", nat)
            pv.limit = min(max(pv.limit, lo), hi)
        if pv.closing is not None:
            long_leg, short_leg = legs
            plan = plan_close(
                CloseRequest(
                    pv.symbol, pv.direction, leg_quote(long_leg), leg_quote(short_leg),
                    held=pv.closing.quantity, quantity=pv.quantity, limit=pv.limit,
                ),
                self._settings,
            )  # fmt: skip
        else:
            plan = plan_entry(
                self._entry_request(pv, legs),
                book_of(self._store, self._today()),
                self._account(),
                self._settings,
                self._what_if(pv),
            )
        if isinstance(plan, Refusal):
            pv.refusal = plan.price or PriceRefusal(RefusalCode.BAD_QUOTE, plan.message)
            self._publish(pv)
            return plan.message
        pv.plan = plan
        pv.quantity = plan.spec.quantity
        if pv.limit is not None:
            pv.limit = plan.spec.limit_price
        self._publish(pv)
        return None

    def _gate(self, pv: _PreviewState, legs: tuple[PreviewLeg, ...]) -> GateResult | None:
        """SPEC 8 for the planned opening order as things stand now (None for a close)."""
        entry = pv.entry
        if entry is None or len(legs) != 2:
            return None
        return entry_gate(
            entry,
            self._entry_request(pv, legs),
            book_of(self._store, self._today()),
            self._account(),
            self._settings,
            self._what_if(pv),
        )

    def _publish(self, pv: _PreviewState) -> None:
        """The Preview slice for the order as planned, with live legs and a fresh gate."""
        legs = self._legs(pv) or ()
        plan, entry = pv.plan, pv.entry
        spec = plan.spec if plan is not None else None
        wi = self._what_if_answer(pv)
        self._store.set(
            Preview,
            Preview(
                spec=spec,
                price=plan.price if plan is not None else pv.refusal,
                gate=self._gate(pv, legs),
                max_loss=entry.max_loss if entry is not None else None,
                updated_at=self._clock(),
                legs=legs,
                quantity=spec.quantity if spec is not None else None,
                natural_debit=plan.natural.ask if plan is not None else None,
                mid_debit=_mid_debit(legs),
                limit_debit=spec.limit_price if spec is not None else None,
                net_delta=net_greek(legs, "delta"),
                net_gamma=net_greek(legs, "gamma"),
                net_vega=net_greek(legs, "vega"),
                net_theta=net_greek(legs, "theta"),
                init_margin_change=wi.init_margin_change if wi else None,
                maint_margin_change=wi.maint_margin_change if wi else None,
                equity_with_loan_change=wi.equity_with_loan_change if wi else None,
                commission=wi.commission if wi else None,
                min_commission=wi.min_commission if wi else None,
                max_commission=wi.max_commission if wi else None,
                what_if_warning=wi.warning if wi else None,
                what_if_at=pv.what_if_at if wi else None,
            ),
        )

    def refresh(self) -> None:
        """Republish the preview with live leg quotes and a fresh gate verdict (quote ages,
        breakers, positions move); the order itself is not re-planned (module doc)."""
        pv = self._pv
        if pv is not None and not self._lock.locked():
            self._publish(pv)

    def release(self) -> None:
        pv, self._pv = self._pv, None
        if pv is not None and pv.chain is not None and pv.pinned:
            try:
                release_chain(self._md, pv.chain, pv.symbol)
            except Exception:
                logger.exception("releasing the {} chain failed", pv.symbol)

    def _verdict(self, problem: str | None) -> str:
        if problem is not None:
            return problem
        preview = self._store.get(Preview)
        spec = preview.spec
        if spec is None:
            return "No order."
        text = spec.describe()
        gate = preview.gate
        if gate is None:
            return text
        if gate.ok:
            return f"{text}: risk gates pass."
        code = gate.reason_code.value if gate.reason_code is not None else "REFUSED"
        return f"{text}: risk gate {code}: {gate.message}"

    async def _auto_what_if(self, pv: _PreviewState) -> None:
        if self._auto and pv.plan is not None and self._session.is_connected:
            await self._ask_what_if(pv)

    async def _ask_what_if(self, pv: _PreviewState) -> WhatIfPreview | None:
        if pv.plan is None:
            return None
        spec = pv.plan.spec
        result = await self._orders.what_if(spec)
        if self._pv is not pv or pv.plan is None or pv.plan.spec != spec:
            return result  # the preview moved on while IB answered
        pv.what_if = (spec, result)
        pv.what_if_at = self._clock()
        self._publish(pv)
        return result

    async def _after_change(self, pv: _PreviewState) -> str | None:
        problem = self._replan(pv)
        if problem is None:
            await self._auto_what_if(pv)
        return problem

    # ------------------------------------------------------------------ actions

    async def preview(self, symbol: str) -> Outcome:
        symbol = symbol.strip().upper()
        async with self._lock:
            return await self._preview(symbol)

    async def _preview(self, symbol: str) -> Outcome:
        row = self._universe.scan_row(symbol)
        if row is None:
            return Outcome(False, f"{symbol} is not in the last scan.")
        if row.direction not in ("LONG", "SHORT"):
            why = "both a LONG and a SHORT signal (CONFLICT)" if row.direction else "no signal"
            return Outcome(False, f"{symbol} has {why}: no spread to preview.")
        if not self._session.is_connected:
            return Outcome(False, "Not connected to IB: cannot fetch the option chain.")
        direction: Direction = "LONG" if row.direction == "LONG" else "SHORT"
        stock = await self._universe.stock(symbol)
        if stock is None:
            return Outcome(False, f"IB does not know {symbol}.")
        self.release()
        self._store.set(Preview, Preview(updated_at=self._clock()))
        quote = await underlying_quote(self._md, stock, timeout_s=self._quote_timeout_s)
        spot = spot_of(quote)
        if not (math.isfinite(spot) and spot > 0):
            spot = row.close if row.close is not None else math.nan
        if not (math.isfinite(spot) and spot > 0):
            return Outcome(False, f"{symbol}: no underlying price, so no chain.")
        try:
            chain = await fetch_chain(
                self._session.ib,
                self._md,
                symbol,
                direction,
                spot,
                self._settings.selection,
                self._today(),
                underlying_con_id=stock.conId,
                timeout_s=self._chain_timeout_s,
                release=False,
            )
        except ChainError as exc:
            return Outcome(False, str(exc))
        except (ConnectionError, TimeoutError) as exc:  # the connection dropped meanwhile
            why = str(exc) or type(exc).__name__
            return Outcome(False, f"{symbol}: the option chain could not be fetched ({why}).")
        selection = select_spreads(
            chain, spot, direction, self._today(), self._settings.selection, self._settings.pricing
        )
        pv = _PreviewState(symbol, direction, spot, chain, selection, 0, pinned=True)
        note = ""
        if not row.eligible:
            note = f" (not eligible: {', '.join(row.reasons)}; it cannot be sent)"
        return await self._show(pv, note)

    async def preview_spread(
        self,
        symbol: str,
        direction: Direction,
        spot: float,
        long_leg: Contract,
        short_leg: Contract,
    ) -> Outcome:
        """Preview the vertical a trader picked on the chain screen (module doc): only the
        legs are chosen differently from :meth:`preview`."""
        async with self._lock:
            if not self._session.is_connected:
                return Outcome(False, "Not connected to IB: cannot quote the legs.")
            if not (math.isfinite(spot) and spot > 0):
                return Outcome(False, f"{symbol}: no underlying price, so no preview.")
            self.release()
            self._store.set(Preview, Preview(updated_at=self._clock()))
            chain = await quote_chain(
                self._md, symbol, [long_leg, short_leg],
                timeout_s=self._chain_timeout_s, release=False,
            )  # fmt: skip
            rules = self._settings.selection.model_copy(update=_MANUAL_RULES)
            selection = select_spreads(
                chain, spot, direction, self._today(), rules, self._settings.pricing
            )
            pv = _PreviewState(symbol, direction, spot, chain, selection, 0, pinned=True)
            pv.manual = True
            return await self._show(pv, " (chosen on the chain)")

    async def _show(self, pv: _PreviewState, note: str) -> Outcome:
        """Publish a new entry preview of ``pv``'s selection and plan its first spread."""
        symbol, direction, selection = pv.symbol, pv.direction, pv.selection
        assert selection is not None
        self._pv = pv
        self._store.set(
            Candidates,
            Candidates((CandidateSet(symbol, direction, pv.spot, selection),), self._clock()),
        )
        kind = "bull call" if direction == "LONG" else "bear put"
        if len(selection) == 0:
            self._replan(pv)
            rejected = ", ".join(f"{k} {v}" for k, v in selection.rejected.items() if v)
            return Outcome(
                False,
                f"{symbol} {direction}: none of {selection.candidates} {kind} spreads passes "
                f"the rules (rejected: {rejected or 'none'}).",
            )
        problem = await self._after_change(pv)
        head = (
            f"{symbol} {direction}: {len(selection)} of {selection.candidates} {kind} spreads kept"
        )
        head += note
        return Outcome(problem is None, f"{head}. {self._verdict(problem)}")

    async def select_spread(self, index: int) -> Outcome:
        async with self._lock:
            pv = self._pv
            if pv is None or pv.selection is None:
                return Outcome(False, "No spreads are previewed.")
            if not 0 <= index < len(pv.selection):
                return Outcome(False, f"There is no spread #{index + 1}.")
            pv.index, pv.quantity, pv.limit = index, None, None
            problem = await self._after_change(pv)
            return Outcome(problem is None, f"#{index + 1}: {self._verdict(problem)}")

    async def adjust_quantity(self, delta: int) -> Outcome:
        async with self._lock:
            pv = self._pv
            if pv is None or pv.plan is None:
                return Outcome(False, "No order is previewed.")
            wanted = pv.plan.spec.quantity + delta
            cap = pv.closing.quantity if pv.closing is not None else None
            gate = self._store.get(Preview).gate
            if pv.closing is None and gate is not None and gate.contracts > 0:
                cap = gate.contracts
            if wanted < 1:
                return Outcome(False, "The quantity is already 1.")
            if cap is not None and wanted > cap:
                what = "held" if pv.closing is not None else "the risk gates allow"
                return Outcome(False, f"{cap} contract(s) is the most {what}.")
            pv.quantity = wanted
            problem = await self._after_change(pv)
            return Outcome(problem is None, f"Quantity {wanted}. {self._verdict(problem)}")

    async def adjust_limit(self, ticks: int) -> Outcome:
        async with self._lock:
            pv = self._pv
            if pv is None or pv.plan is None:
                return Outcome(False, "No order is previewed.")
            spec = pv.plan.spec
            if spec.limit_price is None:
                return Outcome(False, "A market order has no limit to move.")
            nat = self._live_natural(pv) or pv.plan.natural
            ex = self._settings.execution
            lo, hi = self._market_bounds(spec.action, nat)
            wanted = step_limit(spec.limit_price, ticks, ex.combo_tick)
            clamped = min(max(wanted, lo), hi)
            if clamped == spec.limit_price:
                edge = _edge(spec.action, nat, ticks > 0, lo, hi)
                return Outcome(
                    False, f"The limit {clamped:.2f} is already at the {edge}: it stays inside "
                    f"the natural market {nat.bid:.2f}/{nat.ask:.2f}.",
                )  # fmt: skip
            pv.limit = clamped
            problem = await self._after_change(pv)
            note = ""
            if clamped != wanted:
                note = f" (held at the {_edge(spec.action, nat, ticks > 0, lo, hi)})"
            return Outcome(problem is None, f"Limit {clamped:.2f}{note}. {self._verdict(problem)}")

    async def refresh_what_if(self) -> Outcome:
        async with self._lock:
            pv = self._pv
            if pv is None or pv.plan is None:
                return Outcome(False, "No order is previewed.")
            problem = self._replan(pv)  # from the quotes now: `w` (and a stale `t`) re-price
            if problem is not None:
                return Outcome(False, problem)
            result = await self._ask_what_if(pv)
            if result is None:
                return Outcome(False, "No order is previewed.")
            if not result.ok:
                return Outcome(False, f"No what-if answer: {result.warning}")
            warn = f" IB warns: {result.warning}" if result.warning else ""
            funds = result.available_funds_after
            shown = "unknown" if funds is None else f"{funds:,.2f}"
            return Outcome(
                True,
                f"What-if: margin {result.init_margin_change:+,.2f}, commission "
                f"{(result.commission or 0.0):,.2f}, funds after {shown}. "
                f"{self._verdict(None)}{warn}",
            )

    async def preview_close(self, spread_key: str) -> Outcome:
        async with self._lock:
            spreads = self._store.get(Positions).spreads
            sp = find_spread(spreads, spread_key)
            if sp is None:
                return Outcome(False, f"No open spread {spread_key!r}.")
            if len(sp.legs) != 2 or sp.direction not in ("LONG", "SHORT"):
                return Outcome(
                    False,
                    f"{sp.underlying}: only a vertical debit spread can be closed here; "
                    "close other positions in TWS.",
                )
            self.release()
            direction: Direction = "LONG" if sp.direction == "LONG" else "SHORT"
            spot = self._universe.spot(sp.underlying) or math.nan
            pv = _PreviewState(sp.underlying, direction, spot, closing=sp, quantity=sp.quantity)
            self._pv = pv
            problem = await self._after_change(pv)
            return Outcome(problem is None, f"Close {sp.underlying}: {self._verdict(problem)}")

    async def transmit(self) -> Outcome:
        """Send the planned order through the order desk (module doc)."""
        async with self._lock:
            pv = self._pv
            if pv is None or pv.plan is None:
                return Outcome(False, "Nothing to transmit: no order is previewed.")
            plan = pv.plan
            gate: GateResult | None = None
            max_debit: float | None = None
            if isinstance(plan, EntryPlan):
                gate = self._gate(pv, self._legs(pv) or ())
                self._store.update(Preview, gate=gate)
                max_debit = plan.worst_debit
            wi = self._what_if_answer(pv)
            out, intent = await self._desk.submit(
                plan.spec,
                gate,
                max_debit=max_debit,
                what_if_warning=wi.warning if wi is not None else None,
                manual=pv.manual,
            )
            if intent is not None:
                self.release()
                self._store.set(Preview, Preview(updated_at=self._clock()))
            return out


def _edge(action: str, nat: NaturalQuotes, up: bool, lo: float, hi: float) -> str:
    """Which bound a limit moving ``up`` (or down) stopped at, in words."""
    if not up:
        return f"natural bid {lo:.2f}" if lo >= nat.bid - 1e-9 else f"lowest limit {lo:.2f}"
    if action == "BUY" and hi < nat.ask - 1e-9:
        return f"cost cap {hi:.2f}"
    return f"natural ask {hi:.2f}"


def _mid_debit(legs: tuple[PreviewLeg, ...]) -> float | None:
    """Long mid minus short mid, per share; None when either is unknown."""
    if len(legs) != 2 or legs[0].mid is None or legs[1].mid is None:
        return None
    return legs[0].mid - legs[1].mid
