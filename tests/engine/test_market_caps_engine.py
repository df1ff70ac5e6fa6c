"""The live engine applies ``[universe] market_caps_file`` (SPEC 3) to every scan it
publishes: the real engine on the simulated gateway, the file read from disk."""

from __future__ import annotations

from pathlib import Path

from tests.engine.conftest import MakeEngine, engine_settings
from tui_trader.sim.gateway import SimGateway
from tui_trader.state.store import ScanResults


async def test_the_engine_scans_with_the_files_caps(
    make_engine: MakeEngine, engine_gateway: SimGateway, tmp_path: Path
) -> None:
    caps = tmp_path / "caps.csv"
    # AAPL below SPEC 3's 10e9, MSFT and TLT above, SPY not in the file.
    caps.write_text("symbol,market_cap\nMSFT,3.6e12\nAAPL,9990000000\nTLT,5e10\n")
    settings = engine_settings(engine_gateway.port, universe={"market_caps_file": str(caps)})
    engine = await make_engine(settings=settings)
    report = engine.store.get(ScanResults).report
    assert report is not None
    rows = {r.symbol: r for r in report.results}
    assert set(rows) == {"MSFT", "AAPL", "SPY", "TLT"}
    assert not rows["AAPL"].eligible and "market_cap_below_min" in rows["AAPL"].reasons
    assert not rows["AAPL"].tradable  # its SHORT signal may not trade
    assert "market_cap_unknown" not in rows["MSFT"].reasons and rows["MSFT"].eligible
    assert "market_cap_unknown" not in rows["TLT"].reasons
    assert rows["SPY"].eligible and "market_cap_unknown" in rows["SPY"].reasons
    assert engine.universe.market_caps == {"MSFT": 3.6e12, "AAPL": 9.99e9, "TLT": 5e10}
