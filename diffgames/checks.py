"""Checks of option values a user gives, each failing with one :class:`ConfigError`
that names the option."""
from __future__ import annotations

import math

from diffgames.errors import ConfigError

__all__ = ["finite_number"]


def finite_number(value: float, name: str, minimum: float | None = None) -> float:
    """``value`` as a float; :class:`ConfigError` unless it is finite (and ≥ ``minimum``).

    >>> finite_number(2, "lr", 0.0)
    2.0
    """
    value = float(value)
    if not math.isfinite(value) or (minimum is not None and value < minimum):
        bound = "" if minimum is None else f" ≥ {minimum:g}"
        raise ConfigError(f"{name} must be a finite number{bound}, got {value}")
    return value
