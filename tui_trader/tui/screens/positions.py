"""The Positions screen: open spreads (never loose legs) and the account's headline numbers.

Spreads come from the ``Positions`` slice, grouped by the engine (SPEC 10): by our journal,
or paired and marked ``external`` for legs we did not place. A row shows what the engine
computed: the underlying, the spread (expiry, long/short strike, right), quantity, cost,
mark (per share), P&L in money and percent, DTE, and the stop and target levels of the
underlying with the distance from spot to them. The UI derives none of these; a field the
engine has not filled shows ``-``. ``c`` asks the engine for the closing order's preview.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.widgets import Static

from tui_trader.core.calendar import ET
from tui_trader.state.store import Account, AccountMode, Positions, SpreadPosition
from tui_trader.tui.screens.base import TraderScreen
from tui_trader.tui.screens.preview import PreviewScreen
from tui_trader.tui.widgets.cells import (
    MISSING,
    Palette,
    field_number,
    field_text,
    left,
    number,
    percent,
    right,
    strike,
)
from tui_trader.tui.widgets.tables import DiffTable, Justify

COLUMNS: tuple[tuple[str, str, Justify], ...] = (
    ("und", "Underlying", "left"),
    ("spread", "Spread", "left"),
    ("qty", "Qty", "right"),
    ("cost", "Cost", "right"),
    ("mark", "Mark", "right"),
    ("pnl", "P&L", "right"),
    ("pnlpct", "P&L %", "right"),
    ("dte", "DTE", "right"),
    ("stop", "Stop (dist)", "right"),
    ("target", "Target (dist)", "right"),
    ("src", "Source", "left"),
)


def spread_label(sp: SpreadPosition) -> str:
    """``20261218 200/205 C`` (long strike first) for a long/short pair; otherwise each leg
    as ``+1 200C``."""
    longs = [leg for leg in sp.legs if leg.quantity > 0]
    shorts = [leg for leg in sp.legs if leg.quantity < 0]
    if len(longs) == 1 and len(shorts) == 1 and longs[0].expiry == shorts[0].expiry:
        lo, sh = longs[0], shorts[0]
        return f"{lo.expiry} {strike(lo.strike)}/{strike(sh.strike)} {lo.right}"
    return " ".join(f"{leg.quantity:+g} {strike(leg.strike)}{leg.right}" for leg in sp.legs)


def spread_key(sp: SpreadPosition) -> str:
    """The key the engine's ``preview_close`` takes: the position's ``key`` when it has one,
    else the journal intent id, else the legs' contract ids."""
    key = getattr(sp, "key", None)
    if isinstance(key, str) and key:
        return key
    if sp.intent_id:
        return sp.intent_id
    return "legs:" + ",".join(str(leg.con_id) for leg in sp.legs)


def _level(sp: SpreadPosition, name: str) -> str:
    """``221.30 (-1.8%)``: the level of the underlying and its distance from spot."""
    level, distance = field_number(sp, f"{name}_level"), field_number(sp, f"{name}_distance")
    if level is None:
        return MISSING
    text = number(level)
    return text if distance is None else f"{text} ({percent(distance, sign=True)})"


def position_cells(sp: SpreadPosition, palette: Palette) -> tuple[Text, ...]:
    qty = field_number(sp, "quantity")
    pnl, pnl_pct = field_number(sp, "pnl"), field_number(sp, "pnl_pct")
    dte = field_number(sp, "dte")
    return (
        left(sp.underlying, "bold"),
        left(spread_label(sp)),
        right(MISSING if qty is None else f"{qty:g}"),
        right(number(field_number(sp, "cost"))),
        right(number(field_number(sp, "mark"))),
        right(number(pnl, sign=True), palette.signed(pnl)),
        right(percent(pnl_pct, sign=True), palette.signed(pnl_pct)),
        right(MISSING if dte is None else f"{dte:g}"),
        right(_level(sp, "stop")),
        right(_level(sp, "target")),
        left("external" if sp.external else "journal", palette.muted if sp.external else ""),
    )


def account_content(account: Account) -> Content:
    """One line: NetLiq, available funds, buying power, day P&L, account and mode."""
    pnl = account.day_pnl
    pnl_style = (
        "$pnl-up"
        if pnl is not None and pnl > 0
        else "$pnl-down"
        if pnl is not None and pnl < 0
        else ""
    )
    mode = account.mode.value if account.mode is not None else "mode ?"
    mode_style = "$live bold reverse" if account.mode is AccountMode.LIVE else "$paper bold"
    parts: list[str | tuple[str, str]] = [
        f"NetLiq {number(account.net_liquidation)}",
        f"  Available {number(account.available_funds)}",
        f"  Buying power {number(account.buying_power)}",
        "  Day P&L ",
        (number(pnl, sign=True), pnl_style),
        "  ",
        (f" {mode} ", mode_style),
    ]
    if account.account_masked:
        parts.append(f" {account.account_masked}")
    if account.updated_at is not None:
        parts.append((f"  as of {account.updated_at.astimezone(ET):%H:%M:%S} ET", "$muted"))
    problem = field_text(account, "mode_problem")
    if problem:
        parts += ["\n", ("TRADING REFUSED: ", "$error bold"), problem]
    return Content.assemble(*parts)


class PositionsScreen(TraderScreen):
    """Positions: open spreads and the account."""

    TITLE = "Positions"
    AUTO_FOCUS = "#positions-table"
    WATCHES = frozenset({Positions, Account})
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "c",
            "close_position",
            "Preview the closing order for the selected spread",
            id="close_position",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._by_key: dict[str, SpreadPosition] = {}

    def compose_body(self) -> Iterable[Any]:
        yield Static(id="account-line")
        yield DiffTable(COLUMNS, id="positions-table")

    @property
    def table(self) -> DiffTable:
        return self.query_one("#positions-table", DiffTable)

    def render_body(self) -> None:
        store = self.trader.store
        positions = store.get(Positions)
        palette = self.palette
        self._by_key = {spread_key(sp): sp for sp in positions.spreads}
        self.table.sync([(k, position_cells(sp, palette)) for k, sp in self._by_key.items()])
        self.query_one("#account-line", Static).update(account_content(store.get(Account)))
        n = len(positions.spreads)
        status = f"{n} open spread{'s' if n != 1 else ''}"
        if positions.updated_at is not None:
            status += f" · as of {positions.updated_at.astimezone(ET):%H:%M:%S} ET"
        self.set_status(status)

    def action_close_position(self) -> None:
        key = self.table.highlighted_key
        sp = self._by_key.get(key) if key is not None else None
        if sp is None:
            self.notify("No open spread selected.", severity="warning")
            return
        if self.trader.call_engine(
            f"preview closing {sp.underlying}", lambda e: e.preview_close(spread_key(sp))
        ):
            self.app.push_screen(PreviewScreen(sp.underlying, closing=True))
