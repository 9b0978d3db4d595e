"""comparison.md stands alone: what was compared, every override, the claims, and a glossary
whose definitions are the game's own; one seed shows its value alone."""
from __future__ import annotations

from pathlib import Path

import games
from arena.cli.main import main
from arena.comparisons.compare import RunResult, aggregate
from arena.comparisons.describe import COLUMN_DOCS, VERDICT_WORDS


def test_header_claims_and_glossary_of_a_shortened_case(tmp_path, capsys):
    out = tmp_path / "qs"
    assert main(["compare", "quickstart", "--solvers", "simultaneous,unrolled-k5", "--steps", "40",
                 "--eval-every", "10", "--threads", "1", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    text = (out / "comparison.md").read_text()
    head = text.split("## Final metrics")[0]
    assert head.startswith("# Comparison: quickstart — rock-paper-scissors")
    assert "Training GANs with Optimism" in head  # the case's paper
    assert "- **Game:** `rps` — defaults; players row, col" in head
    assert "- **Steps:** 40, evaluated every 10 — `--steps 40` overrode the case's 3,000" in head
    assert "`--eval-every 10` overrode the case's 50" in head
    assert "- **Seeds:** 0 (n = 1 per solver)" in head
    assert "- **Solvers:** 2 of the case's 4" in head
    assert "| unrolled-k5 | `unrolled` | unroll_steps = 5 | every player: sgd (lr 0.2) |" in head
    assert "Made with: diffgames" in head
    # one seed: the value alone, and the table says n = 1; no ± 0 [x, x]
    table = text.split("## Final metrics")[1].split("##")[0]
    assert "of one seed per solver (n = 1)" in table and "±" not in table and "[" not in table
    # the claims' verdicts are in the file, not only on the terminal
    assert "## Claims of the case" in text and "| simultaneous GD spirals out" in text
    # the glossary: every metric column, defined by the game's own docstring
    rps = games.make("rps")
    glossary = text.split("## What the columns mean")[1]
    for metric in rps.metric_names():
        assert f"`{metric}`" in glossary
    assert rps.metric_doc("nash_conv") in glossary
    assert COLUMN_DOCS["diverged"].split(":")[0] in glossary
    # the terminal shows the table and the claims, the file also the glossary
    assert "## Claims of the case" in printed and "## What the columns mean" not in printed


def test_the_case_length_is_not_marked_as_an_override(tmp_path, capsys):
    out = tmp_path / "qs"
    assert main(["compare", "quickstart", "--solvers", "optimistic", "--steps", "3000", "--threads", "1",
                 "--out", str(out), "--quiet"]) == 0
    head = (out / "comparison.md").read_text().split("## Final metrics")[0]
    assert "- **Steps:** 3,000, evaluated every 50\n" in head and "overrode" not in head


def _result(label, seed, value):
    return RunResult(label, seed, Path("/nonexistent"), {"status": "done", "time_per_step_ms": 1.0},
                     [{"step": 0, "m": value}])


def test_one_run_shows_its_value_several_show_the_interval(tmp_path):
    text = aggregate([_result("a", 0, 1.5), _result("b", 0, 1.0), _result("b", 1, 2.0)], tmp_path, ["m"])
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| a") or
            line.startswith("| b")}
    assert rows["a"].rstrip().endswith("| 1.5 |")
    assert "1.5 ± 0.71 [" in rows["b"]
    assert "a cell of one run shows its value alone (n = 1)" in text


def test_diverged_means_one_thing():
    # the column of comparison.md and the report's verdict share one definition
    assert VERDICT_WORDS["diverged"] in COLUMN_DOCS["diverged"]
