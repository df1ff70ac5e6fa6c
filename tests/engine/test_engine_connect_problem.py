"""Issue 13, defect 10: without a gateway the Log says where the engine tries to connect,
why it cannot (IB's words) and what to check, once per problem, not once per retry."""

from __future__ import annotations

from tests.broker.test_connect_problem import closed_port
from tests.engine.conftest import MakeEngine, engine_settings
from tests.engine.test_engine_trade import events
from tests.sim.conftest import until
from tui_trader.broker.connect_problem import IB_REFUSED
from tui_trader.core.models import EventLevel
from tui_trader.state.store import ConnectionState, Health


async def test_the_log_says_where_why_and_what_to_check_once(make_engine: MakeEngine) -> None:
    port = closed_port()
    engine = await make_engine(settings=engine_settings(port), boot=False)
    session = engine.session
    await until(lambda: session.failed_attempts >= 3, what="three refused attempts")
    said = [e for e in events(engine, "connection") if e.text.startswith("Cannot connect")]
    assert len(said) == 1
    (event,) = said
    assert event.level is EventLevel.WARNING
    assert event.text.startswith(
        f"Cannot connect to IB at 127.0.0.1:{port}: connection refused: {IB_REFUSED}. "
    )
    assert f"socket port {port}" in event.text
    health = engine.store.get(Health)
    assert health.state is ConnectionState.RECONNECTING
    assert health.endpoint == f"127.0.0.1:{port}"
