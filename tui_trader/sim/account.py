"""The simulated paper account's ledger: cash, holdings, average costs, P&L and margin.

Conventions (IB's, where IB has one):
- ``avg_cost`` is per unit *including the multiplier and the commission*, as IB reports
  it: buying 2 option contracts at 1.50 with 1.30 commission gives 150.65. A short
  position's average cost is the proceeds net of commission per unit (149.35 for the same
  trade sold). Reducing a position leaves its average cost unchanged.
- Realised P&L is booked when a position is reduced: (sell price * multiplier - commission
  per unit - avg_cost) per unit closed for a long, mirrored for a short, so it is net of
  both the opening and the closing commission. A fill that crosses zero closes the old
  position and opens the rest at the fill price.
- Cash moves by price * multiplier * quantity and the commission, at the fill.

Margin (one consistent, documented model, not IB's full rule book):
``InitMarginReq = MaintMarginReq`` = for each underlying and expiry, the options' value at
their marks minus their worst value at expiry (over prices 0, every strike held, and 25 %
above the highest strike or spot), plus 100 % of long stock value and 50 % of short stock
value. So a long option or a debit spread needs exactly its value (the debit paid is the
most it can lose, nothing more is asked), a credit spread needs its width minus its
current credit, a naked put is cash-secured, and a naked call needs a 25 % up-move.
``NetLiquidation = EquityWithLoanValue`` = cash + market value of the holdings, and
``AvailableFunds = ExcessLiquidity = BuyingPower`` = NetLiquidation - margin, which for
an account holding only long options and debit spreads is simply its cash. (No leverage:
BuyingPower is not 4x excess liquidity as in an IB margin account, so the risk gate
``min_buying_power`` sees the conservative number.)
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from tui_trader.sim.types import Action, Contract, OptionContract, Position, StockContract

NAKED_CALL_MOVE = 1.25
SHORT_STOCK_MARGIN = 0.5


def multiplier(contract: Contract) -> int:
    return contract.multiplier if isinstance(contract, OptionContract) else 1


@dataclass(slots=True)
class Holding:
    """One position in one contract."""

    contract: Contract
    quantity: float
    avg_cost: float
    realized: float = 0.0  # realised on this contract since the position was opened


@dataclass(frozen=True, slots=True)
class FillResult:
    """What one fill did to the ledger."""

    realized: float | None  # None when the fill only opened or added
    quantity_after: float
    avg_cost_after: float


class Ledger:
    """Cash and holdings; pure bookkeeping, no market access (marks are passed in)."""

    def __init__(self, cash: float) -> None:
        self.cash = float(cash)
        self.holdings: dict[int, Holding] = {}
        self.realized_today = 0.0
        self.day: date | None = None
        self.day_start_net_liq = float(cash)
        self.day_base_value: dict[int, float] = {}
        self.day_flow: dict[int, float] = {}
        self.day_realized: dict[int, float] = {}

    def apply_fill(self, contract: Contract, action: Action, quantity: float, price: float,
                   commission: float) -> FillResult:  # fmt: skip
        """Book a fill of ``quantity`` (> 0) units at ``price`` with ``commission``."""
        if not (quantity > 0 and math.isfinite(price) and math.isfinite(commission)):
            raise ValueError(f"bad fill: {quantity} @ {price} commission {commission}")
        m = multiplier(contract)
        sign = 1.0 if action == "BUY" else -1.0
        flow = -sign * quantity * price * m - commission
        self.cash += flow
        self.day_flow[contract.con_id] = self.day_flow.get(contract.con_id, 0.0) + flow

        per_unit_fee = commission / quantity
        unit_cost = price * m + sign * per_unit_fee  # buys cost more, sells yield less
        held = self.holdings.get(contract.con_id)
        old = 0.0 if held is None else held.quantity
        realized: float | None = None
        if old == 0.0 or (old > 0) == (sign > 0):
            total = abs(old) + quantity
            old_cost = 0.0 if held is None else held.avg_cost * abs(old)
            new_avg = (old_cost + unit_cost * quantity) / total
            new_qty = old + sign * quantity
            new_realized = 0.0 if held is None else held.realized
        else:
            assert held is not None
            closing = min(quantity, abs(old))
            if old > 0:  # selling out of a long
                realized = closing * (price * m - per_unit_fee - held.avg_cost)
            else:  # buying back a short
                realized = closing * (held.avg_cost - price * m - per_unit_fee)
            rest = quantity - closing
            new_qty = old + sign * closing
            new_avg = held.avg_cost
            new_realized = held.realized + realized
            if rest > 0:
                new_qty = sign * rest
                new_avg = unit_cost
                new_realized = 0.0
            self.realized_today += realized
            self.day_realized[contract.con_id] = (
                self.day_realized.get(contract.con_id, 0.0) + realized
            )

        if new_qty == 0.0:
            self.holdings.pop(contract.con_id, None)
            return FillResult(realized, 0.0, 0.0)
        self.holdings[contract.con_id] = Holding(contract, new_qty, new_avg, new_realized)
        return FillResult(realized, new_qty, new_avg)

    # --- valuation ----------------------------------------------------------------------

    def position(self, holding: Holding, mark: float) -> Position:
        value = holding.quantity * mark * multiplier(holding.contract)
        return Position(
            contract=holding.contract,
            quantity=holding.quantity,
            avg_cost=holding.avg_cost,
            market_price=mark,
            market_value=value,
            unrealized_pnl=value - holding.quantity * holding.avg_cost,
            realized_pnl=holding.realized,
        )

    def market_value(self, marks: Mapping[int, float]) -> float:
        return sum(
            h.quantity * marks[cid] * multiplier(h.contract) for cid, h in self.holdings.items()
        )

    def net_liquidation(self, marks: Mapping[int, float]) -> float:
        return self.cash + self.market_value(marks)

    def start_day(self, day: date, marks: Mapping[int, float]) -> None:
        """Reset the day's P&L baselines (at the first look after a new session starts)."""
        self.day = day
        self.realized_today = 0.0
        self.day_start_net_liq = self.net_liquidation(marks)
        self.day_base_value = {
            cid: h.quantity * marks[cid] * multiplier(h.contract)
            for cid, h in self.holdings.items()
        }
        self.day_flow = {}
        self.day_realized = {}


def margin_requirement(holdings: Iterable[tuple[Contract, float]], marks: Mapping[int, float],
                       spots: Mapping[str, float]) -> float:  # fmt: skip
    """Initial (= maintenance) margin of a set of holdings (module doc)."""
    total = 0.0
    groups: dict[tuple[str, date], list[tuple[OptionContract, float]]] = defaultdict(list)
    for contract, qty in holdings:
        if qty == 0:
            continue
        if isinstance(contract, StockContract):
            value = qty * marks[contract.con_id]
            total += value if value > 0 else SHORT_STOCK_MARGIN * -value
        else:
            groups[(contract.symbol, contract.expiry)].append((contract, qty))
    for (symbol, _), legs in groups.items():
        value = sum(q * marks[c.con_id] * c.multiplier for c, q in legs)
        strikes = {c.strike for c, _ in legs}
        top = max(max(strikes), spots.get(symbol, 0.0)) * NAKED_CALL_MOVE
        worst = min(_payoff(legs, s) for s in (0.0, *strikes, top))
        total += max(0.0, value - worst)
    return total


def _payoff(legs: list[tuple[OptionContract, float]], spot: float) -> float:
    out = 0.0
    for c, q in legs:
        intrinsic = max(spot - c.strike, 0.0) if c.right == "C" else max(c.strike - spot, 0.0)
        out += q * intrinsic * c.multiplier
    return out
