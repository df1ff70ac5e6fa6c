"""Starting the dashboard: the engine and the Textual app on one asyncio loop.

``tui-trader`` connects to the configured TWS / IB Gateway; ``tui-trader --demo`` starts
the simulated gateway in-process (fixed seed, market clock from 14:30 ET of the last trading
day) and connects to it, with no configuration at all. Both go through
:func:`tui_trader.engine.runtime.running_engine`, the same path as the headless engine and
the tests.

Decisions:
- The terminal belongs to the app, so logs go to a file (``tui-trader.log`` in the user log
  dir, or ``--log-file``) with account ids masked, never to the screen.
- The engine is started before the app, but returns after its first connection attempt;
  bars and the first scan load in the background while the first frame is already drawn,
  and a gateway that is not up yet shows as RECONNECTING in the footer, not as a hang.
- SIGHUP (the SSH session or terminal went away) and SIGTERM exit the app cleanly: the
  engine stops, working orders stay at IB, and the journal is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

from platformdirs import user_log_dir

from tui_trader.config import APP_NAME
from tui_trader.core.settings import Settings
from tui_trader.engine.engine import as_actions
from tui_trader.engine.runtime import configure_logging, running_engine
from tui_trader.tui.app import create_app


def default_log_path() -> Path:
    """Where the dashboard writes its log (the terminal is the app's)."""
    return Path(user_log_dir(APP_NAME)) / "tui-trader.log"


async def run_dashboard(
    settings: Settings,
    *,
    demo: bool,
    seed: int = 7,
    theme: str | None = None,
    log_path: Path | None = None,
    journal_path: Path | None = None,
) -> int:
    """Run the engine and the dashboard until the user quits; 0 after a clean exit."""
    path = log_path or default_log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    configure_logging(path)
    async with running_engine(settings, demo=demo, seed=seed, journal_path=journal_path) as engine:
        app = create_app(settings, engine.store, clock=engine.now, engine=as_actions(engine),
                         theme=theme or settings.ui.theme, bell=settings.ui.bell)  # fmt: skip
        loop = asyncio.get_running_loop()
        handled: list[signal.Signals] = []
        for sig in (signal.SIGHUP, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, app.exit)
                handled.append(sig)
        try:
            await app.run_async()
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)
    return app.return_code or 0
