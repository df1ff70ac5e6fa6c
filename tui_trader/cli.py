"""The ``tui-trader`` command line: stable contracts that users and later tools script against.

Subcommands (every one accepts ``--config FILE``):
- ``tui-trader [--demo] [--theme NAME]`` -- the dashboard; ``--demo`` runs it against the
  built-in simulated gateway;
- ``demo-scan`` -- one scan of the simulated market and its best spreads, printed;
- ``scan``     -- signals for a CSV of daily bars (table, or ``--json``);
- ``spreads``  -- ranked vertical spreads for a CSV option chain (table, or ``--json``);
- ``config``   -- ``--show`` prints the effective configuration as TOML;
- ``gateway``  -- runs the simulated IB gateway as its own process;
- ``run --headless [--demo] [--metrics-port P] [--seed N]`` -- the engine without the
  dashboard, logging to stdout, until SIGINT/SIGTERM (exit 0); ``--metrics-port`` serves
  Prometheus metrics on 127.0.0.1.

Exit codes: 0 success, 1 the dashboard's engine failed to start for an unexpected reason
(one sentence on stderr naming the log file, which has the traceback), 2 bad input or
configuration (one sentence on stderr, no traceback; an engine that cannot start for a
reason the user can fix, such as a journal that cannot be opened, counts as configuration),
130 interrupted. Imports of heavy modules happen inside the subcommands so ``--help`` and
``config --show`` stay instant.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from tui_trader.config import ConfigError, load_settings, to_toml
from tui_trader.core.settings import Settings

if TYPE_CHECKING:  # a type only: core.bars pulls pandas, which --help and config need not
    from tui_trader.core.bars import DroppedBar

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """Bad input the user can fix; the message is printed as one sentence."""


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date of the form YYYY-MM-DD") from None


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors as one line and exit code 2 (its default code, kept)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"tui-trader: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument(
        "--config",
        metavar="FILE",
        type=Path,
        default=argparse.SUPPRESS,
        help="configuration file (TOML); default: the user config dir's config.toml",
    )

    parser = _Parser(
        prog="tui-trader",
        description="Scan stocks, pick vertical option spreads, trade them on IB.",
        parents=[common],
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="run against the built-in simulated market (no IB account needed)",
    )
    parser.add_argument("--seed", type=int, default=7, help="simulated market seed (demo)")
    parser.add_argument("--theme", help="dark, light, ansi or a user theme (default: [ui] theme)")
    parser.add_argument("--log-file", type=Path, metavar="FILE",
                        help="where the dashboard logs (default: the user log dir)")  # fmt: skip
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    demo_scan = sub.add_parser(
        "demo-scan", parents=[common],
        help="print one scan of the simulated market and its best spreads, then exit",
    )  # fmt: skip
    demo_scan.add_argument("--seed", type=int, default=7, help="simulated market seed")

    scan = sub.add_parser("scan", parents=[common], help="signals from a CSV of daily bars")
    scan.add_argument(
        "--bars",
        type=Path,
        required=True,
        metavar="FILE",
        help="CSV with header date,symbol,open,high,low,close,volume",
    )
    scan.add_argument(
        "--asof",
        type=_parse_date,
        metavar="YYYY-MM-DD",
        help="evaluate on this date (bars after it are ignored)",
    )
    scan.add_argument("--all", action="store_true", help="list every symbol, not only signals")
    scan.add_argument("--json", action="store_true", help="print one JSON object")

    spreads = sub.add_parser("spreads", parents=[common], help="rank vertical spreads of a chain")
    spreads.add_argument(
        "--chain",
        type=Path,
        required=True,
        metavar="FILE",
        help="CSV with header expiry,strike,right,bid,ask,delta,iv",
    )
    spreads.add_argument("--spot", type=_positive_float, required=True, metavar="PRICE")
    spreads.add_argument("--direction", choices=["LONG", "SHORT"], required=True, type=str.upper)
    spreads.add_argument(
        "--asof",
        type=_parse_date,
        metavar="YYYY-MM-DD",
        help="the day DTE counts from (default: today)",
    )
    spreads.add_argument("--json", action="store_true", help="print one JSON object")

    config = sub.add_parser("config", parents=[common], help="show the effective configuration")
    config.add_argument("--show", action="store_true", help="print it as TOML")

    gateway = sub.add_parser("gateway", parents=[common], help="run the simulated IB gateway")
    gateway.add_argument("--host", default="127.0.0.1")
    gateway.add_argument("--port", type=int, default=7497)
    gateway.add_argument("--seed", type=int, default=7)
    gateway.add_argument(
        "--speed",
        type=_positive_float,
        default=1.0,
        help="simulated time runs this many times faster than real time",
    )
    gateway.add_argument(
        "--state",
        type=Path,
        metavar="FILE",
        help="keep the account in this file across gateway restarts",
    )
    gateway.add_argument(
        "--control-port",
        type=int,
        metavar="P",
        help="loopback TCP port for fault-injection commands",
    )

    run = sub.add_parser(
        "run", parents=[common], help="run the trading engine (headless: no dashboard)"
    )
    run.add_argument(
        "--headless",
        action="store_true",
        help="run without the dashboard, logging to stdout (required for now)",
    )
    run.add_argument(
        "--demo",
        action="store_true",
        default=argparse.SUPPRESS,
        help="trade the built-in simulated market (in-process gateway, fixed seed)",
    )
    run.add_argument(
        "--seed",
        type=int,
        default=argparse.SUPPRESS,
        help="simulated market seed (demo; default 7)",
    )
    run.add_argument(
        "--metrics-port",
        type=_port,
        metavar="P",
        help="serve Prometheus metrics on http://127.0.0.1:P/metrics",
    )
    return parser


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (0-65535)")
    return value


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(getattr(args, "config", None))


def _print_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, allow_nan=False) + "\n")


#: Dropped bars listed per symbol before the rest is summarised as a count.
DROPPED_SHOWN = 3


def _report_dropped(dropped: Mapping[str, Sequence[DroppedBar]]) -> None:
    """SPEC 1: invalid bars are dropped per symbol *and reported*; stderr keeps the JSON intact."""
    for symbol, bars in sorted(dropped.items()):
        if not bars:
            continue
        shown = ", ".join(f"{b.date} {b.reason}" for b in bars[:DROPPED_SHOWN])
        more = f" and {len(bars) - DROPPED_SHOWN} more" if len(bars) > DROPPED_SHOWN else ""
        print(f"tui-trader: dropped {len(bars)} bar(s) of {symbol}: {shown}{more}", file=sys.stderr)


def cmd_scan(args: argparse.Namespace, settings: Settings) -> int:
    from tui_trader.core.scanner import format_table, scan
    from tui_trader.datafiles.bars import read_bars_csv

    bars = read_bars_csv(args.bars, asof=args.asof)
    _report_dropped(bars.dropped)
    report = scan(bars, settings.universe, settings.strategy)
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


def cmd_config(args: argparse.Namespace, settings: Settings) -> int:
    if not args.show:
        raise UsageError("config needs --show (the only action so far)")
    sys.stdout.write(to_toml(settings))
    return EXIT_OK


def cmd_gateway(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from tui_trader.sim.gateway import serve

    if not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port} is not a TCP port (1-65535)")
    if args.control_port is not None and not 0 < args.control_port < 65536:
        raise UsageError(f"--control-port {args.control_port} is not a TCP port (1-65535)")
    try:
        asyncio.run(
            serve(
                host=args.host,
                port=args.port,
                seed=args.seed,
                speed=args.speed,
                state=args.state,
                control_port=args.control_port,
            )
        )
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    return EXIT_OK


def cmd_app(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from tui_trader.engine.runtime import EngineStartError
    from tui_trader.tui.keymap import KeymapError
    from tui_trader.tui.launch import EngineFailedError, run_dashboard
    from tui_trader.tui.themes import ThemeError

    try:
        return asyncio.run(
            run_dashboard(settings, demo=args.demo, seed=args.seed, theme=args.theme,
                          log_path=args.log_file)
        )  # fmt: skip
    except (ThemeError, KeymapError, EngineStartError) as exc:
        raise UsageError(str(exc)) from None
    except EngineFailedError as exc:
        print(f"tui-trader: {exc}", file=sys.stderr)
        return EXIT_FAILED


def cmd_demo_scan(args: argparse.Namespace, settings: Settings) -> int:
    from tui_trader.demo import run_demo

    return run_demo(settings, seed=args.seed, out=sys.stdout, now=datetime.now().astimezone())


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    if not args.headless:
        raise UsageError(
            "`run` only runs headless for now (add --headless); the dashboard is started "
            "with `tui-trader` (or `tui-trader --demo` for the simulated market)"
        )
    import asyncio

    from tui_trader.engine.runtime import (
        EngineStartError,
        MetricsPortError,
        configure_logging,
        run_until_stopped,
    )

    configure_logging(sys.stdout)
    try:
        return asyncio.run(
            run_until_stopped(
                settings,
                demo=bool(getattr(args, "demo", False)),
                seed=int(getattr(args, "seed", 7)),
                metrics_port=args.metrics_port,
            )
        )
    except (MetricsPortError, EngineStartError) as exc:
        raise UsageError(str(exc)) from None


COMMANDS = {
    "scan": cmd_scan,
    "spreads": cmd_spreads,
    "config": cmd_config,
    "gateway": cmd_gateway,
    "run": cmd_run,
    "demo-scan": cmd_demo_scan,
    None: cmd_app,
}


def main(argv: Sequence[str] | None = None) -> int:
    from tui_trader.datafiles import InputFileError

    args = build_parser().parse_args(argv)
    try:
        settings = _settings(args)
        return COMMANDS[args.command](args, settings)
    except (ConfigError, InputFileError, UsageError) as exc:
        print(f"tui-trader: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
