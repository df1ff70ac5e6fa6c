"""Config loading: defaults, file, environment, and one clear error per bad value."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tui_trader.cli import main
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
        ("[risks]\nmax_positions = 1\n", "unknown section [risks]; allowed: "),
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


# --- encodings, directories (issue 14 defects 4 and 11) ------------------------------------


def test_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf[risk]\nmax_positions = 2\n")
    assert load_settings(path, env={}).risk.max_positions == 2


@pytest.mark.parametrize(
    ("raw", "offset"),
    [
        ("[risk]\nmax_positions = 2\n".encode("utf-16"), 0),  # UTF-16 starts with FF FE
        (b"[risk]\nmax_positions = 2\n# caf\xe9\n", 30),  # Latin-1 e-acute
        (bytes(range(256)), 128),  # binary
    ],
)
def test_file_that_is_not_utf8_is_one_sentence_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], raw: bytes, offset: int
) -> None:
    path = tmp_path / "enc.toml"
    path.write_bytes(raw)
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert str(info.value) == f"config file {path} is not UTF-8 text (byte {offset})"
    assert main(["config", "--show", "--config", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"tui-trader: config file {path} is not UTF-8 text (byte {offset})\n"


def test_directory_given_as_config_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path, env={})
    assert str(info.value) == f"config file {tmp_path} is a directory, not a file"


# --- strict types and names (issue 14 defect 7) --------------------------------------------


@pytest.mark.parametrize(
    ("body", "key", "expected"),
    [
        ("[connection]\nport = '7497'\n", "[connection] port", "valid integer (got '7497')"),
        ("[risk]\nmax_positions = true\n", "[risk] max_positions", "valid integer (got True)"),
        ("[risk]\nmax_positions = 2.0\n", "[risk] max_positions", "valid integer (got 2.0)"),
        ("[selection]\nmin_dte = 30.0\n", "[selection] min_dte", "valid integer (got 30.0)"),
        ("[risk]\nstale_quote_s = inf\n", "[risk] stale_quote_s", "finite number (got inf)"),
        ("[execution]\nwalk_interval_s = inf\n", "[execution] walk_interval_s", "finite number"),
        ("[risk]\nmax_order_value = inf\n", "[risk] max_order_value", "finite number"),
        ("[risk]\nmax_daily_loss = nan\n", "[risk] max_daily_loss", "finite number (got nan)"),
        ("[pricing]\nrisk_free_rate = -inf\n", "[pricing] risk_free_rate", "finite number"),
        ("[universe]\nmin_price = '20'\n", "[universe] min_price", "valid number (got '20')"),
        ("[timing]\nallow_late_day_entry = 1\n", "[timing] allow_late_day_entry", "boolean"),
        ("[timing]\ncalendar = 'NOPE'\n", "[timing] calendar",
         "unknown exchange calendar 'NOPE' (exchange_calendars); e.g. XNYS"),
        ("[timing]\ncalendar = ''\n", "[timing] calendar", "unknown exchange calendar ''"),
        ("[timing]\ncalendar = 'xnys'\n", "[timing] calendar", "did you mean XNYS"),
        ("[connection]\nhost = ''\n", "[connection] host", "must not be empty"),
        ("[connection]\nhost = '  '\n", "[connection] host", "must not be empty"),
        ("[connection]\nhost = 'my host'\n", "[connection] host", "must not contain spaces"),
        ("[ui]\ntheme = 7\n", "[ui] theme", "valid string (got 7)"),
        ("[universe]\nsymbols = ['', 'a b', 'SPY', 'SPY']\n", "[universe] symbols",
         "symbol '' is empty"),
        ("[universe]\nsymbols = ['a b', 'SPY']\n", "[universe] symbols",
         "symbol 'a b' has a character other than"),
        ("[universe]\nsymbols = ['SPY', 'QQQ', 'SPY']\n", "[universe] symbols",
         "symbol SPY is listed twice"),
        ("[universe]\nsymbols = ['spy', 'SPY']\n", "[universe] symbols",
         "symbol SPY is listed twice"),
        ("[universe]\nsymbols = []\n", "[universe] symbols", "at least 1 item"),
        ("[universe]\nsymbols = 'SPY'\n", "[universe] symbols", "valid list"),
        ("[universe]\nsymbols = ['SPY', 5]\n", "[universe] symbols", "valid string"),
    ],
)  # fmt: skip
def test_wrong_values_exit_2_with_one_sentence_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, key: str, expected: str
) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    message = str(info.value)
    assert message.startswith(f"config {path}: {key}")
    assert expected in message and "\n" not in message
    assert main(["config", "--show", "--config", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"tui-trader: {message}\n"


def test_symbols_are_uppercased_and_known_calendars_accepted(tmp_path: Path) -> None:
    body = "[universe]\nsymbols = ['spy', 'brk.b', 'BF/B', 'rds-a']\n[timing]\ncalendar = 'XLON'\n"
    s = load_settings(write(tmp_path, body), env={})
    assert s.universe.symbols == ["SPY", "BRK.B", "BF/B", "RDS-A"]
    assert s.timing.calendar == "XLON"


def test_environment_strings_are_converted_for_the_field_they_set() -> None:
    env = {
        "TUI_TRADER_RISK__MAX_POSITIONS": "3",
        "TUI_TRADER_RISK__STALE_QUOTE_S": "2.5",
        "TUI_TRADER_UNIVERSE__MIN_PRICE": "15",
        "TUI_TRADER_TIMING__ALLOW_LATE_DAY_ENTRY": "false",
        "TUI_TRADER_CONNECTION__HOST": "10",  # a string field takes the text as it is
        "TUI_TRADER_UI__THEME": "true",
        "TUI_TRADER_UNIVERSE__SYMBOLS": '["spy", "QQQ"]',
        "TUI_TRADER_UI__KEYS": '{transmit = "T"}',
    }
    s = load_settings(None, env=env)
    assert s.risk.max_positions == 3
    assert s.risk.stale_quote_s == 2.5
    assert s.universe.min_price == 15.0
    assert s.timing.allow_late_day_entry is False
    assert s.connection.host == "10"
    assert s.ui.theme == "true"
    assert s.universe.symbols == ["SPY", "QQQ"]
    assert s.ui.keys == {"transmit": "T"}


MAXPOS, NOT_INT = "[risk] max_positions", "Input should be a valid integer"


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("TUI_TRADER_RISK__MAX_POSITIONS", "true", f"{MAXPOS}: {NOT_INT} (got True)"),
        ("TUI_TRADER_RISK__MAX_POSITIONS", "2.0", f"{MAXPOS}: {NOT_INT} (got 2.0)"),
        ("TUI_TRADER_RISK__MAX_POSITIONS", "three", f"{MAXPOS}: {NOT_INT} (got 'three')"),
        ("TUI_TRADER_RISK__STALE_QUOTE_S", "inf", "[risk] stale_quote_s: Input should be a finite"),
        ("TUI_TRADER_CONNECTION__PORT", "", "[connection] port: Input should be a valid integer"),
        ("TUI_TRADER_CONNECTION__HOST", "", "[connection] host: must not be empty"),
        ("TUI_TRADER_TIMING__CALENDAR", "NOPE", "[timing] calendar: unknown exchange calendar"),
    ],
)  # fmt: skip
def test_bad_environment_values_are_refused(name: str, raw: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, env={name: raw})
    assert f"environment: {expected}" in str(info.value)
