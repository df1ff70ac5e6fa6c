"""How often the dashboard may draw a frame: up to 120 a second, not Textual's 60.

Textual draws what changed on a fixed grid of ``1 / TEXTUAL_FPS`` seconds: a key whose
effect is ready just after a grid point waits for the next one before its frame is
drawn. At 60 frames a second that wait is up to 16.7 ms, and with the 1,000-row Scanner
a filter letter or a sort (about 6 ms of work, then ~10 ms to compose the table's
lines) landed on either side of a grid point from one run to the next: keypress p99
read 45-51 ms (issue 12's limit is 50). At 120 the wait is at most 8.3 ms and the p99
read 28-32 ms. Frames are drawn only when something changed (the timer pauses in
between), so an idle dashboard does not draw more often; a held key draws at most twice
as many (small) frames.

Textual reads ``TEXTUAL_FPS`` once, when it is first imported, and its screens take the
grid period from ``textual.screen.UPDATE_PERIOD`` when each creates its update timer.
:func:`use_frame_rate` (called when the app module is imported, before any screen
exists) sets that period unless the user chose a rate with ``TEXTUAL_FPS``, which then
stands. The period is a module constant of the pinned Textual (pyproject.toml).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from textual import screen as textual_screen

#: Frames a second at most, unless ``TEXTUAL_FPS`` says otherwise.
FRAME_RATE = 120


def use_frame_rate(rate: int = FRAME_RATE, environ: Mapping[str, str] = os.environ) -> bool:
    """Set the screens' frame period to ``1 / rate``; False (and nothing changed) when
    ``TEXTUAL_FPS`` is set, the user's own choice."""
    if "TEXTUAL_FPS" in environ:
        return False
    textual_screen.UPDATE_PERIOD = 1 / rate  # type: ignore[misc]  # Final in Textual
    return True
