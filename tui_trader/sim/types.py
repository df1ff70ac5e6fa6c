"""Plain data shared by the simulated market, exchange and TWS protocol server.

The simulated gateway is three layers: ``market`` (prices, chains, a clock), ``exchange``
(orders, fills, positions, the account) and ``gateway``/``protocol`` (TWS API bytes on a
socket). These types are the only thing the layers exchange, so the socket code never
reaches into market internals and the exchange never sees a wire format.

Nothing here imports ib_insync: the gateway must work with any TWS API client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from tui_trader.core.markers import IB_UNSET_DOUBLE

SecType = Literal["STK", "OPT", "BAG"]
Right = Literal["C", "P"]
Action = Literal["BUY", "SELL"]

#: IB's "no value" double, as the simulated gateway sends it.
UNSET_DOUBLE = IB_UNSET_DOUBLE


@dataclass(frozen=True, slots=True)
class StockContract:
    """A listed stock or ETF the simulated market carries."""

    con_id: int
    symbol: str
    long_name: str
    sector: str
    industry: str
    primary_exchange: str  # "NASDAQ", "NYSE" or "ARCA"
    market_cap: float  # USD; ETFs carry their AUM
    avg_volume: float  # typical shares per day
    min_tick: float = 0.01
    currency: str = "USD"
    sec_type: SecType = "STK"


@dataclass(frozen=True, slots=True)
class OptionContract:
    """One listed option; ``expiry`` is the last trading day (a Friday, or Thursday on holidays)."""

    con_id: int
    symbol: str  # the underlying's symbol, as IB sends it
    underlying_con_id: int
    expiry: date
    strike: float
    right: Right
    multiplier: int = 100
    trading_class: str = ""
    local_symbol: str = ""  # OCC style, e.g. "AAPL  261218C00200000"
    min_tick: float = 0.01
    currency: str = "USD"
    sec_type: SecType = "OPT"


Contract = StockContract | OptionContract


@dataclass(frozen=True, slots=True)
class Quote:
    """Top of book for a stock or option. NaN where the market has no value."""

    bid: float
    ask: float
    last: float
    bid_size: float
    ask_size: float
    last_size: float
    volume: float
    high: float
    low: float
    close: float  # previous session's close
    time: datetime


@dataclass(frozen=True, slots=True)
class OptionGreeks:
    """What IB sends in tickOptionComputation: greeks in IB's units.

    IB's vega and theta are per vol point / per calendar day (the same as core.options).
    NaN means "no value" and is sent on the wire as IB's markers (-1 / -2).
    """

    implied_vol: float
    delta: float
    option_price: float
    pv_dividend: float
    gamma: float
    vega: float
    theta: float
    underlying_price: float


@dataclass(frozen=True, slots=True)
class OptionQuote:
    """An option's quote plus the greeks for bid, ask and model (tick types 10, 11, 13)."""

    quote: Quote
    bid_greeks: OptionGreeks
    ask_greeks: OptionGreeks
    model_greeks: OptionGreeks


@dataclass(frozen=True, slots=True)
class DailyBar:
    """One daily bar; ``day`` is the session date."""

    day: date
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True, slots=True)
class ComboLeg:
    """One leg of a BAG order, as the client sent it."""

    con_id: int
    ratio: int
    action: Action
    exchange: str = "SMART"


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """An order as placed by a client, already decoded from placeOrder.

    ``con_id`` is 0 when the client sent a contract by symbol; the gateway resolves
    contracts before handing the order to the exchange, so the exchange sees resolved
    ``contract`` objects (None only for BAG, whose legs carry the con_ids).
    """

    order_id: int
    client_id: int
    sec_type: SecType
    symbol: str
    contract: Contract | None
    legs: tuple[ComboLeg, ...]
    action: Action
    quantity: float
    order_type: Literal["LMT", "MKT"]
    limit_price: float | None
    tif: str = "DAY"
    order_ref: str = ""
    account: str = ""
    what_if: bool = False
    transmit: bool = True


OrderStatusName = Literal[
    "PendingSubmit", "PreSubmitted", "Submitted", "Filled", "Cancelled", "Inactive", "ApiCancelled"
]


@dataclass(slots=True)
class OrderState:
    """The exchange's live view of one order (mutable: updated as it fills)."""

    request: OrderRequest
    perm_id: int
    status: OrderStatusName
    filled: float = 0.0
    remaining: float = 0.0
    avg_fill_price: float = 0.0
    last_fill_price: float = 0.0
    commission: float = 0.0
    why_held: str = ""
    reject_reason: str = ""


@dataclass(frozen=True, slots=True)
class Execution:
    """One fill of one contract (each combo leg, and the BAG itself, get their own)."""

    exec_id: str
    order_id: int
    client_id: int
    perm_id: int
    contract: Contract | None  # None for the BAG's own execution (legs carry contracts)
    bag_symbol: str  # the underlying symbol; for BAG executions the only identification
    time: datetime
    account: str
    exchange: str
    side: Literal["BOT", "SLD"]
    shares: float
    price: float
    cum_qty: float
    avg_price: float
    order_ref: str
    commission: float  # 0.0 for the BAG's own execution; legs carry the commission
    realized_pnl: float  # UNSET_DOUBLE where nothing was realised, as IB sends it


@dataclass(frozen=True, slots=True)
class Position:
    """A position in one contract for the account."""

    contract: Contract
    quantity: float
    avg_cost: float  # per contract including the multiplier, as IB reports it
    market_price: float
    market_value: float
    unrealized_pnl: float
    realized_pnl: float


@dataclass(frozen=True, slots=True)
class WhatIf:
    """The margin and commission preview returned for a whatIf order (IB's OrderState)."""

    init_margin_before: float
    maint_margin_before: float
    equity_with_loan_before: float
    init_margin_change: float
    maint_margin_change: float
    equity_with_loan_change: float
    init_margin_after: float
    maint_margin_after: float
    equity_with_loan_after: float
    commission: float  # UNSET_DOUBLE where unknown
    min_commission: float
    max_commission: float
    warning: str = ""


@dataclass(frozen=True, slots=True)
class PnL:
    """Account P&L as reqPnL reports it."""

    daily: float
    unrealized: float
    realized: float


# --- events the exchange emits; the gateway turns each into TWS messages for every client ---


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """An order's state changed (submitted, partially filled, filled, cancelled, rejected)."""

    order: OrderState
    error_code: int | None = None  # e.g. 201 for a rejection, 202 for a cancel
    error_text: str = ""


@dataclass(frozen=True, slots=True)
class FillEvent:
    """A fill: one execution (with its commission)."""

    execution: Execution


@dataclass(frozen=True, slots=True)
class PositionEvent:
    """A position changed (quantity, cost or mark)."""

    position: Position


@dataclass(frozen=True, slots=True)
class AccountEvent:
    """Account values changed: key -> (value, currency), e.g. NetLiquidation."""

    values: dict[str, tuple[str, str]] = field(default_factory=dict)


ExchangeEvent = OrderEvent | FillEvent | PositionEvent | AccountEvent
