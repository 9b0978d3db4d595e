"""Reading runs at an amount of compute — work or training time — instead of at a step.

Solvers spend different compute per step (unrolled K makes K + 1 discriminator gradient
evaluations where simultaneous GD makes one), so "at step 10,000" does not compare them at
equal cost. Every evaluation row of ``metrics.jsonl`` records the cost so far
(:mod:`arena.runs.work`): ``work`` (loss-gradient evaluations of all players since step 0),
``train_time`` (seconds in training steps, evaluations excluded) and ``wall_time``.

The rule, one for ``diffgames table --at-work/--at-time``, ``diffgames verify`` and the
claims of a case (``at_work``, ``at_time``): a run is read at its **last evaluation whose
work (or time) is at or below the amount**. A run whose last evaluation is below the amount
*ended before it*: its last row is less compute than asked, so it is not read there — it is
flagged (``ended at work 150,000 < 180,000``) and left out of the means, and a claim counts
it as not holding.

Which unit: work does not depend on the machine or its load (two runs of one configuration
count the same work), so it is the fair unit on a shared, noisy machine; training time also
counts what work leaves out (backward passes through gradients, the optimizer's own
arithmetic), so it is the fair unit on a dedicated machine. Wall time also counts the
evaluations.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arena.parsing import UNIT_SECONDS, parse_duration, parse_work
from diffgames.errors import ConfigError

__all__ = ["At", "Reading", "NotRecorded", "parse_time", "parse_work", "at_work", "at_time", "read_at",
           "require_column", "X_AXES", "CLOCKS"]

#: ``--clock`` values and the column of ``metrics.jsonl`` each reads.
CLOCKS = {"train": "train_time", "wall": "wall_time"}
#: ``diffgames plot --x`` values: the column drawn on the x-axis and the axis label
#: (``None``: the solver's step label).
X_AXES: dict[str, tuple[str, str | None]] = {"step": ("step", None), "work": ("work", "loss-gradient evaluations"),
                                             "time": ("train_time", "training time (s)")}
def parse_time(text: Any, where: str = "--at-time") -> tuple[float, str]:
    """``"90s"``, ``"10m"``, ``"1.5h"`` or plain seconds (``"600"``, ``600``) → (seconds,
    how to print it: ``"10m"``, ``"600 s"``). The seconds come from
    :func:`arena.parsing.parse_duration`, the one parser of times; anything else is one line
    of ConfigError."""
    seconds = parse_duration(text, where)
    unit = str(text).strip().lower()[-1:]
    if unit in UNIT_SECONDS:
        return seconds, f"{seconds / UNIT_SECONDS[unit]:g}{unit}"
    return seconds, f"{seconds:g} s"


@dataclass(frozen=True)
class At:
    """An amount of compute to read runs at: ``axis`` ``"work"`` (``amount`` loss-gradient
    evaluations) or ``"time"`` (``amount`` seconds of the ``column`` clock)."""

    axis: str
    amount: float
    column: str = "work"
    shown: str = ""  #: the amount as the user wrote it (``"10m"``)

    def __str__(self) -> str:
        """``work 180,000``, ``10m of training``, ``10m of wall time``."""
        if self.axis == "work":
            return f"work {self.amount:,.0f}"
        return f"{self.shown} of " + ("training" if self.column == "train_time" else "wall time")

    def value_text(self, value: float) -> str:
        """``work 150,000``, ``540 s of training``: a run's value on this axis."""
        if self.axis == "work":
            return f"work {value:,.0f}"
        return f"{value:.4g} s of " + ("training" if self.column == "train_time" else "wall time")

    @property
    def stem(self) -> str:
        """The file name part of a table read here: ``work180000``, ``time600s``, ``walltime600s``."""
        if self.axis == "work":
            return f"work{self.amount:.0f}"
        return ("time" if self.column == "train_time" else "walltime") + f"{self.amount:g}s"

    @property
    def reached_column(self) -> str:
        """The table's column of the amount each solver's runs actually reached."""
        return {"work": "work reached", "train_time": "train time reached (s)",
                "wall_time": "wall time reached (s)"}[self.column]

    def reached_cell(self, values: list[float]) -> str:
        if not values:
            return "–"
        mean = sum(values) / len(values)
        return f"{mean:,.0f}" if self.axis == "work" else f"{mean:.4g}"


def at_work(value: Any, where: str = "--at-work") -> At:
    """An :class:`At` of ``value`` loss-gradient evaluations."""
    amount = parse_work(value, where)
    return At("work", amount, "work", f"{amount:,}")


def at_time(value: Any, clock: str = "train", where: str = "--at-time") -> At:
    """An :class:`At` of ``value`` (``"10m"``, ``600``) seconds of training (``clock``
    ``"train"``) or of wall time (``"wall"``)."""
    if clock not in CLOCKS:
        raise ConfigError(f"--clock must be one of {', '.join(CLOCKS)}, got {clock!r}")
    seconds, shown = parse_time(value, where)
    return At("time", seconds, CLOCKS[clock], shown)


class NotRecorded(ConfigError):
    """A run's rows lack the column an :class:`At` reads (one line, naming the run)."""


def require_column(rows: list[dict[str, Any]], column: str, run: Any) -> None:
    """Raise :class:`NotRecorded` when some row of run ``run`` (its folder) lacks ``column``."""
    if all(isinstance(row.get(column), (int, float)) and not isinstance(row.get(column), bool) for row in rows):
        return
    if column == "work":
        raise NotRecorded(f"{run}: no work recorded (loss-gradient evaluations): the run was made by a diffgames "
                          "that did not count work, or with --compile; re-run it with a current diffgames without "
                          "--compile to read it at an amount of work")
    other = " (or read it with --clock wall)" if column == "train_time" else ""
    raise NotRecorded(f"{run}: no {column} recorded: the run was made by an older diffgames; re-run it with a "
                      f"current diffgames{other}")


@dataclass(frozen=True)
class Reading:
    """One run read at an :class:`At`: ``row`` (``None`` when it has no evaluation or
    ``ended``) and, when it ended before the amount, its last row."""

    row: dict[str, Any] | None
    ended: dict[str, Any] | None = None

    def ended_text(self, at: At) -> str:
        """``ended at work 150,000 < 180,000 (step 750)``."""
        if self.ended is None:
            return ""
        value = self.ended[at.column]
        reached = at.value_text(value)
        asked = f"{at.amount:,.0f}" if at.axis == "work" else at.shown
        return f"ended at {reached} < {asked} (step {self.ended.get('step')})"


def read_at(rows: list[dict[str, Any]], at: At, run: Path | str = "run") -> Reading:
    """The run's last evaluation whose ``at.column`` is at or below ``at.amount``; a run
    whose last evaluation is below the amount ended before it (``Reading.ended``). A run
    whose rows lack the column raises :class:`NotRecorded` naming ``run``."""
    if not rows:
        return Reading(None)
    require_column(rows, at.column, run)
    if rows[-1][at.column] < at.amount:
        return Reading(None, rows[-1])
    within = [row for row in rows if row[at.column] <= at.amount]
    return Reading(max(within, key=lambda row: row["step"]) if within else None)
