"""``tui-trader gateway``: the simulated IB gateway as its own process, until SIGTERM
(exit 0). ``--speed X`` / ``--start "YYYY-MM-DD HH:MM"`` replay market days (closed hours
skipped); ``--universe`` / ``--max-lines`` / ``--snapshot-ms`` / ``--list-symbols`` carry a
big universe behind IB's market-data line budget (issue 12).

Registered by :mod:`tui_trader.cli`; the gateway is imported only when it runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from tui_trader.cli_common import (
    EXIT_OK,
    SPEED_HELP,
    START_HELP,
    UsageError,
    _count,
    _replay_start,
    _speed,
    _start,
)
from tui_trader.core.settings import Settings


def add_gateway_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """The ``gateway`` subcommand (``sub`` is cli's subparsers object)."""
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


# --- gateway --universe / --max-lines / --snapshot-ms / --list-symbols (issue 12) -------


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
