"""Injected faults as a TWS client sees them, in-process and through the control port."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ib_insync import IB, LimitOrder, MarketOrder, Stock, Ticker

from tui_trader.sim.faults import FaultState, execute
from tui_trader.sim.gateway import SimGateway
from tui_trader.sim.protocol import STANDARD_MESSAGES

if TYPE_CHECKING:
    from conftest import Connect, FakeMonotonic, Until


def errors_of(ib: IB) -> list[tuple[int, int, str]]:
    seen: list[tuple[int, int, str]] = []
    ib.errorEvent += lambda req_id, code, text, contract: seen.append((req_id, code, text))
    return seen


def counter(ticker: Ticker) -> list[int]:
    """A one-element list counting the ticker's updates."""
    n = [0]

    def bump(_: Ticker) -> None:
        n[0] += 1

    ticker.updateEvent += bump
    return n


async def subscribed(ib: IB, symbol: str, wait_until: Until) -> Ticker:
    stock = Stock(symbol, "SMART", "USD")
    await ib.qualifyContractsAsync(stock)
    ticker = ib.reqMktData(stock)
    await wait_until(lambda: not math.isnan(ticker.bid))
    return ticker


async def moved(gw: SimGateway, symbol: str, by: float = 1.0) -> None:
    """Move a stock's price and publish."""
    gw.set_price(symbol, round(gw.market.mid(symbol) + by, 2))
    await gw.pump()
    await asyncio.sleep(0.02)  # a socket round-trip


# ------------------------------------------------------------------- connection faults


async def test_drop_closes_every_client_and_they_can_reconnect(
    gateway: SimGateway, connect: Connect, wait_until: Until
) -> None:
    a, b = await connect(1), await connect(2)
    lost: list[str] = []
    a.disconnectedEvent += lambda: lost.append("a")
    b.disconnectedEvent += lambda: lost.append("b")
    gateway.drop()
    await wait_until(lambda: sorted(lost) == ["a", "b"], what="disconnectedEvent x2")
    assert not a.isConnected() and not b.isConnected()
    await wait_until(lambda: not gateway.clients)
    again = await connect(1)
    assert again.isConnected()


async def test_refuse_rejects_new_connections_for_a_while(
    gateway: SimGateway, connect: Connect
) -> None:
    existing = await connect(1)
    gateway.refuse(0.25)
    with pytest.raises(ConnectionRefusedError):
        await IB().connectAsync("127.0.0.1", gateway.port, clientId=2, timeout=2)
    assert existing.isConnected()  # refusing new connections keeps the old ones
    await asyncio.sleep(0.35)
    later = await connect(2)
    assert later.isConnected()


async def test_restart_drops_refuses_and_keeps_the_account(
    gateway: SimGateway, connect: Connect, wait_until: Until
) -> None:
    ib = await connect(1)
    stock = Stock("AAPL", "SMART", "USD")
    await ib.qualifyContractsAsync(stock)
    trade = ib.placeOrder(stock, MarketOrder("BUY", 3))
    await wait_until(lambda: trade.isDone())
    lost: list[bool] = []
    ib.disconnectedEvent += lambda: lost.append(True)
    gateway.restart(0.25)
    await wait_until(lambda: lost, what="disconnectedEvent")
    with pytest.raises(ConnectionRefusedError):
        await IB().connectAsync("127.0.0.1", gateway.port, clientId=1, timeout=2)
    await asyncio.sleep(0.35)
    back = await connect(1)
    assert [(p.contract.symbol, p.position) for p in back.positions()] == [("AAPL", 3)]


@pytest.mark.parametrize("code", [1100, 1101, 1102, 2103, 2104])
async def test_notices_reach_every_client_with_ibs_text(
    code: int, gateway: SimGateway, connect: Connect, wait_until: Until
) -> None:
    a, b = await connect(1), await connect(2)
    errors_a, errors_b = errors_of(a), errors_of(b)
    gateway.send_error(code)
    await wait_until(lambda: errors_a and errors_b)
    assert errors_a == errors_b == [(-1, code, STANDARD_MESSAGES[code])]


async def test_connectivity_lost_pauses_data_and_data_lost_drops_lines(
    gateway: SimGateway, connect: Connect, wait_until: Until
) -> None:
    ib = await connect(1)
    ticker = await subscribed(ib, "AAPL", wait_until)
    updates = counter(ticker)

    gateway.send_error(1100)
    await moved(gateway, "AAPL")
    assert updates[0] == 0  # no data while connectivity is lost
    gateway.send_error(1102)  # restored, data maintained: the line resumes by itself
    await gateway.pump()
    await wait_until(lambda: updates[0] > 0)
    assert ticker.bid == gateway.market.quote("AAPL").bid

    gateway.send_error(1100)
    gateway.send_error(1101)  # restored, data lost: the client must resubscribe
    await wait_until(lambda: not gateway.clients[1].lines)
    before = updates[0]
    await moved(gateway, "AAPL")
    assert updates[0] == before
    ib.cancelMktData(ticker.contract)
    again = ib.reqMktData(ticker.contract)
    await wait_until(lambda: again.bid == gateway.market.quote("AAPL").bid)


async def test_farm_notices_pause_quotes_and_history(
    gateway: SimGateway, connect: Connect, wait_until: Until
) -> None:
    ib = await connect(1)
    errors = errors_of(ib)
    ticker = await subscribed(ib, "MSFT", wait_until)
    updates = counter(ticker)
    gateway.send_error(2103)
    await moved(gateway, "MSFT")
    assert updates[0] == 0
    gateway.send_error(2104)
    await gateway.pump()
    await wait_until(lambda: updates[0] > 0)

    gateway.send_error(2105)
    stock = Stock("MSFT", "SMART", "USD")
    assert len(await ib.reqHistoricalDataAsync(stock, "", "5 D", "1 day", "TRADES", True)) == 0
    assert errors[-1][1] == 162 and "HMDS" in errors[-1][2]
    gateway.send_error(2106)
    assert len(await ib.reqHistoricalDataAsync(stock, "", "6 D", "1 day", "TRADES", True)) == 6


async def test_reject_next_is_error_201_with_the_reason(
    gateway: SimGateway, connect: Connect, wait_until: Until
) -> None:
    ib = await connect(1)
    errors = errors_of(ib)
    stock = Stock("AAPL", "SMART", "USD")
    await ib.qualifyContractsAsync(stock)
    gateway.reject_next("Simulated margin check failed")
    rejected = ib.placeOrder(stock, MarketOrder("BUY", 1))
    await wait_until(lambda: errors)
    assert errors == [
        (rejected.order.orderId, 201, "Order rejected - reason:Simulated margin check failed")
    ]
    assert rejected.orderStatus.status == "Cancelled"
    accepted = ib.placeOrder(stock, MarketOrder("BUY", 1))  # only the next one
    await wait_until(lambda: accepted.orderStatus.status == "Filled")


async def test_frozen_quotes_stop_while_others_move(
    gateway: SimGateway, connect: Connect, fake_time: FakeMonotonic, wait_until: Until
) -> None:
    ib = await connect(1)
    frozen = await subscribed(ib, "AAPL", wait_until)
    live = await subscribed(ib, "SPY", wait_until)
    frozen_updates, live_updates = counter(frozen), counter(live)
    bid = frozen.bid
    gateway.freeze("AAPL")
    for _ in range(5):
        fake_time.advance(60)
        await gateway.pump()
    await wait_until(lambda: live_updates[0] > 0)
    await asyncio.sleep(0.02)
    assert frozen_updates[0] == 0 and frozen.bid == bid
    gateway.unfreeze("AAPL")
    fake_time.advance(300)
    await gateway.pump()
    await wait_until(lambda: frozen_updates[0] > 0)


async def test_delay_answers_late_and_in_order(gateway: SimGateway, connect: Connect) -> None:
    ib = await connect(1)
    loop = asyncio.get_running_loop()
    gateway.delay(150)
    started = loop.time()
    stock = Stock("AAPL", "SMART", "USD")
    details, now = await asyncio.gather(ib.reqContractDetailsAsync(stock), ib.reqCurrentTimeAsync())
    elapsed = loop.time() - started
    assert elapsed >= 0.15
    assert details[0].contract.symbol == "AAPL"
    assert now == gateway.sim_time().replace(microsecond=0)
    gateway.delay(0)
    started = loop.time()
    await ib.reqCurrentTimeAsync()
    assert loop.time() - started < 0.1


# ---------------------------------------------------------------------- control port


class LineClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def ask(self, line: bytes | str) -> str:
        data = line.encode() if isinstance(line, str) else line
        self.writer.write(data + b"\n")
        reply = await asyncio.wait_for(self.reader.readline(), 3)
        assert reply.endswith(b"\n")
        return reply.decode().rstrip("\n")


async def test_control_port_commands_answer_one_line_each(
    gateway: SimGateway, connect: Connect, wait_until: Until
) -> None:
    port = await gateway.start_control()
    ib = await connect(1)
    errors = errors_of(ib)
    c = LineClient(*await asyncio.open_connection("127.0.0.1", port))

    reply = await c.ask("time")
    assert reply.startswith("ok ")
    assert datetime.fromisoformat(reply[3:]) == gateway.sim_time()
    assert await c.ask("error 1100") == "ok"
    assert await c.ask("error 2104 Market data farm connection is OK:usopt") == "ok"
    await wait_until(lambda: len(errors) == 2)
    assert errors == [(-1, 1100, STANDARD_MESSAGES[1100]),
                      (-1, 2104, "Market data farm connection is OK:usopt")]  # fmt: skip
    assert await c.ask("error 1102") == "ok"
    assert (await c.ask("error 9999")).startswith("error: no standard text for 9999")
    assert await c.ask("error abc") == "error: CODE must be an integer, got 'abc'"
    assert await c.ask("reject-next Too risky today") == "ok"
    assert await c.ask("freeze aapl") == "ok" and gateway.market.is_frozen("AAPL")
    assert await c.ask("unfreeze AAPL") == "ok" and not gateway.market.is_frozen("AAPL")
    assert await c.ask("freeze NOPE") == "error: unknown symbol 'NOPE'"
    assert await c.ask("delay 25") == "ok" and gateway.faults.delay_ms == 25
    assert await c.ask("delay 0") == "ok"
    assert (await c.ask("delay -5")).startswith("error: MS must be between")
    assert await c.ask("speed 2") == "ok" and gateway.clock.speed == 2.0
    assert (await c.ask("refuse")).startswith("error: usage: refuse SECONDS")
    assert (await c.ask("restart soon")).startswith("error: SECONDS must be a number")
    assert await c.ask("") == "error: empty command (try help)"
    assert await c.ask("launch rockets") == "error: unknown command 'launch' (try help)"
    assert (await c.ask("help")).startswith("ok commands: drop")
    assert await c.ask(b"\xff\xfe") == "error: not UTF-8"

    lost: list[bool] = []
    ib.disconnectedEvent += lambda: lost.append(True)
    assert await c.ask("drop") == "ok"
    await wait_until(lambda: lost)
    assert await c.ask("refuse 0.2") == "ok"
    with pytest.raises(ConnectionRefusedError):
        await IB().connectAsync("127.0.0.1", gateway.port, clientId=3, timeout=2)
    assert await c.ask("restart 0") == "ok"
    await asyncio.sleep(0.1)
    again = await connect(3)
    assert again.isConnected()

    # reject-next from the control port reaches the next order
    stock = Stock("AAPL", "SMART", "USD")
    await again.qualifyContractsAsync(stock)
    again_errors = errors_of(again)
    trade = again.placeOrder(stock, LimitOrder("BUY", 1, gateway.market.quote("AAPL").ask))
    await wait_until(lambda: again_errors)
    assert again_errors[0][1:] == (201, "Order rejected - reason:Too risky today")
    assert trade.orderStatus.status == "Cancelled"
    c.writer.close()


async def test_control_port_survives_abuse(gateway: SimGateway) -> None:
    port = await gateway.start_control()
    c = LineClient(*await asyncio.open_connection("127.0.0.1", port))
    c.writer.write(b"x" * 10_000 + b"\n")
    reply = await asyncio.wait_for(c.reader.readline(), 3)
    assert reply == b"error: line too long\n"
    assert await asyncio.wait_for(c.reader.read(), 3) == b""  # then closed
    ok = LineClient(*await asyncio.open_connection("127.0.0.1", port))
    assert await ok.ask("time") == f"ok {gateway.sim_time().isoformat()}"
    ok.writer.write(b"time")  # last command without a newline, then EOF
    ok.writer.write_eof()
    assert (await asyncio.wait_for(ok.reader.read(), 3)).startswith(b"ok ")


class FakeTarget:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def drop(self) -> None:
        self.calls.append(("drop", None))

    def refuse(self, seconds: float) -> None:
        self.calls.append(("refuse", seconds))

    def restart(self, seconds: float) -> None:
        self.calls.append(("restart", seconds))

    def send_error(self, code: int, text: str | None = None) -> None:
        self.calls.append(("error", (code, text)))

    def reject_next(self, text: str | None = None) -> None:
        self.calls.append(("reject-next", text))

    def freeze(self, symbol: str) -> None:
        if symbol != "AAPL":
            raise KeyError(symbol)
        self.calls.append(("freeze", symbol))

    def unfreeze(self, symbol: str) -> None:
        self.calls.append(("unfreeze", symbol))

    def delay(self, ms: float) -> None:
        self.calls.append(("delay", ms))

    def set_speed(self, speed: float) -> None:
        self.calls.append(("speed", speed))

    def sim_time(self) -> datetime:
        return datetime(2026, 11, 18, 19, 30, tzinfo=UTC)


def test_execute_parses_arguments() -> None:
    t = FakeTarget()
    assert execute(t, "refuse 2.5\r\n") == "ok"
    assert execute(t, "RESTART 30") == "ok"
    assert execute(t, "error 2103") == "ok"
    assert execute(t, "error 1300  custom   spacing kept") == "ok"
    assert execute(t, "reject-next") == "ok"
    assert execute(t, "delay 250") == "ok"
    assert execute(t, "time") == "ok 2026-11-18T19:30:00+00:00"
    assert t.calls == [
        ("refuse", 2.5),
        ("restart", 30.0),
        ("error", (2103, None)),
        ("error", (1300, "custom   spacing kept")),
        ("reject-next", None),
        ("delay", 250.0),
    ]
    assert execute(t, "refuse nan") == "error: SECONDS must be between 0 and 86400, got 'nan'"
    assert execute(t, "drop now") == "error: usage: drop"


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60))
def test_any_line_gets_exactly_one_line_back(line: str) -> None:
    reply = execute(FakeTarget(), line)
    assert "\n" not in reply
    assert reply == "ok" or reply.startswith(("ok ", "error: "))


def test_fault_state_notices() -> None:
    f = FaultState()
    assert f.apply_notice(1100) is None and f.market_data_paused and f.historical_broken
    assert f.apply_notice(1102) == "kept" and not f.market_data_paused
    f.apply_notice(2110)
    assert f.apply_notice(1101) == "lost" and not f.connectivity_lost
    f.apply_notice(2103)
    assert f.market_data_paused and not f.historical_broken
    assert f.apply_notice(2104) == "kept" and not f.market_data_paused
    f.apply_notice(2105)
    assert f.historical_broken and not f.market_data_paused


@pytest.mark.parametrize("text", ["0", "-1", "nan", "inf", "-0", "0.0", "10001", "fast"])
def test_speed_must_be_positive_as_the_cli_flag_requires(text: str) -> None:
    t = FakeTarget()
    reply = execute(t, f"speed {text}")
    assert reply == f"error: X must be a positive number up to 10000, got {text!r}"
    assert t.calls == []


def test_speed_accepts_positive_speeds() -> None:
    t = FakeTarget()
    assert execute(t, "speed 0.5") == "ok"
    assert execute(t, "speed 10000") == "ok"
    assert t.calls == [("speed", 0.5), ("speed", 10_000.0)]
