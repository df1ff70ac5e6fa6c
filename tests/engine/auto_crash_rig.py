"""The processes of the auto-trader's crash test (tests/engine/test_autotrader_crash.py): a
standalone simulated gateway (``tui-trader gateway``) and the engine as a user starts it
(``tui-trader run --headless --auto``), each a real process that can be SIGKILLed, plus
read-only views of what each holds: the journal (sqlite3 ``mode=ro``, polled while the
engine writes) and the gateway's orders (its control port's ``orders``).

The engine's journal is the default one (the user data dir) under an isolated HOME, as a
user's would be: ``run --headless`` has no journal option.
"""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.environment import isolated_env

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ID = 7
#: Orders not yet known to have reached IB, or not yet acknowledged.
IN_FLIGHT = ("PENDING_SEND", "SENT")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Row:
    """One auto_candidates row."""

    day: str
    symbol: str
    direction: str
    state: str
    reason: str | None
    intent_id: str | None


@dataclass(frozen=True)
class Intent:
    intent_id: str
    underlying: str
    status: str
    action: str
    filled: int


@dataclass(frozen=True)
class Snapshot:
    """The journal's candidates and intents at one moment."""

    candidates: tuple[Row, ...] = ()
    intents: tuple[Intent, ...] = ()

    def in_state(self, *states: str) -> list[Row]:
        return [c for c in self.candidates if c.state in states]

    @property
    def buys(self) -> list[Intent]:
        return [i for i in self.intents if i.action == "BUY"]

    def intent(self, intent_id: str) -> Intent:
        (found,) = [i for i in self.intents if i.intent_id == intent_id]
        return found


def read_journal(path: Path) -> Snapshot:
    """The journal read-only (empty while it does not exist or has no schema yet)."""
    if not path.exists():
        return Snapshot()
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
        try:
            rows = conn.execute(
                "SELECT day, symbol, direction, state, reason, intent_id FROM auto_candidates"
            ).fetchall()
            intents = conn.execute(
                "SELECT intent_id, underlying, status, spec, filled FROM intents"
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.OperationalError:  # created but not migrated yet
        return Snapshot()
    return Snapshot(
        tuple(Row(*r) for r in rows),
        tuple(Intent(i, u, s, json.loads(spec)["action"], int(f)) for i, u, s, spec, f in intents),
    )


def control(port: int, command: str) -> str:
    """One control-port command; its reply's text after ``ok`` (AssertionError otherwise)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10.0) as s:
        s.sendall(command.encode() + b"\n")
        reply = s.makefile("rb").readline().decode().rstrip("\n")
    assert reply == "ok" or reply.startswith("ok "), f"{command!r}: {reply}"
    return reply[3:]


def wait_for(what: str, ok: Callable[[], bool], timeout_s: float, every_s: float = 0.02) -> None:
    deadline = time.monotonic() + timeout_s
    while not ok():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(every_s)


@dataclass
class Rig:
    """A gateway process and the engine processes run on one journal (module doc)."""

    dir: Path
    symbols: tuple[str, ...]
    max_daily_trades: int
    start: str
    port: int = field(default_factory=free_port)
    control_port: int = field(default_factory=free_port)
    gateway: subprocess.Popen[bytes] | None = None
    engines: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return isolated_env(self.dir / "home")

    @property
    def journal(self) -> Path:
        return self.dir / "home" / "data" / "tui-trader" / "journal.sqlite3"

    def log(self, n: int) -> Path:
        return self.dir / f"engine-{n}.log"

    def _spawn(self, args: list[str], log: Path) -> subprocess.Popen[bytes]:
        with open(log, "wb") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "tui_trader.cli", *args],
                cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip

    def start_gateway(self) -> None:
        self.gateway = self._spawn(
            ["gateway", "--port", str(self.port), "--control-port", str(self.control_port),
             "--start", self.start, "--speed", "1", "--seed", "7",
             "--state", str(self.dir / "gateway-state.json")],
            self.dir / "gateway.log",
        )  # fmt: skip
        gateway = self.gateway

        def up() -> bool:
            assert gateway.poll() is None, (self.dir / "gateway.log").read_text()
            try:
                control(self.control_port, "time")
            except OSError:
                return False
            return True

        wait_for("the gateway's control port", up, 30.0, every_s=0.1)

    def start_engine(self) -> subprocess.Popen[bytes]:
        config = self.dir / "config.toml"
        config.write_text(
            f'[connection]\nhost = "127.0.0.1"\nport = {self.port}\nclient_id = {CLIENT_ID}\n'
            f"connect_timeout_s = 5.0\n\n[universe]\nsymbols = {json.dumps(list(self.symbols))}\n"
            f"\n[risk]\nmax_daily_trades = {self.max_daily_trades}\n"
        )
        engine = self._spawn(
            ["run", "--headless", "--auto", "--config", str(config)], self.log(len(self.engines))
        )
        self.engines.append(engine)
        return engine

    def kill_engine(self) -> None:
        engine = self.engines[-1]
        engine.send_signal(signal.SIGKILL)
        assert engine.wait(10.0) == -signal.SIGKILL

    def stop_engine(self) -> int:
        engine = self.engines[-1]
        engine.send_signal(signal.SIGTERM)
        return engine.wait(30.0)

    def held(self, what: str) -> list[dict[str, Any]]:
        """The gateway's ``orders`` or ``executions`` (faults.stats_reply)."""
        held: list[dict[str, Any]] = json.loads(control(self.control_port, what))
        return held

    def close(self) -> None:
        """Everything still running: engines killed, the gateway stopped."""
        for engine in self.engines:
            if engine.poll() is None:
                engine.kill()
                engine.wait(10.0)
        if self.gateway is not None and self.gateway.poll() is None:
            self.gateway.send_signal(signal.SIGTERM)
            try:
                self.gateway.wait(15.0)
            except subprocess.TimeoutExpired:
                self.gateway.kill()
                self.gateway.wait(10.0)
