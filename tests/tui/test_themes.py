"""Theme files: the shipped ones load and validate, user themes override, bad files fail
with the file and key named, and the app uses the chosen theme's trading colours."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tui.conftest import AppFactory
from tui_trader.tui.themes import (
    TRADING_VARIABLES,
    ThemeError,
    available_themes,
    builtin_theme_dirs,
    load_theme_file,
    load_themes,
)

REPO_THEMES = Path(__file__).resolve().parents[2] / "themes"


def test_the_shipped_themes_are_found_and_valid(no_user_themes: Path) -> None:
    assert REPO_THEMES in builtin_theme_dirs()
    themes = available_themes(no_user_themes)
    assert {"dark", "light", "ansi"} <= set(themes)
    assert themes["dark"].dark and not themes["light"].dark
    assert themes["ansi"].ansi and not themes["dark"].ansi
    for theme in themes.values():
        assert set(TRADING_VARIABLES) <= set(theme.variables)
    assert themes["ansi"].variables["pnl-up"] == "ansi_green"
    assert themes["ansi"].variables["live"] == "ansi_bright_red"


def test_a_user_theme_overrides_a_builtin_and_adds_its_own(tmp_path: Path) -> None:
    (tmp_path / "dark.toml").write_text('primary = "#112233"\n', encoding="utf-8")
    (tmp_path / "Solar.toml").write_text(
        'primary = "#b58900"\ndark = false\n[variables]\npnl-up = "#859900"\n',
        encoding="utf-8",
    )
    themes = available_themes(tmp_path)
    assert themes["dark"].primary == "#112233"
    assert themes["dark"].variables["pnl-down"] == TRADING_VARIABLES["pnl-down"]
    assert themes["solar"].variables["pnl-up"] == "#859900" and not themes["solar"].dark


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('primary = "#12345"\n', "primary: '#12345' is not a colour"),
        ('primary = "#123456"\nsecundary = "#000000"\n', "secundary: unknown key"),
        ('dark = true\n', "primary: required key is missing"),
        ('primary = "#123456"\n[variables]\nlive = "reddish"\n',
         "variables: variable live: 'reddish' is not a colour"),
        ('primary = "#123456\n', "is not valid TOML"),
    ],
)  # fmt: skip
def test_bad_theme_files_name_the_file_and_the_key(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ThemeError) as err:
        load_theme_file(path)
    assert str(path) in str(err.value) and problem in str(err.value)
    with pytest.raises(ThemeError):
        load_themes([tmp_path])


def test_missing_folders_are_skipped(tmp_path: Path) -> None:
    assert load_themes([tmp_path / "nope"]) == {}


def test_an_unknown_theme_is_one_clear_error(make_app: AppFactory) -> None:
    with pytest.raises(ThemeError, match="unknown theme 'neon'; available: ansi, dark, light"):
        make_app(theme="neon")


@pytest.mark.parametrize("name", ["dark", "light", "ansi"])
async def test_the_app_runs_with_each_theme(make_app: AppFactory, name: str) -> None:
    app = make_app(theme=name)
    async with app.run_test(size=(80, 24)):
        assert app.theme == name
        assert app.theme_variables["pnl-up"] == app.get_theme(name).variables["pnl-up"]  # type: ignore[union-attr]
