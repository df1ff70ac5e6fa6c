"""``tui-trader run --headless [--demo] [--auto [--dry-run]] [--metrics-port P] [--seed N]``:
the engine without the dashboard, logging to stdout, until SIGINT/SIGTERM (exit 0).
``--auto`` arms the auto-trader (SPEC 11); ``--metrics-port`` serves Prometheus metrics on
127.0.0.1.

Registered by :mod:`tui_trader.cli`; the engine is imported only when it runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tui_trader.cli_common import (
    SPEED_HELP,
    START_HELP,
    UsageError,
    _demo_clock,
    _port,
    _speed,
    _start,
)
from tui_trader.core.settings import Settings


def add_run_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """The ``run`` subcommand (``sub`` is cli's subparsers object)."""
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
