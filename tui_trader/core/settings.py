"""The trading rules' parameters: one pydantic model per ``[section]`` of SPEC.md.

These models are pure data (no file or environment access), so ``core/`` functions can take
them as arguments and stay free of I/O. Loading them from TOML files and environment
variables is ``tui_trader.config``'s job. Every default here is the SPEC.md default; a change
to one is a change to the trading rules and belongs in SPEC.md first.

Every model forbids unknown keys: a misspelt key in a config file must fail loudly rather
than leave a risk limit at its default without anyone noticing. For the same reason no float
may be infinite or NaN (``stale_quote_s = inf`` would switch a safety check off), names are
checked against what they name (``timing.calendar`` must be an exchange_calendars calendar,
``connection.host`` a non-empty host name) and ``universe.symbols`` must be distinct tickers:
letters, digits, ``.``, ``-`` and ``/``, upper-cased on load (IB's symbols are upper case, so
``spy`` can only mean ``SPY``; ``spy`` and ``SPY`` in one list are a duplicate). Loading
validates in pydantic's strict mode (``tui_trader.config``), so ``port = "7497"``,
``max_positions = true`` or ``2.0`` for an integer are refused rather than converted.
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: The liquid, optionable US names the simulated gateway carries; the default universe.
DEFAULT_SYMBOLS: tuple[str, ...] = (
    "SPY", "QQQ", "IWM", "DIA", "XLF", "XLE", "XLK", "XLV", "GLD", "TLT",
    "AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "AVGO", "AMD", "NFLX",
    "ADBE", "CRM", "ORCL", "INTC", "CSCO", "QCOM", "TXN", "MU", "IBM", "UBER",
    "JPM", "BAC", "WFC", "GS", "MS", "C", "V", "MA", "PYPL", "AXP",
    "UNH", "JNJ", "PFE", "MRK", "ABBV", "LLY", "XOM", "CVX", "COP", "SLB",
    "WMT", "COST", "HD", "LOW", "NKE", "MCD", "SBUX", "DIS", "BA", "CAT",
)  # fmt: skip


_TICKER = re.compile(r"[A-Z0-9./-]+")


def checked_symbols(symbols: list[str]) -> list[str]:
    """Upper-cased tickers; ValueError (one sentence) for an empty, malformed or repeated one."""
    out: list[str] = []
    for raw in symbols:
        symbol = raw.upper()
        if not symbol:
            raise ValueError(f"symbol {raw!r} is empty")
        if not _TICKER.fullmatch(symbol):
            raise ValueError(
                f"symbol {raw!r} has a character other than letters, digits, '.', '-' and '/'"
            )
        if symbol in out:
            raise ValueError(f"symbol {symbol} is listed twice")
        out.append(symbol)
    return out


#: Known good without asking exchange_calendars (whose import costs a third of a second).
DEFAULT_CALENDAR = "XNYS"


def checked_calendar(name: str) -> str:
    """``name`` if exchange_calendars knows it (by its list of names: no calendar is built)."""
    if name == DEFAULT_CALENDAR:
        return name
    names = calendar_names()
    if name not in names:
        close = difflib.get_close_matches(name.upper(), names, n=3)
        hint = f"did you mean {' or '.join(close)}" if close else f"e.g. {DEFAULT_CALENDAR}"
        raise ValueError(f"unknown exchange calendar {name!r} (exchange_calendars); {hint}")
    return name


def calendar_names() -> list[str]:
    """Every calendar name and alias exchange_calendars accepts (imported on first use)."""
    import exchange_calendars

    names: Any = exchange_calendars.get_calendar_names(include_aliases=True)
    return sorted(str(n) for n in names)


class Section(BaseModel):
    """Base for every config section: unknown keys are errors, values are validated on set."""

    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, frozen=False, allow_inf_nan=False
    )


class UniverseSettings(Section):
    """SPEC 3: which symbols may trade. ``market_caps_file`` is a CSV ``symbol,market_cap``
    (read by ``tui_trader.datafiles.market_caps``; empty: no file, every cap unknown). IB's
    API gives no market cap, so without the file ``min_market_cap`` cannot apply."""

    min_price: float = Field(20.0, ge=0)
    min_volume: float = Field(1_000_000, ge=0)
    min_market_cap: float = Field(10e9, ge=0)
    market_caps_file: str = ""
    symbols: list[str] = Field(default_factory=lambda: list(DEFAULT_SYMBOLS), min_length=1)
    #: One symbol a line or a CSV with a symbol column (``tui_trader.datafiles.symbols``);
    #: when set, the loader replaces ``symbols`` with the file's (issue 12).
    symbols_file: str = ""

    @field_validator("symbols", mode="after")
    @classmethod
    def _tickers(cls, symbols: list[str]) -> list[str]:
        return checked_symbols(symbols)


class StrategySettings(Section):
    """SPEC 4: the four strategies' thresholds."""

    high_base_max_atr_ratio: float = Field(2.0, gt=0)
    high_base_min_rsi: float = Field(60.0, ge=0, le=100)
    low_base_min_atr_ratio: float = Field(0.5, gt=0)
    low_base_max_rsi: float = Field(40.0, ge=0, le=100)
    bull_pullback_rsi_threshold: float = Field(45.0, ge=0, le=100)
    bear_rally_rsi_threshold: float = Field(55.0, ge=0, le=100)


class SelectionSettings(Section):
    """SPEC 5: which vertical spreads are candidates and which are kept."""

    min_dte: int = Field(30, ge=0)
    max_dte: int = Field(45, ge=0)
    max_strikes_apart: int = Field(4, ge=1, le=20)
    min_delta: float = Field(0.30, ge=0, le=1)
    max_delta: float = Field(0.50, ge=0, le=1)
    multiplier: int = Field(100, gt=0)
    max_spread_cost: float = Field(500.0, gt=0)
    min_reward_risk: float = Field(1.5, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min_delta > self.max_delta:
            raise ValueError(
                f"min_delta ({self.min_delta}) must not exceed max_delta ({self.max_delta})"
            )
        if self.min_dte > self.max_dte:
            raise ValueError(f"min_dte ({self.min_dte}) must not exceed max_dte ({self.max_dte})")
        return self


class PricingSettings(Section):
    """Inputs to Black-Scholes and POP that are not market data."""

    risk_free_rate: float = Field(0.04, ge=-0.05, le=0.5)
    dividend_yield: float = Field(0.0, ge=0, le=0.5)


class ExecutionSettings(Section):
    """SPEC 6: how combo orders are priced and walked."""

    mode: Literal["paper", "live"] = "paper"
    paper_order_type: Literal["LMT", "MKT"] = "LMT"
    price_improvement_factor: float = Field(0.4, ge=0, le=1)
    combo_tick: float = Field(0.01, gt=0)
    walk_interval_s: float = Field(20.0, gt=0)
    walk_step: float = Field(0.1, gt=0, le=1)
    walk_max_steps: int = Field(5, ge=0, le=100)


class TimingSettings(Section):
    """SPEC 7: the entry window, in minutes before the exchange close."""

    allow_late_day_entry: bool = True
    window_start_min_before_close: int = Field(60, ge=1, le=390)
    late_day_start_min_before_close: int = Field(75, ge=1, le=390)
    window_end_min_before_close: int = Field(2, ge=0, le=60)
    calendar: str = "XNYS"

    @field_validator("calendar", mode="after")
    @classmethod
    def _known_calendar(cls, name: str) -> str:
        return checked_calendar(name)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        start = (
            self.late_day_start_min_before_close
            if self.allow_late_day_entry
            else self.window_start_min_before_close
        )
        if start <= self.window_end_min_before_close:
            raise ValueError(
                "the entry window must open before it closes: start minutes before close "
                f"({start}) must exceed window_end_min_before_close "
                f"({self.window_end_min_before_close})"
            )
        return self


class RiskSettings(Section):
    """SPEC 8: gates before every opening order, and the circuit breakers."""

    max_positions: int = Field(5, ge=0)
    max_daily_trades: int = Field(3, ge=0)
    risk_per_trade: float = Field(0.02, gt=0, le=1)
    max_contracts_per_trade: int = Field(10, ge=1)
    max_order_value: float = Field(10_000.0, gt=0)
    min_buying_power: float = Field(5_000.0, ge=0)
    max_volatility_iv: float = Field(1.0, gt=0)
    stale_quote_s: float = Field(5.0, gt=0)
    max_daily_loss: float = Field(1_000.0, gt=0)
    max_rejections: int = Field(3, ge=1)
    rejection_window_s: float = Field(600.0, gt=0)


class ExitSettings(Section):
    """SPEC 9: when an open spread is closed."""

    stop_loss_atr_mult: float = Field(2.0, gt=0)
    use_r_multiple_target: bool = True
    r_multiple_target: float = Field(2.0, gt=0)
    use_atr_target: bool = True
    atr_target_multiple: float = Field(3.0, gt=0)
    use_fibo_targets: bool = True
    fibo_target_level: float = Field(1.618, gt=0)
    min_days_to_exit: int = Field(14, ge=0)


class ConnectionSettings(Section):
    """Where TWS / IB Gateway listens, and the market-data line budget."""

    host: str = "127.0.0.1"
    port: int = Field(7497, ge=1, le=65535)
    client_id: int = Field(1, ge=0)
    max_lines: int = Field(90, ge=1, le=10_000)
    connect_timeout_s: float = Field(10.0, gt=0)

    @field_validator("host", mode="after")
    @classmethod
    def _host(cls, host: str) -> str:
        """An empty host would have the engine reconnect to nowhere forever."""
        if not host.strip():
            raise ValueError("must not be empty (a host name or IP address)")
        if any(c.isspace() for c in host):
            raise ValueError("must not contain spaces")
        return host


class ScannerSettings(Section):
    """How often the live scanner re-runs as today's bar moves; ``max_price_age_s``: the
    oldest a symbol's price may be during the entry window when the universe has more
    symbols than market-data lines and the rest is refreshed by snapshots (issue 12)."""

    interval_s: float = Field(30.0, gt=0)
    max_price_age_s: float = Field(60.0, gt=0)


class UiSettings(Section):
    """The dashboard: theme, terminal bell, and key remapping.

    ``keys`` maps a binding id (listed on the Help screen) to the key or comma-separated
    keys that trigger it, e.g. ``transmit = "T"`` or ``kill_switch = "ctrl+k,f12"``.
    """

    theme: str = "dark"
    bell: bool = False
    keys: dict[str, str] = Field(default_factory=dict)


# --- [backtest] (SPEC 12) ---------------------------------------------------------------


class BacktestSettings(Section):
    """SPEC 12: the back-test's account and its synthetic option market (Black-Scholes at
    the 20-day realised volatility; there is no historical option data). The commission
    lives here because only the back-test charges one: live fills carry IB's own."""

    initial_equity: float = Field(100_000.0, gt=0)
    iv_multiplier: float = Field(1.0, gt=0, le=10)
    min_half_spread: float = Field(0.025, ge=0)
    half_spread_pct: float = Field(0.02, ge=0, le=1)
    commission_per_contract: float = Field(0.65, ge=0)


# --- end of [backtest] ------------------------------------------------------------------


# --- [strategies] (issue 15: traders' own strategies) ---------------------------------

#: What ``[strategies.NAME] function`` looks like: ``module:attribute`` (dotted names).
_FUNCTION_REF = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*")
_STRATEGY_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
#: Names a user strategy may not take: SPEC 4's four and the back-test's combined run.
RESERVED_STRATEGY_NAMES = frozenset({"HIGH_BASE", "LOW_BASE", "BULL_PULLBACK", "BEAR_RALLY", "ALL"})


class UserStrategySettings(Section):
    """One ``[strategies.NAME]`` table: the function (``module:attr``, imported from the
    user strategies folder or any installed module), whether it runs, and its parameters
    (a free table here; the function's own pydantic model, when it declares one, checks
    them when the strategy is loaded)."""

    function: str
    enabled: bool = True
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("function", mode="after")
    @classmethod
    def _reference(cls, ref: str) -> str:
        if not _FUNCTION_REF.fullmatch(ref):
            raise ValueError("must look like module:function (e.g. squeeze:signal)")
        return ref


class StrategiesSettings(Section):
    """``[strategies]``: ``timeout_s``, the time one user strategy may take per scan,
    ``workers``, the processes the scanner runs them in, and one ``[strategies.NAME]``
    table per user strategy, in config order (which is the order their signals are
    listed and the back-test attributes trades in, after SPEC 4's four).

    Names are upper-cased on load (as the built-in names are written) and must be
    identifiers distinct from SPEC 4's names and the back-test's ``ALL``.
    """

    model_config = ConfigDict(
        extra="allow", validate_assignment=True, frozen=False, allow_inf_nan=False
    )
    __pydantic_extra__: dict[str, UserStrategySettings] = Field(init=False)

    timeout_s: float = Field(5.0, gt=0)
    #: Worker processes the scanner runs user strategies in (0: a thread of the UI
    #: process; see tui_trader.engine.strategy_pool for why processes).
    workers: int = Field(2, ge=0, le=64)

    @model_validator(mode="before")
    @classmethod
    def _names(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out: dict[str, Any] = {}
        for key, value in data.items():
            if key in cls.model_fields:
                out[key] = value
                continue
            name = str(key).upper()
            if not _STRATEGY_NAME.fullmatch(name):
                raise ValueError(
                    f"strategy name {key!r} must be letters, digits and _ starting with a letter"
                )
            if name in RESERVED_STRATEGY_NAMES:
                raise ValueError(f"strategy name {name} is taken by a built-in strategy or run")
            if name in out:
                raise ValueError(f"strategy {name} is configured twice")
            out[name] = value
        return out

    @property
    def user(self) -> dict[str, UserStrategySettings]:
        """Every ``[strategies.NAME]`` table, in config order."""
        return dict(self.__pydantic_extra__ or {})

    @property
    def enabled(self) -> list[str]:
        """The names of the user strategies that run, in config order."""
        return [name for name, s in self.user.items() if s.enabled]


# --- end of [strategies] ----------------------------------------------------------------


# --- [alerts] (SPEC 13) -----------------------------------------------------------------

#: SPEC 13's severities, lowest first (the keys of ``[alerts.routes]``).
ALERT_SEVERITIES = ("info", "warning", "high", "critical")
_CHANNEL_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


class AlertRoutes(Section):
    """``[alerts.routes]``: severity -> channel names (SPEC 13's defaults). A route equal
    to its default skips the channels ``[alerts] urls`` does not define (most users have
    only some of email, slack and sms; ``config --show`` writes the defaults out, and its
    output must load again); any other route must name defined ones."""

    info: list[str] = Field(default_factory=lambda: ["email"])
    warning: list[str] = Field(default_factory=lambda: ["email", "slack"])
    high: list[str] = Field(default_factory=lambda: ["email", "slack", "sms"])
    critical: list[str] = Field(default_factory=lambda: ["email", "slack", "sms"])

    def is_default(self, severity: str) -> bool:
        """Whether the ``severity`` route is SPEC 13's default (written out or not)."""
        default = AlertRoutes.model_fields[severity].get_default(call_default_factory=True)
        return bool(getattr(self, severity) == default)


class AlertSettings(Section):
    """SPEC 13: where alerts go and when the watched conditions alert.

    ``urls`` names each channel (``{email = "mailtos://...", slack = "slack://..."}``);
    the URLs are apprise's and may hold ``${NAME}`` references to environment variables
    (expanded and parsed outside ``core``, by ``tui_trader.alerts.channels``). No channel
    (the default): no alert is raised at all. ``dedupe_s``: the same alert at most once per
    this many seconds. ``retry_initial_s`` doubles per failed delivery up to ``retry_max_s``.
    """

    urls: dict[str, str] = Field(default_factory=dict)
    routes: AlertRoutes = Field(default_factory=AlertRoutes)
    dedupe_s: float = Field(300.0, ge=0)
    max_order_latency_s: float = Field(0.5, gt=0)
    critical_order_latency_s: float = Field(2.0, gt=0)
    min_symbols_per_second: float = Field(50.0, ge=0)
    connection_lost_s: float = Field(60.0, gt=0)
    retry_initial_s: float = Field(5.0, gt=0)
    retry_max_s: float = Field(300.0, gt=0)

    @field_validator("urls", mode="after")
    @classmethod
    def _channels(cls, urls: dict[str, str]) -> dict[str, str]:
        for name, url in urls.items():
            if not _CHANNEL_NAME.fullmatch(name):
                raise ValueError(
                    f"channel name {name!r} must be lower-case letters, digits, '_' and '-'"
                )
            if not url.strip():
                raise ValueError(f"channel {name} has an empty URL")
        return urls

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        for severity in sorted(self.routes.model_fields_set):
            if self.routes.is_default(severity):
                continue
            for name in getattr(self.routes, severity):
                if name not in self.urls:
                    known = ", ".join(sorted(self.urls)) or "none"
                    raise ValueError(
                        f"route {severity} names the channel {name!r}, which [alerts] urls "
                        f"does not define (defined: {known})"
                    )
        if self.critical_order_latency_s < self.max_order_latency_s:
            raise ValueError(
                f"critical_order_latency_s ({self.critical_order_latency_s}) must not be "
                f"below max_order_latency_s ({self.max_order_latency_s})"
            )
        if self.retry_max_s < self.retry_initial_s:
            raise ValueError(
                f"retry_max_s ({self.retry_max_s}) must not be below retry_initial_s "
                f"({self.retry_initial_s})"
            )
        return self

    def channels_for(self, severity: str) -> tuple[str, ...]:
        """The channels an alert of ``severity`` (``info`` ... ``critical``) goes to."""
        names: list[str] = getattr(self.routes, severity)
        if not self.routes.is_default(severity):
            return tuple(names)
        return tuple(n for n in names if n in self.urls)


# --- end of [alerts] --------------------------------------------------------------------


class AutoSettings(Section):
    """SPEC 11: the auto-trader. ``enabled`` arms it at start (``run --headless --auto``
    sets it too); ``dry_run`` runs every step and transmits nothing; ``exit_retries`` is
    how often a rejected or cancelled exit is sent again before a HIGH alert."""

    enabled: bool = False
    dry_run: bool = False
    exit_retries: int = Field(3, ge=0, le=20)


class DoctorSettings(Section):
    """Issue 11: ``at_start`` runs ``tui-trader doctor``'s checks once in the background
    when the dashboard's engine has started (crosses on the health footer and the Log)."""

    at_start: bool = True


class Settings(Section):
    """Every section of the configuration file."""

    universe: UniverseSettings = Field(default_factory=UniverseSettings)
    strategy: StrategySettings = Field(default_factory=StrategySettings)
    selection: SelectionSettings = Field(default_factory=SelectionSettings)
    pricing: PricingSettings = Field(default_factory=PricingSettings)
    execution: ExecutionSettings = Field(default_factory=ExecutionSettings)
    timing: TimingSettings = Field(default_factory=TimingSettings)
    risk: RiskSettings = Field(default_factory=RiskSettings)
    exits: ExitSettings = Field(default_factory=ExitSettings)
    connection: ConnectionSettings = Field(default_factory=ConnectionSettings)
    scanner: ScannerSettings = Field(default_factory=ScannerSettings)
    ui: UiSettings = Field(default_factory=UiSettings)
    backtest: BacktestSettings = Field(default_factory=BacktestSettings)  # SPEC 12
    auto: AutoSettings = Field(default_factory=AutoSettings)  # SPEC 11
    strategies: StrategiesSettings = Field(default_factory=StrategiesSettings)  # issue 15
    alerts: AlertSettings = Field(default_factory=AlertSettings)  # SPEC 13
    doctor: DoctorSettings = Field(default_factory=DoctorSettings)  # issue 11
