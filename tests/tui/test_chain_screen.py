"""The option chain screen (issue 13, "trade any symbol").

Flows run the real engine against the simulated gateway (``:`` SPY enter -> the chain; a
bull call picked with ``b``; enter -> the signal path's own preview, gates and
confirmation; leaving gives the lines back); an unknown ticker is one sentence; NaN quotes
are dashes; snapshots at 80x24 and 120x40 draw a fixed chain over the demo store.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from tests.engine.conftest import (  # noqa: F401  (pytest finds fixtures by name)
    MakeEngine,
    engine_gateway,
    make_engine,
)
from tests.sim.conftest import fake_time, make_gateway  # noqa: F401
from tests.tui.conftest import AppFactory, RecordingEngine
from tests.tui.test_flows_gateway import dashboard, open_msft_preview, settle, wait_for
from tests.tui.test_snapshots import NARROW, WIDE, SnapCompare, steps
from tui_trader.core.chain_table import ChainRow, ChainView, OptionSide, nearest_index
from tui_trader.core.risk import GateCode
from tui_trader.engine.engine import Engine
from tui_trader.sim.gateway import SimGateway
from tui_trader.state.store import Preview
from tui_trader.tui.app import TraderApp
from tui_trader.tui.screens.chain import ChainScreen, chain_cells, open_interest_text
from tui_trader.tui.screens.confirm import ConfirmScreen
from tui_trader.tui.screens.preview import PreviewScreen
from tui_trader.tui.screens.ticker_prompt import TickerPrompt

SIZE = (120, 40)


async def open_chain(pilot: Pilot[None], app: TraderApp, engine: Engine, text: str) -> ChainScreen:
    await pilot.press("colon")
    await pilot.pause()
    assert isinstance(app.screen, TickerPrompt)
    await pilot.press(*text, "enter")
    await wait_for(
        pilot,
        lambda: (
            (v := engine.store.get(ChainView)).symbol == text.upper()
            and not v.loading
            and (v.rows or v.error)
        ),
        f"the {text} chain",
    )
    screen = app.screen
    assert isinstance(screen, ChainScreen)
    return screen


async def test_colon_spy_picks_a_bull_call_into_the_same_preview_gates_and_confirmation(
    make_engine: MakeEngine,  # noqa: F811
    engine_gateway: SimGateway,  # noqa: F811
    tmp_path: Path,
) -> None:
    engine = await make_engine()
    app = dashboard(engine, tmp_path)
    budget = engine.marketdata.budget
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        before = budget.active
        chain = await open_chain(pilot, app, engine, "SPY")
        view = engine.store.get(ChainView)
        assert len(view.rows) == 10 and budget.active == before + 20  # SPY streams already
        strikes = [r.strike for r in view.rows]
        atm = nearest_index(strikes, view.spot)
        assert atm is not None
        assert chain.table.highlighted_key == f"{strikes[atm]:g}"  # the cursor at the money
        assert str(chain.table.cells(f"{strikes[atm]:g}")[5]) == f"{strikes[atm]:g}"

        await pilot.press("b")  # buy the money strike, sell the next one up
        assert (chain.long_strike, chain.short_strike) == (strikes[atm], strikes[atm + 1])
        assert str(chain.table.cells(f"{strikes[atm]:g}")[6]) == "BUY"
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: (s := engine.store.get(Preview).spec) is not None and s.underlying == "SPY",
            "the SPY preview",
        )
        preview = app.screen
        assert isinstance(preview, PreviewScreen) and preview.symbol == "SPY"
        spec = engine.store.get(Preview).spec
        assert spec is not None and spec.direction == "LONG" and spec.long_leg.right == "C"
        assert (spec.long_leg.strike, spec.short_leg.strike) == (strikes[atm], strikes[atm + 1])
        assert preview.order_row() is not None  # the one candidate is the order
        gate = engine.store.get(Preview).gate
        assert gate is not None and gate.ok

        await pilot.press("t")  # the signal path's confirmation, declined
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, PreviewScreen)

        await pilot.press("escape")  # back to the chain, then out of it
        await settle(pilot)
        assert app.screen is chain  # type: ignore[comparison-overlap]
        await pilot.press("escape")
        await wait_for(pilot, lambda: engine.store.get(ChainView).symbol == "", "the close")
        # the legs stay while their preview is alive; the chain's own lines are back
        assert budget.active == before + 2


async def test_a_blocking_gate_shows_the_same_reason_as_for_a_signal(
    make_engine: MakeEngine,  # noqa: F811
    engine_gateway: SimGateway,  # noqa: F811
    tmp_path: Path,
) -> None:
    engine = await make_engine()
    await engine.kill_switch()
    app = dashboard(engine, tmp_path)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        await open_msft_preview(pilot, engine)
        signal_gate = engine.store.get(Preview).gate
        assert signal_gate is not None and signal_gate.reason_code is GateCode.HALTED
        signal_line = str(preview_line(app))
        await pilot.press("escape")
        await settle(pilot)

        chain = await open_chain(pilot, app, engine, "SPY")
        await pilot.press("b", "enter")
        await wait_for(
            pilot,
            lambda: (s := engine.store.get(Preview).spec) is not None and s.underlying == "SPY",
            "the SPY preview",
        )
        gate = engine.store.get(Preview).gate
        assert gate is not None and not gate.ok
        assert (gate.reason_code, gate.message) == (signal_gate.reason_code, signal_gate.message)
        assert "HALTED" in str(preview_line(app)) and "HALTED" in signal_line
        await pilot.press("t")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmScreen)  # a refused order asks nothing
        assert chain.is_attached


def preview_line(app: TraderApp) -> object:
    from textual.widgets import Static

    return app.screen.query_one("#order-line", Static).render()


async def test_an_unknown_ticker_is_one_sentence_and_a_non_ticker_stays_in_the_prompt(
    make_engine: MakeEngine,  # noqa: F811
    engine_gateway: SimGateway,  # noqa: F811
    tmp_path: Path,
) -> None:
    from textual.widgets import Label, Static

    engine = await make_engine()
    app = dashboard(engine, tmp_path)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("colon", "1", "enter")
        await pilot.pause()
        prompt = app.screen
        assert isinstance(prompt, TickerPrompt)
        error = str(prompt.query_one("#ticker-error", Label).render())
        assert error == "'1' is not a ticker (letters first, e.g. SPY)."
        await pilot.press("escape")
        await pilot.pause()

        chain = await open_chain(pilot, app, engine, "ZZZQ")
        head = str(chain.query_one("#chain-head", Static).render())
        assert head == "Unknown ticker ZZZQ: IB does not know it."
        assert chain.table.row_count == 0


def test_nan_quotes_are_dashes() -> None:
    cells = [str(c) for c in chain_cells(ChainRow(450.0), atm=False, pick="")]
    assert cells == ["-"] * 5 + ["450", ""] + ["-"] * 5
    ib_marker = OptionSide(7, math.nan, 1.7976931348623157e308, math.inf, -math.inf, math.nan)
    cells = [str(c) for c in chain_cells(ChainRow(450.0, call=ib_marker), atm=True, pick="")]
    assert cells[:5] == ["-"] * 5


#: Open interest of the fixed chain by strike 440-485 (calls, puts): larger near the
#: money (460/465), the 440 call without any (IB sent none), the 485 put unlisted.
FIXED_OI = (
    (math.nan, 8_412), (2_150, 15_230), (9_870, 31_905), (18_040, 64_210),
    (52_377, 128_644), (131_902, 47_015), (58_260, 12_006), (22_481, 4_390),
    (7_305, 1_260), (1_234_567, math.nan),
)  # fmt: skip


def test_open_interest_is_written_in_full_when_wide_and_compact_when_narrow() -> None:
    full = [open_interest_text(v, compact=False) for v in (0, 7, 1_234, 131_902, 1_234_567)]
    assert full == ["0", "7", "1,234", "131,902", "1,234,567"]
    values = (0, 9_999, 10_000, 12_345, 99_949, 99_950, 131_902, 999_499, 999_500, 1_234_567,
              98_765_432, 123_456_789)  # fmt: skip
    compact = [open_interest_text(v, compact=True) for v in values]
    assert compact == ["0", "9,999", "10.0k", "12.3k", "99.9k", "100k", "132k", "999k",
                       "1.0M", "1.2M", "98.8M", "123M"]  # fmt: skip
    assert all(len(c) <= 5 for c in compact)
    for missing in (math.nan, math.inf, 1.7976931348623157e308, -1.0):
        assert open_interest_text(missing, compact=True) == "-"
    row = fixed_chain().rows[5]  # 465: 131,902 calls, 47,015 puts
    wide = [str(c) for c in chain_cells(row, atm=False, pick="")]
    narrow = [str(c) for c in chain_cells(row, atm=False, pick="", compact=True)]
    assert (wide[0], wide[-1], narrow[0], narrow[-1]) == ("131,902", "47,015", "132k", "47.0k")


async def test_the_screen_writes_open_interest_for_its_width(make_app: AppFactory) -> None:
    app = make_app(engine=RecordingEngine())
    async with app.run_test(size=NARROW) as pilot:
        await chain_steps()(pilot)
        chain = app.screen
        assert isinstance(chain, ChainScreen)
        assert str(chain.table.cells("465")[0]) == "132k"
        assert str(chain.table.cells("440")[0]) == "-"  # IB sent none
        await pilot.resize_terminal(*WIDE)
        await pilot.pause()
        assert str(chain.table.cells("465")[0]) == "131,902"
        assert str(chain.table.cells("485")[0]) == "1,234,567"


def fixed_chain() -> ChainView:
    """A chain a reader can check by eye: SPY at 462.30, strikes 440-485, calls' delta
    falling with the strike; the 485 put unlisted, open interest from ``FIXED_OI``."""
    rows = []
    for i, k in enumerate(range(440, 490, 5)):
        intrinsic_c, intrinsic_p = max(462.3 - k, 0.0), max(k - 462.3, 0.0)
        call_oi, put_oi = FIXED_OI[i]
        call = OptionSide(
            1000 + i, round(intrinsic_c + 6.0 - 0.2 * i, 2), round(intrinsic_c + 6.2 - 0.2 * i, 2),
            0.20 + 0.004 * i, round(0.85 - 0.07 * i, 2), float(call_oi),
        )  # fmt: skip
        put = (
            OptionSide()
            if k == 485
            else OptionSide(
                2000 + i,
                round(intrinsic_p + 4.0 + 0.1 * i, 2),
                round(intrinsic_p + 4.2 + 0.1 * i, 2),
                0.22 + 0.003 * i,
                round(-0.15 - 0.07 * i, 2),
                float(put_oi),
            )
        )
        rows.append(ChainRow(float(k), call, put))
    expiries = (date(2026, 12, 18), date(2027, 1, 15), date(2027, 2, 19))
    return ChainView("SPY", 462.30, expiries, 0, tuple(rows))


def chain_steps(*keys: str) -> Callable[[Pilot[Any]], Awaitable[None]]:
    """``:`` SPY enter over the recording engine, the fixed chain published as the engine
    would, then ``keys``."""

    async def run(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, TraderApp)
        await pilot.pause()
        await pilot.press("colon", "S", "P", "Y", "enter")
        await app.workers.wait_for_complete()
        app.store.set(ChainView, fixed_chain())
        await pilot.pause()
        await steps(*keys)(pilot)

    return run


def test_chain_120x40(snap_compare: SnapCompare, make_app: AppFactory) -> None:
    engine = RecordingEngine()
    app = make_app(engine=engine)
    assert snap_compare(app, terminal_size=WIDE, run_before=chain_steps("up", "b"))
    assert ("open_chain", ("SPY",)) in engine.calls


def test_chain_80x24(snap_compare: SnapCompare, make_app: AppFactory) -> None:
    app = make_app(engine=RecordingEngine())
    assert snap_compare(app, terminal_size=NARROW, run_before=chain_steps("d", "b"))


async def test_keys_pick_refuse_a_wrong_pair_and_ask_the_engine(make_app: AppFactory) -> None:
    from tui_trader.tui.screens.help import HelpScreen

    engine = RecordingEngine()
    app = make_app(engine=engine)
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await chain_steps()(pilot)
        chain = app.screen
        assert isinstance(chain, ChainScreen) and chain.table.highlighted_key == "460"
        await pilot.press("right_square_bracket")
        await app.workers.wait_for_complete()
        assert engine.calls[-1] == ("step_chain", (1, 0))
        await pilot.press("greater_than_sign")
        await app.workers.wait_for_complete()
        assert engine.calls[-1] == ("step_chain", (0, 1))

        await pilot.press("d", "b", "down", "s", "enter")  # bear put: buy 460, sell 465
        await app.workers.wait_for_complete()
        assert (chain.direction, chain.long_strike, chain.short_strike) == ("SHORT", 460, 465)
        assert [n.message for n in app._notifications][-1] == (
            "A bear put buys the higher strike: long 460 must be above short 465."
        )
        assert "preview_chain_spread" not in engine.names()

        await pilot.press("up", "up", "s", "enter")  # sell 455
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert engine.calls[-1] == ("preview_chain_spread", ("SHORT", 460.0, 455.0))
        assert isinstance(app.screen, PreviewScreen) and app.screen.symbol == "SPY"
        await pilot.press("escape", "escape")
        await app.workers.wait_for_complete()
        assert engine.calls[-1] == ("close_chain", ())

        await pilot.press("question_mark")
        await pilot.pause()
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        listed = {(h, d) for h, rows in help_screen.sections() for _, d in rows}
        for b in ChainScreen.BINDINGS:
            assert ("Option chain (any symbol)", b.description) in listed  # type: ignore[union-attr]
        assert ("Everywhere", "Trade any symbol: type a ticker, open its chain") in listed
