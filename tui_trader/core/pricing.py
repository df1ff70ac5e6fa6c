"""SPEC 6: combo order prices, price walking and the paper/live account check.

Conventions, decided here and relied on by the engine:

- Prices are **per share** of the combo (multiply by the contract multiplier for dollars).
  Every opening order is ``BUY`` of a debit spread; every closing order is ``SELL`` of it.
- Quotes that cannot be priced do not raise: the functions return a :class:`PriceRefusal`
  with a reason code and a one-sentence message, so a forgotten ``try`` can never crash the
  engine or, worse, send an order at a garbage price.
- Rounding works in integer ticks on :class:`~decimal.Decimal` values built from the
  floats' shortest repr, so 1.8499999999 artefacts never leak into a limit (1.85 stays 1.85).
  A price is rounded to the nearest tick, ties toward *our* side (a BUY tie rounds down, a
  SELL tie rounds up), and then kept on the grid inside ``[natural_bid, natural_ask]``: a BUY
  is never rounded above the natural ask and a SELL never below the natural bid. When no
  tick lies inside the market (off-grid quotes closer than one tick) a BUY falls back to the
  highest tick below the natural ask and a SELL to the lowest tick above the natural bid:
  the passive side, never the one that pays more than the market.
- A BUY limit is always positive: a natural debit (natural ask) <= 0 is refused, as is one
  below one tick, and a BUY limit that lands at or below zero (wide market with a negative
  natural bid) is raised to one tick. We never buy a combo for a credit.
- A SELL limit is never negative: a debit spread is worth at least zero at expiry, so
  paying to close one is never better than letting it expire. When the natural bid is
  negative the SELL limit is floored at 0.00.
- IB's "no value" markers (-1, -2, 1.7976931348623157e308) are refused even on combo-level
  natural quotes: a real natural bid of exactly -1.00 is possible but rare, and refusing it
  is safe, whereas taking a marker for a price is not.
- Paper walking: SPEC 6 walks live orders. A paper LMT order already sits at the far side;
  on each walk step it is re-pegged to the *current* far side (so it stays marketable when
  the market moves) and it is cancelled after ``walk_max_steps`` like a live one. A paper MKT
  order is never replaced, only cancelled after the same number of intervals.
- Walking re-prices from the *current* natural quotes at fraction
  ``price_improvement_factor + step * walk_step`` of the natural spread (capped at the far
  side), rather than adding steps to the first limit: a first limit from quotes that have
  since moved is stale, and anchoring on it would pay the ask as soon as the market fell.
  Chasing a rising market is bounded by ``max_debit``: the engine should pass
  ``min(max_spread_cost / multiplier, natural debit used for sizing)`` so that a walk never
  pays more per share than the risk gates sized the position for.
- An order placed at a limit of its own (the trader moved it, e.g. a BUY below the natural
  bid) walks from *its* place, not from the configured one: its start is the fraction of
  the natural spread its limit sat at when placed (:func:`walk_start`, negative below the
  bid), and step k prices at that fraction plus ``k * walk_step`` of the *current* spread.
  So each step moves it ``walk_step`` of the spread toward the far side (SPEC 6), a paper
  one included, instead of jumping to the configured price; below our side of the market
  it is not pulled into the market, only the far side and ``max_debit`` bound it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum
from typing import Literal

from tui_trader.core.markers import IB_UNSET_DOUBLE
from tui_trader.core.settings import ExecutionSettings

Action = Literal["BUY", "SELL"]
OrderType = Literal["LMT", "MKT"]
Mode = Literal["paper", "live"]

_IB_MARKERS = (-1.0, -2.0)
_HALF = Decimal("0.5")


class RefusalCode(StrEnum):
    """Why no order price could be produced."""

    #: NaN / infinite / IB marker / crossed (bid > ask) quotes, or a bad leg quote.
    BAD_QUOTE = "BAD_QUOTE"
    #: An opening BUY whose natural debit is <= 0 or below one tick.
    NO_DEBIT = "NO_DEBIT"
    #: The debit cap is below one tick, or a MKT order whose natural ask exceeds the cap.
    MAX_COST = "MAX_COST"


#: Where an order placed at a limit of its own started: (distance of its limit from our side
#: of the natural market, the natural spread), both per share (see :func:`walk_start`).
WalkStart = tuple[Decimal, Decimal]


@dataclass(frozen=True, slots=True)
class PriceRefusal:
    """No price: the order must not be sent (or, mid-walk, not be replaced)."""

    code: RefusalCode
    message: str


@dataclass(frozen=True, slots=True)
class NaturalQuotes:
    """The combo's natural market per share: what we could sell at (bid) and buy at (ask)."""

    bid: float
    ask: float

    @property
    def spread(self) -> float:
        return self.ask - self.bid


@dataclass(frozen=True, slots=True)
class OrderPrice:
    """What to send: ``limit`` is per share on the ``combo_tick`` grid; None for a MKT order."""

    action: Action
    order_type: OrderType
    limit: float | None
    natural_bid: float
    natural_ask: float


def _is_marker_or_bad(x: float) -> bool:
    return not math.isfinite(x) or abs(x) >= IB_UNSET_DOUBLE or x in _IB_MARKERS


def _leg_problem(name: str, bid: float, ask: float) -> str | None:
    """SPEC 5's bad-quote rule for one leg; the problem in words, or None when usable."""
    if _is_marker_or_bad(bid) or _is_marker_or_bad(ask):
        return f"{name} leg has no usable quote (bid {bid!r}, ask {ask!r})"
    if ask <= 0:
        return f"{name} leg has no offer (ask {ask})"
    if bid < 0:
        return f"{name} leg bid {bid} is negative"
    if bid > ask:
        return f"{name} leg quote is crossed (bid {bid} > ask {ask})"
    return None


def natural_quotes(
    long_bid: float, long_ask: float, short_bid: float, short_ask: float
) -> NaturalQuotes | PriceRefusal:
    """Combo natural bid/ask from the two legs (SPEC 6), refusing bad leg quotes (SPEC 5).

    natural_bid = long.bid - short.ask (sell the long, buy back the short);
    natural_ask = long.ask - short.bid (buy the long, sell the short). A short leg bid of 0
    is valid (nobody bids a far out-of-the-money option).
    """
    for name, bid, ask in (("long", long_bid, long_ask), ("short", short_bid, short_ask)):
        problem = _leg_problem(name, bid, ask)
        if problem is not None:
            return PriceRefusal(RefusalCode.BAD_QUOTE, f"Cannot price the combo: {problem}.")
    nb = _dec(long_bid) - _dec(short_ask)
    na = _dec(long_ask) - _dec(short_bid)
    return NaturalQuotes(bid=float(nb), ask=float(na))


def _dec(x: float) -> Decimal:
    """The decimal a human reads for ``x`` (shortest repr), not its binary expansion."""
    return Decimal(repr(float(x)))


def _combo_problem(natural_bid: float, natural_ask: float) -> str | None:
    if _is_marker_or_bad(natural_bid) or _is_marker_or_bad(natural_ask):
        return (
            f"the natural quotes are unusable (bid {natural_bid!r}, ask {natural_ask!r}; "
            "NaN, infinite or an IB no-value marker)"
        )
    if natural_bid > natural_ask:
        return f"the natural quotes are crossed (bid {natural_bid} > ask {natural_ask})"
    return None


def _fraction(execution: ExecutionSettings, step: int) -> Decimal:
    """How far from our side toward the far side the limit sits: 0 = our side, 1 = far side."""
    base = Decimal(1) if execution.mode == "paper" else _dec(execution.price_improvement_factor)
    return min(Decimal(1), base + step * _dec(execution.walk_step))


def _round_buy(x: Decimal) -> int:
    """Nearest integer, ties down (toward the cheaper BUY)."""
    return int((x - _HALF).to_integral_value(rounding=ROUND_CEILING))


def _round_sell(x: Decimal) -> int:
    """Nearest integer, ties up (toward the richer SELL)."""
    return int((x + _HALF).to_integral_value(rounding=ROUND_FLOOR))


def _ceil(x: Decimal) -> int:
    return int(x.to_integral_value(rounding=ROUND_CEILING))


def _floor(x: Decimal) -> int:
    return int(x.to_integral_value(rounding=ROUND_FLOOR))


def _price(
    action: Action,
    natural_bid: float,
    natural_ask: float,
    execution: ExecutionSettings,
    step: int,
    max_debit: float | None,
    start: WalkStart | None = None,
) -> OrderPrice | PriceRefusal:
    """The price at walk step ``step``: at fraction ``_fraction`` of the natural spread from
    our side, or, for an order placed at a limit of its own (``start``), at the same
    fraction of the market it was placed in plus ``step * walk_step`` (module doc)."""
    problem = _combo_problem(natural_bid, natural_ask)
    if problem is not None:
        return PriceRefusal(RefusalCode.BAD_QUOTE, f"Cannot price the {action}: {problem}.")
    if action == "BUY" and natural_ask <= 0:
        return PriceRefusal(
            RefusalCode.NO_DEBIT,
            f"Refusing to open: the natural debit {natural_ask:.2f} is not positive "
            "(we never buy a combo for a credit).",
        )
    if action == "SELL":
        max_debit = None  # a cap on what we pay never stops us from closing
    if max_debit is not None and (not math.isfinite(max_debit) or max_debit <= 0):
        return PriceRefusal(
            RefusalCode.MAX_COST, f"Refusing to buy: the debit cap {max_debit!r} is not positive."
        )
    tick = _dec(execution.combo_tick)
    nb, na = _dec(natural_bid), _dec(natural_ask)
    cap = None if max_debit is None else _floor(_dec(max_debit) / tick)
    if cap is not None and cap < 1:
        return PriceRefusal(
            RefusalCode.MAX_COST,
            f"Refusing to buy: the debit cap {max_debit} is below one tick ({tick}).",
        )

    paper_mkt = execution.mode == "paper" and execution.paper_order_type == "MKT"
    if paper_mkt:
        if max_debit is not None and na > _dec(max_debit):
            return PriceRefusal(
                RefusalCode.MAX_COST,
                f"Refusing a market order: the natural debit {natural_ask:.2f} exceeds the "
                f"cap of {max_debit:.2f} per share.",
            )
        return OrderPrice(action, "MKT", None, natural_bid, natural_ask)

    lo, hi = _ceil(nb / tick), _floor(na / tick)  # the on-grid ticks inside the market
    if start is None:
        moved = (na - nb) * _fraction(execution, step)
        inside = True
    else:  # a limit of its own: the same place in today's market, plus the steps taken
        away, spread = start  # placed in a locked market (spread 0): away is absolute
        here = (na - nb) * away / spread if spread > 0 else away
        moved = here + (na - nb) * step * _dec(execution.walk_step)
        inside = moved >= 0  # below the bid (BUY) / above the ask (SELL): left there
    if action == "BUY":
        n = _round_buy((nb + moved) / tick)
        if not inside:
            n = min(n, hi)  # below the bid by the trader's choice: only the far side bounds it
        elif lo <= hi:
            n = min(max(n, lo), hi)
        else:
            n = hi
        if cap is not None:
            n = min(n, cap)
        if n < 1:
            if hi < 1:
                return PriceRefusal(
                    RefusalCode.NO_DEBIT,
                    f"Refusing to open: the natural debit {natural_ask} is below one tick "
                    f"({tick}).",
                )
            n = 1
    else:
        n = _round_sell((na - moved) / tick)
        if not inside:
            n = max(n, lo)  # above the ask by the trader's choice: only the far side bounds it
        elif lo <= hi:
            n = min(max(n, lo), hi)
        else:
            n = lo
        n = max(n, 0)
    return OrderPrice(action, "LMT", float(n * tick), natural_bid, natural_ask)


def limit_price(
    action: Action,
    natural_bid: float,
    natural_ask: float,
    execution: ExecutionSettings,
    *,
    max_debit: float | None = None,
) -> OrderPrice | PriceRefusal:
    """The first price of an order (SPEC 6), or why there is none.

    Paper: BUY at the natural ask, SELL at the natural bid (or MKT when
    ``paper_order_type`` is "MKT"). Live: BUY = bid + (ask - bid) * factor, SELL =
    ask - (ask - bid) * factor. ``max_debit`` (per share) caps a BUY limit; it does not
    apply to SELL. See the module doc for rounding and the refusals.
    """
    return _price(action, natural_bid, natural_ask, execution, 0, max_debit)


def walk_price(
    action: Action,
    natural_bid: float,
    natural_ask: float,
    step_index: int,
    execution: ExecutionSettings,
    *,
    max_debit: float | None = None,
) -> OrderPrice | PriceRefusal | None:
    """The price at walk step ``step_index`` (1 = first re-price); None once past the last.

    None means the walk is over and the order must be cancelled (``step_index >
    walk_max_steps``). Step 0 is :func:`limit_price`.
    """
    if step_index < 0:
        raise ValueError(f"step_index must be >= 0, got {step_index}")
    if step_index > execution.walk_max_steps:
        return None
    return _price(action, natural_bid, natural_ask, execution, step_index, max_debit)


class WalkKind(StrEnum):
    """What the engine should do with a working order now."""

    WAIT = "WAIT"  # nothing to send; ask again at ``due``
    REPLACE = "REPLACE"  # re-price the unfilled quantity at ``limit``
    CANCEL = "CANCEL"  # walk exhausted: cancel the unfilled quantity
    DONE = "DONE"  # fully filled


@dataclass(frozen=True, slots=True)
class WalkState:
    """One working order's walk. ``last_step_at`` is when the current price went out;
    ``start`` is where an order placed at a limit of its own sat in its market (see
    :func:`walk_start`), None when it was placed where :func:`limit_price` puts it."""

    action: Action
    total_qty: int
    step: int
    last_step_at: datetime
    limit: float | None
    start: WalkStart | None = None


@dataclass(frozen=True, slots=True)
class WalkAction:
    """The decision and the state to keep for the next call.

    ``quantity`` is the unfilled quantity (``total_qty - filled``): only that is replaced or
    cancelled. ``reason`` explains a WAIT that consumed a step without replacing (unusable
    quotes, unchanged price) or a CANCEL.
    """

    kind: WalkKind
    state: WalkState
    limit: float | None = None
    quantity: int = 0
    due: datetime | None = None
    reason: str = ""


def walk_start(
    placed: OrderPrice, execution: ExecutionSettings, *, max_debit: float | None = None
) -> WalkStart | None:
    """Where ``placed`` sits in the natural market it was placed in, as (distance from our
    side, natural spread): None when its limit is the one :func:`limit_price` gives for
    those quotes (the walk follows ``price_improvement_factor + step * walk_step``), for a
    MKT order, and when the quotes are unusable or crossed. Placed in a locked market
    (spread 0), the distance is kept in price units.

    A limit the trader set by hand (below the natural bid, say) walks from there: step k
    sits ``k * walk_step`` of the natural spread closer to the far side than the limit sat
    in its market, re-measured in the current market each step.
    """
    limit = placed.limit
    if limit is None or _combo_problem(placed.natural_bid, placed.natural_ask) is not None:
        return None
    scheduled = limit_price(
        placed.action, placed.natural_bid, placed.natural_ask, execution, max_debit=max_debit
    )
    if isinstance(scheduled, OrderPrice) and scheduled.limit == limit:
        return None
    nb, na = _dec(placed.natural_bid), _dec(placed.natural_ask)
    spread = na - nb
    away = _dec(limit) - nb if placed.action == "BUY" else na - _dec(limit)
    return (away, spread)


def start_walk(
    placed: OrderPrice,
    total_qty: int,
    now: datetime,
    *,
    execution: ExecutionSettings | None = None,
    max_debit: float | None = None,
) -> WalkState:
    """The walk state of an order that has just been placed at ``placed`` (with
    ``execution``: one placed at a limit of its own walks from it, see :func:`walk_start`)."""
    if total_qty < 1:
        raise ValueError(f"total_qty must be >= 1, got {total_qty}")
    start = None if execution is None else walk_start(placed, execution, max_debit=max_debit)
    return WalkState(placed.action, total_qty, 0, now, placed.limit, start)


def next_walk_action(
    state: WalkState,
    now: datetime,
    natural_bid: float,
    natural_ask: float,
    filled_qty: int,
    execution: ExecutionSettings,
    *,
    max_debit: float | None = None,
) -> WalkAction:
    """Decide, at ``now``, what to do with a working order (SPEC 6 walking).

    At most one step is taken per call, and the next step is due ``walk_interval_s`` after
    the call that took this one (so a late call never fires a burst of replaces). A step
    whose price cannot be computed (bad quotes) or equals the working limit is consumed
    without a replace: the working order, priced from good quotes, stays. After
    ``walk_max_steps`` steps the next due call cancels.
    """
    filled = max(0, filled_qty)
    remaining = state.total_qty - filled
    if remaining <= 0:
        return WalkAction(WalkKind.DONE, state, reason="fully filled")
    due = state.last_step_at + timedelta(seconds=execution.walk_interval_s)
    if now < due:
        return WalkAction(WalkKind.WAIT, state, quantity=remaining, due=due)
    step = state.step + 1
    if step > execution.walk_max_steps:
        return WalkAction(
            WalkKind.CANCEL,
            state,
            quantity=remaining,
            reason=(
                f"{remaining} of {state.total_qty} still unfilled after "
                f"{execution.walk_max_steps} walk steps"
            ),
        )
    next_due = now + timedelta(seconds=execution.walk_interval_s)
    price = _price(state.action, natural_bid, natural_ask, execution, step, max_debit, state.start)
    if isinstance(price, PriceRefusal):
        stepped = replace(state, step=step, last_step_at=now)
        reason = f"kept the working order: {price.message}"
        return WalkAction(WalkKind.WAIT, stepped, quantity=remaining, due=next_due, reason=reason)
    if price.order_type == "MKT" or price.limit == state.limit:
        stepped = replace(state, step=step, last_step_at=now)
        return WalkAction(
            WalkKind.WAIT, stepped, quantity=remaining, due=next_due, reason="price unchanged"
        )
    stepped = replace(state, step=step, last_step_at=now, limit=price.limit)
    return WalkAction(
        WalkKind.REPLACE, stepped, limit=price.limit, quantity=remaining, due=next_due
    )


def mask_account_id(account_id: str) -> str:
    """Enough of an account id to recognise it on screen or in a log, not to reuse it."""
    s = account_id.strip()
    if len(s) >= 8:
        return f"{s[:2]}…{s[-3:]}"
    if len(s) >= 2:
        return f"{s[0]}…"
    return "…"


def check_account_mode(mode: Mode, account_id: str | None) -> str | None:
    """None when the configured ``mode`` matches the account; otherwise why we refuse.

    IB paper accounts start with "D" (DU…); anything else is treated as live. The message
    never shows the full account id.
    """
    s = (account_id or "").strip()
    if not s:
        return "IB reported no account id, so paper or live cannot be verified: refusing to trade."
    is_paper = s.upper().startswith("D")
    masked = mask_account_id(s)
    if mode == "paper" and not is_paper:
        return (
            f"Configured for paper trading but connected to live account {masked} "
            '(paper accounts start with "D"): refusing to trade.'
        )
    if mode == "live" and is_paper:
        return (
            f"Configured for live trading but connected to paper account {masked}: refusing "
            'to trade; set [execution] mode = "paper" or connect the live account.'
        )
    return None
