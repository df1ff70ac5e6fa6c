"""Market data lines (reqMktData) and what each one streams.

A line is one client's subscription to one contract. Each round renders every tick the
line carries as an encoded message and sends only the messages whose bytes changed since
the last round: comparing bytes rather than floats makes NaN quotes (no bid, no last)
compare equal to themselves, so a quiet contract costs no traffic.

What IB streams and how the simulator mirrors it:
- stocks and options: bid/ask with their sizes (tick types 1/2), last with its size (4),
  high/low (6/7), previous close (9) and volume (8). No bid/ask is IB's -1 with size 0;
  a last/high/low/close the market does not have is simply not sent;
- options also get tickOptionComputation for bid (10), ask (11) and model (13), with
  IB's "no value" markers for NaN;
- options whose request lists generic tick 101 also get their open interest, once a day's
  number (``Market.open_interest``): tickSize 27 for a call, 28 for a put, as IB sends it
  for an option contract (ib_insync's ``callOpenInterest`` / ``putOpenInterest``). Other
  generic ticks, and 101 on a stock or a combo, add nothing;
- combos (BAG) get the natural combo quote: bid = sum(BUY legs' bids) - sum(SELL legs'
  asks), ask the other way round (ratios applied), size the smallest leg size per ratio;
  any leg without a quote leaves the combo side at -1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, Protocol

from tui_trader.sim import protocol as p
from tui_trader.sim.market import Market
from tui_trader.sim.types import OptionQuote, Quote

LineKind = Literal["STK", "OPT", "BAG"]

BID, ASK, LAST, HIGH, LOW, CLOSE = 1, 2, 4, 6, 7, 9
VOLUME = 8
BID_GREEKS, ASK_GREEKS, MODEL_GREEKS = 10, 11, 13
CALL_OPEN_INTEREST, PUT_OPEN_INTEREST = 27, 28
#: The generic tick that asks for open interest.
GENERIC_OPEN_INTEREST = 101
_SIZE_KEY = 100
_GREEKS_KEY = 200


class Sink(Protocol):
    """Where a line's messages go (a client connection)."""

    def send(self, data: bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class LegRef:
    """A combo leg resolved to a listed contract: +1 for BUY, -1 for SELL."""

    con_id: int
    symbol: str
    is_option: bool
    ratio: int
    sign: int


@dataclass(eq=False, slots=True)
class MarketLine:
    """One client's market data subscription."""

    sink: Sink
    req_id: int
    kind: LineKind
    con_id: int
    symbol: str
    min_tick: float = 0.01
    legs: tuple[LegRef, ...] = ()
    last_sent: dict[int, bytes] = field(default_factory=dict)
    #: The request's generic tick list (``parse_generic_ticks``).
    generic_ticks: frozenset[int] = frozenset()

    @property
    def con_ids(self) -> tuple[int, ...]:
        """The conIds whose quote changes move this line."""
        if self.kind == "BAG":
            return tuple(leg.con_id for leg in self.legs)
        return (self.con_id,)


def parse_generic_ticks(text: str) -> frozenset[int]:
    """The generic tick numbers of a reqMktData's comma-separated list ("100,101,106");
    entries that are not numbers are skipped (IB's own "mdoff" switches and the like)."""
    out: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if part.isdigit():
            out.add(int(part))
    return frozenset(out)


def _price(x: float) -> float:
    """IB's bid/ask "no price" marker is -1."""
    return x if math.isfinite(x) else -1.0


def _size(x: float) -> float:
    return x if math.isfinite(x) and x >= 0 else 0.0


def _quote_messages(req_id: int, q: Quote, out: dict[int, bytes]) -> None:
    bid = _price(q.bid)
    ask = _price(q.ask)
    out[BID] = p.tick_price(req_id, BID, bid, _size(q.bid_size) if bid != -1.0 else 0.0)
    out[ASK] = p.tick_price(req_id, ASK, ask, _size(q.ask_size) if ask != -1.0 else 0.0)
    if math.isfinite(q.last) and q.last > 0:
        out[LAST] = p.tick_price(req_id, LAST, q.last, _size(q.last_size))
    for tick, value in ((HIGH, q.high), (LOW, q.low), (CLOSE, q.close)):
        if math.isfinite(value) and value > 0:
            out[tick] = p.tick_price(req_id, tick, value, 0.0)
    if math.isfinite(q.volume) and q.volume >= 0:
        out[_SIZE_KEY + VOLUME] = p.tick_size(req_id, VOLUME, q.volume)


def _option_messages(req_id: int, oq: OptionQuote, out: dict[int, bytes]) -> None:
    _quote_messages(req_id, oq.quote, out)
    for tick, g in ((BID_GREEKS, oq.bid_greeks), (ASK_GREEKS, oq.ask_greeks),
                    (MODEL_GREEKS, oq.model_greeks)):  # fmt: skip
        out[_GREEKS_KEY + tick] = p.tick_option_computation(req_id, tick, g)


def _leg_quote(market: Market, leg: LegRef) -> Quote:
    if leg.is_option:
        return market.option_quote(leg.con_id).quote
    return market.quote(leg.symbol)


def combo_quote(market: Market, legs: tuple[LegRef, ...]) -> tuple[float, float, float, float]:
    """(bid, ask, bid_size, ask_size) of a combo from its legs' quotes; NaN where a side has
    no natural price."""
    bid = ask = 0.0
    bid_size = ask_size = math.inf
    for leg in legs:
        q = _leg_quote(market, leg)
        # buying the combo buys BUY legs at their ask and sells SELL legs at their bid
        buy_px, sell_px = (q.ask, q.bid) if leg.sign > 0 else (q.bid, q.ask)
        buy_sz, sell_sz = (q.ask_size, q.bid_size) if leg.sign > 0 else (q.bid_size, q.ask_size)
        ask += leg.sign * leg.ratio * buy_px
        bid += leg.sign * leg.ratio * sell_px
        ask_size = min(ask_size, buy_sz / leg.ratio)
        bid_size = min(bid_size, sell_sz / leg.ratio)
    return (
        round(bid, 4) if math.isfinite(bid) else math.nan,
        round(ask, 4) if math.isfinite(ask) else math.nan,
        math.floor(bid_size) if math.isfinite(bid_size) else 0.0,
        math.floor(ask_size) if math.isfinite(ask_size) else 0.0,
    )


def render(line: MarketLine, market: Market) -> dict[int, bytes]:
    """Every message the line carries right now, keyed by tick."""
    out: dict[int, bytes] = {}
    if line.kind == "STK":
        _quote_messages(line.req_id, market.quote(line.symbol), out)
    elif line.kind == "OPT":
        _option_messages(line.req_id, market.option_quote(line.con_id), out)
        if GENERIC_OPEN_INTEREST in line.generic_ticks:
            right, contracts = market.open_interest(line.con_id)
            tick = CALL_OPEN_INTEREST if right == "C" else PUT_OPEN_INTEREST
            out[_SIZE_KEY + tick] = p.tick_size(line.req_id, tick, float(contracts))
    else:
        bid, ask, bid_size, ask_size = combo_quote(market, line.legs)
        out[BID] = p.tick_price(line.req_id, BID, _price(bid), bid_size if bid == bid else 0.0)
        out[ASK] = p.tick_price(line.req_id, ASK, _price(ask), ask_size if ask == ask else 0.0)
    return out


def publish(line: MarketLine, market: Market, *, full: bool = False) -> int:
    """Send what changed since the last round (everything when ``full``); returns the
    number of messages sent."""
    now = render(line, market)
    sent = 0
    last = line.last_sent
    for key, msg in now.items():
        if full or last.get(key) != msg:
            line.sink.send(msg)
            sent += 1
    line.last_sent = now
    return sent


@dataclass(slots=True)
class LineBook:
    """Every open line, indexed by the conIds that move it."""

    by_con: dict[int, set[MarketLine]] = field(default_factory=dict)

    def add(self, line: MarketLine) -> None:
        for con_id in line.con_ids:
            self.by_con.setdefault(con_id, set()).add(line)

    def remove(self, line: MarketLine) -> list[int]:
        """Drop a line; returns the conIds nobody streams any more."""
        orphaned: list[int] = []
        for con_id in line.con_ids:
            lines = self.by_con.get(con_id)
            if lines is None:
                continue
            lines.discard(line)
            if not lines:
                del self.by_con[con_id]
                orphaned.append(con_id)
        return orphaned

    def moved_by(self, con_ids: set[int]) -> set[MarketLine]:
        out: set[MarketLine] = set()
        for con_id in con_ids:
            lines = self.by_con.get(con_id)
            if lines:
                out |= lines
        return out

    def __len__(self) -> int:
        return len({line for lines in self.by_con.values() for line in lines})
