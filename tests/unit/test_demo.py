"""The demo command: the seeded simulated market scanned and its signals' spreads ranked."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

from tui_trader.config import load_settings
from tui_trader.demo import demo_scan, demo_spreads, run_demo

# Saturday 2026-11-21: the demo replays Friday's session from 14:30 ET.
SATURDAY = datetime(2026, 11, 21, 17, 0, tzinfo=UTC)


def test_demo_scan_is_deterministic_and_has_tradable_signals() -> None:
    settings = load_settings(None, env={})
    market, report = demo_scan(settings, seed=7, now=SATURDAY)
    again = demo_scan(settings, seed=7, now=SATURDAY)[1]
    assert [r.to_dict() for r in report.results] == [r.to_dict() for r in again.results]
    assert market.time() == datetime(2026, 11, 20, 19, 30, tzinfo=UTC)  # 14:30 ET Friday
    assert report.symbols == 60
    directions = {r.direction for r in report.results if r.tradable}
    assert directions == {"LONG", "SHORT"}


def test_demo_spreads_follow_the_selection_rules() -> None:
    settings = load_settings(None, env={})
    market, report = demo_scan(settings, seed=7, now=SATURDAY)
    picks = demo_spreads(market, report, settings)
    assert picks, "the default seed must give the demo something to trade"
    found = 0
    for result, selection in picks:
        for spread in selection.to_dict()["spreads"]:
            found += 1
            assert spread["right"] == ("C" if result.direction == "LONG" else "P")
            assert 0 < spread["cost"] <= settings.selection.max_spread_cost + 1e-9
            assert spread["reward_risk"] >= settings.selection.min_reward_risk - 1e-9
            assert settings.selection.min_delta <= abs(spread["long_delta"])
            assert abs(spread["long_delta"]) <= settings.selection.max_delta
    assert found > 0


def test_run_demo_prints_scan_and_spreads() -> None:
    out = io.StringIO()
    assert run_demo(load_settings(None, env={}), seed=7, out=out, now=SATURDAY) == 0
    text = out.getvalue()
    assert re.search(r"60 symbols scanned in [\d.]+ ms, \d+ with a signal", text)
    assert "best of" in text and "REWARD_RISK" in text
