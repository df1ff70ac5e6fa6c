"""Building and running an engine from the configuration: the headless command and the
dashboard share this, so demo, tests and real trading start the same way.

Decisions:

- **Journal.** Real trading keeps its journal in the user data dir
  (:func:`tui_trader.state.journal.default_journal_path`) unless a path is given.
  ``--demo`` uses a fresh journal in a temporary directory (removed at exit) unless a
  path is given: the simulated exchange starts empty every run, so a journal from an
  earlier demo would only show its orders as UNKNOWN and count its entries against today's
  limits, and demo orders must never mix with a real account's record.
- **Demo.** The simulated gateway runs in-process, on its own thread and event loop (see
  :mod:`tui_trader.sim.thread`: a gateway sharing the app's loop reads in bursts and
  trips its own message-rate check), on a free loopback port with a fixed seed,
  its clock starting at :func:`tui_trader.sim.clock.default_demo_start` of the wall clock
  (14:30 ET of the last trading day that reached it), so the entry window lies ahead at any
  hour, or at ``start`` (``--start``), running ``speed`` simulated seconds per real
  second (``--speed``) across sessions: nights, weekends and holidays pass in an instant
  (:class:`~tui_trader.sim.clock.SimClock` ``skip_closed``). The engine's clock is then
  the simulated market's clock: quote ages, the entry
  window and "today" all follow the market it trades. The configured host and port are
  replaced by the gateway's, and an empty ``[universe] market_caps_file`` by the simulated
  names' caps (``sim/market_caps.csv``); everything else (risk limits, universe, mode) is
  the user's.
- **Clock.** Otherwise the engine's clock is the gateway's
  (:class:`~tui_trader.broker.session.GatewayClock`: reqCurrentTime at every connect and
  every few seconds), not this machine's: a standalone simulated gateway's market time,
  or IB's. Until the first connection it has no time (``Engine.now()`` is None).
- **Metrics** are served on 127.0.0.1 (``metrics_addr``) when ``metrics_port`` is given
  (0: a free port, see ``engine.metrics.port``).
- The context manager returns once the engine has *started* (the session made its first
  attempt); booting (bars, first scan) continues in the background, and a gateway that is
  not up yet is retried with backoff. ``Engine.wait_booted`` waits for it.
- **Store.** ``store`` lets the caller own the store the engine publishes into: the
  dashboard draws its first frame over it before the engine exists.
- **Start failures** that the user can fix (the journal cannot be opened: a read-only or
  missing folder, a file that is not a journal or another program's SQLite database, a
  damaged journal, which is never run on (see :mod:`tui_trader.state.journal`); another
  engine is running on it, see :mod:`tui_trader.engine.lock`) raise
  :class:`EngineStartError`, one sentence, instead of a traceback.
- **Imports.** The dashboard imports this module before its first frame (for
  :func:`configure_logging`), so the engine, the journal, the metrics and the simulated
  gateway (numba, pandas, scipy, ib_insync: about 0.7 s) are imported by
  :func:`running_engine` itself, on the caller's thread, when it is entered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import sqlite3
import stat
import tempfile
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from loguru import logger

from tui_trader.core.pricing import mask_account_id
from tui_trader.core.settings import Settings
from tui_trader.state.store import Orders, Store

if TYPE_CHECKING:
    from tui_trader.engine.engine import Engine

Clock = Callable[[], datetime]


#: What an IB account id looks like (DU1234567, U1234567, F1234567, ...).
_ACCOUNT_LIKE = re.compile(r"\b[A-Z]{1,3}\d{5,}\b")
LOG_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} {level: <7} {message}"


def mask_accounts(text: str) -> str:
    """``text`` with everything shaped like an IB account id masked (ib_insync prints whole
    orders, account field included, in its log lines)."""
    return _ACCOUNT_LIKE.sub(lambda m: mask_account_id(m.group(0)), text)


class _ToLoguru(logging.Handler):
    """Standard-library log records (ib_insync's) into loguru, so they are masked too."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(exception=record.exc_info).log(level, "{}: {}", record.name, record.getMessage())


def _private_opener(path: str, flags: int) -> int:
    """``open()``'s opener for log files: created 0600 (owner only), like the journal."""
    return os.open(path, flags, 0o600)


def configure_logging(sink: TextIO | Path, level: str = "INFO") -> None:
    """Log to ``sink`` -- the headless engine: stdout; the dashboard: a file, since the
    terminal is the app's -- with account ids masked in every line, ib_insync's warnings
    and errors included.

    A log file holds the account's activity (orders, fills), so it is created 0600 and each
    rotated file too (loguru opens them all through the opener); an existing one is
    narrowed to its owner."""

    def patch(record: Any) -> None:
        record["message"] = mask_accounts(record["message"])

    logger.remove()
    logger.configure(patcher=patch)
    if isinstance(sink, Path):
        with contextlib.suppress(OSError):  # one an older version left readable by all
            mode = stat.S_IMODE(sink.stat().st_mode)
            if mode & 0o077:
                sink.chmod(mode & 0o700)
        logger.add(sink, level=level, format=LOG_FORMAT, backtrace=False, diagnose=False,
                   rotation="10 MB", retention=5, opener=_private_opener)  # fmt: skip
    else:
        logger.add(sink, level=level, format=LOG_FORMAT, backtrace=False, diagnose=False)
    logging.basicConfig(handlers=[_ToLoguru()], level=logging.WARNING, force=True)


class MetricsPortError(Exception):
    """The metrics port cannot be bound; ``str()`` is the sentence for the user."""


class EngineStartError(Exception):
    """The engine cannot start for a reason the user can fix; ``str()`` is the sentence."""


def _wall_clock() -> datetime:
    return datetime.now(UTC)


def demo_settings(settings: Settings, port: int) -> Settings:
    """``settings`` pointed at the in-process simulated gateway; without a
    ``[universe] market_caps_file`` of the user's, the simulated names' own caps (shipped
    with the package) so SPEC 3's market-cap filter applies in the demo too."""
    from tui_trader.sim.universe import MARKET_CAPS_CSV

    connection = settings.connection.model_copy(update={"host": "127.0.0.1", "port": port})
    update: dict[str, Any] = {"connection": connection}
    if not settings.universe.market_caps_file.strip():
        update["universe"] = settings.universe.model_copy(
            update={"market_caps_file": str(MARKET_CAPS_CSV)}
        )
    return settings.model_copy(update=update)


@contextlib.asynccontextmanager
async def running_engine(
    settings: Settings,
    *,
    demo: bool,
    seed: int = 7,
    journal_path: Path | None = None,
    clock: Clock | None = None,
    metrics_port: int | None = None,
    metrics_addr: str | None = None,
    store: Store | None = None,
    speed: float = 1.0,
    start: datetime | None = None,
) -> AsyncIterator[Engine]:
    """A started engine (module doc); everything it started is stopped on exit.

    ``clock`` is the wall clock (default: the system's, UTC); in demo mode it only picks
    the simulated market's start, otherwise it only stamps what happens before the first
    connection (module doc). ``store`` is where the engine publishes (default: a new
    store); ``metrics_addr`` defaults to ``engine.metrics.DEFAULT_ADDR`` (loopback).
    ``speed`` and ``start`` (a session instant, see ``sim.clock.parse_start``; default:
    ``default_demo_start`` of the wall clock) set the demo's market clock. Raises
    :class:`MetricsPortError` when the metrics port cannot be bound and
    :class:`EngineStartError` when the journal cannot be opened or another engine holds it.
    """
    from tui_trader.broker.session import GatewayClock
    from tui_trader.engine.engine import Engine
    from tui_trader.engine.lock import EngineLockedError, engine_lock
    from tui_trader.engine.metrics import DEFAULT_ADDR
    from tui_trader.state.journal import Journal, JournalError, default_journal_path

    wall = clock or _wall_clock
    async with contextlib.AsyncExitStack() as stack:
        engine_clock: Clock = GatewayClock(wall)  # TWS / IB Gateway: its reqCurrentTime
        if demo:
            from tui_trader.sim.clock import default_demo_start
            from tui_trader.sim.thread import GatewayThread

            gateway = GatewayThread(
                seed=seed,
                start=start or default_demo_start(wall()),
                speed=speed,
                skip_closed=True,
                port=0,
                symbols=settings.universe.symbols,  # issue 12: a symbols_file's names too
            )
            await _start_thread(gateway.start, gateway.stop)
            stack.callback(gateway.stop)
            settings = demo_settings(settings, gateway.port)
            engine_clock = gateway.sim_time
            logger.info(
                "demo: simulated IB gateway (seed {}) on 127.0.0.1:{}, market time {:%Y-%m-%d "
                "%H:%M} UTC, speed {:g}",
                seed,
                gateway.port,
                gateway.sim_time(),
                speed,
            )
            if journal_path is None:
                tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="tui-trader-demo-"))
                journal_path = Path(tmp) / "journal.sqlite3"
        path = journal_path if journal_path is not None else default_journal_path()
        try:  # one engine per journal (engine.lock), taken before the journal is read
            stack.enter_context(engine_lock(path))
        except EngineLockedError as exc:  # its message is already the sentence
            raise EngineStartError(str(exc)) from exc
        except OSError as exc:
            raise EngineStartError(f"cannot open the journal {path}: {_reason(exc)}") from exc
        try:
            journal = stack.enter_context(Journal(path))
        except JournalError as exc:  # its message is already the sentence
            raise EngineStartError(str(exc)) from exc
        except (OSError, sqlite3.Error) as exc:
            raise EngineStartError(f"cannot open the journal {path}: {_reason(exc)}") from exc
        logger.info("journal: {}", path)
        # the demo's simulated bars never go into the user's bar cache (a real run the same
        # day would take them for IB's): a cache of its own, removed at exit (issue 12)
        bar_cache = (
            Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tui-trader-bars-")))
            / "bars.sqlite3"
            if demo
            else None
        )
        engine = Engine(
            settings, journal, clock=engine_clock, store=store, bar_cache_path=bar_cache
        )
        if metrics_port is not None:
            metrics_addr = metrics_addr or DEFAULT_ADDR
            try:
                bound = engine.metrics.serve(metrics_port, metrics_addr)
            except OSError as exc:
                raise MetricsPortError(
                    f"cannot serve metrics on {metrics_addr}:{metrics_port}: {exc.strerror or exc}"
                ) from exc
            stack.callback(engine.metrics.stop)
            logger.info("metrics: http://{}:{}/metrics", metrics_addr, bound)
        if settings.alerts.urls:  # SPEC 13: stopped after the engine (pushed before it)
            from tui_trader.engine.alerting import start_alerting

            await start_alerting(stack, settings, journal, engine.store, engine_clock)
        stack.push_async_callback(engine.stop)
        await engine.start()
        yield engine


async def run_until_stopped(
    settings: Settings,
    *,
    demo: bool,
    seed: int = 7,
    metrics_port: int | None = None,
    journal_path: Path | None = None,
    stop: asyncio.Event | None = None,
    speed: float = 1.0,
    start: datetime | None = None,
) -> int:
    """Run an engine until SIGINT/SIGTERM (or ``stop`` is set); 0 after a clean stop.
    ``speed`` and ``start``: the demo's market clock (see :func:`running_engine`)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
    try:
        async with running_engine(
            settings, demo=demo, seed=seed, journal_path=journal_path, metrics_port=metrics_port,
            speed=speed, start=start,
        ) as engine:  # fmt: skip
            logger.info(
                "engine running headless ({}); stop with Ctrl+C or SIGTERM",
                "demo" if demo else f"{settings.connection.host}:{settings.connection.port}",
            )
            await stop.wait()
            logger.info("stopping: {} working order(s) stay at IB", _working(engine))
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
    logger.info("stopped")
    return 0


async def _start_thread(start: Callable[[], object], stop: Callable[[], object]) -> None:
    """``start()`` in a worker thread. Cancelled meanwhile (the user quit the dashboard
    while the engine was starting), it still waits for ``start`` to finish and then calls
    ``stop``: a started gateway thread must not outlive :func:`running_engine`."""
    started = asyncio.ensure_future(asyncio.to_thread(start))
    try:
        await asyncio.shield(started)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await started
            stop()
        raise


def _reason(exc: BaseException) -> str:
    """An OS error's own words ("Not a directory"), otherwise the exception's text."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _working(engine: Engine) -> int:
    return len(engine.store.get(Orders).active)
