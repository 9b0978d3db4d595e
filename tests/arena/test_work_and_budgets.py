"""The engine's work counter (loss-gradient evaluations per player) against counts known by
hand for each kind of solver, its columns in a run's records, and runs given a work or
time budget instead of a step count: where they stop, and that they continue."""
from __future__ import annotations

import json

import pytest
import torch

import games
import solvers
from arena.runs.config import RunConfig
from arena.runs.directory import action_for
from arena.runs.engine import SeedEngine, StackedEngine
from arena.runs.loop import resume, run_loop, train
from arena.runs.work import WorkCounter
from diffgames.errors import ConfigError

TINY_MOG = {"latent_size": 4, "hidden": 8, "batch_size": 16, "eval_samples": 100}


def _counts_per_step(game, solver, steps):
    """Each step's new loss-gradient evaluations per player, stepping as the engine does."""
    params = game.init_params(0, torch.device("cpu"), torch.float32)
    state, view = solver.init(game, params), WorkCounter(game)
    generator, before, per_step = torch.Generator().manual_seed(0), dict(view.counts), []
    for _ in range(steps):
        batch = solver.sample_batch(game, generator, "cpu", state)
        params, state, _ = solver.step(view, params, state, batch)
        per_step.append({p: view.counts[p] - before[p] for p in view.counts})
        before = dict(view.counts)
    return per_step


BOTH = {"generator": 1, "discriminator": 1}


@pytest.mark.parametrize("name, options, by_hand", [
    # every player's gradient once per step
    ("simultaneous", {}, [BOTH] * 4),
    # the players move one after the other, each from its own gradient: once each per step
    ("alternating", {}, [BOTH] * 4),
    # an extrapolation step and an update step: twice each per step
    ("extragradient", {}, [{"generator": 2, "discriminator": 2}] * 4),
    # the paper's schedule: odd steps the discriminator (one gradient); even steps the
    # generator (one gradient, through K unrolled discriminator steps: K more of the discriminator's)
    ("unrolled", {"unroll_steps": 3, "schedule": "alternating"},
     [{"generator": 0, "discriminator": 1}, {"generator": 1, "discriminator": 3}] * 2),
    ("unrolled", {"unroll_steps": 0, "schedule": "alternating"},
     [{"generator": 0, "discriminator": 1}, {"generator": 1, "discriminator": 0}] * 2),
    ("unrolled", {"unroll_steps": 2, "schedule": "alternating", "unroll_data": "fresh"},
     [{"generator": 0, "discriminator": 1}, {"generator": 1, "discriminator": 2}] * 2),
    # maximin: the discriminator leads through K unrolled generator steps
    ("unrolled", {"unroll_steps": 2, "schedule": "alternating", "leaders": "discriminator"},
     [{"generator": 1, "discriminator": 0}, {"generator": 2, "discriminator": 1}] * 2),
    # simultaneous unrolling: the K unrolled discriminator steps, the first of which is also
    # the discriminator's own update, and the generator's gradient through them
    ("unrolled", {"unroll_steps": 3}, [{"generator": 1, "discriminator": 3}] * 4),
])
def test_the_counter_counts_what_the_solver_evaluates(name, options, by_hand):
    game = games.make("mog", **TINY_MOG)
    assert _counts_per_step(game, solvers.make(name, **options), len(by_hand)) == by_hand


def test_a_zero_sum_loss_built_from_the_other_players_counts_once():
    """The saturating GAN loss is zero-sum: the generator's loss is minus the discriminator's,
    so a backward pass from it runs through the discriminator's loss as well; that is one
    evaluation of the generator's gradient, not also one of the discriminator's."""
    game = games.make("mog", **TINY_MOG)
    assert game.capabilities.zero_sum
    per_step = _counts_per_step(game, solvers.make("unrolled", unroll_steps=0, schedule="alternating"), 2)
    assert per_step[1] == {"generator": 1, "discriminator": 0}


def test_the_counter_changes_no_number():
    game = games.make("mog", **TINY_MOG)
    solver = solvers.make("unrolled", unroll_steps=2, schedule="alternating")
    out = []
    for wrap in (False, True):
        params = game.init_params(0, torch.device("cpu"), torch.float32)
        state, generator = solver.init(game, params), torch.Generator().manual_seed(0)
        for _ in range(6):
            batch = solver.sample_batch(game, generator, "cpu", state)
            params, state, _ = solver.step(WorkCounter(game) if wrap else game, params, state, batch)
        out.append(params)
    for player in out[0]:
        for name in out[0][player]:
            assert torch.equal(out[0][player][name], out[1][player][name])


def _config(out, **more):
    base = dict(game="mog", game_options=TINY_MOG, solver="unrolled",
                solver_options={"unroll_steps": 3, "schedule": "alternating"}, steps=40, eval_every=5, seed=1, out=str(out))
    return RunConfig(**{**base, **more})


def _rows(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def _without_clocks(rows):
    return [{k: v for k, v in r.items() if "time" not in k} for r in rows]


def test_every_evaluation_records_the_work_so_far(tmp_path):
    summary = train(_config(tmp_path / "r", steps=20), quiet=True)
    rows = _rows(tmp_path / "r")
    # a pair of steps of alternating K = 3: 1 + 3 of the discriminator's, 1 of the generator's
    assert [(r["step"], r["work"], r["work_generator"], r["work_discriminator"]) for r in rows] == [
        (0, 0, 0, 0), (5, 11, 2, 9), (10, 25, 5, 20), (15, 36, 7, 29), (20, 50, 10, 40)]
    assert summary["work"] == 50 and summary["work_discriminator"] == 40


def test_vectorized_seeds_count_each_seeds_own_work(tmp_path):
    configs = [RunConfig(game="bilinear", solver="extragradient", steps=6, eval_every=3, seed=s,
                         out=str(tmp_path / f"seed{s}")) for s in (0, 1)]
    summaries = run_loop(configs, stacked=True, quiet=True)
    # extragradient: two gradients per player per step, for each seed alike
    assert [s["work"] for s in summaries] == [2 * 2 * 6] * 2
    assert [r["work"] for r in _rows(tmp_path / "seed1")] == [0, 12, 24]


def test_a_work_budget_stops_at_the_first_step_that_reaches_it(tmp_path):
    summary = train(_config(tmp_path / "r", work_budget=52), quiet=True)
    # the work after step 20 is 50, after step 21 (a discriminator step) 51, after step 22 (a
    # generator step through 3 unrolled ones) 55: the first step at or past 52
    assert (summary["status"], summary["final_step"], summary["work"], summary["stopped_by"]) == ("done", 22, 55, "work_budget")
    rows = _rows(tmp_path / "r")
    assert rows[-1]["step"] == 22 and rows[-1]["work"] == 55  # evaluated where it stopped, off the 5-step grid
    assert action_for(_config(tmp_path / "r", work_budget=52)) == "keep"  # the same command again keeps it
    assert action_for(_config(tmp_path / "r", work_budget=80)) == "continue"  # a larger budget continues it


def test_a_run_continued_to_a_larger_budget_equals_an_uninterrupted_one(tmp_path):
    train(_config(tmp_path / "budget", work_budget=50), quiet=True)
    summary = resume(tmp_path / "budget", quiet=True, work_budget=100)
    assert (summary["final_step"], summary["work"]) == (40, 100)
    train(_config(tmp_path / "straight", steps=40), quiet=True)
    assert _without_clocks(_rows(tmp_path / "budget")) == _without_clocks(_rows(tmp_path / "straight"))


def test_steps_stay_the_most_a_budgeted_run_may_take(tmp_path):
    summary = train(_config(tmp_path / "r", steps=10, work_budget=10**6), quiet=True)
    assert summary["final_step"] == 10 and "stopped_by" not in summary


def test_a_time_budget_stops_on_training_time(tmp_path):
    summary = train(_config(tmp_path / "r", time_budget=1e-9), quiet=True)
    assert (summary["final_step"], summary["stopped_by"]) == (1, "time_budget")
    assert summary["train_time"] >= 1e-9 and _rows(tmp_path / "r")[-1]["step"] == 1


def test_a_work_budget_where_work_is_not_counted_is_refused_in_one_line(tmp_path):
    with pytest.raises(ConfigError, match="--work-budget needs the run's loss-gradient evaluations.*--compile"):
        train(_config(tmp_path / "r", work_budget=10, compile=True), quiet=True)


@pytest.mark.parametrize("field, value, message", [
    ("work_budget", 0, "work_budget must be a positive integer"),
    ("work_budget", 2.5, "work_budget must be a positive integer"),
    ("time_budget", -1, "time_budget must be a positive number of seconds"),
])
def test_bad_budgets_are_config_errors(tmp_path, field, value, message):
    with pytest.raises(ConfigError, match=message):
        _config(tmp_path / "r", **{field: value})


def test_a_checkpoint_without_counts_stops_the_count():
    from arena.runs.engine import _restored_counter

    game = games.make("mog", **TINY_MOG)
    assert _restored_counter(WorkCounter(game), {"params": {}}) is None
    assert _restored_counter(WorkCounter(game), {"work": {"generator": 4, "discriminator": 7}}).total == 11


def test_the_cli_gives_runs_a_budget_and_continues_them(tmp_path, capsys):
    from arena.cli.main import main

    out = tmp_path / "r"
    common = ["--game", "mog", "--solver", "unrolled", "--solver-opt", "unroll_steps=3", "--solver-opt",
              "schedule=alternating", "--game-opt", "hidden=8", "--game-opt", "batch_size=16", "--eval-every", "5",
              "--out", str(out), "--quiet"]
    assert main(["run", *common, "--work-budget", "25"]) == 0
    assert "10 steps" in capsys.readouterr().out and json.loads((out / "summary.json").read_text())["work"] == 25
    assert main(["resume", str(out), "--work-budget", "50", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "20 steps" in printed and "its work budget, 50, is spent" in printed
    assert main(["run", *common, "--time-budget", "soon"]) == 2
    assert "--time-budget must be a positive duration" in capsys.readouterr().err


EQUAL_WORK_CASE = """
name = "equal-work"
description = "K = 3 against K = 0 given its work"
[game]
name = "mog"
options = { hidden = 8, batch_size = 16, eval_samples = 100 }
[run]
steps = 10
eval_every = 5
seeds = [0]
[[solvers]]
label = "k3"
name = "unrolled"
options = { unroll_steps = 3, schedule = "alternating" }
[[solvers]]
label = "k0-equal-work"
name = "unrolled"
options = { unroll_steps = 0, schedule = "alternating" }
[solvers.run]
steps = 1000
work_budget = 25
"""


def test_a_case_gives_one_solver_the_others_work_and_says_so(tmp_path, capsys):
    from arena.cli.main import main

    case, out = tmp_path / "equal-work.toml", tmp_path / "runs"
    case.write_text(EQUAL_WORK_CASE)
    assert main(["compare", str(case), "--out", str(out), "--quiet"]) == 0
    k3 = json.loads((out / "k3" / "seed0" / "summary.json").read_text())
    k0 = json.loads((out / "k0-equal-work" / "seed0" / "summary.json").read_text())
    # K = 3 alternating: 1 + 4 evaluations per pair of steps → 25 after 10 steps; K = 0: 1 per step
    assert (k3["work"], k0["work"]) == (25, 25)
    header = (out / "comparison.md").read_text().split("## Final metrics")[0]
    assert "1,000 (k0-equal-work)" in header and "10 (k3)" in header
    assert "Budget of work:** none (k3), 25 (k0-equal-work)" in header or \
        "Budget of work:** 25 (k0-equal-work), none (k3)" in header
    assert "overrode" not in header
