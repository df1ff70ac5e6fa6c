"""The ``tui-trader`` command line: stable contracts that users and later tools script against.

Subcommands (every one accepts ``--config FILE``), each in its own module beside this one:
- ``tui-trader [--demo] [--theme NAME]`` -- the dashboard; ``--demo`` runs it against the
  built-in simulated gateway (``--speed X``, ``--start "YYYY-MM-DD HH:MM"``: its clock);
- ``demo-scan`` -- one scan of the simulated market and its best spreads, printed;
- ``scan``     -- signals for a CSV of daily bars (table, or ``--json``; ``--bars -``: stdin);
- ``spreads``  -- ranked vertical spreads for a CSV option chain (``--chain -``: stdin)
  (these three: :mod:`tui_trader.scan_cli`);
- ``strategy check NAME --bars FILE`` -- refuse a user strategy that looks ahead
  (:mod:`tui_trader.strategy_cli`);
- ``config``   -- ``--show`` prints the effective configuration as TOML (alone: its help);
- ``gateway``  -- runs the simulated IB gateway as its own process, until SIGTERM (exit 0);
  ``--speed X`` / ``--start "YYYY-MM-DD HH:MM"`` replay market days (closed hours skipped)
  (:mod:`tui_trader.gateway_cli`);
- ``run --headless [--demo] [--auto [--dry-run]] [--metrics-port P] [--seed N]`` -- the
  engine without the dashboard, logging to stdout, until SIGINT/SIGTERM (exit 0);
  ``--auto`` arms the auto-trader; ``--metrics-port`` serves Prometheus metrics on
  127.0.0.1 (:mod:`tui_trader.run_cli`).
- ``kill-switch status|engage|clear [--journal FILE]`` -- the persisted kill switch, while
  no engine runs (:mod:`tui_trader.kill_switch_cli`).
- ``doctor [--json] [--journal FILE]`` -- a preflight of the IB connection and account,
  a tick or a cross per check (exit 0 only when all pass; :mod:`tui_trader.doctor_cli`);
- ``journal [--day YYYY-MM-DD] [--json] [--journal FILE]`` -- one New York trading day's
  candidates, orders, exits and events, read-only; ``journal --history`` the closed trades
  of every day (:mod:`tui_trader.journal_cli`);
- ``backtest`` (:mod:`tui_trader.backtest_cli`) and ``alert-test``
  (:mod:`tui_trader.alert_test_cli`).

Exit codes: 0 success, 1 the dashboard's engine failed to start for an unexpected reason
(one sentence on stderr naming the log file, which has the traceback), 2 bad input or
configuration (one sentence on stderr, no traceback; an engine that cannot start for a
reason the user can fix, such as a journal that cannot be opened, counts as configuration),
130 interrupted. Imports of heavy modules happen inside the subcommands so ``--help`` and
``config --show`` stay instant; a subcommand's module is imported to build the parser
(stdlib only at its top) and its command runs from it only when chosen.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from importlib import import_module
from pathlib import Path

from tui_trader.cli_common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    SPEED_HELP,
    START_HELP,
    UsageError,
    _demo_clock,
    _parse_date,
    _Parser,
    _print_json,
    _replay_start,
    _report_dropped,
    _speed,
    _start,
)
from tui_trader.config import ConfigError, load_settings, to_toml
from tui_trader.core.settings import Settings

__all__ = [  # the names other modules and tests import from here, kept stable
    "EXIT_BAD_INPUT",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "UsageError",
    "_parse_date",
    "_print_json",
    "_replay_start",
    "_report_dropped",
    "build_parser",
    "main",
]

Command = Callable[[argparse.Namespace, Settings], int]


def build_parser() -> argparse.ArgumentParser:
    from tui_trader.alert_test_cli import add_alert_test_parser
    from tui_trader.backtest_cli import add_backtest_parser  # SPEC 12: its own module
    from tui_trader.doctor_cli import add_doctor_parser
    from tui_trader.gateway_cli import add_gateway_parser
    from tui_trader.journal_cli import add_journal_parser
    from tui_trader.kill_switch_cli import add_kill_switch_parser
    from tui_trader.run_cli import add_run_parser
    from tui_trader.scan_cli import add_demo_scan_parser, add_scan_parser, add_spreads_parser
    from tui_trader.strategy_cli import add_strategy_parser

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
    parser.add_argument("--speed", type=_speed, metavar="X", help=f"demo: {SPEED_HELP}")
    parser.add_argument("--start", type=_start, metavar='"YYYY-MM-DD HH:MM"',
                        help=f"demo: {START_HELP}")  # fmt: skip
    parser.add_argument("--theme", help="dark, light, ansi or a user theme (default: [ui] theme)")
    parser.add_argument("--log-file", type=Path, metavar="FILE",
                        help="where the dashboard logs (default: the user log dir)")  # fmt: skip
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    # the order here is the order --help lists the subcommands in
    add_demo_scan_parser(sub, common)
    add_strategy_parser(sub, common)
    add_scan_parser(sub, common)
    add_spreads_parser(sub, common)

    config = sub.add_parser("config", parents=[common], help="show the effective configuration")
    config.add_argument(
        "--show", action="store_true", help="print the effective configuration as TOML"
    )
    config.set_defaults(print_config_help=config.print_help)  # `config` alone: its help

    add_gateway_parser(sub, common)
    add_run_parser(sub, common)
    add_kill_switch_parser(sub, common)
    add_journal_parser(sub, common)
    add_backtest_parser(sub, common)
    add_alert_test_parser(sub, common)
    add_doctor_parser(sub, common)
    return parser


#: Commands that apply SPEC 3's market-cap filter: a bad ``[universe] market_caps_file``
#: is refused (exit 2, one sentence naming the file and line) before they start anything.
USES_MARKET_CAPS = frozenset({None, "run", "scan"})
#: Commands that send alerts: a URL apprise cannot parse is refused (exit 2) at start.
USES_ALERTS = frozenset({None, "run", "alert-test"})
#: Commands that run the enabled user strategies (issue 15): an import error is exit 2.
USES_STRATEGIES = frozenset({None, "run"})


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(getattr(args, "config", None))
    if args.command in USES_MARKET_CAPS:
        from tui_trader.datafiles.market_caps import universe_market_caps

        universe_market_caps(settings.universe)  # InputFileError: exit 2 (see main)
    if args.command in USES_ALERTS and settings.alerts.urls:  # SPEC 13: refused at start
        from tui_trader.alerts.channels import AlertConfigError, build_channels

        try:
            build_channels(settings.alerts)
        except AlertConfigError as exc:
            raise UsageError(str(exc)) from None
    if args.command in USES_STRATEGIES and settings.strategies.enabled:  # issue 15
        from tui_trader.engine.user_strategies import StrategyLoadError, load_strategies

        try:
            load_strategies(settings)
        except StrategyLoadError as exc:
            raise UsageError(str(exc)) from None
    return settings


def cmd_config(args: argparse.Namespace, settings: Settings) -> int:
    """``config --show``; ``config`` alone shows its help (see :func:`main`)."""
    if settings.alerts.urls:  # SPEC 13: secrets are never shown
        from tui_trader.alerts.channels import masked_settings

        settings = masked_settings(settings)
    sys.stdout.write(to_toml(settings))
    return EXIT_OK


def cmd_app(args: argparse.Namespace, settings: Settings) -> int:
    """The dashboard (no subcommand)."""
    import asyncio

    from tui_trader.config_edit import watchlist_file
    from tui_trader.engine.runtime import EngineStartError
    from tui_trader.tui.keymap import KeymapError
    from tui_trader.tui.launch import EngineFailedError, run_dashboard
    from tui_trader.tui.themes import ThemeError

    speed, start = _demo_clock(args, args.demo)
    try:
        return asyncio.run(
            run_dashboard(settings, demo=args.demo, seed=args.seed, theme=args.theme,
                          log_path=args.log_file, speed=speed, start=start,
                          watchlist_to=watchlist_file(
                              settings, getattr(args, "config", None), demo=args.demo))
        )  # fmt: skip
    except (ThemeError, KeymapError, EngineStartError) as exc:
        raise UsageError(str(exc)) from None
    except EngineFailedError as exc:
        print(f"tui-trader: {exc}", file=sys.stderr)
        return EXIT_FAILED


#: Subcommand -> (module, function) that runs it; imported only for the chosen command.
#: ``config`` and the dashboard (None) run from this module (see :func:`command`).
COMMANDS: dict[str, tuple[str, str]] = {
    "alert-test": ("tui_trader.alert_test_cli", "cmd_alert_test"),
    "doctor": ("tui_trader.doctor_cli", "cmd_doctor"),
    "backtest": ("tui_trader.backtest_cli", "cmd_backtest"),
    "scan": ("tui_trader.scan_cli", "cmd_scan"),
    "strategy": ("tui_trader.strategy_cli", "cmd_strategy"),
    "spreads": ("tui_trader.scan_cli", "cmd_spreads"),
    "gateway": ("tui_trader.gateway_cli", "cmd_gateway"),
    "run": ("tui_trader.run_cli", "cmd_run"),
    "demo-scan": ("tui_trader.scan_cli", "cmd_demo_scan"),
    "kill-switch": ("tui_trader.kill_switch_cli", "cmd_kill_switch"),
    "journal": ("tui_trader.journal_cli", "cmd_journal"),
}


def command(name: str | None) -> Command:
    """The function that runs subcommand ``name`` (None: the dashboard). The local ones are
    not looked up by module name: under ``python -m tui_trader.cli`` this module is
    ``__main__``, and importing it again by name would load a second copy."""
    if name is None:
        return cmd_app
    if name == "config":
        return cmd_config
    module, function = COMMANDS[name]
    handler: Command = getattr(import_module(module), function)
    return handler


def main(argv: Sequence[str] | None = None) -> int:
    from tui_trader.datafiles import InputFileError

    args = build_parser().parse_args(argv)
    if args.command == "config" and not args.show:
        args.print_config_help()  # before loading: help must work with a broken config
        return EXIT_OK
    try:
        settings = _settings(args)
        return command(args.command)(args, settings)
    except (ConfigError, InputFileError, UsageError) as exc:
        print(f"tui-trader: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
