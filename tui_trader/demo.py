"""``tui-trader --demo`` until the dashboard lands: one scan of the simulated market, printed.

It runs the same code paths a trader's scan runs -- the seeded simulated market's daily
history through ``core.scanner``, then each tradable signal's option chain (as the simulated
gateway quotes it) through ``core.spreads`` -- so a new user sees real output with no IB
account. The dashboard issue replaces this with the Textual app connected to the in-process
simulated gateway.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal, TextIO

import numpy as np
import pandas as pd

from tui_trader.core.bars import Bars
from tui_trader.core.scanner import ScanReport, SymbolScan, scan
from tui_trader.core.scanner import format_table as format_scan
from tui_trader.core.settings import Settings
from tui_trader.core.spreads import OptionChain, SpreadSelection, select_spreads
from tui_trader.core.spreads import format_table as format_spreads
from tui_trader.sim.clock import SimClock, default_demo_start
from tui_trader.sim.market import Market

#: How many ranked spreads the demo prints per signal.
TOP_SPREADS = 3


def market_bars(market: Market) -> Bars:
    """The market's daily history (today's provisional bar included) as scanner input."""
    rows = [
        (bar.day, symbol, bar.open, bar.high, bar.low, bar.close, bar.volume)
        for symbol in market.symbols
        for bar in market.daily_bars(symbol)
    ]
    frame = pd.DataFrame(rows, columns=["date", "symbol", "open", "high", "low", "close", "volume"])
    frame["date"] = pd.to_datetime(frame["date"])
    return Bars.from_frame(frame)


def market_chain(market: Market, symbol: str, asof: date, settings: Settings) -> OptionChain:
    """The symbol's listed options inside the DTE window, with quotes and model greeks."""
    lo, hi = settings.selection.min_dte, settings.selection.max_dte
    contracts = [
        c
        for expiry in market.expiries(symbol)
        if lo <= (expiry - asof).days <= hi
        for c in market.options(symbol, expiry=expiry)
    ]
    quotes = market.option_quotes([c.con_id for c in contracts])
    return OptionChain(
        expiry=np.array([c.expiry for c in contracts], dtype="datetime64[D]"),
        strike=[c.strike for c in contracts],
        is_call=[c.right == "C" for c in contracts],
        bid=[q.quote.bid for q in quotes],
        ask=[q.quote.ask for q in quotes],
        delta=[q.model_greeks.delta for q in quotes],
        iv=[q.model_greeks.implied_vol for q in quotes],
        con_id=[c.con_id for c in contracts],
    )


def demo_scan(settings: Settings, seed: int, now: datetime) -> tuple[Market, ScanReport]:
    """Build the seeded market as of ``now`` and scan it."""
    market = Market(SimClock(default_demo_start(now), speed=0.0), seed=seed)
    market.advance()  # to the clock's time, as the gateway does: today's bar up to 14:30 ET
    caps = {s.symbol: s.market_cap for s in market.stocks()}
    return market, scan(market_bars(market), settings.universe, settings.strategy, caps)


def demo_spreads(
    market: Market, report: ScanReport, settings: Settings
) -> list[tuple[SymbolScan, SpreadSelection]]:
    """Ranked spreads for every tradable signal of the scan."""
    asof = market.session_day()
    out = []
    for result in report.results:
        if not result.tradable or result.direction is None:
            continue
        chain = market_chain(market, result.symbol, asof, settings)
        direction: Literal["LONG", "SHORT"] = "LONG" if result.direction == "LONG" else "SHORT"
        selection = select_spreads(
            chain, market.mid(result.symbol), direction, asof, settings.selection,
            settings.pricing,
        )  # fmt: skip
        out.append((result, selection))
    return out


def run_demo(settings: Settings, seed: int, out: TextIO, now: datetime) -> int:
    """Print the demo scan and the best spreads for each tradable signal."""
    market, report = demo_scan(settings, seed, now)
    signals = [r for r in report.results if r.signals]
    out.write(
        f"Simulated market (seed {seed}), {market.time():%Y-%m-%d %H:%M} UTC: "
        f"{report.symbols} symbols scanned in {report.elapsed_ms:.1f} ms, "
        f"{len(signals)} with a signal.\n\n"
    )
    if signals:
        out.write(format_scan(signals) + "\n")
    for result, selection in demo_spreads(market, report, settings):
        out.write(f"\n{result.symbol} {result.direction}: ")
        if len(selection) == 0:
            out.write(f"no spread passes the rules (rejected: {selection.rejected})\n")
        else:
            out.write(f"best of {len(selection)} spreads\n")
            out.write(format_spreads(selection, limit=TOP_SPREADS) + "\n")
    out.write(
        "\nThis is a one-shot scan of the built-in simulated market. Run the simulated IB "
        "gateway with `tui-trader gateway`; the live dashboard is being built.\n"
    )
    return 0
