"""SPEC 5-8 for one chosen spread: the entry decision and the closing decision, as pure
functions every path calls -- the preview a trader looks at, the auto-trader and the
backtester. Nothing here fetches, waits or sends: the caller gathers the legs' quotes,
the book and the account, and gets back the exact order (or why there is none).

Why one function and not a copy per path: the steps from a chosen spread to an order
(natural quotes -> limit -> worst debit -> size -> gate -> order spec) are where a sign
error or a stale number costs money. The manual preview and the auto-trader must reach the
same order from the same inputs, and a test of one is a test of both.

Decisions (the README carries them):

- **One planning pass, two gate checks.** The contract count comes from sizing with the
  buying-power gate deferred (IB's what-if needs the count first); the trader's quantity
  may lower it, never raise it. The gate is then checked for *this* order with IB's
  what-if answer when (and only when) that answer is for the identical spec: an answer
  for another quantity or limit is no answer.
- **The trader's limit** is kept on the tick grid inside the natural market (and the cost
  cap for a BUY); see :mod:`tui_trader.core.limits`. Without one, SPEC 6's first price.
- **Worst debit** (``max(limit, natural ask)`` capped by the cost cap) sizes the order,
  so a walk toward the ask never pays more than the gates allowed for.
- **Underlying IV** for the IV gate is the long leg's IV (close to at-the-money).
- **A plan is not a permission.** :class:`EntryPlan` carries the gate verdict; whether it
  may be *sent* (session, quote age at the moment of sending, kill switch, mode) is the
  order desk's single pre-send check (:func:`send_problem`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal

from tui_trader.core.limits import clamp_limit, mid_of, worst_debit
from tui_trader.core.models import SpreadLeg, SpreadOrderSpec
from tui_trader.core.pricing import (
    Action,
    NaturalQuotes,
    OrderPrice,
    PriceRefusal,
    limit_price,
    natural_quotes,
)
from tui_trader.core.risk import (
    BreakerState,
    BreakerStatus,
    GateCode,
    GateResult,
    RiskInputs,
    check_entry,
)
from tui_trader.core.settings import Settings

Direction = Literal["LONG", "SHORT"]
Right = Literal["C", "P"]


def _num(x: float | None) -> float:
    return math.nan if x is None else float(x)


@dataclass(frozen=True, slots=True)
class LegQuote:
    """One option leg as the planner sees it: identity, live quote, IV and quote age.

    ``bid``/``ask`` None (or NaN) mean no usable quote; ``age_s`` None means unknown (a
    gate treats it as stale)."""

    con_id: int
    expiry: str
    strike: float
    right: Right
    bid: float | None
    ask: float | None
    iv: float | None = None
    age_s: float | None = None

    @property
    def mid(self) -> float | None:
        return mid_of(self.bid, self.ask)


@dataclass(frozen=True, slots=True)
class Book:
    """What is open and working, counted as SPEC 8's gates count it (see
    :mod:`tui_trader.engine.preview` for how the engine counts them)."""

    open_spreads: int = 0
    entries_today: int = 0
    busy_underlyings: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class AccountState:
    """The account as the gates need it. ``net_liquidation`` NaN when unknown;
    ``connection_healthy`` is the session's CONNECTED state (not DEGRADED)."""

    net_liquidation: float
    connection_healthy: bool = True
    breakers: BreakerState = field(default_factory=BreakerState)


@dataclass(frozen=True, slots=True)
class WhatIf:
    """IB's what-if answer: the available funds after ``spec`` (None: IB gave none)."""

    spec: SpreadOrderSpec
    available_funds_after: float | None


@dataclass(frozen=True, slots=True)
class EntryRequest:
    """A chosen spread to open: ``long`` is bought, ``short`` sold. ``quantity`` and
    ``limit`` are the trader's overrides (None: the planner's size and SPEC 6's price)."""

    symbol: str
    direction: Direction
    long: LegQuote
    short: LegQuote
    quantity: int | None = None
    limit: float | None = None


@dataclass(frozen=True, slots=True)
class EntryPlan:
    """The opening order for a request, with everything that justified it.

    ``worst_debit`` is per share; ``gate`` is SPEC 8's verdict for this exact order
    (``ok`` only with a what-if answer for it). ``max_loss`` is in account currency."""

    spec: SpreadOrderSpec
    price: OrderPrice
    natural: NaturalQuotes
    worst_debit: float
    mid_debit: float | None
    gate: GateResult
    max_loss: float

    @property
    def ok(self) -> bool:
        return self.gate.ok


@dataclass(frozen=True, slots=True)
class ClosePlan:
    """The SELL that closes ``spec.quantity`` units of a spread, priced as SPEC 6 says."""

    spec: SpreadOrderSpec
    price: OrderPrice
    natural: NaturalQuotes
    mid_value: float | None


@dataclass(frozen=True, slots=True)
class Refusal:
    """No order can be built: the reason in one sentence (``price`` set for a pricing
    refusal, so a screen can say which quote was bad)."""

    message: str
    price: PriceRefusal | None = None


def legs_natural(long: LegQuote, short: LegQuote) -> NaturalQuotes | PriceRefusal:
    """The combo's natural market from its two legs' quotes (a missing quote is NaN, so
    :func:`natural_quotes` refuses it): the planners' and the preview's one reading."""
    return natural_quotes(_num(long.bid), _num(long.ask), _num(short.bid), _num(short.ask))


def _mid_spread(long: LegQuote, short: LegQuote) -> float | None:
    lm, sm = long.mid, short.mid
    return None if lm is None or sm is None else lm - sm


def _spec(
    symbol: str,
    direction: Direction,
    long: LegQuote,
    short: LegQuote,
    action: Action,
    quantity: int,
    price: OrderPrice,
    settings: Settings,
) -> SpreadOrderSpec:
    def leg(q: LegQuote, side: Literal["BUY", "SELL"]) -> SpreadLeg:
        return SpreadLeg(
            con_id=q.con_id,
            symbol=symbol,
            expiry=q.expiry,
            strike=q.strike,
            right=q.right,
            action=side,
        )

    return SpreadOrderSpec(
        underlying=symbol,
        direction=direction,
        legs=(leg(long, "BUY"), leg(short, "SELL")),
        action=action,
        quantity=quantity,
        order_type=price.order_type,
        limit_price=price.limit,
        mode=settings.execution.mode,
    )


def _risk_inputs(
    req: EntryRequest,
    worst: float,
    book: Book,
    account: AccountState,
    settings: Settings,
    funds: float | None,
) -> RiskInputs:
    m = settings.selection.multiplier
    return RiskInputs(
        open_spreads=book.open_spreads,
        entries_today=book.entries_today,
        net_liquidation=account.net_liquidation,
        max_loss_per_contract=worst * m,
        limit_price=worst,
        multiplier=m,
        available_funds_after=funds,
        underlying_iv=req.long.iv,
        underlying=req.symbol,
        busy_underlyings=book.busy_underlyings,
        connection_healthy=account.connection_healthy,
        leg_quote_ages_s=(req.long.age_s, req.short.age_s),
        breakers=account.breakers,
    )


def plan_entry(
    req: EntryRequest,
    book: Book,
    account: AccountState,
    settings: Settings,
    what_if: WhatIf | None = None,
) -> EntryPlan | Refusal:
    """The opening BUY for ``req`` (module doc), or why no order can be priced.

    A plan whose gate fails is still a plan (the preview shows the order and the reason);
    only unpriceable quotes are a :class:`Refusal`."""
    ex, sel = settings.execution, settings.selection
    cap = sel.max_spread_cost / sel.multiplier
    nat = legs_natural(req.long, req.short)
    if isinstance(nat, PriceRefusal):
        return Refusal(nat.message, nat)
    price = limit_price("BUY", nat.bid, nat.ask, ex, max_debit=cap)
    if isinstance(price, PriceRefusal):
        return Refusal(price.message, price)
    if price.limit is not None and req.limit is not None:
        price = replace(price, limit=clamp_limit("BUY", req.limit, nat, ex.combo_tick, cap))
    worst = worst_debit(price.limit, nat.ask, cap)
    sized = check_entry(_risk_inputs(req, worst, book, account, settings, None), settings.risk)
    qty = req.quantity if req.quantity is not None else sized.contracts
    if sized.contracts > 0:
        qty = min(qty, sized.contracts)
    qty = max(1, qty)
    spec = _spec(req.symbol, req.direction, req.long, req.short, "BUY", qty, price, settings)
    gate = _gate(spec, req, worst, book, account, settings, what_if)
    return EntryPlan(
        spec=spec,
        price=price,
        natural=nat,
        worst_debit=worst,
        mid_debit=_mid_spread(req.long, req.short),
        gate=gate,
        max_loss=worst * sel.multiplier * qty,
    )


def _gate(
    spec: SpreadOrderSpec,
    req: EntryRequest,
    worst: float,
    book: Book,
    account: AccountState,
    settings: Settings,
    what_if: WhatIf | None,
) -> GateResult:
    funds = what_if.available_funds_after if what_if is not None and what_if.spec == spec else None
    return check_entry(_risk_inputs(req, worst, book, account, settings, funds), settings.risk)


def entry_gate(
    plan: EntryPlan,
    req: EntryRequest,
    book: Book,
    account: AccountState,
    settings: Settings,
    what_if: WhatIf | None = None,
) -> GateResult:
    """SPEC 8 for an order already planned, as things stand now: ``req`` carries the legs'
    current quote ages and IV, ``book``/``account`` the current counts and breakers. The
    order itself (size, limit, worst debit) is the plan's: a verdict never re-prices."""
    return _gate(plan.spec, req, plan.worst_debit, book, account, settings, what_if)


@dataclass(frozen=True, slots=True)
class CloseRequest:
    """Close ``quantity`` (None: all) of ``held`` units of the spread long/short."""

    symbol: str
    direction: Direction
    long: LegQuote
    short: LegQuote
    held: int
    quantity: int | None = None
    limit: float | None = None


def plan_close(req: CloseRequest, settings: Settings) -> ClosePlan | Refusal:
    """The SELL that closes a debit spread (SPEC 6/9): same legs as the opening combo
    (BUY long, SELL short), action SELL, never gated by SPEC 8 (a halt never blocks an
    exit). The quantity is kept within what is held; the trader's limit within the
    natural market, never below zero."""
    if req.held < 1:
        return Refusal(f"{req.symbol}: no spread units are held, so there is nothing to close.")
    nat = legs_natural(req.long, req.short)
    if isinstance(nat, PriceRefusal):
        return Refusal(nat.message, nat)
    ex = settings.execution
    price = limit_price("SELL", nat.bid, nat.ask, ex)
    if isinstance(price, PriceRefusal):
        return Refusal(price.message, price)
    if price.limit is not None and req.limit is not None:
        price = replace(price, limit=clamp_limit("SELL", req.limit, nat, ex.combo_tick))
    qty = min(max(1, req.quantity if req.quantity is not None else req.held), req.held)
    spec = _spec(req.symbol, req.direction, req.long, req.short, "SELL", qty, price, settings)
    return ClosePlan(
        spec=spec, price=price, natural=nat, mid_value=_mid_spread(req.long, req.short)
    )


@dataclass(frozen=True, slots=True)
class SendContext:
    """The world at the moment of sending, for the one pre-send check.

    The engine's order desk fills what it knows (session state, the legs' quote ages now,
    breakers, whether the scan still backs an entry, the journal, IB's what-if warning);
    the order manager adds what only the broker knows (the account's mode, an active order
    on the same legs, the connection itself) just before the wire. ``leg_ages_s`` None
    means no quote; ``journal_problem`` is why the journal cannot be written, a sentence
    without its full stop; ``same_legs_order`` is (intent id, status) of an active order on the
    same legs, UNKNOWN ones included (until resolved a second one could duplicate it)."""

    session_ok: bool
    session_state: str
    leg_ages_s: tuple[float | None, ...]
    stale_quote_s: float
    breakers: BreakerState = field(default_factory=BreakerState)
    mode_problem: str | None = None
    tradable: bool = True
    tradable_why: str = ""
    journal_problem: str | None = None
    what_if_warning: str | None = None
    execution_mode: str | None = None
    same_legs_order: tuple[str, str] | None = None
    max_spread_cost: float | None = None
    multiplier: int = 100


def send_problem(spec: SpreadOrderSpec, gate: GateResult | None, ctx: SendContext) -> str | None:
    """Why ``spec`` must not be sent now, in one sentence; None when it may be.

    The one pre-send check for every order, typed or automatic, in this order: the
    journal, the mode the spec was priced for, the kill switch and breakers (opening
    orders only: exits are always allowed), the session, the legs' quote ages, the
    account's mode; for an opening order the scan still backing it and SPEC 8's verdict
    for this exact order, its size and the cost cap; last, an active order on the same
    legs."""
    if ctx.journal_problem is not None:
        return (
            f"{ctx.journal_problem}; nothing was sent (every order is journaled before it "
            "goes to IB)."
        )
    if ctx.execution_mode is not None and spec.mode != ctx.execution_mode:
        return (
            f"The order was priced for {spec.mode} trading but [execution] mode is "
            f"{ctx.execution_mode}: refusing to send it."
        )
    opening = spec.action == "BUY"
    if opening and ctx.breakers.status is BreakerStatus.HALTED:
        return (
            f"Trading is halted ({ctx.breakers.reason}): no new entries; closing orders are "
            "still allowed."
        )
    if not ctx.session_ok:
        return (
            f"Not connected to IB (the session is {ctx.session_state}, not CONNECTED): "
            "nothing was sent."
        )
    if len(ctx.leg_ages_s) != len(spec.legs) or any(
        a is None or not a < ctx.stale_quote_s for a in ctx.leg_ages_s
    ):
        ages = ", ".join("none" if a is None else f"{a:.1f} s" for a in ctx.leg_ages_s)
        return (
            f"A leg quote is stale (ages {ages or 'none'}; they must be younger than "
            f"{ctx.stale_quote_s:g} s): nothing was sent."
        )
    if ctx.mode_problem is not None:
        return ctx.mode_problem
    if opening:
        problem = _entry_problem(spec, gate, ctx)
        if problem is not None:
            return problem
    if ctx.same_legs_order is not None:
        intent_id, status = ctx.same_legs_order
        return f"Order {intent_id} on the same legs is {status}; resolve it before sending another."
    return None


def _entry_problem(spec: SpreadOrderSpec, gate: GateResult | None, ctx: SendContext) -> str | None:
    if not ctx.tradable:
        return f"{spec.underlying} is {ctx.tradable_why}: nothing was sent."
    if gate is None:
        return "The risk gates have not been checked for this opening order."
    if not gate.ok:
        if gate.reason_code is GateCode.WHATIF_PENDING:
            why = "IB's what-if answer for this exact order is missing (ask again: w)"
            if ctx.what_if_warning:
                why += f"; IB said: {ctx.what_if_warning}"
            return f"Risk gate WHATIF_PENDING: {why}."
        code = gate.reason_code.value if gate.reason_code is not None else "REFUSED"
        return f"Risk gate {code}: {gate.message}"
    if spec.quantity > gate.contracts:
        return f"{spec.quantity} contracts exceed the {gate.contracts} the risk gates passed."
    lim, cap, m = spec.limit_price, ctx.max_spread_cost, ctx.multiplier
    if cap is not None and lim is not None and lim * m > cap + 1e-9:
        return (
            f"A debit of {lim:.2f} costs {lim * m:,.2f} per spread, above max_spread_cost "
            f"{cap:,.2f}."
        )
    return None
