"""Loading the configuration: TOML file + environment overrides -> validated ``Settings``.

Where it comes from, later wins:
1. the SPEC.md defaults (``tui_trader.core.settings``);
2. the file given with ``--config FILE``, or else ``config.toml`` in the user config dir
   (platformdirs: ``~/.config/tui-trader/config.toml`` on Linux) when it exists;
3. environment variables ``TUI_TRADER_<SECTION>__<KEY>`` (e.g.
   ``TUI_TRADER_RISK__MAX_POSITIONS=3``). Every environment value arrives as text, so it is
   converted for the key it sets: a text key (``host``, ``theme``, ``calendar``, ``mode``)
   takes the text as it is (``TUI_TRADER_CONNECTION__HOST=10`` is the host ``"10"``), any
   other key takes the text read as a TOML value (``3``, ``2.5``, ``false``,
   ``["SPY","QQQ"]``, ``{transmit = "T"}``), and text that is no TOML value stays text and
   is refused by the key's type.

The file is UTF-8 (a byte-order mark is accepted, as the CSV readers accept one) and its
values must have the key's type: validation is strict, so ``port = "7497"``,
``max_positions = true`` and ``max_positions = 2.0`` are refused rather than converted (an
integer is accepted for a float). Any problem -- unreadable or non-UTF-8 file, TOML syntax,
unknown section or key, wrong type, value out of range or infinite, unknown calendar,
contradictory values -- becomes one :class:`ConfigError` whose message names the
source, the key and what is allowed. The CLI prints it and exits with code 2: a trader who
mistyped a risk limit must not get a traceback, and must not get the default either.
"""

from __future__ import annotations

import os
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w
from platformdirs import user_config_dir
from pydantic import BaseModel, ValidationError

from tui_trader.core.settings import Settings

ENV_PREFIX = "TUI_TRADER_"
APP_NAME = "tui-trader"


class ConfigError(Exception):
    """A configuration the app refuses to run with; ``str()`` is the sentence for the user."""


def default_config_path() -> Path:
    """Where the config file lives when ``--config`` is not given."""
    return Path(user_config_dir(APP_NAME)) / "config.toml"


_BOM = b"\xef\xbb\xbf"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    skip = len(_BOM) if raw.startswith(_BOM) else 0
    try:
        text = raw[skip:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {path} is not UTF-8 text (byte {skip + exc.start})"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _is_text(annotation: Any) -> bool:
    """True for ``str`` and ``Literal["a", "b"]`` keys: the environment's text is the value."""
    if annotation is str:
        return True
    if typing.get_origin(annotation) is typing.Literal:
        return all(isinstance(a, str) for a in typing.get_args(annotation))
    if isinstance(annotation, types.UnionType):
        return any(_is_text(a) for a in typing.get_args(annotation))
    return False


def _env_value(section: str, key: str, raw: str) -> Any:
    """The environment's text converted for the key it sets (module doc)."""
    model = Settings.model_fields.get(section)
    section_type = model.annotation if model else None
    if isinstance(section_type, type) and issubclass(section_type, BaseModel):
        field = section_type.model_fields.get(key)
        if field is not None and _is_text(field.annotation):
            return raw
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _env_overrides(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX) :]
        section, sep, key = rest.partition("__")
        if not sep or not section or not key:
            raise ConfigError(
                f"environment variable {name} must look like {ENV_PREFIX}<SECTION>__<KEY>"
            )
        section, key = section.lower(), key.lower()
        out.setdefault(section, {})[key] = _env_value(section, key, raw)
    return out


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _allowed_keys(loc: tuple[int | str, ...]) -> list[str]:
    model: type[BaseModel] = Settings
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return sorted(model.model_fields)


def _describe(error: Any, source: str) -> str:
    loc: tuple[int | str, ...] = tuple(error["loc"])
    kind = error["type"]
    if len(loc) >= 2:
        where = f"[{loc[0]}] {'.'.join(str(p) for p in loc[1:])}"
    elif len(loc) == 1:
        where = f"[{loc[0]}]"
    else:
        where = "the configuration"
    if kind == "extra_forbidden":
        allowed = ", ".join(_allowed_keys(loc))
        noun = "section" if len(loc) == 1 else "key"
        return f"{source}: unknown {noun} {where}; allowed: {allowed}"
    message = str(error["msg"]).removeprefix("Value error, ")
    if "input" in error and kind != "missing" and not isinstance(error["input"], dict):
        return f"{source}: {where}: {message} (got {error['input']!r})"
    return f"{source}: {where}: {message}"


def load_settings(
    path: Path | str | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Build the effective settings; raise :class:`ConfigError` on any problem."""
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    sources: list[str] = []
    if path is not None:
        file = Path(path)
        if file.is_dir():
            raise ConfigError(f"config file {file} is a directory, not a file")
        if not file.exists():
            raise ConfigError(f"config file {file} does not exist")
        data = _read_toml(file)
        sources.append(str(file))
    else:
        default = default_config_path()
        if default.is_file():
            data = _read_toml(default)
            sources.append(str(default))
    overrides = _env_overrides(env)
    if overrides:
        data = _merge(data, overrides)
        sources.append(f"{ENV_PREFIX}* environment")
    source = "config " + (" + ".join(sources) if sources else "defaults")
    try:
        settings = Settings.model_validate(data, strict=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(_describe(first, source)) from None
    return _with_symbols_file(settings, data, source)


def _with_symbols_file(settings: Settings, data: Mapping[str, Any], source: str) -> Settings:
    """``[universe] symbols`` read from ``symbols_file`` when that is set (issue 12): a
    bad file, or both keys given, is a :class:`ConfigError` (one sentence, exit 2)."""
    from tui_trader.datafiles import InputFileError
    from tui_trader.datafiles.symbols import read_symbols_file

    configured = settings.universe.symbols_file.strip()
    if not configured:
        return settings
    given = data.get("universe")
    if isinstance(given, Mapping) and "symbols" in given:
        raise ConfigError(
            f"{source}: [universe] sets both symbols and symbols_file: keep one of them"
        )
    if configured == "-":
        raise ConfigError(f"{source}: [universe] symbols_file must name a file, not '-'")
    try:
        symbols = read_symbols_file(configured)
    except InputFileError as exc:
        raise ConfigError(str(exc).removesuffix(".")) from None
    universe = settings.universe.model_copy(update={"symbols": symbols})
    return settings.model_copy(update={"universe": universe})


def to_toml(settings: Settings) -> str:
    """The effective configuration as a TOML document (what ``config --show`` prints)."""
    return tomli_w.dumps(settings.model_dump(mode="json"))


# --- overrides from the command line (``backtest --set`` / ``--grid``) -------------------


def with_overrides(settings: Settings, overrides: Mapping[str, str], source: str) -> Settings:
    """``settings`` with each ``"section.key"`` set to its text value, converted as an
    environment value is (:func:`_env_value`) and validated as strictly as a file: an
    unknown section or key, a wrong type or a value out of range is a :class:`ConfigError`
    naming ``source`` (e.g. ``--set``), the key and what is allowed."""
    data = settings.model_dump()
    for name, raw in overrides.items():
        section, sep, key = name.partition(".")
        if not sep or not section or not key or "." in key:
            raise ConfigError(
                f"{source}: {name!r} must look like section.key (e.g. risk.max_positions)"
            )
        value = _env_value(section, key, raw)
        data.setdefault(section, {})
        if isinstance(data[section], dict):
            data[section][key] = value
        else:
            data[section] = {key: value}
    try:
        return Settings.model_validate(data, strict=True)
    except ValidationError as exc:
        raise ConfigError(_describe(exc.errors()[0], source)) from None
