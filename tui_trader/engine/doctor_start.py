"""The dashboard's preflight at start (issue 11): ``tui-trader doctor``'s checks, run once
in the background beside a running engine, each cross on the Log and a count of them on
the health footer (the :class:`~tui_trader.state.store.Preflight` slice).

Decisions:

- **Never in the way.** :func:`preflight_at_start` starts one task after the engine is
  attached (so never before the first frame) and cancels it when the dashboard stops; it
  waits for the engine's boot (bars loaded, first scan published; at most
  :data:`BOOT_WAIT_S`, then it runs anyway and tells what blocks the boot), so its
  requests never compete with the boot's (the open historical requests IB caps at 50).
  Every request is on the doctor's own connection (clientId + 100), with its own message
  rate, and a failure inside it is one WARNING ``doctor`` line on the Log, never a crash.
- **Market-data lines (decision: headroom, not counting).** The doctor holds at most one
  market-data line at a time (the stock's, then one option's) and cancels each as soon
  as its check has its answer (at most ``timeout`` seconds). IB counts lines per login,
  not per client, so that line comes out of the allowance the engine's budget leaves free:
  ``[connection] max_lines`` (90 by default) below IB's allowance (100). With that
  headroom IB never refuses the engine a line because of the doctor, so the engine's
  budget and the footer's ``lines N/M`` stay exactly IB's count of the engine's lines (the
  doctor's line is not the engine's and is never shown as one). Counting the doctor's line
  in the engine's budget would show a line the engine does not hold and break that
  agreement; running before the universe streams would delay trading by the doctor's
  seconds. Without headroom (``max_lines`` at or above the allowance) the socket checks
  are **skipped**: a line taken then could make IB refuse the engine's next line (101) and
  shrink its budget; only the line budget itself is checked and the Log says to run
  ``tui-trader doctor`` before starting.
- **Orders.** The doctor's two what-if orders are never transmitted (``whatIf``) and, on
  their own clientId, never reach the engine's order book.
- **Journal.** The engine holds the journal's lock and watches its writes, so the journal
  check (which would find our own engine as "another instance") is not run.
- **Clock.** ``now`` is the clock the gateway's is compared with: this machine's for a
  real gateway (the engine's own clock *is* the gateway's), the simulated market's in the
  demo (the in-process gateway's time).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import TYPE_CHECKING

from loguru import logger

from tui_trader.core.models import EventLevel
from tui_trader.engine.doctor import STANDARD_LINES, Check, check_lines, report_crosses, run_doctor
from tui_trader.state.store import Preflight

if TYPE_CHECKING:
    from tui_trader.engine.engine import Engine

#: Seconds the preflight waits for the engine's boot before it runs anyway.
BOOT_WAIT_S = 60.0
#: Seconds each of the doctor's requests may take.
REQUEST_TIMEOUT_S = 10.0


def has_line_headroom(max_lines: int, allowance: int = STANDARD_LINES) -> bool:
    """Whether IB's allowance leaves the doctor its one line beside the engine's budget."""
    return max_lines < allowance


async def run_at_start(
    engine: Engine,
    *,
    now: Callable[[], datetime],
    timeout: float = REQUEST_TIMEOUT_S,
    boot_wait_s: float = BOOT_WAIT_S,
    allowance: int = STANDARD_LINES,
) -> list[Check] | None:
    """Run the preflight beside ``engine`` (module doc), report it on the engine's Log and
    the :class:`Preflight` slice; the checks, or None when skipped or failed."""
    store, emit = engine.store, engine.events
    settings = engine.settings  # the demo's: pointed at the simulated gateway
    store.set(Preflight, Preflight(state="running"))
    try:
        await engine.wait_booted(boot_wait_s)
        max_lines = settings.connection.max_lines
        if not has_line_headroom(max_lines, allowance):
            lines = check_lines(max_lines, allowance)
            emit(
                EventLevel.WARNING,
                "doctor",
                f"preflight at start skipped: [connection] max_lines {max_lines} leaves no "
                f"market-data line of IB's {allowance} for it; run `tui-trader doctor` "
                "before starting the dashboard",
            )
            if not lines.ok:
                report_crosses([lines], emit)
            store.set(
                Preflight,
                Preflight(
                    state="done" if not lines.ok else "skipped",
                    crosses=() if lines.ok else (lines.name,),
                    checks=1,
                    finished_at=now(),
                ),
            )
            return None
        checks = await run_doctor(settings, None, now=now, timeout=timeout, allowance=allowance)
    except Exception as exc:  # the doctor must never take the dashboard down
        logger.exception("the preflight at start failed")
        emit(EventLevel.WARNING, "doctor", f"preflight at start could not run: {exc!r}")
        store.set(Preflight, Preflight(state="failed"))
        return None
    report_crosses(checks, emit)
    crosses = tuple(c.name for c in checks if not c.ok)
    store.set(
        Preflight,
        Preflight(state="done", crosses=crosses, checks=len(checks), finished_at=now()),
    )
    logger.info("preflight at start: {} checks, crosses: {}", len(checks), list(crosses))
    return checks


@contextlib.asynccontextmanager
async def preflight_at_start(
    engine: Engine,
    *,
    enabled: bool,
    now: Callable[[], datetime],
    timeout: float = REQUEST_TIMEOUT_S,
    boot_wait_s: float = BOOT_WAIT_S,
) -> AsyncIterator[asyncio.Task[list[Check] | None] | None]:
    """While inside: :func:`run_at_start` as a background task (None when not
    ``enabled``: ``[doctor] at_start = false``); cancelled on exit, if still running."""
    if not enabled:
        yield None
        return
    task = asyncio.create_task(
        run_at_start(engine, now=now, timeout=timeout, boot_wait_s=boot_wait_s), name="preflight"
    )
    try:
        yield task
    finally:
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def reference_clock(
    engine: Engine, *, demo: bool, wall: Callable[[], datetime]
) -> Callable[[], datetime]:
    """The clock the gateway's is compared with (module doc): ``wall`` for a real gateway,
    the engine's (the simulated market's) in the demo, ``wall`` until it is known."""
    if not demo:
        return wall
    return lambda: engine.now() or wall()
