"""Writing the watchlist back where the app read it (issue 13: watchlist editing).

``config.load_settings`` reads the configuration; this module writes one thing back: the
universe's symbols, after the user added or removed one on the Scanner. Where it goes
(:func:`watchlist_file`):

- **``[universe] symbols_file`` set**: that file is edited, in its own format (a plain
  list: one symbol a line; a CSV: a row with the symbol in its symbol column, the other
  columns left empty). Every other line -- comments, blank lines, other columns -- stays
  byte for byte.
- **Otherwise the config file the app was started with** (``--config FILE``, else the user
  config dir's ``config.toml``, created when there is none): ``[universe] symbols`` is
  edited with tomlkit, so the user's comments, key order and layout stay; a symbol is
  removed from the array or appended to it, the other elements untouched.
- **The demo saves nothing** (``watchlist_file(..., demo=True)`` is None): its journal lives
  in a temporary directory and its market is simulated, so an edit there is for the
  session only and must not change a real setup. The confirmation says so.

Decisions: a file without any write permission bit (``chmod a-w``) is refused even where
the process could write it (root): read-only is the user's word that it must not change.
A file is replaced atomically (written beside it, then renamed), so a crash never leaves
half a config. Any failure is one :class:`WatchlistSaveError` sentence naming the file.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import Array, Table

from tui_trader.config import ENV_PREFIX, default_config_path
from tui_trader.core.settings import Settings

Kind = Literal["config", "symbols_file"]


class WatchlistSaveError(Exception):
    """The watchlist could not be saved; ``str()`` is the sentence for the user."""


@dataclass(frozen=True, slots=True)
class WatchlistFile:
    """Where the watchlist is saved: the config's ``[universe] symbols`` or a symbols file."""

    path: Path
    kind: Kind
    #: The environment variable that replaces ``[universe] symbols`` at every start ("":
    #: none), so an edit saved to the config would not last (:meth:`override_note`).
    overridden_by: str = ""

    def override_note(self) -> str:
        """The sentence that says a saved edit will not last; "" when it will."""
        if not self.overridden_by:
            return ""
        return (
            f"{self.overridden_by} is set and replaces [universe] symbols at every start: "
            "unset it for this change to last."
        )

    def describe(self) -> str:
        """The destination in words, e.g. ``[universe] symbols in /home/u/config.toml``."""
        if self.kind == "symbols_file":
            return f"the symbols file {self.path}"
        return f"[universe] symbols in {self.path}"


def watchlist_file(
    settings: Settings,
    config_path: Path | str | None,
    *,
    demo: bool,
    environ: Mapping[str, str] | None = None,
) -> WatchlistFile | None:
    """Where watchlist edits are saved (module doc); None: nowhere (the demo).

    ``config_path`` is ``--config`` as given (None: the default config file, as
    ``load_settings`` reads it). ``environ`` (default ``os.environ``) is looked at for
    the variable that would replace the saved ``[universe] symbols`` at the next start."""
    if demo:
        return None
    symbols_file = settings.universe.symbols_file.strip()
    if symbols_file:
        return WatchlistFile(Path(symbols_file).expanduser(), "symbols_file")
    path = Path(config_path) if config_path is not None else default_config_path()
    env = os.environ if environ is None else environ
    override = f"{ENV_PREFIX}UNIVERSE__SYMBOLS"
    return WatchlistFile(path, "config", override if override in env else "")


def save_watchlist(target: WatchlistFile, symbols: list[str]) -> None:
    """Write ``symbols`` (the whole universe, in order) to ``target`` (module doc)."""
    if target.kind == "symbols_file":
        text = _read(target.path, must_exist=True)
        _write(target.path, edit_symbols_text(text, symbols))
    else:
        text = _read(target.path, must_exist=False)
        _write(target.path, edit_config_text(text, symbols, target.path))


# ------------------------------------------------------------------ the TOML config


def edit_config_text(text: str, symbols: list[str], path: Path | str = "config") -> str:
    """``text`` (a TOML document) with ``[universe] symbols`` made ``symbols``: removed
    elements deleted, new ones appended, comments and layout kept."""
    try:
        doc = tomlkit.parse(text)
    except TOMLKitError as exc:
        raise WatchlistSaveError(
            f"cannot save the watchlist: {path} is not valid TOML ({exc})"
        ) from None
    universe = doc.get("universe")
    if universe is None:
        universe = tomlkit.table()
        doc["universe"] = universe
    if not isinstance(universe, Table):
        raise WatchlistSaveError(f"cannot save the watchlist: [universe] in {path} is no table")
    current = universe.get("symbols")
    if not isinstance(current, Array):  # none yet (the defaults): the whole list, a line each
        fresh = tomlkit.array()
        fresh.extend(symbols)
        universe["symbols"] = fresh.multiline(True)
        return tomlkit.dumps(doc)
    keep = set(symbols)
    for i in reversed(range(len(current))):
        if str(current[i]) not in keep:
            del current[i]
    have = {str(v) for v in current}
    for sym in symbols:
        if sym not in have:
            current.append(sym)
    return tomlkit.dumps(doc)


# ------------------------------------------------------------------ a symbols file


def _csv_column(header: str) -> tuple[int, int] | None:
    """The symbol column and the column count of a CSV header line; None: no CSV."""
    if "," not in header:
        return None
    names = [c.strip().lower() for c in next(csv.reader(io.StringIO(header)))]
    for wanted in ("symbol", "ticker"):
        if wanted in names:
            return names.index(wanted), len(names)
    return None


def _line_symbol(line: str, column: int | None) -> str | None:
    t = line.strip()
    if not t or t.startswith("#"):
        return None
    if column is None:
        return t.upper()
    cells = next(csv.reader(io.StringIO(t)), [])
    return cells[column].strip().upper() if column < len(cells) else None


def edit_symbols_text(text: str, symbols: list[str]) -> str:
    """A symbols file's ``text`` with ``symbols`` as its list (module doc): lines of removed
    symbols dropped, new ones appended in the file's format, every other line kept."""
    lines = text.splitlines(keepends=True)
    content = [(i, ln.strip()) for i, ln in enumerate(lines) if ln.strip()]
    content = [(i, t) for i, t in content if not t.startswith("#")]
    found = _csv_column(content[0][1]) if content else None
    column, width = found if found is not None else (None, 1)
    header_at = (
        content[0][0]
        if content and (found or content[0][1].lower() in ("symbol", "ticker"))
        else None
    )
    keep = set(symbols)
    out: list[str] = []
    have: set[str] = set()
    for i, line in enumerate(lines):
        sym = None if i == header_at else _line_symbol(line, column)
        if sym is not None and sym not in keep:
            continue
        if sym is not None:
            have.add(sym)
        out.append(line)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    if out and not out[-1].endswith(("\n", "\r")):
        out[-1] += newline
    for sym in symbols:
        if sym in have:
            continue
        if column is None:
            out.append(sym + newline)
        else:
            cells = [""] * width
            cells[column] = sym
            out.append(",".join(cells) + newline)
    return "".join(out)


# ------------------------------------------------------------------ files


def _read(path: Path, *, must_exist: bool) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if must_exist:
            raise WatchlistSaveError(f"cannot save the watchlist: {path} does not exist") from None
        return ""
    except OSError as exc:
        raise WatchlistSaveError(
            f"cannot save the watchlist: cannot read {path} ({exc.strerror or exc})"
        ) from None
    try:
        return raw.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError:
        raise WatchlistSaveError(f"cannot save the watchlist: {path} is not UTF-8 text") from None


def _write(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically, keeping its permission bits (module doc)."""
    mode: int | None = None
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        pass  # a new file: written with the default bits below
    except OSError as exc:
        raise WatchlistSaveError(
            f"cannot save the watchlist to {path}: {exc.strerror or exc}"
        ) from None
    if mode is not None and not mode & 0o222:
        raise WatchlistSaveError(f"cannot save the watchlist: {path} is read-only")
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.chmod(tmp, mode if mode is not None else 0o644)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise WatchlistSaveError(
            f"cannot save the watchlist to {path}: {exc.strerror or exc}"
        ) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
