"""GcPacer: full collections only when due and the keyboard is quiet, never deferred past
the limit; start/stop take over and give back the interpreter's threshold."""

from __future__ import annotations

import gc

from tui_trader.tui.gcpacing import GcPacer


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def pacer(clock: Clock, runs: list[float]) -> GcPacer:
    return GcPacer(clock=clock, every_s=30.0, quiet_s=1.0, max_defer_s=20.0,
                   collect=lambda: runs.append(clock.t))  # fmt: skip


def test_a_full_collection_runs_when_due_and_not_before() -> None:
    clock, runs = Clock(), []
    p = pacer(clock, runs)
    clock.t = 129.9
    assert not p.tick()
    clock.t = 130.0
    assert p.tick() and runs == [130.0]
    clock.t = 159.0  # the next one is due 30 s after the last
    assert not p.tick()
    clock.t = 160.0
    assert p.tick() and runs == [130.0, 160.0] and p.collections == 2


def test_typing_defers_the_collection_until_a_quiet_second_or_the_limit() -> None:
    clock, runs = Clock(), []
    p = pacer(clock, runs)
    clock.t = 130.0
    p.key_pressed()
    clock.t = 130.5
    assert not p.tick()  # a key 0.5 s ago: wait
    clock.t = 131.0
    assert p.tick() and runs == [131.0]  # a quiet second
    for step in range(1, 60):  # a key every half second, for half a minute
        clock.t = 161.0 + step * 0.5
        p.key_pressed()
        if p.tick():
            break
    assert runs == [131.0, 181.0]  # due at 161, deferred 20 s, then run regardless


def test_start_freezes_and_takes_over_full_collections_stop_gives_them_back() -> None:
    before = gc.get_threshold()
    frozen = gc.get_freeze_count()
    p = GcPacer()
    try:
        p.start()
        young, middle, full = gc.get_threshold()
        assert (young, middle) == before[:2] and full > 10**8
        assert gc.get_freeze_count() > frozen
    finally:
        p.stop()
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_settle_runs_the_next_quiet_pass_at_once_and_freezes_what_survives() -> None:
    """After the universe's one-off load (the app calls settle after the first complete
    scan): a full pass at the next quiet tick, not up to 30 s later, then freeze."""
    clock, runs = Clock(), []
    p = pacer(clock, runs)
    kept: list[list[int]] = []
    try:
        p.start()
        frozen = gc.get_freeze_count()
        kept += [[i] for i in range(3)]  # the "load": tracked, alive after the pass
        clock.t = 105.0
        p.key_pressed()
        p.settle()
        assert p.settling
        clock.t = 105.5
        assert not p.tick() and runs == []  # typing: it waits for a quiet second
        clock.t = 106.0
        assert p.tick() and runs == [106.0] and not p.settling
        assert gc.get_freeze_count() > frozen  # what survived is out of later passes
        clock.t = 135.9
        assert not p.tick()  # then the usual schedule, from this pass
        clock.t = 136.0
        assert p.tick() and runs == [106.0, 136.0]
    finally:
        p.stop()
    assert kept and gc.get_freeze_count() == 0


def test_a_pending_settle_still_runs_at_the_limit_under_constant_typing() -> None:
    """settle makes the pass due at once; it must not lift the max-defer guarantee (with
    a settle pending, a busy keyboard held off every full pass for good)."""
    clock, runs = Clock(), []
    p = pacer(clock, runs)
    try:
        p.start()
        clock.t = 105.0
        p.settle()
        for step in range(1, 200):  # a key every half second, for 100 s
            clock.t = 105.0 + step * 0.5
            p.key_pressed()
            if p.tick():
                break
        assert runs == [150.0] and not p.settling  # due at 130, deferred 20 s
    finally:
        p.stop()
