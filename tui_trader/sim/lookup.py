"""Contract lookup the way IB matches a client's Contract, and the details IB reports.

IB matches the fields a client filled in and ignores the empty ones: a conId alone is
enough; a stock is its symbol; an option is symbol + expiry + strike + right, and any of
those left empty (or an expiry given as a month, ``YYYYMM``) widens the match to every
listed option that fits, which is how clients download a chain with reqContractDetails.
The simulator only lists USD stocks and options, so any other currency or security type
matches nothing (IB's error 200).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from tui_trader.sim.clock import ET, xnys_sessions
from tui_trader.sim.market import Market
from tui_trader.sim.protocol import ContractDetailsInfo, WireContract, fmt_ib_date, wire_contract
from tui_trader.sim.types import Contract, OptionContract, Right, StockContract

STOCK_ORDER_TYPES = (
    "ACTIVETIM,AD,ADJUST,ALERT,ALGO,ALLOC,AON,AVGCOST,BASKET,COND,CONDORDER,DAY,DEACT,"
    "DEACTDIS,DEACTEOD,GAT,GTC,GTD,GTT,HID,IOC,LIT,LMT,MIT,MKT,MOC,MTL,NGCOMB,NONALGO,"
    "OCA,OPG,PEGBENCH,POSTONLY,PREOPGRTH,REL,RTH,SCALE,SNAPMID,SNAPMKT,SNAPREL,STP,"
    "STPLMT,TRAIL,TRAILLIT,TRAILLMT,TRAILMIT,WHATIF"
)
OPTION_ORDER_TYPES = (
    "ACTIVETIM,AD,ADJUST,ALERT,ALLOC,AVGCOST,BASKET,COND,CONDORDER,DAY,DEACT,DEACTDIS,"
    "DEACTEOD,GAT,GTC,GTD,GTT,HID,IOC,LIT,LMT,MIT,MKT,MTL,NGCOMB,NONALGO,OCA,OPENCLOSE,"
    "PEGMIDVOL,PEGMKTVOL,PEGPRMVOL,PEGSRFVOL,POSTONLY,REL,RELPCTOFS,RTH,SCALE,SNAPMID,"
    "SNAPMKT,SNAPREL,STP,STPLMT,TRAIL,TRAILLIT,TRAILLMT,TRAILMIT,VOLAT,WHATIF"
)
OPTION_EXCHANGES = "SMART,AMEX,BATS,BOX,CBOE,CBOE2,EDGX,EMERALD,GEMINI,IBUSOPT,ISE,MERCURY,MIAX,NASDAQOM,PEARL,PHLX,PSE"  # noqa: E501
_RIGHTS: dict[str, Right | None] = {"": None, "C": "C", "CALL": "C", "P": "P", "PUT": "P"}


def _stock_exchanges(primary: str) -> str:
    return f"SMART,AMEX,{primary},BATS,BEX,BYX,CBOE,EDGEA,EDGX,IEX,ISLAND,LTSE,MEMX,PEARL,PSX"


def _right(text: str) -> Right | bool | None:
    """The right a client asked for (None = any), or False when it is not a right at all."""
    r = _RIGHTS.get(text.upper())
    return False if r is None and text.strip() else r


def resolve(market: Market, wc: WireContract) -> list[Contract]:
    """Every listed contract matching the client's description (empty list: error 200)."""
    if wc.currency and wc.currency.upper() != "USD":
        return []
    sec_type = wc.sec_type.upper()
    if wc.con_id > 0:
        c = market.contract(wc.con_id)
        if c is None or (sec_type and sec_type != c.sec_type):
            return []
        return [c]
    symbol = wc.symbol.upper().strip()
    if sec_type == "STK":
        s = market.stock(symbol)
        return [] if s is None else [s]
    if sec_type != "OPT":
        return []
    if not symbol and wc.local_symbol:
        symbol = wc.local_symbol[:6].strip().upper()
    if not symbol or market.stock(symbol) is None:
        return []
    right = _right(wc.right)
    if right is False:
        return []
    expiry: date | None = None
    month: str | None = None
    ltd = wc.last_trade_date.strip()
    if len(ltd) == 8 and ltd.isdigit():
        try:
            expiry = datetime.strptime(ltd, "%Y%m%d").date()
        except ValueError:
            return []
    elif len(ltd) == 6 and ltd.isdigit():
        month = ltd
    elif ltd:
        return []
    strike = wc.strike if wc.strike > 0 else None
    found = market.options(symbol, expiry, right if isinstance(right, str) else None, strike)
    out: list[Contract] = []
    for o in found:
        if month is not None and fmt_ib_date(o.expiry)[:6] != month:
            continue
        if wc.trading_class and wc.trading_class != (o.trading_class or o.symbol):
            continue
        if wc.multiplier and wc.multiplier.strip() not in (str(o.multiplier), f"{o.multiplier}.0"):
            continue
        if wc.local_symbol and wc.local_symbol != o.local_symbol:
            continue
        out.append(o)
    return out


def trading_hours(today: date, days: int = 7) -> tuple[str, str]:
    """IB's tradingHours / liquidHours strings for the coming week (exchange time).

    Extended hours 04:00-20:00 (to 17:00 on early-close days), regular hours from the
    calendar's open to its close; non-sessions are ``YYYYMMDD:CLOSED``.
    """
    sessions = xnys_sessions(today)
    trading: list[str] = []
    liquid: list[str] = []
    for k in range(days):
        d = today + timedelta(days=k)
        tag = fmt_ib_date(d)
        i = sessions.index_on_or_after(d)
        if i >= len(sessions.days) or sessions.days[i] != d:
            trading.append(f"{tag}:CLOSED")
            liquid.append(f"{tag}:CLOSED")
            continue
        open_ = datetime.fromtimestamp(float(sessions.opens[i]), ET)
        close = datetime.fromtimestamp(float(sessions.closes[i]), ET)
        ext_close = "2000" if close.hour >= 16 else "1700"
        trading.append(f"{tag}:0400-{tag}:{ext_close}")
        liquid.append(f"{tag}:{open_:%H%M}-{tag}:{close:%H%M}")
    return ";".join(trading), ";".join(liquid)


def details(
    market: Market, c: Contract, hours: tuple[str, str], exchange: str = "SMART"
) -> tuple[WireContract, ContractDetailsInfo]:
    """The contract and its details as reqContractDetails reports them (options trade
    regular hours only, so their trading hours are the liquid hours)."""
    wc = wire_contract(c, exchange)
    if isinstance(c, StockContract):
        info = ContractDetailsInfo(
            market_name=wc.trading_class,
            min_tick=c.min_tick,
            order_types=STOCK_ORDER_TYPES,
            valid_exchanges=_stock_exchanges(c.primary_exchange),
            long_name=c.long_name,
            industry=c.sector,
            category=c.industry,
            subcategory=c.industry,
            trading_hours=hours[0],
            liquid_hours=hours[1],
            market_rule_ids=",".join(["26"] * 15),
            stock_type="ETF" if c.sector == "ETF" else "COMMON",
            agg_group=1,
            suggested_size_increment=100,
        )
        return wc, info
    under = market.stock(c.symbol)
    info = ContractDetailsInfo(
        market_name=wc.trading_class,
        min_tick=c.min_tick,
        order_types=OPTION_ORDER_TYPES,
        valid_exchanges=OPTION_EXCHANGES,
        long_name=under.long_name if under is not None else c.symbol,
        contract_month=fmt_ib_date(c.expiry)[:6],
        industry=under.sector if under is not None else "",
        category=under.industry if under is not None else "",
        subcategory=under.industry if under is not None else "",
        trading_hours=hours[1],
        liquid_hours=hours[1],
        under_con_id=c.underlying_con_id,
        under_symbol=c.symbol,
        under_sec_type="STK",
        market_rule_ids=",".join(["32"] * 17),
        real_expiration_date=fmt_ib_date(c.expiry),
        agg_group=2,
    )
    return wc, info


def chain_params(market: Market, symbol: str) -> tuple[str, str, list[str], list[float]] | None:
    """(tradingClass, multiplier, expirations, strikes) for reqSecDefOptParams."""
    expiries = market.expiries(symbol)
    if not expiries:
        return None
    strikes = market.strikes(symbol)
    sample: Sequence[OptionContract] = market.options(symbol, expiries[0])[:1]
    trading_class = (sample[0].trading_class if sample else "") or symbol
    multiplier = str(sample[0].multiplier) if sample else "100"
    return trading_class, multiplier, [fmt_ib_date(e) for e in expiries], sorted(strikes)
