"""The option chain screen (issue 13, "trade any symbol"), as in TWS's OptionTrader: one
expiry at a time, one row per strike, calls | strike | puts.

- **Rows**: calls' OI, delta, IV, bid, ask | strike | puts' bid, ask, IV, delta, OI, from
  the ``ChainView`` slice (the engine's chain desk streams only these strikes). A number IB
  did not send is a dash. The strike nearest the underlying's price is highlighted.
- **Open interest** (IB's generic tick 101) is written in full (``131,902``) from
  ``OI_FULL_FROM`` (100) columns; narrower, above 9,999 it is compact (``132k``, ``1.2M``,
  at most 5 characters) so the table still fits 80 columns.
- **Keys**: ``[``/``]`` the previous/next expiry, ``<``/``>`` lower/higher strikes (half a
  window a press); ``d`` switches between SPEC 5's two
  verticals (bull call, bear put); ``b`` takes the highlighted strike as the leg bought
  (and, when the sold leg is missing or no longer fits, the next strike out as the leg
  sold), ``s`` as the leg sold; ``enter`` opens the preview of that exact spread: the
  signal path's own preview, risk gates and confirmation (``PreviewScreen``). ``escape``
  leaves, and leaving gives the chain's lines back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.widgets import Static

from tui_trader.core.calendar import ET
from tui_trader.core.chain_table import (
    KIND,
    ChainRow,
    ChainView,
    Direction,
    OptionSide,
    check_pick,
    nearest_index,
)
from tui_trader.core.markers import usable_number
from tui_trader.tui.screens.base import TraderScreen
from tui_trader.tui.screens.preview import PreviewScreen
from tui_trader.tui.widgets.cells import MISSING, Palette, left, number, percent, right, strike
from tui_trader.tui.widgets.tables import DiffTable, Justify
from tui_trader.tui.widgets.title import TitleBar

COLUMNS: tuple[tuple[str, str, Justify], ...] = (
    ("c_oi", "OI", "right"),
    ("c_delta", "Δ", "right"),
    ("c_iv", "IV", "right"),
    ("c_bid", "Bid", "right"),
    ("c_ask", "Ask", "right"),
    ("strike", "Strike", "right"),
    ("pick", "Leg", "left"),
    ("p_bid", "Bid", "right"),
    ("p_ask", "Ask", "right"),
    ("p_iv", "IV", "right"),
    ("p_delta", "Δ", "right"),
    ("p_oi", "OI", "right"),
)

_ATM = Style(bold=True, reverse=True)

#: From this many columns open interest is written in full (module doc).
OI_FULL_FROM = 100


def open_interest_text(value: float | None, *, compact: bool = False) -> str:
    """Open interest in contracts: ``1,234``; when ``compact`` and above 9,999, three
    significant figures in at most 5 characters (``12.3k``, ``132k``, ``1.2M``); a dash
    when IB sent none (NaN, its markers, a negative number)."""
    if value is None or not usable_number(value) or value < 0:
        return MISSING
    v = float(value)
    if not compact or v < 10_000:
        return f"{v:,.0f}"
    for unit, scale in (("k", 1e3), ("M", 1e6)):
        x = v / scale
        if float(f"{x:.1f}") < 100:
            return f"{x:.1f}{unit}"
        if float(f"{x:.0f}") < 1000:
            return f"{x:.0f}{unit}"
    return f"{v / 1e9:.1f}B"


def row_key(k: float) -> str:
    return f"{k:g}"


def _side_cells(side: OptionSide, *, calls: bool, compact: bool) -> list[Text]:
    """Calls read outwards to the strike (OI, delta, IV, bid, ask), puts from it (bid,
    ask, IV, delta, OI), as in TWS: bid and ask sit beside the strike on both sides."""
    oi, delta, iv = (
        right(open_interest_text(side.open_interest, compact=compact)),
        right(number(side.delta)),
        right(percent(side.iv, 0)),
    )
    bid, ask = right(number(side.bid)), right(number(side.ask))
    return [oi, delta, iv, bid, ask] if calls else [bid, ask, iv, delta, oi]


def chain_cells(
    row: ChainRow, *, atm: bool, pick: str, palette: Palette | None = None, compact: bool = False
) -> tuple[Text, ...]:
    """One strike's cells (module doc); ``pick`` is "BUY"/"SELL"/"" for the chosen legs,
    ``compact`` the narrow screen's open interest."""
    pick_style: Style | str = ""
    if palette is not None and pick:
        pick_style = palette.up if pick == "BUY" else palette.down
    return (
        *_side_cells(row.call, calls=True, compact=compact),
        right(strike(row.strike), _ATM if atm else ""),
        left(pick, pick_style),
        *_side_cells(row.put, calls=False, compact=compact),
    )


class ChainScreen(TraderScreen):
    """One symbol's option chain and the vertical picked from it (module doc)."""

    TITLE = "Option chain"
    AUTO_FOCUS = "#chain-table"
    WATCHES = frozenset({ChainView})
    DEFAULT_CSS = """
    ChainScreen #chain-head {
        height: auto;
        padding: 0 1;
        background: $boost;
    }
    ChainScreen #chain-table {
        height: 1fr;
        min-height: 4;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left_square_bracket", "expiry(-1)", "Previous expiry", id="chain_expiry_prev"),
        Binding("right_square_bracket", "expiry(1)", "Next expiry", id="chain_expiry_next"),
        Binding("less_than_sign", "strikes(-1)", "Lower strikes", id="chain_strikes_down"),
        Binding("greater_than_sign", "strikes(1)", "Higher strikes", id="chain_strikes_up"),
        Binding("d", "direction", "Bull call / bear put", id="chain_direction"),
        Binding("b", "pick('long')", "Buy this strike (the long leg)", id="chain_long"),
        Binding("s", "pick('short')", "Sell this strike (the short leg)", id="chain_short"),
        Binding("enter", "preview", "Preview the picked spread", id="chain_preview"),
        Binding("escape", "back", "Back (gives the chain's lines back)", id="chain_back"),
    ]

    def __init__(self, symbol: str) -> None:
        super().__init__()
        self.symbol = symbol
        self.direction: Direction = "LONG"
        self.long_strike: float | None = None
        self.short_strike: float | None = None
        self._centred_on: tuple[str, object] | None = None

    def compose_body(self) -> Iterable[Any]:
        yield Static(id="chain-head")
        yield DiffTable(COLUMNS, id="chain-table")

    @property
    def table(self) -> DiffTable:
        return self.query_one("#chain-table", DiffTable)

    def on_mount(self) -> None:
        # TraderScreen.on_mount runs too (Textual calls it for every class of the MRO).
        self._set_title()

    def _set_title(self) -> None:
        self.title = f"Option chain · {self.symbol}"
        self.query_one(TitleBar).set_title(self.title)

    def on_unmount(self) -> None:
        engine = self.trader.engine
        if engine is not None:  # leaving gives the lines back (module doc)
            self.trader.call_engine("close the chain", lambda e: e.close_chain(), quiet=True)

    def open(self, symbol: str) -> None:
        """Show ``symbol``'s chain (the engine fetches it; the slice redraws this screen)."""
        self.symbol = symbol
        self.long_strike = self.short_strike = None
        self._set_title()
        self.trader.call_engine(
            f"open the {symbol} chain", lambda e: e.open_chain(symbol), quiet=True
        )
        self.redraw()

    # ------------------------------------------------------------------ drawing

    def view(self) -> ChainView | None:
        view = self.trader.store.get(ChainView)
        return view if view.symbol == self.symbol else None

    def render_body(self) -> None:
        view = self.view()
        rows: Sequence[ChainRow] = view.rows if view is not None else ()
        atm = nearest_index([r.strike for r in rows], view.spot) if view is not None else None
        compact = (self.size.width or self.app.size.width) < OI_FULL_FROM
        self.table.sync(
            [
                (
                    row_key(r.strike),
                    chain_cells(
                        r,
                        atm=i == atm,
                        pick=self._pick_of(r),
                        palette=self.palette,
                        compact=compact,
                    ),
                )
                for i, r in enumerate(rows)
            ]
        )
        if view is not None and atm is not None:
            centre = (view.symbol, view.expiry)
            if self._centred_on != centre:  # a new chain or expiry: the cursor at the money
                self._centred_on = centre
                self.table.select_key(row_key(rows[atm].strike))
        self.query_one("#chain-head", Static).update(self._head(view))
        self.set_status(self._status(view))

    def on_resize(self, _event: events.Resize) -> None:
        """Open interest is written for the width (module doc): redraw at the new one."""
        self.redraw()

    def _pick_of(self, row: ChainRow) -> str:
        if row.strike == self.long_strike:
            return "BUY"
        if row.strike == self.short_strike:
            return "SELL"
        return ""

    def _status(self, view: ChainView | None) -> str:
        if view is None:
            return f"loading {self.symbol} …"
        if view.error:
            return "no chain"
        return KIND[self.direction]

    def _head(self, view: ChainView | None) -> Text:
        if view is None or (view.loading and not view.rows):
            return Text(f"Asking IB for the {self.symbol} option chain …")
        if view.error:
            return Text(view.error, style="bold")
        expiry = view.expiry
        now = self.trader.now()
        dte = (
            f"{(expiry - now.astimezone(ET).date()).days} DTE, "
            if expiry is not None and now is not None
            else ""
        )
        shown = f"{expiry:%Y-%m-%d}" if expiry is not None else "-"
        keys = self._keys
        first = Text.assemble(
            (f"{view.symbol} ", "bold"),
            f"spot {number(view.spot)} · expiry {shown} ({dte}{view.expiry_index + 1}"
            f"/{len(view.expiries)}) · {keys('chain_expiry_prev')} {keys('chain_expiry_next')}"
            f" expiry · {keys('chain_strikes_down')} {keys('chain_strikes_up')} strikes",
        )
        right_ = "C" if self.direction == "LONG" else "P"
        legs = (
            f"buy {strike(self.long_strike) if self.long_strike is not None else '?'} {right_}"
            f" / sell {strike(self.short_strike) if self.short_strike is not None else '?'}"
            f" {right_}"
        )
        second = Text.assemble(
            (KIND[self.direction].capitalize(), "bold"),
            f": {legs} · {keys('chain_direction')} type · {keys('chain_long')} buy · "
            f"{keys('chain_short')} sell · {keys('chain_preview')} preview",
        )
        return Text("\n").join([first, second])

    def _keys(self, binding_id: str) -> str:
        """The keys of one of this screen's bindings now (``[ui] keys`` remaps them)."""
        return self.trader.key_display(binding_id, self.BINDINGS)

    # ------------------------------------------------------------------ actions

    def _strikes(self) -> list[float]:
        view = self.view()
        return [r.strike for r in view.rows] if view is not None else []

    def _cursor_strike(self) -> float | None:
        key = self.table.highlighted_key
        return next((k for k in self._strikes() if row_key(k) == key), None)

    def action_expiry(self, step: int) -> None:
        self.long_strike = self.short_strike = None
        self.trader.call_engine("change the expiry", lambda e: e.step_chain(step, 0), quiet=True)

    def action_strikes(self, step: int) -> None:
        self.trader.call_engine("move the strikes", lambda e: e.step_chain(0, step), quiet=True)

    def action_direction(self) -> None:
        self.direction = "SHORT" if self.direction == "LONG" else "LONG"
        self.long_strike = self.short_strike = None
        self.redraw()

    def action_pick(self, leg: str) -> None:
        k = self._cursor_strike()
        if k is None:
            self.notify("No strike is highlighted.", severity="warning")
            return
        if leg == "long":
            self.long_strike = k
            if check_pick(self.direction, k, self.short_strike) is not None:
                self.short_strike = self._next_out(k)
        else:
            self.short_strike = k
        self.redraw()

    def _next_out(self, k: float) -> float | None:
        """The next listed strike further out of the money for the direction's right."""
        strikes = self._strikes()
        i = strikes.index(k)
        j = i + 1 if self.direction == "LONG" else i - 1
        return strikes[j] if 0 <= j < len(strikes) else None

    def action_preview(self) -> None:
        problem = check_pick(self.direction, self.long_strike, self.short_strike)
        if problem is not None:
            self.notify(problem, severity="warning")
            return
        way, lo, hi, symbol = self.direction, self.long_strike, self.short_strike, self.symbol
        assert lo is not None and hi is not None
        if self.trader.call_engine(
            f"preview the {symbol} {KIND[way]}",
            lambda e: e.preview_chain_spread(way, lo, hi),
            quiet=True,
        ):
            self.app.push_screen(PreviewScreen(symbol))

    def action_back(self) -> None:
        self.dismiss()
