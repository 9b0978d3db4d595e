"""Solver-comparison tables: converged / cycled / diverged, from comparison directories.

Turns the run directories that ``diffgames compare`` writes (``<out>/<label>/seed<k>``
with ``metrics.jsonl`` and ``summary.json``) into the markdown tables of
``docs/results/solvers.md``, so that every number there comes from the CLI's own outputs::

    python -m arena.reports.solver_table runs/solvers-bilinear runs/solvers-rps --figures docs/results/figures

Each game states how its runs are judged in its capability record
(:class:`games.base.Verdict`, ``capabilities.verdict``). The verdict words and their one
meaning each are :data:`arena.comparisons.describe.VERDICT_WORDS`; every table prints the
definitions of the words it uses. For a ``distance`` verdict, with ``d`` the game's verdict
metric, ``d₀`` its value at step 0, ``d_T`` the last evaluation, *late* the mean of ``d``
over the last quarter of the evaluations, and ``q₁ … q₄`` the means of ``d`` over the four
quarters of the evaluations (at least four evaluations; fewer give no trend):

* **diverged** — the run stopped on a non-finite loss or parameter (status ``diverged``:
  what the ``diverged`` column of ``comparison.md`` counts);
* **converged** — otherwise, ``d_T ≤ tol``;
* **moving away** — otherwise, late ≥ :data:`GROWTH` × ``d₀``, or ``q₁ < q₂ < q₃ < q₄``
  with ``q₄ ≥ q₃ / STEADY``;
* **converging** — otherwise, ``q₁ > q₂ > q₃ > q₄`` with ``q₄ ≤ STEADY · q₃`` (still
  falling at the end; :data:`STEADY` = 0.9);
* **cycling** — otherwise: finite, bounded, no trend.

A ``settled`` verdict is for games with no equilibrium to measure a distance to (the
iterated prisoner's dilemma: the players' mean average reward ``r``): **settled** when the
value varies by at most the verdict's ``tol`` over the last quarter of the evaluations,
**diverged** as above, **unsettled** otherwise; its *outcome* names the range of the final
value (for the IPD: cooperation ``r ≥ −1.1``, defection ``r ≤ −1.9``, or mixed). A run
that finished with a missing or non-finite verdict metric gets **no value**.
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import games
from arena.comparisons.compare import RunResult, load_runs, made_with
from arena.comparisons.describe import VERDICT_WORDS
from arena.runs.config import RunConfig
from diffgames.errors import ConfigError, DiffgamesError
from diffgames.machine import machine_description
from games.base import Verdict

__all__ = ["GROWTH", "STEADY", "verdict_of", "trend", "run_verdict", "settled_verdict", "solver_table", "plot_metric", "main"]

#: late mean / start at or above this: the run is moving away from the equilibrium
GROWTH = 2.0
#: a trend counts while the last quarter's mean is at most this times the third's (falling),
#: or at least the third's divided by it (rising)
STEADY = 0.9


def verdict_of(config: RunConfig) -> Verdict:
    """The verdict record of the game a run played (its capability record's ``verdict``)."""
    verdict = games.make(config.game, **config.game_options).capabilities.verdict
    if verdict is None:
        raise ConfigError(f"game {config.game!r} declares no verdict (capabilities.verdict is None), so report "
                          "cannot judge its runs; use `diffgames table` for its metrics")
    return verdict


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _late(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return rows[-max(1, len(rows) // 4):]


def trend(values: list[float]) -> str | None:
    """``"falling"`` or ``"rising"`` when the means of the four quarters of ``values`` fall
    (rise) one after the other and the last still by the factor :data:`STEADY`; ``None``
    otherwise, and for fewer than four values."""
    if len(values) < 4:
        return None
    n = len(values)
    q = [statistics.fmean(values[k * n // 4:(k + 1) * n // 4]) for k in range(4)]
    if q[0] > q[1] > q[2] > q[3] and q[3] <= STEADY * q[2]:
        return "falling"
    if q[0] < q[1] < q[2] < q[3] and q[3] * STEADY >= q[2]:
        return "rising"
    return None


def run_verdict(result: RunResult, crit: Verdict) -> dict[str, Any]:
    """Verdict of one run of a ``distance`` verdict (see the module docstring) with the
    numbers behind it."""
    rows = [r for r in result.rows if crit.value(r) is not None]
    values = [crit.value(r) for r in rows]
    out: dict[str, Any] = {"final": values[-1] if values else math.nan, "ratio": math.nan, "first": None}
    out["first"] = next((r["step"] for r, v in zip(rows, values) if _finite(v) and v <= crit.tol), None)
    if result.status == "diverged":
        out.update(verdict="diverged", final=math.nan, stopped=result.summary.get("diverged_step"))
        return out
    if not values or not all(_finite(v) for v in values):
        out.update(verdict="no value", final=math.nan)
        return out
    late = statistics.fmean(crit.value(r) for r in _late(rows))
    start = values[0]
    out["ratio"] = late / start if start > 0 else (math.inf if late > 0 else 1.0)
    direction = trend(values)
    if values[-1] <= crit.tol:
        out["verdict"] = "converged"
    elif out["ratio"] >= GROWTH or direction == "rising":
        out["verdict"] = "moving away"
    elif direction == "falling":
        out["verdict"] = "converging"
    else:
        out["verdict"] = "cycling"
    return out


def _outcome(crit: Verdict, value: float) -> str:
    for name, low, high in crit.outcomes:
        if (low is None or value >= low) and (high is None or value <= high):
            return name
    return "mixed"


def settled_verdict(result: RunResult, crit: Verdict) -> dict[str, Any]:
    """Verdict and outcome of one run of a ``settled`` verdict (see the module docstring)."""
    rows = [r for r in result.rows if crit.value(r) is not None]
    values = [crit.value(r) for r in rows]
    goal = -math.inf if crit.goal is None else crit.goal
    first = next((r["step"] for r, v in zip(rows, values) if _finite(v) and v >= goal), None)
    if result.status == "diverged" or not values or not all(_finite(v) for v in values):
        return {"verdict": "diverged" if result.status == "diverged" else "no value", "outcome": "–",
                "final": math.nan, "first": first, **{m: math.nan for m in crit.also}}
    late = [crit.value(r) for r in _late(rows)]
    return {"verdict": "settled" if max(late) - min(late) <= crit.tol else "unsettled",
            "outcome": _outcome(crit, values[-1]), "final": values[-1], "first": first,
            **{m: rows[-1].get(m, math.nan) for m in crit.also}}


# ---------------------------------------------------------------------------- formatting
def _num(x: float) -> str:
    if not _finite(x):
        return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else str(x)
    return f"{x:.3g}"


def _spread(values: list[float]) -> str:
    finite = [v for v in values if _finite(v)]
    if not finite:
        return "–"
    if len(values) == 1:
        return _num(finite[0])
    text = f"{_num(statistics.fmean(finite))} [{_num(min(finite))}, {_num(max(finite))}]"
    return text + (f" ({len(values) - len(finite)} non-finite)" if len(finite) < len(values) else "")


def _counts(words: list[str]) -> str:
    order = list(dict.fromkeys(words))
    if len(order) == 1:
        return f"**{order[0]}**" + (f" ({len(words)}/{len(words)})" if len(words) > 1 else "")
    return ", ".join(f"{w} {words.count(w)}/{len(words)}" for w in order)


def _steps(values: list[int | None]) -> str:
    shown = ["–" if v is None else str(v) for v in values]
    return shown[0] if len(set(shown)) == 1 else ", ".join(shown)


def _ms(runs: list[RunResult]) -> str:
    ms = [r.summary.get("time_per_step_ms") for r in runs]
    ms = [m for m in ms if _finite(m)]
    return f"{statistics.fmean(ms):.2f}" if ms else "–"


def _labels(results: list[RunResult], case_name: str) -> list[str]:
    found = list(dict.fromkeys(r.label for r in results))
    try:
        from arena.comparisons.cases import find_case, load_case

        order = load_case(find_case(case_name)).labels() if case_name else []
    except DiffgamesError:
        order = []
    return [l for l in order if l in found] + [l for l in found if l not in order]


def solver_table(directory: str | Path) -> str:
    """The markdown section (heading, settings line, table) of one comparison directory."""
    directory = Path(directory)
    results = load_runs(directory)
    if not results:
        raise ConfigError(f"{directory} holds no runs (expected <label>/seed<k>/config.toml inside)")
    cfg = RunConfig.load(results[0].run_dir / "config.toml")
    seeds = sorted({r.seed for r in results})
    head = [f"### {cfg.game}" + (f" (case `{cfg.case}`)" if cfg.case else ""), "",
            f"{cfg.steps} steps, evaluated every {cfg.eval_every}, seeds {', '.join(map(str, seeds))}; "
            f"runs in `{directory}`."]
    crit = verdict_of(cfg)
    table = _settled_table if crit.kind == "settled" else _distance_table
    rule, lines = table(results, _labels(results, cfg.case), crit)
    # each table names the code, versions and thread count its runs were made with
    return "\n".join(head[:-1] + [head[-1] + rule, ""] + lines) + "\n" + _words_used(lines) + made_with(results)


def _words_used(lines: list[str]) -> str:
    """The definitions of the verdict words in the table's verdict column."""
    import re

    cells = " ".join(line.split("|")[2] for line in lines[2:] if line.count("|") > 2)
    used = [w for w in VERDICT_WORDS if re.search(rf"(?<![\w-]){w}(?![\w-])", cells)]
    return "\n" + "".join(f"- **{w}**: {VERDICT_WORDS[w]}\n" for w in used) if used else ""


def _metric_text(crit: Verdict) -> str:
    return crit.metric if isinstance(crit.metric, str) else "mean of " + ", ".join(crit.metric)


def _distance_table(results: list[RunResult], labels: list[str], crit: Verdict) -> tuple[str, list[str]]:
    rule = f" Verdict metric {crit.symbol} = `{_metric_text(crit)}`, {crit.what}; tol = {crit.tol:g}."
    lines = [f"| solver | verdict | final {crit.symbol} | late/start | first step with {crit.symbol} ≤ {crit.tol:g} "
             "| ms/step |", "|---|---|---|---|---|---|"]
    for label in labels:
        runs = [r for r in results if r.label == label]
        v = [run_verdict(r, crit) for r in runs]
        stopped = [x.get("stopped") for x in v if x.get("stopped")]
        final = _spread([x["final"] for x in v]) if not stopped else f"non-finite (step {min(stopped)})"
        lines.append(f"| {label} | {_counts([x['verdict'] for x in v])} | {final} | "
                     f"{_spread([x['ratio'] for x in v])} | {_steps([x['first'] for x in v])} | {_ms(runs)} |")
    return rule, lines


def _range_text(symbol: str, low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"{low:g} ≤ {symbol} ≤ {high:g}"
    return f"{symbol} ≥ {low:g}" if low is not None else f"{symbol} ≤ {high:g}"


def _settled_table(results: list[RunResult], labels: list[str], crit: Verdict) -> tuple[str, list[str]]:
    s = crit.symbol
    outcomes = ", ".join(f"{name} {_range_text(s, low, high)}" for name, low, high in crit.outcomes)
    rule = (f" Verdict: settled (converged) when the {crit.what} varies by ≤ {crit.tol:g} over the last quarter; "
            f"outcome from the final {crit.what} {s}" + (f" ({outcomes})." if outcomes else "."))
    columns = ["solver", "verdict", "outcome", f"final {crit.what} {s}",
               *(f"final {m.replace('_', ' ')}" for m in crit.also),
               *([f"first step with {s} ≥ {crit.goal:g}"] if crit.goal is not None else []), "ms/step"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for label in labels:
        runs = [r for r in results if r.label == label]
        v = [settled_verdict(r, crit) for r in runs]
        cells = [label, _counts([x["verdict"] for x in v]), _counts([x["outcome"] for x in v]),
                 _spread([x["final"] for x in v]), *(_spread([x[m] for x in v]) for m in crit.also),
                 *([_steps([x["first"] for x in v])] if crit.goal is not None else []), _ms(runs)]
        lines.append("| " + " | ".join(cells) + " |")
    return rule, lines


def plot_metric(directory: str | Path, path: str | Path) -> Path:
    """Figure of the verdict's value against the step (log scale for a distance), one line
    per solver (mean over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    results = load_runs(Path(directory))
    cfg = RunConfig.load(results[0].run_dir / "config.toml")
    crit = verdict_of(cfg)
    distance = crit.kind == "distance"
    metric = _metric_text(crit)
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for i, label in enumerate(_labels(results, cfg.case)):
        runs = [r.rows for r in results if r.label == label and r.rows]
        n = min(len(r) for r in runs)
        steps = [row["step"] for row in runs[0][:n]]
        ys = np.array([[np.nan if (v := crit.value(row)) is None else v for row in r[:n]] for r in runs], float)
        ax.plot(steps, np.nanmean(ys, axis=0), label=label, lw=1.2, color=f"C{i % 10}",
                ls="-" if i < 10 else "--")
    if distance:
        ax.set_yscale("log")
        ax.set_ylim(bottom=1e-10)
    ax.set_xlabel("step")
    ax.set_ylabel(metric)
    ax.set_title(f"{cfg.game}: {metric} (mean over {len({r.seed for r in results})} seed(s))")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=2, loc="best")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m arena.reports.solver_table", description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", help="comparison directories made by diffgames compare")
    parser.add_argument("--figures", help="also write <figures>/<case>.png (log-scale verdict metric)")
    parser.add_argument("--machine", action="store_true", help="print a line describing this machine (the one making the table) first")
    args = parser.parse_args(argv)
    try:
        if args.machine:
            print(f"Machine: {machine_description()}\n")
        for d in args.dirs:
            print(solver_table(d))
            if args.figures:
                cfg = RunConfig.load(load_runs(Path(d))[0].run_dir / "config.toml")
                print(f"figure: {plot_metric(d, Path(args.figures) / f'{cfg.case or Path(d).name}.png')}\n")
    except DiffgamesError as exc:
        print(f"solver_table: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
