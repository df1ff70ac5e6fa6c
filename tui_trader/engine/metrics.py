"""Prometheus metrics of a running engine, under names dashboards depend on.

The names in :data:`METRIC_NAMES` are a stable contract (the broker/engine issue fixes
them): renaming one breaks somebody's dashboard, so add new metrics, never rename.

Decisions:

- **Its own registry.** Every :class:`EngineMetrics` owns a ``CollectorRegistry``, so two
  engines in one process (tests) never share or collide on a counter, and the exposition
  holds our metrics only (no process/GC collectors of the default registry).
- **Written from the event loop, read by the HTTP thread.** prometheus_client's metric
  objects are thread-safe; the engine sets them from store changes and IB events on the
  loop, and ``start_http_server``'s daemon thread only reads them. No collector runs engine
  code at scrape time, so a scrape can never see (or break) half-updated engine state.
- **Counters from cumulative sources** (line evictions, reconnects) are advanced by the
  difference to the last value seen, so they stay monotonic even if the source is
  replaced (a counter that went down would read as a restart to Prometheus).
- ``tui_trader_connected`` is 1 while the API socket is up (CONNECTED or DEGRADED; a
  DEGRADED link still carries orders), 0 otherwise.
- ``tui_trader_scan_seconds`` is a **gauge**: the duration of the last completed scan
  (indicators, filter and strategies plus applying live prices), in seconds. A gauge is
  directly plottable and alertable; ``tui_trader_scans_total`` counts scans for rates.
- ``tui_trader_orders_total{status}`` counts intents *entering* each status during this
  process's life (intents already in the journal at start are not counted again);
  every status label exists from the start at 0, so a dashboard's ``rate()`` works before
  the first order. ``tui_trader_ib_errors_total{code}`` counts every IB error/notice
  message by code, informational 21xx notices included (filter in the query).
- ``tui_trader_fills_total`` counts leg executions of our orders (deduplicated by exec id,
  so a re-sync after a reconnect does not count a fill twice).
- The auto-trader (SPEC 11): ``tui_trader_auto_state`` is a gauge of its mode (0 OFF,
  1 ARMED, 2 DRY-RUN, 3 HALTED: the footer's word as a number an alert can compare);
  ``tui_trader_auto_candidates{state}`` today's candidates per state, every state of
  :class:`~tui_trader.core.auto.CandidateState` present (0 when none, so "no SENT" is a
  value, not a missing series); ``tui_trader_auto_orders_total{kind}`` the orders it sent,
  ``kind`` ``entry`` or ``exit`` (both from the start at 0). A mode or kind outside these is
  a programming error and raises: a wrong number on a dashboard is worse.
- Served on 127.0.0.1 by default: the metrics say what is traded, which is nobody's
  business outside this machine unless the user binds it elsewhere on purpose.
- **Only ``/metrics``.** ``start_http_server`` answers every path with the metrics, so a
  typo in a scrape config (or any probe) silently "works"; our server wraps
  prometheus_client's WSGI app (content negotiation, gzip and ``name[]`` filtering kept)
  and answers 404 to any other path. Requests are not logged (a scrape every 15 s would
  drown the log).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import ThreadingWSGIServer, make_wsgi_app

from tui_trader.core.auto import AutoMode, CandidateState
from tui_trader.core.models import IntentStatus, OrderIntent
from tui_trader.state.store import Automation, Health

#: The stable metric names (the exposition's base names).
METRIC_NAMES: tuple[str, ...] = (
    "tui_trader_connected",
    "tui_trader_reconnects_total",
    "tui_trader_market_data_lines_active",
    "tui_trader_market_data_lines_max",
    "tui_trader_market_data_evictions_total",
    "tui_trader_request_queue_depth",
    "tui_trader_throttled",
    "tui_trader_ib_errors_total",
    "tui_trader_orders_total",
    "tui_trader_fills_total",
    "tui_trader_scan_seconds",
    "tui_trader_auto_state",
    "tui_trader_auto_candidates",
    "tui_trader_auto_orders_total",
)

#: ``tui_trader_auto_state``'s value of each auto-trader mode (module doc).
AUTO_STATE_VALUES: dict[AutoMode, int] = {
    AutoMode.OFF: 0,
    AutoMode.ARMED: 1,
    AutoMode.DRY_RUN: 2,
    AutoMode.HALTED: 3,
}
#: ``tui_trader_auto_orders_total``'s ``kind`` labels.
AUTO_ORDER_KINDS: tuple[str, ...] = ("entry", "exit")

DEFAULT_ADDR = "127.0.0.1"
METRICS_PATH = "/metrics"


def only_metrics(app: WSGIApplication) -> WSGIApplication:
    """``app`` at :data:`METRICS_PATH` (any query string), 404 on every other path."""

    def serve(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != METRICS_PATH:
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [f"Not found: the metrics are at {METRICS_PATH}\n".encode()]
        return app(environ, start_response)

    return serve


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr (it would interleave with the engine's own log)."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _start_server(addr: str, port: int, app: WSGIApplication) -> tuple[Any, threading.Thread]:
    """A threading WSGI server for ``app`` on ``addr:port`` (IPv4 or IPv6), in a daemon thread."""
    family = socket.getaddrinfo(addr, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)

    class Server(ThreadingWSGIServer):
        address_family = family[0][0]

    httpd = make_server(addr, port, app, Server, handler_class=_QuietHandler)
    thread = threading.Thread(target=httpd.serve_forever, name="metrics-http", daemon=True)
    thread.start()
    return httpd, thread


class EngineMetrics:
    """The engine's metrics (module doc); call the ``observe_*``/``count_*`` methods from
    the event loop, :meth:`serve` once to expose them over HTTP."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.connected = Gauge(
            "tui_trader_connected", "1 while the IB API socket is up, else 0", registry=r
        )
        self.reconnects = Counter(
            "tui_trader_reconnects_total", "Successful reconnections to IB", registry=r
        )
        self.lines_active = Gauge(
            "tui_trader_market_data_lines_active", "Market data lines streaming", registry=r
        )
        self.lines_max = Gauge(
            "tui_trader_market_data_lines_max",
            "The market data line budget (shrinks on IB error 101)",
            registry=r,
        )
        self.evictions = Counter(
            "tui_trader_market_data_evictions_total",
            "Market data lines evicted (least recently used) to make room",
            registry=r,
        )
        self.lines_queued = Gauge(
            "tui_trader_market_data_lines_queued",
            "Market data requests waiting for a line (every line pinned)",
            registry=r,
        )
        self.queue_depth = Gauge(
            "tui_trader_request_queue_depth",
            "Requests waiting to go out (ib_insync throttle + historical pacing)",
            registry=r,
        )
        self.throttled = Gauge(
            "tui_trader_throttled", "1 while requests to IB are being throttled", registry=r
        )
        self.ib_errors = Counter(
            "tui_trader_ib_errors_total", "IB error and notice messages by code", ["code"],
            registry=r,
        )  # fmt: skip
        self.orders = Counter(
            "tui_trader_orders_total", "Order intents entering each status", ["status"],
            registry=r,
        )  # fmt: skip
        self.fills = Counter("tui_trader_fills_total", "Leg executions of our orders", registry=r)
        self.scan_seconds = Gauge(
            "tui_trader_scan_seconds", "Duration of the last completed scan, seconds", registry=r
        )
        self.scans = Counter("tui_trader_scans_total", "Completed scans", registry=r)
        self.scan_symbols_per_s = Gauge(
            "tui_trader_scan_symbols_per_second", "Symbols per second of the last scan",
            registry=r,
        )  # fmt: skip
        self.auto_state = Gauge(
            "tui_trader_auto_state",
            "The auto-trader's mode: 0 off, 1 armed, 2 dry-run, 3 halted", registry=r,
        )  # fmt: skip
        self.auto_candidates = Gauge(
            "tui_trader_auto_candidates", "Today's auto-trader candidates by state", ["state"],
            registry=r,
        )  # fmt: skip
        self.auto_orders = Counter(
            "tui_trader_auto_orders_total", "Orders the auto-trader sent, by kind", ["kind"],
            registry=r,
        )  # fmt: skip
        for status in IntentStatus:
            self.orders.labels(status=status.value)
        for state in CandidateState:
            self.auto_candidates.labels(state=state.value)
        for kind in AUTO_ORDER_KINDS:
            self.auto_orders.labels(kind=kind)
        self._evictions_seen = 0
        self._reconnects_seen = 0
        self._statuses: dict[str, IntentStatus] = {}
        self._exec_ids: set[str] = set()
        self._server: Any = None
        self._thread: Any = None
        self.port: int | None = None

    # -- observations -----------------------------------------------------------------------

    def observe_health(self, health: Health, *, connected: bool, reconnects: int) -> None:
        self.connected.set(1 if connected else 0)
        self.lines_active.set(health.lines_active)
        self.lines_max.set(health.lines_max)
        self.lines_queued.set(health.lines_queued)
        self.queue_depth.set(health.request_queue_depth)
        self.throttled.set(1 if health.throttled else 0)
        self._advance(self.evictions, "_evictions_seen", health.line_evictions)
        self._advance(self.reconnects, "_reconnects_seen", reconnects)

    def _advance(self, counter: Counter, attr: str, value: int) -> None:
        seen: int = getattr(self, attr)
        if value > seen:
            counter.inc(value - seen)
        setattr(self, attr, max(seen, value))

    def count_error(self, code: int) -> None:
        self.ib_errors.labels(code=str(code)).inc()

    def seed_orders(self, intents: Iterable[OrderIntent]) -> None:
        """Intents known before this process counted anything: not counted."""
        for i in intents:
            self._statuses[i.intent_id] = i.status

    def observe_orders(self, intents: Iterable[OrderIntent]) -> None:
        """Count every intent whose status is new to us (a new intent counts its status)."""
        for i in intents:
            before = self._statuses.get(i.intent_id)
            if before is not i.status:
                self._statuses[i.intent_id] = i.status
                self.orders.labels(status=i.status.value).inc()

    def count_fill(self, exec_id: str) -> bool:
        """Count one execution once; True when it was new."""
        if not exec_id or exec_id in self._exec_ids:
            return False
        self._exec_ids.add(exec_id)
        self.fills.inc()
        return True

    def observe_scan(self, seconds: float, symbols: int) -> None:
        self.scan_seconds.set(seconds)
        self.scans.inc()
        self.scan_symbols_per_s.set(symbols / seconds if seconds > 0 else 0.0)

    def observe_auto(self, automation: Automation) -> None:
        """The auto-trader slice: its mode and today's candidates per state (every state
        set, so a state that emptied goes back to 0)."""
        mode = AutoMode(automation.mode)  # ValueError for a mode we do not know (module doc)
        counts = {state: 0 for state in CandidateState}
        for row in automation.candidates:
            counts[CandidateState(row.state)] += 1
        self.auto_state.set(AUTO_STATE_VALUES[mode])
        for state, n in counts.items():
            self.auto_candidates.labels(state=state.value).set(n)

    def count_auto_order(self, kind: str) -> None:
        """One order the auto-trader sent: ``kind`` ``entry`` or ``exit``."""
        if kind not in AUTO_ORDER_KINDS:
            raise ValueError(f"auto-trader order kind must be entry or exit, got {kind!r}")
        self.auto_orders.labels(kind=kind).inc()

    # -- exposition -------------------------------------------------------------------------

    def render(self) -> bytes:
        """The text exposition (what a scrape returns)."""
        data: bytes = generate_latest(self.registry)
        return data

    def serve(self, port: int, addr: str = DEFAULT_ADDR) -> int:
        """Serve ``/metrics`` on ``addr:port`` (0: a free port) from a daemon thread;
        returns the bound port. Raises OSError when the port cannot be bound."""
        if self._server is not None:
            raise RuntimeError("metrics are already being served")
        app = only_metrics(make_wsgi_app(self.registry))
        self._server, self._thread = _start_server(addr, port, app)
        self.port = int(self._server.server_port)
        return self.port

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        self.port = None
