"""When the garbage collector may stop the dashboard: full passes while the trader is not
typing, never in the middle of a keystroke.

CPython 3.12 runs a full collection whenever enough objects have survived into its oldest
generation. Under a live feed that is every second or two, and a full pass over the
dashboard's objects (the tables' Rich Text cells, Textual's strips and caches: some 40,000
objects with a 1,000-row scanner) takes 20-40 ms on this machine (measured): the keypress
waiting behind it is what the trader feels (the keypress benchmark's worst cases were all
full collections, 120 ms before the start-up heap was frozen). So:

- **Freeze the start-up heap.** Once the first frame is up, everything alive (modules,
  classes, the app, its screens and themes) is moved out of the collector's sight with
  :func:`gc.freeze`: it lives as long as the process and no pass needs to walk it. Call
  :meth:`GcPacer.freeze` again after a later one-off load (the engine's modules).
- **Full passes on our schedule.** Automatic full collections are switched off (the third
  threshold is set out of reach); the young generations are still collected automatically,
  as before. :meth:`GcPacer.tick` runs a full pass every ``every_s`` seconds, but only when
  no key came in for ``quiet_s``; after ``max_defer_s`` it runs regardless, so cyclic
  garbage can never pile up however busy the keyboard.
- **Settle after the universe loads.** The engine's big one-off load (a universe's
  contracts, daily bars and tickers) arrives long after the first frame; with 1,000
  symbols every full pass walked it again: 80-150 ms a pass, measured, against 15-45 ms
  once settled. :meth:`GcPacer.settle` makes the next full pass due at once (still at a quiet
  moment) and freezes what survives it, so later passes do not walk it again. Objects
  frozen this way and dropped later are still freed by reference counting; only one in a
  reference cycle would stay (the app calls it once, after the first complete scan).
- :meth:`GcPacer.stop` (the app's exit) puts the previous thresholds back and unfreezes
  the heap, so what the app kept alive can be collected again (tests run many apps in
  one process; each would otherwise leave its widget tree frozen for good).

Only reference cycles wait for a full pass; everything else is freed by reference
counting the moment it is dropped, so memory does not grow in between.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

#: Seconds between full collections when the keyboard is quiet.
FULL_EVERY_S = 30.0
#: A full collection waits until no key came in for this long...
QUIET_S = 1.0
#: ...but never longer than this after it was due.
MAX_DEFER_S = 30.0
#: The third threshold while pacing: more gen-1 passes than a process ever makes.
_NEVER = 1 << 30


class GcPacer:
    """Full collections at quiet moments; see the module doc. ``clock`` is monotonic
    seconds (injected in tests)."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        every_s: float = FULL_EVERY_S,
        quiet_s: float = QUIET_S,
        max_defer_s: float = MAX_DEFER_S,
        collect: Callable[[], object] = gc.collect,
    ) -> None:
        self._clock = clock
        self._every = every_s
        self._quiet = quiet_s
        self._max_defer = max_defer_s
        self._collect = collect
        self._saved: tuple[int, int, int] | None = None
        self._last_full = clock()
        self._last_key = float("-inf")
        self._settle = False
        #: Full collections run by :meth:`tick` (tests and the log read it).
        self.collections = 0

    def start(self) -> None:
        """Freeze the start-up heap and take over full collections."""
        if self._saved is None:
            self._saved = gc.get_threshold()
            young, middle, _ = self._saved
            gc.set_threshold(young, middle, _NEVER)
        self.freeze()
        self._last_full = self._clock()

    @staticmethod
    def freeze() -> None:
        """Move every object alive now out of the collector's passes (module doc)."""
        gc.freeze()

    def stop(self) -> None:
        """Give full collections back to the interpreter."""
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            gc.unfreeze()
            self._saved = None

    def settle(self) -> None:
        """After a one-off load the app keeps (module doc): the next quiet tick runs a
        full pass and freezes what survives it."""
        self._settle = True

    @property
    def settling(self) -> bool:
        """Whether a :meth:`settle` pass is still to run."""
        return self._settle

    def key_pressed(self) -> None:
        self._last_key = self._clock()

    def tick(self) -> bool:
        """Run a full collection if one is due and the keyboard is quiet (or it has waited
        ``max_defer_s``); True when it ran."""
        now = self._clock()
        due = now - self._last_full
        if self._settle:  # due at once, but still counted from the last pass for the limit
            due = max(due, self._every)
        if due < self._every:
            return False
        if now - self._last_key < self._quiet and due < self._every + self._max_defer:
            return False
        self._collect()
        self._last_full = self._clock()
        self.collections += 1
        if self._settle:
            self._settle = False
            self.freeze()
        return True
