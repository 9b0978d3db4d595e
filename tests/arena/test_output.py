"""What the command line prints and draws: no ``-0``, no ``nan ms/step``, one panel for a
zero-sum game's mirrored losses and payoffs, a band title only when there is a band, and a
note when seeds cannot change a deterministic game's run."""
from __future__ import annotations

import math

import games
from arena.cli.main import main
from arena.comparisons.compare import seeds_change_nothing
from arena.reports.plots import _mirrors
from arena.text import number


def test_numbers_never_print_as_minus_zero():
    assert number(-0.0) == "0" and number(0) == "0"
    assert number(-1.5e-3) == "-0.0015" and number(math.nan) == "–" and number(None) == "–"
    assert number(-0.0, ".2f") == "0.00"


def test_zero_steps_prints_no_nan(tmp_path, capsys):
    assert main(["run", "--game", "rps", "--solver", "optimistic", "--steps", "0", "--quiet",
                 "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "nan ms" not in out and "0 steps (nothing to train)" in out


def test_mirrored_metrics_share_one_panel():
    rows = [{"loss_row": v, "loss_col": -v, "nash_conv": abs(v) + 1, "row_payoff": -v * (1 + 1e-8)}
            for v in (0.5, -0.25, 0.125)]
    assert _mirrors([rows], ["loss_row", "loss_col", "nash_conv", "row_payoff"]) == {
        "loss_row": ["= −loss_col", "= −row_payoff"], "nash_conv": []}
    different = [{**r, "loss_col": r["loss_col"] + 0.1} for r in rows]
    assert "loss_col" in _mirrors([different], ["loss_row", "loss_col"])


def test_comparison_plots_of_a_zero_sum_game(tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", "quickstart", "--solvers", "simultaneous,optimistic", "--steps", "20",
                 "--eval-every", "10", "--seeds", "0", "--quiet", "--out", str(out)]) == 0
    plots = sorted(p.name for p in (out / "plots").glob("*.png"))
    assert plots == ["distance_to_nash.png", "loss_row.png", "nash_conv.png"]


def test_seeds_of_a_deterministic_game_come_with_a_note(tmp_path, capsys):
    assert seeds_change_nothing(games.make("rps"))
    assert not seeds_change_nothing(games.make("bilinear"))  # a random start
    assert not seeds_change_nothing(games.make("mog", latent_size=2, hidden=4, batch_size=8, eval_samples=16))
    assert main(["run", "--game", "rps", "--solver", "optimistic", "--seeds", "0-1", "--steps", "5",
                 "--eval-every", "5", "--quiet", "--out", str(tmp_path / "seeds")]) == 0
    assert "the 2 seeds give identical runs" in capsys.readouterr().out
    assert main(["run", "--game", "bilinear", "--solver", "optimistic", "--seeds", "0-1", "--steps", "5",
                 "--eval-every", "5", "--quiet", "--out", str(tmp_path / "bilinear")]) == 0
    assert "identical runs" not in capsys.readouterr().out
