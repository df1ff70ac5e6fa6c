"""The engine's Prometheus metrics: stable names, values from the store, counters that only
count what is new, and the loopback HTTP exposition."""

from __future__ import annotations

import dataclasses
import urllib.error
import urllib.request
from datetime import UTC, datetime

import pytest

from tui_trader.core.auto import AutoMode, CandidateState
from tui_trader.core.models import IntentStatus, OrderIntent, SpreadLeg, SpreadOrderSpec
from tui_trader.engine.metrics import METRIC_NAMES, EngineMetrics
from tui_trader.state.store import AutoCandidateRow, Automation, Health

T0 = datetime(2026, 11, 18, 19, 30, tzinfo=UTC)


def value(m: EngineMetrics, line: str) -> float | None:
    for row in m.render().decode().splitlines():
        if row.startswith(line + " "):
            return float(row.split()[-1])
    return None


def intent(iid: str, status: IntentStatus) -> OrderIntent:
    legs = tuple(
        SpreadLeg(con_id=c, symbol="AAPL", expiry="20261218", strike=k, right="C", action=a)
        for c, k, a in ((11, 200.0, "BUY"), (12, 205.0, "SELL"))
    )
    spec = SpreadOrderSpec(
        underlying="AAPL", direction="LONG", legs=legs, action="BUY", quantity=2,
        order_type="LMT", limit_price=1.85, mode="paper",
    )  # fmt: skip
    return OrderIntent(intent_id=iid, created_at=T0, updated_at=T0, spec=spec, status=status)


def test_every_stable_name_is_exposed_from_the_start() -> None:
    text = EngineMetrics().render().decode()
    for name in METRIC_NAMES:
        assert f"# TYPE {name} " in text
    assert "# TYPE tui_trader_scan_seconds gauge" in text
    for status in IntentStatus:
        assert f'tui_trader_orders_total{{status="{status.value}"}} 0.0' in text


def test_health_gauges_and_cumulative_counters() -> None:
    m = EngineMetrics()
    health = Health(lines_active=37, lines_max=90, line_evictions=3, lines_queued=2,
                    request_queue_depth=5, throttled=True)  # fmt: skip
    m.observe_health(health, connected=True, reconnects=2)
    assert value(m, "tui_trader_connected") == 1.0
    assert value(m, "tui_trader_market_data_lines_active") == 37.0
    assert value(m, "tui_trader_market_data_lines_max") == 90.0
    assert value(m, "tui_trader_market_data_lines_queued") == 2.0
    assert value(m, "tui_trader_request_queue_depth") == 5.0
    assert value(m, "tui_trader_throttled") == 1.0
    assert value(m, "tui_trader_market_data_evictions_total") == 3.0
    assert value(m, "tui_trader_reconnects_total") == 2.0
    # the same totals again add nothing; a source that restarts lower never decreases them
    m.observe_health(health, connected=False, reconnects=2)
    m.observe_health(Health(line_evictions=1), connected=False, reconnects=0)
    assert value(m, "tui_trader_market_data_evictions_total") == 3.0
    assert value(m, "tui_trader_reconnects_total") == 2.0
    assert value(m, "tui_trader_connected") == 0.0
    m.observe_health(Health(line_evictions=7, lines_max=89), connected=True, reconnects=3)
    assert value(m, "tui_trader_market_data_evictions_total") == 7.0
    assert value(m, "tui_trader_reconnects_total") == 3.0


def test_orders_count_status_entries_once_and_fills_by_exec_id() -> None:
    m = EngineMetrics()
    m.seed_orders([intent("tt-000000000001", IntentStatus.FILLED)])
    m.observe_orders([intent("tt-000000000001", IntentStatus.FILLED)])
    assert value(m, 'tui_trader_orders_total{status="FILLED"}') == 0.0  # known before
    m.observe_orders([intent("tt-000000000002", IntentStatus.SENT)])
    m.observe_orders([intent("tt-000000000002", IntentStatus.SENT)])
    m.observe_orders([intent("tt-000000000002", IntentStatus.REJECTED)])
    assert value(m, 'tui_trader_orders_total{status="SENT"}') == 1.0
    assert value(m, 'tui_trader_orders_total{status="REJECTED"}') == 1.0
    assert m.count_fill("0001.01") and m.count_fill("0001.02")
    assert not m.count_fill("0001.01") and not m.count_fill("")
    assert value(m, "tui_trader_fills_total") == 2.0
    m.count_error(2104)
    m.count_error(201)
    m.count_error(201)
    assert value(m, 'tui_trader_ib_errors_total{code="201"}') == 2.0
    assert value(m, 'tui_trader_ib_errors_total{code="2104"}') == 1.0


def test_scan_duration_and_rate() -> None:
    m = EngineMetrics()
    m.observe_scan(0.25, 60)
    m.observe_scan(0.5, 60)
    assert value(m, "tui_trader_scan_seconds") == 0.5
    assert value(m, "tui_trader_scan_symbols_per_second") == 120.0
    assert value(m, "tui_trader_scans_total") == 2.0


def test_served_on_loopback_and_stopped() -> None:
    m = EngineMetrics()
    port = m.serve(0)
    try:
        assert m.port == port and port > 0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
        assert "tui_trader_connected 0.0" in text
        with pytest.raises(RuntimeError):
            m.serve(0)
    finally:
        m.stop()
    assert m.port is None
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1)
    m.stop()  # idempotent


@pytest.mark.parametrize("path", ["/", "/favicon.ico", "/metricsx", "/metrics/extra", "/admin"])
def test_only_metrics_is_served_other_paths_are_404(path: str) -> None:
    m = EngineMetrics()
    port = m.serve(0)
    try:
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2)
        assert info.value.code == 404
        assert "tui_trader_" not in info.value.read().decode()
        url = f"http://127.0.0.1:{port}/metrics?name[]=tui_trader_connected"
        with urllib.request.urlopen(url, timeout=2) as r:  # a query string is still /metrics
            assert r.status == 200
            assert r.headers["Content-Type"].startswith("text/plain")
            assert "tui_trader_connected 0.0" in r.read().decode()
    finally:
        m.stop()


def scrape(m: EngineMetrics) -> dict[str, float]:
    """Every sample of a real HTTP scrape of ``/metrics``, by its line's name and labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{m.port}/metrics", timeout=2) as r:
        text = r.read().decode()
    return {
        row.rsplit(" ", 1)[0]: float(row.rsplit(" ", 1)[1])
        for row in text.splitlines()
        if row and not row.startswith("#")
    }


def candidate(symbol: str, state: CandidateState) -> AutoCandidateRow:
    return AutoCandidateRow(
        key=f"2026-11-18 {symbol} LONG", symbol=symbol, direction="LONG", strategy="breakout",
        state=state.value, reason=None, created_at=T0, updated_at=T0,
    )  # fmt: skip


def test_auto_trader_state_candidates_and_orders_over_http() -> None:
    m = EngineMetrics()
    m.serve(0)
    try:
        first = scrape(m)  # before anything happened: every series present at 0
        assert first["tui_trader_auto_state"] == 0.0
        for state in CandidateState:
            assert first[f'tui_trader_auto_candidates{{state="{state.value}"}}'] == 0.0
        assert first['tui_trader_auto_orders_total{kind="entry"}'] == 0.0
        assert first['tui_trader_auto_orders_total{kind="exit"}'] == 0.0

        rows = (
            candidate("AAPL", CandidateState.SENT),
            candidate("MSFT", CandidateState.QUEUED),
            candidate("SPY", CandidateState.QUEUED),
            candidate("TLT", CandidateState.DRY_RUN),
        )
        m.observe_auto(Automation(mode=AutoMode.ARMED.value, candidates=rows))
        m.count_auto_order("entry")
        m.count_auto_order("entry")
        m.count_auto_order("exit")
        got = scrape(m)
        assert got["tui_trader_auto_state"] == 1.0
        assert got['tui_trader_auto_candidates{state="QUEUED"}'] == 2.0
        assert got['tui_trader_auto_candidates{state="SENT"}'] == 1.0
        assert got['tui_trader_auto_candidates{state="DRY-RUN"}'] == 1.0
        assert got['tui_trader_auto_candidates{state="FILLED"}'] == 0.0
        assert got['tui_trader_auto_orders_total{kind="entry"}'] == 2.0
        assert got['tui_trader_auto_orders_total{kind="exit"}'] == 1.0

        # the SENT one filled, the queued ones expired: the states they left go back to 0
        rows = (
            candidate("AAPL", CandidateState.FILLED),
            candidate("MSFT", CandidateState.EXPIRED),
            candidate("SPY", CandidateState.EXPIRED),
            candidate("TLT", CandidateState.DRY_RUN),
        )
        for mode, number in ((AutoMode.DRY_RUN, 2.0), (AutoMode.HALTED, 3.0),
                             (AutoMode.OFF, 0.0)):  # fmt: skip
            m.observe_auto(Automation(mode=mode.value, candidates=rows))
            assert scrape(m)["tui_trader_auto_state"] == number
        got = scrape(m)
        assert got['tui_trader_auto_candidates{state="QUEUED"}'] == 0.0
        assert got['tui_trader_auto_candidates{state="SENT"}'] == 0.0
        assert got['tui_trader_auto_candidates{state="FILLED"}'] == 1.0
        assert got['tui_trader_auto_candidates{state="EXPIRED"}'] == 2.0
        m.observe_auto(Automation())  # a new day: no candidates
        assert sum(v for k, v in scrape(m).items() if "auto_candidates" in k) == 0.0
    finally:
        m.stop()


def test_an_unknown_auto_mode_or_order_kind_is_refused_and_changes_nothing() -> None:
    m = EngineMetrics()
    m.observe_auto(Automation(mode="ARMED", candidates=(candidate("AAPL", CandidateState.SENT),)))
    with pytest.raises(ValueError):
        m.observe_auto(Automation(mode="PAUSED"))
    with pytest.raises(ValueError):
        m.observe_auto(Automation(mode="OFF", candidates=(candidate("X", CandidateState.SENT),
                                                          replace_state("WAITING"))))  # fmt: skip
    with pytest.raises(ValueError):
        m.count_auto_order("close")
    assert value(m, "tui_trader_auto_state") == 1.0
    assert value(m, 'tui_trader_auto_candidates{state="SENT"}') == 1.0
    assert value(m, 'tui_trader_auto_orders_total{kind="entry"}') == 0.0
    assert 'kind="close"' not in m.render().decode()


def replace_state(state: str) -> AutoCandidateRow:
    return dataclasses.replace(candidate("Y", CandidateState.QUEUED), state=state)
