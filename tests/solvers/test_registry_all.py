"""Every registered solver takes steps on every registered game, built with defaults.

The lists are read from the registries when the tests are collected, so games and solvers
added later are covered without editing this file; what a solver supports comes from its
capability record. Games that cannot be built without options get small ones here.
"""
from __future__ import annotations

import math

import pytest
import torch

import games
import solvers

#: Options for games that have no usable defaults, and smaller networks for the GAN games
#: (their default sizes make second-order solvers take many seconds per step on a CPU).
GAME_OPTIONS = {
    "matrix": {"payoff": [[1.0, -2.0], [-1.0, 0.5]]},
    "mog": {"latent_size": 8, "hidden": 16, "batch_size": 32},
    "mnist-rnn-cnn": {"latent_size": 8, "hidden": 16, "disc_channels": 4, "batch_size": 8},
    "stacked-mnist": {"latent_size": 8, "generator_channels": 4, "batch_size": 8},
}

@pytest.fixture(scope="module")
def built_games():
    """Each game built once (some bundled games are costly to build)."""
    return {}


def _game(built_games, name):
    if name not in built_games:
        built_games[name] = games.make(name, **GAME_OPTIONS.get(name, {}))
    return built_games[name]


def _check_params(game, reference, params, where):
    assert set(params) == set(game.player_names), where
    for p in game.player_names:
        assert set(params[p]) == set(reference[p]), (where, p)
        for k, v in params[p].items():
            assert v.shape == reference[p][k].shape and v.dtype == reference[p][k].dtype, (where, p, k)
            assert torch.isfinite(v).all(), f"{where}: {p}.{k} is not finite"


@pytest.mark.parametrize("game_name", games.available())
@pytest.mark.parametrize("solver_name", solvers.available())
def test_solver_steps_on_game(built_games, solver_name, game_name):
    game = _game(built_games, game_name)
    solver = solvers.make(solver_name)
    params = game.init_params(0)
    defined_for = solver.capabilities.players  # a solver for n players must refuse other games clearly
    if defined_for is not None and len(game.player_names) != defined_for:
        with pytest.raises(games.ConfigError, match="two players"):
            solver.step(game, params, solver.init(game, params), game.sample(torch.Generator(), "cpu"))
        return
    if solver.capabilities.zero_sum_only and not game.capabilities.zero_sum:
        with pytest.raises(games.ConfigError, match="zero-sum"):
            solver.init(game, params)
        return
    state = solver.init(game, params)
    generator = torch.Generator().manual_seed(0)
    current = params
    for step in range(2):  # the second step uses the state the first one returned
        current, state, info = solver.step(game, current, state, game.sample(generator, "cpu"))
        _check_params(game, params, current, f"{solver_name} on {game_name}, step {step}")
        losses = info["losses"]
        assert set(losses) == set(game.player_names)
        assert all(math.isfinite(float(l)) for l in losses.values()), losses
    # the step is a pure function: the starting parameters are untouched
    fresh = game.init_params(0)
    assert all(torch.equal(params[p][k], fresh[p][k]) for p in params for k in params[p])


@pytest.mark.parametrize("game_name", games.available())
def test_game_capability_record_matches_the_game(built_games, game_name):
    game = _game(built_games, game_name)
    record = game.capabilities
    assert record.players is None or record.players == len(game.player_names)
    if record.verdict is not None:  # the metric report judges runs by is one the game logs
        names = (record.verdict.metric,) if isinstance(record.verdict.metric, str) else record.verdict.metric
        assert set(names) | set(record.verdict.also) <= set(game.metric_names()), game_name
    if record.zero_sum:
        losses = games.checked_losses(game, game.init_params(0), game.sample(torch.Generator().manual_seed(0), "cpu"))
        assert abs(float(sum(losses.values()))) <= 1e-6, losses


@pytest.mark.parametrize("solver_name", solvers.available())
def test_solver_compilable_exactly_when_it_has_a_functional_step(solver_name):
    game = games.make("rps")
    solver = solvers.make(solver_name)
    assert solver.capabilities.compilable == (solver.functional_step(game) is not None)


@pytest.mark.parametrize("solver_name", solvers.available())
def test_solver_registered_with_description(solver_name):
    assert solvers.describe()[solver_name]
    solver = solvers.make(solver_name)
    assert solver.registered_name == solver_name
    assert solver_name in repr(solver)
