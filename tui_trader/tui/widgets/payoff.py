"""The payoff plot of the previewed spread: at expiry and today, breakeven and spot marked.

The UI computes no trading numbers here. The expiry line joins the spread's corners: a
vertical debit spread's payoff at expiry is flat at ``-max_loss`` beyond the long strike on
the losing side, flat at ``+max_profit`` beyond the short strike, and a straight line
between them, with those values (strikes, max profit, max loss, breakeven) from
``core.spreads`` through the store. The "today" curve is ``core.payoff.value_today`` over
a grid of underlying prices, with the legs' implied vols from the Preview slice; without a
usable IV for both legs (None, NaN, IB's markers, <= 0) it is not drawn and the legend says
"today: no IV".

Both curves are for ``quantity`` spreads (multiplier included): the whole order's P&L in
account currency when the plotted spread is the order's (issue 13: "the chart is for one
contract while the order is for several"), one spread otherwise. ``max_profit`` and
``max_loss`` stay per spread, as ``core.spreads`` reports them; the plot scales them. The
curves meet at expiry: today's curve uses the same debit the expiry line does (the order's
limit for the ordered spread). The legend says ``x5`` for an order of five (``/ct`` for
one) and the title "P&L of the order (x5)" or "P&L per contract".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from textual_plotext import PlotextPlot

from tui_trader.core.models import usable_number
from tui_trader.tui.widgets.plot_theme import zero_line_colour

#: Points of the "today" curve across the plotted price range.
TODAY_POINTS = 81


@dataclass(frozen=True, slots=True)
class PayoffInputs:
    """Per spread: strikes and ``debit`` per share, money in account currency (multiplier
    included). ``iv_long``/``iv_short`` are annualised vols (0.25 = 25%), ``t_years``
    calendar days to expiry / 365, ``rate``/``q`` continuous (``settings.pricing``).
    ``quantity`` is how many spreads the plot is for (the order's quantity)."""

    long_strike: float
    short_strike: float
    is_call: bool
    max_profit: float
    max_loss: float
    breakeven: float
    spot: float | None
    debit: float | None = None
    multiplier: float = 100.0
    iv_long: float | None = None
    iv_short: float | None = None
    t_years: float | None = None
    rate: float = 0.0
    q: float = 0.0
    quantity: int = 1

    @property
    def scale(self) -> int:
        """The number of spreads plotted: ``quantity``, at least one."""
        return max(1, self.quantity)

    @property
    def label(self) -> str:
        """``x5`` for five spreads, ``/ct`` for one."""
        return "/ct" if self.scale == 1 else f"x{self.scale}"

    @property
    def has_today(self) -> bool:
        """Whether every input of the "today" curve is a usable number."""
        ivs_ok = all(
            usable_number(v) and v is not None and v > 0 for v in (self.iv_long, self.iv_short)
        )
        return (
            ivs_ok
            and self.debit is not None
            and usable_number(self.debit)
            and self.t_years is not None
            and usable_number(self.t_years)
            and usable_number(self.rate)
            and usable_number(self.q)
        )


def payoff_points(p: PayoffInputs) -> tuple[list[float], list[float]]:
    """The at-expiry polyline (x: underlying price, y: P&L of ``quantity`` spreads), left
    to right."""
    values = [p.long_strike, p.short_strike, p.breakeven]
    if p.spot is not None and usable_number(p.spot):
        values.append(p.spot)
    lo_k, hi_k = min(p.long_strike, p.short_strike), max(p.long_strike, p.short_strike)
    pad = max(max(values) - min(values), hi_k - lo_k) * 0.5
    x0, x1 = min(values) - pad, max(values) + pad
    loss, profit = p.max_loss * p.scale, p.max_profit * p.scale
    # A bull call loses below the long (lower) strike and wins above the short; a bear put
    # wins below the short (lower) strike and loses above the long.
    ys = [-loss, -loss, profit, profit] if p.is_call else [profit, profit, -loss, -loss]
    return [x0, lo_k, hi_k, x1], ys


def today_points(p: PayoffInputs) -> tuple[list[float], list[float]] | None:
    """The "today" curve over the expiry line's price range, or None without usable IVs.

    NaN values (a price the model cannot value) are dropped rather than plotted."""
    if not p.has_today:
        return None
    # Imported here, not at the top: core.payoff pulls scipy, which the first frame of the
    # dashboard does not need (tests/benchmarks/test_bench_tui.py).
    from tui_trader.core.payoff import value_today

    assert p.iv_long is not None and p.iv_short is not None  # has_today checked them
    assert p.debit is not None and p.t_years is not None
    xs, _ = payoff_points(p)
    grid = np.linspace(xs[0], xs[-1], TODAY_POINTS)
    pnl = value_today(
        grid,
        p.long_strike,
        p.short_strike,
        p.is_call,
        p.iv_long,
        p.iv_short,
        p.t_years,
        p.rate,
        p.q,
        p.debit,
        p.multiplier,
        p.scale,
    )
    keep = np.isfinite(pnl)
    if not keep.any():
        return None
    return [float(x) for x in grid[keep]], [float(y) for y in pnl[keep]]


def y_ticks(p: PayoffInputs) -> tuple[list[float], list[str]]:
    """The P&L axis' ticks: max loss, half of it, zero, half the max profit, max profit
    (of ``quantity`` spreads), labelled in whole money with thousands separators."""
    loss, profit = p.max_loss * p.scale, p.max_profit * p.scale
    ticks = [-loss, -loss / 2, 0.0, profit / 2, profit]
    return ticks, [f"{t:,.0f}" for t in ticks]


class PayoffPlot(PlotextPlot):
    """Draws :func:`payoff_points` and :func:`today_points`; :meth:`show` with None clears it."""

    DEFAULT_CSS = """
    PayoffPlot {
        height: 12;
    }
    """

    def show(self, p: PayoffInputs | None) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        if p is None:
            plt.title("no spread selected")
            self.refresh()
            return
        xs, ys = payoff_points(p)
        plt.plot(xs, ys, marker="braille", label=f"expiry {p.label}")
        today = today_points(p)
        if today is None:
            # An empty series still puts its label in the legend: why there is no curve.
            plt.plot([xs[0]], [ys[0]], marker=" ", label="today: no IV")
        else:
            plt.plot(today[0], today[1], marker="braille", color="green", label=f"today {p.label}")
        plt.horizontal_line(0.0, color=zero_line_colour(self.app.current_theme))
        plt.vertical_line(p.breakeven, color="orange")
        spot = ""
        if p.spot is not None and usable_number(p.spot):
            plt.vertical_line(p.spot, color="cyan")
            spot = f" | spot {p.spot:.2f}"
        if not p.is_call:
            # The legend sits top left, where a bear put's max-profit plateau is: headroom
            # above the plateau keeps the line visible under the legend.
            loss, profit = p.max_loss * p.scale, p.max_profit * p.scale
            span = profit + loss
            plt.ylim(-loss - 0.05 * span, profit + 0.45 * span)
        plt.yticks(*y_ticks(p))
        whose = "per contract" if p.scale == 1 else f"of the order (x{p.scale})"
        plt.title(f"P&L {whose} | BE {p.breakeven:.2f}{spot}")
        self.refresh()
