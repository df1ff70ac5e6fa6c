"""Saving the watchlist (issue 13): the config's ``[universe] symbols`` edited with its
comments kept, a symbols file edited in its own format (plain list or CSV), the demo saving
nothing, and a read-only file refused with one sentence."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_trader.config import load_settings
from tui_trader.config_edit import (
    WatchlistFile,
    WatchlistSaveError,
    edit_config_text,
    edit_symbols_text,
    save_watchlist,
    watchlist_file,
)
from tui_trader.core.settings import Settings
from tui_trader.datafiles.symbols import parse_symbols


def test_the_toml_array_keeps_its_comments_and_other_keys() -> None:
    text = '# top\n[universe]\nsymbols = ["A", "B",  # two\n  "C"]\nmin_market_cap = 1.0\n'
    out = edit_config_text(text, ["A", "C", "D"])
    assert out.startswith("# top\n[universe]\nsymbols = [")
    assert out.endswith("min_market_cap = 1.0\n")
    assert '"B"' not in out and '"D"' in out
    import tomllib

    assert tomllib.loads(out)["universe"]["symbols"] == ["A", "C", "D"]


def test_a_config_without_a_universe_gets_one_and_a_missing_file_is_created(
    tmp_path: Path,
) -> None:
    out = edit_config_text("# only a comment\n[risk]\nmax_positions = 3\n", ["SPY"])
    assert out.startswith("# only a comment\n[risk]\nmax_positions = 3\n")
    path = tmp_path / "sub" / "config.toml"
    save_watchlist(WatchlistFile(path, "config"), ["SPY", "QQQ"])
    assert load_settings(path, env={}).universe.symbols == ["SPY", "QQQ"]


def test_a_plain_symbols_file_keeps_its_comments() -> None:
    text = "# my list\nAAPL\n\nmsft\n# etfs\nSPY"
    out = edit_symbols_text(text, ["AAPL", "SPY", "QQQ"])
    assert out == "# my list\nAAPL\n\n# etfs\nSPY\nQQQ\n"
    assert parse_symbols("f", out) == ["AAPL", "SPY", "QQQ"]


def test_a_csv_symbols_file_gets_a_row_in_its_symbol_column() -> None:
    text = "Name,Symbol,Sector\r\nApple,AAPL,Tech\r\nMicrosoft,MSFT,Tech\r\n"
    out = edit_symbols_text(text, ["MSFT", "NVDA"])
    assert out == "Name,Symbol,Sector\r\nMicrosoft,MSFT,Tech\r\n,NVDA,\r\n"
    assert parse_symbols("f", out) == ["MSFT", "NVDA"]


def test_where_it_saves(tmp_path: Path) -> None:
    settings = Settings()
    assert watchlist_file(settings, tmp_path / "c.toml", demo=True) is None
    assert watchlist_file(settings, tmp_path / "c.toml", demo=False) == WatchlistFile(
        tmp_path / "c.toml", "config"
    )
    listed = settings.model_copy(
        update={"universe": settings.universe.model_copy(update={"symbols_file": "u.csv"})}
    )
    assert watchlist_file(listed, None, demo=False) == WatchlistFile(Path("u.csv"), "symbols_file")


def test_an_environment_override_is_said_where_the_edit_is_saved(tmp_path: Path) -> None:
    """TUI_TRADER_UNIVERSE__SYMBOLS beats the config file at every start: an edit saved to
    the file would silently not apply, so the destination says so."""
    settings = Settings()
    env = {"TUI_TRADER_UNIVERSE__SYMBOLS": '["SPY","QQQ"]'}
    target = watchlist_file(settings, tmp_path / "c.toml", demo=False, environ=env)
    assert target == WatchlistFile(tmp_path / "c.toml", "config", "TUI_TRADER_UNIVERSE__SYMBOLS")
    assert target is not None and target.override_note() == (
        "TUI_TRADER_UNIVERSE__SYMBOLS is set and replaces [universe] symbols at every start: "
        "unset it for this change to last."
    )
    plain = watchlist_file(settings, tmp_path / "c.toml", demo=False, environ={})
    assert plain is not None and plain.override_note() == ""
    listed = settings.model_copy(
        update={"universe": settings.universe.model_copy(update={"symbols_file": "u.csv"})}
    )  # a symbols file is edited where it is: the variable does not name it
    in_file = watchlist_file(listed, None, demo=False, environ=env)
    assert in_file is not None and in_file.override_note() == ""


def test_a_read_only_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "symbols.txt"
    path.write_text("AAPL\n", encoding="utf-8")
    path.chmod(0o444)
    with pytest.raises(WatchlistSaveError, match=r"^cannot save the watchlist: .* is read-only$"):
        save_watchlist(WatchlistFile(path, "symbols_file"), ["AAPL", "SPY"])
    assert path.read_text(encoding="utf-8") == "AAPL\n"
    assert [p.name for p in tmp_path.iterdir()] == ["symbols.txt"]  # no temp file left
