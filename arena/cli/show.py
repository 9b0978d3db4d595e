"""``diffgames show NAME``: a game's, solver's or case's options, capability record and claims.

Options come from the factory's signature (name, type, default) and the numpy-style
``Parameters`` section of its docstring (the first line of each entry's meaning), so
what ``show`` prints is what ``games.make`` / ``solvers.make`` accept.
"""
from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import games
import solvers
from arena.comparisons.cases import bundled_cases, find_case, load_case
from diffgames.errors import ConfigError, DiffgamesError
from diffgames.registry import absolute_location, describe_annotation, suggest

__all__ = ["cmd_show", "option_rows", "show_game", "show_solver", "show_case"]

#: The sign convention of zero-sum games, stated wherever a zero-sum game is shown.
ZERO_SUM_CONVENTION = ("zero-sum: losses are minimised and payoffs maximised; a ZeroSumGame defines `value`, "
                       "the first player's loss (the second player's is −value), or `payoff`, the first "
                       "player's payoff; a matrix game's `payoff` is what the row player maximises (its loss "
                       "is −payoff), so matrix(payoff=A) is the ZeroSumGame whose payoff is xᵀAy")


def _meanings(doc: str | None) -> dict[str, str]:
    """``{option: first line of its meaning}`` from a numpy-style ``Parameters`` section
    (an entry may name several options: ``a, b, c``)."""
    lines = inspect.cleandoc(doc or "").splitlines() + [""]
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Parameters") + 2
    except StopIteration:
        return {}
    paragraphs: list[tuple[list[str], list[str]]] = []
    for i in range(start, len(lines) - 1):
        line = lines[i]
        if line and not line.startswith(" "):
            if re.fullmatch(r"-{3,}", lines[i + 1].strip()):
                break  # the next section's heading
            paragraphs.append(([n.strip() for n in line.split(":")[0].split(",")], []))
        elif line.strip() and paragraphs:
            paragraphs[-1][1].append(line.strip())
    meanings = {}
    for names, text in paragraphs:
        plain = re.sub(r":\w+:`~?([^`]*)`", r"\1", re.sub(r"``([^`]*)``", r"\1", " ".join(text)))
        first = re.split(r"(?<=\.)\s", plain, maxsplit=1)[0]
        for n in names:
            meanings.setdefault(n, first)
    return meanings


def option_rows(factory: Callable[..., Any]) -> list[tuple[str, str, str, str]]:
    """``(name, type, default, meaning)`` of every keyword option of ``factory``."""
    signature = inspect.signature(factory)
    try:
        hints = typing.get_type_hints(factory.__init__ if inspect.isclass(factory) else factory)
    except Exception:  # noqa: BLE001 - unresolvable annotations: show them as written
        hints = {}
    meanings = {**_meanings(getattr(factory, "__doc__", None))}
    if inspect.isclass(factory):
        meanings = {**_meanings(factory.__init__.__doc__), **meanings}
    rows = []
    for name, p in signature.parameters.items():
        if name == "self" or p.kind not in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD):
            continue
        kind = describe_annotation(hints.get(name, p.annotation)) if p.annotation is not p.empty else "any"
        default = "(required)" if p.default is p.empty else repr(p.default)
        rows.append((name, kind, default, meanings.get(name, "")))
    return rows


def _options_text(factory: Callable[..., Any]) -> list[str]:
    rows = option_rows(factory)
    if not rows:
        return ["options: none"]
    width = max(len(r[0]) for r in rows)
    out = ["options:"]
    for name, kind, default, meaning in rows:
        out.append(f"  {name:<{width}}  {kind} = {default}" + (f"\n  {'':<{width}}  {meaning}" if meaning else ""))
    return out


def _record_text(record: Any) -> list[str]:
    out = ["capabilities:"]
    for field in dataclasses.fields(record):
        value = getattr(record, field.name)
        if dataclasses.is_dataclass(value):
            value = ", ".join(f"{f.name}={getattr(value, f.name)!r}" for f in dataclasses.fields(value)
                              if getattr(value, f.name) not in ((), None))
        out.append(f"  {field.name}: {'any' if value is None and field.name == 'players' else value}")
    return out


def _summary_line(factory: Callable[..., Any], described: dict[str, str], name: str) -> str:
    """A registered name's one-line description, or a located class's first docstring line."""
    if name in described:
        return described[name]
    doc = (getattr(factory, "__doc__", None) or "").strip().splitlines()
    return doc[0] if doc else ""


def _metrics_text(game: Any) -> list[str]:
    """Each metric the game logs, with its definition from the game's docstring."""
    names = list(game.metric_names())
    if not names:
        return ["metrics: none"]
    out = ["metrics (defined in the game's docstring; the glossary of comparison.md shows the same):"]
    for metric in names:
        out.append(f"  {metric}: {game.metric_doc(metric) or '(no Metrics entry in the docstring)'}")
    return out


def show_game(name: str) -> str:
    factory = games.factory(name)
    lines = [f"game {name}: {_summary_line(factory, games.describe(), name)}", *_options_text(factory)]
    try:
        game = games.make(name)
    except DiffgamesError as exc:
        lines.append(f"capabilities: depend on the options ({exc})")
        return "\n".join(lines)
    record = game.capabilities
    lines += [f"players: {', '.join(game.player_names)}", *_record_text(record), *_metrics_text(game)]
    if record.zero_sum:
        lines.append(ZERO_SUM_CONVENTION)
    from arena.comparisons.compare import seeds_change_nothing

    if seeds_change_nothing(game):
        lines.append("seeds: this game draws no data and starts from fixed parameters with its defaults, so every "
                     "seed runs the same; set an option that randomises its start for seed-to-seed variation")
    return "\n".join(lines)


def show_solver(name: str) -> str:
    factory = solvers.factory(name)
    lines = [f"solver {name}: {_summary_line(factory, solvers.describe(), name)}", *_options_text(factory)]
    return "\n".join(lines + _record_text(solvers.make(name).capabilities))


def show_case(path: Path) -> str:
    case = load_case(path)
    run = {k: v for k, v in case.run.items() if k != "seeds"}
    lines = [f"case {case.name} ({path}): {case.description}"]
    if case.reference:
        lines.append("reference: " + "; ".join(f"{k} = {v}" for k, v in case.reference.items()))
    lines += [f"game: {case.game}" + (f" {case.game_options}" if case.game_options else ""),
              f"seeds: {', '.join(map(str, case.seeds))}; run: {run or 'defaults'}",
              f"solvers ({len(case.solvers)}):"]
    for s in case.solvers:
        extra = ", ".join(f"{k}={v!r}" for k, v in s.options.items())
        lines.append(f"  {s.label}: {s.name}" + (f" ({extra})" if extra else "")
                     + (f", optimizers {s.optimizers}" if s.optimizers else "")
                     + (f"; its run: {s.run}" if s.run else ""))
    lines += _sweep_lines(case)
    lines.append(f"claims ({len(case.claims)}):" if case.claims else "claims: none")
    lines += [f"  {claim}" for claim in case.claims]
    return "\n".join(lines)


def _sweep_lines(case: Any) -> list[str]:
    """The grid of a case's ``[sweep]``: its keys, its size and the number of runs."""
    if not case.sweep:
        return [f"runs: {len(case.solvers)} solver(s) × {len(case.seeds)} seed(s) = {len(case.solvers) * len(case.seeds)}"]
    settings = case.settings()
    runs = len(settings) * len(case.solvers) * len(case.seeds)
    lines = [f"sweep: {' × '.join(str(len(a.values)) for a in case.sweep)} = {len(settings)} settings; "
             f"runs: {len(settings)} settings × {len(case.solvers)} solver(s) × {len(case.seeds)} seed(s) = {runs}"]
    lines += [f"  {a.key}: {', '.join(map(repr, a.values))}" for a in case.sweep]
    shown = settings[:4]
    lines.append("  settings: " + "; ".join(s.label for s in shown) + ("; …" if len(settings) > len(shown) else ""))
    return lines


def _show_located(name: str) -> str:
    """A game or solver named by where it is defined (``my_games.py:Chicken``)."""
    errors = []
    for registry, show in ((games, show_game), (solvers, show_solver)):
        try:
            factory = registry.factory(name)
        except DiffgamesError as exc:
            errors.append(str(exc))
            continue
        if factory is not None:
            return show(name)
    game_error = errors[0]
    if "not a subclass" in game_error and len(errors) > 1:
        raise ConfigError(errors[1] if "not a subclass" not in errors[1] else
                          f"{name}: neither a game (a games.Game subclass) nor a solver (a solvers.Solver subclass)")
    raise ConfigError(game_error)


def show_run(run_dir: Path) -> str:
    """A run directory: what ran, how far it got, and what decided its numbers."""
    from arena.runs.config import RunConfig
    from arena.runs.recorder import read_summary
    from diffgames.machine import provenance_line

    config, summary = RunConfig.load(run_dir / "config.toml"), read_summary(run_dir)
    lines = [f"run {run_dir}: {config.game} × {config.solver} ({config.label}), seed {config.seed}",
             f"status: {summary.get('status', 'unknown')} at step {summary.get('final_step', '–')} of {config.steps}",
             *_run_setup(config)]
    final = {k: v for k, v in summary.get("final_metrics", {}).items() if k not in ("step", "wall_time", "train_time")}
    if final:
        from arena.text import number

        lines.append(f"final metrics (step {summary.get('final_step', '–')}): "
                     + ", ".join(f"{k} = {number(v)}" for k, v in final.items()))
    if "provenance" in summary:
        lines.append("made with: " + provenance_line(summary["provenance"]))
    else:
        lines.append("made with: not recorded (a run written before runs recorded their provenance)")
    if "continued_under" in summary:
        c = summary["continued_under"]
        lines.append(f"continued from step {c['from_step']} under other settings ({'; '.join(c['changed'])}): "
                     "not bit-identical to one uninterrupted run")
    return "\n".join(lines)


def _run_setup(config: Any) -> list[str]:
    """What a run was made with: game options, the solver's options and every player's
    base optimizer (the game's recommendation when the run named none)."""
    from arena.comparisons.describe import optimizers_text, options_text

    lines = [f"game options: {options_text(config.game_options)}",
             f"solver {config.solver}: {options_text(config.solver_options)}"]
    try:
        game = games.make(config.game, **config.game_options)
        own = solvers.make(config.solver, **config.solver_options).capabilities.own_step_size
    except DiffgamesError as exc:
        return lines + [f"optimizers: {config.optimizers or 'the game’s recommendation'} ({exc})"]
    lines.append("optimizers: " + optimizers_text(config.optimizers, list(game.player_names),
                                                  game.default_optimizers(), own))
    lines.append(f"{config.steps:,} steps, evaluated every {config.eval_every}; {config.device}, {config.dtype}")
    return lines


def cmd_show(args: argparse.Namespace) -> int:
    name = args.name
    sections = []
    path = Path(name)
    if (path / "config.toml").is_file():
        sections.append(show_run(path))
    if path.suffix == ".toml" and path.exists():
        sections.append(show_case(path))
    if name in games.available():
        sections.append(show_game(name))
    if name in solvers.available():
        sections.append(show_solver(name))
    if ":" in name and not sections:  # file.py:Class or package.module:Class, as `run` accepts
        sections.append(_show_located(absolute_location(name, Path.cwd())))
    cases = {p.stem: p for p in bundled_cases()}
    if name in cases:
        sections.append(show_case(find_case(name)))
    if not sections:
        known = [*games.available(), *solvers.available(), *cases]
        raise ConfigError(f"no game, solver, case or run directory named {name!r}.{suggest(name, known)} "
                          "See `diffgames list` for the names.")
    print("\n\n".join(sections))
    return 0
