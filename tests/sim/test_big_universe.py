"""Issue 12 (a): the simulated gateway carries a big universe and enforces IB's line limit
per account and its snapshot behaviour (a snapshot holds a line until tickSnapshotEnd)."""

from __future__ import annotations

import asyncio
import re
import statistics
from datetime import date

import pytest
from ib_insync import IB, Stock

from tests.sim.conftest import FakeMonotonic, MakeGateway, Until
from tui_trader.cli import main
from tui_trader.core.settings import DEFAULT_SYMBOLS
from tui_trader.sim.chains import assign_symbol_codes, option_con_id, symbol_code_of
from tui_trader.sim.gateway import GatewayLimits, SimGateway
from tui_trader.sim.universe import (
    MAX_UNIVERSE,
    TABLE_ORDER,
    stock_con_id,
    ticker_info,
    universe_symbols,
)


def test_the_universe_is_the_table_then_believable_generated_names() -> None:
    names = universe_symbols(MAX_UNIVERSE)
    assert len(names) == len(set(names)) == 1000
    assert names[:60] == DEFAULT_SYMBOLS
    assert universe_symbols(500) == names[:500]
    assert all(re.fullmatch(r"[A-Z]{2,4}", s) for s in names[60:])
    infos = [ticker_info(s) for s in names[60:]]
    assert not any(i.synthetic for i in infos)
    caps = [i.market_cap for i in infos]
    assert 20e9 < statistics.median(caps) < 60e9  # the S&P 500's median is about $35 B
    assert 20 < sum(c < 10e9 for c in caps) < 200  # some fail SPEC 3's $10 B filter
    assert all(12.0 <= i.price <= 1800.0 and 3e5 <= i.avg_volume <= 1.2e8 for i in infos)
    assert len({i.sector for i in infos}) == 11
    for bad in (0, MAX_UNIVERSE + 1):
        with pytest.raises(ValueError, match="1 to 1000"):
            universe_symbols(bad)


def test_a_thousand_names_get_distinct_option_con_ids_and_the_first_keep_theirs() -> None:
    names = universe_symbols(MAX_UNIVERSE)
    codes = assign_symbol_codes(names, TABLE_ORDER)
    assert len(set(codes.values())) == 1000
    small = assign_symbol_codes(names[:124], TABLE_ORDER)
    assert max(small.values()) < 128  # 124 names fit the original 30-bit scheme
    expiry = date(2027, 1, 15)
    stocks = {stock_con_id(s) for s in names}
    seen: set[int] = set()
    for sym, code in codes.items():
        for right in ("C", "P"):
            con_id = option_con_id(code, expiry, 4095.5, right)
            assert 0 < con_id < 2**31 and con_id not in stocks and con_id not in seen
            assert symbol_code_of(con_id) == code, sym
            seen.add(con_id)


async def test_a_generated_name_trades_options_through_the_gateway(
    make_gateway: MakeGateway,
) -> None:
    names = universe_symbols(300)
    gw = await make_gateway(symbols=names)
    last = names[-1]
    option = gw.market.options(last)[0]
    assert symbol_code_of(option.con_id) is not None and symbol_code_of(option.con_id) >= 128
    assert gw.market.contract(option.con_id) == option
    ib = IB()
    try:
        await ib.connectAsync("127.0.0.1", gw.port, clientId=1)
        (stock,) = await ib.qualifyContractsAsync(Stock(last, "SMART", "USD"))
        assert stock.conId == stock_con_id(last)
        (ticker,) = await asyncio.wait_for(ib.reqTickersAsync(stock), 3)
        assert ticker.bid == gw.market.quote(last).bid
    finally:
        ib.disconnect()


async def _client(gw: SimGateway, client_id: int) -> IB:
    ib = IB()
    await ib.connectAsync("127.0.0.1", gw.port, clientId=client_id)
    return ib


def _errors(ib: IB) -> list[int]:
    codes: list[int] = []
    ib.errorEvent += lambda req_id, code, msg, contract: codes.append(code)
    return codes


async def test_the_line_limit_is_the_accounts_not_each_clients(
    make_gateway: MakeGateway, wait_until: Until
) -> None:
    names = universe_symbols(10)
    gw = await make_gateway(symbols=names, limits=GatewayLimits(max_market_data_lines=5))
    a, b = await _client(gw, 1), await _client(gw, 2)
    try:
        errors_a, errors_b = _errors(a), _errors(b)
        for s in names[:3]:
            a.reqMktData(Stock(s, "SMART", "USD"))
        for s in names[3:6]:
            b.reqMktData(Stock(s, "SMART", "USD"))
        await wait_until(lambda: errors_b, what="error 101")
        assert errors_b == [101] and errors_a == []
        assert gw.lines_in_use() == 5
        assert sorted(len(v) for v in gw.lines_held().values()) == [2, 3]
    finally:
        a.disconnect()
        b.disconnect()


async def test_a_snapshot_holds_a_line_until_its_end(
    make_gateway: MakeGateway, fake_time: FakeMonotonic, wait_until: Until
) -> None:
    names = universe_symbols(4)
    limits = GatewayLimits(max_market_data_lines=2, snapshot_s=0.5)
    gw = await make_gateway(symbols=names, limits=limits)
    ib = await _client(gw, 1)
    try:
        errors = _errors(ib)
        snap = asyncio.ensure_future(ib.reqTickersAsync(Stock(names[0], "SMART", "USD")))
        await wait_until(lambda: gw.lines_in_use() == 1, what="the snapshot's line")
        ib.reqMktData(Stock(names[1], "SMART", "USD"))
        await wait_until(lambda: gw.lines_in_use() == 2, what="a streaming line")
        ib.reqMktData(Stock(names[2], "SMART", "USD"))  # the snapshot still holds one
        await wait_until(lambda: errors, what="error 101")
        assert errors == [101]
        await gw.pump()
        await asyncio.sleep(0.05)
        assert not snap.done()  # 0.5 s have not passed on the gateway's clock
        fake_time.advance(0.5)
        await gw.pump()
        (ticker,) = await asyncio.wait_for(snap, 3)  # ends with tickSnapshotEnd
        assert ticker.bid == gw.market.quote(names[0]).bid
        assert gw.lines_in_use() == 1
        ib.reqMktData(Stock(names[3], "SMART", "USD"))
        await wait_until(lambda: gw.lines_in_use() == 2, what="the freed line taken")
        assert errors == [101]
    finally:
        ib.disconnect()


async def test_cancelling_an_unfinished_snapshot_frees_its_line_quietly(
    make_gateway: MakeGateway, wait_until: Until
) -> None:
    names = universe_symbols(2)
    gw = await make_gateway(symbols=names, limits=GatewayLimits(snapshot_s=5.0))
    ib = await _client(gw, 1)
    try:
        errors = _errors(ib)
        stock = Stock(names[0], "SMART", "USD")
        await ib.qualifyContractsAsync(stock)
        ib.reqMktData(stock, snapshot=True)
        await wait_until(lambda: gw.lines_in_use() == 1, what="the snapshot's line")
        ib.cancelMktData(stock)
        await wait_until(lambda: gw.lines_in_use() == 0, what="the line freed")
        await asyncio.sleep(0.02)
        assert errors == []  # no 300: the gateway knew the snapshot
    finally:
        ib.disconnect()


def test_gateway_lists_its_universe_and_refuses_a_bigger_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["gateway", "--universe", "70", "--list-symbols"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == list(universe_symbols(70))
    for argv in (["--universe", "1001"], ["--max-lines", "0"], ["--snapshot-ms", "x"]):
        with pytest.raises(SystemExit) as exc:
            main(["gateway", *argv, "--list-symbols"])
        assert exc.value.code == 2
        assert capsys.readouterr().err.count("\n") <= 3
