"""The environment for a child ``tui-trader`` process in tests and benchmarks."""

from __future__ import annotations

import os
from pathlib import Path

#: Variables a child must not inherit: our own config overrides, and a terminal size that
#: would override the (tmux) pane's.
_DROPPED = ("COLUMNS", "LINES")


def isolated_env(home: Path, **extra: str) -> dict[str, str]:
    """This process's environment without any user configuration: HOME and the XDG
    folders under ``home`` (no config file, user theme, journal or log of the user's), no
    ``TUI_TRADER_*`` overrides, a 256-colour TERM; ``extra`` on top."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("TUI_TRADER_") and k not in _DROPPED
    }
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_STATE_HOME=str(home / "state"),
        XDG_CACHE_HOME=str(home / "cache"),
        TERM="xterm-256color",
    )
    env.update(extra)
    return env
