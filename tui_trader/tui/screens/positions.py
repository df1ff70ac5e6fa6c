"""The Positions screen: open spreads (never loose legs) and the account's headline numbers.

Spreads come from the ``Positions`` slice, grouped by the engine (SPEC 10): by our journal,
or paired and marked ``external`` for legs we did not place. A row shows what the engine
computed: the underlying, the spread (expiry, long/short strike, right), quantity, cost,
mark (per share), P&L in money and percent, DTE, and the stop and target levels of the
underlying with the distance from spot to them. The UI derives none of these; a field the
engine has not filled shows ``-``. ``c`` asks the engine for the closing order's preview.

Below it, the **risk** of the same spreads in the same order (issue 13), as the engine
computed it (``core.position_risk``, through ``SpreadPosition.risk``): per position, in
contracts x multiplier: delta in shares (``Δ sh``), delta in dollars (delta x spot), gamma,
theta in money per day, vega in money per vol point, breakeven at the position's cost,
max profit and max loss. Which columns show depends on the width: under 120 columns the
risk table keeps delta, delta in dollars, theta, vega, breakeven and max loss (gamma and
max profit are in the totals line); from 120 all of them. The totals line under it is
always visible; a spread without a greek (no model from IB yet) shows ``-`` and the line
says the total is partial.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.widgets import Static

from tui_trader.core.calendar import ET
from tui_trader.core.position_risk import RiskTotal, SpreadRisk, total_risk
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

#: The risk table under 120 columns (fits 80 with typical values) and from 120.
RISK_NARROW: tuple[tuple[str, str, Justify], ...] = (
    ("spread", "Spread", "left"),
    ("delta", "Δ sh", "right"),
    ("ddelta", "$Δ", "right"),
    ("theta", "Θ $/day", "right"),
    ("vega", "Vega $", "right"),
    ("be", "Breakeven", "right"),
    ("maxl", "Max loss", "right"),
)
RISK_WIDE: tuple[tuple[str, str, Justify], ...] = (
    ("spread", "Spread", "left"),
    ("qty", "Qty", "right"),
    ("delta", "Δ sh", "right"),
    ("ddelta", "$Δ", "right"),
    ("gamma", "Γ sh/$1", "right"),
    ("theta", "Θ $/day", "right"),
    ("vega", "Vega $/pt", "right"),
    ("be", "Breakeven", "right"),
    ("maxp", "Max profit", "right"),
    ("maxl", "Max loss", "right"),
)
#: The width from which the risk table shows every column.
RISK_WIDE_FROM = 120


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


def risk_label(sp: SpreadPosition) -> str:
    """``NVDA 187.5/197.5 C``: the underlying and strikes (the expiry is in the row above)."""
    longs = [leg for leg in sp.legs if leg.quantity > 0]
    shorts = [leg for leg in sp.legs if leg.quantity < 0]
    if len(longs) == 1 and len(shorts) == 1:
        lo, sh = longs[0], shorts[0]
        return f"{sp.underlying} {strike(lo.strike)}/{strike(sh.strike)} {lo.right}"
    legs = " ".join(
        f"{leg.quantity:+g}" + (f" {strike(leg.strike)}{leg.right}" if leg.right else "")
        for leg in sp.legs
    )
    return f"{sp.underlying} {legs}"


def _risk_of(sp: SpreadPosition) -> SpreadRisk | None:
    risk = getattr(sp, "risk", None)
    return risk if isinstance(risk, SpreadRisk) else None


def risk_cells(
    sp: SpreadPosition, columns: tuple[tuple[str, str, Justify], ...], palette: Palette
) -> tuple[Text, ...]:
    """The risk row of ``sp`` for ``columns`` (``-`` where the engine has no value)."""
    r = _risk_of(sp)

    def value(name: str) -> float | None:
        return field_number(r, name) if r is not None else None

    delta, ddelta = value("delta"), value("dollar_delta")
    theta = value("theta")
    cells = {
        "spread": left(risk_label(sp), "bold"),
        "qty": right(f"{sp.quantity:g}"),
        "delta": right(number(delta, 1, sign=True), palette.signed(delta)),
        "ddelta": right(number(ddelta, 0, sign=True), palette.signed(ddelta)),
        "gamma": right(number(value("gamma"), 2, sign=True)),
        "theta": right(number(theta, 2, sign=True), palette.signed(theta)),
        "vega": right(number(value("vega"), 2, sign=True)),
        "be": right(number(value("breakeven"))),
        "maxp": right(number(value("max_profit")), palette.signed(value("max_profit"))),
        "maxl": right(number(value("max_loss"))),
    }
    return tuple(cells[key] for key, _, _ in columns)


def totals_content(total: RiskTotal) -> Content:
    """The totals line (always visible): each value summed over the spreads, and what
    the sums leave out."""
    n = total.spreads
    if n == 0:
        return Content.styled("Total: no open spreads", "$muted")
    parts: list[str | tuple[str, str]] = [
        ("Total ", "bold"),
        f"{n} spread{'s' if n != 1 else ''}: ",
        f"Δ {number(total.delta, 1, sign=True)}{'' if total.delta is None else ' sh'}",
        f"  $Δ {number(total.dollar_delta, 0, sign=True)}",
        f"  Γ {number(total.gamma, 2, sign=True)}",
        f"  Θ {number(total.theta, 2, sign=True)}{'' if total.theta is None else '/day'}",
        f"  Vega {number(total.vega, 2, sign=True)}",
        f"  Max profit {number(total.max_profit)}",
        f"  Max loss {number(total.max_loss)}",
    ]
    notes = []
    if total.unknown:
        notes.append(f"risk of {total.unknown} of {n} not computed yet")
    if total.partial:
        notes.append(f"{total.partial} of {n} without greeks (no model yet)")
    if total.unbounded:
        notes.append(f"{total.unbounded} not a debit spread (no max profit/loss)")
    if notes:
        parts += ["  ", ("PARTIAL: ", "$warning bold"), "; ".join(notes)]
    return Content.assemble(*parts)


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
    #: The screen's own width classes: the risk table's column set (module doc).
    HORIZONTAL_BREAKPOINTS = [(0, "-risk-narrow"), (RISK_WIDE_FROM, "-risk-wide")]  # noqa: RUF012
    DEFAULT_CSS = """
    PositionsScreen #positions-table { height: auto; max-height: 45%; }
    PositionsScreen .risk-table { height: auto; max-height: 45%; border-top: solid $primary; }
    PositionsScreen.-risk-narrow #risk-wide { display: none; }
    PositionsScreen.-risk-wide #risk-narrow { display: none; }
    PositionsScreen #risk-total { height: auto; padding: 0 1; background: $boost; }
    """
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
        narrow = DiffTable(RISK_NARROW, id="risk-narrow", cursor=False, mirror=True)
        wide = DiffTable(RISK_WIDE, id="risk-wide", cursor=False, mirror=True)
        for table in (narrow, wide):
            table.add_class("risk-table")
            table.border_title = "Risk per position (contracts x multiplier)"
        yield narrow
        yield wide
        yield Static(id="risk-total")

    @property
    def table(self) -> DiffTable:
        return self.query_one("#positions-table", DiffTable)

    @property
    def risk_table(self) -> DiffTable:
        """The risk table this width shows (module doc)."""
        wide = (self.size.width or self.app.size.width) >= RISK_WIDE_FROM
        return self.query_one("#risk-wide" if wide else "#risk-narrow", DiffTable)

    def render_body(self) -> None:
        store = self.trader.store
        positions = store.get(Positions)
        palette = self.palette
        self._by_key = {spread_key(sp): sp for sp in positions.spreads}
        self.table.sync([(k, position_cells(sp, palette)) for k, sp in self._by_key.items()])
        for table_id, columns in (("#risk-narrow", RISK_NARROW), ("#risk-wide", RISK_WIDE)):
            self.query_one(table_id, DiffTable).sync(
                [(k, risk_cells(sp, columns, palette)) for k, sp in self._by_key.items()]
            )
        total = total_risk(_risk_of(sp) for sp in positions.spreads)
        self.query_one("#risk-total", Static).update(totals_content(total))
        self.query_one("#account-line", Static).update(account_content(store.get(Account)))
        n = len(positions.spreads)
        status = f"{n} open spread{'s' if n != 1 else ''}"
        if positions.updated_at is not None:
            status += f" · as of {positions.updated_at.astimezone(ET):%H:%M:%S} ET"
        self.set_status(status)

    def on_diff_table_row_highlighted(self, event: DiffTable.RowHighlighted) -> None:
        """The risk tables follow the positions' cursor (and a click on a risk row moves
        it): the selected spread's risk row is highlighted and stays in view however
        many spreads are open. Each table announces only a change of key, so following
        one another cannot loop."""
        if event.key is None:
            return
        for table in (self.table, *self.query(".risk-table").results(DiffTable)):
            if table is not event.table:
                table.select_key(event.key)

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
