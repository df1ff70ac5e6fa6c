"""``tui-trader strategy check NAME --bars FILE``: refuse a user strategy that looks ahead
(issue 15). Registered by :mod:`tui_trader.cli`; heavy imports happen inside the command.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tui_trader.cli_common import EXIT_FAILED, EXIT_OK, UsageError, _Parser, _report_dropped
from tui_trader.core.settings import Settings


def add_strategy_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """The ``strategy`` subcommand and its ``check`` action (``sub``: cli's subparsers)."""
    strategy = sub.add_parser("strategy", parents=[common], help="check a user strategy")
    strategy_sub = strategy.add_subparsers(dest="action", required=True, parser_class=_Parser)
    check = strategy_sub.add_parser(
        "check", parents=[common], help="refuse a strategy that looks ahead (issue 15)"
    )
    check.add_argument("name", metavar="NAME", help="a [strategies.NAME] table")
    check.add_argument("--bars", type=Path, required=True, metavar="FILE",
                       help="CSV of daily bars, as for scan")  # fmt: skip


def cmd_strategy(args: argparse.Namespace, settings: Settings) -> int:
    """``strategy check NAME --bars FILE``: exit 0 when no look-ahead, 1 when there is
    (the first differing day and symbol), 2 for bad input."""
    from tui_trader.datafiles.bars import read_bars_csv
    from tui_trader.engine.user_strategies import StrategyLoadError, check_strategy

    bars = read_bars_csv(args.bars)
    _report_dropped(bars.dropped)
    try:
        passed, text = check_strategy(settings, args.name, bars)
    except StrategyLoadError as exc:
        raise UsageError(str(exc)) from None
    print(text)
    return EXIT_OK if passed else EXIT_FAILED
