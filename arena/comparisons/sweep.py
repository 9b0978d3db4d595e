"""Sweeps: a case's ``[sweep]`` table, the grid of *settings* it spans, and how a setting
changes a run's configuration.

A sweep key is a dotted path into the case and its value a non-empty list::

    [sweep]
    "game.hidden" = [32, 64, 128]                 # a game option
    "solver.unroll_steps" = [0, 5]                # every solver that has the option
    "optimizer.lr" = [1e-4, 1e-3]                 # every player's base optimizer
    "optimizer.discriminator.lr" = [1e-4, 3e-4]   # one player's

The grid is the product of the lists, in the order the keys are written (the last key
varies fastest). Each grid point is a :class:`Setting`, labelled by its values with short
names (``hidden=64,lr.discriminator=0.0003``); ``compare`` runs every solver × setting ×
seed under ``<out>/<setting>/<solver>/seed<k>``. ``optimizer.*`` keys change the base
optimizers of solvers that take them; a solver with its own step size (capability
``own_step_size``, e.g. ``cgd``) is left as it is.
"""
from __future__ import annotations

import copy
import inspect
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from diffgames.errors import ConfigError, DiffgamesError
from diffgames.registry import check_options, suggest

__all__ = ["Setting", "SweepAxis", "parse_sweep", "grid", "setting_label", "parse_label", "setting_sort_key", "format_value",
           "apply_to_optimizers", "solver_accepts"]

KINDS = ("game", "solver", "optimizer")


@dataclass(frozen=True)
class SweepAxis:
    """One ``[sweep]`` key: ``kind`` (game, solver, optimizer), ``player`` (an optimizer key's
    player, or ``None`` for every player), ``option`` and its ``values``."""

    key: str
    kind: str
    option: str
    values: tuple[Any, ...]
    player: str | None = None

    @property
    def short(self) -> str:
        """The name in a setting's label: the option, with the player for one player's optimizer."""
        return self.option if self.player is None else f"{self.option}.{self.player}"


@dataclass(frozen=True)
class Setting:
    """One grid point: its ``label`` and ``{sweep key: value}``."""

    label: str
    values: Mapping[str, Any] = field(default_factory=dict)

    def of(self, kind: str) -> dict[str, Any]:
        """``{option: value}`` of the keys of one kind (``"game"`` or ``"solver"``)."""
        prefix = kind + "."
        return {k[len(prefix):]: v for k, v in self.values.items() if k.startswith(prefix)}


def format_value(value: Any) -> str:
    """A value as it appears in a setting's label (and directory name)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "-".join(format_value(v) for v in value)
    return str(value).replace("/", "_").replace(",", "_")


def setting_label(axes: Sequence[SweepAxis], values: Sequence[Any]) -> str:
    shorts = [a.short for a in axes]
    names = [a.key if shorts.count(a.short) > 1 else a.short for a in axes]  # a clash: the full key
    return ",".join(f"{n}={format_value(v)}" for n, v in zip(names, values))


def parse_label(label: str) -> dict[str, str]:
    """``"hidden=64,lr=0.001"`` → ``{"hidden": "64", "lr": "0.001"}`` (values as written)."""
    pairs = [part.partition("=") for part in label.split(",") if part]
    return {name: value for name, _, value in pairs}


def setting_sort_key(label: str | None) -> tuple:
    """Sort key of a setting label: numbers compare as numbers (``lr=3e-05`` before ``lr=0.0001``)."""
    key = []
    for name, value in parse_label(label or "").items():
        try:
            key.append((name, 0, float(value), ""))
        except ValueError:
            key.append((name, 1, 0.0, value))
    return tuple(key)


def grid(axes: Sequence[SweepAxis]) -> list[Setting]:
    """Every combination of the axes' values (the last axis fastest); ``[]`` without axes."""
    if not axes:
        return []
    return [Setting(setting_label(axes, combo), {a.key: v for a, v in zip(axes, combo)})
            for combo in itertools.product(*(a.values for a in axes))]


def solver_accepts(factory: Callable[..., Any], option: str) -> bool:
    """Whether a solver factory takes ``option`` as a keyword."""
    params = inspect.signature(factory).parameters
    return option in params and params[option].kind in (inspect.Parameter.KEYWORD_ONLY,
                                                         inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _axis(key: str, values: Any, where: str, players: Sequence[str]) -> SweepAxis:
    at = f"{where}: [sweep].{key!r}" if "." in key else f"{where}: [sweep].{key}"
    if not isinstance(values, list) or not values:
        raise ConfigError(f"{at} must be a non-empty list of values, got {values!r}")
    if any(isinstance(v, dict) for v in values):
        raise ConfigError(f"{at}: values must be numbers, strings, booleans or lists, got a table")
    if len({format_value(v) for v in values}) < len(values):
        raise ConfigError(f"{at} lists a value twice: {values!r}")
    parts = key.split(".")
    if parts[0] not in KINDS or len(parts) < 2 or not all(parts):
        raise ConfigError(f"{at}: a sweep key is \"game.<option>\", \"solver.<option>\", "
                          f"\"optimizer.<hyperparameter>\" or \"optimizer.<player>.<hyperparameter>\"")
    if parts[0] == "optimizer":
        if len(parts) == 3:
            if parts[1] not in players:
                raise ConfigError(f"{at}: unknown player {parts[1]!r}.{suggest(parts[1], list(players))} "
                                  f"Players: {', '.join(players)}.")
            return SweepAxis(key, "optimizer", parts[2], tuple(values), player=parts[1])
        if len(parts) != 2:
            raise ConfigError(f"{at}: use \"optimizer.<hyperparameter>\" or \"optimizer.<player>.<hyperparameter>\"")
        return SweepAxis(key, "optimizer", parts[1], tuple(values))
    if len(parts) != 2:
        raise ConfigError(f"{at}: use \"{parts[0]}.<option>\" (one dot)")
    return SweepAxis(key, parts[0], parts[1], tuple(values))


def parse_sweep(table: Any, where: str, *, game_factory: Callable[..., Any], game_options: Mapping[str, Any],
                make_game: Callable[..., Any], solver_entries: Sequence[Any], solver_factory: Callable[[str], Any],
                players: Sequence[str], default_optimizers: Mapping[str, Any]) -> list[SweepAxis]:
    """The validated axes of a ``[sweep]`` table (``[]`` when absent).

    Every value is checked where it lands: each ``game.*`` value builds the game (the other
    options at the case's values), each ``solver.*`` key must be an option of at least one
    of the case's solvers, and each ``optimizer.*`` value must build the optimizers of
    every solver it changes. Each mistake is one :class:`ConfigError` naming the key.
    """
    if table is None:
        return []
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [sweep] must be a table of \"dotted.key\" = [values], got {table!r}")
    if not table:
        raise ConfigError(f"{where}: [sweep] is empty; list at least one \"dotted.key\" = [values], or remove it")
    axes = [_axis(key, values, where, players) for key, values in table.items()]
    for axis in axes:
        at = f"{where}: [sweep].{axis.key!r}"
        for value in axis.values:
            try:
                if axis.kind == "game":
                    options = {**game_options, axis.option: value}
                    check_options(game_factory, options, "game")
                    make_game(**options)
                elif axis.kind == "optimizer":
                    from solvers.optim import make_optimizer

                    for entry in solver_entries:
                        for spec in apply_to_optimizers(entry.optimizers, default_optimizers, players,
                                                        {axis.key: value}).values():
                            make_optimizer(spec)
            except DiffgamesError as exc:
                raise ConfigError(f"{at} = {value!r}: {exc}") from None
        if axis.kind == "solver":
            takers = [e for e in solver_entries if solver_accepts(solver_factory(e.name), axis.option)]
            if not takers:
                raise ConfigError(f"{at}: no solver of the case has an option {axis.option!r} "
                                  f"(solvers: {', '.join(e.label for e in solver_entries)})")
            for entry in takers:
                for value in axis.values:
                    try:
                        check_options(solver_factory(entry.name), {**entry.options, axis.option: value},
                                      f"solver {entry.name!r}")
                    except DiffgamesError as exc:
                        raise ConfigError(f"{at} = {value!r} ({entry.label}): {exc}") from None
    size = math.prod(len(a.values) for a in axes)
    if size > 100_000:
        raise ConfigError(f"{where}: [sweep] spans {size} settings; split it into smaller sweeps")
    return axes


def apply_to_optimizers(optimizers: Any, defaults: Mapping[str, Any], players: Sequence[str],
                        values: Mapping[str, Any]) -> Any:
    """A solver entry's ``optimizers`` with a setting's ``optimizer.*`` values applied.

    ``optimizers`` is ``None`` (the game's recommendation), one spec for every player, or
    ``{player: spec}``; with any ``optimizer.*`` value the result is ``{player: spec}`` for
    every player, the unset ones filled from ``defaults``. Unchanged without one.
    """
    changes = {k: v for k, v in values.items() if k.startswith("optimizer.")}
    if not changes:
        return optimizers
    if optimizers is None:
        specs = {p: dict(defaults[p]) for p in players}
    elif isinstance(optimizers, Mapping) and "name" in optimizers:
        specs = {p: copy.deepcopy(dict(optimizers)) for p in players}
    else:
        specs = {p: copy.deepcopy(dict(optimizers.get(p, defaults[p]))) for p in players}
    for key, value in changes.items():  # every-player keys first, then one player's
        parts = key.split(".")
        if len(parts) == 2:
            for spec in specs.values():
                spec[parts[1]] = value
    for key, value in changes.items():
        parts = key.split(".")
        if len(parts) == 3:
            specs[parts[1]][parts[2]] = value
    return specs
