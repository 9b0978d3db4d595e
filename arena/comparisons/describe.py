"""What a comparison says about itself: the header, the verdict words and the glossary.

``comparison.md`` has to stand alone (it is what gets pasted into a draft or a message),
so it opens with what was compared — the case and its paper, the game and its options,
each solver with its options and optimizers, steps and evaluation interval (with every
value the command line changed from the case's), seeds, the sweep — and ends with a
glossary of its columns. The metrics' definitions come from the game's own docstring
(:meth:`games.base.Game.metric_docs`), the one source that ``diffgames show GAME`` prints
too; the words below are the arena's and are defined here once.

:data:`VERDICT_WORDS` are the words of ``diffgames report``'s verdict column
(:mod:`arena.reports.solver_table`); "diverged" there means what the ``diverged`` column
of ``comparison.md`` counts.
"""
from __future__ import annotations

from typing import Any

__all__ = ["VERDICT_WORDS", "COLUMN_DOCS", "DIVERGED", "comparison_header", "glossary", "optimizers_text",
           "options_text", "run_configs"]

#: A run stopped by the run loop on a non-finite loss or parameter: what ``summary.json``
#: records as status ``diverged``, the ``diverged`` column counts and ``report`` calls so.
DIVERGED = ("the run stopped on a non-finite loss or parameter (status `diverged` in its summary.json; the "
            "last good checkpoint is kept)")

#: Every word of ``diffgames report``'s verdict column and its one meaning.
VERDICT_WORDS: dict[str, str] = {
    "converged": "the last evaluation of the verdict metric is within the game's tolerance",
    "converging": "not yet within the tolerance, but the verdict metric is still falling: the means of the four "
                  "quarters of the evaluations fall one after the other, the last by at least 10%",
    "cycling": "finite and bounded but neither converged, nor still falling, nor moving away: no trend over the "
               "quarters of the evaluations (e.g. an orbit around the equilibrium)",
    "moving away": "the verdict metric grows: its mean over the last quarter of the evaluations is at least twice "
                   "its start, or the quarters' means rise one after the other, the last by at least 10%",
    "diverged": DIVERGED,
    "settled": "(games judged by a value, not a distance) the value varies by at most the tolerance over the last "
               "quarter of the evaluations",
    "unsettled": "(games judged by a value) finite, but varying by more than the tolerance over the last quarter",
    "no value": "the run finished, but the verdict metric is missing or non-finite at some evaluation",
}

#: The columns of ``comparison.md`` that are not game metrics.
COLUMN_DOCS: dict[str, str] = {
    "setting": "the sweep's setting: the values of the swept keys for these runs",
    "solver": "the label of the solver in the case (its method, options and optimizers are listed above)",
    "runs": "runs of this solver (one per seed)",
    "diverged": "runs of them that diverged: " + DIVERGED + "; they are counted here, not averaged into the "
                "metric cells",
    "failed": "runs that ended in an error (listed under the table); not averaged",
    "ms/step": "training time per step in milliseconds (evaluations excluded), mean over the finished runs",
    "step reached": "(a table read at an amount of work or time) the step of the evaluation each run was read at — "
                    "its last evaluation at or before the amount — mean over the runs read: how many steps the "
                    "solver got for that compute",
    "work reached": "the work (loss-gradient evaluations of all players since step 0, counted by the engine) at "
                    "that evaluation, mean over the runs read; work does not depend on the machine or its load, "
                    "so it is the fair unit on a shared, noisy machine",
    "train time reached (s)": "the training time (seconds in training steps, evaluations excluded) at that "
                              "evaluation, mean over the runs read; the fair unit on a dedicated machine",
    "wall time reached (s)": "the wall time (seconds since the run started, evaluations included) at that "
                             "evaluation, mean over the runs read",
    "ended before": "runs whose last evaluation is below the amount asked: they are not read at it (their last "
                    "evaluation is less compute than asked), are left out of the other cells and listed under "
                    "the table",
}


def run_configs(results: list[Any]) -> list[Any]:
    """The :class:`arena.runs.config.RunConfig` of every result, in order."""
    from arena.runs.config import RunConfig

    return [RunConfig.load(r.run_dir / "config.toml") for r in results]


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return str(value)


def options_text(options: dict[str, Any]) -> str:
    """``a = 1, b = "x"``, or ``defaults`` when there are none."""
    return ", ".join(f"{k} = {_value(v)}" for k, v in options.items()) if options else "defaults"


def _spec_text(spec: dict[str, Any]) -> str:
    name = str(spec.get("name", "?"))
    rest = ", ".join(f"{k} {_value(v)}" for k, v in spec.items() if k != "name")
    return name + (f" ({rest})" if rest else "")


def optimizers_text(optimizers: dict[str, Any] | None, players: list[str], defaults: dict[str, Any],
                    own_step_size: bool = False) -> str:
    """Every player's base optimizer: ``every player: sgd (lr 0.2)`` or per player.

    ``None`` means the game's recommendation (``defaults``), said so; a solver that takes
    its own step size has none (its ``lr`` is among its options)."""
    if own_step_size:
        return "none (the solver takes its own step size, `lr` among its options)"
    suffix = ""
    if optimizers is None:
        optimizers, suffix = defaults, " — the game's recommendation"
    per = optimizers if all(isinstance(v, dict) for v in optimizers.values()) and optimizers else \
        {p: optimizers for p in players}
    texts = {p: _spec_text(per[p]) for p in players if p in per}
    if len(set(texts.values())) == 1 and len(texts) == len(players):
        return f"every player: {next(iter(texts.values()))}{suffix}"
    return "; ".join(f"{p}: {t}" for p, t in texts.items()) + suffix


def _solver_rows(results: list[Any], configs: list[Any], game: Any) -> list[str]:
    import solvers
    from diffgames.errors import DiffgamesError

    rows = ["| solver | method | options | optimizers |", "|---|---|---|---|"]
    seen: set[str] = set()
    for result, cfg in zip(results, configs):
        if result.label in seen:
            continue
        seen.add(result.label)
        try:
            own = solvers.make(cfg.solver, **cfg.solver_options).capabilities.own_step_size
        except DiffgamesError:
            own = False
        optimizers = optimizers_text(cfg.optimizers, list(game.player_names), game.default_optimizers(), own)
        method = cfg.solver.rsplit("/", 1)[-1]
        rows.append(f"| {result.label} | `{method}` | {options_text(cfg.solver_options)} | {optimizers} |")
    return rows


def _overridden(used: set[Any], case_values: set[Any] | None, flag: str) -> str:
    """`` — `--flag X` overrode the case's Y`` when the runs used other values than the case
    (``case_values``: what the case sets, per solver where its ``run`` tables differ)."""
    if case_values is None or used == case_values:
        return ""
    shown = ", ".join(str(v) for v in sorted(used, key=str))
    values = ", ".join(f"{v:,}" if isinstance(v, int) else str(v) for v in sorted(case_values, key=str))
    return f" — `{flag} {shown}` overrode the case's {values}"


def _case_values(case: Any, configs: list[Any], key: str, default: Any) -> set[Any] | None:
    """What the case sets for ``key`` for the solvers these runs used: its ``[run]`` value,
    or a solver's own ``[solvers.X.run]`` value."""
    if case is None:
        return None
    labels = {c.label for c in configs} & set(case.labels())
    return {{**case.run, **case.solver(label).run}.get(key, default) for label in labels} or \
        {case.run.get(key, default)}


def _per_solver(configs: list[Any], key: str, fmt: Any = str) -> str:
    """``30,000`` when every run used one value, else ``30,000 (k10), 400,000 (k0)``."""
    by_label = {c.label: getattr(c, key) for c in configs}
    if len(set(by_label.values())) == 1:
        return fmt(next(iter(by_label.values())))
    return ", ".join(f"{fmt(v)} ({label})" for label, v in by_label.items())


def comparison_header(results: list[Any], case: Any | None) -> str:
    """The opening of ``comparison.md``: what was compared, on what, for how long, and
    every command-line value that differs from the case's (see the module docstring)."""
    import games
    from arena.runs.config import RunConfig

    configs = run_configs(results)
    first = configs[0]
    game = games.make(first.game, **first.game_options)
    name = case.name if case is not None else (first.case or "runs")
    title = f"# Comparison: {name}" + (f" — {case.description}" if case is not None and case.description else "")
    lines = [title, ""]
    reference = case.reference if case is not None else {}
    if reference.get("paper"):
        lines.append(f"- **Reproduces:** {reference['paper']}" + (f", {reference['figure']}" if reference.get("figure")
                                                                 else ""))
    if reference.get("claim"):
        lines.append(f"- **Claim of the paper:** {reference['claim']}")
    game_name = first.game.rsplit("/", 1)[-1]
    lines.append(f"- **Game:** `{game_name}` — {options_text(first.game_options)}"
                 + ("" if case is None or not case.sweep else " (before the sweep's values)")
                 + f"; players {', '.join(game.player_names)}")
    defaults = RunConfig(game="", solver="", out="")
    steps, evals = {c.steps for c in configs}, {c.eval_every for c in configs}
    case_steps = _case_values(case, configs, "steps", defaults.steps)
    lines.append(f"- **Steps:** {_per_solver(configs, 'steps', lambda v: f'{v:,}')}, evaluated every "
                 f"{_per_solver(configs, 'eval_every')}"
                 + _overridden(steps, case_steps, "--steps")
                 + _overridden(evals, _case_values(case, configs, "eval_every", defaults.eval_every), "--eval-every")
                 + (" (the case's claims were stated for its own length)"
                    if case_steps is not None and steps != case_steps else ""))
    budgets = [(key, label) for key, label in (("work_budget", "work"), ("time_budget", "training time"))
               if any(getattr(c, key) is not None for c in configs)]
    for key, label in budgets:
        shown = {c.label: getattr(c, key) for c in configs}
        lines.append(f"- **Budget of {label}:** " + ", ".join(
            f"{'none' if v is None else (f'{v:,}' if key == 'work_budget' else f'{v:g} s')} ({name})"
            for name, v in shown.items()) + " — a run stops at the first step that reaches its budget")
    devices = {(c.device, c.dtype) for c in configs}
    lines.append("- **Device:** " + "; ".join(f"{d}, {t}" for d, t in sorted(devices))
                 + _overridden({c.device for c in configs}, _case_values(case, configs, "device", defaults.device),
                               "--device"))
    seeds = sorted({c.seed for c in configs})
    per_group = {(r.setting, r.label) for r in results}
    n = len(results) // max(1, len(per_group))
    case_seeds = case.seeds if case is not None else seeds
    lines.append(f"- **Seeds:** {', '.join(map(str, seeds))} (n = {n} per solver"
                 + (" per setting" if any(r.setting for r in results) else "") + ")"
                 + ("" if set(seeds) == set(case_seeds) else
                    f" — chosen on the command line; the case lists {', '.join(map(str, case_seeds))}"))
    if case is not None and case.sweep:
        settings = sorted({r.setting for r in results if r.setting})
        lines.append(f"- **Sweep:** {len(settings)} of the case's {len(case.settings())} settings over "
                     + "; ".join(f"`{a.key}` ∈ {{{', '.join(_value(v) for v in a.values)}}}" for a in case.sweep))
    if case is not None:
        used = list(dict.fromkeys(r.label for r in results))
        if len(used) < len(case.solvers):
            lines.append(f"- **Solvers:** {len(used)} of the case's {len(case.solvers)} ({', '.join(case.labels())})")
    lines += ["", *_solver_rows(results, configs, game), ""]
    return "\n".join(lines) + "\n"


def glossary(game: Any, metric_names: list[str], columns: list[str]) -> str:
    """``## What the columns mean``: the table's own columns (:data:`COLUMN_DOCS`), then
    each metric as the game's docstring defines it (a player's loss is the arena's)."""
    lines = ["## What the columns mean", ""]
    lines += [f"- `{c}`: {COLUMN_DOCS[c]}." for c in columns if c in COLUMN_DOCS]
    defined: dict[str, list[str]] = {}  # one line for the metrics of one entry (``row_payoff, col_payoff``)
    for metric in metric_names:
        text = game.metric_doc(metric) if game is not None else None
        if text is None and metric.startswith("loss_") and game is not None and metric[5:] in game.player_names:
            text = f"player {metric[5:]}'s loss (what it minimises) at the evaluation"
        text = text.rstrip(".") + "." if text else "(the game's docstring does not define it: no `Metrics` entry)."
        defined.setdefault(text, []).append(metric)
    lines += [f"- {', '.join(f'`{m}`' for m in names)}: {text}" for text, names in defined.items()]
    lines.append("")
    lines.append("Metric definitions come from the game's docstring (`diffgames show GAME` prints them too).")
    return "\n".join(lines) + "\n"
