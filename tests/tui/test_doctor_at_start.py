"""The dashboard runs ``tui-trader doctor``'s checks at start (issue 11): any cross on the
health footer (``doctor 2✗``) and on the Log screen, nothing on the footer when all pass,
the engine's market-data lines still IB's count.

The launcher tests start the dashboard as ``run_dashboard`` does (first frame, then the
engine through :class:`EngineLauncher`) against the simulated gateway on a real socket,
with its failures played on its control port; the footer tests are pure and a snapshot.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

from rich.cells import cell_len
from textual.pilot import Pilot

from tests.engine.conftest import ENGINE_SYMBOLS, engine_settings
from tests.engine.test_doctor import control
from tests.engine.test_lines_agree import assert_agree
from tests.sim.conftest import (  # noqa: F401  (pytest finds fixtures by name)
    MakeGateway,
    fake_time,
    make_gateway,
    until,
)
from tests.tui.conftest import AppFactory
from tests.tui.demo_store import APP_NOW
from tui_trader.core.models import EventLevel, JournalEvent
from tui_trader.core.risk import BreakerState
from tui_trader.core.settings import Settings, TimingSettings
from tui_trader.engine.engine import Engine
from tui_trader.sim.gateway import SimGateway
from tui_trader.state.store import (
    Account,
    AccountMode,
    ConnectionState,
    EventLog,
    Health,
    Preflight,
    Store,
)
from tui_trader.tui.app import TraderApp, create_app
from tui_trader.tui.launch import EngineLauncher
from tui_trader.tui.screens.log import LogScreen
from tui_trader.tui.widgets.footer import LINE1, HealthFooter, doctor_part, footer_parts

NARROW = (80, 24)
WIDE = (120, 40)
SnapCompare = Callable[..., bool]
CROSSED = Preflight(state="done", crosses=("read-only", "what-if"), checks=11)


# ------------------------------------------------------------------ footer wording


def test_the_footer_part_says_the_crosses_and_nothing_otherwise() -> None:
    assert doctor_part(CROSSED, compact=True).text == "doctor 2✗"
    assert doctor_part(CROSSED, compact=True).css == "-bad"
    assert doctor_part(CROSSED, compact=False).text == "doctor 2✗ read-only, what-if"
    five = replace(CROSSED, crosses=("read-only", "stock-data", "option-data", "greeks", "what-if"))
    assert doctor_part(five, compact=False).text == "doctor 5✗ read-only, stock-data +3"
    assert doctor_part(five, compact=True).text == "doctor 5✗"
    failed = doctor_part(Preflight(state="failed"), compact=True)
    assert (failed.text, failed.css) == ("doctor ?", "-warn")
    for quiet in (
        None,
        Preflight(),
        Preflight(state="running"),
        Preflight(state="skipped", checks=1),
        Preflight(state="done", checks=11),
    ):
        assert doctor_part(quiet, compact=True).text == ""
        assert doctor_part(quiet, compact=False).text == ""


def line1(health: Health, compact: bool, preflight: Preflight | None = CROSSED) -> str:
    """Line 1 as laid out: 1 column of padding around the mode, 2 after each part."""
    parts = footer_parts(
        health,
        Account(mode=AccountMode.PAPER),
        BreakerState(),
        APP_NOW,
        TimingSettings(),
        compact=compact,
        preflight=preflight,
    )
    texts = [parts[i].text for i in LINE1 if parts[i].text]
    return " " + "  ".join(texts)


def test_line_one_with_a_cross_fits_80_columns_in_the_usual_states() -> None:
    """Connected with a last error, and reconnecting after refused attempts (the lines
    and queue make way for the reason): the cross stays on screen at 80 columns."""
    usual = Health(
        state=ConnectionState.CONNECTED,
        since=APP_NOW.replace(hour=13),
        lines_active=64,
        lines_max=90,
        last_error_code=2104,
        last_error_time=APP_NOW.replace(minute=2),
    )
    text = line1(usual, compact=True)
    assert text.endswith("err 2104 28m  doctor 2✗") and cell_len(text) <= 80, text
    refused = Health(
        state=ConnectionState.RECONNECTING,
        since=APP_NOW.replace(minute=29),
        endpoint="127.0.0.1:4002",
        connect_problem="connection refused: nothing listens there",
    )
    text = line1(refused, compact=True)
    assert text.endswith("connection refused  doctor 2✗") and cell_len(text) <= 80, text
    assert "doctor" not in line1(usual, compact=True, preflight=Preflight(state="done"))


def test_footer_with_a_cross_and_the_log_80x24(
    snap_compare: SnapCompare, make_app: AppFactory, store: Store
) -> None:
    """The Log screen at 80 columns: ``doctor 2✗`` in red at the end of footer line 1, the
    two WARNING ``doctor`` lines with their fixes at the top of the log."""
    store.set(Preflight, CROSSED)
    for text in (
        "read-only: orders refused (IB 321: The API interface is currently in Read-Only "
        'mode.) -> TWS/Gateway: Configure > API > Settings: untick "Read-Only API"',
        "what-if: MSFT 410/415 call vertical: refused (IB 321: ...) -> read IB's message",
    ):
        store.add_event(JournalEvent(time=APP_NOW, level=EventLevel.WARNING, kind="doctor",
                                     text=text))  # fmt: skip

    async def open_log(pilot: Pilot[Any]) -> None:
        await pilot.pause()
        await pilot.press("4")
        await pilot.pause()

    assert snap_compare(make_app(store_=store), terminal_size=NARROW, run_before=open_log)


# ------------------------------------------------------------------ the dashboard


def starting_app(settings: Settings, tmp_path: Path) -> TraderApp:
    themes = tmp_path / "user-themes"
    themes.mkdir(exist_ok=True)
    app = create_app(settings, Store(), clock=None, engine=None, starting=True,
                     user_theme_dir=themes, refresh_interval=0.0)  # fmt: skip
    app.animation_level = "none"
    return app


def footer_text(app: TraderApp) -> str:
    return app.screen.query_one(HealthFooter).text


async def dashboard_preflight(
    gateway: SimGateway,
    tmp_path: Path,
    size: tuple[int, int],
    check: Callable[[TraderApp, Engine, Pilot[Any]], Awaitable[None]],
) -> None:
    """Start the dashboard on the gateway, wait for its preflight, run ``check``. The wall
    clock is the simulated market's (a real gateway's clock is this machine's time)."""
    settings = engine_settings(gateway.port)
    app = starting_app(settings, tmp_path)
    attached: list[Engine] = []
    attach = app.attach_engine

    def recording_attach(engine: Any, clock: Any) -> None:
        attached.append(cast(Engine, engine))
        attach(engine, clock)

    app.attach_engine = recording_attach  # type: ignore[method-assign]
    launcher = EngineLauncher(app, settings, demo=False, journal_path=tmp_path / "j.sqlite3",
                              clock=gateway.sim_time)  # fmt: skip
    launcher.start()
    try:
        async with app.run_test(size=size) as pilot:
            await until(lambda: launcher.attached, timeout=30.0, what="the engine attached")
            await until(
                lambda: app.store.get(Preflight).state not in ("off", "running"),
                timeout=30.0,
                what="the preflight",
            )
            await pilot.pause()
            await pilot.pause()
            await check(app, attached[0], pilot)
    finally:
        await launcher.close()
    assert launcher.failure is None


def log_rows(app: TraderApp) -> list[list[str]]:
    screen = app.screen
    assert isinstance(screen, LogScreen)
    return [[c.plain for c in screen.table.cells(k)] for k in screen.table.keys]


async def test_read_only_gateway_the_cross_on_the_footer_and_the_log(
    make_gateway: MakeGateway,  # noqa: F811
    tmp_path: Path,
) -> None:
    gateway = await make_gateway(symbols=ENGINE_SYMBOLS)
    port = await gateway.start_control()
    assert await control(port, "readonly on") == "ok"

    async def check(app: TraderApp, engine: Engine, pilot: Pilot[Any]) -> None:
        assert app.store.get(Preflight).crosses == ("read-only", "what-if")
        footer = footer_text(app)
        assert footer.splitlines()[0].endswith("  doctor 2✗"), footer
        assert "PAPER  CONNECTED" in footer  # the engine runs on beside it
        await pilot.press("4")
        await pilot.pause()
        doctor = [row for row in log_rows(app) if row[2] == "doctor"]
        assert [(row[1], row[3].split(":")[0]) for row in doctor] == [
            ("WARNING", "what-if"),  # newest first
            ("WARNING", "read-only"),
        ]
        assert 'untick "Read-Only API"' in doctor[1][3]
        await assert_agree(engine, gateway, "after the preflight")
        assert engine.marketdata.budget.shrinks == 0

    await dashboard_preflight(gateway, tmp_path, NARROW, check)


async def test_healthy_gateway_no_cross_and_the_lines_agree(
    make_gateway: MakeGateway,  # noqa: F811
    tmp_path: Path,
) -> None:
    gateway = await make_gateway(symbols=ENGINE_SYMBOLS)

    async def check(app: TraderApp, engine: Engine, pilot: Pilot[Any]) -> None:
        assert app.store.get(Preflight) == replace(
            app.store.get(Preflight), state="done", crosses=(), checks=11
        )
        assert "doctor" not in footer_text(app)
        events = [e.text for e in app.store.get(EventLog).items if e.kind == "doctor"]
        assert events == ["preflight: all 11 checks pass"]
        assert await assert_agree(engine, gateway, "after the preflight") == 4

    await dashboard_preflight(gateway, tmp_path, WIDE, check)


async def test_doctor_at_start_false_runs_nothing(
    make_gateway: MakeGateway,  # noqa: F811
    tmp_path: Path,
) -> None:
    gateway = await make_gateway(symbols=ENGINE_SYMBOLS)
    settings = engine_settings(gateway.port, doctor={"at_start": False})
    app = starting_app(settings, tmp_path)
    launcher = EngineLauncher(app, settings, demo=False, journal_path=tmp_path / "j.sqlite3")
    launcher.start()
    try:
        async with app.run_test(size=NARROW):
            await until(lambda: launcher.attached, timeout=30.0, what="the engine attached")
            await until(
                lambda: app.store.get(Health).state is ConnectionState.CONNECTED,
                timeout=10.0,
                what="the connection",
            )
    finally:
        await launcher.close()
    assert app.store.get(Preflight).state == "off"
    assert not [e for e in app.store.get(EventLog).items if e.kind == "doctor"]
