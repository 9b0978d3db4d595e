"""Equilibria of general-sum bimatrix games through Nashpy, and ``distance_to_nash``."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import games
from diffgames.metrics.nash import bimatrix_equilibria, nash_conv_bimatrix
from games.matrix import MatrixGame

BATTLE_OF_THE_SEXES = (np.array([[3.0, 0.0], [0.0, 2.0]]), np.array([[2.0, 0.0], [0.0, 3.0]]))
COORDINATION = (np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[1.0, 0.0], [0.0, 1.0]]))
# the row player's payoffs (C, D) × (C, D): −1 mutual cooperation, −3 sucker, 0 temptation, −2 mutual defection
PRISONERS_DILEMMA = (np.array([[-1.0, -3.0], [0.0, -2.0]]), np.array([[-1.0, 0.0], [-3.0, -2.0]]))
# Nashpy's documented example (README, "matching pennies"): one equilibrium, uniform play
MATCHING_PENNIES = (np.array([[1.0, -1.0], [-1.0, 1.0]]), np.array([[-1.0, 1.0], [1.0, -1.0]]))
# von Stengel's 3 × 2 example (Nisan et al. 2007, Ch. 3): three equilibria
VON_STENGEL = (np.array([[3.0, 3.0], [2.0, 5.0], [0.0, 6.0]]), np.array([[3.0, 2.0], [2.0, 6.0], [3.0, 1.0]]))


def _as_set(equilibria, digits=9):
    return {(tuple(np.round(x, digits)), tuple(np.round(y, digits))) for x, y in equilibria}


def _found(A, B, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a non-degenerate game gives no warning
        return bimatrix_equilibria(A, B, **kw)


@pytest.mark.parametrize(
    "game, expected",
    [
        (BATTLE_OF_THE_SEXES, {((1, 0), (1, 0)), ((0, 1), (0, 1)), ((0.6, 0.4), (0.4, 0.6))}),
        (COORDINATION, {((1, 0), (1, 0)), ((0, 1), (0, 1)), ((0.5, 0.5), (0.5, 0.5))}),
        (PRISONERS_DILEMMA, {((0, 1), (0, 1))}),
        (MATCHING_PENNIES, {((0.5, 0.5), (0.5, 0.5))}),
        (VON_STENGEL, {((1, 0, 0), (1, 0)), ((0.8, 0.2, 0), (2 / 3, 1 / 3)), ((0, 1 / 3, 2 / 3), (1 / 3, 2 / 3))}),
    ],
    ids=["battle-of-the-sexes", "coordination", "prisoners-dilemma", "matching-pennies", "von-stengel"],
)
def test_support_enumeration_finds_every_equilibrium(game, expected):
    A, B = game
    equilibria = _found(A, B)
    assert len(equilibria) == len(expected)
    assert _as_set(equilibria) == _as_set(expected)
    for x, y in equilibria:
        assert nash_conv_bimatrix(A, B, x, y) == pytest.approx(0.0, abs=1e-9)
        assert x.sum() == pytest.approx(1.0) and y.sum() == pytest.approx(1.0)


def test_lemke_howson_finds_equilibria():
    A, B = VON_STENGEL
    equilibria = _found(A, B, method="lemke-howson")
    assert 1 <= len(equilibria) <= 3
    assert _as_set(equilibria) <= _as_set(_found(A, B))
    for x, y in equilibria:
        assert nash_conv_bimatrix(A, B, x, y) == pytest.approx(0.0, abs=1e-9)


def test_large_games_use_lemke_howson():
    rng = np.random.default_rng(5)
    A, B = rng.standard_normal((9, 8)), rng.standard_normal((9, 8))  # m·n = 72 > 64
    equilibria = _found(A, B)
    assert equilibria
    for x, y in equilibria:
        assert nash_conv_bimatrix(A, B, x, y) == pytest.approx(0.0, abs=1e-9)


def test_lemke_howson_overflow_is_skipped_with_a_warning():
    # Nashpy's integer pivoting on this real-valued tableau cycles from dropped label 15
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((9, 8)), rng.standard_normal((9, 8))
    with pytest.warns(RuntimeWarning, match=r"overflowed .* labels \[15\]"):
        equilibria = bimatrix_equilibria(A, B)
    assert equilibria
    for x, y in equilibria:
        assert nash_conv_bimatrix(A, B, x, y) == pytest.approx(0.0, abs=1e-9)


def test_degenerate_game_warns():
    A = np.ones((2, 2))  # every profile is an equilibrium; support enumeration returns 4 (even)
    with pytest.warns(RuntimeWarning, match="degenerate"):
        equilibria = bimatrix_equilibria(A, A)
    for x, y in equilibria:
        assert nash_conv_bimatrix(A, A, x, y) == pytest.approx(0.0, abs=1e-9)


def test_bad_arguments():
    with pytest.raises(ValueError, match="shape"):
        bimatrix_equilibria(np.ones((2, 2)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="method"):
        bimatrix_equilibria(np.ones((2, 2)), np.ones((2, 2)), method="vertex")


def _logits(p):
    return {"logits": torch.log(torch.as_tensor(np.clip(p, 1e-300, None), dtype=torch.float64))}


def test_general_sum_game_equilibria_are_lazy_and_distance_is_to_the_nearest():
    A, B = BATTLE_OF_THE_SEXES
    game = games.make("matrix", row_payoff=A.tolist(), col_payoff=B.tolist(), distance_to_nash=True)
    assert isinstance(game, MatrixGame) and not game.zero_sum
    assert game._equilibria is None  # building the game computes nothing
    assert "distance_to_nash" in game.metric_names()
    x, y = np.array([0.6, 0.4]), np.array([0.4, 0.6])
    metrics = game.evaluate({"row": _logits(x), "col": _logits(y)}, None)
    assert set(metrics) == set(game.metric_names())
    assert metrics["nash_conv"] == pytest.approx(0.0, abs=1e-9)
    assert metrics["distance_to_nash"] == pytest.approx(0.0, abs=1e-9)
    assert len(game.equilibria()) == 3
    # near the pure equilibrium (row, col) = (first, first): the distance is to that one
    x, y = np.array([0.9, 0.1]), np.array([0.8, 0.2])
    metrics = game.evaluate({"row": _logits(x), "col": _logits(y)}, None)
    assert metrics["distance_to_nash"] == pytest.approx(np.sqrt(0.1**2 * 2 + 0.2**2 * 2), rel=1e-9)


def test_general_sum_game_without_the_option_is_unchanged():
    A, B = PRISONERS_DILEMMA
    game = games.make("matrix", row_payoff=A.tolist(), col_payoff=B.tolist())
    params = game.init_params(0, dtype=torch.float64)
    metrics = game.evaluate(params, None)
    assert set(metrics) == set(game.metric_names()) == {"nash_conv", "row_payoff", "col_payoff"}
    assert game._equilibria is None  # nash_conv needs no equilibrium
    assert _as_set(game.equilibria()) == {((0, 1), (0, 1))}


def test_zero_sum_game_keeps_the_lp_distance():
    game = games.make("rps")
    params = game.init_params(0, dtype=torch.float64)
    x, y = (s.detach().numpy() for s in game.strategies(params))
    metrics = game.evaluate(params, None)
    assert metrics["distance_to_nash"] == float(np.sqrt(((x - 1 / 3) ** 2).sum() + ((y - 1 / 3) ** 2).sum())) or (
        metrics["distance_to_nash"] == pytest.approx(np.sqrt(((x - 1 / 3) ** 2).sum() + ((y - 1 / 3) ** 2).sum()), rel=1e-12)
    )
    assert game._equilibria is None  # the zero-sum path uses the LP, not Nashpy
