"""Market data lines: what a round sends, NaN quotes, combo quotes, diffing."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

from tui_trader.sim.market import Market
from tui_trader.sim.subscriptions import LegRef, LineBook, MarketLine, combo_quote, publish
from tui_trader.sim.types import OptionGreeks, OptionQuote, Quote

Decode = Callable[[bytes], list[tuple[str, tuple[Any, ...]]]]

NAN = math.nan
T = datetime(2026, 11, 18, 19, 30, tzinfo=UTC)


def quote(bid: float, ask: float, last: float = NAN, **kw: float) -> Quote:
    base: dict[str, Any] = dict(bid_size=10.0, ask_size=20.0, last_size=1.0, volume=NAN,
                                high=NAN, low=NAN, close=NAN, time=T)  # fmt: skip
    base.update(kw)
    return Quote(bid=bid, ask=ask, last=last, **base)


class FakeMarket:
    def __init__(self) -> None:
        self.stocks: dict[str, Quote] = {}
        self.options: dict[int, OptionQuote] = {}

    def quote(self, symbol: str) -> Quote:
        return self.stocks[symbol]

    def option_quote(self, con_id: int) -> OptionQuote:
        return self.options[con_id]


class Sink:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, data: bytes) -> None:
        self.sent.append(data)

    def drain(self, decode: Decode) -> list[tuple[str, tuple[Any, ...]]]:
        """What ib_insync makes of the messages sent since the last drain."""
        calls = decode(b"".join(self.sent))
        self.sent.clear()
        return calls


def test_a_stock_without_a_market_sends_ibs_minus_one_and_nothing_it_lacks(
    decode_server: Decode,
) -> None:
    m = FakeMarket()
    m.stocks["XYZ"] = quote(NAN, 5.10, volume=300.0)
    sink = Sink()
    line = MarketLine(sink, 4, "STK", 1, "XYZ")
    publish(line, cast(Market, m), full=True)
    assert sink.drain(decode_server) == [
        ("priceSizeTick", (4, 1, -1.0, 0.0)),
        ("priceSizeTick", (4, 2, 5.10, 20.0)),
        ("tickSize", (4, 8, 300.0)),
    ]
    publish(line, cast(Market, m))  # nothing changed, NaNs included
    assert sink.sent == []
    m.stocks["XYZ"] = quote(5.00, 5.10, last=5.05, volume=300.0)
    publish(line, cast(Market, m))
    assert sink.drain(decode_server) == [
        ("priceSizeTick", (4, 1, 5.0, 10.0)),
        ("priceSizeTick", (4, 4, 5.05, 1.0)),
    ]


def test_option_lines_carry_three_greeks_with_markers(decode_server: Decode) -> None:
    m = FakeMarket()
    g = OptionGreeks(0.3, 0.5, 2.0, 0.0, 0.05, 0.1, -0.02, 100.0)
    none = OptionGreeks(NAN, NAN, NAN, 0.0, NAN, NAN, NAN, 100.0)
    m.options[7] = OptionQuote(quote(NAN, 2.1), none, g, g)
    sink = Sink()
    publish(MarketLine(sink, 9, "OPT", 7, "XYZ"), cast(Market, m), full=True)
    greeks = [a for n, a in sink.drain(decode_server) if n == "tickOptionComputation"]
    assert greeks == [
        (9, 10, 0, -1.0, -2.0, -1.0, 0.0, -2.0, -2.0, -2.0, 100.0),
        (9, 11, 0, 0.3, 0.5, 2.0, 0.0, 0.05, 0.1, -0.02, 100.0),
        (9, 13, 0, 0.3, 0.5, 2.0, 0.0, 0.05, 0.1, -0.02, 100.0),
    ]


def test_combo_quote_buys_at_asks_and_sells_at_bids() -> None:
    m = FakeMarket()
    g = OptionGreeks(*(NAN,) * 8)
    m.options[1] = OptionQuote(quote(5.00, 5.20, bid_size=30, ask_size=40), g, g, g)
    m.options[2] = OptionQuote(quote(2.00, 2.10, bid_size=50, ask_size=8), g, g, g)
    legs = (LegRef(1, "XYZ", True, 1, 1), LegRef(2, "XYZ", True, 2, -1))  # +1 / -2 ratio
    bid, ask, bid_size, ask_size = combo_quote(cast(Market, m), legs)
    assert ask == 1.20 and bid == 0.80  # rounded: no float noise on the wire
    assert (bid_size, ask_size) == (4, 25)  # short leg: 8 / 2 on the bid, 50 / 2 on the ask
    m.options[2] = OptionQuote(quote(NAN, 2.10), g, g, g)
    bid, ask, _, _ = combo_quote(cast(Market, m), legs)
    assert math.isnan(ask) and bid == 0.80


def test_line_book_index() -> None:
    book = LineBook()
    a = MarketLine(Sink(), 1, "OPT", 11, "XYZ")
    b = MarketLine(Sink(), 2, "BAG", 0, "XYZ", legs=(LegRef(11, "XYZ", True, 1, 1),
                                                      LegRef(12, "XYZ", True, 1, -1)))  # fmt: skip
    book.add(a)
    book.add(b)
    assert book.moved_by({12}) == {b}
    assert book.moved_by({11, 99}) == {a, b}
    assert len(book) == 2
    assert book.remove(a) == []  # 11 is still streamed by the combo
    assert sorted(book.remove(b)) == [11, 12]
    assert len(book) == 0
