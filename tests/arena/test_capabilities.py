"""The arena reads what a game or solver supports from its capability record, never from a
table of names: a game and a solver registered here, with records of their own, are judged
by ``report``, stacked by ``--vectorize`` and compiled by ``--compile`` without any edit to
the arena, and records that say "no" are refused with one clear message."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import games
import solvers
from arena.cli.main import main as cli
from arena.runs.config import RunConfig
from arena.runs.loop import train
from arena.runs.vectorized import train_vectorized
from diffgames.errors import ConfigError
from games.base import GameCapabilities, Verdict, ZeroSumGame
from players import Vector
from solvers.base import Solver, SolverCapabilities, functional_gradient, player_gradients


class Saddle(ZeroSumGame):
    """f(x, y) = x·y + ½x² − ½y², strongly convex-concave: every sane solver converges."""

    description = "a strongly convex-concave saddle (test game)"
    capabilities = GameCapabilities(players=2, zero_sum=True, verdict=Verdict(
        "distance_to_saddle", 1e-3, "distance to the saddle point (0, 0)", symbol="δ"))

    def __init__(self, start: float = 1.0):
        self.players = {"x": Vector(1, init=[start]), "y": Vector(1, init=[-start])}

    def value(self, params, batch):
        x, y = params["x"]["value"], params["y"]["value"]
        return (x * y + 0.5 * x * x - 0.5 * y * y).sum()

    def evaluate(self, params, generator):
        x, y = params["x"]["value"], params["y"]["value"]
        return {"distance_to_saddle": float(torch.sqrt((x * x).sum() + (y * y).sum()))}

    def metric_names(self):
        return ("distance_to_saddle",)


class Unstackable(Saddle):
    description = "the saddle, declared not vectorizable (test game)"
    capabilities = GameCapabilities(players=2, zero_sum=True, vectorizable=False)


class PlainStep(Solver):
    """Simultaneous gradient descent written anew: a solver the arena has never heard of."""

    description = "simultaneous gradient descent, written in a test"
    capabilities = SolverCapabilities(vectorizable=True, compilable=True)

    def step(self, game, params, state, batch):
        grads, losses = player_gradients(game, params, batch)
        with torch.no_grad():
            new_params, new_state = self.apply_updates(game, params, state, grads)
        return new_params, new_state, {"losses": losses}

    def functional_step(self, game):
        def step(params, state, batch):
            grads, losses = {}, None
            for p in game.player_names:
                grads[p], losses = functional_gradient(game, params, batch, p)
            new_params, new_state = self.apply_updates(game, params, state, grads)
            return new_params, new_state, {"losses": losses}

        return step


class Mixing(PlainStep):
    description = "a solver that reduces over all parameters (test solver)"
    capabilities = SolverCapabilities()

    def functional_step(self, game):
        return None


for name, factory in (("test-saddle", Saddle), ("test-unstackable", Unstackable)):
    if name not in games.available():
        games.register(name, factory.description)(factory)
for name, factory in (("test-plain-step", PlainStep), ("test-mixing", Mixing)):
    if name not in solvers.available():
        solvers.register(name, factory.description)(factory)


def _config(tmp_path: Path, tag: str, seed: int = 0, **kw) -> RunConfig:
    kw = {"game": "test-saddle", "solver": "test-plain-step", "steps": 60, "eval_every": 20, "dtype": "float64",
          "optimizers": {"name": "sgd", "lr": 0.1}, **kw}
    return RunConfig(out=str(tmp_path / tag / f"seed{seed}"), seed=seed, **kw)


def test_report_judges_a_new_game_by_its_verdict_record(tmp_path, capsys):
    for label in ("a", "b"):
        train(_config(tmp_path, f"cmp/{label}", label=label, steps=200), quiet=True)
    assert cli(["report", str(tmp_path / "cmp")]) == 0
    text = capsys.readouterr().out
    assert "Verdict metric δ = `distance_to_saddle`, distance to the saddle point (0, 0); tol = 0.001." in text
    assert "| a | **converged** |" in text and "| b | **converged** |" in text


def test_report_refuses_a_game_without_a_verdict(tmp_path, capsys):
    train(_config(tmp_path, "cmp/a", game="test-unstackable"), quiet=True)
    assert cli(["report", str(tmp_path / "cmp")]) == 2
    assert "declares no verdict" in capsys.readouterr().err


def test_vectorize_stacks_a_new_solver_that_says_it_can(tmp_path):
    alone = [_config(tmp_path, "alone", s) for s in (0, 1)]
    for c in alone:
        train(c, quiet=True)
    stacked = [_config(tmp_path, "stacked", s) for s in (0, 1)]
    summaries = train_vectorized(stacked, quiet=True)
    assert [s["status"] for s in summaries] == ["done", "done"] and summaries[0]["seeds_vectorized"] == 2
    for a, v in zip(alone, stacked):
        rows = [json.loads(line) for line in (Path(v.out) / "metrics.jsonl").read_text().splitlines()]
        expected = [json.loads(line) for line in (Path(a.out) / "metrics.jsonl").read_text().splitlines()]
        assert [r["distance_to_saddle"] for r in rows] == pytest.approx([r["distance_to_saddle"] for r in expected],
                                                                        rel=1e-12)


@pytest.mark.parametrize("kw, words", [({"solver": "test-mixing"}, "solver 'test-mixing' cannot be vectorized"),
                                       ({"game": "test-unstackable"}, "game 'test-unstackable' cannot run under")])
def test_vectorize_refuses_records_that_say_no(tmp_path, kw, words):
    with pytest.raises(ConfigError, match=words):
        train_vectorized([_config(tmp_path, "x", s, **kw) for s in (0, 1)], quiet=True)


def test_compile_uses_the_functional_step_of_a_new_solver(tmp_path):
    eager = train(_config(tmp_path, "eager"), quiet=True)
    compiled = train(_config(tmp_path, "compiled", compile=True), quiet=True)
    assert compiled["compile_fallback"] is None and compiled["compile_seconds"] > 0
    assert compiled["final_metrics"]["distance_to_saddle"] == pytest.approx(
        eager["final_metrics"]["distance_to_saddle"], rel=1e-10)


def test_compile_falls_back_for_a_solver_that_says_it_cannot(tmp_path):
    with pytest.warns(RuntimeWarning, match="compilable=False"):
        summary = train(_config(tmp_path, "mixing", solver="test-mixing", compile=True), quiet=True)
    assert summary["compile_fallback"] and summary["status"] == "done"
