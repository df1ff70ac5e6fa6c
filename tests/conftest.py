"""Every test's user cache folder is a temporary one (issue 12's bar cache).

The engine keeps daily bars and qualified contracts in ``platformdirs.user_cache_dir``
(``tui_trader.state.bar_cache``), which honours ``$XDG_CACHE_HOME``: pointing it at a
fresh folder per test keeps the user's real cache out of every test (and child process),
and keeps one test's cached bars from changing what the next test asks the gateway for.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tui_trader.state.bar_cache import default_cache_path


@pytest.fixture(autouse=True)
def _temporary_user_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("xdg-cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder))
    assert default_cache_path().is_relative_to(folder), "the bar cache would be the user's"
    yield folder
