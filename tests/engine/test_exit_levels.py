"""SPEC 9 levels on the Positions slice from the journaled entry snapshot, and which exit
rule holds, with real numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_trader.core.exits import EntrySnapshot
from tui_trader.core.settings import ExitSettings
from tui_trader.engine.exits import (
    entry_key,
    exit_message,
    find_spread,
    load_entry,
    save_entry,
    with_exit_levels,
)
from tui_trader.state.journal import Journal
from tui_trader.state.store import PositionLeg, SpreadPosition

EXITS = ExitSettings()
LONG = EntrySnapshot("LONG", entry_price=100.0, atr14=2.0, hhv20=104.0, llv20=94.0)
SHORT = EntrySnapshot("SHORT", entry_price=50.0, atr14=1.0, hhv20=56.0, llv20=49.0)


def spread(symbol: str, iid: str | None, dte: int = 30, cons: tuple[int, int] = (1, 2)
           ) -> SpreadPosition:  # fmt: skip
    legs = (
        PositionLeg(cons[0], symbol, "20261218", 100.0, "C", 2.0, 150.0),
        PositionLeg(cons[1], symbol, "20261218", 105.0, "C", -2.0, 60.0),
    )
    ids = (iid,) if iid else ()
    return SpreadPosition(symbol, legs, intent_id=iid, intent_ids=ids, quantity=2, dte=dte,
                          direction="LONG")  # fmt: skip


def test_long_levels_nearest_target_and_distances() -> None:
    # stop 100 - 2*2 = 96; R 100 + 2*4 = 108; ATR 100 + 3*2 = 106; Fibo 94 + 1.618*10 = 110.18
    (sp,) = with_exit_levels([spread("AAA", "tt-000000000001")], {"tt-000000000001": LONG},
                             {"AAA": 101.0}, EXITS)  # fmt: skip
    assert sp.stop_level == 96.0 and sp.target_level == 106.0
    assert sp.stop_distance == pytest.approx((96.0 - 101.0) / 101.0)
    assert sp.target_distance == pytest.approx((106.0 - 101.0) / 101.0)
    assert sp.exit_reason is None


@pytest.mark.parametrize(
    ("spot", "dte", "reason"),
    [
        (96.0, 30, "STOP"),  # at the stop is hit
        (95.5, 30, "STOP"),
        (106.5, 30, "TARGET_ATR"),  # past the ATR target, not yet the R target
        (108.0, 30, "TARGET_R"),  # R is checked before ATR
        (101.0, 14, "TIME"),  # DTE at min_days_to_exit
        (101.0, 15, None),
    ],
)
def test_which_rule_holds(spot: float, dte: int, reason: str | None) -> None:
    sp = spread("AAA", "tt-000000000001", dte=dte)
    (out,) = with_exit_levels([sp], {"tt-000000000001": LONG}, {"AAA": spot}, EXITS)
    assert out.exit_reason == reason
    message = exit_message(out, {"tt-000000000001": LONG}, spot, EXITS)
    assert (message is None) == (reason is None)


def test_short_levels_are_mirrored() -> None:
    # stop 52; R 50 - 2*2 = 46; ATR 47; Fibo 56 - 1.618*7 = 44.674 -> nearest (highest) 47
    (sp,) = with_exit_levels([spread("BBB", "tt-000000000002")], {"tt-000000000002": SHORT},
                             {"BBB": 49.0}, EXITS)  # fmt: skip
    assert sp.stop_level == 52.0 and sp.target_level == 47.0
    assert sp.exit_reason is None
    (hit,) = with_exit_levels([sp], {"tt-000000000002": SHORT}, {"BBB": 52.0}, EXITS)
    assert hit.exit_reason == "STOP"


def test_no_snapshot_or_no_spot() -> None:
    external = spread("CCC", None)
    assert with_exit_levels([external], {}, {"CCC": 10.0}, EXITS) == (external,)
    (sp,) = with_exit_levels([spread("AAA", "tt-000000000001")], {"tt-000000000001": LONG},
                             {}, EXITS)  # fmt: skip
    assert sp.stop_level == 96.0 and sp.stop_distance is None and sp.exit_reason is None
    no_targets = ExitSettings(use_r_multiple_target=False, use_atr_target=False,
                              use_fibo_targets=False)  # fmt: skip
    (bare,) = with_exit_levels([sp], {"tt-000000000001": LONG}, {"AAA": 101.0}, no_targets)
    assert bare.target_level is None and bare.target_distance is None


def test_entry_snapshot_round_trip_and_bad_records(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:
        save_entry(journal, "tt-000000000001", LONG, "AAA")
        assert load_entry(journal, "tt-000000000001") == LONG
        assert journal.get_kv(entry_key("tt-000000000001"))["symbol"] == "AAA"
        assert load_entry(journal, "tt-00000000000f") is None
        journal.put_kv(entry_key("tt-000000000002"), {"direction": "LONG", "entry_price": 1.0})
        assert load_entry(journal, "tt-000000000002") is None
        journal.put_kv(entry_key("tt-000000000003"),
                       {"direction": "LONG", "entry_price": 100.0, "atr14": 0.0,
                        "hhv20": 1.0, "llv20": 1.0})  # fmt: skip
        assert load_entry(journal, "tt-000000000003") is None  # a stop needs an ATR


def test_find_spread_by_intent_or_legs() -> None:
    a = spread("AAA", "tt-000000000001")
    b = spread("BBB", None, cons=(7, 8))
    assert find_spread([a, b], "tt-000000000001") is a
    assert find_spread([a, b], "legs:7,8") is b
    assert find_spread([a, b], "legs:8,7") is None
    assert find_spread([a, b], "legs:x") is None
    assert find_spread([a, b], "tt-00000000000f") is None
