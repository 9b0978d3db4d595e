"""One sign convention for zero-sum games: losses are minimised, payoffs maximised. The same
payoff matrix written as a user's ZeroSumGame (by its payoff, or by the first player's
loss ``value = −payoff``) and given to ``games.make("matrix", payoff=...)`` is the same game,
with the same equilibrium; constant-sum matrix games are zero-sum up to the constant."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import games
import solvers
from diffgames.errors import GameContractError
from diffgames.metrics.nash import zero_sum_nash
from games import ZeroSumGame
from games.matrix import MatrixGame
from players import MixedStrategy
from solvers import SGD

A = [[3.0, -1.0, 0.5], [-2.0, 1.0, 2.0]]  # not symmetric: the two conventions give different games
INIT = {"row_init_logits": [0.3, -0.2], "col_init_logits": [0.1, 0.0, -0.4]}


class ByPayoff(ZeroSumGame):
    """The row player's payoff xᵀAy, as a matrix game states it."""

    def __init__(self):
        self.A = torch.tensor(A, dtype=torch.float64)
        self.players = {"row": MixedStrategy(2, INIT["row_init_logits"]), "col": MixedStrategy(3, INIT["col_init_logits"])}

    def payoff(self, params, batch):
        x, y = self.call("row", params), self.call("col", params)
        return x @ self.A.to(x) @ y


class ByValue(ByPayoff):
    """The same game by the first player's loss."""

    payoff = ZeroSumGame.payoff

    def value(self, params, batch):
        x, y = self.call("row", params), self.call("col", params)
        return -(x @ self.A.to(x) @ y)


def _train(game, steps=2000):
    solver = solvers.make("optimistic", optimizers=SGD(lr=0.1))
    params = game.init_params(0, dtype=torch.float64)
    state = solver.init(game, params)
    for _ in range(steps):
        params, state, _ = solver.step(game, params, state, None)
    return [torch.softmax(params[p]["logits"], 0).numpy() for p in ("row", "col")]


@pytest.mark.parametrize("user_game", [ByPayoff, ByValue])
def test_a_users_zero_sum_game_is_the_matrix_game_of_the_same_payoff(user_game):
    matrix = games.make("matrix", payoff=A, **INIT)
    mine = user_game()
    params = matrix.init_params(0, dtype=torch.float64)
    for p, loss in matrix.losses(params, None).items():
        assert torch.equal(loss, mine.losses(params, None)[p]), p
    x_star, y_star, _ = zero_sum_nash(np.array(A))  # the row player maximises xᵀAy (linear program)
    for game in (matrix, mine):
        x, y = _train(game)
        assert np.abs(x - x_star).max() < 1e-2 and np.abs(y - y_star).max() < 1e-2


def test_the_other_sign_is_another_game():
    class Flipped(ByValue):
        def value(self, params, batch):  # the row player would *minimise* xᵀAy
            return -super().value(params, batch)

    x_star, _, _ = zero_sum_nash(np.array(A))
    x, _ = _train(Flipped())
    assert np.abs(x - x_star).max() > 0.1


def test_a_zero_sum_game_defines_value_or_payoff():
    class Neither(ZeroSumGame):
        def __init__(self):
            self.players = {"a": MixedStrategy(2), "b": MixedStrategy(2)}

    game = Neither()
    with pytest.raises(GameContractError, match="defines neither value"):
        game.losses(game.init_params(0), None)


def test_constant_sum_matrix_games_are_zero_sum_up_to_the_constant():
    B = 5.0 - np.array(A)
    game = MatrixGame(A, B.tolist(), **INIT)
    assert game.capabilities.zero_sum and game.nash_strategies() is not None
    assert "distance_to_nash" in game.metric_names()
    assert not MatrixGame(A, (np.array(A) * 0.5).tolist()).capabilities.zero_sum
    zs = games.make("matrix", payoff=A, **INIT)
    for a, b in zip(game.nash_strategies(), zs.nash_strategies()):
        np.testing.assert_allclose(a, b, atol=1e-9)
