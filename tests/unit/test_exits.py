"""SPEC 9: exit levels and the first-rule ordering."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui_trader.core.exits import (
    EntrySnapshot,
    ExitReason,
    check_exit,
    exit_levels,
)
from tui_trader.core.settings import ExitSettings

EXITS = ExitSettings()
# LONG: entry 100, ATR 2.5, 20-day range 90..102
LONG = EntrySnapshot("LONG", entry_price=100.0, atr14=2.5, hhv20=102.0, llv20=90.0)
# SHORT: entry 50, ATR 1.2, 20-day range 49..58
SHORT = EntrySnapshot("SHORT", entry_price=50.0, atr14=1.2, hhv20=58.0, llv20=49.0)


def reason(snapshot: EntrySnapshot, price: float, dte: int | None = 30, **cfg: object) -> object:
    exits = ExitSettings.model_validate({**EXITS.model_dump(), **cfg})
    d = check_exit(exit_levels(snapshot, exits), price, dte, exits)
    return None if d is None else d.reason


def test_long_levels_hand_worked() -> None:
    lv = exit_levels(LONG, EXITS)
    assert lv.stop == pytest.approx(95.0)  # 100 - 2 * 2.5
    assert lv.r_target == pytest.approx(110.0)  # 100 + 2 * 5 (stop distance)
    assert lv.atr_target == pytest.approx(107.5)  # 100 + 3 * 2.5
    assert lv.fibo_target == pytest.approx(109.416)  # 90 + 1.618 * 12


def test_short_levels_hand_worked() -> None:
    lv = exit_levels(SHORT, EXITS)
    assert lv.stop == pytest.approx(52.4)  # 50 + 2 * 1.2
    assert lv.r_target == pytest.approx(45.2)  # 50 - 2 * 2.4
    assert lv.atr_target == pytest.approx(46.4)  # 50 - 3 * 1.2
    assert lv.fibo_target == pytest.approx(43.438)  # 58 - 1.618 * 9


def test_switched_off_targets_are_none() -> None:
    exits = ExitSettings(use_r_multiple_target=False, use_atr_target=False, use_fibo_targets=False)
    lv = exit_levels(LONG, exits)
    assert (lv.r_target, lv.atr_target, lv.fibo_target) == (None, None, None)
    assert lv.stop == pytest.approx(95.0)
    assert check_exit(lv, 150.0, 30, exits) is None  # no target can fire
    d = check_exit(lv, 94.0, 30, exits)
    assert d is not None and d.reason is ExitReason.STOP


@pytest.mark.parametrize(
    ("price", "expected"),
    [
        (100.0, None),
        (95.01, None),
        (95.0, ExitReason.STOP),  # at the level
        (80.0, ExitReason.STOP),
        (107.49, None),
        (107.5, ExitReason.TARGET_ATR),
        (109.5, ExitReason.TARGET_ATR),  # beyond Fibo too: ATR comes first
        (110.0, ExitReason.TARGET_R),  # beyond all targets: R comes first
        (130.0, ExitReason.TARGET_R),
    ],
)
def test_long_first_rule(price: float, expected: ExitReason | None) -> None:
    assert reason(LONG, price) == expected


@pytest.mark.parametrize(
    ("price", "expected"),
    [
        (50.0, None),
        (52.39, None),
        (52.5, ExitReason.STOP),
        (46.5, None),
        (46.4, ExitReason.TARGET_ATR),
        (45.2, ExitReason.TARGET_R),
        (40.0, ExitReason.TARGET_R),
    ],
)
def test_short_first_rule(price: float, expected: ExitReason | None) -> None:
    assert reason(SHORT, price) == expected


def test_short_stop_at_the_level() -> None:
    lv = exit_levels(SHORT, EXITS)
    d = check_exit(lv, lv.stop, 30, EXITS)
    assert d is not None and d.reason is ExitReason.STOP and d.level == lv.stop


def test_each_target_when_the_earlier_ones_are_off() -> None:
    assert reason(LONG, 109.5, use_atr_target=False) is ExitReason.TARGET_FIBO
    assert reason(LONG, 110.0, use_r_multiple_target=False) is ExitReason.TARGET_ATR
    assert reason(SHORT, 43.4, use_r_multiple_target=False, use_atr_target=False) is (
        ExitReason.TARGET_FIBO
    )
    assert reason(SHORT, 43.5, use_r_multiple_target=False, use_atr_target=False) is None


def test_time_rule_comes_last() -> None:
    assert reason(LONG, 100.0, dte=15) is None
    assert reason(LONG, 100.0, dte=14) is ExitReason.TIME
    assert reason(LONG, 100.0, dte=0) is ExitReason.TIME
    assert reason(LONG, 94.0, dte=3) is ExitReason.STOP  # stop before time
    assert reason(LONG, 111.0, dte=3) is ExitReason.TARGET_R
    assert reason(LONG, 100.0, dte=None) is None
    d = check_exit(exit_levels(LONG, EXITS), 100.0, 14, EXITS)
    assert d is not None and d.level is None
    assert d.message == "14 days to expiry, at or below the minimum of 14."


@pytest.mark.parametrize("price", [math.nan, -1.0, 0.0, 1.7976931348623157e308, math.inf])
def test_unusable_price_skips_price_rules_but_not_time(price: float) -> None:
    assert reason(LONG, price, dte=30) is None
    assert reason(LONG, price, dte=10) is ExitReason.TIME


def test_fibo_target_behind_the_entry_is_dropped() -> None:
    # LONG entered at 125 while LLV + 1.618 * range = 90 + 1.618 * 20 = 122.36 is below it
    late = EntrySnapshot("LONG", entry_price=125.0, atr14=2.0, hhv20=110.0, llv20=90.0)
    lv = exit_levels(late, EXITS)
    assert lv.fibo_target is None
    assert check_exit(lv, 125.0, 30, EXITS) is None
    assert lv.r_target == pytest.approx(133.0)


def test_messages() -> None:
    d = check_exit(exit_levels(LONG, EXITS), 94.5, 30, EXITS)
    assert d is not None
    assert d.message == "LONG stop: underlying 94.50 reached the stop 95.00."
    d = check_exit(exit_levels(LONG, EXITS), 108.0, 30, EXITS)
    assert d is not None
    assert d.message == "Underlying 108.00 reached the ATR target 107.50."


@pytest.mark.parametrize(
    "fields",
    [
        ("LONG", 100.0, 0.0, 102.0, 90.0),
        ("LONG", 100.0, math.nan, 102.0, 90.0),
        ("LONG", -1.0, 2.0, 102.0, 90.0),
        ("LONG", 100.0, 2.0, 90.0, 102.0),  # HHV below LLV
        ("SIDEWAYS", 100.0, 2.0, 102.0, 90.0),
    ],
)
def test_bad_snapshot_is_rejected(fields: tuple[str, float, float, float, float]) -> None:
    with pytest.raises(ValueError):
        EntrySnapshot(*fields)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(
    entry=st.floats(min_value=10, max_value=1000),
    atr_pct=st.floats(min_value=0.002, max_value=0.1),
    lo_pct=st.floats(min_value=0.0, max_value=0.3),
    hi_pct=st.floats(min_value=0.0, max_value=0.3),
    move=st.floats(min_value=-0.5, max_value=0.5),
    dte=st.integers(min_value=0, max_value=45),
)
def test_short_mirrors_long(
    entry: float, atr_pct: float, lo_pct: float, hi_pct: float, move: float, dte: int
) -> None:
    atr = entry * atr_pct
    hhv, llv = entry * (1 + hi_pct), entry * (1 - lo_pct)
    long = EntrySnapshot("LONG", entry, atr, hhv, llv)
    short = EntrySnapshot("SHORT", entry, atr, 2 * entry - llv, 2 * entry - hhv)
    lv, sv = exit_levels(long, EXITS), exit_levels(short, EXITS)
    assert lv.stop < entry < sv.stop
    for t in (lv.r_target, lv.atr_target, lv.fibo_target):
        assert t is None or t > entry
    for t in (sv.r_target, sv.atr_target, sv.fibo_target):
        assert t is None or t < entry
    p = entry * (1 + move)
    mirrored = 2 * entry - p
    if mirrored <= 0:
        return
    # keep clear of float ties at a level, where the mirror may land a hair either side
    levels = [lv.stop, lv.r_target, lv.atr_target, lv.fibo_target]
    if any(x is not None and abs(p - x) < 1e-9 * entry for x in levels):
        return
    dl = check_exit(lv, p, dte, EXITS)
    ds = check_exit(sv, mirrored, dte, EXITS)
    assert (dl and dl.reason) == (ds and ds.reason)
