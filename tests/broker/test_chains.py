"""Option chains fetched from the simulated gateway and ranked by core (SPEC 5)."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, datetime, timedelta

import numpy as np
import pytest
from ib_insync import Stock

from tests.broker.conftest import T_START, FakeMonotonic
from tests.sim.conftest import Connect
from tui_trader.broker.chains import (
    ITM_STRIKES,
    ChainError,
    fetch_chain,
    plan_chain,
    release_chain,
    select_strikes,
    spot_of,
    underlying_quote,
)
from tui_trader.broker.lines import LineBudget
from tui_trader.broker.marketdata import MarketData
from tui_trader.core.settings import PricingSettings, SelectionSettings
from tui_trader.core.spreads import select_spreads
from tui_trader.sim.gateway import SimGateway

ASOF = date(2026, 11, 18)


def clock_of(fake_time: FakeMonotonic) -> Callable[[], datetime]:
    return lambda: T_START + timedelta(seconds=fake_time.now - 1000.0)


def test_select_strikes_calls_and_puts() -> None:
    grid = [float(k) for k in range(200, 301, 5)]  # 200, 205, ..., 300
    calls = select_strikes(grid, 236.8, "C", strikes_around=4, max_strikes_apart=2)
    # 2 in the money below spot, then 4 + 2 from the first strike above spot
    assert calls == [230.0, 235.0, 240.0, 245.0, 250.0, 255.0, 260.0, 265.0]
    puts = select_strikes(grid, 236.8, "P", strikes_around=4, max_strikes_apart=2)
    # 2 in the money above spot, 4 + 2 from the first strike below it
    assert puts == [210.0, 215.0, 220.0, 225.0, 230.0, 235.0, 240.0, 245.0]
    # a spot exactly on a strike: that strike is the first OTM call / first ITM put
    assert select_strikes(grid, 250.0, "C", 1, 1)[: ITM_STRIKES + 1] == [240.0, 245.0, 250.0]
    assert select_strikes(grid, 250.0, "P", 1, 1)[-ITM_STRIKES:] == [255.0, 260.0]
    assert select_strikes(grid, 199.0, "P", 3, 1) == [200.0, 205.0]  # clipped at the grid
    assert select_strikes([math.nan, -5.0], 100.0, "C", 3, 1) == []


async def test_fetch_chain_ranks_real_aapl_spreads(
    gateway: SimGateway, connect: Connect, fake_time: FakeMonotonic
) -> None:
    ib = await connect(1)
    md = MarketData(ib, LineBudget(90), clock=clock_of(fake_time))
    aapl = Stock("AAPL", "SMART", "USD")
    await ib.qualifyContractsAsync(aapl)
    quote = await underlying_quote(md, aapl)
    spot = spot_of(quote)
    assert quote.has_bid_ask and 150 < spot < 350
    selection = SelectionSettings()

    chain = await fetch_chain(ib, md, "AAPL", "LONG", spot, selection, ASOF)

    # expiries 18 Dec (30 DTE) and 24 Dec (36 DTE, Christmas Friday -> Thursday) only
    assert sorted(set(chain.expiry.tolist())) == [date(2026, 12, 18), date(2026, 12, 24)]
    assert chain.is_call.all()
    per_expiry = len(chain) // 2
    assert per_expiry == ITM_STRIKES + 10 + selection.max_strikes_apart
    assert (chain.con_id > 0).all()
    assert np.isfinite(chain.bid).all() and np.isfinite(chain.ask).all()
    assert (chain.bid <= chain.ask).all()
    assert np.isfinite(chain.delta).all() and np.isfinite(chain.iv).all()
    assert ((chain.delta > 0) & (chain.delta < 1)).all()
    # the fetch streamed under the preview pin and released every chain line after
    assert md.budget.active == 1 and md.budget.status(aapl.conId).value == "ACTIVE"
    assert not md.budget.is_pinned(int(chain.con_id[0]))

    result = select_spreads(chain, spot, "LONG", ASOF, selection, PricingSettings())
    assert len(result) > 0
    assert result.candidates == len(result) + sum(result.rejected.values())
    assert result.rejected["BAD_QUOTE"] == 0 and result.rejected["NO_GREEKS"] == 0
    rr = result.reward_risk
    assert (rr[:-1] >= rr[1:] - 1e-12).all()  # ranked by reward/risk first
    assert (result.cost <= selection.max_spread_cost + 1e-9).all()
    assert (rr >= selection.min_reward_risk - 1e-9).all()
    assert ((result.long_delta >= 0.30) & (result.long_delta <= 0.50)).all()
    assert (result.short_strike > result.long_strike).all()
    assert ((result.dte >= 30) & (result.dte <= 45)).all()
    best_long = int(chain.con_id[result.long_row[0]])
    best_short = int(chain.con_id[result.short_row[0]])
    assert best_long != best_short
    # every long leg the band allows lies inside the fetched strikes (not at the edge)
    in_band = (np.abs(chain.delta) >= 0.30) & (np.abs(chain.delta) <= 0.50)
    assert in_band.any()
    top = chain.strike.max()
    assert (chain.strike[in_band] < top).all()


async def test_fetch_chain_puts_for_short(
    gateway: SimGateway, connect: Connect, fake_time: FakeMonotonic
) -> None:
    ib = await connect(2)
    md = MarketData(ib, LineBudget(90), clock=clock_of(fake_time))
    msft = Stock("MSFT", "SMART", "USD")
    await ib.qualifyContractsAsync(msft)
    spot = spot_of(await underlying_quote(md, msft))
    chain = await fetch_chain(
        ib, md, "MSFT", "SHORT", spot, SelectionSettings(), ASOF, release=False
    )
    assert not chain.is_call.any()
    keys = [int(k) for k in chain.con_id]
    assert all(md.budget.is_pinned(k) for k in keys)  # kept streaming for the preview
    assert md.budget.active == 1 + len(keys)
    result = select_spreads(chain, spot, "SHORT", ASOF, SelectionSettings(), PricingSettings())
    assert len(result) > 0 and (result.short_strike < result.long_strike).all()
    release_chain(md, chain, "MSFT")
    assert md.budget.active == 1
    assert not any(md.budget.is_pinned(k) for k in keys)


async def test_chain_wider_than_the_budget_is_streamed_in_turns(
    gateway: SimGateway, connect: Connect, fake_time: FakeMonotonic
) -> None:
    ib = await connect(3)
    md = MarketData(ib, LineBudget(12), clock=clock_of(fake_time))
    chain = await fetch_chain(ib, md, "AAPL", "LONG", 236.8, SelectionSettings(), ASOF)
    assert len(chain) == 32 > 12
    assert np.isfinite(chain.bid).all() and np.isfinite(chain.delta).all()
    assert md.budget.active == 0 and md.budget.queued == 0


async def test_chain_errors(gateway: SimGateway, connect: Connect) -> None:
    ib = await connect(4)
    with pytest.raises(ChainError, match="does not know"):
        await plan_chain(ib, "ZZZZ", "LONG", 100.0, SelectionSettings(), ASOF)
    with pytest.raises(ChainError, match="no underlying price"):
        await plan_chain(ib, "AAPL", "LONG", math.nan, SelectionSettings(), ASOF)
    narrow = SelectionSettings(min_dte=60, max_dte=62)
    with pytest.raises(ChainError, match="no expiry"):
        await plan_chain(ib, "AAPL", "LONG", 236.8, narrow, ASOF)
