"""``tui-trader journal [--day YYYY-MM-DD] [--json] [--journal FILE]``: one New York trading
day's candidates, orders, exits and events (:mod:`tui_trader.journal_report`);
``journal --history``: the closed trades of every day (:mod:`tui_trader.core.history`).

Read-only, so safe beside a running engine. Registered by :mod:`tui_trader.cli`; heavy
imports happen inside the command.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from tui_trader.cli_common import EXIT_OK, UsageError, _parse_date
from tui_trader.core.settings import Settings


def add_journal_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """The ``journal`` subcommand (``sub`` is cli's subparsers object)."""
    journal = sub.add_parser(
        "journal", parents=[common],
        help="what happened on one trading day, read from the journal (never written)",
    )  # fmt: skip
    journal.add_argument(
        "--day",
        type=_parse_date,
        metavar="YYYY-MM-DD",
        help="the New York trading day (default: today in New York)",
    )
    journal.add_argument("--json", action="store_true", help="print one JSON object")
    journal.add_argument(
        "--history",
        action="store_true",
        help="closed trades of every day: entry, exit, P&L, the rule that closed them, "
        "cumulative realised P&L",
    )
    journal.add_argument(
        "--journal",
        type=Path,
        metavar="FILE",
        help="the engine's journal (default: the one tui-trader uses)",
    )


def _journal_history(args: argparse.Namespace) -> int:
    """``journal --history``: every closed trade in the journal (:mod:`tui_trader.core.history`),
    read on the report's read-only connection."""
    from tui_trader.core.calendar import ET
    from tui_trader.core.history import closed_trades, history_json, history_lines
    from tui_trader.journal_report import JournalReportError, open_read_only
    from tui_trader.state.journal import default_journal_path, read_history

    if args.day is not None:
        raise UsageError("--history lists the closed trades of every day: leave out --day")
    path: Path = args.journal if args.journal is not None else default_journal_path()
    try:
        with open_read_only(path) as conn:
            history = closed_trades(*read_history(conn))
    except JournalReportError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        out = {"journal": str(path), **history_json(history)}
        sys.stdout.write(json.dumps(out, allow_nan=False, indent=2) + "\n")
    else:
        sys.stdout.write("\n".join([f"Journal: {path}", *history_lines(history, tz=ET)]) + "\n")
    return EXIT_OK


def cmd_journal(args: argparse.Namespace, settings: Settings) -> int:
    """``journal [--day D] [--json] [--journal FILE]``: :mod:`tui_trader.journal_report`
    (read-only: safe beside a running engine)."""
    from datetime import UTC

    from tui_trader.journal_report import JournalReportError
    from tui_trader.journal_report import cmd_journal as report

    if args.history:
        return _journal_history(args)
    try:
        sys.stdout.write(report(args.journal, args.day, args.json, datetime.now(UTC)))
    except JournalReportError as exc:
        raise UsageError(str(exc)) from None
    return EXIT_OK
