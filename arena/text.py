"""Numbers as the command line prints them."""
from __future__ import annotations

import math
from typing import Any

__all__ = ["number"]


def number(x: Any, spec: str = ".4g") -> str:
    """``x`` formatted with ``spec``; ``–`` for a missing or NaN value, and never ``-0``
    (a loss of −0.0 and one of 0.0 are the same number)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, (int, float)) and x == 0:
        x = 0 * x + 0.0  # −0.0 + 0.0 is +0.0
    return format(x, spec)
