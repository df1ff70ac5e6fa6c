"""The universe's underlyings, qualified while the connection drops (soak finding): the
batch cut short is asked again once connected -- a warning, never a traceback -- and every
symbol streams."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from loguru import logger

from tests.engine.conftest import ENGINE_SYMBOLS, MakeEngine
from tests.sim.conftest import until
from tui_trader.sim.gateway import SimGateway
from tui_trader.state.bar_cache import default_cache_path


@pytest.mark.parametrize(
    ("bars_cached", "said"),
    [
        (False, "dropped while loading bars"),  # the bars loader's own first stock
        # bars cached today but no contracts (issue 12's cache reuses the loader's): the
        # universe qualifies its lines itself
        (True, "dropped while qualifying the universe"),
    ],
)
async def test_a_drop_while_qualifying_is_waited_out(
    make_engine: MakeEngine, engine_gateway: SimGateway, bars_cached: bool, said: str
) -> None:
    gateway = engine_gateway
    drop_at = 1
    if bars_cached:
        first = await make_engine(journal_name="first.sqlite3")
        await first.stop()
        with sqlite3.connect(default_cache_path()) as cache:
            cache.execute("DELETE FROM contracts")
        cache.close()
    stock_asks: list[str] = []
    original = gateway._req_contract_details

    def drop_on_first_stock(s: Any, req: Any) -> None:
        # the ``drop_at``-th stock asked for: the network goes before IB answers it
        if req.contract.sec_type == "STK":
            stock_asks.append(req.contract.symbol)
            if len(stock_asks) == drop_at:
                gateway.drop()
                return
        original(s, req)

    gateway._req_contract_details = drop_on_first_stock  # type: ignore[method-assign]
    records: list[str] = []
    sink = logger.add(lambda m: records.append(m), level="WARNING", format="{level} {message}")
    try:
        engine = await make_engine()
        await until(lambda: set(engine.universe.stocks) == set(ENGINE_SYMBOLS), 10.0)
    finally:
        logger.remove(sink)
    assert len(stock_asks) > len(ENGINE_SYMBOLS)  # the batch was asked again
    assert not [r for r in records if r.startswith("ERROR")], records
    assert any(said in r for r in records), records
    assert not any("did not qualify" in r for r in records)
    for c in engine.universe.stocks.values():
        assert engine.marketdata.ticker(c.conId) is not None, c.symbol
