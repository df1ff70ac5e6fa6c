"""An engine on a replayed market (the simulated gateway skipping closed hours) crosses the
night: at Monday's open its clock reads Monday, ``refresh`` notices the new day, and the
bars it loads again hold Friday's final bar as the gateway serves it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from tests.engine.conftest import ENGINE_SYMBOLS, MakeEngine
from tests.sim.conftest import FakeMonotonic, MakeGateway, until
from tui_trader.sim.gateway import SimGateway

#: Friday 20 November 2026, 15:59 New York, and Monday's open.
FRIDAY_1559 = datetime(2026, 11, 20, 20, 59, tzinfo=UTC)
MONDAY_OPEN = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)


@pytest.fixture
async def engine_gateway(make_gateway: MakeGateway) -> SimGateway:
    """The engine fixtures' gateway, replaying: Friday a minute before the close."""
    return await make_gateway(symbols=ENGINE_SYMBOLS, start=FRIDAY_1559, skip_closed=True)


async def test_the_engine_reloads_bars_at_the_next_open_and_sees_fridays_final_bar(
    engine_gateway: SimGateway, make_engine: MakeEngine, fake_time: FakeMonotonic
) -> None:
    engine = await make_engine()
    assert engine.today() == date(2026, 11, 20)
    fake_time.advance(120.0)  # over the close: the weekend passes in an instant
    await engine_gateway.pump()
    now = engine.now()
    assert now is not None and abs(now - (MONDAY_OPEN + timedelta(seconds=60))) < timedelta(
        seconds=1
    )
    assert engine.today() == date(2026, 11, 23)
    engine.refresh()  # the periodic work notices the new day and loads the bars again

    def reloaded() -> bool:
        bars = engine.scanner.bars
        return bars is not None and bars.latest_date == date(2026, 11, 23)

    await until(reloaded, 10.0, "bars loaded again on Monday")
    bars = engine.scanner.bars
    assert bars is not None
    i = bars.index("SPY")
    days = [str(d)[:10] for d in bars.dates[i, -2:]]
    assert days == ["2026-11-20", "2026-11-23"]
    friday = engine_gateway.market.daily_bars("SPY")[-2]
    assert friday.day == date(2026, 11, 20)
    got = (bars.open[i, -2], bars.high[i, -2], bars.low[i, -2], bars.close[i, -2])
    np.testing.assert_allclose(got, (friday.open, friday.high, friday.low, friday.close))
    assert bars.volume[i, -2] == friday.volume
