"""The simulated exchange and paper account: orders, fills, positions, P&L, margin.

It is independent of client connections: the gateway hands it decoded orders and turns
the events it returns into TWS messages for every client. With a ``state_path`` every
change is persisted, so a killed gateway restarts with the same account.

Order handling (decisions where IB leaves room):
- Validation, in this order; the first failure rejects the order: unknown contract (error
  200 "No security definition has been found for the request"); then error 201 "Order
  rejected - reason:..." for a wrong account, a non-positive or fractional quantity, a
  missing/non-finite limit, a malformed combo (legs must be distinct listed options of
  one underlying with ratio >= 1), a negative option/stock limit, a BUY combo with a
  limit <= 0 while the combo is a debit (the app never buys for a credit; a sign slip
  must not go unnoticed), a limit too far through the market (BUY above the natural ask,
  or SELL below the natural bid, by more than max(5 ticks, 50 %) for options and combos,
  max(5 ticks, 10 %) for stocks), a market order with no market on the side it needs,
  then a pending ``reject_next``, then insufficient funds (AvailableFunds after the fill
  would be negative; margin model in :mod:`tui_trader.sim.account`).
- A rejected order ends ``Cancelled`` with error 201 (or 200), not ``Inactive``:
  ib_insync cancels a trade on error 201 but would flip it back to a not-done state on an
  ``Inactive`` orderStatus, and a client awaiting ``isDone()`` would hang.
- Marketable on arrival (BUY limit >= natural ask, SELL limit <= natural bid, or MKT):
  fills at once at the natural price (the taker gets the book). A resting limit fills
  when the market moves through it, at its limit (the maker gets its price); a combo's
  leg prices are then the natural ones adjusted (first bought leg, else the others) so
  they add up to the limit exactly. Combo natural prices: ask = sum(bought legs' ask *
  ratio) - sum(sold legs' bid * ratio), bid = sum(bought bids) - sum(sold asks).
- Outside regular hours orders wait as ``PreSubmitted`` and arrive at the next open.
  ``DAY`` orders are cancelled at their session's close (``GTC`` orders are not).
- ``partial_fills``: each fill step (the arrival, then each ``on_market``) fills at most
  ceil(quantity / 3) units, so any order of 2+ units fills in 2-3 pieces.
- Re-placing a working order id is a modification (price, quantity, type). A done order
  id raises ExchangeError(103, duplicate id). A modification that fails validation
  cancels the order (error 201), so the client (which cancels on 201) and the exchange
  agree.
- Commissions: options $0.65 per contract per leg (no minimum, as specified), on the leg
  executions; the combo's own execution carries 0. Stocks: $0.005 per share, at least
  $1.00 per execution (IB's fixed rate).
- Executions: one per leg plus one for the BAG (contract None); execIds
  ``{account hash:08x}.{sequence:08x}.01.01`` (IB's shape), unique across restarts.
- Expired options are settled at the close of their expiry day in cash at intrinsic
  value against the underlying's mid at that close (real equity options deliver shares;
  the demo has no use for exercise into stock), with no commission and no execution
  report: an open spread leaves the account as its width times the legs' moneyness, and
  its legs' positions go to 0. The exchange settles at the market's session end (see
  :meth:`Market.on_session_end`), so a clock that skips the night settles at Friday's
  close, not at Monday's price; a position that expired while a persisted gateway was
  down settles at the first look, against the mid then.
- Day P&L is NetLiquidation minus its value at the previous session's close (the marks
  taken at the market's session end; at the first look otherwise), so it is the change
  since the close, overnight gap included.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from tui_trader.core.markers import usable_number
from tui_trader.sim.account import Holding, Ledger, margin_requirement, multiplier
from tui_trader.sim.clock import et_date
from tui_trader.sim.exchange_state import ExchangeState, StateFileError, load, save
from tui_trader.sim.market import Market
from tui_trader.sim.types import (
    UNSET_DOUBLE,
    AccountEvent,
    Action,
    Contract,
    ExchangeEvent,
    Execution,
    FillEvent,
    OptionContract,
    OrderEvent,
    OrderRequest,
    OrderState,
    PnL,
    Position,
    PositionEvent,
    StockContract,
    WhatIf,
)

WORKING: frozenset[str] = frozenset({"PendingSubmit", "PreSubmitted", "Submitted"})
PERM_ID_START = 1_500_000_001
STOCK_COMMISSION_PER_SHARE = 0.005
STOCK_MIN_COMMISSION = 1.0
FAR_TICKS = 5
FAR_SHARE_OPTIONS = 0.5
FAR_SHARE_STOCKS = 0.10
MARK_EMIT_STEP = 0.005  # re-send a position when its mark moved at least this much
ACCOUNT_EMIT_SECONDS = 1.0  # at most one mark-driven account update per real second
NO_SECURITY = "No security definition has been found for the request"


class ExchangeError(Exception):
    """A request the exchange refuses outright (the gateway sends it as an error message)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class _Leg:
    contract: Contract
    ratio: int
    sign: int  # +1: bought when the order BUYs, -1: sold


@dataclass(frozen=True, slots=True)
class _Natural:
    bid: float
    ask: float
    mid: float
    leg_bid: tuple[float, ...]  # each leg's price when the order SELLs
    leg_ask: tuple[float, ...]  # each leg's price when the order BUYs


def _key(order: OrderRequest) -> tuple[int, int]:
    return (order.client_id, order.order_id)


def _copy(state: OrderState) -> OrderState:
    return dataclasses.replace(state)


def _money(x: float) -> str:
    return f"{x:.2f}"


class Exchange:
    """The simulated exchange and paper account (module doc)."""

    def __init__(
        self,
        market: Market,
        account: str = "DU123456",
        starting_cash: float = 100_000.0,
        commission_per_leg_contract: float = 0.65,
        state_path: Path | None = None,
        partial_fills: bool = False,
    ) -> None:
        self._market = market
        self.account = account
        self._commission = float(commission_per_leg_contract)
        self._state_path = state_path
        self.partial_fills = partial_fills
        self._orders: dict[tuple[int, int], OrderState] = {}
        self._order_session: dict[tuple[int, int], date] = {}
        self._arrived: set[tuple[int, int]] = set()
        self._executions: list[Execution] = []
        self._ledger = Ledger(starting_cash)
        self._next_perm = PERM_ID_START
        self._exec_seq = 0
        self._exec_prefix = zlib.crc32(account.encode())
        self._rejects: list[str] = []
        self._emitted_marks: dict[int, float] = {}
        self._last_account_at = -math.inf
        self._last_account: dict[str, tuple[str, str]] = {}
        self._pending: list[ExchangeEvent] = []  # from the session end, for on_market
        self._closing_marks: dict[int, float] | None = None
        market.on_session_end(self._on_session_end)

        loaded = None if state_path is None else load(state_path)
        if loaded is not None:
            assert state_path is not None
            if loaded.account != account:
                raise StateFileError(
                    state_path, f"holds account {loaded.account!r}, not {account!r}"
                )
            self._restore(loaded)
        if self._ledger.day is None:
            self._ledger.start_day(market.session_day(), self._marks())
            self._persist()

    # --- persistence --------------------------------------------------------------------

    def _restore(self, st: ExchangeState) -> None:
        ledger = self._ledger
        ledger.cash = st.cash
        ledger.holdings = {h.contract.con_id: h for h in st.holdings}
        ledger.day = st.day
        ledger.day_start_net_liq = st.day_start_net_liq
        ledger.realized_today = st.realized_today
        ledger.day_base_value = st.day_base_value
        ledger.day_flow = st.day_flow
        ledger.day_realized = st.day_realized
        self._next_perm = st.next_perm_id
        self._exec_seq = st.exec_seq
        self._executions = list(st.executions)
        for order, session in st.orders:
            key = _key(order.request)
            self._orders[key] = order
            self._order_session[key] = session
            if order.status in WORKING:
                self._arrived.add(key)  # it rested before the restart
        for h in st.holdings:
            if isinstance(h.contract, OptionContract):
                self._market.register_option(h.contract)
        for order in self._orders.values():
            if order.status in WORKING and isinstance(order.request.contract, OptionContract):
                self._market.register_option(order.request.contract)

    def _persist(self) -> None:
        if self._state_path is None:
            return
        ledger = self._ledger
        state = ExchangeState(
            account=self.account,
            cash=ledger.cash,
            next_perm_id=self._next_perm,
            exec_seq=self._exec_seq,
            holdings=list(ledger.holdings.values()),
            orders=[(o, self._order_session[k]) for k, o in self._orders.items()],
            executions=list(self._executions),
            day=ledger.day,
            day_start_net_liq=ledger.day_start_net_liq,
            realized_today=ledger.realized_today,
            day_base_value=dict(ledger.day_base_value),
            day_flow=dict(ledger.day_flow),
            day_realized=dict(ledger.day_realized),
        )
        save(state, self._state_path)

    # --- small helpers ------------------------------------------------------------------

    def next_perm_id(self) -> int:
        perm = self._next_perm
        self._next_perm += 1
        return perm

    def _next_exec_id(self) -> str:
        self._exec_seq += 1
        return f"{self._exec_prefix:08x}.{self._exec_seq:08x}.01.01"

    def _quote(self, contract: Contract) -> tuple[float, float, float]:
        """(bid, ask, mark) of a contract now; mark is the mid (the model price for an
        option without a two-sided market)."""
        if isinstance(contract, StockContract):
            q = self._market.quote(contract.symbol)
            return q.bid, q.ask, 0.5 * (q.bid + q.ask)
        oq = self._market.option_quote(contract.con_id)
        bid, ask = oq.quote.bid, oq.quote.ask
        if usable_number(bid) and usable_number(ask) and ask > 0:
            return bid, ask, 0.5 * (bid + ask)
        return bid, ask, oq.model_greeks.option_price

    def _marks(self) -> dict[int, float]:
        return {cid: self._quote(h.contract)[2] for cid, h in self._ledger.holdings.items()}

    def _spots(self, symbols: Sequence[str]) -> dict[str, float]:
        return {s: self._market.mid(s) for s in set(symbols)}

    def _order_commission(self, legs: Sequence[_Leg], qty: float) -> float:
        return sum(self._leg_commission(leg.contract, qty * leg.ratio) for leg in legs)

    def _leg_commission(self, contract: Contract, units: float) -> float:
        if isinstance(contract, StockContract):
            return round(max(STOCK_MIN_COMMISSION, STOCK_COMMISSION_PER_SHARE * units), 4)
        return round(self._commission * units, 4)

    # --- resolution and validation ------------------------------------------------------

    def _legs(self, order: OrderRequest) -> list[_Leg] | None:
        """The order's legs with live contracts; None when a contract is unknown."""
        if order.sec_type == "BAG":
            legs = []
            for leg in order.legs:
                contract = self._market.contract(leg.con_id)
                if contract is None:
                    return None
                legs.append(_Leg(contract, leg.ratio, 1 if leg.action == "BUY" else -1))
            return legs
        if order.contract is None:
            return None
        contract = self._market.contract(order.contract.con_id)
        if contract is None or contract.sec_type != order.sec_type:
            return None
        return [_Leg(contract, 1, 1)]

    def _natural(self, legs: Sequence[_Leg]) -> _Natural:
        bid = ask = mid = 0.0
        leg_bid: list[float] = []
        leg_ask: list[float] = []
        for leg in legs:
            b, a, m = self._quote(leg.contract)
            if leg.sign > 0:
                ask += leg.ratio * a
                bid += leg.ratio * b
                leg_ask.append(a)
                leg_bid.append(b)
            else:
                ask -= leg.ratio * b
                bid -= leg.ratio * a
                leg_ask.append(b)
                leg_bid.append(a)
            mid += leg.sign * leg.ratio * m
        # sums of tick prices: drop the float noise (9.8 - 7.25 = 2.5500000000000007)
        return _Natural(round(bid, 8), round(ask, 8), mid, tuple(leg_bid), tuple(leg_ask))

    def _structure_problem(self, order: OrderRequest, legs: Sequence[_Leg]) -> str | None:
        if order.account and order.account != self.account:
            return f"account {order.account} is not managed by this gateway"
        qty = order.quantity
        if not (usable_number(qty) and qty > 0 and float(qty).is_integer()):
            return f"order quantity {qty} must be a positive whole number"
        if order.order_type == "LMT" and not usable_number(order.limit_price):
            return "a limit order needs a limit price"
        if order.sec_type == "BAG":
            if not legs:
                return "a combo order needs legs"
            if any(not isinstance(leg.contract, OptionContract) for leg in legs):
                return "combo legs must be options"
            if len({leg.contract.symbol for leg in legs}) != 1:
                return "combo legs must share one underlying"
            if len({leg.contract.con_id for leg in legs}) != len(legs):
                return "combo legs must be distinct contracts"
            if any(leg.ratio < 1 for leg in legs):
                return "combo leg ratios must be >= 1"
        return None

    def _price_problem(
        self, order: OrderRequest, legs: Sequence[_Leg], nat: _Natural
    ) -> str | None:
        is_stock = order.sec_type == "STK"
        buy = order.action == "BUY"
        if order.order_type == "MKT":
            side = nat.ask if buy else nat.bid
            if not usable_number(side) or (order.sec_type != "BAG" and side <= 0):
                return "no market to fill a market order against"
            return None
        limit = order.limit_price
        assert limit is not None
        if order.sec_type != "BAG" and (limit < 0 or (is_stock and limit == 0)):
            return f"limit price {limit} must be positive"
        if order.sec_type == "BAG" and buy and limit <= 0 and nat.mid > 0:
            return (
                f"BUY combo limit {limit:.2f} <= 0 for a debit combo "
                f"(mid {nat.mid:.2f}); a debit is a positive limit"
            )
        share = FAR_SHARE_STOCKS if is_stock else FAR_SHARE_OPTIONS
        ref = nat.ask if buy else nat.bid
        if not usable_number(ref):
            return None  # no market to compare with: the order rests
        band = max(FAR_TICKS * 0.01, share * abs(ref))
        if buy and limit > ref + band:
            return f"price too far: BUY limit {limit:.2f} > ask {ref:.2f} + {band:.2f}"
        if not buy and limit < ref - band:
            return f"price too far: SELL limit {limit:.2f} < bid {ref:.2f} - {band:.2f}"
        return None

    def _after_fill(self, legs: Sequence[_Leg], buy: bool, qty: float,
                    leg_prices: Sequence[float]) -> tuple[float, float, float, float]:  # fmt: skip
        """(net liq, margin) before and after a hypothetical fill, marking the order's
        contracts at their fill prices afterwards."""
        marks = self._marks()
        holdings = {cid: (h.contract, h.quantity) for cid, h in self._ledger.holdings.items()}
        symbols = [c.symbol for c, _ in holdings.values()] + [leg.contract.symbol for leg in legs]
        spots = self._spots(symbols)
        net_before = self._ledger.cash + sum(
            q * marks[cid] * multiplier(c) for cid, (c, q) in holdings.items()
        )
        margin_before = margin_requirement(holdings.values(), marks, spots)
        cash = self._ledger.cash
        after = dict(holdings)
        marks_after = dict(marks)
        direction = 1 if buy else -1
        for leg, price in zip(legs, leg_prices, strict=True):
            units = qty * leg.ratio
            signed = direction * leg.sign * units
            m = multiplier(leg.contract)
            cash -= signed * price * m + self._leg_commission(leg.contract, units)
            cid = leg.contract.con_id
            old = after.get(cid, (leg.contract, 0.0))[1]
            after[cid] = (leg.contract, old + signed)
            marks_after[cid] = price
        net_after = cash + sum(
            q * marks_after[cid] * multiplier(c) for cid, (c, q) in after.items()
        )
        margin_after = margin_requirement(after.values(), marks_after, spots)
        return net_before, margin_before, net_after, margin_after

    def _funds_problem(self, legs: Sequence[_Leg], buy: bool, qty: float,
                       leg_prices: Sequence[float]) -> str | None:  # fmt: skip
        _, margin_before, net_after, margin_after = self._after_fill(legs, buy, qty, leg_prices)
        if net_after - margin_after >= 0 or margin_after <= margin_before:
            return None
        return (
            "YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE DESIRED POSITION YOUR EQUITY "
            f"WITH LOAN VALUE [{net_after:.2f} USD] MUST EXCEED THE INITIAL MARGIN "
            f"[{margin_after:.2f} USD]"
        )

    def _expected_leg_prices(self, order: OrderRequest, nat: _Natural) -> list[float]:
        """Leg prices the order would fill at now: natural if marketable, else its limit."""
        buy = order.action == "BUY"
        natural = list(nat.leg_ask if buy else nat.leg_bid)
        if order.order_type == "MKT" or self._marketable(order, nat):
            return natural
        assert order.limit_price is not None
        return _allocate(natural, self._legs_signs(order), order.limit_price,
                         nat.ask if buy else nat.bid)  # fmt: skip

    def _legs_signs(self, order: OrderRequest) -> list[tuple[int, int]]:
        if order.sec_type != "BAG":
            return [(1, 1)]
        return [(g.ratio, 1 if g.action == "BUY" else -1) for g in order.legs]

    @staticmethod
    def _marketable(order: OrderRequest, nat: _Natural) -> bool:
        if order.order_type == "MKT":
            return True
        limit = order.limit_price
        assert limit is not None
        if order.action == "BUY":
            return (
                usable_number(nat.ask)
                and (order.sec_type == "BAG" or nat.ask > 0)
                and limit >= nat.ask - 1e-9
            )
        return (
            usable_number(nat.bid)
            and (order.sec_type == "BAG" or nat.bid > 0)
            and limit <= nat.bid + 1e-9
        )

    # --- placing ------------------------------------------------------------------------

    def reject_next(self, reason: str) -> None:
        """Reject the next placed order (or modification) with error 201 and ``reason``."""
        self._rejects.append(reason)

    def _reject(self, order: OrderRequest, code: int, reason: str,
                existing: OrderState | None = None) -> list[ExchangeEvent]:  # fmt: skip
        key = _key(order)
        if existing is None:
            state = OrderState(order, self.next_perm_id(), "Cancelled", remaining=order.quantity)
            self._order_session[key] = self._market.session_day()
        else:
            state = existing
            state.status = "Cancelled"
        state.reject_reason = reason
        self._orders[key] = state
        self._arrived.discard(key)
        text = NO_SECURITY if code == 200 else f"Order rejected - reason:{reason}"
        self._persist()
        return [OrderEvent(_copy(state), error_code=code, error_text=text)]

    def place(self, order: OrderRequest) -> list[ExchangeEvent]:
        """Validate and accept an order, filling what is marketable (module doc)."""
        if order.what_if:
            raise ValueError("what-if orders go to Exchange.what_if, not Exchange.place")
        key = _key(order)
        existing = self._orders.get(key)
        if existing is not None and existing.status not in WORKING:
            raise ExchangeError(103, f"Duplicate order id {order.order_id}")
        if existing is not None and not self._same_instrument(existing.request, order):
            return self._reject(order, 201, "a modification must not change the contract",
                                existing)  # fmt: skip

        legs = self._legs(order)
        if legs is None:
            return self._reject(order, 200, "unknown contract", existing)
        nat = self._natural(legs)
        problem = self._structure_problem(order, legs)
        if problem is None:
            problem = self._price_problem(order, legs, nat)
        if problem is None and self._rejects:
            problem = self._rejects.pop(0)
        if problem is None and existing is not None and order.quantity < existing.filled:
            problem = f"quantity {order.quantity} is below the filled {existing.filled}"
        if problem is None:
            prices = self._expected_leg_prices(order, nat)
            remaining = order.quantity - (0.0 if existing is None else existing.filled)
            problem = self._funds_problem(legs, order.action == "BUY", remaining, prices)
        if problem is not None:
            return self._reject(order, 201, problem, existing)

        market = self._market
        open_now = market.is_open()
        if existing is None:
            session = market.session_day()
            if market.time() >= market.session_close():
                session = market.next_session_day()
            state = OrderState(order, self.next_perm_id(), "Submitted", remaining=order.quantity)
            self._order_session[key] = session
        else:
            state = existing
            state.request = order
            state.remaining = order.quantity - state.filled
            self._arrived.discard(key)
        state.status = "Submitted" if open_now else "PreSubmitted"
        self._orders[key] = state
        events: list[ExchangeEvent] = [OrderEvent(_copy(state))]
        if open_now:
            events += self._try_fill(key, legs)
        if any(isinstance(e, FillEvent) for e in events):
            events.append(AccountEvent(self._account_values_now()))
        self._persist()
        return events

    @staticmethod
    def _same_instrument(old: OrderRequest, new: OrderRequest) -> bool:
        if old.sec_type != new.sec_type or old.action != new.action:
            return False
        if old.sec_type == "BAG":
            return [(g.con_id, g.ratio, g.action) for g in old.legs] == [
                (g.con_id, g.ratio, g.action) for g in new.legs
            ]
        return (old.contract is not None and new.contract is not None
                and old.contract.con_id == new.contract.con_id)  # fmt: skip

    def _try_fill(self, key: tuple[int, int], legs: Sequence[_Leg]) -> list[ExchangeEvent]:
        """Fill what the market allows now (arrival: natural price; resting: its limit)."""
        state = self._orders[key]
        order = state.request
        nat = self._natural(legs)
        arrival = key not in self._arrived
        self._arrived.add(key)
        if not self._marketable(order, nat):
            return []
        buy = order.action == "BUY"
        natural = list(nat.leg_ask if buy else nat.leg_bid)
        natural_combo = nat.ask if buy else nat.bid
        if arrival or order.order_type == "MKT":
            leg_prices, combo_price = natural, natural_combo
        else:
            assert order.limit_price is not None
            combo_price = order.limit_price
            leg_prices = _allocate(natural, self._legs_signs(order), combo_price, natural_combo)
        qty = state.remaining
        if self.partial_fills:
            qty = min(qty, float(math.ceil(order.quantity / 3.0)))
        problem = self._funds_problem(legs, buy, qty, leg_prices)
        if problem is not None:
            state.status = "Cancelled"
            state.reject_reason = problem
            self._arrived.discard(key)
            return [OrderEvent(_copy(state), 201, f"Order rejected - reason:{problem}")]
        return self._fill(state, legs, qty, leg_prices, combo_price)

    def _fill(self, state: OrderState, legs: Sequence[_Leg], qty: float,
              leg_prices: Sequence[float], combo_price: float) -> list[ExchangeEvent]:  # fmt: skip
        order = state.request
        now = self._market.clock.now()
        direction = 1 if order.action == "BUY" else -1
        # A combo's natural price is a sum of leg prices: round away the float noise.
        combo_price = round(combo_price, 8)
        leg_prices = [round(p, 8) for p in leg_prices]
        fills: list[ExchangeEvent] = []
        positions: list[ExchangeEvent] = []
        prior_exec = [e for e in self._executions if e.perm_id == state.perm_id]
        total_commission = 0.0
        for leg, price in zip(legs, leg_prices, strict=True):
            units = qty * leg.ratio
            action: Action = "BUY" if direction * leg.sign > 0 else "SELL"
            commission = self._leg_commission(leg.contract, units)
            total_commission += commission
            result = self._ledger.apply_fill(leg.contract, action, units, price, commission)
            cid = leg.contract.con_id
            before = [e for e in prior_exec if e.contract is not None and e.contract.con_id == cid]
            cum = sum(e.shares for e in before) + units
            # Rounded like IB reports prices: binary float noise (235.77000000000004) must
            # not reach a client's screen or its reconciliation arithmetic.
            avg = round((sum(e.shares * e.price for e in before) + units * price) / cum, 8)
            execution = Execution(
                exec_id=self._next_exec_id(),
                order_id=order.order_id,
                client_id=order.client_id,
                perm_id=state.perm_id,
                contract=leg.contract,
                bag_symbol=leg.contract.symbol,
                time=now,
                account=self.account,
                exchange=self._venue(leg.contract),
                side="BOT" if action == "BUY" else "SLD",
                shares=units,
                price=price,
                cum_qty=cum,
                avg_price=avg,
                order_ref=order.order_ref,
                commission=commission,
                realized_pnl=UNSET_DOUBLE if result.realized is None else result.realized,
            )
            self._executions.append(execution)
            fills.append(FillEvent(execution))
            positions.append(PositionEvent(self._position_of(leg.contract)))

        new_filled = state.filled + qty
        state.avg_fill_price = round(
            (state.avg_fill_price * state.filled + combo_price * qty) / new_filled, 8
        )
        state.filled = new_filled
        state.remaining = order.quantity - new_filled
        state.last_fill_price = combo_price
        state.commission = round(state.commission + total_commission, 4)
        if order.sec_type == "BAG":
            bag = Execution(
                exec_id=self._next_exec_id(),
                order_id=order.order_id,
                client_id=order.client_id,
                perm_id=state.perm_id,
                contract=None,
                bag_symbol=order.symbol or legs[0].contract.symbol,
                time=now,
                account=self.account,
                exchange="SMART",
                side="BOT" if direction > 0 else "SLD",
                shares=qty,
                price=combo_price,
                cum_qty=new_filled,
                avg_price=state.avg_fill_price,
                order_ref=order.order_ref,
                commission=0.0,
                realized_pnl=UNSET_DOUBLE,
            )
            self._executions.append(bag)
            fills.append(FillEvent(bag))
        if state.remaining <= 0:
            state.status = "Filled"
            self._arrived.discard(_key(order))
        return [*fills, OrderEvent(_copy(state)), *positions]

    @staticmethod
    def _venue(contract: Contract) -> str:
        return contract.primary_exchange if isinstance(contract, StockContract) else "CBOE"

    def _position_of(self, contract: Contract) -> Position:
        mark = self._quote(contract)[2]
        self._emitted_marks[contract.con_id] = mark
        held = self._ledger.holdings.get(contract.con_id)
        if held is None:
            realized = self._ledger.day_realized.get(contract.con_id, 0.0)
            return Position(contract, 0.0, 0.0, mark, 0.0, 0.0, realized)
        return self._ledger.position(held, mark)

    # --- what-if, cancel ----------------------------------------------------------------

    def what_if(self, order: OrderRequest) -> WhatIf:
        """Margin and commission preview; ExchangeError(200) for an unknown contract."""
        legs = self._legs(order)
        if legs is None:
            raise ExchangeError(200, NO_SECURITY)
        warning = self._structure_problem(order, legs) or ""
        nat = self._natural(legs)
        buy = order.action == "BUY"
        qty = order.quantity if usable_number(order.quantity) and order.quantity > 0 else 0.0
        if warning or (order.order_type == "LMT" and not usable_number(order.limit_price)):
            prices = list(nat.leg_ask if buy else nat.leg_bid)
        else:
            warning = self._price_problem(order, legs, nat) or ""
            prices = self._expected_leg_prices(order, nat)
        if not all(usable_number(p) for p in prices):
            prices = [0.0 if not usable_number(p) else p for p in prices]
            warning = warning or "no market for a leg: margin estimated at zero price"
        net_before, margin_before, net_after, margin_after = self._after_fill(
            legs, buy, qty, prices
        )
        commission = self._order_commission(legs, qty)
        return WhatIf(
            init_margin_before=margin_before,
            maint_margin_before=margin_before,
            equity_with_loan_before=net_before,
            init_margin_change=margin_after - margin_before,
            maint_margin_change=margin_after - margin_before,
            equity_with_loan_change=net_after - net_before,
            init_margin_after=margin_after,
            maint_margin_after=margin_after,
            equity_with_loan_after=net_after,
            commission=commission,
            min_commission=commission,
            max_commission=commission,
            warning=warning,
        )

    def cancel(self, client_id: int, order_id: int) -> list[ExchangeEvent]:
        """Cancel a working order (error 202 as IB confirms a cancel)."""
        state = self._orders.get((client_id, order_id))
        if state is None:
            raise ExchangeError(
                10147, f"OrderId {order_id} that needs to be cancelled is not found."
            )
        if state.status not in WORKING:
            raise ExchangeError(
                10148,
                f"OrderId {order_id} that needs to be cancelled cannot be cancelled, "
                f"state: {state.status}.",
            )
        state.status = "Cancelled"
        self._arrived.discard((client_id, order_id))
        self._persist()
        return [OrderEvent(_copy(state), error_code=202, error_text="Order Canceled - reason:")]

    def cancel_all(self) -> list[ExchangeEvent]:
        """Cancel every working order (reqGlobalCancel)."""
        events: list[ExchangeEvent] = []
        for client_id, order_id in [k for k, o in self._orders.items() if o.status in WORKING]:
            events += self.cancel(client_id, order_id)
        return events

    # --- the market moved ---------------------------------------------------------------

    def on_market(self) -> list[ExchangeEvent]:
        """After Market.advance(): roll the day, expire DAY orders, fill resting orders the
        market moved through, settle expired options, re-mark positions."""
        market = self._market
        events, self._pending = self._pending, []
        changed = bool(events)
        if self._ledger.day != market.session_day():
            self._start_day()
            changed = True
        now = market.time()
        for key, state in list(self._orders.items()):
            if state.status not in WORKING:
                continue
            session = self._order_session[key]
            if state.request.tif != "GTC" and now >= market.close_of(session):
                state.status = "Cancelled"
                self._arrived.discard(key)
                events.append(OrderEvent(_copy(state)))
                changed = True
                continue
            if not market.is_open() or market.session_day() < session:
                continue
            if state.status == "PreSubmitted":
                state.status = "Submitted"
                events.append(OrderEvent(_copy(state)))
                changed = True
            legs = self._legs(state.request)
            if legs is None:
                continue
            filled = self._try_fill(key, legs)
            if filled:
                events += filled
                changed = True
        settled = self._settle_expired()
        if settled:
            events += settled
            changed = True
        events += self._remark()
        fills = any(isinstance(e, FillEvent) for e in events)
        values = self._account_values_now()
        mono = market.clock.monotonic()
        if (
            changed
            or fills
            or (
                values != self._last_account
                and mono - self._last_account_at >= ACCOUNT_EMIT_SECONDS
            )
        ):
            events.append(AccountEvent(values))
            self._last_account = values
            self._last_account_at = mono
        if changed:
            self._persist()
        return events

    def _on_session_end(self) -> None:
        """At the close (the market's session-end hook): settle the day's expiries against
        the closing mids and keep the closing marks for the next day's P&L baseline."""
        self._pending += self._settle_expired()
        self._closing_marks = self._marks()

    def _start_day(self) -> None:
        today = self._market.session_day()
        closing, self._closing_marks = self._closing_marks or {}, None
        marks = {cid: closing.get(cid, mark) for cid, mark in self._marks().items()}
        self._ledger.start_day(today, marks)
        self._executions = [e for e in self._executions if et_date(e.time) >= today]
        for key, state in list(self._orders.items()):
            if state.status not in WORKING and self._order_session[key] < today:
                del self._orders[key]
                del self._order_session[key]

    def _settle_expired(self) -> list[ExchangeEvent]:
        events: list[ExchangeEvent] = []
        now = self._market.time()
        for holding in list(self._ledger.holdings.values()):
            c = holding.contract
            if not isinstance(c, OptionContract) or now < self._market.expiry_close(c.expiry):
                continue
            spot = self._market.settlement_price(c.symbol, c.expiry)
            value = max(spot - c.strike, 0.0) if c.right == "C" else max(c.strike - spot, 0.0)
            action: Action = "SELL" if holding.quantity > 0 else "BUY"
            self._ledger.apply_fill(c, action, abs(holding.quantity), value, 0.0)
            events.append(PositionEvent(self._position_of(c)))
        return events

    def _remark(self) -> list[ExchangeEvent]:
        events: list[ExchangeEvent] = []
        for cid, holding in self._ledger.holdings.items():
            mark = self._quote(holding.contract)[2]
            last = self._emitted_marks.get(cid)
            if last is None or not math.isfinite(last) or abs(mark - last) >= MARK_EMIT_STEP:
                self._emitted_marks[cid] = mark
                events.append(PositionEvent(self._ledger.position(holding, mark)))
        return events

    # --- views --------------------------------------------------------------------------

    def open_orders(self) -> list[OrderState]:
        return [_copy(o) for o in self._orders.values() if o.status in WORKING]

    def completed_orders(self) -> list[OrderState]:
        return [_copy(o) for o in self._orders.values() if o.status not in WORKING]

    def order(self, client_id: int, order_id: int) -> OrderState | None:
        found = self._orders.get((client_id, order_id))
        return None if found is None else _copy(found)

    def executions(self) -> list[Execution]:
        """Today's executions (since the current session's date began), oldest first."""
        today = self._market.session_day()
        return [e for e in self._executions if et_date(e.time) >= today]

    def positions(self) -> list[Position]:
        return [self._ledger.position(h, self._quote(h.contract)[2]) for h in self._holdings()]

    def _holdings(self) -> list[Holding]:
        return list(self._ledger.holdings.values())

    @property
    def cash(self) -> float:
        return self._ledger.cash

    def _account_values_now(self) -> dict[str, tuple[str, str]]:
        return self.account_values()

    def account_values(self) -> dict[str, tuple[str, str]]:
        """IB's account value keys -> (value, currency), as strings."""
        ledger = self._ledger
        marks = self._marks()
        holdings = [(h.contract, h.quantity) for h in ledger.holdings.values()]
        spots = self._spots([c.symbol for c, _ in holdings])
        margin = margin_requirement(holdings, marks, spots)
        values = [q * marks[c.con_id] * multiplier(c) for c, q in holdings]
        net = ledger.cash + sum(values)
        unrealized = sum(
            v - h.quantity * h.avg_cost
            for v, h in zip(values, ledger.holdings.values(), strict=True)
        )
        available = net - margin
        usd = "USD"
        return {
            "AccountCode": (self.account, ""),
            "AccountType": ("INDIVIDUAL", ""),
            "Currency": (usd, usd),
            "NetLiquidation": (_money(net), usd),
            "TotalCashValue": (_money(ledger.cash), usd),
            "CashBalance": (_money(ledger.cash), usd),
            "AvailableFunds": (_money(available), usd),
            "BuyingPower": (_money(available), usd),
            "ExcessLiquidity": (_money(available), usd),
            "InitMarginReq": (_money(margin), usd),
            "MaintMarginReq": (_money(margin), usd),
            "EquityWithLoanValue": (_money(net), usd),
            "GrossPositionValue": (_money(sum(abs(v) for v in values)), usd),
            "UnrealizedPnL": (_money(unrealized), usd),
            "RealizedPnL": (_money(ledger.realized_today), usd),
        }

    def pnl(self) -> PnL:
        ledger = self._ledger
        marks = self._marks()
        unrealized = sum(
            h.quantity * marks[cid] * multiplier(h.contract) - h.quantity * h.avg_cost
            for cid, h in ledger.holdings.items()
        )
        daily = ledger.net_liquidation(marks) - ledger.day_start_net_liq
        return PnL(daily=daily, unrealized=unrealized, realized=ledger.realized_today)

    def pnl_single(self, con_id: int) -> tuple[float, float, float, float, float] | None:
        """(position, daily, unrealized, realized today, value) for one contract; None when
        it was neither held nor traded today."""
        ledger = self._ledger
        held = ledger.holdings.get(con_id)
        traded = con_id in ledger.day_flow or con_id in ledger.day_base_value
        if held is None and not traded:
            return None
        if held is None:
            qty = value = unrealized = 0.0
        else:
            mark = self._quote(held.contract)[2]
            qty = held.quantity
            value = qty * mark * multiplier(held.contract)
            unrealized = value - qty * held.avg_cost
        daily = value + ledger.day_flow.get(con_id, 0.0) - ledger.day_base_value.get(con_id, 0.0)
        return (qty, daily, unrealized, ledger.day_realized.get(con_id, 0.0), value)


def _allocate(natural: Sequence[float], legs: Sequence[tuple[int, int]], combo: float,
              natural_combo: float) -> list[float]:  # fmt: skip
    """Leg prices adding up to ``combo`` (sum of sign * ratio * price), starting from the
    natural leg prices: raise the first bought leg, or lower bought legs (not below 0) and
    then raise sold legs. ``legs`` holds (ratio, sign) per leg."""
    prices = list(natural)
    diff = combo - natural_combo
    if abs(diff) < 1e-12:
        return prices
    bought = [i for i, (_, s) in enumerate(legs) if s > 0]
    sold = [i for i, (_, s) in enumerate(legs) if s < 0]
    if diff > 0:
        if bought:
            i = bought[0]
            prices[i] += diff / legs[i][0]
            return prices
        for i in sold:  # all-sold combo: receive less for the sold legs
            cut = min(prices[i] * legs[i][0], diff)
            prices[i] -= cut / legs[i][0]
            diff -= cut
        if diff > 1e-12:
            prices[sold[-1]] -= diff / legs[sold[-1]][0]
        return prices
    need = -diff
    for i in bought:
        cut = min(prices[i] * legs[i][0], need)
        prices[i] -= cut / legs[i][0]
        need -= cut
    if need > 1e-12:
        i = sold[0] if sold else bought[-1]
        sign = 1 if sold else -1
        prices[i] += sign * need / legs[i][0]
    return prices
