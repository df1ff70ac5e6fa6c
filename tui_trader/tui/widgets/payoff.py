"""The payoff plot of the previewed spread at expiry, with breakeven and spot marked.

The UI computes nothing here: a vertical debit spread's payoff at expiry is flat at
``-max_loss`` beyond the long strike on the losing side, flat at ``+max_profit`` beyond the
short strike, and a straight line between them. The plot joins exactly those points, whose
values (strikes, max profit, max loss, breakeven) come from ``core.spreads`` through the
store. The "today" curve needs Black-Scholes values per underlying price, which the store
does not hold yet; it is not drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual_plotext import PlotextPlot

from tui_trader.core.models import usable_number


@dataclass(frozen=True, slots=True)
class PayoffInputs:
    """Per spread: strikes per share, money in account currency (multiplier included)."""

    long_strike: float
    short_strike: float
    is_call: bool
    max_profit: float
    max_loss: float
    breakeven: float
    spot: float | None


def payoff_points(p: PayoffInputs) -> tuple[list[float], list[float]]:
    """The at-expiry polyline (x: underlying price, y: P&L per spread), left to right."""
    values = [p.long_strike, p.short_strike, p.breakeven]
    if p.spot is not None and usable_number(p.spot):
        values.append(p.spot)
    lo_k, hi_k = min(p.long_strike, p.short_strike), max(p.long_strike, p.short_strike)
    pad = max(max(values) - min(values), hi_k - lo_k) * 0.5
    x0, x1 = min(values) - pad, max(values) + pad
    if p.is_call:  # bull call: lose below the long (lower) strike, win above the short
        ys = [-p.max_loss, -p.max_loss, p.max_profit, p.max_profit]
    else:  # bear put: win below the short (lower) strike, lose above the long
        ys = [p.max_profit, p.max_profit, -p.max_loss, -p.max_loss]
    return [x0, lo_k, hi_k, x1], ys


class PayoffPlot(PlotextPlot):
    """Draws :func:`payoff_points`; :meth:`show` with None clears it."""

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
        plt.plot(xs, ys, marker="braille", label="at expiry")
        plt.horizontal_line(0.0)
        plt.vertical_line(p.breakeven, color="orange")
        spot = ""
        if p.spot is not None and usable_number(p.spot):
            plt.vertical_line(p.spot, color="cyan")
            spot = f" | spot {p.spot:.2f}"
        plt.title(f"P&L at expiry | BE {p.breakeven:.2f}{spot}")
        self.refresh()
