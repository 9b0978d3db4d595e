"""Matrix games: losses, metrics, the Nash LP and the bundled matrix games."""
from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import games
from games.base import Game
from diffgames.errors import ConfigError
from games.matrix import RPS_PAYOFF, MatrixGame, ZeroSumMatrixGame, tournament_payoff
from diffgames.metrics.nash import maximin_strategy, nash_conv_bimatrix, zero_sum_nash


def _payoffs(max_side=6):
    shapes = st.tuples(st.integers(1, max_side), st.integers(1, max_side))
    return shapes.flatmap(
        lambda s: arrays(np.float64, s, elements=st.floats(-10, 10, allow_nan=False, allow_infinity=False))
    )


def _simplex(n, seed):
    x = np.random.default_rng(seed).random(n) + 1e-3
    return x / x.sum()


def _brute_nash_conv(A, B, x, y):
    """NashConv by enumerating pure deviations (independent of nash_conv_bimatrix)."""
    row = max(float(np.eye(len(x))[i] @ A @ y) for i in range(len(x))) - float(x @ A @ y)
    col = max(float(x @ B @ np.eye(len(y))[j]) for j in range(len(y))) - float(x @ B @ y)
    return row + col


# --------------------------------------------------------------------------- Nash LP
@settings(max_examples=60, deadline=None)
@given(A=_payoffs())
def test_zero_sum_lp_strategies_are_nash(A):
    x, y, value = zero_sum_nash(A)
    assert x.shape == (A.shape[0],) and y.shape == (A.shape[1],)
    for s in (x, y):
        assert (s >= 0).all() and abs(s.sum() - 1) < 1e-12
    assert nash_conv_bimatrix(A, -A, x, y) < 1e-7
    assert abs(float(x @ A @ y) - value) < 1e-7  # the LP value is the game's value


@settings(max_examples=60, deadline=None)
@given(A=_payoffs(), B_seed=st.integers(0, 2**32 - 1), seed=st.integers(0, 2**32 - 1))
def test_nash_conv_is_sum_of_best_response_gains(A, B_seed, seed):
    B = np.random.default_rng(B_seed).normal(size=A.shape)
    x, y = _simplex(A.shape[0], seed), _simplex(A.shape[1], seed + 1)
    value = nash_conv_bimatrix(A, B, x, y)
    assert value >= -1e-12
    assert value == pytest.approx(_brute_nash_conv(A, B, x, y), abs=1e-9)


def test_maximin_known_values():
    x, v = maximin_strategy(np.array(RPS_PAYOFF))
    np.testing.assert_allclose(x, [1 / 3] * 3, atol=1e-9)
    assert v == pytest.approx(0.0, abs=1e-12)
    # a game with a pure saddle point: row 1 dominates, col 0 is the best reply
    x, y, v = zero_sum_nash(np.array([[1.0, 2.0], [3.0, 4.0]]))
    np.testing.assert_allclose(x, [0, 1], atol=1e-9)
    np.testing.assert_allclose(y, [1, 0], atol=1e-9)
    assert v == pytest.approx(3.0)
    # biased matching pennies, by hand: row (p, 1−p) equalises 3p − 1 = 1 − 2p → p = 2/5, value 1/5
    x, y, v = zero_sum_nash(np.array([[2.0, -1.0], [-1.0, 1.0]]))
    np.testing.assert_allclose(x, [2 / 5, 3 / 5], atol=1e-9)
    np.testing.assert_allclose(y, [2 / 5, 3 / 5], atol=1e-9)
    assert v == pytest.approx(1 / 5)


# --------------------------------------------------------------------------- games
def test_losses_are_minus_expected_payoffs():
    A = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]])
    B = np.array([[0.5, 1.0, -1.0], [2.0, -0.5, 0.0]])
    game = MatrixGame(A, B, row_init_logits=[0.3, -0.2], col_init_logits=[0.1, 0.0, -0.4])
    params = game.init_params(0, dtype=torch.float64)
    x = np.exp([0.3, -0.2]) / np.exp([0.3, -0.2]).sum()
    y = np.exp([0.1, 0.0, -0.4]) / np.exp([0.1, 0.0, -0.4]).sum()
    losses = game.losses(params, None)
    assert losses["row"].item() == pytest.approx(-(x @ A @ y), rel=1e-12)
    assert losses["col"].item() == pytest.approx(-(x @ B @ y), rel=1e-12)
    metrics = game.evaluate(params, None)
    assert set(metrics) == set(game.metric_names()) == {"nash_conv", "row_payoff", "col_payoff"}
    assert metrics["nash_conv"] == pytest.approx(_brute_nash_conv(A, B, x, y), rel=1e-6)
    assert not game.zero_sum and game.nash_strategies() is None


def test_rps_defaults_and_metrics():
    game = games.make("rps")
    assert isinstance(game, ZeroSumMatrixGame) and game.zero_sum
    assert game.player_names == ("row", "col")
    assert set(game.evaluate(game.init_params(0), None)) == set(game.metric_names())
    x_star, y_star = game.nash_strategies()
    np.testing.assert_allclose(x_star, [1 / 3] * 3, atol=1e-9)
    # the default start (logits (1, 0, −0.5) and (0, 0.5, 0)) is not an equilibrium
    params = game.init_params(0, dtype=torch.float64)
    x = np.exp([1.0, 0.0, -0.5]) / np.exp([1.0, 0.0, -0.5]).sum()
    y = np.exp([0.0, 0.5, 0.0]) / np.exp([0.0, 0.5, 0.0]).sum()
    metrics = game.evaluate(params, None)
    A = np.array(RPS_PAYOFF)
    assert metrics["nash_conv"] == pytest.approx(_brute_nash_conv(A, -A, x, y), rel=1e-9)
    assert metrics["distance_to_nash"] == pytest.approx(np.sqrt(((x - 1 / 3) ** 2).sum() + ((y - 1 / 3) ** 2).sum()))
    # uniform play is the equilibrium
    uniform = {p: {"logits": torch.zeros(3, dtype=torch.float64)} for p in ("row", "col")}
    metrics = game.evaluate(uniform, None)
    assert metrics["nash_conv"] == pytest.approx(0.0, abs=1e-12)
    assert metrics["distance_to_nash"] == pytest.approx(0.0, abs=1e-12)


def test_losses_are_differentiable_and_zero_sum():
    game = games.make("rps")
    params = {p: {"logits": torch.randn(3, dtype=torch.float64, requires_grad=True)} for p in ("row", "col")}
    losses = game.losses(params, None)
    assert (losses["row"] + losses["col"]).item() == pytest.approx(0.0, abs=1e-15)
    g = torch.autograd.grad(losses["row"], params["row"]["logits"])[0]
    assert torch.isfinite(g).all() and g.abs().sum() > 0


def test_rps_interaction_graph_is_complete_with_self_loops():
    game = games.make("rps")
    expected = set(itertools.product(("row", "col"), repeat=2))
    assert set(game.interaction_graph().edges) == expected
    # the base class derives the same graph from the autograd graph of the losses
    assert set(Game.interaction_graph(game).edges) == expected


def test_matching_pennies_and_tournament_equilibria():
    mp = games.make("matching-pennies")
    np.testing.assert_allclose(mp.nash_strategies()[0], [0.5, 0.5], atol=1e-9)
    rpsls = games.make("tournament")
    assert len(rpsls.actions) == 5
    x, y = rpsls.nash_strategies()
    np.testing.assert_allclose(x, [0.2] * 5, atol=1e-9)
    np.testing.assert_allclose(y, [0.2] * 5, atol=1e-9)
    # a custom 3-cycle tournament is rock-paper-scissors up to relabelling
    custom = games.make("tournament", edges=[["a", "b"], ["b", "c"], ["c", "a"]])
    assert custom.actions == ["a", "b", "c"]
    np.testing.assert_allclose(custom.A, [[0, 1, -1], [-1, 0, 1], [1, -1, 0]])


def test_tournament_payoff_is_antisymmetric():
    graph = nx.DiGraph([(0, 1), (1, 2), (0, 2)])
    nodes, A = tournament_payoff(graph)
    np.testing.assert_array_equal(A, -A.T)
    assert A[nodes.index(0), nodes.index(2)] == 1.0


def test_matrix_game_from_options():
    zero_sum = games.make("matrix", payoff=[[1.0, -1.0], [-1.0, 1.0]])
    assert zero_sum.zero_sum and isinstance(zero_sum, ZeroSumMatrixGame)
    general = games.make("matrix", row_payoff=[[3, 0], [5, 1]], col_payoff=[[3, 5], [0, 1]])  # prisoner's dilemma
    assert not general.zero_sum
    # defection (action 1) by both is the Nash equilibrium
    both_defect = {p: {"logits": torch.tensor([-30.0, 30.0], dtype=torch.float64)} for p in ("row", "col")}
    assert general.evaluate(both_defect, None)["nash_conv"] == pytest.approx(0.0, abs=1e-10)
    both_cooperate = {p: {"logits": torch.tensor([30.0, -30.0], dtype=torch.float64)} for p in ("row", "col")}
    assert general.evaluate(both_cooperate, None)["nash_conv"] == pytest.approx(4.0, abs=1e-10)


@pytest.mark.parametrize(
    "options, words",
    [
        ({}, ["payoff"]),
        ({"payoff": [[1, 2], [3]]}, ["payoff", "rectangular"]),
        ({"payoff": [1, 2, 3]}, ["payoff", "2-D"]),
        ({"payoff": [[1, float("nan")]]}, ["payoff", "finite"]),
        ({"payoff": [[1, 2]], "row_payoff": [[1, 2]]}, ["either", "not both"]),
        ({"row_payoff": [[1, 2]]}, ["col_payoff"]),
        ({"row_payoff": [[1, 2]], "col_payoff": [[1, 2], [3, 4]]}, ["same shape"]),
        ({"payoff": [[1, 2], [3, 4]], "row_init_logits": [0.0, 0.0, 0.0]}, ["init_logits", "3", "2"]),
        ({"payoff": "[[1, 2]]"}, ["payoff", "list"]),
    ],
)
def test_bad_matrix_options_raise_one_clear_error(options, words):
    with pytest.raises(ConfigError) as info:
        games.make("matrix", **options)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_bad_tournament_raises():
    with pytest.raises(ConfigError, match="both"):
        games.make("tournament", edges=[["a", "b"], ["b", "a"]])
    with pytest.raises(ConfigError, match="cannot beat itself"):
        games.make("tournament", edges=[["a", "a"]])
    with pytest.raises(ConfigError, match="pairs"):
        games.make("tournament", edges=[["a", "b", "c"]])
