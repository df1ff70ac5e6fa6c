"""``tui-trader demo-scan``, ``scan`` and ``spreads``: the one-shot scans that print a table
(or ``--json``) and exit.

- ``demo-scan`` -- one scan of the simulated market and its best spreads;
- ``scan``     -- signals for a CSV of daily bars (``--bars -``: stdin);
- ``spreads``  -- ranked vertical spreads for a CSV option chain (``--chain -``: stdin).

Registered by :mod:`tui_trader.cli`; heavy imports happen inside the commands.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

from tui_trader.cli_common import (
    EXIT_OK,
    _parse_date,
    _positive_float,
    _print_json,
    _report_dropped,
)
from tui_trader.core.settings import Settings


def add_demo_scan_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """The ``demo-scan`` subcommand (``sub`` is cli's subparsers object)."""
    demo_scan = sub.add_parser(
        "demo-scan", parents=[common],
        help="print one scan of the simulated market and its best spreads, then exit",
    )  # fmt: skip
    demo_scan.add_argument("--seed", type=int, default=7, help="simulated market seed")


def add_scan_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """The ``scan`` subcommand."""
    scan = sub.add_parser("scan", parents=[common], help="signals from a CSV of daily bars")
    scan.add_argument(
        "--bars",
        type=Path,
        required=True,
        metavar="FILE",
        help="CSV with header date,symbol,open,high,low,close,volume ('-': standard input)",
    )
    scan.add_argument(
        "--asof",
        type=_parse_date,
        metavar="YYYY-MM-DD",
        help="evaluate on this date (bars after it are ignored)",
    )
    scan.add_argument("--all", action="store_true", help="list every symbol, not only signals")
    scan.add_argument("--json", action="store_true", help="print one JSON object")


def add_spreads_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """The ``spreads`` subcommand."""
    spreads = sub.add_parser("spreads", parents=[common], help="rank vertical spreads of a chain")
    spreads.add_argument(
        "--chain",
        type=Path,
        required=True,
        metavar="FILE",
        help="CSV with header expiry,strike,right,bid,ask,delta,iv ('-': standard input)",
    )
    spreads.add_argument(
        "--spot", type=_positive_float, required=True, metavar="PRICE",
        help="the underlying's price (breakevens, POP)",
    )  # fmt: skip
    spreads.add_argument(
        "--direction", choices=["LONG", "SHORT"], required=True, type=str.upper,
        help="LONG: call debit spreads; SHORT: put debit spreads",
    )  # fmt: skip
    spreads.add_argument(
        "--asof",
        type=_parse_date,
        metavar="YYYY-MM-DD",
        help="the day DTE counts from (default: today)",
    )
    spreads.add_argument("--json", action="store_true", help="print one JSON object")


def cmd_demo_scan(args: argparse.Namespace, settings: Settings) -> int:
    from tui_trader.demo import run_demo

    return run_demo(settings, seed=args.seed, out=sys.stdout, now=datetime.now().astimezone())


def cmd_scan(args: argparse.Namespace, settings: Settings) -> int:
    from tui_trader.core.scanner import format_table, scan
    from tui_trader.datafiles.bars import read_bars_csv

    bars = read_bars_csv(args.bars, asof=args.asof)
    _report_dropped(bars.dropped)
    from tui_trader.datafiles.market_caps import universe_market_caps

    caps = universe_market_caps(settings.universe)
    report = scan(bars, settings.universe, settings.strategy, caps)
    results = report.results if args.all else [r for r in report.results if r.signals]
    if args.json:
        payload = report.to_dict()
        payload["results"] = [r.to_dict() for r in results]
        _print_json(payload)
    else:
        print(
            f"as of {report.asof}: {report.symbols} symbols scanned in {report.elapsed_ms:.1f} ms, "
            f"{sum(1 for r in report.results if r.signals)} with a signal"
        )
        if results:
            print(format_table(results))
    return EXIT_OK


def cmd_spreads(args: argparse.Namespace, settings: Settings) -> int:
    from tui_trader.core.spreads import format_table, select_spreads
    from tui_trader.datafiles.chain import read_chain_csv

    chain = read_chain_csv(args.chain)
    asof = args.asof or date.today()
    selection = select_spreads(
        chain, args.spot, args.direction, asof, settings.selection, settings.pricing
    )
    if args.json:
        _print_json(selection.to_dict())
    else:
        print(format_table(selection))
    return EXIT_OK
