"""Starting the dashboard: the first frame, then the engine, on one asyncio loop.

``tui-trader`` connects to the configured TWS / IB Gateway; ``tui-trader --demo`` starts
the simulated gateway in-process (fixed seed, market clock from 14:30 ET of the last trading
day, or ``--start``, at ``--speed``) and connects to it, with no configuration at all. Both
go through :func:`tui_trader.engine.runtime.running_engine`, the same path as the headless
engine and the tests.

Decisions:

- **First frame first** (the dashboard's start-up target: on screen within 1.5 s of
  launch on a 2-core machine). Until the first frame, only what it needs is imported:
  Textual, the store and the screens, not the engine. The app is built over an empty
  :class:`~tui_trader.state.store.Store` with ``starting=True`` and no clock;
  :class:`EngineLauncher` waits for :attr:`TraderApp.first_frame`, then imports the engine
  (numba, pandas, scipy, ib_insync: about 0.6 s), starts it publishing into that same
  store (demo: the simulated gateway thread and its first connection) and attaches it
  with :meth:`TraderApp.attach_engine`.
- **Imports on the main thread.** The engine's modules are imported on the loop's own
  thread, one group at a time with a yield to the loop between groups, never on a second
  thread: imports from two threads can deadlock on the import locks, and eventkit (under
  ib_insync) binds the running loop at import, which fails on another thread. The loop is
  blocked for a group's import at a time; keys typed meanwhile are queued by Textual's
  input thread and handled afterwards.
- **Honest until attached.** Keys that need the engine say "Starting, a moment"; the
  footer's connection says STARTING and it shows no time (the app's clock is the engine's:
  in the demo the simulated market's, so no wall-clock time is shown first and then jumps).
- **Start failures.** A failure to start the engine ends the app; once the terminal is
  restored :func:`run_dashboard` raises :class:`~tui_trader.engine.runtime.EngineStartError`
  (the user can fix it: one sentence) or :class:`EngineFailedError` (anything else: one
  sentence naming the log file, which has the traceback); the CLI prints it and exits
  non-zero. A gateway that is not up is no failure: the engine starts, the footer shows
  RECONNECTING and the session retries with backoff.
- **Preflight.** Once the engine is attached, ``tui-trader doctor``'s checks run once in
  the background (:mod:`tui_trader.engine.doctor_start`, ``[doctor] at_start``): crosses
  on the Log and the health footer, never in the way of the first frame or trading.
- The terminal belongs to the app, so logs go to a file (``tui-trader.log`` in the user log
  dir, or ``--log-file``) with account ids masked, never to the screen.
- SIGHUP (the SSH session or terminal went away) and SIGTERM exit the app cleanly: the
  engine stops, working orders stay at IB, and the journal is closed. Quitting while the
  engine is still starting cancels the start, which stops what it had started.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from loguru import logger
from platformdirs import user_log_dir

from tui_trader.config import APP_NAME
from tui_trader.engine.runtime import EngineStartError, configure_logging, running_engine
from tui_trader.state.store import Store
from tui_trader.tui.app import create_app

if TYPE_CHECKING:
    from tui_trader.config_edit import WatchlistFile
    from tui_trader.core.settings import Settings
    from tui_trader.tui.app import TraderApp

#: Imported after the first frame, in this order, yielding to the loop between them (the
#: heaviest first; the rest of the engine comes with ``engine.engine``).
ENGINE_MODULES = (
    "tui_trader.core.scanner",  # numba, pandas
    "tui_trader.core.spreads",  # scipy
    "tui_trader.engine.engine",  # ib_insync, the broker layer
)
#: Imported after those in the demo only.
DEMO_MODULES = ("tui_trader.sim.thread",)  # the simulated gateway

#: The app's exit code when the engine could not start.
ENGINE_FAILED_EXIT = 1
#: Seconds the engine waits for the first frame before it starts anyway (Textual signals
#: the first frame with its first layout, which a terminal of size 0 never gets).
FIRST_FRAME_WAIT_S = 5.0


class EngineFailedError(Exception):
    """The engine failed to start (or to stop) for an unexpected reason; ``str()`` is the
    sentence for the user (the traceback is in the log file)."""


def default_log_path() -> Path:
    """Where the dashboard writes its log (the terminal is the app's)."""
    return Path(user_log_dir(APP_NAME)) / "tui-trader.log"


class EngineLauncher:
    """Starts the engine once ``app`` has drawn its first frame, attaches it to the app and
    runs it until :meth:`close` (module doc).

    :attr:`failure` is what stopped the engine from starting (the app is told to exit);
    :attr:`attached_after_s` how long after the first frame the engine was attached.
    ``clock`` is the wall clock handed to ``running_engine`` (default: the system's).
    """

    def __init__(
        self,
        app: TraderApp,
        settings: Settings,
        *,
        demo: bool,
        seed: int = 7,
        journal_path: Path | None = None,
        log_path: Path | None = None,
        clock: Callable[[], datetime] | None = None,
        speed: float = 1.0,
        start: datetime | None = None,
        watchlist_to: WatchlistFile | None = None,
    ) -> None:
        self._app = app
        self._watchlist_to = watchlist_to  # where Scanner watchlist edits are saved
        self._speed = speed
        self._start = start
        self._clock = clock
        self._settings = settings
        self._demo = demo
        self._seed = seed
        self._journal_path = journal_path
        self._log_path = log_path
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.attached = False
        self.attached_after_s: float | None = None
        self.failure: Exception | None = None

    def start(self) -> None:
        """Schedule the start on the running loop (it waits for the first frame)."""
        if self._task is not None:
            raise RuntimeError("the engine launcher is already started")
        self._task = asyncio.create_task(self._run(), name="engine-launcher")

    async def close(self) -> None:
        """Stop the engine (journal closed, gateway stopped) and wait for it. A start still
        under way is cancelled: quitting must not wait for a slow first connection."""
        self._stop.set()
        task = self._task
        if task is None:
            return
        if not self.attached:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def raise_failure(self) -> None:
        """Raise the start failure as the sentence for the user, if there was one."""
        exc = self.failure
        if exc is None:
            return
        if isinstance(exc, EngineStartError):
            raise exc
        what = "failed while stopping" if self.attached else "failed to start"
        where = f" (details in {self._log_path})" if self._log_path is not None else ""
        raise EngineFailedError(f"the engine {what}: {exc}{where}") from exc

    async def _run(self) -> None:
        app = self._app
        try:
            await asyncio.wait_for(app.first_frame.wait(), FIRST_FRAME_WAIT_S)
        except TimeoutError:
            logger.warning("no first frame after {} s: starting the engine", FIRST_FRAME_WAIT_S)
        drawn = time.perf_counter()
        try:
            for name in ENGINE_MODULES + (DEMO_MODULES if self._demo else ()):
                importlib.import_module(name)
                await asyncio.sleep(0)  # let the app handle what queued meanwhile
            logger.info("engine modules imported in {:.2f} s", time.perf_counter() - drawn)
            from tui_trader.engine.doctor_start import preflight_at_start, reference_clock
            from tui_trader.engine.engine import as_actions

            async with running_engine(
                self._settings,
                demo=self._demo,
                seed=self._seed,
                journal_path=self._journal_path,
                clock=self._clock,
                store=app.store,
                speed=self._speed,
                start=self._start,
            ) as engine:
                engine.watchlist.target = self._watchlist_to
                app.attach_engine(as_actions(engine), engine.now)
                self.attached = True
                self.attached_after_s = time.perf_counter() - drawn
                logger.info("engine attached {:.2f} s after the first frame", self.attached_after_s)
                wall = self._clock or (lambda: datetime.now(UTC))
                async with preflight_at_start(
                    engine,
                    enabled=engine.settings.doctor.at_start,
                    now=reference_clock(engine, demo=self._demo, wall=wall),
                ):
                    await self._stop.wait()
        except Exception as exc:
            if isinstance(exc, EngineStartError):
                logger.error("the engine cannot start: {}", exc)
            else:
                logger.exception("the engine failed")
            self.failure = exc
            app.exit(return_code=ENGINE_FAILED_EXIT)


async def run_dashboard(
    settings: Settings,
    *,
    demo: bool,
    seed: int = 7,
    theme: str | None = None,
    log_path: Path | None = None,
    journal_path: Path | None = None,
    headless: bool = False,
    speed: float = 1.0,
    start: datetime | None = None,
    watchlist_to: WatchlistFile | None = None,
) -> int:
    """Run the dashboard and its engine until the user quits; 0 after a clean exit.
    ``speed`` and ``start`` set the demo's market clock (``--speed``, ``--start``).
    ``watchlist_to``: where the Scanner's watchlist edits are saved
    (``config_edit.watchlist_file``; None: nowhere, the change lasts the session).

    Raises :class:`~tui_trader.engine.runtime.EngineStartError` or
    :class:`EngineFailedError` (after the app has ended) when the engine could not start.
    ``headless`` runs the app without a terminal (tests).
    """
    path = log_path or default_log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    configure_logging(path)
    app = create_app(settings, Store(), clock=None, engine=None, starting=True,
                     theme=theme or settings.ui.theme, bell=settings.ui.bell)  # fmt: skip
    launcher = EngineLauncher(
        app, settings, demo=demo, seed=seed, journal_path=journal_path, log_path=path,
        speed=speed, start=start, watchlist_to=watchlist_to,
    )  # fmt: skip
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for sig in (signal.SIGHUP, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, app.exit)
            handled.append(sig)
    launcher.start()
    try:
        await app.run_async(headless=headless)
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
        await launcher.close()
    launcher.raise_failure()
    return app.return_code or 0
