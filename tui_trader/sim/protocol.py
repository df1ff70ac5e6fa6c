"""The TWS API wire format at server version 176: framing, field codecs and messages.

Every message is a 4-byte big-endian length followed by fields, each terminated by NUL.
The layouts here mirror what ib_insync 0.9.86 (``client.py`` / ``decoder.py``) and the
official ibapi send and decode at server version 176, field by field, including the
version gates that apply at 176. Two rules from those decoders shape the encoders:

- several decoders unpack a fixed number of fields (tickPrice 7, tickOptionComputation 12,
  execDetails 31, commissionReport 8, position 16, portfolio 20): a wrong count is only
  logged client-side and the message is silently lost, so the counts are asserted in tests;
- numbers are written the way a client parses them back: ``''`` means "unset", booleans
  are ``0``/``1`` and count fields are never empty.

Nothing here knows about sockets, the market or ib_insync: encoders return ``bytes``
frames, decoders take the list of fields of one message and return a request dataclass.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from tui_trader.sim.types import (
    UNSET_DOUBLE,
    Contract,
    Execution,
    OptionGreeks,
    OrderState,
    Position,
    StockContract,
    WhatIf,
)

#: The only server version the encoders speak. 177+ changes layouts (faProfile dropped,
#: pendingPriceRevision added), so a client that cannot use 176 is refused.
SERVER_VERSION = 176
#: The oldest client range start we accept (ib_insync sends v157..176).
MIN_CLIENT_VERSION = 100
API_PREFIX = b"API\0"
#: IB's own ceiling on one message; anything longer means the framing is lost.
MAX_MESSAGE_SIZE = 0xFFFFFF
#: IB's conId for every combo (BAG) contract in executions and open orders.
BAG_CON_ID = 28812380
#: The time zone IB stamps US equity times with.
EXCHANGE_TZ = ZoneInfo("America/New_York")
#: IB sends "unset" integers as Integer.MAX_VALUE; clients treat it like an empty field.
UNSET_INTEGER = 2**31 - 1

_LENGTH = struct.Struct(">I")


class ProtocolError(Exception):
    """The byte stream cannot be framed any more: the connection must be dropped."""


class RequestError(Exception):
    """One well-framed request is malformed or unsupported: answer it with an IB error."""

    def __init__(self, code: int, message: str, req_id: int = -1) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.req_id = req_id


# --------------------------------------------------------------------------------------
# IB's standard message codes and texts
# --------------------------------------------------------------------------------------

#: The texts IB sends with its connection and farm notices (reqId -1), used when a fault
#: is injected without a text of its own.
STANDARD_MESSAGES: dict[int, str] = {
    1100: "Connectivity between IB and Trader Workstation has been lost.",
    1101: "Connectivity between IB and Trader Workstation has been restored - data lost.",
    1102: "Connectivity between IB and Trader Workstation has been restored - data maintained.",
    1300: "TWS socket port has been reset and this connection is being dropped. "
    "Please reconnect on the new port - ",
    2103: "Market data farm connection is broken:usfarm",
    2104: "Market data farm connection is OK:usfarm",
    2105: "HMDS data farm connection is broken:ushmds",
    2106: "HMDS data farm connection is OK:ushmds",
    2107: "HMDS data farm connection is inactive but should be available upon demand.ushmds",
    2108: "Market data farm connection is inactive but should be available upon demand.usfarm",
    2110: "Connectivity between Trader Workstation and server is broken. "
    "It will be restored automatically.",
    2157: "Sec-def data farm connection is broken:secdefnj",
    2158: "Sec-def data farm connection is OK:secdefnj",
}

ERR_MAX_RATE = 100
TEXT_MAX_RATE = "Max rate of messages per second has been exceeded:max=50 rec=%d (1)"
ERR_MAX_TICKERS = 101
TEXT_MAX_TICKERS = "Max number of tickers has been reached"
ERR_DUPLICATE_ORDER_ID = 103
ERR_HISTORICAL = 162
ERR_NO_SECURITY = 200
TEXT_NO_SECURITY = "No security definition has been found for the request"
ERR_ORDER_REJECTED = 201
ERR_ORDER_CANCELLED = 202
ERR_CANNOT_READ = 320
ERR_VALIDATION = 321
ERR_CLIENT_ID_IN_USE = 326
TEXT_CLIENT_ID_IN_USE = (
    "Unable to connect as the client id is already in use. Retry with a unique client id."
)
ERR_NOT_CONNECTED = 504
ERR_CANCEL_UNKNOWN = 10147


# --------------------------------------------------------------------------------------
# Framing
# --------------------------------------------------------------------------------------


def frame_payload(payload: bytes) -> bytes:
    """Prefix one message with its length."""
    return _LENGTH.pack(len(payload)) + payload


def frame(fields: Iterable[str]) -> bytes:
    """One message from its fields (every field NUL-terminated)."""
    payload = "".join(f"{f}\0" for f in fields).encode()
    return _LENGTH.pack(len(payload)) + payload


class FrameBuffer:
    """Reassembles length-prefixed messages from arbitrary TCP chunks."""

    __slots__ = ("_buf", "max_size")

    def __init__(self, max_size: int = MAX_MESSAGE_SIZE) -> None:
        self._buf = bytearray()
        self.max_size = max_size

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the complete payloads now available, in order.

        Raises ProtocolError on a length the peer cannot mean (0 or above the IB limit):
        after that nothing in the stream can be trusted.
        """
        buf = self._buf
        buf += data
        out: list[bytes] = []
        pos = 0
        n = len(buf)
        while n - pos >= 4:
            (size,) = _LENGTH.unpack_from(buf, pos)
            if size == 0 or size > self.max_size:
                raise ProtocolError(f"bad message length {size}")
            end = pos + 4 + size
            if end > n:
                break
            out.append(bytes(buf[pos + 4 : end]))
            pos = end
        if pos:
            del buf[:pos]
        return out

    def take(self, count: int) -> bytes | None:
        """Consume exactly ``count`` raw (unframed) bytes, or None if not yet received."""
        if len(self._buf) < count:
            return None
        head = bytes(self._buf[:count])
        del self._buf[:count]
        return head

    @property
    def pending(self) -> int:
        return len(self._buf)


def split_fields(payload: bytes) -> list[str]:
    """The fields of one message. Strict UTF-8: a client sending other bytes is broken."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(ERR_CANNOT_READ, f"Error reading request: not UTF-8 ({exc})") from exc
    parts = text.split("\0")
    if parts and parts[-1] == "":
        parts.pop()
    return parts


def parse_version_range(text: str) -> tuple[int, int]:
    """Parse the client's ``v157..176`` (optionally followed by `` +options``)."""
    head = text.split(" ", 1)[0]
    if not head.startswith("v"):
        raise ProtocolError(f"bad version announcement {text!r}")
    body = head[1:]
    try:
        if ".." in body:
            lo_s, hi_s = body.split("..", 1)
            lo, hi = int(lo_s), int(hi_s)
        else:
            lo = hi = int(body)
    except ValueError as exc:
        raise ProtocolError(f"bad version announcement {text!r}") from exc
    if lo > hi:
        raise ProtocolError(f"bad version range {text!r}")
    return lo, hi


def negotiate_version(lo: int, hi: int) -> int | None:
    """The server version to use with a client announcing ``lo..hi``, or None if none fits.

    Only 176 is spoken: a client whose range does not include it would silently stall on
    layouts it does not expect, so it is refused instead.
    """
    if lo <= SERVER_VERSION <= hi:
        return SERVER_VERSION
    return None


# --------------------------------------------------------------------------------------
# Field formatting
# --------------------------------------------------------------------------------------


def fmt_float(x: float | None) -> str:
    """A double as clients parse it: '' for None/NaN ("unset"), shortest round-trip text."""
    if x is None or x != x:
        return ""
    if x == math.inf:
        return "Infinity"
    if x == -math.inf:
        return "-Infinity"
    return repr(float(x))


def fmt_size(x: float | None) -> str:
    """A quantity (IB Decimal): integral values without a fraction, like IB sends them."""
    if x is None or x != x or x in (math.inf, -math.inf):
        return ""
    if float(x).is_integer():
        return str(int(x))
    return repr(float(x))


def fmt_bool(x: bool) -> str:
    return "1" if x else "0"


def fmt_ib_date(d: date) -> str:
    return d.strftime("%Y%m%d")


def fmt_ib_datetime(t: datetime, tz: ZoneInfo = EXCHANGE_TZ, with_zone: bool = True) -> str:
    """``YYYYMMDD HH:MM:SS <zone>`` in exchange time, as IB stamps executions."""
    local = t.astimezone(tz)
    text = local.strftime("%Y%m%d %H:%M:%S")
    return f"{text} {tz.key}" if with_zone else text


def fmt_connection_time(t: datetime) -> str:
    """The handshake's connection time, e.g. ``20261121 15:04:05 EST``."""
    local = t.astimezone(EXCHANGE_TZ)
    return local.strftime("%Y%m%d %H:%M:%S ") + (local.tzname() or "EST")


def parse_ib_datetime(text: str) -> datetime | None:
    """Parse a client time filter/end time: ``YYYYMMDD HH:MM:SS [zone]``,
    ``YYYYMMDD-HH:MM:SS`` (UTC) or ``YYYYMMDD``. None for ''. Naive times are exchange time.
    """
    s = text.strip()
    if not s:
        return None
    try:
        if len(s) == 8 and s.isdigit():
            return datetime.strptime(s, "%Y%m%d").replace(tzinfo=EXCHANGE_TZ)
        if len(s) >= 17 and s[8] == "-":
            return datetime.strptime(s[:17], "%Y%m%d-%H:%M:%S").replace(tzinfo=UTC)
        parts = s.split()
        if len(parts) < 2:
            raise ValueError(s)
        naive = datetime.strptime(parts[0] + parts[1], "%Y%m%d%H:%M:%S")
        tz: ZoneInfo = EXCHANGE_TZ
        if len(parts) >= 3:
            zone = parts[2]
            tz = ZoneInfo("UTC") if zone in ("UTC", "GMT") else ZoneInfo(zone)
        return naive.replace(tzinfo=tz)
    except (ValueError, KeyError, OSError) as exc:
        raise RequestError(
            ERR_VALIDATION, f"Error validating request: bad date/time {text!r}"
        ) from exc


# --------------------------------------------------------------------------------------
# Contracts on the wire
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WireComboLeg:
    """A combo leg as the TWS API carries it (placeOrder / openOrder / reqMktData)."""

    con_id: int
    ratio: int
    action: str
    exchange: str = "SMART"
    open_close: int = 0
    short_sale_slot: int = 0
    designated_location: str = ""
    exempt_code: int = -1


@dataclass(frozen=True, slots=True)
class WireContract:
    """IB's Contract fields (C12 plus combo legs), exactly as strings and numbers travel."""

    con_id: int = 0
    symbol: str = ""
    sec_type: str = ""
    last_trade_date: str = ""
    strike: float = 0.0
    right: str = ""
    multiplier: str = ""
    exchange: str = ""
    primary_exchange: str = ""
    currency: str = ""
    local_symbol: str = ""
    trading_class: str = ""
    combo_legs: tuple[WireComboLeg, ...] = ()

    def c11(self) -> list[str]:
        """conId .. tradingClass without primaryExchange (execDetails, openOrder, position)."""
        return [
            str(self.con_id),
            self.symbol,
            self.sec_type,
            self.last_trade_date,
            fmt_float(self.strike),
            self.right,
            self.multiplier,
            self.exchange,
            self.currency,
            self.local_symbol,
            self.trading_class,
        ]


def wire_contract(c: Contract, exchange: str = "SMART") -> WireContract:
    """The contract IB reports for a listed stock or option of the simulated market."""
    if isinstance(c, StockContract):
        return WireContract(
            con_id=c.con_id,
            symbol=c.symbol,
            sec_type="STK",
            exchange=exchange,
            primary_exchange=c.primary_exchange,
            currency=c.currency,
            local_symbol=c.symbol,
            trading_class="NMS" if c.primary_exchange == "NASDAQ" else c.symbol,
        )
    return WireContract(
        con_id=c.con_id,
        symbol=c.symbol,
        sec_type="OPT",
        last_trade_date=fmt_ib_date(c.expiry),
        strike=c.strike,
        right=c.right,
        multiplier=str(c.multiplier),
        exchange=exchange,
        currency=c.currency,
        local_symbol=c.local_symbol or c.symbol,
        trading_class=c.trading_class or c.symbol,
    )


def wire_bag(symbol: str, legs: Sequence[WireComboLeg], currency: str = "USD") -> WireContract:
    """IB's combo contract: one conId for every BAG, the underlying's symbol, the legs."""
    return WireContract(
        con_id=BAG_CON_ID,
        symbol=symbol,
        sec_type="BAG",
        exchange="SMART",
        currency=currency,
        local_symbol="",
        trading_class="COMB",
        combo_legs=tuple(legs),
    )


# --------------------------------------------------------------------------------------
# Server -> client messages
# --------------------------------------------------------------------------------------


def handshake_reply(version: int, connection_time: datetime) -> bytes:
    """The one message of exactly 2 fields that concludes the handshake."""
    return frame((str(version), fmt_connection_time(connection_time)))


def next_valid_id(order_id: int) -> bytes:
    return frame(("9", "1", str(order_id)))


def managed_accounts(accounts: Sequence[str]) -> bytes:
    return frame(("15", "1", ",".join(accounts)))


def error(req_id: int, code: int, text: str, advanced_order_reject_json: str = "") -> bytes:
    """IB error/notice (reqId -1 for connection notices); 176 carries the advanced JSON."""
    return frame(("4", "2", str(req_id), str(code), text, advanced_order_reject_json))


def current_time(epoch_seconds: int) -> bytes:
    return frame(("49", "1", str(epoch_seconds)))


# --- market data ---


def tick_price(
    req_id: int, tick_type: int, price: float, size: float | None, mask: int = 0
) -> bytes:
    """tickPrice: 7 fields. IB's "no price" is -1; size '' where the tick has none."""
    return frame(
        ("1", "6", str(req_id), str(tick_type), fmt_float(price), fmt_size(size), str(mask))
    )


def tick_size(req_id: int, tick_type: int, size: float) -> bytes:
    return frame(("2", "6", str(req_id), str(tick_type), fmt_size(size)))


def _marker(x: float, marker: float) -> str:
    return fmt_float(marker if x != x or x in (math.inf, -math.inf) else x)


def tick_option_computation(
    req_id: int, tick_type: int, greeks: OptionGreeks, tick_attrib: int = 0
) -> bytes:
    """tickOptionComputation: 12 fields, no version field at 176 (tickAttrib instead).

    NaN becomes IB's "no value" markers: impliedVol/optPrice/pvDividend/undPrice -1,
    delta/gamma/vega/theta -2.
    """
    g = greeks
    return frame(
        (
            "21",
            str(req_id),
            str(tick_type),
            str(tick_attrib),
            _marker(g.implied_vol, -1.0),
            _marker(g.delta, -2.0),
            _marker(g.option_price, -1.0),
            _marker(g.pv_dividend, -1.0),
            _marker(g.gamma, -2.0),
            _marker(g.vega, -2.0),
            _marker(g.theta, -2.0),
            _marker(g.underlying_price, -1.0),
        )
    )


def tick_snapshot_end(req_id: int) -> bytes:
    return frame(("57", "1", str(req_id)))


def tick_req_params(
    req_id: int, min_tick: float, bbo_exchange: str = "", snapshot_permissions: int = 3
) -> bytes:
    return frame(("81", str(req_id), fmt_float(min_tick), bbo_exchange, str(snapshot_permissions)))


def market_data_type(req_id: int, data_type: int) -> bytes:
    return frame(("58", "1", str(req_id), str(data_type)))


# --- contracts ---


@dataclass(frozen=True, slots=True)
class ContractDetailsInfo:
    """The contract-details fields that are not part of the contract itself."""

    market_name: str
    min_tick: float
    order_types: str
    valid_exchanges: str
    long_name: str
    contract_month: str = ""
    industry: str = ""
    category: str = ""
    subcategory: str = ""
    time_zone_id: str = "US/Eastern"
    trading_hours: str = ""
    liquid_hours: str = ""
    under_con_id: int = 0
    under_symbol: str = ""
    under_sec_type: str = ""
    market_rule_ids: str = "26"
    real_expiration_date: str = ""
    stock_type: str = ""
    agg_group: int = 1
    price_magnifier: int = 1
    min_size: float = 1.0
    size_increment: float = 1.0
    suggested_size_increment: float = 1.0


def contract_data(req_id: int, c: WireContract, d: ContractDetailsInfo) -> bytes:
    """contractData: no version field from 164 on; 40 fields with no secIds."""
    return frame(
        (
            "10",
            str(req_id),
            c.symbol,
            c.sec_type,
            c.last_trade_date,
            fmt_float(c.strike),
            c.right,
            c.exchange,
            c.currency,
            c.local_symbol,
            d.market_name,
            c.trading_class,
            str(c.con_id),
            fmt_float(d.min_tick),
            c.multiplier,
            d.order_types,
            d.valid_exchanges,
            str(d.price_magnifier),
            str(d.under_con_id),
            d.long_name,
            c.primary_exchange,
            d.contract_month,
            d.industry,
            d.category,
            d.subcategory,
            d.time_zone_id,
            d.trading_hours,
            d.liquid_hours,
            "",  # evRule
            "",  # evMultiplier
            "0",  # secIdList count
            str(d.agg_group),
            d.under_symbol,
            d.under_sec_type,
            d.market_rule_ids,
            d.real_expiration_date,
            d.stock_type,
            fmt_size(d.min_size),
            fmt_size(d.size_increment),
            fmt_size(d.suggested_size_increment),
        )
    )


def contract_data_end(req_id: int) -> bytes:
    return frame(("52", "1", str(req_id)))


def sec_def_opt_params(
    req_id: int,
    exchange: str,
    underlying_con_id: int,
    trading_class: str,
    multiplier: str,
    expirations: Sequence[str],
    strikes: Sequence[float],
) -> bytes:
    return frame(
        (
            "75",
            str(req_id),
            exchange,
            str(underlying_con_id),
            trading_class,
            multiplier,
            str(len(expirations)),
            *expirations,
            str(len(strikes)),
            *(fmt_float(k) for k in strikes),
        )
    )


def sec_def_opt_params_end(req_id: int) -> bytes:
    return frame(("76", str(req_id)))


# --- historical data ---


@dataclass(frozen=True, slots=True)
class WireBar:
    """One bar as historicalData carries it; volume/wap/count -1 where IB has none."""

    date: str
    open: float
    high: float
    low: float
    close: float
    volume: float
    wap: float
    count: int


def historical_data(req_id: int, start: str, end: str, bars: Sequence[WireBar]) -> bytes:
    """historicalData without a version field (>= 124): reqId, start, end, n, 8 per bar."""
    fields = ["17", str(req_id), start, end, str(len(bars))]
    for b in bars:
        fields += [
            b.date,
            fmt_float(b.open),
            fmt_float(b.high),
            fmt_float(b.low),
            fmt_float(b.close),
            fmt_size(b.volume),
            fmt_float(b.wap),
            str(b.count),
        ]
    return frame(fields)


# --- orders ---


@dataclass(frozen=True, slots=True)
class WireOrder:
    """The order fields a client sends in placeOrder that the simulator uses or echoes."""

    action: str = ""
    total_quantity: float = 0.0
    order_type: str = ""
    lmt_price: float | None = None
    aux_price: float | None = None
    tif: str = ""
    oca_group: str = ""
    account: str = ""
    open_close: str = ""
    origin: int = 0
    order_ref: str = ""
    transmit: bool = True
    parent_id: int = 0
    outside_rth: bool = False
    hidden: bool = False
    what_if: bool = False
    algo_strategy: str = ""
    condition_count: int = 0
    order_combo_leg_prices: tuple[float | None, ...] = ()
    smart_combo_routing_params: tuple[tuple[str, str], ...] = ()
    good_till_date: str = ""
    good_after_time: str = ""
    model_code: str = ""


def _combo_descr(legs: Sequence[WireComboLeg]) -> str:
    return ",".join(f"{leg.con_id}|{leg.ratio}" for leg in legs)


def _combo_leg_fields(legs: Sequence[WireComboLeg]) -> list[str]:
    fields = [str(len(legs))]
    for leg in legs:
        fields += [
            str(leg.con_id),
            str(leg.ratio),
            leg.action,
            leg.exchange,
            str(leg.open_close),
            str(leg.short_sale_slot),
            leg.designated_location,
            str(leg.exempt_code),
        ]
    return fields


def _what_if_fields(w: WhatIf | None) -> list[str]:
    """The 9 margin strings + commission block of IB's OrderState (margins are strings)."""
    if w is None:
        return [""] * 9 + ["", "", "", "", ""]
    return [
        fmt_float(w.init_margin_before),
        fmt_float(w.maint_margin_before),
        fmt_float(w.equity_with_loan_before),
        fmt_float(w.init_margin_change),
        fmt_float(w.maint_margin_change),
        fmt_float(w.equity_with_loan_change),
        fmt_float(w.init_margin_after),
        fmt_float(w.maint_margin_after),
        fmt_float(w.equity_with_loan_after),
        fmt_float(w.commission),
        fmt_float(w.min_commission),
        fmt_float(w.max_commission),
        "USD",
        w.warning,
    ]


def open_order(
    order_id: int,
    contract: WireContract,
    order: WireOrder,
    *,
    client_id: int,
    perm_id: int,
    status: str,
    what_if: WhatIf | None = None,
) -> bytes:
    """openOrder at 176: no version field; 128 + 8 x legs fields.

    The order-state block (status, 9 margin strings, commission, min/max commission,
    currency, warning) follows ``solicited, whatIf``; a whatIf answer is an openOrder
    with whatIf = 1 carrying the margin preview.
    """
    o = order
    legs = contract.combo_legs
    fields: list[str] = ["5", str(order_id), *contract.c11()]
    fields += [
        o.action,
        fmt_size(o.total_quantity),
        o.order_type,
        fmt_float(o.lmt_price),
        fmt_float(o.aux_price),
        o.tif,
        o.oca_group,
        o.account,
        o.open_close,
        str(o.origin),
        o.order_ref,
        str(client_id),
        str(perm_id),
        fmt_bool(o.outside_rth),
        fmt_bool(o.hidden),
        "0",  # discretionaryAmt
        o.good_after_time,
        "",  # sharesAllocation (deprecated)
        "",  # faGroup
        "",  # faMethod
        "",  # faPercentage
        "",  # faProfile
        o.model_code,
        o.good_till_date,
        "",  # rule80A
        "",  # percentOffset
        "",  # settlingFirm
        "0",  # shortSaleSlot
        "",  # designatedLocation
        "-1",  # exemptCode
        "0",  # auctionStrategy
        "",  # startingPrice
        "",  # stockRefPrice
        "",  # delta
        "",  # stockRangeLower
        "",  # stockRangeUpper
        "",  # displaySize
        "0",  # blockOrder
        "0",  # sweepToFill
        "0",  # allOrNone
        "",  # minQty
        "0",  # ocaType
        "0",  # eTradeOnly
        "0",  # firmQuoteOnly
        "",  # nbboPriceCap
        str(o.parent_id),
        "0",  # triggerMethod
        "",  # volatility
        "",  # volatilityType
        "",  # deltaNeutralOrderType (empty: no delta-neutral block)
        "",  # deltaNeutralAuxPrice
        "0",  # continuousUpdate
        "",  # referencePriceType
        "",  # trailStopPrice
        "",  # trailingPercent
        "",  # basisPoints
        "",  # basisPointsType
        _combo_descr(legs),
        *_combo_leg_fields(legs),
        "0",  # orderComboLegs count
        "0",  # smartComboRoutingParams count
        "",  # scaleInitLevelSize
        "",  # scaleSubsLevelSize
        "",  # scalePriceIncrement (unset: no scale block)
        "",  # hedgeType (empty: no hedgeParam)
        "0",  # optOutSmartRouting
        "",  # clearingAccount
        "",  # clearingIntent
        "0",  # notHeld
        "0",  # deltaNeutralContract present
        "",  # algoStrategy (empty: no params)
        "0",  # solicited
        fmt_bool(what_if is not None),
        status,
        *_what_if_fields(what_if),
        "0",  # randomizeSize
        "0",  # randomizePrice
        "0",  # conditions count
        "",  # adjustedOrderType
        "",  # triggerPrice
        "",  # trailStopPrice
        "",  # lmtPriceOffset
        "",  # adjustedStopPrice
        "",  # adjustedStopLimitPrice
        "",  # adjustedTrailingAmount
        "0",  # adjustableTrailingUnit
        "",  # softDollarTier name
        "",  # softDollarTier value
        "",  # softDollarTier displayName
        "",  # cashQty
        "0",  # dontUseAutoPriceForHedge
        "0",  # isOmsContainer
        "0",  # discretionaryUpToLimitPrice
        "0",  # usePriceMgmtAlgo
        "",  # duration (>= 158)
        "",  # postToAts (>= 160)
        "0",  # autoCancelParent (>= 162)
        "",  # minTradeQty (>= 170)
        "",  # minCompeteSize
        "",  # competeAgainstBestOffset
        "",  # midOffsetAtWhole
        "",  # midOffsetAtHalf
    ]
    return frame(fields)


def open_order_end() -> bytes:
    return frame(("53", "1"))


def order_status(
    order_id: int,
    status: str,
    filled: float,
    remaining: float,
    avg_fill_price: float,
    perm_id: int,
    parent_id: int,
    last_fill_price: float,
    client_id: int,
    why_held: str = "",
    mkt_cap_price: float = 0.0,
) -> bytes:
    """orderStatus: no version field from 131 on; 12 fields."""
    return frame(
        (
            "3",
            str(order_id),
            status,
            fmt_size(filled),
            fmt_size(remaining),
            fmt_float(avg_fill_price),
            str(perm_id),
            str(parent_id),
            fmt_float(last_fill_price),
            str(client_id),
            why_held,
            fmt_float(mkt_cap_price),
        )
    )


def order_status_of(state: OrderState) -> bytes:
    r = state.request
    return order_status(
        r.order_id,
        state.status,
        state.filled,
        state.remaining,
        state.avg_fill_price,
        state.perm_id,
        0,
        state.last_fill_price,
        r.client_id,
        state.why_held,
    )


def completed_order(
    contract: WireContract,
    order: WireOrder,
    *,
    perm_id: int,
    status: str,
    filled: float,
    completed_time: str,
    completed_status: str,
) -> bytes:
    """completedOrder (101): its own layout (no orderId, no clientId), 97 + 8 x legs fields."""
    o = order
    legs = contract.combo_legs
    fields: list[str] = ["101", *contract.c11()]
    fields += [
        o.action,
        fmt_size(o.total_quantity),
        o.order_type,
        fmt_float(o.lmt_price),
        fmt_float(o.aux_price),
        o.tif,
        o.oca_group,
        o.account,
        o.open_close,
        str(o.origin),
        o.order_ref,
        str(perm_id),
        fmt_bool(o.outside_rth),
        fmt_bool(o.hidden),
        "0",  # discretionaryAmt
        o.good_after_time,
        "",  # faGroup
        "",  # faMethod
        "",  # faPercentage
        "",  # faProfile
        o.model_code,
        o.good_till_date,
        "",  # rule80A
        "",  # percentOffset
        "",  # settlingFirm
        "0",  # shortSaleSlot
        "",  # designatedLocation
        "-1",  # exemptCode
        "",  # startingPrice
        "",  # stockRefPrice
        "",  # delta
        "",  # stockRangeLower
        "",  # stockRangeUpper
        "",  # displaySize
        "0",  # sweepToFill
        "0",  # allOrNone
        "",  # minQty
        "0",  # ocaType
        "0",  # triggerMethod
        "",  # volatility
        "",  # volatilityType
        "",  # deltaNeutralOrderType
        "",  # deltaNeutralAuxPrice
        "0",  # continuousUpdate
        "",  # referencePriceType
        "",  # trailStopPrice
        "",  # trailingPercent
        _combo_descr(legs),
        *_combo_leg_fields(legs),
        "0",  # orderComboLegs count
        "0",  # smartComboRoutingParams count
        "",  # scaleInitLevelSize
        "",  # scaleSubsLevelSize
        "",  # scalePriceIncrement
        "",  # hedgeType
        "",  # clearingAccount
        "",  # clearingIntent
        "0",  # notHeld
        "0",  # deltaNeutralContract present
        "",  # algoStrategy
        "0",  # solicited
        status,
        "0",  # randomizeSize
        "0",  # randomizePrice
        "0",  # conditions count
        "",  # trailStopPrice
        "",  # lmtPriceOffset
        "",  # cashQty
        "0",  # dontUseAutoPriceForHedge
        "0",  # isOmsContainer
        "",  # autoCancelDate
        fmt_size(filled),
        "0",  # refFuturesConId
        "0",  # autoCancelParent
        "",  # shareholder
        "0",  # imbalanceOnly
        "0",  # routeMarketableToBbo
        "0",  # parentPermId
        completed_time,
        completed_status,
        "",  # minTradeQty
        "",  # minCompeteSize
        "",  # competeAgainstBestOffset
        "",  # midOffsetAtWhole
        "",  # midOffsetAtHalf
    ]
    return frame(fields)


def completed_orders_end() -> bytes:
    return frame(("102",))


# --- executions ---


def exec_details(req_id: int, contract: WireContract, e: Execution) -> bytes:
    """execDetails without a version field (>= 136): 31 fields; reqId -1 for live fills."""
    return frame(
        (
            "11",
            str(req_id),
            str(e.order_id),
            *contract.c11(),
            e.exec_id,
            fmt_ib_datetime(e.time),
            e.account,
            e.exchange,
            e.side,
            fmt_size(e.shares),
            fmt_float(e.price),
            str(e.perm_id),
            str(e.client_id),
            "0",  # liquidation
            fmt_size(e.cum_qty),
            fmt_float(e.avg_price),
            e.order_ref,
            "",  # evRule
            "",  # evMultiplier
            "",  # modelCode
            "1",  # lastLiquidity: added liquidity
        )
    )


def exec_details_end(req_id: int) -> bytes:
    return frame(("55", "1", str(req_id)))


def commission_report(e: Execution, currency: str = "USD") -> bytes:
    """commissionReport: 8 fields; realizedPNL is IB's unset double where nothing realised."""
    return frame(
        (
            "59",
            "1",
            e.exec_id,
            fmt_float(e.commission),
            currency,
            fmt_float(e.realized_pnl),
            "",  # yield
            "",  # yieldRedemptionDate
        )
    )


# --- account and portfolio ---


def position(account: str, contract: WireContract, quantity: float, avg_cost: float) -> bytes:
    """position: version 3, 16 fields."""
    return frame(("61", "3", account, *contract.c11(), fmt_size(quantity), fmt_float(avg_cost)))


def position_end() -> bytes:
    return frame(("62", "1"))


def portfolio_value(account: str, contract: WireContract, p: Position) -> bytes:
    """portfolio (updatePortfolio): version 8, 20 fields, primaryExchange instead of exchange."""
    c = contract
    return frame(
        (
            "7",
            "8",
            str(c.con_id),
            c.symbol,
            c.sec_type,
            c.last_trade_date,
            fmt_float(c.strike),
            c.right,
            c.multiplier,
            c.primary_exchange,
            c.currency,
            c.local_symbol,
            c.trading_class,
            fmt_size(p.quantity),
            fmt_float(p.market_price),
            fmt_float(p.market_value),
            fmt_float(p.avg_cost),
            fmt_float(p.unrealized_pnl),
            fmt_float(p.realized_pnl),
            account,
        )
    )


def account_value(key: str, value: str, currency: str, account: str) -> bytes:
    return frame(("6", "2", key, value, currency, account))


def account_update_time(t: datetime) -> bytes:
    return frame(("8", "1", t.astimezone(EXCHANGE_TZ).strftime("%H:%M")))


def account_download_end(account: str) -> bytes:
    return frame(("54", "1", account))


def account_update_multi(
    req_id: int, account: str, model_code: str, key: str, value: str, currency: str
) -> bytes:
    return frame(("73", "1", str(req_id), account, model_code, key, value, currency))


def account_update_multi_end(req_id: int) -> bytes:
    return frame(("74", "1", str(req_id)))


def account_summary(req_id: int, account: str, tag: str, value: str, currency: str) -> bytes:
    return frame(("63", "1", str(req_id), account, tag, value, currency))


def account_summary_end(req_id: int) -> bytes:
    return frame(("64", "1", str(req_id)))


def pnl(req_id: int, daily: float, unrealized: float, realized: float) -> bytes:
    return frame(("94", str(req_id), fmt_float(daily), fmt_float(unrealized), fmt_float(realized)))


def pnl_single(
    req_id: int, pos: float, daily: float, unrealized: float, realized: float, value: float
) -> bytes:
    return frame(
        (
            "95",
            str(req_id),
            fmt_size(pos),
            fmt_float(daily),
            fmt_float(unrealized),
            fmt_float(realized),
            fmt_float(value),
        )
    )


# --------------------------------------------------------------------------------------
# Client -> server messages
# --------------------------------------------------------------------------------------


class FieldReader:
    """Reads the fields of one request in order, the way IB's server does.

    Empty numeric fields mean "unset" (0 / None); anything unparsable or a missing field
    raises RequestError(320) so the request is answered rather than crashing the session.
    """

    __slots__ = ("_fields", "_msg_id", "_pos")

    def __init__(self, fields: Sequence[str], start: int = 1, msg_id: int = 0) -> None:
        self._fields = fields
        self._pos = start
        self._msg_id = msg_id

    def _next(self) -> str:
        if self._pos >= len(self._fields):
            raise RequestError(
                ERR_CANNOT_READ,
                f"Error reading request. Message id {self._msg_id}: "
                f"missing field {self._pos} (got {len(self._fields)})",
            )
        v = self._fields[self._pos]
        self._pos += 1
        return v

    def _bad(self, v: str, kind: str) -> RequestError:
        return RequestError(
            ERR_CANNOT_READ,
            f"Error reading request. Message id {self._msg_id}: field {self._pos - 1} "
            f"is not {kind}: {v[:40]!r}",
        )

    def str_(self) -> str:
        return self._next()

    def int_(self, default: int = 0) -> int:
        v = self._next()
        if v == "":
            return default
        try:
            return int(v)
        except ValueError:
            try:
                f = float(v)
            except ValueError:
                raise self._bad(v, "an integer") from None
            if not f.is_integer():
                raise self._bad(v, "an integer") from None
            return int(f)

    def float_(self) -> float | None:
        v = self._next()
        if v == "":
            return None
        if v in ("Infinite", "Infinity"):
            return math.inf
        try:
            x = float(v)
        except ValueError:
            raise self._bad(v, "a number") from None
        if x != x:
            raise self._bad(v, "a number")
        return None if x >= UNSET_DOUBLE else x

    def bool_(self) -> bool:
        return self.int_() != 0

    def skip(self, n: int) -> None:
        for _ in range(n):
            self._next()

    def count(self, limit: int = 1000) -> int:
        """A count field: never empty on the wire, and bounded so garbage can't allocate."""
        n = self.int_()
        if n < 0 or n > limit:
            raise RequestError(ERR_CANNOT_READ, f"Error reading request: bad count {n}")
        return n

    def contract12(self) -> WireContract:
        return WireContract(
            con_id=self.int_(),
            symbol=self.str_(),
            sec_type=self.str_(),
            last_trade_date=self.str_(),
            strike=self.float_() or 0.0,
            right=self.str_(),
            multiplier=self.str_(),
            exchange=self.str_(),
            primary_exchange=self.str_(),
            currency=self.str_(),
            local_symbol=self.str_(),
            trading_class=self.str_(),
        )

    @property
    def remaining(self) -> int:
        return len(self._fields) - self._pos


# --- request types ---


@dataclass(frozen=True, slots=True)
class StartApi:
    client_id: int
    optional_capabilities: str = ""


@dataclass(frozen=True, slots=True)
class ReqMktData:
    req_id: int
    contract: WireContract
    generic_ticks: str
    snapshot: bool
    regulatory_snapshot: bool


@dataclass(frozen=True, slots=True)
class CancelMktData:
    req_id: int


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    order_id: int
    contract: WireContract
    order: WireOrder


@dataclass(frozen=True, slots=True)
class CancelOrder:
    order_id: int
    manual_cancel_time: str = ""


@dataclass(frozen=True, slots=True)
class ReqOpenOrders:
    """A request that carries no fields beyond its message id."""


@dataclass(frozen=True, slots=True)
class ReqAllOpenOrders:
    """A request that carries no fields beyond its message id."""


@dataclass(frozen=True, slots=True)
class ReqAutoOpenOrders:
    auto_bind: bool


@dataclass(frozen=True, slots=True)
class ReqAccountUpdates:
    subscribe: bool
    account: str


@dataclass(frozen=True, slots=True)
class ReqExecutions:
    req_id: int
    client_id: int = 0
    account: str = ""
    time: str = ""
    symbol: str = ""
    sec_type: str = ""
    exchange: str = ""
    side: str = ""


@dataclass(frozen=True, slots=True)
class ReqIds:
    num_ids: int


@dataclass(frozen=True, slots=True)
class ReqContractDetails:
    req_id: int
    contract: WireContract
    include_expired: bool = False
    sec_id_type: str = ""
    sec_id: str = ""
    issuer_id: str = ""


@dataclass(frozen=True, slots=True)
class ReqManagedAccts:
    """A request that carries no fields beyond its message id."""


@dataclass(frozen=True, slots=True)
class ReqHistoricalData:
    req_id: int
    contract: WireContract
    end_date_time: str
    bar_size: str
    duration: str
    use_rth: bool
    what_to_show: str
    format_date: int
    keep_up_to_date: bool
    include_expired: bool = False
    chart_options: str = ""


@dataclass(frozen=True, slots=True)
class CancelHistoricalData:
    req_id: int


@dataclass(frozen=True, slots=True)
class ReqCurrentTime:
    """A request that carries no fields beyond its message id."""


@dataclass(frozen=True, slots=True)
class ReqGlobalCancel:
    """A request that carries no fields beyond its message id."""


@dataclass(frozen=True, slots=True)
class ReqMarketDataType:
    market_data_type: int


@dataclass(frozen=True, slots=True)
class ReqPositions:
    """A request that carries no fields beyond its message id."""


@dataclass(frozen=True, slots=True)
class CancelPositions:
    """A request that carries no fields beyond its message id."""


@dataclass(frozen=True, slots=True)
class ReqAccountSummary:
    req_id: int
    group: str
    tags: str


@dataclass(frozen=True, slots=True)
class CancelAccountSummary:
    req_id: int


@dataclass(frozen=True, slots=True)
class ReqAccountUpdatesMulti:
    req_id: int
    account: str
    model_code: str
    ledger_and_nlv: bool


@dataclass(frozen=True, slots=True)
class CancelAccountUpdatesMulti:
    req_id: int


@dataclass(frozen=True, slots=True)
class ReqSecDefOptParams:
    req_id: int
    symbol: str
    fut_fop_exchange: str
    underlying_sec_type: str
    underlying_con_id: int


@dataclass(frozen=True, slots=True)
class ReqPnL:
    req_id: int
    account: str
    model_code: str


@dataclass(frozen=True, slots=True)
class CancelPnL:
    req_id: int


@dataclass(frozen=True, slots=True)
class ReqPnLSingle:
    req_id: int
    account: str
    model_code: str
    con_id: int


@dataclass(frozen=True, slots=True)
class CancelPnLSingle:
    req_id: int


@dataclass(frozen=True, slots=True)
class ReqCompletedOrders:
    api_only: bool


Request = (
    StartApi
    | ReqMktData
    | CancelMktData
    | PlaceOrder
    | CancelOrder
    | ReqOpenOrders
    | ReqAllOpenOrders
    | ReqAutoOpenOrders
    | ReqAccountUpdates
    | ReqExecutions
    | ReqIds
    | ReqContractDetails
    | ReqManagedAccts
    | ReqHistoricalData
    | CancelHistoricalData
    | ReqCurrentTime
    | ReqGlobalCancel
    | ReqMarketDataType
    | ReqPositions
    | CancelPositions
    | ReqAccountSummary
    | CancelAccountSummary
    | ReqAccountUpdatesMulti
    | CancelAccountUpdatesMulti
    | ReqSecDefOptParams
    | ReqPnL
    | CancelPnL
    | ReqPnLSingle
    | CancelPnLSingle
    | ReqCompletedOrders
)


def _api_legs(r: FieldReader) -> tuple[WireComboLeg, ...]:
    """Combo legs as reqMktData / reqHistoricalData send them: 4 fields per leg."""
    n = r.count(32)
    return tuple(
        WireComboLeg(con_id=r.int_(), ratio=r.int_(), action=r.str_(), exchange=r.str_())
        for _ in range(n)
    )


def _req_mkt_data(r: FieldReader) -> ReqMktData:
    r.skip(1)  # version 11
    req_id = r.int_()
    contract = r.contract12()
    if contract.sec_type == "BAG":
        contract = _with_legs(contract, _api_legs(r))
    if r.bool_():  # delta-neutral contract
        r.skip(3)
    generic = r.str_()
    snapshot = r.bool_()
    regulatory = r.bool_()
    r.str_()  # mktDataOptions
    return ReqMktData(req_id, contract, generic, snapshot, regulatory)


def _with_legs(c: WireContract, legs: tuple[WireComboLeg, ...]) -> WireContract:
    return WireContract(
        c.con_id,
        c.symbol,
        c.sec_type,
        c.last_trade_date,
        c.strike,
        c.right,
        c.multiplier,
        c.exchange,
        c.primary_exchange,
        c.currency,
        c.local_symbol,
        c.trading_class,
        legs,
    )


#: Fields after condType of each order condition type (ib_insync order.py dataclasses).
_CONDITION_FIELDS = {1: 6, 3: 3, 4: 3, 5: 4, 6: 5, 7: 5}


def _place_order(r: FieldReader) -> PlaceOrder:
    """Mirror of client.placeOrder at server version >= 170 (no version field)."""
    order_id = r.int_()
    contract = r.contract12()
    r.str_()  # secIdType
    r.str_()  # secId
    action = r.str_()
    total_quantity = r.float_() or 0.0
    order_type = r.str_()
    lmt_price = r.float_()
    aux_price = r.float_()
    tif = r.str_()
    oca_group = r.str_()
    account = r.str_()
    open_close = r.str_()
    origin = r.int_()
    order_ref = r.str_()
    transmit = r.bool_()
    parent_id = r.int_()
    r.skip(4)  # blockOrder, sweepToFill, displaySize, triggerMethod
    outside_rth = r.bool_()
    hidden = r.bool_()
    leg_prices: tuple[float | None, ...] = ()
    routing: tuple[tuple[str, str], ...] = ()
    if contract.sec_type == "BAG":
        n = r.count(32)
        legs = tuple(
            WireComboLeg(
                con_id=r.int_(),
                ratio=r.int_(),
                action=r.str_(),
                exchange=r.str_(),
                open_close=r.int_(),
                short_sale_slot=r.int_(),
                designated_location=r.str_(),
                exempt_code=r.int_(-1),
            )
            for _ in range(n)
        )
        contract = _with_legs(contract, legs)
        leg_prices = tuple(r.float_() for _ in range(r.count(32)))
        routing = tuple((r.str_(), r.str_()) for _ in range(r.count(64)))
    r.str_()  # sharesAllocation (deprecated, always '')
    r.float_()  # discretionaryAmt
    good_after_time = r.str_()
    good_till_date = r.str_()
    r.skip(4)  # faGroup, faMethod, faPercentage, faProfile
    model_code = r.str_()
    # shortSaleSlot, designatedLocation, exemptCode, ocaType, rule80A, settlingFirm,
    # allOrNone, minQty, percentOffset, eTradeOnly, firmQuoteOnly, nbboPriceCap,
    # auctionStrategy, startingPrice, stockRefPrice, delta, stockRangeLower,
    # stockRangeUpper, overridePercentageConstraints, volatility, volatilityType
    r.skip(21)
    delta_neutral_order_type = r.str_()
    r.float_()  # deltaNeutralAuxPrice
    if delta_neutral_order_type:
        r.skip(8)
    r.skip(4)  # continuousUpdate, referencePriceType, trailStopPrice, trailingPercent
    r.skip(2)  # scaleInitLevelSize, scaleSubsLevelSize
    scale_increment = r.float_()
    if scale_increment is not None and 0 < scale_increment < UNSET_DOUBLE:
        r.skip(7)
    r.skip(3)  # scaleTable, activeStartTime, activeStopTime
    if r.str_():  # hedgeType
        r.str_()  # hedgeParam
    r.skip(4)  # optOutSmartRouting, clearingAccount, clearingIntent, notHeld
    if r.bool_():  # delta-neutral contract
        r.skip(3)
    algo_strategy = r.str_()
    if algo_strategy:
        r.skip(2 * r.count(64))
    r.str_()  # algoId
    what_if = r.bool_()
    r.str_()  # orderMiscOptions
    r.skip(3)  # solicited, randomizeSize, randomizePrice
    if order_type == "PEG BENCH":
        r.skip(5)
    n_conditions = r.count(32)
    if n_conditions:
        for _ in range(n_conditions):
            cond_type = r.int_()
            if cond_type not in _CONDITION_FIELDS:
                raise RequestError(
                    ERR_CANNOT_READ, f"Error reading request: unknown condition type {cond_type}"
                )
            r.skip(_CONDITION_FIELDS[cond_type])
        r.skip(2)  # conditionsIgnoreRth, conditionsCancelOrder
    # adjustedOrderType .. usePriceMgmtAlgo (19), then duration (158), postToAts (160),
    # autoCancelParent (162), advancedErrorOverride (166), manualOrderTime (169)
    r.skip(19 + 5)
    if contract.exchange == "IBKRATS":
        r.skip(1)
    if order_type == "PEG BEST":
        r.skip(1)
        offset = r.float_()
        if offset == math.inf:
            r.skip(2)
    elif order_type == "PEG MID":
        r.skip(2)
    order = WireOrder(
        action=action,
        total_quantity=total_quantity,
        order_type=order_type,
        lmt_price=lmt_price,
        aux_price=aux_price,
        tif=tif,
        oca_group=oca_group,
        account=account,
        open_close=open_close,
        origin=origin,
        order_ref=order_ref,
        transmit=transmit,
        parent_id=parent_id,
        outside_rth=outside_rth,
        hidden=hidden,
        what_if=what_if,
        algo_strategy=algo_strategy,
        condition_count=n_conditions,
        order_combo_leg_prices=leg_prices,
        smart_combo_routing_params=routing,
        good_till_date=good_till_date,
        good_after_time=good_after_time,
        model_code=model_code,
    )
    return PlaceOrder(order_id, contract, order)


def _req_historical_data(r: FieldReader) -> ReqHistoricalData:
    req_id = r.int_()
    contract = r.contract12()
    include_expired = r.bool_()
    end = r.str_()
    bar_size = r.str_()
    duration = r.str_()
    use_rth = r.bool_()
    what = r.str_()
    format_date = r.int_()
    if contract.sec_type == "BAG":
        contract = _with_legs(contract, _api_legs(r))
    keep = r.bool_()
    chart_options = r.str_()
    return ReqHistoricalData(
        req_id,
        contract,
        end,
        bar_size,
        duration,
        use_rth,
        what,
        format_date,
        keep,
        include_expired,
        chart_options,
    )


def _req_contract_details(r: FieldReader) -> ReqContractDetails:
    r.skip(1)  # version 8
    req_id = r.int_()
    contract = r.contract12()
    include_expired = r.bool_()
    sec_id_type = r.str_()
    sec_id = r.str_()
    issuer_id = r.str_() if r.remaining > 0 else ""
    return ReqContractDetails(req_id, contract, include_expired, sec_id_type, sec_id, issuer_id)


def _versioned(r: FieldReader) -> FieldReader:
    r.skip(1)
    return r


def _bare[T](cls: Callable[[], T]) -> Callable[[FieldReader], T]:
    """A request with only a version field."""

    def decode(r: FieldReader) -> T:
        r.skip(1)
        return cls()

    return decode


_DECODERS: dict[int, Callable[[FieldReader], Request]] = {
    1: _req_mkt_data,
    2: lambda r: CancelMktData(_versioned(r).int_()),
    3: _place_order,
    4: lambda r: CancelOrder(_versioned(r).int_(), r.str_() if r.remaining else ""),
    5: _bare(ReqOpenOrders),
    6: lambda r: ReqAccountUpdates(_versioned(r).bool_(), r.str_()),
    7: lambda r: ReqExecutions(
        _versioned(r).int_(),
        r.int_(),
        r.str_(),
        r.str_(),
        r.str_(),
        r.str_(),
        r.str_(),
        r.str_(),
    ),
    8: lambda r: ReqIds(_versioned(r).int_()),
    9: _req_contract_details,
    15: lambda r: ReqAutoOpenOrders(_versioned(r).bool_()),
    16: _bare(ReqAllOpenOrders),
    17: _bare(ReqManagedAccts),
    20: _req_historical_data,
    25: lambda r: CancelHistoricalData(_versioned(r).int_()),
    49: _bare(ReqCurrentTime),
    58: _bare(ReqGlobalCancel),
    59: lambda r: ReqMarketDataType(_versioned(r).int_()),
    61: _bare(ReqPositions),
    62: lambda r: ReqAccountSummary(_versioned(r).int_(), r.str_(), r.str_()),
    63: lambda r: CancelAccountSummary(_versioned(r).int_()),
    64: _bare(CancelPositions),
    71: lambda r: StartApi(_versioned(r).int_(), r.str_() if r.remaining else ""),
    76: lambda r: ReqAccountUpdatesMulti(_versioned(r).int_(), r.str_(), r.str_(), r.bool_()),
    77: lambda r: CancelAccountUpdatesMulti(_versioned(r).int_()),
    78: lambda r: ReqSecDefOptParams(r.int_(), r.str_(), r.str_(), r.str_(), r.int_()),
    92: lambda r: ReqPnL(r.int_(), r.str_(), r.str_()),
    93: lambda r: CancelPnL(r.int_()),
    94: lambda r: ReqPnLSingle(r.int_(), r.str_(), r.str_(), r.int_()),
    95: lambda r: CancelPnLSingle(r.int_()),
    99: lambda r: ReqCompletedOrders(r.bool_()),
}

#: Where the request id sits in messages the simulator does not serve, so the error can
#: name the request and the client's pending future fails at once instead of timing out.
_REQ_ID_INDEX: dict[int, int] = {
    1: 2, 2: 2, 3: 1, 4: 2, 7: 2, 9: 2, 10: 2, 11: 2, 20: 1, 21: 2, 22: 1, 23: 2, 25: 2,
    50: 2, 51: 2, 52: 2, 53: 2, 54: 2, 55: 2, 56: 2, 57: 2, 62: 2, 63: 2, 67: 2, 68: 2,
    69: 2, 70: 2, 74: 2, 75: 2, 76: 2, 77: 2, 78: 1, 79: 1, 81: 1, 83: 1, 84: 1, 86: 1,
    87: 1, 88: 1, 89: 1, 90: 1, 92: 1, 93: 1, 94: 1, 95: 1, 96: 1, 97: 1, 98: 1, 100: 1,
    101: 1, 102: 1, 103: 1, 104: 1,
}  # fmt: skip


def message_id(fields: Sequence[str]) -> int:
    """The message id of a request, or RequestError(320) if it is not a number."""
    if not fields:
        raise RequestError(ERR_CANNOT_READ, "Error reading request: empty message")
    try:
        return int(fields[0])
    except ValueError:
        raise RequestError(
            ERR_CANNOT_READ, f"Error reading request: bad message id {fields[0][:20]!r}"
        ) from None


def request_id_of(fields: Sequence[str]) -> int:
    """Best-effort request id (or order id) of a raw request; -1 when it has none."""
    try:
        idx = _REQ_ID_INDEX.get(int(fields[0]))
        if idx is None or idx >= len(fields):
            return -1
        return int(fields[idx])
    except (ValueError, IndexError):
        return -1


def decode_request(fields: Sequence[str], strict: bool = False) -> Request:
    """Decode one client message (its fields) into a request dataclass.

    Raises RequestError: 321 for message ids the simulator does not serve, 320 for
    malformed fields; ``req_id`` is set when the request id could be read, so the
    answer reaches the right pending request. ``strict`` also rejects trailing fields
    (tests use it to prove a parser consumed exactly what the client sent; the server
    tolerates them, as newer clients may append fields).
    """
    msg_id = message_id(fields)
    decoder = _DECODERS.get(msg_id)
    if decoder is None:
        raise RequestError(
            ERR_VALIDATION,
            f"Error validating request: unsupported message id {msg_id}",
            request_id_of(fields),
        )
    reader = FieldReader(fields, 1, msg_id)
    try:
        request = decoder(reader)
        if strict and reader.remaining:
            raise RequestError(
                ERR_CANNOT_READ,
                f"Error reading request. Message id {msg_id}: {reader.remaining} extra fields",
            )
        return request
    except RequestError as exc:
        exc.req_id = request_id_of(fields)
        raise


# --------------------------------------------------------------------------------------
# Client-side encoders (used by tests and tools that speak to the gateway without a
# TWS library; the layouts are the ones clients send at 176)
# --------------------------------------------------------------------------------------


def client_hello(lo: int = 157, hi: int = SERVER_VERSION) -> bytes:
    """What a client sends first: ``API\\0`` and the framed version range."""
    return API_PREFIX + frame_payload(f"v{lo}..{hi}".encode())


def client_start_api(client_id: int) -> bytes:
    return frame(("71", "2", str(client_id), ""))
