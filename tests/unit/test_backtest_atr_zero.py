"""SPEC 12: "A base strategy does not fire when ATR14 = 0", whatever the close does.

Bars keep a close outside the day's high/low (SPEC 1 asks for no such check), so after a
dead-flat stretch (ATR14 = 0) a close above HHV20 made (HHV20 - close) / ATR14 = -inf,
which passed HIGH_BASE's "<= 2.0" (and a close below LLV20 passed LOW_BASE's).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tui_trader.core.bars import Bars
from tui_trader.core.indicators import compute_indicators
from tui_trader.core.settings import StrategySettings
from tui_trader.core.strategies import strategy_masks


@pytest.mark.parametrize(("last_close", "mask"), [(51.0, "high_base"), (49.0, "low_base")])
def test_no_base_signal_on_a_zero_atr(last_close: float, mask: str) -> None:
    n = 40
    close = np.full(n, 50.0)
    close[-1] = last_close  # outside the flat bar's high/low: kept as given
    frame = pd.DataFrame(
        {
            "date": pd.date_range("2024-01-01", periods=n, freq="D"),
            "symbol": "X",
            "open": 50.0,
            "high": 50.0,
            "low": 50.0,
            "close": close,
            "volume": 2e6,
        }
    )
    ind = compute_indicators(Bars.from_frame(frame))
    assert ind.atr14[0, -1] == 0.0
    assert ind.rsi14[0, -1] in (0.0, 100.0)  # the RSI side of the rule holds
    assert not getattr(strategy_masks(ind, StrategySettings()), mask)[0, -1]
