"""The chain screen's plain rules (issue 13): tickers, the strike window, the vertical."""

from __future__ import annotations

import math
from datetime import date

from tui_trader.core.chain_table import (
    check_pick,
    clamp_shift,
    clean_ticker,
    first_expiry_index,
    nearest_index,
    visible_strikes,
)

GRID = [float(k) for k in range(400, 505, 5)]  # 400..500, 21 strikes


def test_tickers_are_cleaned_or_refused() -> None:
    assert clean_ticker(" spy ") == "SPY"
    assert clean_ticker("brk  b") == "BRK B"
    assert clean_ticker("BF.B") == "BF.B"
    for bad in ("", "1SPY", "12$", "SP-Y", "A" * 13):
        assert clean_ticker(bad) is None, bad


def test_the_nearest_strike_takes_the_lower_on_a_tie_and_needs_a_price() -> None:
    assert nearest_index(GRID, 452.4) == 10  # 450
    assert nearest_index(GRID, 452.5) == 10  # a tie: the lower
    assert nearest_index(GRID, 452.6) == 11  # 455
    assert nearest_index(GRID, 10.0) == 0 and nearest_index(GRID, 999.0) == 20
    assert nearest_index(GRID, math.nan) is None and nearest_index([], 450.0) is None


def test_the_window_is_centred_moves_and_stays_inside_the_grid() -> None:
    assert visible_strikes(GRID, 452.0, 10) == [float(k) for k in range(425, 475, 5)]
    assert visible_strikes(GRID, 452.0, 10, 5) == [float(k) for k in range(450, 500, 5)]
    assert visible_strikes(GRID, 401.0, 10) == GRID[:10]  # at the bottom edge
    assert visible_strikes(GRID, 452.0, 10, 99) == GRID[-10:]
    assert visible_strikes(GRID, math.nan, 10) == []
    assert clamp_shift(GRID, 452.0, 10, 99) == 6  # 425 + 6 strikes = 455..500
    assert clamp_shift(GRID, 452.0, 10, -99) == -5
    assert clamp_shift(GRID[:8], 452.0, 10, 3) == 0


def test_the_first_expiry_is_the_first_in_the_dte_window() -> None:
    today = date(2026, 11, 20)
    expiries = [date(2026, 11, 27), date(2026, 12, 18), date(2027, 1, 15)]
    assert first_expiry_index(expiries, today, 30) == 2
    assert first_expiry_index(expiries, today, 7) == 0
    assert first_expiry_index(expiries, today, 90) == 2  # none: the last listed


def test_a_pick_must_be_a_spec_5_debit_vertical() -> None:
    assert check_pick("LONG", 450.0, 455.0) is None
    assert check_pick("SHORT", 455.0, 450.0) is None
    assert check_pick("LONG", 455.0, 450.0) == (
        "A bull call buys the lower strike: long 455 must be below short 450."
    )
    assert check_pick("SHORT", 450.0, 455.0) == (
        "A bear put buys the higher strike: long 450 must be above short 455."
    )
    assert check_pick("LONG", 450.0, 450.0) == "The long and the short strike must differ."
    assert check_pick("SHORT", None, 450.0) == "Pick the long strike of the bear put first."
    assert check_pick("LONG", 450.0, None) == "Pick the short strike of the bull call first."
