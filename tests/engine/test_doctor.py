"""``tui-trader doctor`` against the simulated gateway: all ticks on a healthy account, and
each failure the control port plays (readonly, market-data, options-data, skew, account)
named by the check it breaks. Real sockets, the real control port, a real journal."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.engine.conftest import engine_settings
from tests.sim.conftest import MakeGateway
from tui_trader.core.models import EventLevel
from tui_trader.engine.doctor import Check, check_lines, mask_account, report_crosses, run_doctor
from tui_trader.engine.lock import engine_lock
from tui_trader.sim.faults import TEXT_DELAYED, FaultState, MarketDataAnswer, market_data_answer
from tui_trader.sim.gateway import SimGateway

ALL = [
    "api",
    "clock",
    "account",
    "read-only",
    "daily-bars",
    "stock-data",
    "option-chain",
    "option-data",
    "greeks",
    "what-if",
    "market-data-lines",
    "journal",
]


async def control(port: int, command: str) -> str:
    """One command on the gateway's control port (as an operator would type it)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(command.encode() + b"\n")
    reply = (await asyncio.wait_for(reader.readline(), 3)).decode().strip()
    writer.close()
    return reply


async def doctor(gateway: SimGateway, tmp_path: Path, **sections: dict[str, Any]) -> list[Check]:
    settings = engine_settings(gateway.port, **sections)
    return await run_doctor(
        settings, tmp_path / "journal.sqlite3", now=gateway.sim_time, timeout=3.0
    )


def crosses(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks if not c.ok}


async def test_healthy_gateway_passes_every_check(
    make_gateway: MakeGateway, tmp_path: Path
) -> None:
    gateway = await make_gateway(symbols=("MSFT", "AAPL"))
    checks = await doctor(gateway, tmp_path)
    assert [c.name for c in checks] == ALL
    assert crosses(checks) == {}, [c.line() for c in checks]
    by = {c.name: c for c in checks}
    assert "server version 176" in by["api"].detail
    assert "paper account DU****56" in by["account"].detail  # DU123456, masked
    assert "DU123456" not in json.dumps([c.as_json() for c in checks])
    assert by["what-if"].detail.startswith("MSFT ") and "margin +" in by["what-if"].detail
    assert all(c.line().startswith("✓ ") for c in checks)


# (control command, the check it must break, words its detail must hold)
PLAYS = [
    ("readonly on", "read-only", "IB 321"),
    ("market-data none", "stock-data", "IB 354"),
    ("market-data delayed", "stock-data", "stock market data is delayed (IB 10167)"),
    ("options-data off", "option-data", "option market data is delayed (IB 10167)"),
    ("skew 45", "clock", "+45 s"),
    ("account live", "account", "live account U*****21"),
]


@pytest.mark.parametrize(("command", "name", "words"), PLAYS, ids=[p[0] for p in PLAYS])
async def test_doctor_names_each_played_failure(
    make_gateway: MakeGateway, tmp_path: Path, command: str, name: str, words: str
) -> None:
    gateway = await make_gateway(symbols=("MSFT", "AAPL"))
    port = await gateway.start_control()
    assert await control(port, command) == "ok"
    checks = await doctor(gateway, tmp_path)
    bad = crosses(checks)
    assert name in bad, [c.line() for c in checks]
    assert words in bad[name].detail
    assert bad[name].fix and bad[name].line().startswith(f"✗ {name}: ")
    if command in ("skew 45", "account live"):  # nothing else depends on these
        assert set(bad) == {name}
    if command == "readonly on":  # the vertical's what-if is refused too, nothing else
        assert set(bad) == {"read-only", "what-if"}
    if command == "options-data off":  # stocks stay live: only the options are named
        assert "stock-data" not in bad


async def test_mode_live_on_a_paper_account_and_a_live_one(
    make_gateway: MakeGateway, tmp_path: Path
) -> None:
    gateway = await make_gateway(symbols=("MSFT",))
    checks = await doctor(gateway, tmp_path, execution={"mode": "live"})
    assert set(crosses(checks)) == {"account"}
    assert 'set [execution] mode = "paper"' in crosses(checks)["account"].fix


async def test_no_gateway_a_locked_journal_and_too_many_lines(
    make_gateway: MakeGateway, tmp_path: Path
) -> None:
    gateway = await make_gateway(symbols=("MSFT",))
    port = gateway.port
    await gateway.stop()
    journal = tmp_path / "journal.sqlite3"
    with engine_lock(journal):  # as a running engine holds it (flock: per open file)
        checks = await run_doctor(
            engine_settings(port, connection={"max_lines": 150}), journal, timeout=1.0
        )
    bad = crosses(checks)
    assert [c.name for c in checks] == ALL and set(bad) == set(ALL)
    assert f"no TWS API on 127.0.0.1:{port}" in bad["api"].detail
    assert "Another tui-trader engine" in bad["journal"].detail
    assert "150 exceeds IB's standard 100" in bad["market-data-lines"].detail
    assert check_lines(100).ok and not check_lines(101).ok


def test_account_ids_are_masked() -> None:
    assert mask_account("U1234567") == "U*****67"
    assert mask_account("DU123456") == "DU****56"


async def test_control_play_commands_refuse_bad_arguments(make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(symbols=("MSFT",))
    port = await gateway.start_control()
    assert await control(port, "readonly maybe") == "error: usage: readonly on|off"
    assert await control(port, "market-data fast") == "error: usage: market-data live|delayed|none"
    assert (await control(port, "skew soon")).startswith("error: SECONDS must be a number")
    assert await control(port, "skew -30") == "ok"
    assert gateway.faults.clock_skew_s == -30.0
    assert await control(port, "account live") == "ok" and gateway.account == "U7654321"
    assert await control(port, "account paper") == "ok" and gateway.account.startswith("DU")


def test_market_data_answers_follow_ib() -> None:
    """Without a subscription IB streams delayed data only to a client that asked for it
    (reqMarketDataType 3/4, notice 10167); one that asked for live gets 354."""
    state = FaultState(market_data="delayed")
    assert market_data_answer(state, False, 3) == MarketDataAnswer(3, 10167, TEXT_DELAYED)
    assert market_data_answer(state, False, 4).data_type == 4
    asked_live = market_data_answer(state, False, 1)
    assert (asked_live.data_type, asked_live.code) == (None, 354)
    assert asked_live.text.endswith("Delayed market data is available.")
    no_opra = FaultState(options_data=False)
    assert market_data_answer(no_opra, False, 3) == MarketDataAnswer(1)
    assert market_data_answer(no_opra, True, 3).code == 10167
    assert market_data_answer(FaultState(market_data="none"), True, 3).code == 354


async def test_start_up_run_reports_crosses_as_log_events(
    make_gateway: MakeGateway, tmp_path: Path
) -> None:
    """The dashboard's start-up run: no journal check (the engine holds its lock), each
    cross a WARNING ``doctor`` event with its fix, or one INFO line when all pass."""
    gateway = await make_gateway(symbols=("MSFT",))
    events: list[tuple[EventLevel, str, str]] = []

    def emit(level: EventLevel, kind: str, text: str, intent_id: str | None = None) -> None:
        events.append((level, kind, text))

    settings = engine_settings(gateway.port)
    checks = await run_doctor(settings, None, now=gateway.sim_time, timeout=3.0)
    assert [c.name for c in checks] == ALL[:-1]
    assert report_crosses(checks, emit) == 0
    assert events == [(EventLevel.INFO, "doctor", "preflight: all 11 checks pass")]
    events.clear()
    port = await gateway.start_control()
    assert await control(port, "readonly on") == "ok"
    checks = await run_doctor(settings, None, now=gateway.sim_time, timeout=3.0)
    assert report_crosses(checks, emit) == 2
    assert [(lv, k, t.split(":")[0]) for lv, k, t in events] == [
        (EventLevel.WARNING, "doctor", "read-only"),
        (EventLevel.WARNING, "doctor", "what-if"),
    ]
    assert 'untick "Read-Only API"' in events[0][2]
