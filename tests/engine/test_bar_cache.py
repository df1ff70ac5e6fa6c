"""The daily-bar cache in the user's cache folder (issue 12): bars and qualified contracts
per symbol and day, a warm start that asks IB for nothing it holds, a cache that cannot be
used costing one warning and a refetch (never a crash), and the load's progress with
partial scans while the bars arrive.

The cache folder is the test's own (tests/conftest.py points ``$XDG_CACHE_HOME`` at a
temporary folder); the gateway and SQLite are real.
"""

from __future__ import annotations

import math
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ib_insync import IB, Contract, Stock

from tests.engine.conftest import ENGINE_SYMBOLS, MakeEngine, engine_settings
from tests.sim.conftest import MakeGateway
from tui_trader.broker import bars as bars_module
from tui_trader.broker.bars import load_daily_bars
from tui_trader.broker.pacing import HistoricalPacer
from tui_trader.core.models import EventLevel
from tui_trader.core.settings import Settings
from tui_trader.engine import universe as universe_module
from tui_trader.engine.runtime import running_engine
from tui_trader.sim import protocol as p
from tui_trader.sim.gateway import SimGateway
from tui_trader.sim.universe import universe_symbols
from tui_trader.state.bar_cache import BarCache, BarCacheError, BarRow, default_cache_path
from tui_trader.state.store import EventLog, Health, ScanResults
from tui_trader.tui.widgets.footer import bars_part

DAY = date(2026, 11, 18)
ROWS = [
    BarRow(DAY - timedelta(days=2), 100.0, 101.5, 99.0, 101.0, 1.2e6),
    BarRow(DAY - timedelta(days=1), 101.0, 103.0, 100.5, 102.25, math.nan),
    BarRow(DAY, 102.0, 102.5, 101.0, 101.75, 4.0e5),
]


class RequestSpy:
    """Counts the gateway's historical and contract-details requests (and their order:
    ``"H"`` and ``"D"`` in ``order``)."""

    def __init__(self, gateway: SimGateway) -> None:
        self.historical = 0
        self.details = 0
        self.order: list[str] = []
        original = gateway._handle

        def handle(s: Any, req: p.Request) -> None:
            if isinstance(req, p.ReqHistoricalData):
                self.historical += 1
                self.order.append("H")
            elif isinstance(req, p.ReqContractDetails):
                self.details += 1
                self.order.append("D")
            original(s, req)

        gateway._handle = handle  # type: ignore[method-assign]


def same(a: list[BarRow] | None, b: list[BarRow]) -> bool:
    return a is not None and all(
        x.day == y.day
        and all(
            (math.isnan(u) and math.isnan(v)) or u == v for u, v in zip(x[1:], y[1:], strict=True)
        )
        for x, y in zip(a, b, strict=True)
    )


# ---------------------------------------------------------------------- the store itself


def test_bars_are_kept_per_symbol_and_day(tmp_path: Path) -> None:
    path = tmp_path / "bars.sqlite3"
    with BarCache(path) as cache:
        assert cache.get_bars("AAPL", DAY) is None
        cache.put_bars("AAPL", list(reversed(ROWS)), DAY)
        cache.put_bars("MSFT", ROWS[:1], DAY - timedelta(days=1))  # yesterday's: stale
    with BarCache(path) as cache:  # a restart: a new object on the same file
        assert same(cache.get_bars("AAPL", DAY), ROWS)  # date order, NaN volume kept
        assert cache.get_bars("AAPL", DAY + timedelta(days=1)) is None
        assert cache.get_many(["AAPL", "MSFT", "SPY"], DAY).keys() == {"AAPL"}
        with pytest.raises(ValueError, match="two bars for AAPL"):
            cache.put_bars("AAPL", [ROWS[0], ROWS[0]], DAY)
        assert same(cache.get_bars("AAPL", DAY), ROWS)  # the refused put changed nothing
        cache.put_bars("AAPL", [], DAY)
        assert cache.get_bars("AAPL", DAY) is None
        cache.put_bars("SPY", ROWS, DAY - timedelta(days=8))
        cache.prune(DAY)  # a week old: gone
        assert cache.get_bars("SPY", DAY - timedelta(days=8)) is None
        assert cache.problem is None and cache.notice is None


def test_qualified_contracts_are_kept_for_the_day(tmp_path: Path) -> None:
    stock = Stock("AAPL", "SMART", "USD")
    stock.conId, stock.primaryExchange, stock.localSymbol = 265598, "NASDAQ", "AAPL"
    unqualified = Stock("ZZZZ", "SMART", "USD")  # conId 0: never kept
    with BarCache(tmp_path / "bars.sqlite3") as cache:
        assert cache.put_contracts({"AAPL": stock, "ZZZZ": unqualified}, DAY)
        got = cache.get_contracts(["AAPL", "ZZZZ"], DAY)
        assert list(got) == ["AAPL"]
        assert got["AAPL"] == stock and got["AAPL"].secType == "STK"
        assert cache.get_contracts(["AAPL"], DAY + timedelta(days=1)) == {}


@pytest.mark.parametrize(
    "content",
    [b"not a database at all, just some bytes" * 200, "foreign"],
    ids=["garbage", "foreign-sqlite"],
)
def test_a_damaged_or_foreign_file_is_set_aside_and_a_new_cache_started(
    tmp_path: Path, content: bytes | str
) -> None:
    path = tmp_path / "bars.sqlite3"
    if content == "foreign":
        with sqlite3.connect(path) as other:
            other.execute("CREATE TABLE moz_places (id INTEGER)")
        other.close()
    else:
        assert isinstance(content, bytes)
        path.write_bytes(content)
    before = (tmp_path / "bars.sqlite3").read_bytes()
    with BarCache(path) as cache:
        assert cache.problem is None
        assert cache.notice is not None and "set aside as bars.sqlite3.corrupt" in cache.notice
        assert cache.get_bars("AAPL", DAY) is None  # a miss: refetched
        cache.put_bars("AAPL", ROWS, DAY)
        assert same(cache.get_bars("AAPL", DAY), ROWS)
    assert (tmp_path / "bars.sqlite3.corrupt").read_bytes() == before  # kept, untouched


def test_a_cache_that_cannot_be_opened_keeps_nothing_and_never_raises_on_reads(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    cache = BarCache(blocker / "bars.sqlite3")  # its folder is a file
    assert cache.problem is not None and "cannot be opened" in cache.problem
    assert cache.get_bars("AAPL", DAY) is None
    assert cache.get_contracts(["AAPL"], DAY) == {}
    assert not cache.put_contracts({"AAPL": Stock("AAPL", "SMART", "USD")}, DAY)
    with pytest.raises(BarCacheError):
        cache.put_bars("AAPL", ROWS, DAY)
    cache.close()


def test_a_full_disk_refuses_the_write_and_says_so(tmp_path: Path) -> None:
    with BarCache(tmp_path / "bars.sqlite3") as cache:
        conn = cache._conn
        assert conn is not None
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own "disk is full"
        many = [BarRow(DAY - timedelta(days=i), 1.0, 2.0, 0.5, 1.5, 10.0) for i in range(2000)]
        with pytest.raises(BarCacheError, match="disk is full"):
            cache.put_bars("AAPL", many, DAY)
        assert cache.problem is not None and "database or disk is full" in cache.problem
        assert cache.get_bars("AAPL", DAY) is None  # nothing half-written


# ---------------------------------------------------------------------- in the engine


async def test_a_warm_start_asks_ib_for_no_bars_and_no_contracts(
    make_engine: MakeEngine, engine_gateway: SimGateway
) -> None:
    spy = RequestSpy(engine_gateway)
    cold = await make_engine(journal_name="cold.sqlite3")
    assert spy.historical == len(ENGINE_SYMBOLS)
    assert spy.details == len(ENGINE_SYMBOLS)  # qualified once: the loader's, reused
    cold_report = cold.store.get(ScanResults).report
    assert cold_report is not None and cold_report.symbols == len(ENGINE_SYMBOLS)
    assert default_cache_path().is_file()
    with BarCache() as cache:
        assert cache.get_many(ENGINE_SYMBOLS, cold.today()).keys() == set(ENGINE_SYMBOLS)
    await cold.stop()

    spy.historical = spy.details = 0
    warm = await make_engine(journal_name="warm.sqlite3")
    assert (spy.historical, spy.details) == (0, 0)
    report = warm.store.get(ScanResults).report
    assert report is not None and report.symbols == len(ENGINE_SYMBOLS)
    assert {r.symbol: r.close for r in report.results} == {
        r.symbol: r.close for r in cold_report.results
    }
    assert sorted(warm.universe.stocks) == sorted(ENGINE_SYMBOLS)  # streamed as before
    health = warm.store.get(Health)
    assert (health.bars_loaded, health.bars_total) == (4, 4)


async def test_a_corrupt_cache_is_one_warning_and_a_refetch(
    make_engine: MakeEngine, engine_gateway: SimGateway
) -> None:
    path = default_cache_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x00garbage" * 4096)
    spy = RequestSpy(engine_gateway)
    engine = await make_engine()
    assert spy.historical == len(ENGINE_SYMBOLS)
    report = engine.store.get(ScanResults).report
    assert report is not None and report.symbols == len(ENGINE_SYMBOLS)
    warnings = [e for e in engine.store.get(EventLog).items if e.kind == "bars"]
    assert len(warnings) == 1 and warnings[0].level is EventLevel.WARNING
    assert "set aside" in warnings[0].text
    with BarCache() as cache:  # the new cache holds today's bars
        assert len(cache.get_many(ENGINE_SYMBOLS, engine.today())) == len(ENGINE_SYMBOLS)


async def test_bars_load_with_progress_and_partial_scans(
    make_gateway: MakeGateway, make_engine: MakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """48 symbols, a partial scan every 20: the progress climbs to 48/48 and the Scanner
    gets the symbols loaded so far (20, then 40) before the whole universe's scan, which
    alone reaches the engine's scan callbacks."""
    monkeypatch.setattr(universe_module, "PARTIAL_EVERY", 20)
    symbols = universe_symbols(48)
    gateway = await make_gateway(symbols=symbols)
    settings = engine_settings(gateway.port, universe={"symbols": list(symbols)})
    progress: list[tuple[int, int]] = []
    sizes: list[int] = []
    titles: list[str] = []
    engine = await make_engine(settings=settings, boot=False)
    engine.store.subscribe(
        Health, lambda c: progress.append((c.value.bars_loaded, c.value.bars_total))
    )

    def on_scan(change: Any) -> None:
        report = change.value.report
        if report is not None and (not sizes or sizes[-1] != report.symbols):
            sizes.append(report.symbols)
            titles.append(footer_bars(engine.store.get(Health)))

    engine.store.subscribe(ScanResults, on_scan)
    assert await engine.wait_booted(60.0)
    loads = [pr for pr in dict.fromkeys(progress) if pr[1]]
    assert loads[-1] == (48, 48)
    assert [a for a, _ in loads] == sorted(a for a, _ in loads)  # never backwards
    assert sizes == [20, 40, 48]
    assert titles[:2] == ["bars 20/48", "bars 40/48"] and titles[2] == ""
    assert engine.universe.partial_scans == 2
    assert engine.scanner.scans == 1  # partial scans are not the engine's scans


def footer_bars(health: Health) -> str:
    """The footer's bars part for ``health``."""
    return bars_part(health).text


async def test_a_cold_load_asks_for_bars_while_later_batches_are_qualified(
    make_gateway: MakeGateway, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """36 symbols in batches of 12: the first historical request goes out after the first
    batch's 12 contract-details requests, not after all 36; the contracts are cached."""
    monkeypatch.setattr(bars_module, "QUALIFY_BATCH", 12)
    symbols = universe_symbols(36)
    gateway = await make_gateway(symbols=symbols)
    spy = RequestSpy(gateway)
    ib = IB()  # type: ignore[no-untyped-call]
    await ib.connectAsync("127.0.0.1", gateway.port, clientId=3, timeout=5)
    contracts: dict[str, Contract] = {}
    try:
        with BarCache(tmp_path / "bars.sqlite3") as cache:
            bars, problems = await load_daily_bars(
                ib, symbols, cache, HistoricalPacer(), today=DAY, contracts=contracts
            )
            assert problems == {} and sorted(bars.symbols) == sorted(symbols)
            assert spy.order.index("H") == 12  # after one batch
            assert (spy.details, spy.historical) == (36, 36)
            assert cache.get_contracts(symbols, DAY).keys() == set(symbols) == contracts.keys()
    finally:
        ib.disconnect()  # type: ignore[no-untyped-call]


async def test_the_demo_keeps_its_simulated_bars_out_of_the_user_cache() -> None:
    """A real run the same day must not take the demo's bars for IB's."""
    saturday = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
    async with running_engine(Settings(), demo=True, clock=lambda: saturday) as engine:
        assert await engine.wait_booted(30.0)
        own = engine.universe.bar_cache_path
        assert own.parent.name.startswith("tui-trader-bars-") and own.is_file()
        with BarCache(own) as cache:
            assert cache.get_many(engine.settings.universe.symbols, engine.today())
    assert not default_cache_path().exists()
    assert not own.parent.exists()  # thrown away with the demo
