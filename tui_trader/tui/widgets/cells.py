"""How numbers look in the dashboard's tables and panels.

The UI formats, it does not compute: every value here comes from the store as the engine
or ``core`` produced it. Conventions:

- A value that is not a real number (None, NaN, infinite, IB's 1.797e308 marker) shows as
  ``-``: never ``nan``, never a huge number that looks like a price.
- Prices have 2 decimals, money 2 decimals with thousands separators, percentages 1.
- Numbers are right-justified so decimal points line up in a column.
- Colours come from the theme's trading variables (``$pnl-up``, ``$pnl-down``, ...) through
  :class:`Palette`; table cells are Rich ``Text`` and cannot read CSS variables, so the
  palette is rebuilt when the theme changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from rich.style import Style
from rich.text import Text

from tui_trader.core.models import usable_number
from tui_trader.tui.themes import theme_colour

MISSING = "-"


def field_number(obj: object, name: str) -> float | None:
    """An optional numeric field of a store value: None when the field is absent (the
    engine has not added it yet), not a number, or not a usable number."""
    value = getattr(obj, name, None)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if usable_number(value) else None


def field_text(obj: object, name: str) -> str | None:
    """An optional text field of a store value (None when absent or empty)."""
    value = getattr(obj, name, None)
    return value if isinstance(value, str) and value else None


def number(value: float | None, digits: int = 2, *, sign: bool = False) -> str:
    """``value`` with ``digits`` decimals and thousands separators; ``-`` when unusable."""
    if value is None or not usable_number(value):
        return MISSING
    return f"{value:+,.{digits}f}" if sign else f"{value:,.{digits}f}"


def percent(value: float | None, digits: int = 1, *, sign: bool = False) -> str:
    """A fraction (0.532) as ``53.2%``; ``-`` when unusable."""
    if value is None or not usable_number(value):
        return MISSING
    return f"{value * 100:+.{digits}f}%" if sign else f"{value * 100:.{digits}f}%"


def strike(value: float) -> str:
    """A strike as the exchange writes it: 200, 202.5 (no trailing zeros)."""
    return f"{value:g}"


def age(seconds: float) -> str:
    """A compact age: ``12s``, ``3m``, ``2h05m``, ``3d``."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d"


def since(now: datetime, then: datetime) -> str:
    """How long ago ``then`` was, as :func:`age` (0 when ``then`` is in the future)."""
    return age((now - then) / timedelta(seconds=1))


@dataclass(frozen=True, slots=True)
class Palette:
    """The theme's trading colours as Rich styles, for table cells."""

    up: Style
    down: Style
    live: Style
    paper: Style
    muted: Style

    @classmethod
    def from_variables(cls, variables: Mapping[str, str]) -> Palette:
        def style(name: str) -> Style:
            return Style(color=theme_colour(variables, name).rich_color)

        return cls(
            up=style("pnl-up"),
            down=style("pnl-down"),
            live=style("live"),
            paper=style("paper"),
            muted=style("muted"),
        )

    def signed(self, value: float | None) -> Style | str:
        """Up colour above zero, down colour below, no colour at zero or unknown."""
        if value is None or not usable_number(value) or value == 0:
            return ""
        return self.up if value > 0 else self.down

    def direction(self, direction: str | None) -> Style | str:
        return {"LONG": self.up, "SHORT": self.down}.get(direction or "", "")


def right(text: str, style: Style | str = "") -> Text:
    """A right-justified cell (numbers)."""
    return Text(text, style=style, justify="right", end="")


def left(text: str, style: Style | str = "") -> Text:
    """A left-justified cell."""
    return Text(text, style=style, justify="left", end="")
