"""``tui-trader doctor [--json] [--journal FILE]`` (issue 11): a preflight of the IB
connection and account, a tick or a cross per check (:mod:`tui_trader.engine.doctor`).
Registered by :mod:`tui_trader.cli`; the engine is imported only when it runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tui_trader.cli_common import EXIT_FAILED, EXIT_OK, _print_json
from tui_trader.core.settings import Settings


def add_doctor_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """The ``doctor`` subcommand (``sub`` is cli's subparsers object)."""
    doctor = sub.add_parser(  # issue 11: a preflight of the account
        "doctor", parents=[common], help="check the IB connection and account before trading"
    )
    doctor.add_argument("--json", action="store_true", help="print the checks as a JSON list")
    doctor.add_argument(
        "--journal",
        type=Path,
        metavar="FILE",
        help="the engine's journal (default: the one tui-trader uses)",
    )


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    """``doctor [--json] [--journal FILE]``: one line per check (see
    :mod:`tui_trader.engine.doctor`); exit 0 only when every check passes, else 1."""
    import asyncio

    from tui_trader.engine.doctor import run_doctor
    from tui_trader.state.journal import default_journal_path

    path: Path = args.journal if args.journal is not None else default_journal_path()
    checks = asyncio.run(run_doctor(settings, path))
    if args.json:
        _print_json([c.as_json() for c in checks])
    else:
        for check in checks:
            print(check.line())
    return EXIT_OK if all(c.ok for c in checks) else EXIT_FAILED
