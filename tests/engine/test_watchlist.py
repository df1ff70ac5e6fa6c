"""Watchlist editing (issue 13) against the simulated gateway: an added symbol is asked of
IB, streamed within the line budget (the app's line count stays IB's), scanned and saved
into the config with its comments kept; a removed one's line is released; an unknown
ticker, a symbol with an open position and a read-only config are refused with one
sentence and change nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.engine.conftest import ENGINE_SYMBOLS, MakeEngine, engine_settings
from tests.engine.test_engine_risk import intent_status, open_position
from tests.engine.test_lines_agree import assert_agree, gateway_lines
from tests.sim.conftest import MakeGateway, until
from tui_trader.config import load_settings
from tui_trader.config_edit import WatchlistFile
from tui_trader.core.models import IntentStatus
from tui_trader.engine.engine import Engine
from tui_trader.sim.gateway import SimGateway
from tui_trader.sim.universe import stock_con_id
from tui_trader.state.store import EventLog, Orders, ScanResults

EXTRA = "QQQ"  # the gateway lists it; the engine's universe does not, at first

CONFIG = """\
# my trading setup -- keep this comment
[connection]
port = 7497  # paper TWS

[universe]
# the names I trade
symbols = [
    "MSFT",  # the big one
    "AAPL",
    "SPY",
    "TLT",
]
min_market_cap = 10e9
"""


@pytest.fixture
async def engine_gateway(make_gateway: MakeGateway, request: pytest.FixtureRequest) -> SimGateway:
    """The engine tests' gateway, listing ``EXTRA`` too unless a test asks for other extras
    (indirect parametrisation: another symbol list moves the seeded market's signals)."""
    extra: tuple[str, ...] = getattr(request, "param", (EXTRA,))
    return await make_gateway(symbols=(*ENGINE_SYMBOLS, *extra))


def scanned(engine: Engine) -> list[str]:
    report = engine.store.get(ScanResults).report
    assert report is not None
    return sorted(r.symbol for r in report.results)


def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


async def test_add_then_remove_live_and_saved_with_the_comments_kept(
    make_engine: MakeEngine, engine_gateway: SimGateway, tmp_path: Path
) -> None:
    engine = await make_engine()
    path = config_file(tmp_path)
    engine.watchlist.target = WatchlistFile(path, "config")
    assert await assert_agree(engine, engine_gateway, "start") == 4

    out = await engine.watchlist.add(" qqq ")
    assert out.ok, out.message
    assert out.message == (
        f"QQQ added to the watchlist, streamed. Saved to [universe] symbols in {path}."
    )
    assert scanned(engine) == sorted([*ENGINE_SYMBOLS, EXTRA])  # the row is there
    assert engine.settings.universe.symbols == [*ENGINE_SYMBOLS, EXTRA]
    assert await assert_agree(engine, engine_gateway, "QQQ added") == 5
    assert stock_con_id(EXTRA) in gateway_lines(engine_gateway, engine)
    text = path.read_text(encoding="utf-8")
    assert text == CONFIG.replace('    "TLT",\n', '    "TLT",\n    "QQQ",\n')
    assert load_settings(path, env={}).universe.symbols == [*ENGINE_SYMBOLS, EXTRA]

    out = await engine.watchlist.remove("TLT")
    assert out.ok, out.message
    assert "TLT" not in scanned(engine) and "TLT" not in engine.universe.stocks
    assert await assert_agree(engine, engine_gateway, "TLT removed") == 4
    assert stock_con_id("TLT") not in gateway_lines(engine_gateway, engine)  # released
    text = path.read_text(encoding="utf-8")
    assert "# the big one" in text and "# my trading setup -- keep this comment" in text
    assert load_settings(path, env={}).universe.symbols == ["MSFT", "AAPL", "SPY", EXTRA]


async def test_an_unknown_ticker_is_refused_and_nothing_changes(
    make_engine: MakeEngine, engine_gateway: SimGateway, tmp_path: Path
) -> None:
    engine = await make_engine()
    path = config_file(tmp_path)
    engine.watchlist.target = WatchlistFile(path, "config")
    out = await engine.watchlist.add("ZZZQ")
    assert not out.ok
    assert out.message == "IB does not know the symbol ZZZQ: nothing added."
    assert path.read_text(encoding="utf-8") == CONFIG
    assert scanned(engine) == sorted(ENGINE_SYMBOLS)
    assert await assert_agree(engine, engine_gateway, "refused") == 4
    again = await engine.watchlist.add("zzzq")  # known now: IB is not asked again
    assert again.message == out.message
    bad = await engine.watchlist.add("AA PL")
    assert not bad.ok and bad.message.startswith("Not a ticker: symbol 'AA PL' has a character")
    dup = await engine.watchlist.add("msft")
    assert dup.message == "MSFT is already in the watchlist."


@pytest.mark.parametrize("engine_gateway", [()], indirect=True)  # AAPL signals: a position
async def test_removing_a_symbol_with_an_open_position_is_refused(
    make_engine: MakeEngine, engine_gateway: SimGateway, tmp_path: Path
) -> None:
    engine = await make_engine()
    path = config_file(tmp_path)
    engine.watchlist.target = WatchlistFile(path, "config")
    await open_position(engine, "AAPL")
    lines = await assert_agree(engine, engine_gateway, "position open")
    assert engine.watchlist.remove_refusal("AAPL") == (
        "AAPL has an open position: close it first (its exits need the underlying's price)."
    )
    out = await engine.watchlist.remove("AAPL")
    assert not out.ok and out.message == engine.watchlist.remove_refusal("AAPL")
    assert "AAPL" in scanned(engine) and path.read_text(encoding="utf-8") == CONFIG
    assert await assert_agree(engine, engine_gateway, "refused") == lines

    # a working order: a BUY a dollar under the natural ask rests at the exchange
    assert (await engine.preview("MSFT")).ok
    assert (await engine.adjust_limit(-100)).ok
    assert (await engine.transmit()).ok
    working = engine.store.get(Orders).intents[-1].intent_id
    await until(lambda: intent_status(engine, working) is IntentStatus.WORKING, what="WORKING")
    out = await engine.watchlist.remove("MSFT")
    assert not out.ok
    assert out.message == f"MSFT has a working order ({working}): cancel it first."
    assert "MSFT" in scanned(engine) and path.read_text(encoding="utf-8") == CONFIG


@pytest.mark.skipif(os.name != "posix", reason="permission bits")
async def test_a_read_only_config_is_an_error_and_the_universe_stays(
    make_engine: MakeEngine, engine_gateway: SimGateway, tmp_path: Path
) -> None:
    engine = await make_engine()
    path = config_file(tmp_path)
    path.chmod(0o444)
    engine.watchlist.target = WatchlistFile(path, "config")
    out = await engine.watchlist.add(EXTRA)
    assert not out.ok
    assert out.message == f"QQQ not added: cannot save the watchlist: {path} is read-only."
    assert EXTRA not in engine.universe.stocks and scanned(engine) == sorted(ENGINE_SYMBOLS)
    assert await assert_agree(engine, engine_gateway, "not saved") == 4
    errors = [e.text for e in engine.store.get(EventLog).items if e.level == "ERROR"]
    assert errors == [f"cannot save the watchlist: {path} is read-only"]
    out = await engine.watchlist.remove("TLT")
    assert not out.ok and "TLT" in scanned(engine)
    assert path.read_text(encoding="utf-8") == CONFIG


async def test_past_the_line_budget_an_added_symbol_is_rotated(
    make_engine: MakeEngine, engine_gateway: SimGateway
) -> None:
    settings = engine_settings(engine_gateway.port, connection={"max_lines": 4})
    engine = await make_engine(settings=settings)
    assert await assert_agree(engine, engine_gateway, "start: the budget is full") == 4
    out = await engine.watchlist.add(EXTRA)
    assert out.ok, out.message
    assert out.message == (
        "QQQ added to the watchlist, priced by rotating snapshots (no line free). "
        "Not saved (the demo saves no file)."
    )
    assert EXTRA in scanned(engine)
    assert await assert_agree(engine, engine_gateway, "QQQ rotated") <= 4
    assert engine.marketdata.ticker(stock_con_id(EXTRA)) is None  # no line of its own
