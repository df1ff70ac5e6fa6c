"""Config loading: defaults, file, environment, and one clear error per bad value."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tui_trader.config import ConfigError, load_settings, to_toml
from tui_trader.core.settings import Settings


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "cfg.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_defaults_are_the_spec_defaults() -> None:
    s = load_settings(None, env={})
    assert s.universe.min_price == 20
    assert s.universe.min_volume == 1_000_000
    assert s.universe.min_market_cap == 10e9
    assert s.strategy.high_base_max_atr_ratio == 2.0
    assert s.strategy.low_base_min_atr_ratio == 0.5
    assert s.strategy.bull_pullback_rsi_threshold == 45
    assert s.strategy.bear_rally_rsi_threshold == 55
    assert (s.selection.min_dte, s.selection.max_dte) == (30, 45)
    assert (s.selection.min_delta, s.selection.max_delta) == (0.30, 0.50)
    assert s.selection.max_strikes_apart == 4
    assert s.selection.max_spread_cost == 500
    assert s.selection.min_reward_risk == 1.5
    assert s.pricing.risk_free_rate == 0.04
    assert s.execution.mode == "paper"
    assert s.execution.price_improvement_factor == 0.4
    assert s.execution.walk_interval_s == 20
    assert s.risk.max_positions == 5
    assert s.risk.max_daily_trades == 3
    assert s.risk.risk_per_trade == 0.02
    assert s.risk.max_contracts_per_trade == 10
    assert s.risk.max_daily_loss == 1000
    assert s.exits.stop_loss_atr_mult == 2.0
    assert s.exits.fibo_target_level == 1.618
    assert s.exits.min_days_to_exit == 14
    assert s.connection.max_lines == 90
    assert s.scanner.interval_s == 30


def test_file_values_override_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "[risk]\nmax_positions = 2\n[selection]\nmin_dte = 20\n")
    s = load_settings(path, env={})
    assert s.risk.max_positions == 2
    assert s.selection.min_dte == 20
    assert s.selection.max_dte == 45  # untouched keys keep their defaults


def test_environment_overrides_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[risk]\nmax_positions = 2\n")
    env = {
        "TUI_TRADER_RISK__MAX_POSITIONS": "4",
        "TUI_TRADER_UNIVERSE__SYMBOLS": '["SPY", "QQQ"]',
        "TUI_TRADER_CONNECTION__HOST": "gateway.local",
        "TUI_TRADER_EXECUTION__MODE": "live",
        "UNRELATED": "x",
    }
    s = load_settings(path, env=env)
    assert s.risk.max_positions == 4
    assert s.universe.symbols == ["SPY", "QQQ"]
    assert s.connection.host == "gateway.local"
    assert s.execution.mode == "live"


def test_default_file_in_user_config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "[scanner]\ninterval_s = 5\n")
    monkeypatch.setattr("tui_trader.config.default_config_path", lambda: path)
    assert load_settings(None, env={}).scanner.interval_s == 5


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "[selection]\nmin_delta = 0.6\n",
            "[selection]: min_delta (0.6) must not exceed max_delta",
        ),
        ("[selection]\nmindelta = 0.3\n", "unknown key [selection] mindelta; allowed: max_delta"),
        ("[risks]\nmax_positions = 1\n", "unknown section [risks]; allowed: connection"),
        (
            "[execution]\nprice_improvement_factor = 1.5\n",
            "[execution] price_improvement_factor: Input should be less than or equal to 1"
            " (got 1.5)",
        ),
        (
            "[execution]\nprice_improvement_factor = -0.1\n",
            "[execution] price_improvement_factor: Input should be greater than or equal to 0",
        ),
        (
            "[risk]\nmax_positions = 'five'\n",
            "[risk] max_positions: Input should be a valid integer",
        ),
        ("[execution]\nmode = 'yolo'\n", "[execution] mode: Input should be 'paper' or 'live'"),
        ("[risk\n", "is not valid TOML"),
    ],
)
def test_bad_values_name_the_key_and_what_is_allowed(
    tmp_path: Path, body: str, expected: str
) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    message = str(info.value)
    assert expected in message
    assert "\n" not in message
    assert str(path) in message


def test_bad_environment_value_names_the_variable_source() -> None:
    with pytest.raises(ConfigError, match=r"environment: \[risk\] max_positions"):
        load_settings(None, env={"TUI_TRADER_RISK__MAX_POSITIONS": "-1"})
    with pytest.raises(ConfigError, match="must look like TUI_TRADER_<SECTION>__<KEY>"):
        load_settings(None, env={"TUI_TRADER_RISK": "1"})


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", env={})


def test_show_round_trips_through_toml(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, "[risk]\nmax_daily_loss = 750.5\n"), env={})
    text = to_toml(s)
    again = Settings.model_validate(tomllib.loads(text))
    assert again == s
    assert "[risk]" in text and "max_daily_loss = 750.5" in text
