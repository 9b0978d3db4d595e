"""Parsing of command-line values shared by the CLI's commands: seed lists, ``k=v`` options, criteria and durations."""
from __future__ import annotations

import math
import re
from typing import Any

from diffgames.errors import ConfigError
from diffgames.registry import parse_option_value

__all__ = ["parse_seeds", "parse_kv", "parse_criterion", "is_number", "parse_duration", "parse_work", "UNIT_SECONDS"]


def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` → [0, 1, 2, 3, 4]; ``"0,3,7"`` → [0, 3, 7]."""
    seeds: list[int] = []
    for part in text.split(","):
        try:
            lo, hi = (int(x) for x in part.split("-")) if "-" in part else (int(part), int(part))
        except ValueError:  # also "-1": a seed is ≥ 0
            raise ConfigError(f"--seeds must look like 0-4 or 0,2,5 (seeds ≥ 0); got {text!r}") from None
        if hi < lo:
            raise ConfigError(f"--seeds {text!r}: the range {part} is empty; write it low-high, e.g. {hi}-{lo}")
        seeds.extend(range(lo, hi + 1))
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise ConfigError(f"--seeds {text!r} names seed {', '.join(map(str, repeated))} twice; each seed runs once")
    return seeds


def parse_kv(items: list[str] | None, flag: str) -> dict[str, Any]:
    """``["layout=grid", "k=5"]`` → ``{"layout": "grid", "k": 5}`` (values parsed as TOML)."""
    options = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            example = {"--game-opt": "layout=grid", "--solver-opt": "unroll_steps=5"}.get(flag, "name=value")
            raise ConfigError(f"{flag} expects key=value, got {item!r} (e.g. {flag} {example})")
        options[key.strip()] = parse_option_value(value.strip())
    return options


def parse_criterion(text: str) -> tuple[str, tuple[str, float] | None]:
    """``"modes_covered_1pct>=8"`` → ``("modes_covered_1pct", (">=", 8.0))``; a bare metric
    name → ``(name, None)``."""
    import re

    match = re.fullmatch(r"\s*([A-Za-z_][\w.]*)\s*(?:(>=|<=|==|>|<)\s*([-+0-9.eE]+))?\s*", text or "")
    if not match or (match.group(2) and not is_number(match.group(3))):
        raise ConfigError(f"--sweep expects METRIC or METRIC<op>VALUE (op one of >=, >, <=, <, ==), "
                          f"e.g. modes_covered_1pct>=8; got {text!r}")
    metric, op, value = match.groups()
    return metric, (op, float(value)) if op else None


def is_number(text: str) -> bool:
    """Whether ``text`` reads as a float."""
    try:
        float(text)
    except ValueError:
        return False
    return True


UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: str | int | float, what: str = "a duration") -> float:
    """Seconds from ``"90s"``, ``"10m"``, ``"1.5h"`` or a plain number of seconds.

    >>> parse_duration("10m"), parse_duration("1.5h"), parse_duration(90)
    (600.0, 5400.0, 90.0)
    """
    text = str(value).strip().lower()
    scale = UNIT_SECONDS.get(text[-1:], None)
    number = text[:-1] if scale is not None else text
    try:
        seconds = float(number) * (1.0 if scale is None else scale)
    except ValueError:
        seconds = float("nan")
    if isinstance(value, bool) or not seconds > 0 or seconds == float("inf"):
        raise ConfigError(f"{what} must be a positive duration such as 90s, 10m, 1.5h or a number of seconds; "
                          f"got {value!r}")
    return seconds


#: Commas in a number only as thousands separators: ``180,000`` but not ``1,0``.
_THOUSANDS = re.compile(r"[0-9]{1,3}(,[0-9]{3})+")


def parse_work(text: Any, where: str = "--at-work") -> int:
    """``180000``, ``"180,000"``, ``"180_000"`` or ``"1.8e5"`` → 180000: a whole number of
    loss-gradient evaluations ≥ 0; anything else (``"1,0"`` too) is one line of ConfigError.

    >>> parse_work("180,000"), parse_work("1.8e5")
    (180000, 180000)
    """
    value: float | None = None
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    elif isinstance(text, float) and text.is_integer():
        value = text
    elif isinstance(text, str) and ("," not in text or _THOUSANDS.fullmatch(text.strip())):
        try:
            value = float(text.replace(",", "").replace("_", "").strip())
        except ValueError:
            value = None
    if value is None or not math.isfinite(value) or value < 0 or not float(value).is_integer():
        raise ConfigError(f"{where} expects a whole number of loss-gradient evaluations ≥ 0 "
                          f"(e.g. 180000), got {text!r}")
    return int(value)
