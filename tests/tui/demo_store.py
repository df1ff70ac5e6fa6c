"""A store filled with real computed data: the seeded simulated market's scan and spreads
(``tui_trader.demo``), a previewed order priced and gated by ``core``, and a journal of
orders, positions, account, health and events as the engine would hold them.

Deterministic: seed 7, the scan as of :data:`SCAN_NOW`, the app clock fixed at
:data:`APP_NOW` (14:30 ET on Friday 2026-11-20, the demo market's start, 15 minutes before
the entry window opens).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tui_trader.core.models import (
    EventLevel,
    IntentStatus,
    JournalEvent,
    OrderIntent,
    SpreadLeg,
    SpreadOrderSpec,
)
from tui_trader.core.pricing import OrderPrice, PriceRefusal, limit_price, natural_quotes
from tui_trader.core.risk import GateResult, RiskInputs, check_entry
from tui_trader.core.scanner import ScanReport, SymbolScan
from tui_trader.core.settings import Settings
from tui_trader.core.spreads import SpreadSelection
from tui_trader.demo import demo_scan, demo_spreads, market_chain
from tui_trader.sim.market import Market
from tui_trader.state.store import (
    Account,
    AccountMode,
    AutoCandidateRow,
    AutoExitRow,
    Automation,
    Candidates,
    CandidateSet,
    ConnectionState,
    EventLog,
    Health,
    Orders,
    PositionLeg,
    Positions,
    Preview,
    PreviewLeg,
    ScanResults,
    SpreadPosition,
    WalkInfo,
)

SEED = 7
SCAN_NOW = datetime(2026, 11, 21, 17, 0, tzinfo=UTC)
APP_NOW = datetime(2026, 11, 20, 19, 30, tzinfo=UTC)
NET_LIQ = 100_000.0
#: The previewed symbol (a LONG signal: bull call spreads).
PREVIEW_SYMBOL = "AMZN"


@dataclass(frozen=True)
class Demo:
    settings: Settings
    market: Market
    report: ScanReport
    spreads: list[tuple[SymbolScan, SpreadSelection]]

    def selection(self, symbol: str) -> SpreadSelection:
        return next(sel for res, sel in self.spreads if res.symbol == symbol)

    def direction(self, symbol: str) -> str:
        return next(str(res.direction) for res, _ in self.spreads if res.symbol == symbol)


def build_demo() -> Demo:
    settings = Settings()
    market, report = demo_scan(settings, SEED, SCAN_NOW)
    return Demo(settings, market, report, demo_spreads(market, report, settings))


@dataclass(frozen=True)
class PricedSpread:
    spec: SpreadOrderSpec
    price: OrderPrice | PriceRefusal
    gate: GateResult
    max_loss: float
    mid_debit: float
    legs: tuple[PreviewLeg, ...]

    def preview(self) -> Preview:
        """The Preview slice the engine would publish for this spread (what-if answered)."""
        lo, sh = self.legs

        def net(name: str) -> float:
            return float(getattr(lo, name)) - float(getattr(sh, name))

        assert isinstance(self.price, OrderPrice)
        return Preview(
            spec=self.spec,
            price=self.price,
            gate=self.gate,
            max_loss=self.max_loss,
            updated_at=APP_NOW,
            legs=self.legs,
            quantity=self.spec.quantity,
            natural_debit=self.price.natural_ask,
            mid_debit=self.mid_debit,
            limit_debit=self.price.limit,
            net_delta=net("delta"),
            net_gamma=net("gamma"),
            net_vega=net("vega"),
            net_theta=net("theta"),
            init_margin_change=self.max_loss,
            maint_margin_change=self.max_loss,
            commission=2.6 * self.spec.quantity,
            min_commission=2.6 * self.spec.quantity,
            max_commission=2.6 * self.spec.quantity,
            what_if_at=APP_NOW - timedelta(seconds=4),
        )


def price_spread(demo: Demo, symbol: str, rank: int = 0) -> PricedSpread:
    """The ``rank``-th spread of ``symbol`` as the engine would preview it: legs from the
    chain, the paper limit from ``core.pricing``, the size from ``core.risk``."""
    settings = demo.settings
    sel = demo.selection(symbol)
    chain = market_chain(demo.market, symbol, demo.market.session_day(), settings)
    lr, sr = int(sel.long_row[rank]), int(sel.short_row[rank])
    natural = natural_quotes(
        float(chain.bid[lr]), float(chain.ask[lr]), float(chain.bid[sr]), float(chain.ask[sr])
    )
    assert not isinstance(natural, PriceRefusal)
    price = limit_price("BUY", natural.bid, natural.ask, settings.execution)
    assert isinstance(price, OrderPrice) and price.limit is not None
    max_loss_each = float(sel.max_loss[rank])
    gate = check_entry(
        RiskInputs(
            open_spreads=1,
            entries_today=0,
            net_liquidation=NET_LIQ,
            max_loss_per_contract=max_loss_each,
            limit_price=price.limit,
            multiplier=settings.selection.multiplier,
            available_funds_after=90_000.0,
            underlying_iv=0.3,
            underlying=symbol,
            leg_quote_ages_s=(0.4, 0.6),
        ),
        settings.risk,
    )
    right = "C" if bool(sel.is_call[rank]) else "P"
    expiry = str(sel.expiry[rank]).replace("-", "")

    def leg(row: int, action: str) -> SpreadLeg:
        return SpreadLeg.model_validate(
            {
                "con_id": int(chain.con_id[row]),
                "symbol": symbol,
                "expiry": expiry,
                "strike": float(chain.strike[row]),
                "right": right,
                "action": action,
            }
        )

    def preview_leg(row: int, action: str) -> PreviewLeg:
        q = demo.market.option_quote(int(chain.con_id[row]))
        g = q.model_greeks
        bid, ask = float(chain.bid[row]), float(chain.ask[row])
        return PreviewLeg(
            con_id=int(chain.con_id[row]), action=action, expiry=expiry,
            strike=float(chain.strike[row]), right=right, bid=bid, ask=ask,
            mid=(bid + ask) / 2, iv=g.implied_vol, delta=g.delta, gamma=g.gamma,
            vega=g.vega, theta=g.theta, quote_age_s=0.4 if action == "BUY" else 0.6,
        )  # fmt: skip

    spec = SpreadOrderSpec(
        underlying=symbol,
        direction="LONG" if right == "C" else "SHORT",
        legs=(leg(lr, "BUY"), leg(sr, "SELL")),
        action="BUY",
        quantity=max(gate.contracts, 1),
        order_type="LMT",
        limit_price=price.limit,
        mode="paper",
    )
    return PricedSpread(
        spec, price, gate, max_loss_each * spec.quantity, float(sel.mid_debit[rank]),
        (preview_leg(lr, "BUY"), preview_leg(sr, "SELL")),
    )  # fmt: skip


def intent(
    spec: SpreadOrderSpec,
    n: int,
    status: IntentStatus,
    *,
    filled: int = 0,
    avg: float | None = None,
    step: int = 0,
    error: tuple[int, str] | None = None,
) -> OrderIntent:
    created = APP_NOW - timedelta(minutes=50 - 7 * n)
    return OrderIntent(
        intent_id=f"tt-{n:012x}",
        created_at=created,
        spec=spec,
        status=status,
        order_id=100 + n,
        filled=filled,
        avg_fill_price=avg,
        walk_step=step,
        working_limit=spec.limit_price,
        last_error_code=error[0] if error else None,
        last_error_text=error[1] if error else None,
        updated_at=created + timedelta(seconds=30),
    )


def demo_slices(demo: Demo) -> list[object]:
    """The whole demo state, one value per slice the screens read (``Store(initial=...)``)."""
    slices: list[object] = []
    slices.append(
        Health(
            state=ConnectionState.CONNECTED,
            since=APP_NOW - timedelta(seconds=125),
            last_error_code=2104,
            last_error_message="Market data farm connection is OK:usfarm",
            last_error_time=APP_NOW - timedelta(seconds=190),
            lines_active=37,
            lines_max=90,
            line_evictions=2,
            oldest_quote_age_s=1.2,
        ),
    )
    slices.append(ScanResults(report=demo.report, updated_at=APP_NOW))
    sets = tuple(
        CandidateSet(res.symbol, str(res.direction), demo.market.mid(res.symbol), sel)
        for res, sel in demo.spreads
    )
    slices.append(Candidates(sets=sets, updated_at=APP_NOW))
    priced = price_spread(demo, PREVIEW_SYMBOL)
    slices.append(priced.preview())
    working = price_spread(demo, "MSFT").spec
    filled = price_spread(demo, "NVDA").spec
    cancelled = price_spread(demo, "QQQ", 1).spec
    rejected = price_spread(demo, "SPY").spec
    unknown = price_spread(demo, "AAPL").spec
    slices.append(
        Orders(
            intents=(
                intent(filled, 1, IntentStatus.FILLED, filled=filled.quantity,
                       avg=filled.limit_price),
                intent(cancelled, 2, IntentStatus.CANCELLED),
                intent(rejected, 3, IntentStatus.REJECTED,
                       error=(201, "Order rejected - reason: insufficient margin")),
                intent(unknown, 4, IntentStatus.UNKNOWN),
                intent(working, 5, IntentStatus.WORKING, step=2),
            ),
            walking=(
                WalkInfo("tt-000000000005", step=2, max_steps=5, limit=working.limit_price,
                         next_at=APP_NOW + timedelta(seconds=12)),
            ),
            updated_at=APP_NOW,
        ),
    )  # fmt: skip
    lo, sh = filled.long_leg, filled.short_leg
    slices.append(
        Positions(
            spreads=(
                SpreadPosition(
                    underlying=filled.underlying,
                    legs=(
                        PositionLeg(lo.con_id, lo.symbol, lo.expiry, lo.strike, lo.right,
                                    float(filled.quantity), 412.0, 4.35),
                        PositionLeg(sh.con_id, sh.symbol, sh.expiry, sh.strike, sh.right,
                                    -float(filled.quantity), 231.0, 2.31),
                    ),
                    intent_id="tt-000000000001",
                    pnl=42.0,
                    quantity=filled.quantity,
                    intent_ids=("tt-000000000001",),
                    direction="LONG",
                    expiry=lo.expiry,
                    cost=1_910.4,
                    mark=2.44,
                    pnl_pct=42.0 / 1_910.4,
                    dte=41,
                    stop_level=171.52,
                    target_level=205.40,
                    stop_distance=-0.0712,
                    target_distance=0.1123,
                ),
                SpreadPosition(
                    underlying="XOM",
                    legs=(
                        PositionLeg(9001, "XOM", "20261218", 115.0, "C", 1.0, 310.0, 2.80),
                        PositionLeg(9002, "XOM", "20261218", 120.0, "C", -1.0, 120.0, 1.05),
                    ),
                    external=True,
                    pnl=-15.0,
                    quantity=1,
                    direction="LONG",
                    expiry="20261218",
                    cost=190.0,
                    mark=1.75,
                    pnl_pct=-15.0 / 190.0,
                    dte=28,
                ),
            ),
            updated_at=APP_NOW,
        ),
    )  # fmt: skip
    slices.append(
        Account(
            net_liquidation=NET_LIQ,
            available_funds=92_500.0,
            buying_power=370_000.0,
            day_pnl=123.45,
            mode=AccountMode.PAPER,
            account_masked="DU***567",
            updated_at=APP_NOW,
        ),
    )
    events = [
        (-300, EventLevel.INFO, "connection", "Connected to 127.0.0.1:7497 (client 1)"),
        (-240, EventLevel.INFO, "scan", "Scanned 60 symbols: 28 with signals"),
        (-190, EventLevel.WARNING, "ib", "2104 Market data farm connection is OK:usfarm"),
        (-120, EventLevel.INFO, "order", "Filled BUY NVDA spread"),
        (-60, EventLevel.ERROR, "order", "Rejected SPY: insufficient margin"),
        (-30, EventLevel.INFO, "order", "Working MSFT, walk step 2"),
    ]
    slices.append(
        EventLog(
            items=tuple(
                JournalEvent(
                    time=APP_NOW + timedelta(seconds=dt), level=level, kind=kind, text=text
                )
                for dt, level, kind, text in events
            )
        )
    )
    return slices


def demo_automation(demo: Demo, mode: str = "ARMED") -> Automation:
    """The auto-trader's day as the engine would publish it at :data:`APP_NOW`: candidates
    in every state (their spreads, debits and sizes priced from the demo market like the
    orders above; the sent ones are the demo's order intents) and three exit orders."""

    def row(symbol: str, state: str, reason: str | None, minutes: int, *,
            intent_n: int | None = None, rank: int = 0, chosen: bool = True,
            strategy: str | None = None) -> AutoCandidateRow:  # fmt: skip
        res = next(r for r, _ in demo.spreads if r.symbol == symbol)
        direction = str(res.direction)
        spec = price_spread(demo, symbol, rank).spec if chosen else None
        created = APP_NOW - timedelta(minutes=55)
        return AutoCandidateRow(
            key=f"2026-11-20 {symbol} {direction}", symbol=symbol, direction=direction,
            strategy=strategy or res.signals[0], state=state, reason=reason,
            created_at=created, updated_at=APP_NOW - timedelta(minutes=minutes),
            intent_id=f"tt-{intent_n:012x}" if intent_n is not None else None,
            spread=(f"{spec.long_leg.expiry} {spec.long_leg.strike:g}/"
                    f"{spec.short_leg.strike:g} {spec.long_leg.right}") if spec else None,
            debit=spec.limit_price if spec else None,
            quantity=spec.quantity if spec else None,
        )  # fmt: skip

    candidates = (
        row("NVDA", "FILLED", None, 43, intent_n=1),
        row("QQQ", "CANCELLED", "walk ended unfilled", 29, intent_n=2, rank=1),
        row("SPY", "REJECTED", "201 insufficient margin", 29, intent_n=3),
        row("MSFT", "SENT", None, 15, intent_n=5),
        row("AAPL", "SELECTING", None, 0, chosen=False),
        row("ADBE", "SKIPPED", "gate:MAX_DAILY_TRADES", 1),
        row("AXP", "SKIPPED", "signal_gone", 1, chosen=False),
        row("BA", "SKIPPED", "no_spread", 1, chosen=False),
        row("CAT", "EXPIRED", "the entry window closed", 2, chosen=False),
        row("COP", "DRY-RUN", None, 3),
        row("COST", "QUEUED", None, 55, chosen=False),
    )
    exits = (
        AutoExitRow("tt-0000000000a1", "HD", "TARGET_R", "FILLED", 1,
                    APP_NOW - timedelta(minutes=20), "tt-0000000000b1"),
        AutoExitRow("tt-0000000000a2", "DIS", "STOP", "REJECTED", 2,
                    APP_NOW - timedelta(minutes=6), "tt-0000000000b2"),
        AutoExitRow("tt-0000000000a3", "WMT", "TIME", "WORKING", 1,
                    APP_NOW - timedelta(minutes=1), "tt-0000000000b3"),
    )  # fmt: skip
    return Automation(
        mode=mode,
        live=False,
        entries_today=3,
        max_daily_trades=demo.settings.risk.max_daily_trades,
        open_spreads=2,
        max_positions=demo.settings.risk.max_positions,
        universe_size=len(demo.settings.universe.symbols),
        window="opens in 15m",
        candidates=candidates,
        exits=exits,
        updated_at=APP_NOW,
    )
