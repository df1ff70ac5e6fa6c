"""The Chart screen's plots: price with SMA50/SMA200, HHV20/LLV20 and the signal markers,
RSI14 with its 30/70 lines beneath, and the latest values as text.

The UI computes no trading number here: every value is
:class:`~tui_trader.core.chart_series.ChartSeries`' (core.indicators and core.strategies,
the scanner's own functions). What is decided here is only how to draw them:

- **Candles when the width allows**: one terminal column per session at least (a candle
  is a column of block characters; squeezed, neighbours overwrite each other), else the
  close as a braille line. The choice is made when the plot renders, at its real width.
- **Markers**: ``▲`` under the session's low where a LONG strategy fired, ``▼`` over its
  high where a SHORT one did (both on a CONFLICT day); which strategy it was is in the
  text above the plot (the latest days) and in the core series. The trader's own
  strategies (issue 15) are ``△`` / ``▽`` one step further out, each in its own colour
  (:data:`USER_COLOURS`, by config order), named in that colour in the legend line.
- **No plotext legend**: a legend box covers the data on a 12-line plot. The values line
  above the plot is the legend instead, each name in its series' colour.
- **Colours**: plotext's named colours only, which are the 16 ANSI colours, in every theme;
  with a 16-colour theme the canvas is the terminal's own (plot_theme registers it).
- **Deterministic ticks**: the tick labels are put in order after plotext's set-based
  de-duplication (:func:`tui_trader.tui.widgets.equity.ticks_in_order`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from rich.text import Text
from textual_plotext import PlotextPlot
from textual_plotext.plot import Plot

from tui_trader.tui.widgets.equity import ticks_in_order, y_ticks

if TYPE_CHECKING:  # numba: the drawing needs only the arrays
    from tui_trader.core.chart_series import ChartSeries, FloatArray, Marker

#: plotext colour of each series, and the Rich name of the same ANSI colour (the legend).
COLOURS: dict[str, tuple[str, str]] = {
    "close": ("blue+", "bright_blue"),
    "sma50": ("cyan", "cyan"),
    "sma200": ("magenta", "magenta"),
    "range": ("orange", "yellow"),  # HHV20 and LLV20: the channel
    "LONG": ("green+", "bright_green"),
    "SHORT": ("red", "red"),
    "rsi14": ("blue+", "bright_blue"),
    "rsi_levels": ("orange", "yellow"),
}
#: Candle colours (up, down).
CANDLE_COLOURS = ["green", "red"]
LONG_MARK = "▲"
SHORT_MARK = "▼"
#: The trader's own strategies' markers, and their colours (plotext, Rich) by config order.
USER_LONG_MARK = "△"
USER_SHORT_MARK = "▽"
USER_COLOURS: tuple[tuple[str, str], ...] = (
    ("magenta+", "bright_magenta"),
    ("cyan+", "bright_cyan"),
    ("orange+", "bright_yellow"),
    ("blue", "blue"),
)


def user_colour(s: ChartSeries, name: str) -> tuple[str, str]:
    """The (plotext, Rich) colour of user strategy ``name`` on ``s``'s chart."""
    return USER_COLOURS[s.user_strategies.index(name) % len(USER_COLOURS)]


def _glyph(m: Marker) -> str:
    if m.user:
        return USER_LONG_MARK if m.direction == "LONG" else USER_SHORT_MARK
    return LONG_MARK if m.direction == "LONG" else SHORT_MARK


#: RSI's overbought and oversold lines.
RSI_LEVELS = (30.0, 70.0)
#: Sessions whose markers the text lists (the latest first).
LISTED_MARKER_DAYS = 2


def _runs(values: FloatArray) -> list[tuple[list[int], list[float]]]:
    """The finite stretches of ``values`` as (x, y) lists: plotext draws a NaN as a point
    somewhere, so an indicator's undefined start is left out instead."""
    out: list[tuple[list[int], list[float]]] = []
    xs: list[int] = []
    ys: list[float] = []
    for k, v in enumerate(values.tolist()):
        if np.isfinite(v):
            xs.append(k)
            ys.append(v)
        elif xs:
            out.append((xs, ys))
            xs, ys = [], []
    if xs:
        out.append((xs, ys))
    return out


def _line(plt: Plot, values: FloatArray, colour: str) -> None:
    for xs, ys in _runs(values):
        plt.plot(xs, ys, marker="braille", color=colour)


def _date_ticks(plt: Plot, s: ChartSeries) -> None:
    """First, middle and last session, as dates."""
    n = s.sessions
    at = sorted({0, (n - 1) // 2, n - 1})
    plt.xticks([float(k) for k in at], [s.days[k].isoformat() for k in at])


def _price_label_width(s: ChartSeries) -> int:
    hi = float(np.nanmax(s.high)) if s.sessions else 0.0
    return len(_price(hi))


def _price(v: float) -> str:
    return f"{v:,.2f}"


def fits_candles(s: ChartSeries, width: int) -> bool:
    """Whether a plot ``width`` columns wide has a column per session once the y labels
    (the prices) and the axis are taken off."""
    return width - _price_label_width(s) - 2 >= s.sessions


def draw_price(plt: Plot, s: ChartSeries | None, width: int, message: str = "") -> bool:
    """Draw the price panel of ``s`` into ``plt`` (emptied first) for a plot ``width``
    columns wide; True when it drew candles. Without a series, ``message`` is the title."""
    plt.clear_data()
    plt.clear_figure()
    if s is None or s.sessions == 0:
        plt.title(message or "no chart")
        return False
    xs = list(range(s.sessions))
    candles = fits_candles(s, width)
    # the indicators first: what is drawn later covers them, and the price comes first
    _line(plt, s.hhv20, COLOURS["range"][0])
    _line(plt, s.llv20, COLOURS["range"][0])
    _line(plt, s.sma200, COLOURS["sma200"][0])
    _line(plt, s.sma50, COLOURS["sma50"][0])
    if candles:
        data = {
            "Open": s.open.tolist(),
            "High": s.high.tolist(),
            "Low": s.low.tolist(),
            "Close": s.close.tolist(),
        }
        # plotext's stub says dates (strings); numbers place the candles on the x axis
        cast(Any, plt).candlestick(xs, data, colors=CANDLE_COLOURS)
    else:
        _line(plt, s.close, COLOURS["close"][0])
    stack = np.vstack([s.low, s.high, s.close, s.sma50, s.sma200, s.hhv20, s.llv20])
    lo, hi = float(np.nanmin(stack)), float(np.nanmax(stack))
    pad = max(hi - lo, abs(hi) * 0.01) * 0.05
    builtin = [m for m in s.markers if not getattr(m, "user", False)]
    long_days = sorted({m.index for m in builtin if m.direction == "LONG"})
    short_days = sorted({m.index for m in builtin if m.direction == "SHORT"})
    if long_days:
        ys = [float(s.low[k]) - pad for k in long_days]
        plt.scatter(long_days, ys, marker=LONG_MARK, color=COLOURS["LONG"][0])
    if short_days:
        ys = [float(s.high[k]) + pad for k in short_days]
        plt.scatter(short_days, ys, marker=SHORT_MARK, color=COLOURS["SHORT"][0])
    user = [m for m in s.markers if getattr(m, "user", False)]
    for m in user:  # one step further out than the built-in markers
        y = (
            float(s.low[m.index]) - 2 * pad
            if m.direction == "LONG"
            else float(s.high[m.index]) + 2 * pad
        )
        plt.scatter([m.index], [y], marker=_glyph(m), color=user_colour(s, m.strategy)[0])
    margin = 3 * pad if user else 2 * pad
    plt.xlim(-0.5, s.sessions - 0.5)
    plt.ylim(lo - margin, hi + margin)
    plt.xticks([])  # the dates are under the RSI panel, on the same axis: a line saved
    plt.yticks(*y_ticks([lo, hi], _price))
    ticks_in_order(cast(Any, plt).monitor)
    return candles


def draw_rsi(plt: Plot, s: ChartSeries | None) -> None:
    """Draw RSI14 of ``s`` with its 30 and 70 lines into ``plt`` (emptied first)."""
    plt.clear_data()
    plt.clear_figure()
    if s is None or s.sessions == 0:
        return
    for level in RSI_LEVELS:
        plt.horizontal_line(level, color=COLOURS["rsi_levels"][0])
    _line(plt, s.rsi14, COLOURS["rsi14"][0])
    plt.xlim(-0.5, s.sessions - 0.5)
    plt.ylim(0.0, 100.0)
    _date_ticks(plt, s)
    # labels as wide as the price panel's, so both panels' days line up column for column
    width = _price_label_width(s)
    plt.yticks(list(RSI_LEVELS), [f"{v:.0f}".rjust(width) for v in RSI_LEVELS])
    ticks_in_order(cast(Any, plt).monitor)


def _value(s: ChartSeries, name: str, label: str, digits: int, colour: str) -> Text:
    value = s.latest(name)
    if value is None:
        return Text.assemble((label, f"bold {colour}"), f" n/a ({s.missing_reason(name)})")
    return Text.assemble((label, f"bold {colour}"), f" {value:,.{digits}f}")


def values_text(s: ChartSeries) -> Text:
    """The last session's numbers, each name in its series' colour (the plots' legend),
    then the latest sessions' signals by strategy."""
    parts: Sequence[Text] = (
        _value(s, "close", "Close", 2, COLOURS["close"][1]),
        _value(s, "sma50", "SMA50", 2, COLOURS["sma50"][1]),
        _value(s, "sma200", "SMA200", 2, COLOURS["sma200"][1]),
        _value(s, "hhv20", "HHV20", 2, COLOURS["range"][1]),
        _value(s, "llv20", "LLV20", 2, COLOURS["range"][1]),
        _value(s, "rsi14", "RSI14", 1, COLOURS["rsi14"][1]),
    )
    out = Text(" ").join(parts)
    out.append("\n")
    out.append_text(markers_text(s))
    return out


def markers_text(s: ChartSeries) -> Text:
    """``▲ LONG ▼ SHORT``, the user strategies' names (``△▽ NAME``, in their colours) and
    the strategies that fired on the latest marked sessions."""
    out = Text.assemble(
        (LONG_MARK, COLOURS["LONG"][1]),
        " LONG ",
        (SHORT_MARK, COLOURS["SHORT"][1]),
        " SHORT",
    )
    for name in getattr(s, "user_strategies", ()):
        colour = user_colour(s, name)[1]
        out.append_text(
            Text.assemble(" ", (USER_LONG_MARK + USER_SHORT_MARK, colour), (f" {name}", colour))
        )
    days = sorted({m.index for m in s.markers}, reverse=True)[:LISTED_MARKER_DAYS]
    if not days:
        out.append(f" · no signal in these {s.sessions} sessions")
        return out
    out.append(" · ")
    entries: list[Text] = []
    for k in days:
        fired = [m for m in s.markers if m.index == k]
        names = Text(" ").join(
            Text.assemble(
                (
                    _glyph(m),
                    user_colour(s, m.strategy)[1] if m.user else COLOURS[m.direction][1],
                ),
                m.strategy,
            )
            for m in fired
        )
        entries.append(Text.assemble(f"{s.days[k]:%m-%d} ", names))
    out.append_text(Text(", ").join(entries))
    total = len({m.index for m in s.markers})
    if total > len(days):
        out.append(f" (+{total - len(days)} earlier)")
    return out


class _ChartPlot(PlotextPlot):
    """A plot drawn at render time, when its width is known (candles or a line)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.series: ChartSeries | None = None
        self.message = ""
        self._drawn_for: tuple[int, int] | None = None

    def show(self, series: ChartSeries | None, message: str = "") -> None:
        """Draw ``series`` (None: ``message`` only) on the next render."""
        self.series = series
        self.message = message
        self._drawn_for = None
        self.refresh()

    def draw(self, width: int) -> None:
        """Draw the series into the plot for ``width`` columns."""

    def render(self) -> Any:
        size = (self.size.width, self.size.height)
        if self._drawn_for != size:
            self.draw(size[0])
            self._drawn_for = size
        return super().render()


class PricePlot(_ChartPlot):
    """Candles (or the close), SMA50, SMA200, HHV20, LLV20 and the signal markers."""

    DEFAULT_CSS = """
    PricePlot {
        height: 2fr;
        min-height: 6;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        #: Whether the last drawing was candles (else the close line).
        self.candles = False

    def draw(self, width: int) -> None:
        self.candles = draw_price(self.plt, self.series, width, self.message)


class RsiPlot(_ChartPlot):
    """RSI14 with the 30 and 70 lines."""

    DEFAULT_CSS = """
    RsiPlot {
        height: 1fr;
        min-height: 7;
    }
    """

    def draw(self, width: int) -> None:
        draw_rsi(self.plt, self.series)
