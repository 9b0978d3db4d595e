"""Solver-comparison tables: converged / cycled / diverged, from comparison directories.

Turns the run directories that ``diffgames compare`` writes (``<out>/<label>/seed<k>``
with ``metrics.jsonl`` and ``summary.json``) into the markdown tables of
``docs/results/solvers.md``, so that every number there comes from the CLI's own outputs::

    python -m arena.solver_table runs/solvers-bilinear runs/solvers-rps --figures docs/results/figures

Verdict of one run, with ``d`` the game's verdict metric (:data:`CRITERIA`), ``d₀`` its value
at step 0, ``d_T`` the last evaluation and *late* the mean of ``d`` over the last quarter of
the evaluations:

* **diverged** — the run stopped on a non-finite loss or parameter, or late ≥
  :data:`GROWTH` × ``d₀`` (it moved away from the equilibrium and stayed away);
* **converged** — otherwise, ``d_T ≤ tol``;
* **cycled** — otherwise: finite, not converged, and not moved away (this includes runs
  still converging too slowly to reach ``tol`` by the last step; the late/start column
  tells them apart).

The iterated prisoner's dilemma has no equilibrium to measure a distance to; its verdict
uses the players' mean average reward ``r``: **converged** when ``r`` varies by at most
:data:`SETTLED` over the last quarter of the evaluations, **diverged** on a non-finite
value, **cycled** otherwise; its *outcome* is cooperation (``r ≥ −1.1``), defection
(``r ≤ −1.9``) or mixed.
"""
from __future__ import annotations

import argparse
import math
import platform
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arena.compare import RunResult, load_runs
from arena.config import RunConfig
from diffgames.errors import ConfigError, DiffgamesError

__all__ = ["Criterion", "CRITERIA", "GROWTH", "SETTLED", "run_verdict", "ipd_verdict", "solver_table",
           "machine_description", "plot_metric", "main"]

#: late mean / start at or above this: the run moved away from the equilibrium (diverged)
GROWTH = 2.0
#: IPD: the mean reward's range over the last quarter at or below this: settled (converged)
SETTLED = 0.01
COOPERATION, DEFECTION = -1.1, -1.9


@dataclass(frozen=True)
class Criterion:
    """The metric whose value decides a game's verdicts, and the tolerance of 'converged'."""

    metric: str
    tol: float
    what: str


CRITERIA = {
    "bilinear": Criterion("distance_to_equilibrium", 1e-3, "distance to the equilibrium (0, 0)"),
    "dirac-gan": Criterion("distance_to_equilibrium", 1e-3, "distance to the equilibrium θ = ψ = 0"),
    "letcher": Criterion("distance_to_origin", 1e-3, "distance to the origin (the only critical point)"),
    "rps": Criterion("nash_conv", 1e-3, "nash_conv (sum of best-response gains)"),
    "matching-pennies": Criterion("nash_conv", 1e-3, "nash_conv (sum of best-response gains)"),
    "tournament": Criterion("nash_conv", 1e-3, "nash_conv (sum of best-response gains)"),
    "cyclic-pennies": Criterion("nash_conv", 1e-3, "nash_conv (sum of best-response gains)"),
}


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _late(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return rows[-max(1, len(rows) // 4):]


def run_verdict(result: RunResult, crit: Criterion) -> dict[str, Any]:
    """Verdict of one run (see the module docstring) with the numbers behind it."""
    rows = [r for r in result.rows if crit.metric in r]
    values = [r[crit.metric] for r in rows]
    out: dict[str, Any] = {"final": values[-1] if values else math.nan, "ratio": math.nan, "first": None}
    out["first"] = next((r["step"] for r in rows if _finite(r[crit.metric]) and r[crit.metric] <= crit.tol), None)
    if result.status == "diverged" or not values or not all(_finite(v) for v in values):
        out.update(verdict="diverged", final=math.nan, stopped=result.summary.get("diverged_step"))
        return out
    late = statistics.fmean(r[crit.metric] for r in _late(rows))
    start = values[0]
    out["ratio"] = late / start if start > 0 else (math.inf if late > 0 else 1.0)
    if out["ratio"] >= GROWTH:
        out["verdict"] = "diverged"
    elif values[-1] <= crit.tol:
        out["verdict"] = "converged"
    else:
        out["verdict"] = "cycled"
    return out


def _ipd_reward(row: dict[str, Any]) -> float:
    return (row["average_reward_1"] + row["average_reward_2"]) / 2


def ipd_verdict(result: RunResult) -> dict[str, Any]:
    """Verdict and outcome of one IPD run (see the module docstring)."""
    rows = [r for r in result.rows if "average_reward_1" in r]
    rewards = [_ipd_reward(r) for r in rows]
    first = next((r["step"] for r, v in zip(rows, rewards) if _finite(v) and v >= COOPERATION), None)
    if result.status == "diverged" or not rewards or not all(_finite(v) for v in rewards):
        return {"verdict": "diverged", "outcome": "–", "final": math.nan, "coop": math.nan, "first": first}
    late = [_ipd_reward(r) for r in _late(rows)]
    final = rewards[-1]
    outcome = "cooperation" if final >= COOPERATION else "defection" if final <= DEFECTION else "mixed"
    return {"verdict": "converged" if max(late) - min(late) <= SETTLED else "cycled", "outcome": outcome,
            "final": final, "coop": rows[-1]["mutual_cooperation"], "first": first}


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
        from arena.cases import find_case, load_case

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
    labels = _labels(results, cfg.case)
    lines: list[str] = []
    if cfg.game == "ipd":
        head[-1] += (" Verdict: settled (converged) when the mean reward varies by ≤ "
                     f"{SETTLED:g} over the last quarter; outcome from the final mean reward r "
                     f"(cooperation r ≥ {COOPERATION}, defection r ≤ {DEFECTION}).")
        lines += ["| solver | verdict | outcome | final mean reward r | final mutual cooperation | "
                  f"first step with r ≥ {COOPERATION} | ms/step |", "|---|---|---|---|---|---|---|"]
        for label in labels:
            runs = [r for r in results if r.label == label]
            v = [ipd_verdict(r) for r in runs]
            lines.append(f"| {label} | {_counts([x['verdict'] for x in v])} | {_counts([x['outcome'] for x in v])} | "
                         f"{_spread([x['final'] for x in v])} | {_spread([x['coop'] for x in v])} | "
                         f"{_steps([x['first'] for x in v])} | {_ms(runs)} |")
    else:
        crit = CRITERIA.get(cfg.game)
        if crit is None:
            raise ConfigError(f"no verdict criterion for game {cfg.game!r}; known: {', '.join(sorted(CRITERIA))}, ipd")
        head[-1] += f" Verdict metric d = `{crit.metric}`, {crit.what}; tol = {crit.tol:g}."
        lines += [f"| solver | verdict | final d | late/start | first step with d ≤ {crit.tol:g} | ms/step |",
                  "|---|---|---|---|---|---|"]
        for label in labels:
            runs = [r for r in results if r.label == label]
            v = [run_verdict(r, crit) for r in runs]
            stopped = [x.get("stopped") for x in v if x.get("stopped")]
            final = _spread([x["final"] for x in v]) if not stopped else f"non-finite (step {min(stopped)})"
            lines.append(f"| {label} | {_counts([x['verdict'] for x in v])} | {final} | "
                         f"{_spread([x['ratio'] for x in v])} | {_steps([x['first'] for x in v])} | {_ms(runs)} |")
    return "\n".join(head + [""] + lines) + "\n"


def plot_metric(directory: str | Path, path: str | Path) -> Path:
    """Log-scale figure of the verdict metric (IPD: the mean reward) against the step, one
    line per solver (mean over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    results = load_runs(Path(directory))
    cfg = RunConfig.load(results[0].run_dir / "config.toml")
    ipd = cfg.game == "ipd"
    metric = "mean average reward" if ipd else CRITERIA[cfg.game].metric
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for i, label in enumerate(_labels(results, cfg.case)):
        runs = [r.rows for r in results if r.label == label and r.rows]
        n = min(len(r) for r in runs)
        steps = [row["step"] for row in runs[0][:n]]
        ys = np.array([[_ipd_reward(row) if ipd else row.get(metric, np.nan) for row in r[:n]] for r in runs], float)
        ax.plot(steps, np.nanmean(ys, axis=0), label=label, lw=1.2, color=f"C{i % 10}",
                ls="-" if i < 10 else "--")
    if not ipd:
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


def machine_description() -> str:
    """One line: CPU model and count, OS, Python and torch versions, torch threads."""
    import os

    import torch

    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} logical CPUs; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}, torch {torch.__version__}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m arena.solver_table", description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", help="comparison directories made by diffgames compare")
    parser.add_argument("--figures", help="also write <figures>/<case>.png (log-scale verdict metric)")
    parser.add_argument("--machine", action="store_true", help="print a line describing this machine first")
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
