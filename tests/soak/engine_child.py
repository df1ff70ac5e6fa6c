"""The engine side of the soak test: one process, the driver's to kill -9 and restart.

    python -m tests.soak.engine_child --config FILE --journal FILE --control-port C \\
        --samples FILE --seed N

It runs the real engine exactly as ``tui-trader run --headless`` builds it
(:func:`tui_trader.engine.runtime.running_engine`: journal lock, journal, session,
market data, orders, scanner) against the standalone gateway named in the config, plus,
on the same event loop:

- the actor: :class:`tests.soak.actor.ScriptedActor`, seeded entries, cancels and closes
  through the engine's actions (the dashboard's door to trading);
- the :class:`tests.soak.sampler.Sampler`: loop lag, readiness, RSS, and the line count
  compared with the gateway's at settled moments, as JSON lines in ``--samples``.

**The auto-trader** is armed in paper by the driver's config (``[auto] enabled``, what
``run --headless --auto`` sets), so it queues, trades the entry window and sends exits
beside the scripted actor, through the same order desk; the actor keeps the load up
outside the window. The driver, the sampler and every check are the same for both.

Signals: SIGUSR1 quiesces the actor (the driver's end phase), SIGTERM stops cleanly (a
``final`` record first). The log (loguru, as ``run --headless`` configures it) goes to
stdout; the driver greps it for tracebacks.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import signal
import sys
from pathlib import Path
from typing import Protocol

from loguru import logger

from tests.soak.actor import ScriptedActor
from tests.soak.control import Control
from tests.soak.sampler import Sampler
from tui_trader.config import load_settings
from tui_trader.engine.runtime import configure_logging, running_engine


class Actor(Protocol):
    """What trades in the soak: the scripted actor now, the armed auto-trader later."""

    tallies: dict[str, int]

    async def run(self) -> None: ...
    async def quiesce(self) -> int: ...


async def main(args: argparse.Namespace) -> int:
    settings = load_settings(args.config, env={})
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    quiesce = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, quiesce.set)
    control = Control(args.control_port)
    with open(args.samples, "a", encoding="utf-8") as out:
        async with running_engine(settings, demo=False, journal_path=args.journal) as engine:
            actor: Actor = ScriptedActor(engine, random.Random(args.seed))
            sampler = Sampler(engine, control, out, tallies=actor.tallies)
            sampler.emit("started", seed=args.seed)
            tasks = [
                asyncio.create_task(sampler.probe(), name="soak-probe"),
                asyncio.create_task(sampler.samples(), name="soak-samples"),
                asyncio.create_task(actor.run(), name="soak-actor"),
            ]
            for task in tasks:
                task.add_done_callback(_log_failure)
            quiesced = asyncio.create_task(quiesce.wait())
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait([quiesced, stopping], return_when=asyncio.FIRST_COMPLETED)
            if quiesced.done() and not stop.is_set():
                sampler.emit("quiesced", cancels=await actor.quiesce())
                await stopping
            quiesced.cancel()
            sampler.final()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    await control.close()
    logger.info("soak engine child stopped")
    return 0


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.opt(exception=task.exception()).error("soak task {} failed", task.get_name())


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.soak.engine_child")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--journal", type=Path, required=True)
    parser.add_argument("--control-port", type=int, required=True)
    parser.add_argument("--samples", type=Path, required=True)
    parser.add_argument("--seed", type=int, required=True)
    return parser.parse_args(argv)


if __name__ == "__main__":
    configure_logging(sys.stdout)
    sys.exit(asyncio.run(main(parse(sys.argv[1:]))))
