"""Issue 13, defect 8: the ansi theme drew the payoff chart black on black, in 256-colour
and true-colour codes. A 16-colour theme draws it with the terminal's 16 ANSI colours (and
its default colours) only: every rendered segment of the chart is checked."""

from __future__ import annotations

from rich.color import ColorType
from rich.segment import Segment

from tests.tui.conftest import AppFactory
from tui_trader.tui.screens.preview import PreviewScreen
from tui_trader.tui.widgets.payoff import PayoffPlot

SIXTEEN = {ColorType.DEFAULT, ColorType.STANDARD}


def colour_types(segments: list[Segment]) -> set[ColorType]:
    found: set[ColorType] = set()
    for seg in segments:
        style = seg.style
        if style is None:
            continue
        for colour in (style.color, style.bgcolor):
            if colour is not None:
                found.add(colour.type)
    return found


async def chart_segments(make_app: AppFactory, theme: str) -> tuple[list[Segment], str]:
    app = make_app(theme=theme)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, PreviewScreen)
        plot = app.screen.query_one(PayoffPlot)
        assert plot.size.height > 3
        segments = [seg for y in range(plot.size.height) for seg in plot.render_line(y)]
        text = "".join(seg.text for seg in segments)
    return segments, text


async def test_the_ansi_theme_draws_the_payoff_in_the_16_colours_only(
    make_app: AppFactory,
) -> None:
    segments, text = await chart_segments(make_app, "ansi")
    assert "expiry /ct" in text
    assert colour_types(segments) <= SIXTEEN
    # not black on black: the plotted lines have a colour of their own (a standard one)
    standard = {
        seg.style.color.number
        for seg in segments
        if seg.style
        and seg.style.color
        and seg.style.color.type is ColorType.STANDARD
        and seg.text.strip()
    }
    assert standard and 0 not in standard  # black: invisible on a dark terminal
    assert {12, 3} <= standard  # the expiry line (blue+), the breakeven (orange: yellow)


async def test_the_dark_theme_keeps_its_true_colours(make_app: AppFactory) -> None:
    segments, _ = await chart_segments(make_app, "dark")
    assert ColorType.TRUECOLOR in colour_types(segments)
