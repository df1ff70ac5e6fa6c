"""Plot colours for 16-colour themes (issue 13: the ansi theme drew the payoff chart black
on black).

textual-plotext derives a chart's canvas, axes and ticks from the app theme's ``surface``
and ``foreground`` as RGB: an ANSI colour such as ``ansi_default`` has no RGB of its own,
so it came out as true-colour black on black, and the data series in true colour. A theme
with ``ansi = true`` promises the terminal's own 16 colours only, so for each such theme
this registers, under the name textual-plotext looks up (``textual-auto-<theme>``), a
plotext theme of the terminal's default colours and plotext's named colours, which plotext
writes as codes 0-15 (the 16 ANSI colours). textual-plotext registers its own only when
the name is free, so this overwrites it: the app runs it once its first frame is drawn
(plotext is not imported before: the first frame does not need it) and redraws any chart
already on a screen (keys typed before the first frame may have opened a preview).
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.screen import Screen
from textual.theme import Theme

#: Data series colours, in plotting order: the terminal's 16 colours, readable on a dark
#: or light default background (no black, no white).
ANSI_SERIES = ("blue+", "green", "red", "cyan", "magenta", "orange", "blue", "green+")


def plot_theme_name(theme: str) -> str:
    """The plotext theme name textual-plotext uses for the app theme ``theme``."""
    return f"textual-auto-{theme}"


def zero_line_colour(theme: Theme) -> str | None:
    """The P&L zero line's colour: plotext draws an uncoloured line in the ticks colour it
    has when the line is added, before the theme is applied (black, code 0: invisible on
    a dark terminal), so an ANSI theme asks for the terminal's foreground; other themes
    keep plotext's (None)."""
    return "default" if theme.ansi else None


def register_plot_themes(themes: Iterable[Theme], screens: Iterable[Screen[object]] = ()) -> None:
    """A 16-colour plotext theme for each ANSI theme among ``themes`` (module doc), and
    a redraw of the charts on ``screens``."""
    from plotext._dict import themes as plotext_themes  # type: ignore[import-untyped]
    from textual_plotext import PlotextPlot

    for theme in themes:
        if theme.ansi:
            plotext_themes[plot_theme_name(theme.name)] = [
                "default",  # canvas: the terminal's background
                "default",  # axes
                "default",  # ticks: the terminal's foreground
                "default",  # ticks style
                list(ANSI_SERIES),
            ]
    for screen in screens:
        for plot in screen.query(PlotextPlot):
            plot.refresh()
