"""The README's two strategy examples (issue 15) work as printed: their config loads,
their modules import from the user strategies folder, their parameters validate, they
answer in the contract's shape on real bars and they do not look ahead."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tui_trader.core.bars import Bars
from tui_trader.core.settings import Settings
from tui_trader.core.user_strategies import evaluate, look_ahead, symbol_frame
from tui_trader.engine.user_strategies import bind_all, load_strategies

README = Path(__file__).parents[2] / "README.md"


def _section() -> str:
    text = README.read_text()
    start = text.index("## Your own strategies")
    return text[start : text.index("\n## ", start + 1)]


def _bars(n: int = 400, symbols: int = 3) -> Bars:
    rng = np.random.default_rng(11)
    rows = []
    days = pd.bdate_range("2023-01-02", periods=n)
    for k in range(symbols):
        close = 50.0 * np.exp(np.cumsum(rng.normal(0.0003, 0.018, n)))
        gap = rng.normal(0, 0.02, n)
        open_ = np.r_[close[0], close[:-1] * (1 + gap[1:])]
        high = np.maximum(open_, close) * 1.01
        low = np.minimum(open_, close) * 0.99
        for d, o, h, lo, c in zip(days, open_, high, low, close, strict=True):
            rows.append((d.date(), f"S{k}", o, h, lo, c, 2e6))
    cols = ["date", "symbol", "open", "high", "low", "close", "volume"]
    return Bars.from_frame(pd.DataFrame(rows, columns=cols))


def test_the_readme_examples_run_and_do_not_look_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    section = _section()
    toml = re.search(r"```toml\n(.*?)```", section, re.S)
    modules = re.findall(
        r"```python\n# ~/.config/tui-trader/strategies/(\w+)\.py\n(.*?)```", section, re.S
    )
    assert toml is not None and [m[0] for m in modules] == ["squeeze", "gaps"]
    folder = tmp_path / "strategies"
    folder.mkdir()
    for name, code in modules:  # unique names: other tests may import a "squeeze" too
        (folder / f"readme_{name}.py").write_text(code)
    config = (
        toml.group(1).replace('"squeeze:', '"readme_squeeze:').replace('"gaps:', '"readme_gaps:')
    )
    settings = Settings.model_validate(tomllib.loads(config))
    assert settings.strategies.enabled == ["SQUEEZE"]
    loaded = load_strategies(settings, ["SQUEEZE", "GAP_FILL"], folder)
    assert loaded[0].params_model is not None and loaded[1].params_model is None
    bound = bind_all(loaded, settings)
    assert bound[0].params.kc_scalar == 1.5 and bound[1].params == {"min_gap_pct": 2.0}
    bars = _bars()
    masks = evaluate(bound, bars, range(bars.n_symbols))
    assert masks.faults == ()
    fired = {name: int(masks.long[name].sum() + masks.short[name].sum()) for name in masks.long}
    assert fired["SQUEEZE"] > 0 and fired["GAP_FILL"] > 0
    frame = symbol_frame(bars, 0)
    for b in bound:
        assert look_ahead(b, frame, "S0", ends=range(150, 400, 25)) is None
