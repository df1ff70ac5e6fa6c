"""The soak's fault script: a seeded, reproducible list of what happens when.

Each :class:`Fault` is a control-port command for the gateway, or a kill (:data:`KILLS`)
or ``start`` of the engine child (kill -9, then a restart on the same journal and
clientId). Faults that are states come with their end: a broken link (1100, 2110) is
restored (1101 "data lost" or 1102 "data kept"), a broken farm (2103, 2105, 2157) comes
back (2104, 2106, 2158), a frozen symbol is unfrozen, a delay goes back to 0, a killed
engine is started again.

Decisions:

- Engine kills happen in the first ``kill_until`` share of the soak only, so the last
  engine lives long enough for the memory check (RSS after warm-up vs at the end); every
  soak has at least one kill of each in-flight kind.
- Nothing starts in the last ``quiet_tail_s`` seconds, and every end of a state falls
  before the soak ends, so the end phase finds a healthy gateway.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

#: Broken-state notices and the notices that end them.
NOTICE_PAIRS: tuple[tuple[int, tuple[int, ...]], ...] = (
    (1100, (1101, 1102)),
    (2110, (1101, 1102)),
    (2103, (2104,)),
    (2105, (2106,)),
    (2157, (2158,)),
)
#: How often each kind is picked.
WEIGHTS: dict[str, int] = {
    "drop": 2,
    "restart": 2,
    "refuse": 1,
    "error": 3,
    "reject-next": 2,
    "freeze": 1,
    "delay": 1,
    "kill": 2,
}
MAX_STATE_S = 12.0
#: kill -9 at a random moment; or once an order is in flight (the journal says SENT, the
#: gateway delays requests meanwhile), the engine stopped (SIGSTOP) and killed after the
#: gateway placed the order ("placed": the app never saw the answer) or before it could
#: ("unplaced": the order never reached the exchange, its outcome is unknown to the app).
KILLS = ("kill", "kill in-flight placed", "kill in-flight unplaced")


@dataclass(frozen=True, slots=True)
class Fault:
    """``command`` at ``at`` seconds after the engine was first ready."""

    at: float
    command: str


def fault_schedule(
    seed: int,
    duration_s: float,
    symbols: tuple[str, ...],
    *,
    first_s: float = 10.0,
    gap_s: tuple[float, float] = (4.0, 12.0),
    kill_until: float = 0.5,
    quiet_tail_s: float = 45.0,
) -> list[Fault]:
    """The faults of a soak of ``duration_s`` seconds, in time order (module doc)."""
    rng = random.Random(seed)
    faults: list[Fault] = []
    last_start = duration_s - quiet_tail_s
    t = first_s
    kinds, weights = list(WEIGHTS), list(WEIGHTS.values())
    while t < last_start:
        kind = rng.choices(kinds, weights)[0]
        if kind == "kill" and t > duration_s * kill_until:
            kind = "drop"
        end = t + rng.uniform(1.0, MAX_STATE_S)
        if kind == "drop" or kind == "reject-next":
            faults.append(Fault(t, kind))
        elif kind in ("restart", "refuse"):
            faults.append(Fault(t, f"{kind} {rng.uniform(0.5, 6.0):.1f}"))
        elif kind == "error":
            broken, restored = rng.choice(NOTICE_PAIRS)
            faults += [Fault(t, f"error {broken}"), Fault(end, f"error {rng.choice(restored)}")]
        elif kind == "freeze":
            symbol = rng.choice(symbols)
            faults += [Fault(t, f"freeze {symbol}"), Fault(end, f"unfreeze {symbol}")]
        elif kind == "delay":
            faults += [Fault(t, f"delay {rng.randint(50, 1500)}"), Fault(end, "delay 0")]
        else:
            kill = rng.choice(KILLS)
            faults += [Fault(t, kill), Fault(t + rng.uniform(0.5, 3.0), "start")]
        t += rng.uniform(*gap_s)
    window = min(duration_s * kill_until, last_start)
    for i, kill in enumerate(KILLS[1:], start=1):  # every soak catches orders in flight
        if not any(f.command == kill for f in faults):
            at = window * i / len(KILLS) + rng.uniform(-1.0, 1.0)
            faults += [Fault(at, kill), Fault(at + rng.uniform(0.5, 3.0), "start")]
    return sorted(faults, key=lambda f: f.at)
