"""The Spread preview screen: the ranked spreads for one symbol and the order about to go.

All read from the store:

- the ranked candidate spreads (``Candidates`` slice, ``core.spreads`` output, best first);
  ``up``/``down`` choose one (the engine re-prices it: ``select_spread``);
- the order (``Preview`` slice): exactly what ``t`` would send and the risk-gate verdict;
  its legs with bid/ask/mid, IV and greeks; quantity, natural/mid/limit debit, the natural
  market, max loss, net greeks, IB's what-if margin and commission and its warning;
- the highlighted spread's numbers: strikes, natural and mid debit, width, max profit and
  loss, breakeven, reward/risk, POP, net and long delta; and its payoff at expiry and
  today (the legs' IVs from the Preview slice).

Fields the engine adds to the Preview slice are read defensively (``-`` when absent).

``t`` opens the confirmation only for an order that can be sent: a priced order whose
risk gates did not refuse it. ``y`` in the modal transmits through the engine; anything
else sends nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Static

from tui_trader.core.models import SpreadOrderSpec
from tui_trader.core.pricing import PriceRefusal
from tui_trader.core.settings import Settings
from tui_trader.engine.actions import Outcome
from tui_trader.state.store import Candidates, CandidateSet, Positions, Preview, SpreadPosition
from tui_trader.tui.screens.base import TraderScreen
from tui_trader.tui.screens.confirm import ConfirmScreen, order_text
from tui_trader.tui.screens.preview_order import (
    breakeven_at,
    closing_position,
    confirm_detail,
    is_stale,
    order_content,
)
from tui_trader.tui.widgets.cells import (
    MISSING,
    field_number,
    left,
    number,
    percent,
    right,
    strike,
)
from tui_trader.tui.widgets.tables import DiffTable, Justify
from tui_trader.tui.widgets.title import TitleBar

if TYPE_CHECKING:  # a type only: core.spreads pulls scipy (slow first frame)
    from tui_trader.core.spreads import SpreadSelection
    from tui_trader.tui.widgets.payoff import PayoffInputs

COLUMNS: tuple[tuple[str, str, Justify], ...] = (
    ("rank", "#", "right"),
    ("expiry", "Expiry", "left"),
    ("dte", "DTE", "right"),
    ("strikes", "Long/Short", "left"),
    ("debit", "Debit", "right"),
    ("mid", "Mid", "right"),
    ("cost", "Cost", "right"),
    ("maxp", "Max profit", "right"),
    ("rr", "R/R", "right"),
    ("be", "Breakeven", "right"),
    ("pop", "POP", "right"),
    ("delta", "Net Δ", "right"),
)

#: Marks the row the previewed order is built from.
ORDER_MARK = "▶"


@dataclass(frozen=True, slots=True)
class SpreadRow:
    """One ranked spread of a selection, as plain numbers (index = rank - 1)."""

    index: int
    expiry: str  # YYYYMMDD
    dte: int
    right: str  # C / P
    long_strike: float
    short_strike: float
    debit: float
    mid_debit: float
    width: float
    cost: float
    max_profit: float
    max_loss: float
    reward_risk: float
    breakeven: float
    pop: float
    net_delta: float
    long_delta: float

    @property
    def key(self) -> str:
        return f"{self.expiry}|{self.right}|{self.long_strike:g}|{self.short_strike:g}"

    def matches(self, spec: SpreadOrderSpec) -> bool:
        """Whether the order spec is this spread (same expiry, right and strikes)."""
        lo, sh = spec.long_leg, spec.short_leg
        return (lo.expiry, lo.right, lo.strike, sh.strike) == (
            self.expiry,
            self.right,
            self.long_strike,
            self.short_strike,
        )


def spread_rows(selection: SpreadSelection) -> list[SpreadRow]:
    """The selection's kept spreads in rank order."""
    rows: list[SpreadRow] = []
    for i in range(len(selection)):
        rows.append(
            SpreadRow(
                index=i,
                expiry=str(selection.expiry[i]).replace("-", ""),
                dte=int(selection.dte[i]),
                right="C" if bool(selection.is_call[i]) else "P",
                long_strike=float(selection.long_strike[i]),
                short_strike=float(selection.short_strike[i]),
                debit=float(selection.debit[i]),
                mid_debit=float(selection.mid_debit[i]),
                width=float(selection.width[i]),
                cost=float(selection.cost[i]),
                max_profit=float(selection.max_profit[i]),
                max_loss=float(selection.max_loss[i]),
                reward_risk=float(selection.reward_risk[i]),
                breakeven=float(selection.breakeven[i]),
                pop=float(selection.pop[i]),
                net_delta=float(selection.net_delta[i]),
                long_delta=float(selection.long_delta[i]),
            )
        )
    return rows


def spread_cells(row: SpreadRow, in_order: bool) -> tuple[Text, ...]:
    rank = f"{ORDER_MARK}{row.index + 1}" if in_order else str(row.index + 1)
    return (
        right(rank, "bold" if in_order else ""),
        left(row.expiry),
        right(str(row.dte)),
        left(f"{strike(row.long_strike)}/{strike(row.short_strike)} {row.right}"),
        right(number(row.debit)),
        right(number(row.mid_debit)),
        right(number(row.cost)),
        right(number(row.max_profit)),
        right(number(row.reward_risk)),
        right(number(row.breakeven)),
        right(percent(row.pop)),
        right(number(row.net_delta, 3, sign=True)),
    )


def at_limit(row: SpreadRow, limit: float | None, multiplier: float) -> SpreadRow:
    """``row`` bought at ``limit`` (the previewed order's) instead of its natural debit:
    max profit, max loss, breakeven and reward/risk follow the limit (issue 13, defect 3).
    Per contract, as ``core.spreads`` reports them."""
    if limit is None:
        return row
    k = row.long_strike
    loss = limit * multiplier
    profit = (row.width - limit) * multiplier
    return replace(
        row,
        debit=limit,
        cost=loss,
        max_loss=loss,
        max_profit=profit,
        breakeven=k + limit if row.right == "C" else k - limit,
        reward_risk=profit / loss if loss > 0 else row.reward_risk,
    )


def detail_content(
    row: SpreadRow | None,
    cset: CandidateSet | None,
    limit: float | None = None,
    multiplier: float = 100.0,
) -> Content:
    """The highlighted spread's numbers (``core.spreads``), six short lines; for the
    ordered spread ``limit`` is the order's limit and the money lines are at it."""
    if row is None or cset is None:
        return Content("No spread highlighted.")
    kind = "bull call" if row.right == "C" else "bear put"
    price = (
        f"Debit {number(row.debit)} nat, {number(row.mid_debit)} mid  Width {number(row.width)}"
        if limit is None
        else f"Lim {number(limit)} (nat {number(row.debit)}, mid {number(row.mid_debit)})"
    )
    shown = at_limit(row, limit, multiplier)
    lines = [
        Content.assemble(
            (f"#{row.index + 1} ", "bold"),
            f"{row.expiry} {strike(row.long_strike)}/{strike(row.short_strike)} {row.right}"
            f", {row.dte} DTE",
        ),
        Content(price),
        Content.assemble(
            "Max profit ",
            (number(shown.max_profit), "$pnl-up"),
            "  Max loss ",
            (number(shown.max_loss), "$pnl-down"),
            " /ct" if limit is not None else "",
        ),
        Content(
            f"BE {number(shown.breakeven)}  POP {percent(row.pop)}  R/R {number(shown.reward_risk)}"
        ),
        Content(
            f"Net Δ {number(row.net_delta, 3, sign=True)}"
            f"  long Δ {number(row.long_delta, 3, sign=True)}"
        ),
        Content(f"{kind}, spot {number(cset.spot)}"),
    ]
    return Content("\n").join(lines)


LEG_COLUMNS: tuple[tuple[str, str, Justify], ...] = (
    ("side", "Leg", "left"),
    ("contract", "Contract", "left"),
    ("bid", "Bid", "right"),
    ("ask", "Ask", "right"),
    ("mid", "Mid", "right"),
    ("iv", "IV", "right"),
    ("delta", "Delta", "right"),
    ("gamma", "Gamma", "right"),
    ("vega", "Vega", "right"),
    ("theta", "Theta", "right"),
    ("age", "Quote age", "right"),
)


def leg_rows(preview: Preview) -> list[tuple[str, tuple[Text, ...]]]:
    """The previewed spread's legs with their quotes and greeks (``Preview.legs``), each
    with the action this order takes on it (a closing SELL sells the long leg)."""
    rows: list[tuple[str, tuple[Text, ...]]] = []
    spec = preview.spec
    closing = spec is not None and spec.action == "SELL"
    for k, leg in enumerate(getattr(preview, "legs", ()) or ()):
        age = field_number(leg, "quote_age_s")
        action = str(getattr(leg, "action", "?"))
        if closing:  # a leg's action is its opening side: a close does the opposite
            action = {"BUY": "SELL", "SELL": "BUY"}.get(action, action)
        rows.append(
            (
                f"{k}:{getattr(leg, 'con_id', k)}",
                (
                    left(action, "bold"),
                    left(
                        f"{getattr(leg, 'expiry', '?')} "
                        f"{strike(float(getattr(leg, 'strike', 0.0)))} {getattr(leg, 'right', '?')}"
                    ),
                    right(number(field_number(leg, "bid"))),
                    right(number(field_number(leg, "ask"))),
                    right(number(field_number(leg, "mid"))),
                    right(percent(field_number(leg, "iv"))),
                    right(number(field_number(leg, "delta"), 3, sign=True)),
                    right(number(field_number(leg, "gamma"), 4, sign=True)),
                    right(number(field_number(leg, "vega"), 3, sign=True)),
                    right(number(field_number(leg, "theta"), 3, sign=True)),
                    right(MISSING if age is None else f"{age:.1f}s"),
                ),
            )
        )
    return rows


def gate_content(preview: Preview) -> Content:
    """The order line with the risk-gate verdict, for the bar above the panels."""
    spec = preview.spec
    if spec is None:
        return Content("No order previewed yet.")
    parts: list[str | tuple[str, str]] = [("Order ", "bold"), (order_text(spec), "bold")]
    gate = preview.gate
    if isinstance(preview.price, PriceRefusal):
        parts += ["   ", ("NO PRICE", "$error bold"), f" {preview.price.message}"]
    elif gate is None and spec.action == "SELL":  # closing a spread is never gated
        parts.append("   closing order: the entry risk gates do not apply")
    elif gate is None:
        parts.append("   risk gates not checked yet")
    elif gate.ok:
        parts += ["   ", ("Risk gates OK", "$success bold"), f": {gate.contracts} contracts"]
    else:
        code = gate.reason_code.value if gate.reason_code is not None else "REFUSED"
        parts += ["   ", (f"Risk gate {code}", "$error bold"), f": {gate.message}"]
    return Content.assemble(*parts)


def leg_ivs(row: SpreadRow, preview: Preview) -> tuple[float | None, float | None]:
    """The long and short legs' IVs of ``row`` from the Preview slice, (None, None) when
    the previewed order is not this spread (the engine has not re-priced it yet).

    A leg's ``action`` is its side when the combo is bought, so BUY is the long leg, also
    in a closing preview (which sells the combo)."""
    spec = preview.spec
    if spec is None or not row.matches(spec):
        return None, None
    long_iv = short_iv = None
    for leg in preview.legs:
        if leg.action == "BUY" and leg.strike == row.long_strike:
            long_iv = leg.iv
        elif leg.action == "SELL" and leg.strike == row.short_strike:
            short_iv = leg.iv
    return long_iv, short_iv


def payoff_inputs(
    row: SpreadRow, spot: float | None, preview: Preview, settings: Settings
) -> PayoffInputs:
    """What the payoff plot draws for ``row``: its ``core.spreads`` numbers, the legs' IVs
    when the previewed order is this spread, ``t`` = DTE / 365 (calendar days, as
    ``core.options`` expects) and the rate and dividend yield of ``settings.pricing``."""
    from tui_trader.tui.widgets.payoff import PayoffInputs  # numpy: not for the first frame

    iv_long, iv_short = leg_ivs(row, preview)
    spec = preview.spec
    quantity = 1  # another spread than the order's: per contract
    if spec is not None and row.matches(spec):  # the order's spread: drawn at its limit
        row = at_limit(row, spec.limit_price, float(settings.selection.multiplier))
        quantity = spec.quantity  # and for the whole order (issue 13)
    return PayoffInputs(
        long_strike=row.long_strike,
        short_strike=row.short_strike,
        is_call=row.right == "C",
        max_profit=row.max_profit,
        max_loss=row.max_loss,
        breakeven=row.breakeven,
        spot=spot,
        debit=row.debit,
        multiplier=float(settings.selection.multiplier),
        iv_long=iv_long,
        iv_short=iv_short,
        t_years=row.dte / 365.0,
        rate=settings.pricing.risk_free_rate,
        q=settings.pricing.dividend_yield,
        quantity=quantity,
    )


class PreviewScreen(TraderScreen):
    """Spread preview for one underlying (``closing``: the preview of a closing order)."""

    TITLE = "Spread preview"
    AUTO_FOCUS = "#preview-table"
    WATCHES = frozenset({Candidates, Preview})
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("plus", "quantity(1)", "Quantity +1", id="quantity_up"),
        Binding("minus", "quantity(-1)", "Quantity -1", id="quantity_down"),
        Binding("right_square_bracket", "limit(1)", "Limit one tick up", id="limit_up"),
        Binding("left_square_bracket", "limit(-1)", "Limit one tick down", id="limit_down"),
        Binding("w", "what_if", "Refresh what-if margin and commission", id="what_if"),
        Binding("t", "transmit", "Transmit the order (asks first)", id="transmit"),
        Binding("escape", "back", "Back", id="back"),
    ]

    def __init__(self, symbol: str, *, closing: bool = False) -> None:
        super().__init__()
        self.symbol = symbol
        self.closing = closing
        self._rows: list[SpreadRow] = []
        self._cset: CandidateSet | None = None

    def compose_body(self) -> Iterable[Any]:
        # The plot pulls numpy and plotext (0.1 s), which the dashboard's first frame (the
        # scanner) does not need: imported when a preview is first opened.
        from tui_trader.tui.widgets.payoff import PayoffPlot

        yield DiffTable(COLUMNS, id="preview-table")
        yield Static(id="order-line")
        yield DiffTable(LEG_COLUMNS, id="legs-table", cursor=False)
        with Horizontal(id="preview-panels"):
            yield Static(id="spread-detail")
            yield Static(id="order-panel")
            yield PayoffPlot(id="payoff")

    @property
    def table(self) -> DiffTable:
        return self.query_one("#preview-table", DiffTable)

    def on_show(self) -> None:
        # A closing preview offers nothing else to choose: the entry candidates are hidden
        # (and Down cannot switch the detail to another spread).
        self.table.display = not self.closing
        if self.closing:
            self.query_one("#legs-table", DiffTable).focus()

    def on_mount(self) -> None:
        # Textual calls TraderScreen.on_mount after this one (handlers run for every class
        # of the MRO): no super() call, or the screen would subscribe twice.
        what = "closing order" if self.closing else ""
        self.title = f"Spread preview · {self.symbol}" + (f" · {what}" if what else "")
        self.query_one(TitleBar).set_title(self.title)

    def candidate_set(self) -> CandidateSet | None:
        sets = self.trader.store.get(Candidates).sets
        return next((s for s in reversed(sets) if s.symbol == self.symbol), None)

    def order_row(self) -> SpreadRow | None:
        """The ranked spread the previewed order is built from, if it is one of them."""
        spec = self.trader.store.get(Preview).spec
        if spec is None or spec.underlying != self.symbol:
            return None
        return next((r for r in self._rows if r.matches(spec)), None)

    def render_body(self) -> None:
        self._cset = self.candidate_set()
        self._rows = spread_rows(self._cset.selection) if self._cset is not None else []
        ordered = self.order_row()
        self.table.sync([(r.key, spread_cells(r, r is ordered)) for r in self._rows])
        preview = self.trader.store.get(Preview)
        self.query_one("#order-line", Static).update(gate_content(preview))
        self.query_one("#legs-table", DiffTable).sync(leg_rows(preview))
        self.query_one("#order-panel", Static).update(
            order_content(preview, self._multiplier, self.closed_position())
        )
        if self.closing:
            self._show_closing(preview)
        else:
            self._show_highlighted()
        self.set_status(self._status())

    @property
    def _multiplier(self) -> float:
        return float(self.trader.settings.selection.multiplier)

    def closed_position(self) -> SpreadPosition | None:
        """The held spread the previewed SELL closes (None for an opening order)."""
        spec = self.trader.store.get(Preview).spec
        if spec is None or spec.action != "SELL":
            return None
        return closing_position(spec, self.trader.store.get(Positions).spreads)

    def _show_closing(self, preview: Preview) -> None:
        """The position being closed, in place of a candidate spread, and its payoff at
        the price it was bought at, for the closing order's quantity."""
        from tui_trader.tui.widgets.payoff import PayoffInputs, PayoffPlot

        spec, sp = preview.spec, self.closed_position()
        detail = self.query_one("#spread-detail", Static)
        plot = self.query_one(PayoffPlot)
        if spec is None or spec.underlying != self.symbol:
            detail.update(Content("No closing order previewed yet."))
            plot.show(None)
            return
        lo, sh = spec.long_leg, spec.short_leg
        lines = [
            Content.assemble(
                ("Closing ", "bold"),
                f"{lo.expiry} {strike(lo.strike)}/{strike(sh.strike)} {lo.right}",
            )
        ]
        debit: float | None = None
        if sp is not None:
            lines.append(Content(f"Held {sp.quantity}, closing {spec.quantity}"))
            if sp.cost is not None and sp.quantity > 0:
                debit = sp.cost / (sp.quantity * self._multiplier)
                lines.append(Content(f"Cost {number(sp.cost)} ({number(debit)}/sh)"))
            if sp.pnl is not None:
                lines.append(Content(f"Open P&L at mid {number(sp.pnl, sign=True)}"))
        detail.update(Content("\n").join(lines))
        if debit is None:
            plot.show(None)
            return
        m, width = self._multiplier, abs(sh.strike - lo.strike)
        plot.show(
            PayoffInputs(
                long_strike=lo.strike,
                short_strike=sh.strike,
                is_call=lo.right == "C",
                max_profit=(width - debit) * m,
                max_loss=debit * m,
                breakeven=breakeven_at(spec, debit),
                spot=None,
                debit=debit,
                multiplier=m,
                quantity=spec.quantity,
            )
        )

    def _status(self) -> str:
        """Short enough for the title bar at 120 columns with the title and the hint."""
        if self.closing:
            sp = self.closed_position()
            held = f" · {sp.quantity} held" if sp is not None else ""
            return f"SELL to close{held} · priced as a credit"
        cset = self._cset
        if cset is None:
            return f"no candidate spreads for {self.symbol} (yet)"
        sel = cset.selection
        rejected = ", ".join(f"{k} {v}" for k, v in sel.rejected.items() if v)
        status = f"{cset.direction} · spot {number(cset.spot)} · {len(sel)}/{sel.candidates} kept"
        return status + (f" (rejected {rejected})" if rejected else "")

    def highlighted_row(self) -> SpreadRow | None:
        key = self.table.highlighted_key
        return next((r for r in self._rows if r.key == key), None)

    def _show_highlighted(self) -> None:
        from tui_trader.tui.widgets.payoff import PayoffPlot

        row = self.highlighted_row()
        spec = self.trader.store.get(Preview).spec
        limit = (
            spec.limit_price if spec is not None and row is not None and row.matches(spec) else None
        )
        self.query_one("#spread-detail", Static).update(
            detail_content(row, self._cset, limit, self._multiplier)
        )
        plot = self.query_one(PayoffPlot)
        if row is None:
            plot.show(None)
            return
        plot.show(
            payoff_inputs(
                row,
                self._cset.spot if self._cset is not None else None,
                self.trader.store.get(Preview),
                self.trader.settings,
            )
        )

    def on_diff_table_row_highlighted(self, event: DiffTable.RowHighlighted) -> None:
        event.stop()
        if self.closing:  # nothing to choose while closing (the table is hidden)
            return
        self._show_highlighted()
        row = self.highlighted_row()
        if row is None or self.closing or self.trader.engine is None:
            return
        spec = self.trader.store.get(Preview).spec
        if spec is None or spec.underlying != self.symbol or row.matches(spec):
            return
        index = row.index
        self.trader.call_engine(
            f"select spread #{index + 1}", lambda e: e.select_spread(index), quiet=True
        )

    # -- actions -----------------------------------------------------------------------

    def action_back(self) -> None:
        self.dismiss()

    def action_quantity(self, delta: int) -> None:
        self.trader.call_engine(
            f"change the quantity by {delta:+d}", lambda e: e.adjust_quantity(delta), quiet=True
        )

    def action_limit(self, ticks: int) -> None:
        self.trader.call_engine(
            f"move the limit {ticks:+d} tick",
            lambda e: e.adjust_limit(ticks),
            self._limit_held,
            quiet=True,
        )

    def _limit_held(self, outcome: Outcome) -> None:
        """A move the engine held at the edge of the natural market is said, although it
        succeeded (a refusal is already shown by ``call_engine``)."""
        if outcome.ok and "held at the" in outcome.message:
            self.notify(outcome.message.split(". ")[0] + ".", severity="warning")

    def action_what_if(self) -> None:
        self.trader.call_engine("refresh the what-if", lambda e: e.refresh_what_if())

    def action_transmit(self) -> None:
        trader = self.trader
        if trader.engine is None:
            trader.call_engine("transmit", lambda e: e.transmit())
            return
        preview = trader.store.get(Preview)
        spec = preview.spec
        if spec is None:
            self.notify("Nothing to transmit: no order is previewed yet.", severity="warning")
            return
        if spec.underlying != self.symbol:
            self.notify(
                f"The previewed order is for {spec.underlying}, not {self.symbol}: wait for "
                f"the {self.symbol} preview to arrive.",
                title="Nothing sent",
                severity="warning",
            )
            return
        if isinstance(preview.price, PriceRefusal):
            self.notify(preview.price.message, title="Cannot transmit", severity="error")
            return
        gate = preview.gate
        if gate is not None and not gate.ok:
            code = gate.reason_code.value if gate.reason_code is not None else "REFUSED"
            self.notify(f"{code}: {gate.message}", title="Risk gate refused", severity="error")
            return
        if is_stale(preview):
            # The legs moved since the order was priced: re-price (and ask IB's what-if for
            # the new order) first, so the confirmation states the order as it is now.
            self.notify(
                "The market moved since the order was priced: re-pricing from the quotes "
                "now. Check the order and press t again.",
                title="Re-priced first",
                severity="warning",
            )
            trader.call_engine("re-price the order", lambda e: e.refresh_what_if(), quiet=True)
            return
        detail = [confirm_detail(preview, self._multiplier, self.closed_position())]
        detail.append(
            "Risk gates not checked yet: the engine checks them before sending."
            if gate is None and spec.action == "BUY"
            else ""
        )
        trader.push_screen(
            ConfirmScreen("Transmit order?", order_text(spec), " ".join(d for d in detail if d)),
            self._transmit_answer,
        )

    def _transmit_answer(self, yes: bool | None) -> None:
        if yes:
            self.trader.call_engine("transmit", lambda e: e.transmit())
