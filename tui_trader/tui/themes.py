"""Dashboard themes: TOML files validated by pydantic, turned into Textual ``Theme`` objects.

Where themes come from, later wins on a name clash:

1. the built-in files shipped with the package. In a wheel they are installed as data files
   under ``<prefix>/share/tui-trader/themes`` (``[tool.setuptools.data-files]``); in a source
   checkout or an editable install they are read from the repository's top-level
   ``themes/`` folder, which is where the design card keeps them;
2. the user theme folder, ``user_config_dir("tui-trader")/themes`` (platformdirs).

A theme's name is its file name without ``.toml`` (``themes/dark.toml`` is ``--theme dark``),
so a user file named like a built-in one replaces it.

The trading colours are theme *variables* (``$pnl-up``, ``$pnl-down``, ``$live``, ...;
:data:`TRADING_VARIABLES` holds their defaults). A theme may omit them and gets the defaults;
a value that is given must parse as a Textual colour, because a typo in a colour would
otherwise surface as a CSS error at start-up with no hint of which file caused it.

Any problem with a file (unreadable, TOML syntax, unknown key, a colour that is not one)
raises :class:`ThemeError` naming the file and the key: a broken theme must be fixed, not
silently replaced by another one.
"""

from __future__ import annotations

import sys
import sysconfig
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

from platformdirs import user_config_dir
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from textual.color import Color, ColorParseError
from textual.theme import Theme

#: The folder name under the user config dir and the data-files prefix.
APP_DIR_NAME = "tui-trader"
#: The theme used when none is asked for.
DEFAULT_THEME = "dark"

#: Trading colours every theme provides (the file's value or this default), used in the
#: stylesheet as ``$name`` and by table cells through :func:`theme_colour`.
#: ``pnl-up``/``pnl-down``: gains/losses and LONG/SHORT; ``live``: the LIVE account badge
#: (shown reversed and bold: it must be impossible to miss); ``paper``: the PAPER badge.
TRADING_VARIABLES: Mapping[str, str] = {
    "pnl-up": "#4EBF71",
    "pnl-down": "#E5534B",
    "live": "#FF2D2D",
    "paper": "#3FA9F5",
    "muted": "#8A8F98",
}


class ThemeError(ValueError):
    """A theme that cannot be used; ``str()`` is one sentence for the user."""


def _check_colour(value: str) -> str:
    try:
        Color.parse(value)
    except ColorParseError:
        raise ValueError(f"{value!r} is not a colour (use #rrggbb, a name or ansi_*)") from None
    return value


class ThemeFile(BaseModel):
    """The keys a theme file may hold; Textual's ``Theme`` fields plus ``variables``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    dark: bool = True
    ansi: bool = False
    primary: str
    secondary: str | None = None
    warning: str | None = None
    error: str | None = None
    success: str | None = None
    accent: str | None = None
    foreground: str | None = None
    background: str | None = None
    surface: str | None = None
    panel: str | None = None
    boost: str | None = None
    luminosity_spread: float = Field(0.15, ge=0, le=1)
    text_alpha: float = Field(0.95, ge=0, le=1)
    variables: dict[str, str] = Field(default_factory=dict)

    @field_validator(
        "primary", "secondary", "warning", "error", "success", "accent", "foreground",
        "background", "surface", "panel", "boost",
    )  # fmt: skip
    @classmethod
    def _colour(cls, value: str | None) -> str | None:
        return None if value is None else _check_colour(value)

    @field_validator("variables")
    @classmethod
    def _trading_colours(cls, value: dict[str, str]) -> dict[str, str]:
        for name in TRADING_VARIABLES:
            if name in value:
                try:
                    _check_colour(value[name])
                except ValueError as exc:
                    raise ValueError(f"variable {name}: {exc}") from None
        return value

    def to_theme(self, name: str) -> Theme:
        """The Textual theme, with every trading variable present."""
        return Theme(
            name=name,
            primary=self.primary,
            secondary=self.secondary,
            warning=self.warning,
            error=self.error,
            success=self.success,
            accent=self.accent,
            foreground=self.foreground,
            background=self.background,
            surface=self.surface,
            panel=self.panel,
            boost=self.boost,
            dark=self.dark,
            ansi=self.ansi,
            luminosity_spread=self.luminosity_spread,
            text_alpha=self.text_alpha,
            variables={**TRADING_VARIABLES, **self.variables},
        )


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "file"
    message = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        message = "unknown key"
    elif err["type"] == "missing":
        message = "required key is missing"
    return f"{where}: {message}"


def load_theme_file(path: Path) -> Theme:
    """One theme file as a Textual theme named after the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ThemeError(f"cannot read theme file {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ThemeError(f"theme file {path} is not valid TOML: {exc}") from None
    try:
        parsed = ThemeFile.model_validate(data)
    except ValidationError as exc:
        raise ThemeError(f"theme file {path}: {_first_error(exc)}") from None
    return parsed.to_theme(path.stem.lower())


def load_themes(folders: Iterable[Path]) -> dict[str, Theme]:
    """Every ``*.toml`` theme of the folders (missing folders are skipped); later folders
    override earlier ones by name, files of one folder are read in name order."""
    themes: dict[str, Theme] = {}
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            theme = load_theme_file(path)
            themes[theme.name] = theme
    return themes


def builtin_theme_dirs() -> list[Path]:
    """Where the shipped themes may be, in override order (existing or not).

    Installed data files first (the prefix of this interpreter, then the user scheme), the
    source checkout last: in a development tree the repository's files are the ones being
    edited, so they must win over a stale installed copy.
    """
    dirs: list[Path] = []
    for scheme in (sysconfig.get_default_scheme(), sysconfig.get_preferred_scheme("user")):
        try:
            data = sysconfig.get_path("data", scheme)
        except KeyError:  # a scheme this platform does not define
            continue
        dirs.append(Path(data) / "share" / APP_DIR_NAME / "themes")
    dirs.append(Path(sys.prefix) / "share" / APP_DIR_NAME / "themes")
    dirs.append(Path(__file__).resolve().parents[2] / "themes")
    unique: list[Path] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def user_theme_dir() -> Path:
    """The user's own theme folder (``~/.config/tui-trader/themes`` on Linux)."""
    return Path(user_config_dir(APP_DIR_NAME)) / "themes"


def available_themes(user_dir: Path | None = None) -> dict[str, Theme]:
    """Built-in themes, then the user's (``user_dir`` or :func:`user_theme_dir`)."""
    themes = load_themes([*builtin_theme_dirs(), user_dir or user_theme_dir()])
    if DEFAULT_THEME not in themes:
        raise ThemeError(
            f"the built-in theme {DEFAULT_THEME!r} was not found in "
            f"{', '.join(str(d) for d in builtin_theme_dirs())}; the installation is incomplete"
        )
    return themes


def theme_colour(variables: Mapping[str, str], name: str) -> Color:
    """A trading colour of the current theme (e.g. ``pnl-up``) as a Textual colour; the
    default when the theme's variables lack it (the fallback never fails)."""
    value = variables.get(name) or TRADING_VARIABLES[name]
    try:
        return Color.parse(value)
    except ColorParseError:
        return Color.parse(TRADING_VARIABLES[name])
