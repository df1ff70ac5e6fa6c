"""A vertical picked on the chain screen for a symbol outside the universe (issue 13) gets
SPEC 9's stop and target from the symbol's own daily bars, through the real engine and
the simulated gateway; without bars the ERROR says why and what to do."""

from __future__ import annotations

import pytest

from tests.engine.conftest import ENGINE_SYMBOLS, MakeEngine, engine_settings
from tests.sim.conftest import until
from tui_trader.core.chain_table import ChainView, nearest_index
from tui_trader.core.models import EventLevel
from tui_trader.engine.engine import Engine
from tui_trader.sim.gateway import SimGateway
from tui_trader.sim.historical import select_bars
from tui_trader.state.bar_cache import BarCache, BarRow
from tui_trader.state.store import EventLog, Orders, Positions

OUTSIDE = [s for s in ENGINE_SYMBOLS if s != "SPY"]


async def buy_spy_call_spread(engine: Engine) -> str:
    """Open SPY's chain, preview the ATM bull call, send it: the intent id."""
    assert (await engine.open_chain("SPY")).ok
    view = engine.store.get(ChainView)
    mid = nearest_index([r.strike for r in view.rows], view.spot)
    assert mid is not None
    out = await engine.preview_chain_spread("LONG", view.rows[mid].strike,
                                            view.rows[mid + 1].strike)  # fmt: skip
    assert out.ok, out.message
    sent = await engine.transmit()
    assert sent.ok, sent.message
    (intent,) = engine.store.get(Orders).intents
    return intent.intent_id


def by_hand(rows: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    """Wilder's ATR14, HHV20 and LLV20 of (high, low, close) rows, as SPEC 2 writes them."""
    trs = [
        max(h - lo, abs(h - rows[i - 1][2]), abs(lo - rows[i - 1][2]))
        for i, (h, lo, _) in enumerate(rows)
        if i > 0
    ]
    atr = sum(trs[:14]) / 14
    for tr in trs[14:]:
        atr = (13 * atr + tr) / 14
    return atr, max(h for h, _, _ in rows[-20:]), min(lo for _, lo, _ in rows[-20:])


async def test_a_manual_entry_outside_the_universe_gets_levels_from_its_own_bars(
    make_engine: MakeEngine, engine_gateway: SimGateway
) -> None:
    engine = await make_engine(
        settings=engine_settings(engine_gateway.port, universe={"symbols": OUTSIDE})
    )
    assert engine.universe.scan_row("SPY") is None
    iid = await buy_spy_call_spread(engine)
    entry = engine.journal.get_kv(f"entry/{iid}")
    assert entry is not None and entry["symbol"] == "SPY" and entry["direction"] == "LONG"
    price = entry["entry_price"]
    assert price == pytest.approx(engine_gateway.market.mid("SPY"), abs=0.011)

    today = engine.today()
    served = select_bars(engine_gateway.market.daily_bars("SPY"), today, "2 Y")
    rows = [(b.high, b.low, b.close) for b in served]
    if served[-1].day == today:  # today's bar moved by the entry price, as the scanner does
        h, lo, _ = rows[-1]
        rows[-1] = (max(h, price), min(lo, price), price)
    else:
        rows.append((price, price, price))
    atr, hhv, llv = by_hand(rows)
    assert len(rows) > 200 and 0.5 < atr < 20 and llv < price < hhv * 1.1
    assert entry["atr14"] == pytest.approx(atr, rel=1e-12)
    assert (entry["hhv20"], entry["llv20"]) == (hhv, llv)

    await until(lambda: len(engine.store.get(Positions).spreads) == 1, what="the position")
    await until(lambda: engine.store.get(Positions).spreads[0].stop_level is not None,
                what="the levels")  # fmt: skip
    (sp,) = engine.store.get(Positions).spreads
    stop = price - 2.0 * atr
    targets = [price + 2.0 * (price - stop), price + 3.0 * atr]
    if llv + 1.618 * (hhv - llv) > price:
        targets.append(llv + 1.618 * (hhv - llv))
    assert sp.underlying == "SPY" and sp.intent_id == iid
    assert sp.stop_level == pytest.approx(stop) and sp.target_level == pytest.approx(min(targets))
    spot = engine.spot("SPY")  # priced after the chain closes: the exits can be judged
    await engine.close_chain()
    assert spot is not None and engine.spot("SPY") is not None
    engine.exit_monitor.republish()
    (sp,) = engine.store.get(Positions).spreads
    assert sp.stop_distance is not None and sp.stop_distance < 0 < (sp.target_distance or 0)
    errors = [e for e in engine.store.get(EventLog).items if e.level is EventLevel.ERROR]
    assert errors == []


async def test_too_few_bars_leave_the_entry_without_levels_and_say_why(
    make_engine: MakeEngine, engine_gateway: SimGateway
) -> None:
    engine = await make_engine(
        settings=engine_settings(engine_gateway.port, universe={"symbols": OUTSIDE})
    )
    today = engine.today()
    recent = select_bars(engine_gateway.market.daily_bars("SPY"), today, "2 Y")[-10:]
    with BarCache(engine.universe.bar_cache_path) as cache:  # SPY held today: 10 bars
        cache.put_bars("SPY", [BarRow(b.day, b.open, b.high, b.low, b.close, b.volume)
                               for b in recent], today)  # fmt: skip
    iid = await buy_spy_call_spread(engine)
    assert engine.journal.get_kv(f"entry/{iid}") is None
    (error,) = [e for e in engine.store.get(EventLog).items if e.level is EventLevel.ERROR]
    assert error.intent_id == iid
    assert "because IB has only 10 daily bar(s) of SPY, fewer than the 20" in error.text
    assert "watch it yourself, set a stop in TWS, or close it" in error.text
    await engine.close_chain()


async def test_an_ib_error_on_the_bars_is_said_with_ibs_words(
    make_engine: MakeEngine, engine_gateway: SimGateway
) -> None:
    engine = await make_engine(
        settings=engine_settings(engine_gateway.port, universe={"symbols": OUTSIDE})
    )
    engine_gateway.send_error(2105)  # the historical farm is broken: error 162 for bars
    row, why = await engine.desk.manual_entry.row("SPY", 500.0)
    assert row is None and why is not None
    assert why.startswith("its daily bars could not be loaded (no daily bars (IB error 162: ")
    assert "HMDS data farm connection is broken" in why
