"""Issue 12 (b): a symbol IB does not know (error 200) is reported once and dropped: not
asked for again on a day's reload, a reconnect or a rescan, and never streamed."""

from __future__ import annotations

from typing import Any

from tests.engine.conftest import ENGINE_SYMBOLS, MakeEngine, engine_settings
from tests.sim.conftest import until
from tui_trader.sim.gateway import SimGateway
from tui_trader.state.store import EventLog, ScanResults

UNKNOWN = "ZZZQ"


async def test_an_unknown_symbol_is_reported_once_and_dropped(
    make_engine: MakeEngine, engine_gateway: SimGateway
) -> None:
    gateway = engine_gateway
    asks: list[str] = []
    original = gateway._req_contract_details

    def count(s: Any, req: Any) -> None:
        if req.contract.symbol == UNKNOWN:
            asks.append(req.contract.sec_type)
        original(s, req)

    gateway._req_contract_details = count  # type: ignore[method-assign]
    settings = engine_settings(gateway.port)
    settings.universe.symbols = [*ENGINE_SYMBOLS, UNKNOWN]
    engine = await make_engine(settings=settings)
    await until(lambda: set(engine.universe.stocks) == set(ENGINE_SYMBOLS), 10.0)
    first = len(asks)
    assert first >= 1
    await engine.universe.reload_bars()  # a new day: the others are fetched again
    await engine.universe.reload_bars()
    assert len(asks) == first, asks  # never asked of IB again
    said = [e.text for e in engine.store.get(EventLog).items if UNKNOWN in e.text]
    assert len(said) == 1 and said[0].startswith(f"{UNKNOWN} skipped: unknown symbol (IB error 200")
    assert dict(engine.store.get(ScanResults).problems)[UNKNOWN].startswith("unknown symbol")
    assert UNKNOWN not in engine.universe.stocks
    assert await engine.universe.stock(UNKNOWN) is None  # a preview asks nothing either
    assert len(asks) == first
