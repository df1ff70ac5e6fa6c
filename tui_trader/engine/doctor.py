"""``tui-trader doctor``: a preflight of a real account, before a trading day, not at 3 PM.

The auto-trader runs unattended; an account that cannot work (read-only API, no option
data, the wrong account, a clock off by a minute) must be found in the morning with one
command that says what to do. The doctor connects to ``[connection] host:port`` with its
own clientId (the engine's plus :data:`CLIENT_ID_OFFSET`, so it runs beside an engine)
and returns one :class:`Check` per item, in this order:

``api``  the port answers, server version; ``clock``  the gateway's reqCurrentTime vs
ours; ``account``  paper (IB ids start with D) or live vs ``[execution] mode``;
``read-only``  a what-if stock order is not refused with IB's 321 "Read-Only mode";
``daily-bars``  a year of daily bars for the first universe symbol; ``stock-data`` and
``option-data``  live (type 1) vs delayed (type 3/4, notice 10167) vs none (error 354),
asked with reqMarketDataType(3) so IB says which one the account gets; ``greeks``  model
greeks arrive for an option; ``option-chain``  reqSecDefOptParams for the symbol and both
legs of a call vertical qualify; ``what-if``  IB answers the vertical's what-if with a
margin change and a commission; ``market-data-lines``  the line budget; ``journal``
writable and not held by a running engine.

Decision (market-data lines): IB does not report an account's line allowance through
the API (it is 100 lines, more with Quote Booster packs or large commissions), and
probing it by opening lines would take lines from a running engine on the same login.
So the check compares ``[connection] max_lines`` with the standard 100 (``allowance``),
and says so; the simulated gateway's limit is the same 100.

Checks that need what an earlier one failed to get (no connection, no chain) are
reported as crosses that name the earlier failure, so the output always has every line.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from ib_insync import IB, ComboLeg, Contract, LimitOrder, Option, Stock, Ticker
from ib_insync.wrapper import RequestError

from tui_trader.broker.order_reports import preview_from_state
from tui_trader.core.models import EventLevel
from tui_trader.core.settings import Settings
from tui_trader.engine.events import EventSink
from tui_trader.engine.lock import EngineLockedError, engine_lock

#: The doctor's clientId is the engine's plus this, so both can be connected at once.
CLIENT_ID_OFFSET = 100
#: IB's standard market-data line allowance (module doc).
STANDARD_LINES = 100
#: A gateway clock further off than this makes time-of-day rules fire at the wrong time
#: (reqCurrentTime has a resolution of one second).
MAX_SKEW_S = 3.0
DELAYED_TYPES = {3: "delayed", 4: "delayed-frozen"}
FEEDS = {"stock": "US equities data (NYSE/AMEX/NASDAQ)", "option": "options data (OPRA)"}


@dataclass(frozen=True, slots=True)
class Check:
    """One preflight item: ``ok`` with what was found (``detail``), or a cross with what
    to do about it (``fix``)."""

    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        """The printed line: a tick or a cross, the name, what was found, the fix."""
        mark = "✓" if self.ok else "✗"
        tail = f" -> {self.fix}" if not self.ok and self.fix else ""
        return f"{mark} {self.name}: {self.detail}{tail}"

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class _Found:
    """What earlier checks learnt that later ones need."""

    stock: Contract | None = None
    spot: float | None = None
    legs: list[Contract] = field(default_factory=list)
    errors: dict[int, tuple[int, str]] = field(default_factory=dict)  # conId -> last error


def mask_account(account: str) -> str:
    """An account id as it may be shown: its kind prefix and last two digits only."""
    head = account[:2] if account[:2].isalpha() else account[:1]
    return f"{head}{'*' * max(0, len(account) - len(head) - 2)}{account[-2:]}"


# ---------------------------------------------------------------- checks without a socket


def check_lines(max_lines: int, allowance: int = STANDARD_LINES) -> Check:
    """``[connection] max_lines`` against the account's allowance (module doc)."""
    if max_lines <= allowance:
        return Check(
            "market-data-lines",
            True,
            f"max_lines {max_lines} within IB's standard {allowance} "
            "(IB does not report boosters; not queried)",
        )
    return Check(
        "market-data-lines",
        False,
        f"max_lines {max_lines} exceeds IB's standard {allowance} lines",
        f"lower [connection] max_lines to {allowance} or less, unless the account has "
        "Quote Booster packs (IB then answers error 101 beyond its real limit)",
    )


def check_journal(path: Path) -> Check:
    """The journal opens, takes a write, and no running engine holds its lock."""
    from tui_trader.state.journal import Journal, JournalError

    try:
        with engine_lock(path):
            try:
                with Journal(path) as journal:
                    problem = journal.check_writable()
            except JournalError as exc:
                problem = str(exc)
    except EngineLockedError as exc:
        return Check(
            "journal",
            False,
            str(exc),
            "stop the running engine, or run the doctor before starting it",
        )
    except OSError as exc:
        problem = f"cannot create its lock file: {exc.strerror or exc}"
    if problem is not None:
        return Check(
            "journal", False, f"{path}: {problem}", "fix the file's permissions or free disk space"
        )
    return Check("journal", True, f"{path} writable, no other engine on it")


def check_clock(gateway_time: datetime, ours: datetime, max_skew_s: float = MAX_SKEW_S) -> Check:
    """The gateway's clock against ours."""
    skew = (gateway_time - ours).total_seconds()
    detail = f"gateway clock {skew:+.0f} s from ours"
    if abs(skew) <= max_skew_s:
        return Check("clock", True, detail)
    return Check(
        "clock",
        False,
        detail + f" (more than {max_skew_s:g} s)",
        "synchronise this machine's and the gateway host's clocks with NTP "
        "(timedatectl set-ntp true)",
    )


def check_account(accounts: list[str], mode: str) -> Check:
    """Paper (D...) or live (U...) against ``[execution] mode``."""
    if not accounts:
        return Check(
            "account",
            False,
            "the gateway reported no managed account",
            "log in to TWS / IB Gateway with a trading user",
        )
    account = accounts[0]
    kind = "paper" if account.upper().startswith("D") else "live"
    detail = f"{kind} account {mask_account(account)}, [execution] mode = {mode}"
    if kind == mode:
        return Check("account", True, detail)
    return Check(
        "account", False, detail, f'log in with the {mode} user, or set [execution] mode = "{kind}"'
    )


# ---------------------------------------------------------------- checks on the socket


def _not_run(name: str, why: str) -> Check:
    return Check(name, False, f"not checked: {why}", "fix the check above first")


async def _ticker_state(
    ib: IB, contract: Contract, found: _Found, timeout: float, need: Callable[[Ticker], bool]
) -> tuple[Ticker, tuple[int, str] | None]:
    """Subscribe and wait for ``need(ticker)`` or an error for the contract (an earlier
    request's error on the same contract, such as a refused what-if, is forgotten)."""
    found.errors.pop(contract.conId, None)
    ticker = ib.reqMktData(contract, "", False, False)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        err = found.errors.get(contract.conId)
        if err is not None and err[0] != 10167:
            break
        if need(ticker):
            break
        await asyncio.sleep(0.01)
    return ticker, found.errors.get(contract.conId)


def _priced(t: Ticker) -> bool:
    return any(not math.isnan(x) for x in (t.bid, t.ask, t.last, t.close))


def _data_check(name: str, what: str, ticker: Ticker, error: tuple[int, str] | None) -> Check:
    if error is not None and error[0] != 10167:
        return Check(
            name,
            False,
            f"no {what} market data (IB {error[0]}: {error[1]})",
            f"subscribe to {what} market data for the API in Account Management "
            "and accept the API market data agreement",
        )
    if not _priced(ticker):
        return Check(
            name,
            False,
            f"no {what} quote arrived",
            "check the market data farms (notices 2103/2104) and the subscription",
        )
    kind = DELAYED_TYPES.get(int(ticker.marketDataType))
    if kind is not None:
        note = f" (IB {error[0]})" if error is not None else ""
        return Check(
            name,
            False,
            f"{what} market data is {kind}{note}",
            f"subscribe to real-time {FEEDS[what]} for the API in Account Management",
        )
    return Check(name, True, f"{what} market data live")


async def _read_only(ib: IB, found: _Found, timeout: float) -> Check:
    if found.stock is None:
        return _not_run("read-only", "the symbol did not qualify")
    try:
        await asyncio.wait_for(ib.whatIfOrderAsync(found.stock, LimitOrder("BUY", 1, 1.0)), timeout)
    except RequestError as exc:
        if exc.code == 321 and "read-only" in exc.message.lower():
            return Check(
                "read-only",
                False,
                f"orders refused (IB 321: {exc.message})",
                'TWS/Gateway: Configure > API > Settings: untick "Read-Only API"',
            )
        return Check(
            "read-only",
            False,
            f"what-if refused (IB {exc.code}: {exc.message})",
            "read IB's message; check the account's trading permissions",
        )
    except TimeoutError:
        return Check(
            "read-only",
            False,
            "a what-if order got no answer",
            "check the gateway's API settings and its log",
        )
    return Check("read-only", True, "Read-Only API off (a what-if order was answered)")


async def _daily_bars(ib: IB, found: _Found, symbol: str, timeout: float) -> Check:
    if found.stock is None:
        return _not_run("daily-bars", f"{symbol} did not qualify")
    try:
        bars = await asyncio.wait_for(
            ib.reqHistoricalDataAsync(found.stock, "", "1 Y", "1 day", "TRADES", True), timeout
        )
    except (RequestError, TimeoutError) as exc:
        text = f"IB {exc.code}: {exc.message}" if isinstance(exc, RequestError) else "timeout"
        return Check(
            "daily-bars",
            False,
            f"no daily bars for {symbol} ({text})",
            "check the HMDS farm (notices 2105/2106) and pacing",
        )
    if not bars:
        return Check(
            "daily-bars",
            False,
            f"no daily bars for {symbol}",
            "check the HMDS farm (notices 2105/2106) and permissions",
        )
    found.spot = float(bars[-1].close)
    return Check("daily-bars", True, f"{len(bars)} daily bars for {symbol}, last {bars[-1].date}")


async def _chain(ib: IB, found: _Found, symbol: str, today: date, timeout: float) -> Check:
    if found.stock is None:
        return _not_run("option-chain", f"{symbol} did not qualify")
    params = await asyncio.wait_for(
        ib.reqSecDefOptParamsAsync(symbol, "", "STK", found.stock.conId), timeout
    )
    smart = [c for c in params if c.exchange == "SMART"] or list(params)
    chain = next((c for c in smart if c.tradingClass == symbol), smart[0] if smart else None)
    if chain is None or not chain.expirations or not chain.strikes:
        return Check(
            "option-chain",
            False,
            f"no option chain for {symbol}",
            "check the secdef farm (notices 2157/2158) and option permissions",
        )
    soon = (today + timedelta(days=7)).strftime("%Y%m%d")
    expiry = next(
        (e for e in sorted(chain.expirations) if e >= soon), sorted(chain.expirations)[-1]
    )
    strikes = sorted(chain.strikes)
    spot = found.spot if found.spot is not None else strikes[len(strikes) // 2]
    i = (
        min(range(len(strikes) - 1), key=lambda k: abs(strikes[k] - spot))
        if len(strikes) > 1
        else 0
    )
    pair = strikes[i : i + 2]
    legs = [Option(symbol, expiry, k, "C", "SMART", tradingClass=chain.tradingClass) for k in pair]
    qualified = await asyncio.wait_for(ib.qualifyContractsAsync(*legs), timeout)
    if len(pair) < 2 or len(qualified) < 2 or any(not c.conId for c in qualified):
        return Check(
            "option-chain",
            False,
            f"{symbol} {expiry} calls {pair} did not qualify",
            "check option permissions and the secdef farm",
        )
    found.legs = list(qualified)
    return Check(
        "option-chain",
        True,
        f"{symbol} {expiry}: {len(chain.expirations)} expiries, "
        f"{len(strikes)} strikes; {pair[0]:g}/{pair[1]:g} calls qualify",
    )


async def _what_if(ib: IB, found: _Found, symbol: str, timeout: float) -> Check:
    if len(found.legs) < 2:
        return _not_run("what-if", "no vertical qualified")
    long, short = found.legs
    bag = Contract(
        secType="BAG",
        symbol=symbol,
        currency="USD",
        exchange="SMART",
        comboLegs=[
            ComboLeg(conId=long.conId, ratio=1, action="BUY", exchange="SMART"),
            ComboLeg(conId=short.conId, ratio=1, action="SELL", exchange="SMART"),
        ],
    )
    name = f"{symbol} {long.strike:g}/{short.strike:g} call vertical"
    try:
        state = await asyncio.wait_for(ib.whatIfOrderAsync(bag, LimitOrder("BUY", 1, 0.5)), timeout)
    except RequestError as exc:
        return Check(
            "what-if",
            False,
            f"{name}: refused (IB {exc.code}: {exc.message})",
            "read IB's message (321 read-only: see read-only above)",
        )
    except TimeoutError:
        return Check("what-if", False, f"{name}: no answer", "check the gateway's log")
    preview = preview_from_state(state) if state else None
    if preview is None or preview.init_margin_change is None or preview.commission is None:
        why = preview.warning if preview is not None and preview.warning else "no margin/commission"
        return Check(
            "what-if",
            False,
            f"{name}: {why}",
            "check the account's option trading level (spreads need level 2+)",
        )
    return Check(
        "what-if",
        True,
        f"{name}: margin {preview.init_margin_change:+,.2f}, commission {preview.commission:,.2f}",
    )


async def _socket_checks(
    ib: IB, settings: Settings, now: Callable[[], datetime], timeout: float
) -> list[Check]:
    symbol = settings.universe.symbols[0]
    found = _Found()

    def on_error(req_id: int, code: int, text: str, contract: Any) -> None:
        if isinstance(contract, Contract) and contract.conId:
            found.errors[contract.conId] = (code, text)

    ib.errorEvent += on_error
    checks = [
        check_clock(await asyncio.wait_for(ib.reqCurrentTimeAsync(), timeout), now()),
        check_account(list(ib.managedAccounts()), settings.execution.mode),
    ]
    try:
        qualified = await asyncio.wait_for(
            ib.qualifyContractsAsync(Stock(symbol, "SMART", "USD")), timeout
        )
        found.stock = qualified[0] if qualified and qualified[0].conId else None
    except (RequestError, TimeoutError):
        found.stock = None
    checks.append(await _read_only(ib, found, timeout))
    checks.append(await _daily_bars(ib, found, symbol, timeout))
    ib.reqMarketDataType(3)  # delayed when not subscribed: IB then says which we get
    if found.stock is None:
        checks.append(_not_run("stock-data", f"{symbol} did not qualify"))
    else:
        ticker, error = await _ticker_state(ib, found.stock, found, timeout, _priced)
        checks.append(_data_check("stock-data", "stock", ticker, error))
        if _priced(ticker) and error is None:
            found.spot = (
                ticker.marketPrice() if not math.isnan(ticker.marketPrice()) else found.spot
            )
        ib.cancelMktData(found.stock)
    try:
        checks.append(await _chain(ib, found, symbol, now().date(), timeout))
    except (RequestError, TimeoutError) as exc:
        checks.append(
            Check(
                "option-chain",
                False,
                f"no option chain for {symbol} ({exc})",
                "check the secdef farm and option permissions",
            )
        )
    if not found.legs:
        checks += [
            _not_run("option-data", "no option qualified"),
            _not_run("greeks", "no option qualified"),
        ]
    else:
        leg = found.legs[0]
        ticker, error = await _ticker_state(
            ib, leg, found, timeout, lambda t: _priced(t) and t.modelGreeks is not None
        )
        checks.append(_data_check("option-data", "option", ticker, error))
        greeks = ticker.modelGreeks
        if greeks is not None and not math.isnan(greeks.delta or math.nan):
            checks.append(Check("greeks", True, f"model greeks arrive (delta {greeks.delta:.2f})"))
        else:
            checks.append(
                Check(
                    "greeks",
                    False,
                    "no option greeks arrived",
                    "subscribe to OPRA options data for the API",
                )
            )
        ib.cancelMktData(leg)
    checks.append(await _what_if(ib, found, symbol, timeout))
    ib.errorEvent -= on_error
    return checks


SOCKET_CHECKS = (
    "clock",
    "account",
    "read-only",
    "daily-bars",
    "stock-data",
    "option-chain",
    "option-data",
    "greeks",
    "what-if",
)


async def run_doctor(
    settings: Settings,
    journal_path: Path | None,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    timeout: float = 10.0,
    allowance: int = STANDARD_LINES,
) -> list[Check]:
    """Every check, in the module doc's order. ``now`` is our clock (tests inject the
    simulated gateway's); ``timeout`` bounds each request. ``journal_path`` None skips
    the journal check: a running engine (the dashboard's start-up run) holds that lock
    itself and watches the journal's writes already."""
    conn = settings.connection
    ib = IB()  # type: ignore[no-untyped-call]
    ib.RaiseRequestErrors = True
    client_id = conn.client_id + CLIENT_ID_OFFSET
    where = f"{conn.host}:{conn.port}"
    try:
        await ib.connectAsync(conn.host, conn.port, clientId=client_id, timeout=timeout)
    except (OSError, TimeoutError, ConnectionError) as exc:
        checks = [
            Check(
                "api",
                False,
                f"no TWS API on {where} ({exc or type(exc).__name__})",
                'start TWS / IB Gateway, enable "ActiveX and Socket Clients" and '
                "check [connection] host/port (7497 paper TWS, 4002 paper Gateway)",
            )
        ]
        checks += [_not_run(name, "no API connection") for name in SOCKET_CHECKS]
    else:
        try:
            checks = [
                Check(
                    "api",
                    True,
                    f"{where} answers, server version "
                    f"{ib.client.serverVersion()}, clientId {client_id}",
                )
            ]
            checks += await _socket_checks(ib, settings, now, timeout)
        except (TimeoutError, ConnectionError, RequestError) as exc:
            checks = [
                Check(
                    "api",
                    False,
                    f"{where} stopped answering during the checks ({exc or type(exc).__name__})",
                    "look at the gateway's log; run the doctor again",
                )
            ]
            checks += [_not_run(name, "the API stopped answering") for name in SOCKET_CHECKS]
        finally:
            ib.disconnect()  # type: ignore[no-untyped-call]
    checks.append(check_lines(conn.max_lines, allowance))
    if journal_path is not None:
        checks.append(check_journal(journal_path))
    return checks


def report_crosses(checks: list[Check], emit: EventSink) -> int:
    """Put each cross on the Log screen as a WARNING ``doctor`` event (the fix included),
    or one INFO event saying all passed; returns the number of crosses. This is what the
    dashboard's start-up run reports (the engine's :class:`EventLog` is the sink)."""
    bad = [c for c in checks if not c.ok]
    for c in bad:
        emit(EventLevel.WARNING, "doctor", f"{c.name}: {c.detail} -> {c.fix}")
    if not bad:
        emit(EventLevel.INFO, "doctor", f"preflight: all {len(checks)} checks pass")
    return len(bad)
