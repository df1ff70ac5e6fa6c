"""The Backtest screen's plots: a run's equity curve and its drawdown, one point per day.

The UI computes no trading number here: the equity is the run's own (``RunResult.equity``)
and the drawdown :func:`tui_trader.core.backtest_metrics.drawdowns` of it, the series whose
maximum is the run's ``max_drawdown``. The x axis is the day's index in the run, labelled
with the first and last month (``2024-01``: two fit under an 80-column plot); the y axis
has three labelled ticks (low, middle, high), so an account in six figures does not print
``101837.5``.

Colours: the series use plotext's named colours, which are the 16 ANSI colours (cyan for
the equity, red for the drawdown). With a 16-colour theme (``ansi = true``, e.g. the
shipped ``ansi``) the plot uses plotext's ``clear`` theme, the terminal's own foreground
and background, instead of textual-plotext's ``auto`` theme, which paints the canvas in the
theme's surface colour as 24-bit RGB -- black on black where that colour is
``ansi_default``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final, cast

from textual.theme import Theme
from textual_plotext import PlotextPlot
from textual_plotext.plot import Plot

#: plotext's theme of the terminal's own colours (no RGB canvas).
ANSI_PLOT_THEME: Final = "clear"
#: Labelled ticks on the y axis.
Y_TICKS = 3


def y_ticks(values: Sequence[float], fmt: Callable[[float], str]) -> tuple[list[float], list[str]]:
    """Low, middle and high of ``values`` (one tick when they are all equal), labelled."""
    lo, hi = min(values), max(values)
    if hi == lo:
        return [lo], [fmt(lo)]
    step = (hi - lo) / (Y_TICKS - 1)
    ticks = [lo + k * step for k in range(Y_TICKS)]
    return ticks, [fmt(t) for t in ticks]


def draw_days(
    plt: Plot,
    title: str,
    days: Sequence[str],
    values: Sequence[float],
    fmt: Callable[[float], str],
    colour: str,
    fill: bool,
) -> None:
    """Draw ``values[k]`` on day ``days[k]`` into ``plt`` (emptied first); ``fmt`` labels
    the y ticks, the x ticks are the first and last day's month."""
    plt.clear_data()
    plt.clear_figure()
    plt.title(title)
    if not values:
        return
    xs = list(range(len(values)))
    plt.plot(xs, list(values), marker="braille", color=colour, fillx=fill)
    plt.xticks([0, len(values) - 1], [days[0][:7], days[-1][:7]])
    plt.yticks(*y_ticks(values, fmt))
    ticks_in_order(cast(Any, plt).monitor)  # not in the stub: the figure's one plot


def ticks_in_order(monitor: Any) -> None:
    """Put the ticks plotext keeps back in ascending order.

    plotext (5.3) removes duplicate ticks through a ``set``, so their order, which is the
    order it writes the labels in, follows ``PYTHONHASHSEED``; where two labels crowd each
    other (two months under an 80-column plot) the first written wins the space, and the
    picture changed from one run to the next. Sorted, the left (lower) label goes first.
    """
    for ticks, labels in (("xticks", "xlabels"), ("yticks", "ylabels")):
        pairs = sorted(zip(getattr(monitor, ticks)[0], getattr(monitor, labels)[0], strict=True))
        getattr(monitor, ticks)[0] = [tick for tick, _ in pairs]
        getattr(monitor, labels)[0] = [label for _, label in pairs]


class DayPlot(PlotextPlot):
    """One series over a run's days; :meth:`show` draws it, :meth:`clear` leaves a title."""

    DEFAULT_CSS = """
    DayPlot {
        height: 1fr;
        min-height: 5;
    }
    """

    #: plotext colour of the series (one of the 16 ANSI colours).
    COLOUR = "cyan"
    #: Fill the area between the series and zero.
    FILL = False

    def on_mount(self) -> None:
        # PlotextPlot.on_mount runs too (Textual calls every class's handler): no super().
        self.app.theme_changed_signal.subscribe(self, self._follow_theme)
        self._follow_theme(self.app.current_theme)

    def _follow_theme(self, theme: Theme) -> None:
        if theme.ansi:
            self.theme = ANSI_PLOT_THEME
        else:
            self.theme = "auto"
            self._register_theme(theme.name)  # the auto theme of this app theme
        self.refresh()

    def clear(self, title: str) -> None:
        draw_days(self.plt, title, [], [], str, self.COLOUR, self.FILL)
        self.refresh()

    def show(
        self, title: str, days: Sequence[str], values: Sequence[float], fmt: Callable[[float], str]
    ) -> None:
        """``values[k]`` on day ``days[k]``; ``fmt`` labels the y ticks."""
        draw_days(self.plt, title, days, values, fmt, self.COLOUR, self.FILL)
        self.refresh()


class EquityPlot(DayPlot):
    """The equity curve (account currency)."""

    COLOUR = "cyan"


class DrawdownPlot(DayPlot):
    """The drawdown below its running peak, as a negative percentage, filled to zero."""

    COLOUR = "red"
    FILL = True
