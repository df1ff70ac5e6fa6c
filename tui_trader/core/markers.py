"""IB's "no value" markers, defined once.

TWS sends ``Double.MAX_VALUE`` (1.7976931348623157e308, "UNSET_DOUBLE") where a double
field has no value: a what-if answer not yet computed, a missing greek, an unknown
realised P&L. Prices and greeks additionally use -1 / -2, which each consumer judges in
context (a -1 delta is a real deep in-the-money put), so only the shared double marker and
the check every consumer makes live here. The simulated gateway sends the same value.
"""

from __future__ import annotations

import math

#: IB's UNSET_DOUBLE: "no value" for a double field (the largest finite float64).
IB_UNSET_DOUBLE = 1.7976931348623157e308


def usable_number(x: float | None) -> bool:
    """A real reported value: not None, finite, and not IB's 1.797e308 "no value" marker."""
    return x is not None and math.isfinite(x) and abs(x) < IB_UNSET_DOUBLE
