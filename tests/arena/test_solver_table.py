"""arena.reports.solver_table: the verdict rule on hand-made runs, and the table from a real comparison."""
from __future__ import annotations

import math
from pathlib import Path

import torch

from arena.cli.main import main as cli
from arena.comparisons.compare import RunResult
from arena.reports.solver_table import main, run_verdict, settled_verdict
from games.classic import Bilinear
from games.ipd import IteratedPrisonersDilemma

CRIT = Bilinear.capabilities.verdict


def _run(values, status="done", metric="distance_to_equilibrium"):
    rows = [{"step": 10 * i, metric: v} for i, v in enumerate(values)]
    return RunResult("x", 0, Path("."), {"status": status, "diverged_step": 7}, rows)


def test_verdict_rule():
    assert run_verdict(_run([1.0, 0.5, 1e-2, 1e-4]), CRIT)["verdict"] == "converged"
    assert run_verdict(_run([1.0, 0.5, 1e-2, 1e-4]), CRIT)["first"] == 30
    assert run_verdict(_run([1.0, 1.2, 0.8, 1.1, 0.9]), CRIT)["verdict"] == "cycling"
    assert run_verdict(_run([1.0, 1.5, 2.5, 3.0]), CRIT)["verdict"] == "moving away"  # late mean 3 ≥ 2 × 1
    assert run_verdict(_run([1.0, 1.5, 1.9, 1.99]), CRIT)["verdict"] == "cycling"  # below 2×, levelling off
    bad = run_verdict(_run([1.0, 2.0], status="diverged"), CRIT)
    assert bad["verdict"] == "diverged" and math.isnan(bad["final"]) and bad["stopped"] == 7
    # "diverged" is only the run loop's stop on a non-finite value; a NaN metric is not that
    assert run_verdict(_run([1.0, float("nan")]), CRIT)["verdict"] == "no value"
    # falling steadily but not yet within tol: converging, not converged, not cycling
    assert run_verdict(_run([1.0, 0.1, 0.01, 0.002]), CRIT)["verdict"] == "converging"


def _orbit(radius, periods=7.3, n=61):
    """A distance that oscillates (an orbit sampled every evaluation) around ``radius(t)``."""
    return [radius(t / (n - 1)) * (1 + 0.35 * math.sin(2 * math.pi * periods * t / (n - 1))) for t in range(n)]


def test_verdicts_on_constructed_histories():
    # the quickstart's optimistic GD: nash_conv oscillates while its level decays (0.67 → 0.08)
    assert run_verdict(_run(_orbit(lambda s: 0.67 * math.exp(-2.1 * s))), CRIT)["verdict"] == "converging"
    # a bounded orbit with no trend
    assert run_verdict(_run(_orbit(lambda s: 0.6)), CRIT)["verdict"] == "cycling"
    # a slowly growing spiral (simultaneous GD, 600 steps): below 2× its start, rising in every quarter
    assert run_verdict(_run(_orbit(lambda s: 0.6 * (1 + 0.8 * s))), CRIT)["verdict"] == "moving away"
    # approaching a limit cycle: falls at first, then levels off: cycling, not converging
    assert run_verdict(_run(_orbit(lambda s: 1.1 + 0.5 * math.exp(-12 * s))), CRIT)["verdict"] == "cycling"
    # moved away and stayed away (no rise at the end): still "moving away", never "diverged"
    far = run_verdict(_run([1.0, 3.0, 3.1, 2.9, 3.0, 3.05, 2.95, 3.0]), CRIT)
    assert far["verdict"] == "moving away" and math.isfinite(far["final"])


def test_report_defines_the_words_it_uses(tmp_path):
    from arena.comparisons.describe import VERDICT_WORDS
    from arena.reports.solver_table import _words_used

    lines = ["| solver | verdict |", "|---|---|", "| a | **converging** |", "| b | settled 1/2, unsettled 1/2 |"]
    text = _words_used(lines)
    assert f"- **converging**: {VERDICT_WORDS['converging']}" in text
    assert "**settled**" in text and "**unsettled**" in text and "**cycling**" not in text


def test_ipd_verdict():
    def ipd(rewards, coop=0.9):  # builds a run, then judges it
        rows = [{"step": i, "average_reward_1": r, "average_reward_2": r, "mutual_cooperation": coop}
                for i, r in enumerate(rewards)]
        return settled_verdict(RunResult("x", 0, Path("."), {"status": "done"}, rows),
                               IteratedPrisonersDilemma.capabilities.verdict)

    v = ipd([-1.5, -1.2, -1.0, -1.0, -1.0, -1.0])
    assert v["verdict"] == "settled" and v["outcome"] == "cooperation" and v["first"] == 2
    v = ipd([-1.5, -1.9, -1.95, -2.0, -1.5, -2.0, -1.5, -2.0])
    assert v["verdict"] == "unsettled" and v["outcome"] == "defection" and v["first"] is None
    assert v["mutual_cooperation"] == 0.9
    assert ipd([-1.5, -1.5, -1.5, -1.5])["outcome"] == "mixed"


def test_table_from_a_comparison(tmp_path, capsys):
    assert cli(["compare", "quickstart", "--solvers", "simultaneous,optimistic", "--steps", "40",
                "--eval-every", "10", "--out", str(tmp_path / "cmp"), "--quiet"]) == 0
    capsys.readouterr()
    assert main([str(tmp_path / "cmp"), "--figures", str(tmp_path / "fig")]) == 0
    text = capsys.readouterr().out
    assert "### rps (case `quickstart`)" in text
    assert text.index("| simultaneous |") < text.index("| optimistic |")  # the case's order
    assert (tmp_path / "fig" / "quickstart.png").exists()
    # the table names what its runs were made with (their provenance, not this process's)
    made = [line for line in text.splitlines() if line.startswith("Made with: diffgames")]
    assert len(made) == 1 and f"torch {torch.__version__}" in made[0] and "thread(s)" in made[0]
    assert main([str(tmp_path / "nothing")]) == 2
