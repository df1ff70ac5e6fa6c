"""The engine against the simulated gateway: boot (bars, first scan, universe lines) and the
manual trade path scan -> preview -> what-if -> transmit -> fill -> one spread with its
stop/target levels -> closing preview -> close -> flat."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import pytest

from tests.engine.conftest import ENGINE_SYMBOLS, HistoricalSpy, MakeEngine, engine_settings
from tests.sim.conftest import FakeMonotonic, until
from tui_trader.core.models import EventLevel, IntentStatus
from tui_trader.core.scanner import scan
from tui_trader.core.settings import Settings
from tui_trader.demo import market_bars
from tui_trader.engine.engine import Engine
from tui_trader.sim.gateway import SimGateway
from tui_trader.state.store import (
    Candidates,
    EventLog,
    Health,
    Orders,
    Positions,
    Preview,
    ScanResults,
)

SETTINGS = Settings()


def metric(engine: Engine, line: str) -> float | None:
    """The value of one exposition line (``name{labels}``), None when absent."""
    for row in engine.metrics.render().decode().splitlines():
        if row.startswith(line + " "):
            return float(row.split()[-1])
    return None


def events(engine: Engine, kind: str | None = None) -> list[Any]:
    items = engine.store.get(EventLog).items
    return [e for e in items if kind is None or e.kind == kind]


async def test_boot_loads_bars_scans_and_streams_the_universe(
    make_engine: MakeEngine, engine_gateway: SimGateway
) -> None:
    engine = await make_engine()

    bars = engine.scanner.bars
    assert bars is not None and sorted(bars.symbols) == sorted(ENGINE_SYMBOLS)
    assert int(bars.n_valid.min()) >= 201  # SMA200 needs 201 bars
    results = engine.store.get(ScanResults)
    assert results.report is not None and results.error is None and results.problems == ()
    rows = {r.symbol: r for r in results.report.results}
    assert {s: r.direction for s, r in rows.items()} == {
        "MSFT": "LONG",
        "AAPL": "SHORT",
        "SPY": None,
        "TLT": None,
    }
    # bars from IB's historical answer + the live last give the market's own history
    expected = scan(market_bars(engine_gateway.market), SETTINGS.universe, SETTINGS.strategy)
    for want in expected.results:
        got = rows[want.symbol]
        assert got.close == pytest.approx(engine_gateway.market.quote(want.symbol).last)
        assert got.close == pytest.approx(want.close)
        assert got.rsi14 == pytest.approx(want.rsi14, abs=1e-9)
        assert got.atr14 == pytest.approx(want.atr14, abs=1e-9)
        assert got.sma200 == pytest.approx(want.sma200, abs=1e-9)
    assert results.duration_s is not None and results.duration_s > 0
    assert results.symbols_per_s == pytest.approx(4 / results.duration_s)

    # the universe's underlyings stream at once: four lines in use
    health = engine.store.get(Health)
    assert health.lines_active == 4 and health.lines_max == 90
    assert engine.marketdata.budget.active == 4
    await until(lambda: len(engine_gateway.clients[21].lines) == 4, what="4 lines at IB")
    assert metric(engine, "tui_trader_connected") == 1.0
    assert metric(engine, "tui_trader_market_data_lines_active") == 4.0
    assert metric(engine, "tui_trader_scans_total") == 1.0
    assert metric(engine, "tui_trader_scan_seconds") == pytest.approx(results.duration_s)

    # on demand, with today's bar moved by the live last (SPEC 1)
    engine_gateway.set_price("SPY", 650.0)
    await engine_gateway.pump()
    spy = engine.underlying_contract("SPY")
    assert spy is not None
    await until(lambda: engine.marketdata.quote(spy.conId).last == 650.0, what="SPY at 650")
    out = await engine.rescan()
    assert out.ok and "4 symbols" in out.message
    assert metric(engine, "tui_trader_scans_total") == 2.0
    report = engine.store.get(ScanResults).report
    assert report is not None
    moved = next(r for r in report.results if r.symbol == "SPY")
    assert moved.close == 650.0 and moved.hhv20 is not None and moved.hhv20 >= 650.0


async def test_an_unknown_universe_symbol_is_flagged_and_skipped(
    make_engine: MakeEngine, engine_gateway: SimGateway
) -> None:
    settings = engine_settings(engine_gateway.port, universe={"symbols": ["MSFT", "ZZZZQ"]})
    engine = await make_engine(settings=settings)
    results = engine.store.get(ScanResults)
    assert results.report is not None
    assert [r.symbol for r in results.report.results] == ["MSFT"]
    ((symbol, why),) = results.problems
    assert symbol == "ZZZZQ" and "unknown symbol" in why and "200" in why
    flagged = [e for e in events(engine, "universe") if "ZZZZQ" in e.text]
    assert flagged and flagged[0].level is EventLevel.WARNING
    assert engine.marketdata.budget.active == 1


async def test_trade_path_scan_to_flat(make_engine: MakeEngine, engine_gateway: SimGateway) -> None:
    engine = await make_engine()
    store = engine.store

    # --- preview: the chain, ranked spreads and the best one priced, sized and gated ---
    out = await engine.preview("MSFT")
    assert out.ok, out.message
    (cset,) = store.get(Candidates).sets
    assert cset.symbol == "MSFT" and cset.direction == "LONG" and len(cset.selection) > 0
    pv = store.get(Preview)
    spec = pv.spec
    assert spec is not None and spec.action == "BUY" and spec.direction == "LONG"
    long_leg, short_leg = pv.legs
    assert (long_leg.action, short_leg.action) == ("BUY", "SELL")
    assert long_leg.right == short_leg.right == "C" and long_leg.strike < short_leg.strike
    assert long_leg.strike == cset.selection.long_strike[0]
    assert short_leg.strike == cset.selection.short_strike[0]
    assert [leg.con_id for leg in spec.legs] == [long_leg.con_id, short_leg.con_id]
    assert long_leg.bid is not None and long_leg.ask is not None
    assert short_leg.bid is not None and short_leg.ask is not None
    natural_ask = long_leg.ask - short_leg.bid
    assert pv.natural_debit == pytest.approx(natural_ask, abs=1e-9)
    assert spec.limit_price == pytest.approx(natural_ask, abs=1e-9)  # paper: marketable
    assert pv.mid_debit == pytest.approx(
        (long_leg.bid + long_leg.ask) / 2 - (short_leg.bid + short_leg.ask) / 2, abs=1e-9
    )
    qty = min(10, math.floor(100_000 * 0.02 / (spec.limit_price * 100) + 1e-9))
    assert spec.quantity == qty and pv.quantity == qty
    assert pv.max_loss == pytest.approx(spec.limit_price * 100 * qty)
    assert pv.net_delta == pytest.approx(long_leg.delta - short_leg.delta)  # type: ignore[operator]
    assert long_leg.quote_age_s == 0.0 and short_leg.quote_age_s == 0.0
    # IB's what-if was asked at once: the debit is the margin, 0.65 a leg per contract
    assert pv.init_margin_change == pytest.approx(spec.limit_price * 100 * qty, abs=0.01)
    assert pv.commission == pytest.approx(0.65 * 2 * qty)
    assert pv.gate is not None and pv.gate.ok and pv.gate.contracts == qty

    # --- the trader's adjustments: the limit never past the natural ask -----------------
    up = await engine.adjust_limit(1)
    assert not up.ok and "natural ask" in up.message
    assert store.get(Preview).spec == spec
    down = await engine.adjust_limit(-1)
    assert down.ok, down.message
    lowered = store.get(Preview)
    assert lowered.spec is not None
    assert lowered.spec.limit_price == pytest.approx(spec.limit_price - 0.01, abs=1e-9)
    assert lowered.init_margin_change == pytest.approx(
        (spec.limit_price - 0.01) * 100 * qty, abs=0.01
    )
    assert (await engine.adjust_limit(1)).ok
    more = await engine.adjust_quantity(1)
    assert not more.ok and f"{qty} contract(s)" in more.message
    assert (await engine.adjust_quantity(-1)).ok
    assert store.get(Preview).init_margin_change == pytest.approx(
        spec.limit_price * 100 * (qty - 1), abs=0.01
    )
    assert (await engine.adjust_quantity(1)).ok
    assert store.get(Preview).spec == spec
    assert store.get(Preview).gate.ok  # type: ignore[union-attr]

    # --- transmit: journaled, sent, filled ---------------------------------------------
    sent = await engine.transmit()
    assert sent.ok, sent.message
    (intent,) = store.get(Orders).intents
    iid = intent.intent_id
    assert iid in sent.message and intent.spec == spec
    await until(
        lambda: store.get(Orders).intents[0].status is IntentStatus.FILLED,
        what="the opening fill",
    )
    await until(lambda: len(store.get(Positions).spreads) == 1, what="the position")
    assert store.get(Preview).spec is None  # sent: nothing left to send twice

    # --- one spread, ours, with the SPEC 9 levels from the entry snapshot ---------------
    (sp,) = store.get(Positions).spreads
    assert sp.intent_id == iid and not sp.external and sp.direction == "LONG"
    assert sp.quantity == qty
    assert [leg.con_id for leg in sp.legs] == [long_leg.con_id, short_leg.con_id]
    entry = engine.journal.get_kv(f"entry/{iid}")
    row = next(r for r in store.get(ScanResults).report.results if r.symbol == "MSFT")  # type: ignore[union-attr]
    assert entry["direction"] == "LONG" and entry["atr14"] == row.atr14
    assert (entry["hhv20"], entry["llv20"]) == (row.hhv20, row.llv20)
    assert entry["entry_price"] == pytest.approx(engine_gateway.market.mid("MSFT"), abs=0.011)
    e, atr = entry["entry_price"], entry["atr14"]
    stop = e - 2.0 * atr
    targets = [e + 2.0 * (e - stop), e + 3.0 * atr]
    fibo = entry["llv20"] + 1.618 * (entry["hhv20"] - entry["llv20"])
    if fibo > e:
        targets.append(fibo)
    assert sp.stop_level == pytest.approx(stop)
    assert sp.target_level == pytest.approx(min(targets))
    spot = engine.spot("MSFT")
    assert spot is not None
    assert sp.stop_distance == pytest.approx((stop - spot) / spot)
    assert sp.target_distance == pytest.approx((min(targets) - spot) / spot)
    assert sp.exit_reason is None
    fills = [ev for ev in events(engine, "fill") if ev.intent_id == iid]
    assert fills and f"filled {qty} of {qty}" in fills[-1].text
    await until(lambda: metric(engine, "tui_trader_fills_total") == 2.0, what="two leg fills")
    assert metric(engine, 'tui_trader_orders_total{status="FILLED"}') == 1.0
    # the legs stream pinned as a position's (and the chain's other lines are released)
    budget = engine.marketdata.budget
    assert budget.is_pinned(long_leg.con_id) and budget.is_pinned(short_leg.con_id)
    assert budget.active == 4 + 2

    # --- close: a SELL of the same combo at the natural bid, no entry gates -------------
    closing = await engine.preview_close(iid)
    assert closing.ok, closing.message
    cpv = store.get(Preview)
    cspec = cpv.spec
    assert cspec is not None and cspec.action == "SELL" and cspec.quantity == qty
    assert [(leg.con_id, leg.action) for leg in cspec.legs] == [
        (long_leg.con_id, "BUY"),
        (short_leg.con_id, "SELL"),
    ]
    lo, sh = cpv.legs
    assert cspec.limit_price == pytest.approx(lo.bid - sh.ask, abs=1e-9)  # type: ignore[operator]
    assert cpv.gate is None
    done = await engine.transmit()
    assert done.ok, done.message
    await until(lambda: store.get(Positions).spreads == (), what="flat")
    assert engine_gateway.exchange.positions() == []
    statuses = [i.status for i in store.get(Orders).intents]
    assert statuses == [IntentStatus.FILLED, IntentStatus.FILLED]
    await until(lambda: metric(engine, "tui_trader_fills_total") == 4.0, what="four leg fills")
    assert metric(engine, 'tui_trader_orders_total{status="FILLED"}') == 2.0


async def test_a_new_trading_day_loads_the_bars_again(
    make_engine: MakeEngine, engine_gateway: SimGateway, fake_time: FakeMonotonic
) -> None:
    engine = await make_engine()
    assert engine.today() == date(2026, 11, 18)
    spy = HistoricalSpy(engine_gateway)
    engine.refresh()
    assert spy.count == 0  # same day: nothing to load
    fake_time.advance(24 * 3600.0)  # Thursday 19 November, 14:30 New York
    await engine_gateway.pump()
    assert engine.today() == date(2026, 11, 19)
    engine.refresh()

    def reloaded() -> bool:
        bars = engine.scanner.bars
        return bars is not None and bars.latest_date == date(2026, 11, 19)

    await until(reloaded, timeout=10.0, what="the bars of the new day")
    assert spy.count == 4  # yesterday's cache is stale: every symbol fetched again
    report = engine.store.get(ScanResults).report
    assert report is not None and report.asof == date(2026, 11, 19)
    assert all(r.last_date == date(2026, 11, 19) for r in report.results)
