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
from diffgames.registry import describe_annotation, suggest

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


def show_game(name: str) -> str:
    factory = games.factory(name)
    lines = [f"game {name}: {games.describe()[name]}", *_options_text(factory)]
    try:
        game = games.make(name)
    except DiffgamesError as exc:
        lines.append(f"capabilities: depend on the options ({exc})")
        return "\n".join(lines)
    record = game.capabilities
    lines += [f"players: {', '.join(game.player_names)}", *_record_text(record)]
    if record.zero_sum:
        lines.append(ZERO_SUM_CONVENTION)
    from arena.comparisons.compare import seeds_change_nothing

    if seeds_change_nothing(game):
        lines.append("seeds: this game draws no data and starts from fixed parameters with its defaults, so every "
                     "seed runs the same; set an option that randomises its start for seed-to-seed variation")
    return "\n".join(lines)


def show_solver(name: str) -> str:
    factory = solvers.factory(name)
    lines = [f"solver {name}: {solvers.describe()[name]}", *_options_text(factory)]
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
                     + (f", optimizers {s.optimizers}" if s.optimizers else ""))
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


def show_run(run_dir: Path) -> str:
    """A run directory: what ran, how far it got, and what decided its numbers."""
    from arena.runs.config import RunConfig
    from arena.runs.recorder import read_summary
    from diffgames.machine import provenance_line

    config, summary = RunConfig.load(run_dir / "config.toml"), read_summary(run_dir)
    lines = [f"run {run_dir}: {config.game} × {config.solver} ({config.label}), seed {config.seed}",
             f"status: {summary.get('status', 'unknown')} at step {summary.get('final_step', '–')} of {config.steps}"]
    if "provenance" in summary:
        lines.append("made with: " + provenance_line(summary["provenance"]))
    else:
        lines.append("made with: not recorded (a run written before runs recorded their provenance)")
    if "continued_under" in summary:
        c = summary["continued_under"]
        lines.append(f"continued from step {c['from_step']} under other settings ({'; '.join(c['changed'])}): "
                     "not bit-identical to one uninterrupted run")
    return "\n".join(lines)


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
    cases = {p.stem: p for p in bundled_cases()}
    if name in cases:
        sections.append(show_case(find_case(name)))
    if not sections:
        known = [*games.available(), *solvers.available(), *cases]
        raise ConfigError(f"no game, solver, case or run directory named {name!r}.{suggest(name, known)} "
                          "See `diffgames list` for the names.")
    print("\n\n".join(sections))
    return 0
