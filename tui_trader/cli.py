"""The ``tui-trader`` command line: stable contracts that users and later tools script against.

Subcommands (every one accepts ``--config FILE``):
- ``tui-trader [--demo] [--theme NAME]`` -- the dashboard; ``--demo`` runs it against the
  built-in simulated gateway (``--speed X``, ``--start "YYYY-MM-DD HH:MM"``: its clock);
- ``demo-scan`` -- one scan of the simulated market and its best spreads, printed;
- ``scan``     -- signals for a CSV of daily bars (table, or ``--json``; ``--bars -``: stdin);
- ``spreads``  -- ranked vertical spreads for a CSV option chain (``--chain -``: stdin);
- ``config``   -- ``--show`` prints the effective configuration as TOML (alone: its help);
- ``gateway``  -- runs the simulated IB gateway as its own process, until SIGTERM (exit 0);
  ``--speed X`` / ``--start "YYYY-MM-DD HH:MM"`` replay market days (closed hours skipped);
- ``run --headless [--demo] [--auto [--dry-run]] [--metrics-port P] [--seed N]`` -- the
  engine without the dashboard, logging to stdout, until SIGINT/SIGTERM (exit 0);
  ``--auto`` arms the auto-trader; ``--metrics-port`` serves Prometheus metrics on
  127.0.0.1.
- ``kill-switch status|engage|clear [--journal FILE]`` -- the persisted kill switch, while
  no engine runs (see :func:`cmd_kill_switch`).
- ``doctor [--json] [--journal FILE]`` -- a preflight of the IB connection and account,
  a tick or a cross per check (exit 0 only when all pass; :mod:`tui_trader.engine.doctor`);
- ``journal [--day YYYY-MM-DD] [--json] [--journal FILE]`` -- one New York trading day's
  candidates, orders, exits and events, read-only (see :mod:`tui_trader.journal_report`);
  ``journal --history`` the closed trades of every day (:mod:`tui_trader.core.history`).

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
from collections.abc import Callable, Coroutine, Mapping, Sequence
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


def _speed(text: str) -> float:
    """``gateway --speed``: the same range the control port's ``speed X`` accepts."""
    from tui_trader.sim.faults import MAX_SPEED

    value = _positive_float(text)
    if value > MAX_SPEED:
        raise argparse.ArgumentTypeError(f"{text!r} is more than {MAX_SPEED:g}")
    return value


def _start(text: str) -> str:
    """``--start "YYYY-MM-DD HH:MM"`` (New York time), checked here, resolved by
    :func:`_replay_start` (a closed time moves to the next session's open)."""
    from tui_trader.sim.clock import parse_start

    try:
        parse_start(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


SPEED_HELP = (
    "simulated seconds per real second (0 < X <= 10000; default 1); nights, weekends and "
    "holidays pass in an instant"
)
START_HELP = (
    "where the simulated market starts, New York time (default: 14:30 of the last trading "
    "day); outside regular hours: the next session's open"
)


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
    parser.add_argument("--speed", type=_speed, metavar="X", help=f"demo: {SPEED_HELP}")
    parser.add_argument("--start", type=_start, metavar='"YYYY-MM-DD HH:MM"',
                        help=f"demo: {START_HELP}")  # fmt: skip
    parser.add_argument("--theme", help="dark, light, ansi or a user theme (default: [ui] theme)")
    parser.add_argument("--log-file", type=Path, metavar="FILE",
                        help="where the dashboard logs (default: the user log dir)")  # fmt: skip
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    demo_scan = sub.add_parser(
        "demo-scan", parents=[common],
        help="print one scan of the simulated market and its best spreads, then exit",
    )  # fmt: skip
    demo_scan.add_argument("--seed", type=int, default=7, help="simulated market seed")

    strategy = sub.add_parser("strategy", parents=[common], help="check a user strategy")
    strategy_sub = strategy.add_subparsers(dest="action", required=True, parser_class=_Parser)
    check = strategy_sub.add_parser(
        "check", parents=[common], help="refuse a strategy that looks ahead (issue 15)"
    )
    check.add_argument("name", metavar="NAME", help="a [strategies.NAME] table")
    check.add_argument("--bars", type=Path, required=True, metavar="FILE",
                       help="CSV of daily bars, as for scan")  # fmt: skip

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

    config = sub.add_parser("config", parents=[common], help="show the effective configuration")
    config.add_argument(
        "--show", action="store_true", help="print the effective configuration as TOML"
    )
    config.set_defaults(print_config_help=config.print_help)  # `config` alone: its help

    gateway = sub.add_parser("gateway", parents=[common], help="run the simulated IB gateway")
    gateway.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)"
    )
    gateway.add_argument(
        "--port", type=int, default=7497, help="API port to listen on (default: 7497, as TWS)"
    )
    gateway.add_argument("--seed", type=int, default=7, help="simulated market seed")
    gateway.add_argument("--speed", type=_speed, default=1.0, metavar="X", help=SPEED_HELP)
    gateway.add_argument("--start", type=_start, metavar='"YYYY-MM-DD HH:MM"', help=START_HELP)
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
    _gateway_universe_args(gateway)

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
    run.add_argument("--speed", type=_speed, default=argparse.SUPPRESS, metavar="X",
                     help=f"demo: {SPEED_HELP}")  # fmt: skip
    run.add_argument("--start", type=_start, default=argparse.SUPPRESS,
                     metavar='"YYYY-MM-DD HH:MM"', help=f"demo: {START_HELP}")  # fmt: skip
    run.add_argument(
        "--metrics-port",
        type=_port,
        metavar="P",
        help="serve Prometheus metrics on http://127.0.0.1:P/metrics",
    )
    run.add_argument(
        "--auto",
        action="store_true",
        help="arm the auto-trader (SPEC 11) at start; the state is kept across restarts",
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="with --auto: every step runs, nothing is transmitted (journaled as DRY-RUN)",
    )

    kill = sub.add_parser(
        "kill-switch", parents=[common],
        help="show, engage or clear the persisted kill switch (while no engine runs)",
    )  # fmt: skip
    kill.add_argument(
        "action",
        choices=["status", "engage", "clear"],
        help="status: print it; engage: the next engine starts HALTED; clear: allow entries",
    )
    kill.add_argument(
        "--journal",
        type=Path,
        metavar="FILE",
        help="the engine's journal (default: the one tui-trader uses)",
    )

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

    from tui_trader.backtest_cli import add_backtest_parser  # SPEC 12: its own module

    add_backtest_parser(sub, common)

    alert_test = sub.add_parser(  # SPEC 13
        "alert-test", parents=[common], help="send a test alert on each [alerts] channel"
    )
    alert_test.add_argument("--channel", metavar="NAME", help="only this channel")

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
    return parser


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (0-65535)")
    return value


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


def cmd_config(args: argparse.Namespace, settings: Settings) -> int:
    """``config --show``; ``config`` alone shows its help (see :func:`main`)."""
    if settings.alerts.urls:  # SPEC 13: secrets are never shown
        from tui_trader.alerts.channels import masked_settings

        settings = masked_settings(settings)
    sys.stdout.write(to_toml(settings))
    return EXIT_OK


# --- gateway --universe / --max-lines / --snapshot-ms / --list-symbols (issue 12) -------


def _count(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} is not between {low} and {high}")
        return value

    return parse


def _gateway_universe_args(gateway: argparse.ArgumentParser) -> None:
    from tui_trader.sim.universe import MAX_UNIVERSE

    gateway.add_argument(
        "--universe",
        type=_count(1, MAX_UNIVERSE),
        default=60,
        metavar="N",
        help=f"carry N names: the 60 demo names, then generated ones (default 60, up to "
        f"{MAX_UNIVERSE})",
    )
    gateway.add_argument(
        "--max-lines",
        type=_count(1, 10_000),
        default=100,
        metavar="N",
        help="the account's market data lines: one more is refused with error 101 (default 100)",
    )
    gateway.add_argument(
        "--snapshot-ms",
        type=_count(0, 11_000),
        default=0,
        metavar="MS",
        help="how long a snapshot holds a line before tickSnapshotEnd (default 0)",
    )
    gateway.add_argument(
        "--list-symbols",
        action="store_true",
        help="print the --universe names, one a line (a [universe] symbols_file), and exit",
    )


def _gateway_universe(args: argparse.Namespace) -> dict[str, Any]:
    """``serve``'s ``symbols`` and ``limits`` from the gateway's universe options."""
    from tui_trader.sim.gateway import GatewayLimits
    from tui_trader.sim.universe import universe_symbols

    limits = GatewayLimits(
        max_market_data_lines=args.max_lines, snapshot_s=args.snapshot_ms / 1000.0
    )
    return {"symbols": universe_symbols(args.universe), "limits": limits}


def cmd_gateway(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from tui_trader.sim.gateway import serve

    if args.list_symbols:
        from tui_trader.sim.universe import universe_symbols

        sys.stdout.write("".join(f"{s}\n" for s in universe_symbols(args.universe)))
        return EXIT_OK
    if not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port} is not a TCP port (1-65535)")
    if args.control_port is not None and not 0 < args.control_port < 65536:
        raise UsageError(f"--control-port {args.control_port} is not a TCP port (1-65535)")
    gateway = serve(
        host=args.host,
        port=args.port,
        seed=args.seed,
        speed=args.speed,
        state=args.state,
        control_port=args.control_port,
        start=_replay_start(args.start),
        skip_closed=True,
        **_gateway_universe(args),
    )
    try:
        asyncio.run(_until_sigterm(gateway))
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    return EXIT_OK


def _replay_start(text: str | None) -> datetime | None:
    """``--start`` as the market's start (None: the default, 14:30 ET of the last trading
    day). A time outside regular hours moves to the next session's open, and stderr says
    so (for the dashboard that line shows once the app has quit; its log has it too)."""
    if text is None:
        return None
    from tui_trader.core.calendar import ET
    from tui_trader.sim.clock import parse_start

    start = parse_start(text)
    asked = datetime.strptime(text.strip(), "%Y-%m-%d %H:%M").replace(tzinfo=ET)
    if start != asked:
        opens = f"{start.astimezone(ET):%Y-%m-%d %H:%M}"
        print(
            f"tui-trader: {text.strip()} ET is outside regular trading hours: the simulated "
            f"market starts at the next session's open, {opens} ET.",
            file=sys.stderr,
        )
    return start


def _demo_clock(args: argparse.Namespace, demo: bool) -> tuple[float, datetime | None]:
    """(speed, start) of the demo's market clock; ``--speed``/``--start`` without
    ``--demo`` are a usage error (a real TWS keeps its own time)."""
    speed: float | None = getattr(args, "speed", None)
    start: str | None = getattr(args, "start", None)
    if not demo and (speed is not None or start is not None):
        given = "--speed" if speed is not None else "--start"
        raise UsageError(f"{given} sets the simulated market's clock: add --demo")
    return (1.0 if speed is None else speed), _replay_start(start)


async def _until_sigterm(work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` until it ends or SIGTERM arrives; on SIGTERM cancel it (the gateway's
    ``finally`` closes its listeners and client sockets; its state file is saved on every
    change already) and return normally, so a service manager's stop is a clean exit 0
    rather than death by signal (-15)."""
    import asyncio
    import signal

    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work)
    stopped = False

    def stop() -> None:
        nonlocal stopped
        stopped = True
        task.cancel()

    loop.add_signal_handler(signal.SIGTERM, stop)
    try:
        await task
    except asyncio.CancelledError:
        if not stopped:
            raise
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def cmd_app(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from tui_trader.engine.runtime import EngineStartError
    from tui_trader.tui.keymap import KeymapError
    from tui_trader.tui.launch import EngineFailedError, run_dashboard
    from tui_trader.tui.themes import ThemeError

    speed, start = _demo_clock(args, args.demo)
    try:
        return asyncio.run(
            run_dashboard(settings, demo=args.demo, seed=args.seed, theme=args.theme,
                          log_path=args.log_file, speed=speed, start=start)
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

    demo = bool(getattr(args, "demo", False))
    speed, start = _demo_clock(args, demo)
    if args.dry_run and not args.auto:
        raise UsageError("--dry-run goes with --auto (it is how the auto-trader runs)")
    if args.auto:
        auto = settings.auto.model_copy(update={"enabled": True, "dry_run": args.dry_run})
        settings = settings.model_copy(update={"auto": auto})
    configure_logging(sys.stdout)
    try:
        return asyncio.run(
            run_until_stopped(
                settings,
                demo=demo,
                seed=int(getattr(args, "seed", 7)),
                metrics_port=args.metrics_port,
                speed=speed,
                start=start,
            )
        )
    except (MetricsPortError, EngineStartError) as exc:
        raise UsageError(str(exc)) from None


def _when(t: datetime | None) -> str:
    """A journal time as the trader reads it: New York time, UTC in brackets."""
    from datetime import UTC

    from tui_trader.core.calendar import ET

    if t is None:
        return "an unknown time"
    return f"{t.astimezone(ET):%Y-%m-%d %H:%M:%S} ET ({t.astimezone(UTC):%H:%M:%S} UTC)"


def _breaker_line(state: Any, today: date) -> str:
    """The circuit-breaker line of ``kill-switch status`` (``state``: a BreakerState)."""
    from tui_trader.core.calendar import ET

    if state.breaker_code is None:
        return "Circuit breaker: none tripped."
    since = state.breaker_since
    why = f" ({state.breaker_reason})" if state.breaker_reason else ""
    if since is not None and since.astimezone(ET).date() < today:
        until = "tripped on an earlier day: reset when an engine next starts"
    else:
        until = "holds until the next trading day"
    return f"Circuit breaker: {state.breaker_code} since {_when(since)}{why}; {until}."


def _kill_switch_status(path: Path, today: date) -> int:
    """Print the persisted state without writing (safe while an engine runs)."""
    from tui_trader.core.risk import BreakerState
    from tui_trader.engine.breakers import BREAKER_KEY
    from tui_trader.state.journal import Journal

    if not path.exists():
        print(f"Journal: {path}\nNo journal yet: the kill switch is not engaged.")
        return EXIT_OK
    with Journal(path) as journal:
        record = journal.get_kv(BREAKER_KEY)
    print(f"Journal: {path}")
    try:
        state = BreakerState.from_dict(record) if record is not None else BreakerState()
    except (ValueError, TypeError, AttributeError) as exc:
        print(f"Kill switch: the saved state cannot be read ({exc}); an engine treats it as "
              "ENGAGED.")  # fmt: skip
        print("Entries: HALTED.")
        return EXIT_OK
    if state.kill_switch:
        print(f"Kill switch: ENGAGED since {_when(state.kill_switch_since)}.")
    else:
        print("Kill switch: not engaged.")
    print(_breaker_line(state, today))
    print(f"Entries: {'HALTED' if state.status.value == 'HALTED' else 'ALLOWED'}.")
    return EXIT_OK


def _engine_running(path: Path, action: str, settings: Settings) -> UsageError:
    """The refusal while an engine holds the journal (README: the CLI never races it)."""
    import contextlib

    from tui_trader.engine.lock import lock_path

    binding = "kill_switch" if action == "engage" else "clear_kill_switch"
    key = settings.ui.keys.get(binding, "ctrl+k" if action == "engage" else "ctrl+u")
    pid = ""
    with contextlib.suppress(OSError, ValueError):  # the pid is for the message only
        pid = f" (pid {int(lock_path(path).read_text().strip())})"
    return UsageError(
        f"a tui-trader engine{pid} is running on the journal {path}: {action} the kill "
        f"switch there with the dashboard's key ({key}), or stop that engine first (it "
        "holds the kill switch in memory and would not see a change made here)"
    )


def _kill_switch_write(path: Path, action: str, settings: Settings, now: datetime) -> str:
    """Engage or clear the kill switch in the journal (the caller holds the engine lock);
    the sentence to print."""
    from tui_trader.core.models import EventLevel
    from tui_trader.engine.breakers import BreakerKeeper
    from tui_trader.state.journal import Journal
    from tui_trader.state.store import Store

    notes: list[str] = []

    def note(level: EventLevel, text: str) -> None:
        if level is EventLevel.ERROR:  # an unreadable record, restored as engaged
            notes.append(f"Note: {text}\n")

    with Journal(path) as journal:
        keeper = BreakerKeeper(journal, Store(), clock=lambda: now, risk=settings.risk, event=note)
        before = keeper.restore()
        head = "".join(notes)
        if action == "engage":
            if before.kill_switch and not notes:
                since = _when(before.kill_switch_since)
                return f"The kill switch is already engaged (since {since}); nothing changed."
            keeper.engage_kill_switch()
            journal.log_event(EventLevel.WARNING, "risk",
                              "Kill switch engaged from the command line.", now)  # fmt: skip
            return (
                f"{head}Kill switch engaged: an engine started on this journal starts HALTED "
                "(no new opening orders) until you clear it. Orders already at IB were not "
                "cancelled: cancel them in TWS or the dashboard."
            )
        after = keeper.clear_kill_switch()
        if after is None:
            return "The kill switch is not engaged; nothing changed."
        journal.log_event(EventLevel.WARNING, "risk",
                          "Kill switch cleared from the command line.", now)  # fmt: skip
    if after.breaker_code is not None:
        return (
            f"{head}Kill switch cleared, but entries are still halted: circuit breaker "
            f"{after.breaker_code} ({after.breaker_reason}) holds until the next trading "
            "day. The auto-trader stays off."
        )
    return (
        f"{head}Kill switch cleared: an engine started on this journal may send new "
        "opening orders again. The auto-trader stays off."
    )


def cmd_kill_switch(args: argparse.Namespace, settings: Settings) -> int:
    """``kill-switch status|engage|clear``: the breaker record in the journal, written
    directly through :class:`~tui_trader.engine.breakers.BreakerKeeper` (the engine's own
    rules: an unreadable record counts as engaged, a breaker from an earlier day resets).

    Decision: ``engage`` and ``clear`` hold the engine lock while they write, so no engine
    can start meanwhile; while an engine runs they are refused with one sentence (exit 2)
    pointing at the dashboard's key, because the running engine keeps the state in memory
    and would neither see nor keep the change. ``status`` only reads (WAL: safe beside a
    running engine). ``engage`` cannot cancel orders at IB (there is no connection here):
    an engine started on the journal starts HALTED.
    """
    import sqlite3
    from datetime import UTC

    from tui_trader.core.calendar import ET
    from tui_trader.engine.lock import EngineLockedError, engine_lock
    from tui_trader.state.journal import JournalError, default_journal_path

    path: Path = args.journal if args.journal is not None else default_journal_path()
    now = datetime.now(UTC)
    try:
        if args.action == "status":
            return _kill_switch_status(path, now.astimezone(ET).date())
        if args.action == "clear" and not path.exists():
            print(f"No journal at {path}: the kill switch is not engaged; nothing changed.")
            return EXIT_OK
        with engine_lock(path):
            print(_kill_switch_write(path, args.action, settings, now))
        return EXIT_OK
    except EngineLockedError:
        raise _engine_running(path, args.action, settings) from None
    except JournalError as exc:
        raise UsageError(str(exc).rstrip(".")) from None
    except (OSError, sqlite3.Error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"cannot open the journal {path}: {reason}") from None


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


def cmd_backtest(args: argparse.Namespace, settings: Settings) -> int:
    from tui_trader.backtest_cli import cmd_backtest as run_backtest_command

    return run_backtest_command(args, settings)


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


def cmd_alert_test(args: argparse.Namespace, settings: Settings) -> int:
    """``alert-test [--channel NAME]``: a line per channel; exit 0 when every one worked,
    1 when one failed, 2 when no such channel is configured."""
    from tui_trader.alerts.channels import AlertConfigError
    from tui_trader.alerts.probe import send_test

    try:
        results = send_test(settings, datetime.now().astimezone(), args.channel)
    except AlertConfigError as exc:
        raise UsageError(str(exc)) from None
    for result in results:
        print(result.line())
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED


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


COMMANDS = {
    "alert-test": cmd_alert_test,
    "doctor": cmd_doctor,
    "backtest": cmd_backtest,
    "scan": cmd_scan,
    "strategy": cmd_strategy,
    "spreads": cmd_spreads,
    "config": cmd_config,
    "gateway": cmd_gateway,
    "run": cmd_run,
    "demo-scan": cmd_demo_scan,
    "kill-switch": cmd_kill_switch,
    "journal": cmd_journal,
    None: cmd_app,
}


def main(argv: Sequence[str] | None = None) -> int:
    from tui_trader.datafiles import InputFileError

    args = build_parser().parse_args(argv)
    if args.command == "config" and not args.show:
        args.print_config_help()  # before loading: help must work with a broken config
        return EXIT_OK
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
