"""Options of the soak test (run on its own: ``make soak``, or
``python -m pytest tests/soak -o addopts="" -s --minutes N``).

``--minutes`` bounds the fault-playing phase (default 10; the engine's boot and the end
phase add about a minute); ``--soak-seed`` picks the fault script and the actor's choices;
``--soak-dir`` is where the logs, samples, journal and gateway state go (default: a new
``/tmp/tui-trader-soak-*``, kept for a post-mortem and printed). The test's timeout
follows ``--minutes``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

#: Added to the soak's own minutes for the test's timeout: boot, end phase, slack.
TIMEOUT_SLACK_S = 600


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("soak", "soak test (tests/soak)")
    group.addoption("--minutes", type=float, default=10.0, help="soak duration (default 10)")
    group.addoption("--soak-seed", type=int, default=14, help="fault script seed (default 14)")
    group.addoption("--soak-dir", type=Path, default=None, help="keep the soak's files here")


def pytest_configure(config: pytest.Config) -> None:
    minutes = config.getoption("--minutes")
    if not 0 < minutes <= 24 * 60:
        raise pytest.UsageError(f"--minutes must be above 0 and at most 1440, got {minutes:g}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    timeout = config.getoption("--minutes") * 60 + TIMEOUT_SLACK_S
    for item in items:
        item.add_marker(pytest.mark.timeout(timeout))
