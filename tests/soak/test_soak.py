"""The soak and fault test (issue 14): the engine with a trading actor against the
standalone gateway at ``--speed 10`` while a seeded fault script plays drops, restarts,
refused connects, IB notices, rejections, frozen quotes, delays and kill -9 of the engine.

The figures are printed first (a table), then every check that failed is asserted in one
message. tests/soak/driver.py runs it, tests/soak/report.py computes and checks the figures
(the module docs say what each one means).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from tests.soak.driver import Driver, SoakOptions
from tests.soak.report import evaluate


def say(text: str) -> None:
    print(text, flush=True)


async def test_soak(request: pytest.FixtureRequest) -> None:
    config = request.config
    # kept after the run for a post-mortem (pytest's tmp_path rotates within minutes here)
    workdir = config.getoption("--soak-dir") or Path(tempfile.mkdtemp(prefix="tui-trader-soak-"))
    options = SoakOptions(
        workdir=workdir,
        minutes=config.getoption("--minutes"),
        seed=config.getoption("--soak-seed"),
    )
    say(f"\nsoak: {options.minutes:g} min, seed {options.seed}, files in {workdir}")
    collected = await Driver(options, log=say).run()
    report = evaluate(collected)
    say(f"\nsoak figures ({options.minutes:g} min, seed {options.seed}, {workdir}):")
    say(report.table())
    assert not report.failures, "soak failures:\n" + "\n".join(report.failures)
