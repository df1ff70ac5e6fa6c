"""Option chains from IB for one underlying and direction, ready for ``core.select_spreads``.

Which contracts are fetched (SPEC 5), and why:

- **Expiries**: those with calendar DTE (from ``asof``) in ``[min_dte, max_dte]``, from
  ``reqSecDefOptParams``'s SMART entry of the symbol's own trading class (the class named
  like the symbol; another SMART class only when that one is missing). Mixing classes
  would put two contracts on one strike, which ``OptionChain`` refuses.
- **Right**: calls for LONG (bull call debit), puts for SHORT (bear put debit).
- **Strikes**, per expiry: the long leg's |delta| must lie in [0.30, 0.50], i.e. from about
  at the money to some way out of it, and the short leg is 1..``max_strikes_apart`` listed
  strikes further out. So the fetch takes ``ITM_STRIKES`` (2) listed strikes on the
  in-the-money side of spot (a 0.50-delta call sits slightly above spot, a 0.50-delta put
  slightly below; two strikes of margin also cover a spot that moved a little), the
  ``strikes_around`` (default 10) listed strikes on the out-of-the-money side for long legs,
  and ``max_strikes_apart`` more beyond them for the short legs: 2 + 10 + 4 = 16 contracts
  per expiry, two or three expiries in a 30-45 DTE window, 32-48 lines. Ten strikes cover a
  0.30-delta call of a 40 % IV stock at 45 DTE with $2.50 strikes (about 8 strikes out);
  a more volatile name or finer strikes needs a larger ``strikes_around``.
  Listed strikes come from ``reqSecDefOptParams`` (the union over expiries); a strike an
  expiry does not list fails qualification and is left out.
- **Quotes** stream through :class:`~tui_trader.broker.marketdata.MarketData` under the pin
  ``preview:<symbol>`` so the chain cannot be evicted while it is read. A row is complete
  once its line has ticked since it was requested and its ticker has both sides (a "no
  value" marker counts as an answer) and model greeks: ib_insync hands a contract asked
  for again its old Ticker, and the old numbers in it are no quote.
  When lines are short (our own requests wait in the queue), complete rows are snapshotted
  and released at once so the waiting ones get lines: the chain is a snapshot either way.
  After ``timeout_s`` the chain is built with what arrived; a missing value is NaN, which
  ``select_spreads`` rejects as BAD_QUOTE / NO_GREEKS rather than guessing.
- With ``release=True`` (default) every chain line is unpinned and unsubscribed before
  returning; with False the lines keep streaming, pinned, until :func:`release_chain`.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
from ib_insync import IB, Contract, Option, Stock, Ticker
from loguru import logger

from tui_trader.broker.lines import LineStatus
from tui_trader.broker.marketdata import MarketData, Quote, clean_number, clean_quote
from tui_trader.core.settings import SelectionSettings
from tui_trader.core.spreads import Direction, OptionChain

ITM_STRIKES = 2
DEFAULT_STRIKES_AROUND = 10
DEFAULT_TIMEOUT_S = 5.0
QUALIFY_BATCH = 50


class ChainError(Exception):
    """No chain can be built (unknown symbol, no option parameters, no expiry in the DTE
    window); ``str()`` is the sentence for the user."""


def preview_pin(symbol: str) -> str:
    return f"preview:{symbol}"


@dataclass(frozen=True, slots=True)
class ChainPlan:
    """What :func:`fetch_chain` asks IB for (exposed for tests and the log)."""

    trading_class: str
    multiplier: str
    expiries: tuple[date, ...]
    strikes: tuple[float, ...]
    right: str


def _parse_expiry(text: str) -> date | None:
    try:
        return datetime.strptime(text.strip()[:8], "%Y%m%d").date()
    except ValueError:
        return None


def select_strikes(
    strikes: Sequence[float],
    spot: float,
    right: str,
    strikes_around: int,
    max_strikes_apart: int,
) -> list[float]:
    """The listed strikes to fetch (module doc): ITM_STRIKES on the in-the-money side of
    spot, ``strikes_around`` out of the money, ``max_strikes_apart`` beyond, ascending."""
    grid = sorted({float(k) for k in strikes if math.isfinite(k) and k > 0})
    if not grid:
        return []
    otm = strikes_around + max_strikes_apart
    if right == "C":  # ITM below spot, OTM above
        first_otm = bisect.bisect_left(grid, spot)
        lo = max(0, first_otm - ITM_STRIKES)
        hi = min(len(grid), first_otm + otm)
    else:  # puts: ITM above spot, OTM below
        first_itm = bisect.bisect_right(grid, spot)
        lo = max(0, first_itm - otm)
        hi = min(len(grid), first_itm + ITM_STRIKES)
    return grid[lo:hi]


async def underlying_quote(
    marketdata: MarketData, stock: Contract, *, timeout_s: float = 2.0, pin: str | None = None
) -> Quote:
    """Stream ``stock`` (qualified) and return its first sanitised quote with a usable bid
    and ask or last; all NaN after ``timeout_s``. The line stays (the scanner wants the
    underlying streaming anyway); unsubscribe it if not."""
    marketdata.subscribe(stock, pin=pin)
    con_id = stock.conId
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        q = marketdata.quote(con_id)
        if q.has_bid_ask or not math.isnan(q.last):
            return q
        remaining = deadline - loop.time()
        if remaining <= 0 or con_id in marketdata.unknown:
            return q
        await _next_tick(marketdata, remaining)


def spot_of(quote: Quote) -> float:
    """The price a chain is centred on: the mid when both sides are usable, else the last;
    NaN when there is neither (then there is no chain to rank: SPEC 5 needs a spot)."""
    mid = quote.mid
    return mid if not math.isnan(mid) else quote.last


async def _next_tick(marketdata: MarketData, timeout: float) -> None:
    """Wait for the next batch of ticks (or ``timeout`` seconds)."""
    ib = marketdata.ib
    event = asyncio.Event()

    def on_tickers(_: object) -> None:
        event.set()

    ib.pendingTickersEvent += on_tickers
    try:
        with contextlib.suppress(TimeoutError):  # no tick in time: the caller looks again
            await asyncio.wait_for(event.wait(), timeout)
    finally:
        ib.pendingTickersEvent -= on_tickers


async def plan_chain(
    ib: IB,
    symbol: str,
    direction: Direction,
    spot: float,
    selection: SelectionSettings,
    asof: date,
    *,
    underlying_con_id: int = 0,
    strikes_around: int = DEFAULT_STRIKES_AROUND,
) -> ChainPlan:
    """Ask ``reqSecDefOptParams`` and choose expiries and strikes (module doc)."""
    if direction not in ("LONG", "SHORT"):
        raise ValueError(f"direction must be LONG or SHORT, got {direction!r}")
    if not (math.isfinite(spot) and spot > 0):
        raise ChainError(f"{symbol}: no underlying price, so no chain (spot {spot!r})")
    if underlying_con_id <= 0:
        stock = Stock(symbol, "SMART", "USD")
        if not await ib.qualifyContractsAsync(stock):
            raise ChainError(f"{symbol}: IB does not know this symbol")
        underlying_con_id = stock.conId
    params = await ib.reqSecDefOptParamsAsync(symbol, "", "STK", underlying_con_id)
    smart = [p for p in params or [] if p.exchange == "SMART"]
    if not smart:
        raise ChainError(f"{symbol}: IB lists no SMART option chain")
    own = [p for p in smart if p.tradingClass == symbol]
    chosen = own[0] if own else max(smart, key=lambda p: len(p.expirations))
    expiries = []
    for text in chosen.expirations:
        d = _parse_expiry(text)
        if d is not None and selection.min_dte <= (d - asof).days <= selection.max_dte:
            expiries.append(d)
    if not expiries:
        raise ChainError(
            f"{symbol}: no expiry with {selection.min_dte}-{selection.max_dte} days to expiry"
        )
    right = "C" if direction == "LONG" else "P"
    strikes = select_strikes(
        chosen.strikes, spot, right, strikes_around, selection.max_strikes_apart
    )
    if not strikes:
        raise ChainError(f"{symbol}: IB lists no strikes")
    return ChainPlan(
        chosen.tradingClass, chosen.multiplier, tuple(sorted(expiries)), tuple(strikes), right
    )


@dataclass(slots=True)
class _Row:
    contract: Contract
    bid: float = math.nan
    ask: float = math.nan
    delta: float = math.nan
    iv: float = math.nan
    gamma: float = math.nan
    vega: float = math.nan
    theta: float = math.nan
    done: bool = False


def _complete(t: Ticker | None) -> bool:
    return (
        t is not None
        and not math.isnan(t.bid)
        and not math.isnan(t.ask)
        and t.modelGreeks is not None
    )


def _snapshot(row: _Row, t: Ticker | None) -> None:
    if t is None:
        return
    q = clean_quote(t)
    row.bid, row.ask = q.bid, q.ask
    g: Any = t.modelGreeks
    if g is not None:
        row.delta = clean_number(g.delta)
        row.iv = clean_number(g.impliedVol)
        row.gamma = clean_number(g.gamma)
        row.vega = clean_number(g.vega)
        row.theta = clean_number(g.theta)


async def qualify_chain(
    ib: IB,
    symbol: str,
    direction: Direction,
    spot: float,
    selection: SelectionSettings,
    asof: date,
    *,
    strikes_around: int = DEFAULT_STRIKES_AROUND,
    underlying_con_id: int = 0,
) -> list[Contract]:
    """The chain's option contracts, qualified (module doc: which ones). The slow half of a
    chain (about 32 requests at IB's pacing); :func:`quote_chain` is the other half. Raises
    :class:`ChainError` when there is nothing to fetch."""
    plan = await plan_chain(
        ib,
        symbol,
        direction,
        spot,
        selection,
        asof,
        underlying_con_id=underlying_con_id,
        strikes_around=strikes_around,
    )
    wanted: list[Contract] = [
        Option(
            symbol,
            e.strftime("%Y%m%d"),
            k,
            plan.right,
            "SMART",
            multiplier=plan.multiplier,
            currency="USD",
            tradingClass=plan.trading_class,
        )
        for e in plan.expiries
        for k in plan.strikes
    ]
    qualified: list[Contract] = []
    for i in range(0, len(wanted), QUALIFY_BATCH):
        qualified += await ib.qualifyContractsAsync(*wanted[i : i + QUALIFY_BATCH])
    if not qualified:
        raise ChainError(f"{symbol}: none of the {len(wanted)} option contracts qualified")
    logger.info(
        "{} chain: {} expiries x {} strikes ({}), {} of {} qualified",
        symbol,
        len(plan.expiries),
        len(plan.strikes),
        plan.right,
        len(qualified),
        len(wanted),
    )
    return qualified


async def quote_chain(
    marketdata: MarketData,
    symbol: str,
    qualified: Sequence[Contract],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    release: bool = True,
) -> OptionChain:
    """Live quotes and model greeks for ``qualified`` contracts (module doc), as a chain."""
    pin = preview_pin(symbol)
    rows = {c.conId: _Row(c) for c in qualified}
    for c in qualified:
        marketdata.subscribe(c, pin=pin)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    try:
        while True:
            waiting = False
            for con_id, row in rows.items():
                if row.done:
                    continue
                t = marketdata.ticker(con_id)
                if con_id in marketdata.unknown or (marketdata.has_ticked(con_id) and _complete(t)):
                    _snapshot(row, t)
                    row.done = True
                    if release and marketdata.budget.queued:
                        _release_one(marketdata, con_id, pin)  # room for waiting rows
                else:
                    waiting = True
            remaining = deadline - loop.time()
            if not waiting or remaining <= 0:
                break
            await _next_tick(marketdata, remaining)
        for con_id, row in rows.items():
            if not row.done and marketdata.has_ticked(con_id):  # old numbers are no quote
                _snapshot(row, marketdata.ticker(con_id))
    finally:
        if release:
            for con_id in rows:
                _release_one(marketdata, con_id, pin)
    missing = sum(1 for r in rows.values() if not r.done)
    if missing:
        logger.warning("{} chain: {} of {} rows timed out", symbol, missing, len(rows))
    return _build(list(rows.values()))


async def fetch_chain(
    ib: IB,
    marketdata: MarketData,
    symbol: str,
    direction: Direction,
    spot: float,
    selection: SelectionSettings,
    asof: date,
    *,
    strikes_around: int = DEFAULT_STRIKES_AROUND,
    underlying_con_id: int = 0,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    release: bool = True,
) -> OptionChain:
    """The chain for ``symbol`` and ``direction`` with live quotes and model greeks
    (module doc): :func:`qualify_chain` then :func:`quote_chain`. Raises
    :class:`ChainError` when there is nothing to fetch."""
    qualified = await qualify_chain(
        ib, symbol, direction, spot, selection, asof,
        strikes_around=strikes_around, underlying_con_id=underlying_con_id,
    )  # fmt: skip
    return await quote_chain(marketdata, symbol, qualified, timeout_s=timeout_s, release=release)


def _release_one(marketdata: MarketData, con_id: int, pin: str) -> None:
    """Lift our pin and give the line back, unless another owner pins it too (a leg of an
    open position that is also in the chain keeps streaming)."""
    marketdata.unpin(con_id, pin)
    if marketdata.budget.status(con_id) is not LineStatus.NONE:
        marketdata.unsubscribe(con_id)  # a no-op while someone else pins it


def release_chain(marketdata: MarketData, chain: OptionChain, symbol: str) -> None:
    """Unpin and unsubscribe the lines a ``fetch_chain(..., release=False)`` left open."""
    for con_id in chain.con_id.tolist():
        if con_id > 0:
            _release_one(marketdata, int(con_id), preview_pin(symbol))


def _build(rows: list[_Row]) -> OptionChain:
    def col(name: str) -> list[float]:
        return [getattr(r, name) for r in rows]

    return OptionChain(
        expiry=np.array(
            [_parse_expiry(r.contract.lastTradeDateOrContractMonth) for r in rows],
            dtype="datetime64[D]",
        ),
        strike=[float(r.contract.strike) for r in rows],
        is_call=np.array([r.contract.right.upper().startswith("C") for r in rows], dtype=bool),
        bid=col("bid"),
        ask=col("ask"),
        delta=col("delta"),
        iv=col("iv"),
        con_id=[int(r.contract.conId) for r in rows],
        gamma=col("gamma"),
        vega=col("vega"),
        theta=col("theta"),
    )
