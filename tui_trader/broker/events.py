"""A component's handlers on ib_insync events, connected and disconnected as one unit.

Every broker component (and the engine) listens to a handful of the IB object's events
and must stop listening when it closes: a handler left connected keeps a closed component
alive and acting on a later connection's events. Written out by hand, the ``+=`` list in
``start`` and the ``-=`` list in ``close`` drift apart; here both walk the same list, and
both are idempotent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eventkit import Event  # ib_insync's events (a dependency of ib_insync)


class Subscriptions:
    """``(event, handler)`` pairs; :meth:`connect` and :meth:`disconnect` are idempotent."""

    def __init__(self, pairs: Iterable[tuple[Event, Callable[..., Any]]]) -> None:
        self._pairs = tuple(pairs)
        self.connected = False

    def connect(self) -> None:
        if self.connected:
            return
        for event, handler in self._pairs:
            event.connect(handler)
        self.connected = True

    def disconnect(self) -> None:
        if not self.connected:
            return
        for event, handler in self._pairs:
            event.disconnect(handler)
        self.connected = False
