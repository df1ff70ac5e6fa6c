"""The Chart screen (issue 13, "a symbol's chart"): ``g`` on the Scanner's highlighted row
or on a spread preview; ``escape`` goes back to where it was opened.

It shows the symbol's last :data:`~tui_trader.core.chart_series.WINDOW_SESSIONS`
sessions of the engine's daily bars (:meth:`TraderHost.daily_bars`, the bars the scanner
runs on; in the demo the simulated gateway's history) with today's provisional bar from
the latest scan, as :func:`~tui_trader.core.chart_series.chart_series` computes them: price
(candles when the width allows) with SMA50, SMA200, HHV20, LLV20 and the days a strategy
fired, RSI14 beneath, and the last session's numbers as text. The title bar says how
many sessions to which day, the status whether the last bar is live. A new scan (a live
price) redraws it.

Without bars (no engine, the engine still loading them, a symbol the bars do not hold) the
screen says so in words instead of drawing an empty chart.

The trader's own strategies (issue 15): when the engine runs some
(:class:`UserStrategiesSource`), their markers are added by the same
:func:`~tui_trader.core.chart_series.chart_series` given the session's active strategies,
in a worker thread (pandas code must not hold the UI's loop; the engine's worker pool
takes one caller at a time and is the scan's, so the chart does not use it). The built-in
chart shows at once, the user markers when the thread is done. A user strategy that
faults on this chart, or that the session disabled, is one line under the chart
(``#chart-notes``); the chart does not disable anything itself.

Nothing heavy is imported with this module (the app imports it before its first frame):
plotext and the indicator kernels come in when a chart is first opened.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from loguru import logger
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Static

from tui_trader.state.store import ScanResults
from tui_trader.tui.screens.base import TraderScreen
from tui_trader.tui.screens.preview import PreviewScreen
from tui_trader.tui.screens.scanner import ScannerScreen
from tui_trader.tui.widgets.title import TitleBar

if TYPE_CHECKING:
    from datetime import date

    from tui_trader.core.bars import Bars
    from tui_trader.core.chart_series import ChartSeries
    from tui_trader.core.user_strategies import BoundStrategy
    from tui_trader.engine.user_strategies import UserScanPass


@runtime_checkable
class UserStrategiesSource(Protocol):
    """An engine running the trader's own strategies (``tui_trader.engine.engine.Engine``
    is one): its scan pass holds the session's active and disabled strategies."""

    user_pass: UserScanPass


def chart_symbol(screen: Screen[Any]) -> str | None:
    """The symbol ``g`` charts on ``screen``: the Scanner's highlighted row, the preview's
    underlying; None elsewhere (or with no row)."""
    if isinstance(screen, PreviewScreen):
        return screen.symbol
    if isinstance(screen, ScannerScreen):
        return screen.table.highlighted_key
    return None


class ChartScreen(TraderScreen):
    """Chart: one symbol's daily bars, indicators and signal markers."""

    TITLE = "Chart"
    WATCHES = frozenset({ScanResults})
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back to where the chart was opened", id="close_chart"),
    ]

    def __init__(self, symbol: str) -> None:
        super().__init__()
        self.symbol = symbol
        #: What the chart shows (None: nothing to chart; :attr:`problem` says why).
        self.series: ChartSeries | None = None
        self.problem = ""
        self._key: tuple[int, tuple[date, float] | None, tuple[str, ...]] | None = None
        #: Lines under the chart: user strategies faulted here or disabled (module doc).
        self.notes: tuple[str, ...] = ()
        #: The series (or problem) the widgets show: a scan that changed nothing for this
        #: symbol (the price ages tick every second) leaves the plots alone.
        self._shown: tuple[ChartSeries | None, str] | None = None

    def compose_body(self) -> Iterable[Any]:
        from tui_trader.tui.widgets.price_chart import PricePlot, RsiPlot  # plotext: late

        yield Static(id="chart-values")
        yield PricePlot(id="chart-price")
        yield RsiPlot(id="chart-rsi")
        yield Static(id="chart-notes")

    def on_mount(self) -> None:
        # TraderScreen.on_mount runs too (Textual calls every class's handler): no super().
        self.query_one(TitleBar).set_title(f"Chart · {self.symbol}")

    def _live(self) -> tuple[date, float] | None:
        """The latest scan's date and close for the symbol (its provisional bar)."""
        report = self.trader.store.get(ScanResults).report
        if report is None:
            return None
        row = next((r for r in report.results if r.symbol == self.symbol), None)
        if row is None or row.last_date is None or row.close is None:
            return None
        return row.last_date, row.close

    def _user(self) -> tuple[list[BoundStrategy], float, list[str]]:
        """The session's active user strategies, their time allowed, and one line per
        strategy the session disabled."""
        engine = self.trader.engine
        if not isinstance(engine, UserStrategiesSource):
            return [], 0.0, []
        session = engine.user_pass.session
        disabled = [
            f"Strategy {name} is disabled for this session: {reason}"
            for name, reason in session.disabled.items()
        ]
        return session.active(), session.timeout_s, disabled

    def _compute(self, bars: Bars | None) -> None:
        """:attr:`series` (or :attr:`problem`) for ``bars``, the latest scan and the active
        user strategies, computed again only when one of them changed."""
        live = self._live()
        user, timeout_s, disabled = self._user()
        key = (id(bars), live, tuple(s.name for s in user))
        if key == self._key:
            return
        self._key = key
        self.series, self.problem = None, ""
        self.notes = tuple(disabled)
        if bars is None:
            self.problem = (
                "No daily bars yet: the engine is still starting."
                if self.trader.starting
                else "No daily bars: no engine has loaded them yet."
                if self.trader.engine is not None
                else "No daily bars: no engine is connected to this dashboard."
            )
            return
        if self.symbol not in bars:
            self.problem = f"No daily bars for {self.symbol}: it is not in the loaded universe."
            return
        from tui_trader.core.chart_series import chart_series  # numba: late

        try:
            self.series = chart_series(bars, self.symbol, self.trader.settings.strategy, live=live)
        except ValueError as exc:
            self.problem = f"No chart for {self.symbol}: {exc}."
            return
        if user:
            names = ", ".join(s.name for s in user)
            self.notes = (f"Your strategies ({names}): computing…", *disabled)
            self.run_worker(
                self._with_user(bars, live, user, timeout_s, key, disabled),
                group="chart-user",
                exclusive=True,
                exit_on_error=False,
            )

    async def _with_user(
        self,
        bars: Bars,
        live: tuple[date, float] | None,
        user: Sequence[BoundStrategy],
        timeout_s: float,
        key: tuple[int, tuple[date, float] | None, tuple[str, ...]],
        disabled: Sequence[str],
    ) -> None:
        """The series with the user strategies' markers, computed in a thread; shown when
        nothing changed meanwhile (module doc)."""
        from tui_trader.core.chart_series import chart_series

        settings = self.trader.settings.strategy
        try:
            series = await asyncio.to_thread(
                chart_series, bars, self.symbol, settings, live=live, user=user, timeout_s=timeout_s
            )
        except Exception as exc:  # a bug, not a strategy's fault: the log has it
            logger.exception("user strategies on the chart of {} failed", self.symbol)
            if key == self._key:
                self.notes = (f"Your strategies are not drawn: {exc}", *disabled)
                self.render_body()
            return
        if key != self._key:
            return  # a newer scan or other bars: their own computation follows
        self.series = series
        faults = [f"Strategy {f.name} is not drawn: {f.reason}" for f in series.faults]
        self.notes = (*faults, *disabled)
        self.render_body()

    def render_body(self) -> None:
        from tui_trader.tui.widgets.price_chart import PricePlot, RsiPlot, values_text

        self._compute(self.trader.daily_bars())
        notes = self.query_one("#chart-notes", Static)
        notes.update("\n".join(self.notes))
        notes.display = bool(self.notes)
        if self._shown == (self.series, self.problem):
            return  # a theme change redraws the plots by itself (textual-plotext)
        self._shown = (self.series, self.problem)
        values = self.query_one("#chart-values", Static)
        price = self.query_one("#chart-price", PricePlot)
        rsi = self.query_one("#chart-rsi", RsiPlot)
        s = self.series
        if s is None:
            values.update(self.problem)
            price.show(None, self.problem)
            rsi.show(None)
            self.query_one(TitleBar).set_title(f"Chart · {self.symbol}")
            self.set_status(f"{self.trader.key_display('close_chart', ChartScreen.BINDINGS)} back")
            return
        values.update(values_text(s))
        price.show(s)
        rsi.show(s)
        # Short enough for 80 columns: the title and "esc back · last bar live" fit side
        # by side (the first day is the last less the sessions shown).
        self.query_one(TitleBar).set_title(
            f"Chart · {self.symbol} · {s.sessions} sessions to {s.days[-1].isoformat()}"
        )
        back = self.trader.key_display("close_chart", ChartScreen.BINDINGS)
        status = f"{back} back"
        if s.live:
            status += " · last bar live"
        self.set_status(status)

    def action_back(self) -> None:
        self.dismiss()
