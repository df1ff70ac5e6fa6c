"""Start-up: the first frame before the engine, the engine attached after it, honest until
then, and a failed start as one sentence and a non-zero exit.

The demo tests run the real engine against the in-process simulated gateway (a real socket)
with the wall clock injected (a Saturday, so the market clock is Friday 14:30 ET); the
waits are socket round-trips (``until``). The command-line tests run ``tui-trader`` as a
process (its terminal output is discarded; only the exit code and the last sentence on
stderr are read).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from tests.environment import isolated_env
from tests.sim.conftest import until
from tests.tui.conftest import RecordingEngine
from tests.tui.demo_store import APP_NOW, Demo
from tui_trader.core.models import IntentStatus
from tui_trader.core.settings import Settings
from tui_trader.engine.engine import Engine
from tui_trader.engine.runtime import EngineStartError
from tui_trader.state.store import ConnectionState, Health, Orders, Store
from tui_trader.tui import launch
from tui_trader.tui.app import STARTING_TITLE, TraderApp, create_app
from tui_trader.tui.launch import EngineFailedError, EngineLauncher
from tui_trader.tui.screens.confirm import ConfirmScreen
from tui_trader.tui.widgets.footer import CLOCK_PLACEHOLDER, HealthFooter

SIZE = (120, 40)
#: Saturday 21 November 2026, 03:00 New York: the demo market opens Friday 14:30 ET.
SATURDAY = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
MARKET_START = datetime(2026, 11, 20, 19, 30, tzinfo=UTC)


def starting_app(settings: Settings, store: Store, themes: Path) -> TraderApp:
    """The app as ``run_dashboard`` builds it: no engine, no clock, an engine on its way."""
    app = create_app(settings, store, clock=None, engine=None, starting=True,
                     user_theme_dir=themes, refresh_interval=0.0)  # fmt: skip
    app.animation_level = "none"
    return app


def footer_text(app: TraderApp) -> str:
    return app.screen.query_one(HealthFooter).text


class Frames:
    """Counts the frames the app renders (Textual calls ``_display`` with each update; the
    headless driver then skips only the write to the terminal)."""

    def __init__(self, app: TraderApp) -> None:
        self.count = 0
        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            if renderable is not None:
                self.count += 1
            original(screen, renderable)

        app._display = display  # type: ignore[method-assign]


@pytest.fixture
def themes(tmp_path: Path) -> Path:
    folder = tmp_path / "user-themes"
    folder.mkdir()
    return folder


@pytest.fixture
def footer_clocks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str]]]:
    """Every (clock, connection) text any footer put on screen, in order."""
    shown: list[tuple[str, str]] = []
    original = HealthFooter.show

    def show(self: HealthFooter, parts: Any) -> None:
        shown.append((parts["clock"].text, parts["conn"].text))
        original(self, parts)

    monkeypatch.setattr(HealthFooter, "show", show)
    yield shown


async def test_the_first_frame_comes_first_then_the_demo_engine_on_the_market_clock(
    tmp_path: Path, themes: Path, footer_clocks: list[tuple[str, str]]
) -> None:
    app = starting_app(Settings(), Store(), themes)
    frames = Frames(app)
    seen_at_attach: list[tuple[int, datetime | None, str]] = []
    attached: list[Engine] = []
    attach = app.attach_engine

    def recording_attach(engine: Any, clock: Any) -> None:
        seen_at_attach.append((frames.count, app.now(), footer_text(app)))
        attached.append(cast(Engine, engine))
        attach(engine, clock)

    app.attach_engine = recording_attach  # type: ignore[method-assign]
    launcher = EngineLauncher(app, Settings(), demo=True, journal_path=tmp_path / "j.sqlite3",
                              clock=lambda: SATURDAY)  # fmt: skip
    launcher.start()
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: launcher.attached, timeout=30.0, what="the engine attached")
        await until(lambda: "PAPER" in footer_text(app), timeout=10.0, what="the account")
        await pilot.pause()
        text = footer_text(app)
        engine = attached[0]
        assert engine.store is app.store  # the engine publishes into the store on screen
    await launcher.close()

    [(frames_before, clock_before, footer_before)] = seen_at_attach
    assert frames_before >= 1  # the first frame was rendered before the engine existed
    assert clock_before is None
    assert footer_before.splitlines()[0].split("  ")[1] == "STARTING"
    assert footer_before.splitlines()[1].startswith(f"{CLOCK_PLACEHOLDER}  window -")
    assert launcher.failure is None and launcher.attached_after_s is not None

    # After: the simulated market's clock (Friday 14:30 ET), its entry window 15 min ahead
    # (14:45 ET: late-day entries, on by default, open 75 min before the 16:00 close).
    assert "CONNECTED since 14:30:0" in text
    assert text.splitlines()[1].startswith("14:30:0")
    assert "window opens in 15m" in text

    # Never a wall-clock time: a placeholder while STARTING, then only market time.
    clocks = [clock for clock, _ in footer_clocks]
    first_real = next(i for i, c in enumerate(clocks) if c != CLOCK_PLACEHOLDER)
    assert set(clocks[:first_real]) == {CLOCK_PLACEHOLDER}
    for clock in clocks[first_real:]:
        shown = datetime.strptime(clock, "%H:%M:%S ET").time()
        assert datetime(2026, 11, 20, 14, 30).time() <= shown, clock
        assert shown <= (datetime(2026, 11, 20, 14, 30) + timedelta(seconds=30)).time(), clock
    assert all(conn == "STARTING" for clock, conn in footer_clocks[:first_real])

    # Closed with the app: the session is down, the journal closed.
    assert not engine.session.is_connected
    assert engine.store.get(Health).state is ConnectionState.DOWN


async def test_keys_before_the_engine_is_attached_say_starting_then_act(
    demo: Demo, store: Store, themes: Path
) -> None:
    app = starting_app(demo.settings, store, themes)
    frames = Frames(app)
    frames_at_first_frame: list[int] = []

    async def watch() -> None:
        await app.first_frame.wait()
        frames_at_first_frame.append(frames.count)

    watcher = asyncio.create_task(watch())
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("r")  # rescan
        await pilot.press("ctrl+k")  # kill switch: nothing to confirm while starting
        assert not isinstance(app.screen, ConfirmScreen)
        await pilot.pause()
        notes = list(app._notifications)
        assert [n.message for n in notes] == [
            "Cannot rescan yet: the engine is still starting.",
            "Cannot engage the kill switch yet: the engine is still starting.",
        ]
        assert {n.title for n in notes} == {STARTING_TITLE}
        line1, line2 = footer_text(app).splitlines()
        assert "STARTING" in line1 and "CONNECTED" not in line1  # the store's Health waits
        assert line2.startswith(f"{CLOCK_PLACEHOLDER}  window -")

        engine = RecordingEngine()
        app.attach_engine(engine, lambda: APP_NOW)
        await pilot.pause()
        line1, line2 = footer_text(app).splitlines()
        assert "CONNECTED since 14:27:55" in line1
        assert line2.startswith("14:30:00 ET  window opens in 15m")
        await pilot.press("r")
        await app.workers.wait_for_complete()
        assert engine.names() == ["rescan"]
    await watcher
    assert frames_at_first_frame and frames_at_first_frame[0] >= 1


async def test_what_the_engine_publishes_while_starting_is_drawn_not_toasted(
    demo: Demo, store: Store, themes: Path
) -> None:
    """The journal's orders (filled, rejected) and the first connection are the engine's
    initial state: toasting them would replay history at every start. After the engine is
    attached, changes toast as always."""
    empty = Store()
    app = starting_app(demo.settings, empty, themes)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause()
        empty.set(Orders, store.get(Orders))  # the demo journal: a rejected and a filled order
        assert any(i.status is IntentStatus.REJECTED for i in store.get(Orders).intents)
        assert any(i.filled for i in store.get(Orders).intents)
        empty.update(Health, state=ConnectionState.CONNECTED, since=APP_NOW)
        await pilot.pause()
        assert list(app._notifications) == []
        assert "STARTING" in footer_text(app)

        app.attach_engine(RecordingEngine(), lambda: APP_NOW)
        empty.update(Health, state=ConnectionState.RECONNECTING, since=APP_NOW)
        await pilot.pause()
        assert [(n.title, n.message) for n in app._notifications] == [
            ("Connection", "CONNECTED -> RECONNECTING")
        ]
        assert "RECONNECTING since 14:30:00" in footer_text(app)


async def test_a_journal_that_cannot_be_opened_ends_the_app_with_one_sentence(
    tmp_path: Path, themes: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    journal = blocker / "journal" / "journal.sqlite3"  # under a file, not a folder
    app = starting_app(Settings(), Store(), themes)
    launcher = EngineLauncher(app, Settings(), demo=False, journal_path=journal)
    launcher.start()
    async with app.run_test(size=SIZE):
        await until(lambda: launcher.failure is not None, timeout=30.0, what="the failure")
    await launcher.close()
    assert app.return_code == launch.ENGINE_FAILED_EXIT == 1
    assert not launcher.attached
    with pytest.raises(EngineStartError) as raised:
        launcher.raise_failure()
    assert str(raised.value) == f"cannot open the journal {journal}: Not a directory"


async def test_an_unexpected_start_failure_names_the_log_file(
    tmp_path: Path, themes: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(launch, "running_engine", broken)
    app = starting_app(Settings(), Store(), themes)
    log = tmp_path / "tui.log"
    launcher = EngineLauncher(app, Settings(), demo=False, log_path=log)
    launcher.start()
    async with app.run_test(size=SIZE):
        await until(lambda: launcher.failure is not None, timeout=30.0, what="the failure")
    await launcher.close()
    assert app.return_code == 1
    with pytest.raises(EngineFailedError) as raised:
        launcher.raise_failure()
    assert str(raised.value) == f"the engine failed to start: boom (details in {log})"


async def test_quitting_while_the_engine_connects_stops_the_start(
    tmp_path: Path, themes: Path
) -> None:
    """A gateway that accepts and never answers: the first connection attempt would wait
    its whole 10 s timeout; quitting cancels it at once and closes the socket."""
    accepted: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append((reader, writer))

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = Settings.model_validate({"connection": {"port": port, "connect_timeout_s": 10.0}})
    app = starting_app(settings, Store(), themes)
    launcher = EngineLauncher(app, settings, demo=False, journal_path=tmp_path / "j.sqlite3")
    launcher.start()
    async with app.run_test(size=SIZE):
        await until(lambda: accepted, timeout=30.0, what="the connection attempt")
    loop = asyncio.get_running_loop()
    started = loop.time()
    await launcher.close()
    assert loop.time() - started < 2.0
    assert not launcher.attached and launcher.failure is None
    reader, writer = accepted[0]
    hello = await asyncio.wait_for(reader.read(), 2.0)  # to EOF: the engine closed its socket
    assert hello.startswith(b"API\x00") and reader.at_eof()
    writer.close()
    server.close()
    await server.wait_closed()


def test_tui_trader_exits_2_with_one_sentence_when_the_journal_cannot_be_opened(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data-is-a-file"
    data.write_text("")
    done = subprocess.run(
        [sys.executable, "-m", "tui_trader.cli", "--log-file", str(tmp_path / "tui.log")],
        env=isolated_env(tmp_path, XDG_DATA_HOME=str(data)),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    journal = data / "tui-trader" / "journal.sqlite3"
    assert done.returncode == 2
    # stderr is also the app's terminal; the sentence comes after it was restored
    assert done.stderr.endswith(f"tui-trader: cannot open the journal {journal}: Not a directory\n")
    assert "Traceback" not in done.stderr
    assert "--:--:-- ET" in done.stderr  # the first frame was drawn before the engine


FIRST_FRAME_PROBE = """
import asyncio, sys
from tui_trader.core.settings import Settings
from tui_trader.state.store import Store
from tui_trader.tui.app import create_app

async def main() -> None:
    app = create_app(Settings(), Store(), clock=None, engine=None, starting=True)

    async def after_first_frame() -> None:
        await app.first_frame.wait()
        app.exit()

    task = asyncio.create_task(after_first_frame())
    await app.run_async(headless=True, size=(120, 40))
    await task

asyncio.run(main())
heavy = ("numpy", "pandas", "scipy", "numba", "exchange_calendars", "ib_insync")
print(",".join(m for m in heavy if m in sys.modules))
"""


def test_the_first_frame_needs_none_of_the_engines_heavy_imports(tmp_path: Path) -> None:
    """What makes the first frame fast (the 1.5 s target): no numpy/pandas/scipy/numba,
    no ib_insync, and no exchange calendar built for the footer's entry window."""
    done = subprocess.run(
        [sys.executable, "-c", FIRST_FRAME_PROBE],
        env=isolated_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == ""
