"""The Backtest screen (``6``): SPEC 12 on the daily bars the dashboard already has.

The bars are the ones the engine loaded for the universe (the scanner's; in ``--demo`` the
simulated gateway's own history), through :meth:`TraderHost.daily_bars`. The trader picks
strategies (the four built-in, toggles) and a date range (empty: the bars' own first or
last day), and ``r`` runs -- so in the demo one key back-tests the simulated market.

- **A worker thread** runs the job (:mod:`~tui_trader.tui.screens.backtest_run`), step by
  step with a progress bar; the app keeps handling keys meanwhile. ``escape`` cancels:
  the screen says "cancelled" at once and the thread's result, whenever it ends, is
  dropped. Results are drawn only when a run has finished, all at once, so a cancelled or
  failed run never leaves half a report.
- **The ranked runs** are the command's report (``tui-trader backtest``): the same runs,
  the same ranking (``m`` ranks by the next metric, sharpe first, as the command's
  default), the same cell formats (:func:`~tui_trader.core.backtest_report.fmt_metric`).
  The highlighted run's metrics, equity curve, drawdown and trades are shown below it.
- **Bad input** (no strategy, a date that is not one, a range without a trading day, no
  bars yet) is one sentence in the error colour, never a traceback; a run that fails
  unexpectedly is logged and shown in one sentence too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from loguru import logger
from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.content import Content
from textual.message import Message
from textual.widgets import Checkbox, Input, Label, ProgressBar, Static
from textual.worker import Worker, WorkerState, get_current_worker

from tui_trader.tui.screens.base import TraderScreen
from tui_trader.tui.widgets.cells import Palette, left, number, right, strike
from tui_trader.tui.widgets.tables import DiffTable, Justify

if TYPE_CHECKING:
    from tui_trader.core.backtest import RunResult, Trade
    from tui_trader.core.backtest_metrics import Metric
    from tui_trader.tui.screens.backtest_run import BacktestJob, BacktestReport

#: How a metric's value is written (``core.backtest_report.fmt_metric``).
MetricFormat = Callable[[str, "Metric"], str]

#: The metrics' column titles, in the order of ``core.backtest_metrics.METRICS``.
METRIC_TITLES: dict[str, str] = {
    "trades": "Trades",
    "win_rate": "Win",
    "avg_win": "Avg win",
    "avg_loss": "Avg loss",
    "profit_factor": "PF",
    "net_profit": "Net profit",
    "max_drawdown": "Max DD",
    "sharpe": "Sharpe",
    "cagr": "CAGR",
    "exposure": "Exposed",
    "avg_days_held": "Days",
}

RUN_COLUMNS: tuple[tuple[str, str, Justify], ...] = (
    ("rank", "#", "right"),
    ("run", "Run", "left"),
    *((name, title, "right") for name, title in METRIC_TITLES.items()),
)

TRADE_COLUMNS: tuple[tuple[str, str, Justify], ...] = (
    ("symbol", "Symbol", "left"),
    ("dir", "Dir", "left"),
    ("entry", "Entry", "left"),
    ("exit", "Exit", "left"),
    ("spread", "Spread", "left"),
    ("qty", "Qty", "right"),
    ("debit", "Debit", "right"),
    ("value", "Exit value", "right"),
    ("pnl", "P&L", "right"),
    ("reason", "Reason", "left"),
    ("strategy", "Strategy", "left"),
)

#: The ranking metric ``m`` starts from (the command's ``--metric`` default).
DEFAULT_METRIC = "sharpe"
NO_ENGINE = "No daily bars: this dashboard has no engine (run it with --demo or against TWS)."
STARTING = "No daily bars yet: the engine is starting."
NOT_LOADED = "No daily bars yet: the engine loads them once the gateway is connected."


class BacktestProgress(Message):
    """A step of run ``run_id`` is done (posted from the worker thread)."""

    def __init__(self, run_id: int, done: int, total: int) -> None:
        super().__init__()
        self.run_id, self.done, self.total = run_id, done, total


def run_cells(rank: int, run: RunResult, fmt: MetricFormat, palette: Palette) -> tuple[Text, ...]:
    """One ranked run as its table row, every metric as the command's report prints it."""
    cells = [right(str(rank)), left(run.name)]
    for name in METRIC_TITLES:
        value = run.metrics.get(name)
        style = palette.signed(value) if name == "net_profit" else ""
        cells.append(right(fmt(name, value), style))
    return tuple(cells)


def trade_cells(trade: Trade, palette: Palette) -> tuple[Text, ...]:
    """One closed spread of the highlighted run."""
    spread = (
        f"{trade.expiry} {strike(trade.long_strike)}/{strike(trade.short_strike)} {trade.right}"
    )
    return (
        left(trade.symbol),
        left(trade.direction, palette.direction(trade.direction)),
        left(trade.entry_date),
        left(trade.exit_date),
        left(spread),
        right(str(trade.contracts)),
        right(number(trade.entry_debit)),
        right(number(trade.exit_value)),
        right(number(trade.pnl), palette.signed(trade.pnl)),
        left(trade.exit_reason),
        left(trade.strategy),
    )


def compact_money(value: float) -> str:
    """An axis label: 110k, 1.2M (the exact numbers are in the metrics and trades)."""
    size = abs(value)
    if size >= 1e6:
        return f"{value / 1e6:.1f}M"
    if size >= 1e4:
        return f"{value / 1e3:.0f}k"
    return f"{value:,.0f}"


def metrics_content(run: RunResult, fmt: MetricFormat) -> Content:
    """The highlighted run's metrics in two columns, its period and its exit reasons."""
    names = list(METRIC_TITLES)
    half = (len(names) + 1) // 2
    lines = [Content.styled(f"{run.name}  {run.days[0]} to {run.days[-1]}", "bold")]
    for k in range(half):
        parts = []
        for name in (names[k], names[k + half] if k + half < len(names) else None):
            if name is not None:
                parts.append(f"{METRIC_TITLES[name]:<10}{fmt(name, run.metrics.get(name)):>9}")
        lines.append(Content("  ".join(parts)))
    reasons = Counter(t.exit_reason for t in run.trades)
    listed = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())) or "no trades"
    lines.append(Content.styled(f"exits: {listed}", "$text-muted"))
    return Content("\n").join(lines)


class BacktestScreen(TraderScreen):
    """Backtest: strategies and dates, a run in a worker, the ranked runs and the
    highlighted run's metrics, equity, drawdown and trades."""

    TITLE = "Backtest"
    AUTO_FOCUS = "#bt-runs"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "run", "Back-test the checked strategies over the dates", id="backtest_run"),
        Binding("escape", "cancel", "Cancel the running back-test", id="backtest_cancel"),
        Binding("m", "next_metric", "Rank the runs by the next metric", id="backtest_metric"),
    ]

    DEFAULT_CSS = """
    BacktestScreen {
        #bt-strategies, #bt-dates {
            height: 1;
            padding: 0 1;
            background: $boost;
        }
        #bt-strategies Checkbox {
            margin-right: 2;
        }
        #bt-progress {
            display: none;
            width: 1fr;
        }
        #bt-progress.-running {
            display: block;
        }
        #bt-dates Label {
            margin-right: 1;
        }
        #bt-dates Input {
            width: 12;
            margin-right: 2;
        }
        #bt-message {
            width: 1fr;
            height: auto;
        }
        #bt-message.-error {
            color: $error;
            text-style: bold;
        }
        #bt-runs {
            height: auto;
            max-height: 8;
        }
        #bt-detail {
            height: 2fr;
            min-height: 8;
        }
        #bt-metrics {
            width: 42;
            padding: 0 1;
        }
        #bt-trades {
            height: 1fr;
            min-height: 4;
        }
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self.metric = DEFAULT_METRIC
        #: The finished run shown (None: none yet, or cleared by a new run).
        self.report: BacktestReport | None = None
        self._worker: Worker[BacktestReport | None] | None = None
        self._run_id = 0
        self._ranked: list[RunResult] = []

    def compose_body(self) -> Iterable[Any]:
        # numpy and plotext (about 0.1 s): imported when the screen is first shown.
        from tui_trader.core.backtest_market import STRATEGIES
        from tui_trader.tui.widgets.equity import DrawdownPlot, EquityPlot

        with Horizontal(id="bt-strategies"):
            for name in STRATEGIES:
                yield Checkbox(name, True, id=f"bt-{name.lower()}", compact=True)
            yield ProgressBar(id="bt-progress", show_eta=False)
        with Horizontal(id="bt-dates"):
            yield Label("from")
            yield Input(placeholder="YYYY-MM-DD", id="bt-from", max_length=10, compact=True)
            yield Label("to")
            yield Input(placeholder="YYYY-MM-DD", id="bt-to", max_length=10, compact=True)
            yield Static(id="bt-message")
        yield DiffTable(RUN_COLUMNS, id="bt-runs")
        with Horizontal(id="bt-detail"):
            yield Static(id="bt-metrics")
            yield EquityPlot(id="bt-equity")
            yield DrawdownPlot(id="bt-drawdown")
        yield DiffTable(TRADE_COLUMNS, id="bt-trades")

    def on_mount(self) -> None:
        # TraderScreen.on_mount runs too (Textual calls every class's handler): no super().
        for box in self.query(Input):
            box.cursor_blink = self.trader.cursor_blink

    # -- what is shown -----------------------------------------------------------------

    @property
    def runs_table(self) -> DiffTable:
        return self.query_one("#bt-runs", DiffTable)

    @property
    def trades_table(self) -> DiffTable:
        return self.query_one("#bt-trades", DiffTable)

    @property
    def running(self) -> bool:
        return self._worker is not None

    def message(self) -> str:
        """The message line's text (tests read it)."""
        return str(self.query_one("#bt-message", Static).content)

    def _say(self, text: str, *, error: bool = False) -> None:
        box = self.query_one("#bt-message", Static)
        box.set_class(error, "-error")
        box.update(text)

    def chosen_strategies(self) -> list[str]:
        return [str(b.label) for b in self.query(Checkbox) if b.value]

    def _bars_problem(self) -> str | None:
        if self.trader.daily_bars() is not None:
            return None
        if self.trader.engine is None:
            return STARTING if self.trader.starting else NO_ENGINE
        return NOT_LOADED

    def _idle_hint(self) -> str:
        bars = self.trader.daily_bars()
        if bars is None:
            return self._bars_problem() or NOT_LOADED
        key = self.trader.key_display("backtest_run", BacktestScreen.BINDINGS)
        n = bars.n_symbols
        return f"{key}: back-test the loaded bars of {n} symbol{'s' * (n != 1)}"

    def render_body(self) -> None:
        self._draw_report()
        self._show_bounds()
        if self.report is None and not self.running:
            self._say(self._idle_hint(), error=self._bars_problem() is not None)
            self.set_status("no run yet")

    def _show_bounds(self) -> None:
        """The bars' first and last day as the date boxes' placeholders: what an empty box
        means."""
        from tui_trader.core.backtest_market import all_days

        bars = self.trader.daily_bars()
        days = all_days(bars) if bars is not None else None
        start, end = self.query_one("#bt-from", Input), self.query_one("#bt-to", Input)
        if days is None or days.shape[0] == 0:
            start.placeholder = end.placeholder = "YYYY-MM-DD"
        else:
            start.placeholder, end.placeholder = str(days[0]), str(days[-1])

    def on_screen_resume(self) -> None:
        # The bars may have arrived (engine attached, gateway connected) since last shown.
        if self.report is None and not self.running:
            self.redraw()

    def _draw_report(self) -> None:
        from tui_trader.core.backtest_report import fmt_metric

        report = self.report
        self._ranked = report.ranked(self.metric) if report is not None else []
        palette = self.palette
        self.runs_table.sync(
            [(r.name, run_cells(k, r, fmt_metric, palette)) for k, r in enumerate(self._ranked, 1)]
        )
        self._show_highlighted()
        if report is not None:
            job = report.job
            n, days = job.bars.n_symbols, job.last - job.first + 1
            m = self.trader.key_display("backtest_metric", BacktestScreen.BINDINGS)
            self._say(
                f"{n} symbol{'s' * (n != 1)}, {days} day{'s' * (days != 1)} · {m}: next metric"
            )
            self.set_status(f"{len(report.runs)} runs, ranked by {self.metric}")

    def _how_to(self) -> Content:
        """The metrics panel before a run: how to choose and run."""
        key = self.trader.key_display("backtest_run", BacktestScreen.BINDINGS)
        cancel = self.trader.key_display("backtest_cancel", BacktestScreen.BINDINGS)
        return Content.styled(
            "No run yet.\n"
            "tab: the strategies (space toggles),\n"
            "the dates (empty: the bars' first/last).\n"
            f"{key} runs (or enter in a date box),\n"
            f"{cancel} stops a run.",
            "$text-muted",
        )

    def highlighted_run(self) -> RunResult | None:
        key = self.runs_table.highlighted_key
        return next((r for r in self._ranked if r.name == key), None)

    def _show_highlighted(self) -> None:
        from tui_trader.core.backtest_metrics import drawdowns
        from tui_trader.core.backtest_report import fmt_metric
        from tui_trader.tui.widgets.equity import DrawdownPlot, EquityPlot

        run = self.highlighted_run()
        equity, drawdown = self.query_one(EquityPlot), self.query_one(DrawdownPlot)
        metrics = self.query_one("#bt-metrics", Static)
        if run is None:
            metrics.update(self._how_to())
            equity.clear("Equity")
            drawdown.clear("Drawdown")
            self.trades_table.sync([])
            return
        metrics.update(metrics_content(run, fmt_metric))
        days = [str(d) for d in run.days]
        equity.show(f"Equity of {run.name}", days, run.equity.tolist(), compact_money)
        dd = (-100.0 * drawdowns(run.equity)).tolist()
        drawdown.show("Drawdown", days, dd, lambda v: f"{v:.1f}%")
        palette = self.palette
        self.trades_table.sync(
            [(str(k), trade_cells(t, palette)) for k, t in enumerate(run.trades)]
        )

    def on_diff_table_row_highlighted(self, event: DiffTable.RowHighlighted) -> None:
        if event.table is self.runs_table:
            event.stop()
            self._show_highlighted()

    # -- keys --------------------------------------------------------------------------

    def action_next_metric(self) -> None:
        from tui_trader.core.backtest_metrics import METRICS

        self.metric = METRICS[(METRICS.index(self.metric) + 1) % len(METRICS)]
        if self.report is not None:
            self._draw_report()
        else:
            self._say(f"Runs will be ranked by {self.metric}.")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_run()

    def action_run(self) -> None:
        """Check the choices and start the job in a worker thread."""
        from tui_trader.tui.screens.backtest_run import JobError, plan_job

        if self.running:
            key = self.trader.key_display("backtest_cancel", BacktestScreen.BINDINGS)
            self._say(f"A back-test is already running: {key} cancels it.")
            return
        bars = self.trader.daily_bars()
        if bars is None:
            self._say(self._bars_problem() or NOT_LOADED, error=True)
            return
        try:
            job = plan_job(
                bars,
                self.trader.settings,
                self.chosen_strategies(),
                self.query_one("#bt-from", Input).value,
                self.query_one("#bt-to", Input).value,
            )
        except JobError as exc:
            self._say(str(exc), error=True)
            return
        self.report = None
        self._draw_report()  # nothing of the previous run stays while this one runs
        self._run_id += 1
        run_id = self._run_id
        bar = self.query_one("#bt-progress", ProgressBar)
        bar.update(total=job.steps, progress=0)
        bar.add_class("-running")
        key = self.trader.key_display("backtest_cancel", BacktestScreen.BINDINGS)
        self._say(f"Back-testing {', '.join(job.strategies)}, {job.period()} ({key} cancels)")
        self.set_status("running")
        self._worker = self.run_worker(
            lambda: self._work(job, run_id),
            name="backtest",
            group="backtest",
            thread=True,
            exit_on_error=False,
        )

    def _work(self, job: BacktestJob, run_id: int) -> BacktestReport | None:
        """In the worker thread: the job, its progress posted to the screen."""
        from tui_trader.tui.screens import backtest_run

        worker = get_current_worker()

        def progress(done: int, total: int) -> None:
            self.post_message(BacktestProgress(run_id, done, total))

        return backtest_run.run_job(job, progress, lambda: worker.is_cancelled)

    def on_backtest_progress(self, event: BacktestProgress) -> None:
        if event.run_id == self._run_id and self.running:
            self.query_one("#bt-progress", ProgressBar).update(
                total=event.total, progress=event.done
            )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker is not self._worker or event.state in (WorkerState.PENDING, WorkerState.RUNNING):
            return
        self._worker = None
        self.query_one("#bt-progress", ProgressBar).remove_class("-running")
        if event.state is WorkerState.SUCCESS and worker.result is not None:
            self.report = worker.result
            job = self.report.job
            logger.info(
                "back-test of {} symbols, {}: {:.2f} s",
                job.bars.n_symbols,
                job.period(),
                self.report.elapsed_s,
            )
            self._draw_report()
        elif event.state is WorkerState.ERROR:
            logger.opt(exception=worker.error).error("the back-test failed")
            self._say(f"The back-test failed: {worker.error}", error=True)
            self.set_status("failed")
        else:
            self._cancelled()

    def action_cancel(self) -> None:
        worker = self._worker
        if worker is None:
            self._say("No back-test is running.")
            return
        self._worker = None  # whatever the thread still returns is dropped
        self._run_id += 1
        worker.cancel()
        self.query_one("#bt-progress", ProgressBar).remove_class("-running")
        self._cancelled()

    def _cancelled(self) -> None:
        self.report = None
        self._draw_report()
        key = self.trader.key_display("backtest_run", BacktestScreen.BINDINGS)
        self._say(f"Back-test cancelled; {key} runs it again.")
        self.set_status("cancelled")
