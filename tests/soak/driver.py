"""The soak driver: the standalone gateway, the engine child, the fault script, the end.

1. Start ``tui-trader gateway --speed 10 --state FILE --control-port C`` on free loopback
   ports, and the engine child (tests/soak/engine_child.py) on a journal of its own.
2. Once the engine is first ready, play the seeded fault script (tests/soak/schedule.py):
   control-port faults, and kill -9 of the engine followed by a restart on the same
   journal and clientId. Right after each kill the journal is read for intents in flight
   (their outcome is unknown). Every ``poll_s`` the gateway's ``orders`` and
   ``executions`` are merged into the driver's own record (the gateway prunes yesterday's
   at a new session day; the record keeps them).
3. End phase: wait for a ready engine, quiesce the actor (SIGUSR1: it stops and cancels its
   working orders), wait until the gateway has nothing working and the journal has a fill
   for every leg execution (or ``settle_s`` passed), read the journal read-only, stop the
   engine (SIGTERM: it writes its ``final`` record), stop the gateway, grep every log for
   tracebacks.

Everything lands in ``workdir``: gateway.log, engine-N.log, samples-N.jsonl, the journal,
the gateway's state file and config.toml, kept for a post-mortem.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.soak.control import Control, ControlError
from tests.soak.report import IN_FLIGHT, WORKING_AT_IB, Collected, Intent, Record, Run
from tests.soak.schedule import Fault, fault_schedule
from tui_trader.core.settings import DEFAULT_SYMBOLS

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ID = 7
GATEWAY_SEED = 7
BOOT_TIMEOUT_S = 180.0
READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0
#: In-flight kills: the gateway's request delay meanwhile, and how long to wait for an order.
IN_FLIGHT_DELAY_MS = 400
IN_FLIGHT_WAIT_S = 15.0
#: An engine is not killed before it has run this long (seconds).
MIN_LIFE_S = 5.0

CONFIG = """\
# The soak's engine: the standalone gateway, loose limits so the actor keeps trading
# through rejections and fills (the checks are about bookkeeping, not about the limits).
[connection]
host = "127.0.0.1"
port = {port}
client_id = {client_id}
connect_timeout_s = 5.0

[risk]
max_positions = 30
max_daily_trades = 10000
max_rejections = 10000
max_daily_loss = 1000000.0

# The auto-trader armed in paper beside the scripted actor: it queues the signals, trades
# the entry window and sends exits, through the same order desk the actor uses.
[auto]
enabled = true
"""


@dataclass
class SoakOptions:
    workdir: Path
    minutes: float = 10.0
    seed: int = 14
    speed: float = 10.0
    poll_s: float = 5.0
    settle_s: float = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RecordFile:
    """A JSON-lines file another process appends to, read incrementally."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: list[Record] = []
        self._offset = 0

    def refresh(self) -> list[Record]:
        if not self.path.exists():
            return self.records
        with open(self.path, "rb") as f:
            f.seek(self._offset)
            data = f.read()
        complete = data[: data.rfind(b"\n") + 1]
        self._offset += len(complete)
        for line in complete.splitlines():
            if line.strip():
                self.records.append(json.loads(line))
        return self.records


@dataclass
class EngineRun:
    index: int
    process: asyncio.subprocess.Process
    samples: RecordFile
    log: Path
    started_at: float = field(default_factory=time.monotonic)
    killed_at: float | None = None

    def saw(self, kind: str) -> bool:
        return any(r["kind"] == kind for r in self.samples.refresh())

    def booted(self) -> bool:
        """Ready, and a sample says the first scan is done."""
        records = self.samples.refresh()
        return self.saw("ready") and any(r["kind"] == "sample" and r["booted"] for r in records)

    @property
    def ready(self) -> bool:
        state = [r["kind"] for r in self.samples.refresh() if r["kind"] in ("ready", "unready")]
        return bool(state) and state[-1] == "ready"


def read_journal(path: Path) -> tuple[dict[str, Intent], dict[str, str | None]]:
    """The journal's intents and fills, read-only (the engine may be writing)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10.0)
    try:
        intents = {
            row[0]: Intent(row[0], row[1], int(row[2]))
            for row in conn.execute("SELECT intent_id, status, filled FROM intents")
        }
        fills = {row[0]: row[1] for row in conn.execute("SELECT exec_id, intent_id FROM fills")}
    finally:
        conn.close()
    return intents, fills


class Driver:
    """One soak (module doc); :meth:`run` returns what the report is computed from."""

    def __init__(self, options: SoakOptions, log: Callable[[str], None] = print) -> None:
        self.o = options
        self.say = log
        self.dir = options.workdir
        self.port, self.control_port = free_port(), free_port()
        self.journal = self.dir / "journal.sqlite3"
        self.config = self.dir / "config.toml"
        self.control = Control(self.control_port)
        self.gateway: asyncio.subprocess.Process | None = None
        self.runs: list[EngineRun] = []
        self.orders: dict[tuple[int, int], Record] = {}
        self.executions: dict[str, Record] = {}
        self.in_flight: set[str] = set()
        self.faults: Counter[str] = Counter()
        self.problems: list[str] = []
        self._t0 = 0.0

    # -- processes ----------------------------------------------------------------------------

    async def start_gateway(self) -> None:
        log = open(self.dir / "gateway.log", "wb")  # noqa: SIM115 (the child owns it)
        self.gateway = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tui_trader.cli", "gateway",
            "--port", str(self.port), "--control-port", str(self.control_port),
            "--speed", f"{self.o.speed:g}", "--seed", str(GATEWAY_SEED),
            "--state", str(self.dir / "gateway-state.json"),
            cwd=ROOT, stdout=log, stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + 30.0
        while True:
            try:
                self.say(f"gateway up on {self.port} (control {self.control_port}), "
                         f"market time {await self.control.ask('time')}")  # fmt: skip
                return
            except ControlError:
                if time.monotonic() > deadline or self.gateway.returncode is not None:
                    why = "the simulated gateway did not start (see gateway.log)"
                    raise RuntimeError(why) from None
                await asyncio.sleep(0.2)

    async def start_engine(self) -> EngineRun:
        n = len(self.runs)
        path = self.dir / f"engine-{n}.log"
        log = open(path, "wb")  # noqa: SIM115 (the child owns it)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.soak.engine_child",
            "--config", str(self.config), "--journal", str(self.journal),
            "--control-port", str(self.control_port),
            "--samples", str(self.dir / f"samples-{n}.jsonl"),
            "--seed", str(self.o.seed * 1000 + n),
            cwd=ROOT, stdout=log, stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        log.close()
        run = EngineRun(n, process, RecordFile(self.dir / f"samples-{n}.jsonl"), path)
        self.runs.append(run)
        return run

    @property
    def engine(self) -> EngineRun:
        return self.runs[-1]

    async def kill_engine(self) -> None:
        run = self.engine
        if run.process.returncode is not None:
            self.problems.append(f"engine run {run.index} was already gone at its kill")
            return
        run.process.send_signal(signal.SIGKILL)
        run.killed_at = time.time()
        await run.process.wait()
        intents, _ = read_journal(self.journal)
        caught = {i.intent_id for i in intents.values() if i.status in IN_FLIGHT}
        if caught:
            self.say(f"  kill -9 caught {len(caught)} intent(s) in flight: {sorted(caught)}")
        self.in_flight |= caught

    async def kill_in_flight(self, *, placed: bool) -> None:
        """Kill the engine with an order in flight: the gateway delays requests, the journal
        is watched for a newly SENT intent, the engine is stopped (SIGSTOP) at once and
        killed when the gateway has placed that order (``placed``) or right away. Without
        an order in flight within ``IN_FLIGHT_WAIT_S`` it is a plain kill."""
        run = self.engine
        await self.control.ask(f"delay {IN_FLIGHT_DELAY_MS}")
        try:
            before, _ = read_journal(self.journal)
            seen = {i for i, x in before.items() if x.status in IN_FLIGHT}
            caught: set[str] = set()
            deadline = time.monotonic() + IN_FLIGHT_WAIT_S
            while not caught and time.monotonic() < deadline and run.process.returncode is None:
                await asyncio.sleep(0.01)
                intents, _ = read_journal(self.journal)
                caught = {i for i, x in intents.items() if x.status in IN_FLIGHT} - seen
            if caught and run.process.returncode is None:
                run.process.send_signal(signal.SIGSTOP)
                at_ib = placed and await self._until_placed(caught)
                self.say(f"  stopped with {sorted(caught)} in flight, "
                         f"{'placed' if at_ib else 'not placed'} at the gateway")  # fmt: skip
            else:
                self.say("  no order went out in time: a plain kill")
            await self.kill_engine()
        finally:
            await self.control.ask("delay 0")

    async def _until_placed(self, refs: set[str]) -> bool:
        """Wait until the gateway holds an order for each of ``refs``; False when it does
        not within a few seconds (the bytes were still in the stopped app's queue)."""
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            await self.poll_gateway()
            if refs <= {str(o["order_ref"]) for o in self.orders.values()}:
                return True
            await asyncio.sleep(0.05)
        return False

    async def wait_for(self, what: str, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                self.problems.append(f"timed out after {timeout:.0f} s waiting for {what}")
                return False
            await asyncio.sleep(0.25)
        return True

    # -- the gateway's view -------------------------------------------------------------------

    async def poll_gateway(self) -> None:
        try:
            for o in await self.control.ask_json("orders"):
                self.orders[(o["client_id"], o["order_id"])] = o
            for e in await self.control.ask_json("executions"):
                self.executions[e["exec_id"]] = e
        except ControlError as exc:
            self.problems.append(f"polling the gateway failed: {exc}")

    async def _poller(self) -> None:
        while True:
            await asyncio.sleep(self.o.poll_s)
            await self.poll_gateway()
            run = self.engine
            if run.killed_at is None and run.process.returncode is not None:
                self.problems.append(
                    f"engine run {run.index} exited by itself (code {run.process.returncode})"
                )
                await self.start_engine()

    # -- faults ---------------------------------------------------------------------------------

    async def play(self, fault: Fault) -> None:
        cmd = fault.command
        at = time.monotonic() - self._t0
        self.say(f"  {at:7.1f} s  {cmd}")
        if cmd.startswith("kill"):
            self.faults[cmd.replace("kill", "kill -9", 1)] += 1
            # a kill that falls due while a late one just restarted the engine waits until
            # the new engine runs: killing a process still importing tests nothing
            await asyncio.sleep(max(0.0, self.engine.started_at + MIN_LIFE_S - time.monotonic()))
            if cmd == "kill":
                await self.kill_engine()
            else:
                await self.kill_in_flight(placed=cmd.endswith(" placed"))
            return
        if cmd == "start":
            await self.start_engine()
            return
        word = cmd.split()[0]
        self.faults[cmd if word == "error" else word] += 1
        try:
            await self.control.ask(cmd)
        except ControlError as exc:
            self.problems.append(f"fault {cmd!r} failed: {exc}")

    # -- the soak -------------------------------------------------------------------------------

    async def run(self) -> Collected:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config.write_text(CONFIG.format(port=self.port, client_id=CLIENT_ID))
        duration = self.o.minutes * 60.0
        schedule = fault_schedule(self.o.seed, duration, DEFAULT_SYMBOLS)
        await self.start_gateway()
        poller: asyncio.Task[None] | None = None
        try:
            first = await self.start_engine()
            if not await self.wait_for("the engine's first boot", first.booted, BOOT_TIMEOUT_S):
                raise RuntimeError(f"the engine did not boot ({first.log})")
            self._t0 = time.monotonic()
            self.say(f"engine booted; {len(schedule)} faults over {duration:.0f} s, "
                     f"seed {self.o.seed}")  # fmt: skip
            poller = asyncio.create_task(self._poller(), name="soak-poller")
            for fault in schedule:
                await asyncio.sleep(max(0.0, self._t0 + fault.at - time.monotonic()))
                await self.play(fault)
            await asyncio.sleep(max(0.0, self._t0 + duration - time.monotonic()))
            poller.cancel()
            return await self.end()
        finally:
            if poller is not None:
                poller.cancel()
            await self.shutdown()

    async def end(self) -> Collected:
        run = self.engine
        self.say("end phase: waiting for a ready engine, then quiescing the actor")
        await self.wait_for("a ready engine at the end", lambda: run.ready, READY_TIMEOUT_S)
        ended_at = time.time()
        run.process.send_signal(signal.SIGUSR1)
        await self.wait_for("the actor to quiesce", lambda: run.saw("quiesced"), STOP_TIMEOUT_S)
        intents: dict[str, Intent] = {}
        fills: dict[str, str | None] = {}
        deadline = time.monotonic() + self.o.settle_s
        while True:
            await self.poll_gateway()
            intents, fills = read_journal(self.journal)
            working = [o for o in self.orders.values() if o["status"] in WORKING_AT_IB]
            unjournaled = [e for e, x in self.executions.items()
                           if x["con_id"] is not None and e not in fills]  # fmt: skip
            flying = [i for i in intents.values() if i.status in IN_FLIGHT]
            if not (working or unjournaled or flying) or time.monotonic() > deadline:
                break
            await asyncio.sleep(1.0)
        self.say(f"settled: {len(working)} working at IB, {len(unjournaled)} executions "
                 f"without a fill, {len(flying)} intents in flight")  # fmt: skip
        run.process.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(run.process.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            self.problems.append("the last engine did not stop on SIGTERM")
            run.process.kill()
            code = await run.process.wait()
        if code != 0:
            self.problems.append(f"the last engine exited with code {code}")
        return Collected(
            runs=[Run(r.index, r.samples.refresh(), r.killed_at) for r in self.runs],
            gateway_orders=list(self.orders.values()),
            gateway_executions=list(self.executions.values()),
            intents=intents,
            fills=fills,
            in_flight_at_kills=set(self.in_flight),
            tracebacks=self.tracebacks(),
            faults=self.faults,
            harness_problems=self.problems,
            ended_at=ended_at,
        )

    def tracebacks(self) -> list[str]:
        """Every traceback in the logs, named by file and the log line before it."""
        found: list[str] = []
        for path in [self.dir / "gateway.log", *(r.log for r in self.runs)]:
            if not path.exists():
                continue
            previous = ""
            for line in path.read_text(errors="replace").splitlines():
                if line.startswith("Traceback"):
                    found.append(f"{path.name}: {previous.strip()[:160]}")
                previous = line if line.strip() else previous
        return found

    async def shutdown(self) -> None:
        for run in self.runs:
            if run.process.returncode is None:
                run.process.kill()
                await run.process.wait()
        if self.gateway is not None and self.gateway.returncode is None:
            self.gateway.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.gateway.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                self.gateway.kill()
                await self.gateway.wait()
        await self.control.close()
