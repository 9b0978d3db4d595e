"""Tests of the classic games: bilinear, dirac-gan, letcher, cyclic-pennies and ipd."""
from __future__ import annotations

import math
import itertools

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import games
from games import ConfigError
from games.ipd import IPD_REWARDS

CLASSIC = ["bilinear", "dirac-gan", "letcher", "cyclic-pennies", "ipd"]
GAMMA = 0.96


def own_gradients(game, params):
    """Each player's gradient of its own loss (plain autograd, independent of solvers)."""
    leaves = {p: {k: v.detach().clone().requires_grad_() for k, v in ps.items()} for p, ps in params.items()}
    losses = game.losses(leaves, None)
    out = {}
    for p in game.player_names:
        (g,) = torch.autograd.grad(losses[p], list(leaves[p].values()), retain_graph=True, allow_unused=True)
        out[p] = torch.zeros_like(next(iter(leaves[p].values()))) if g is None else g
    return out


def vec(*values, dtype=torch.float64):
    return {"value": torch.tensor(values, dtype=dtype)}


# ---------------------------------------------------------------------------- common contract
@pytest.mark.parametrize("name", CLASSIC)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_losses_are_finite_scalars_and_metrics_match_names(name, dtype):
    game = games.make(name)
    params = game.init_params(3, dtype=dtype)
    losses = game.losses(params, game.sample(torch.Generator().manual_seed(0), "cpu"))
    assert set(losses) == set(game.player_names)
    for loss in losses.values():
        assert loss.ndim == 0 and loss.dtype == dtype and torch.isfinite(loss)
    metrics = game.evaluate(params, torch.Generator().manual_seed(0))
    assert tuple(metrics) == game.metric_names()
    assert all(math.isfinite(v) for v in metrics.values())
    assert set(game.default_optimizers()) == set(game.player_names)


@pytest.mark.parametrize(
    "name, options, mentions",
    [
        ("bilinear", {"matrix": "orthogonal"}, "matrix"),
        ("bilinear", {"matrix": [[1.0, 2.0], [3.0]]}, "matrix"),
        ("bilinear", {"dim": 0}, "dim"),
        ("bilinear", {"dim": 2.5}, "dim"),
        ("bilinear", {"matrix": [[1.0, 0.0]], "dim": 3}, "dim"),
        ("bilinear", {"init_scale": -1.0}, "init_scale"),
        ("bilinear", {"x_init": [1.0, 2.0]}, "dim"),
        ("bilinear", {"matrx": "identity"}, "matrix"),
        ("dirac-gan", {"r1": -0.5}, "r1"),
        ("dirac-gan", {"objective": "hinge"}, "objective"),
        ("dirac-gan", {"theta_init": "one"}, "theta_init"),
        ("letcher", {"x_init": float("nan")}, "x_init"),
        ("letcher", {"z_init": 1.0}, "z_init"),
        ("cyclic-pennies", {"n_players": 1}, "n_players"),
        ("cyclic-pennies", {"init_logits": [[0.0, 0.0]] * 2}, "init_logits"),
        ("ipd", {"gamma": 1.0}, "gamma"),
        ("ipd", {"p1_init": [0.0] * 4}, "p1_init"),
        ("ipd", {"normalize": "yes"}, "normalize"),
    ],
)
def test_bad_options_raise_config_error_naming_the_option(name, options, mentions):
    with pytest.raises(ConfigError, match=mentions):
        games.make(name, **options)


# ---------------------------------------------------------------------------- bilinear
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), dim=st.integers(1, 6))
def test_bilinear_random_matrix_is_reproducible_by_seed(seed, dim):
    a = games.make("bilinear", dim=dim, matrix="random", seed=seed)
    b = games.make("bilinear", dim=dim, matrix="random", seed=seed)
    c = games.make("bilinear", dim=dim, matrix="random", seed=seed + 1)
    assert a.A.shape == (dim, dim)
    np.testing.assert_array_equal(a.A, b.A)
    assert not np.array_equal(a.A, c.A)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 1000), init_seed=st.integers(0, 1000))
def test_bilinear_value_gradients_and_metrics(seed, init_seed):
    game = games.make("bilinear", dim=3, matrix="random", seed=seed)
    params = game.init_params(init_seed, dtype=torch.float64)
    x, y = params["x"]["value"].numpy(), params["y"]["value"].numpy()
    losses = game.losses(params, None)
    assert float(losses["x"]) == pytest.approx(x @ game.A @ y, rel=1e-12, abs=1e-12)
    assert float(losses["y"]) == -float(losses["x"])
    grads = own_gradients(game, params)
    np.testing.assert_allclose(grads["x"].numpy(), game.A @ y, atol=1e-12)
    np.testing.assert_allclose(grads["y"].numpy(), -game.A.T @ x, atol=1e-12)
    metrics = game.evaluate(params)
    assert metrics["distance_to_equilibrium"] == pytest.approx(math.sqrt(x @ x + y @ y))
    assert metrics["hamiltonian"] == pytest.approx(0.5 * (np.sum((game.A @ y) ** 2) + np.sum((game.A.T @ x) ** 2)))


def test_bilinear_initialisation_and_matrix_choices():
    game = games.make("bilinear", dim=4, matrix="identity", seed=0, init_scale=1.0)
    np.testing.assert_array_equal(game.A, np.eye(4))
    p0, p0_again, p1 = game.init_params(0), game.init_params(0), game.init_params(1)
    assert torch.equal(p0["x"]["value"], p0_again["x"]["value"])
    assert not torch.equal(p0["x"]["value"], p1["x"]["value"])
    scaled = games.make("bilinear", dim=4, init_scale=0.5).init_params(0)
    torch.testing.assert_close(scaled["y"]["value"], 0.5 * p0["y"]["value"])
    assert torch.count_nonzero(games.make("bilinear", init_scale=0.0).init_params(5)["x"]["value"]) == 0
    fixed = games.make("bilinear", dim=2, x_init=[1.0, 2.0], y_init=[3.0, 4.0]).init_params(9)
    assert fixed["x"]["value"].tolist() == [1.0, 2.0] and fixed["y"]["value"].tolist() == [3.0, 4.0]
    rect = games.make("bilinear", matrix=[[1.0, 0.0, 2.0], [0.0, 1.0, 0.0]])
    assert rect.A.shape == (2, 3) and rect.equilibrium() is None
    assert games.make("bilinear", matrix=[[1.0, 2.0], [2.0, 4.0]]).equilibrium() is None  # singular
    eq = games.make("bilinear", dim=3).equilibrium()
    assert all(torch.count_nonzero(g) == 0 for g in own_gradients(game, games.make("bilinear").equilibrium()).values())
    assert eq["x"]["value"].shape == (3,)
    assert game.default_optimizers() == {"x": {"name": "sgd", "lr": 0.1}, "y": {"name": "sgd", "lr": 0.1}}


# ---------------------------------------------------------------------------- dirac-gan
def test_dirac_gan_equilibrium_at_zero_and_value_formula():
    game = games.make("dirac-gan")
    start = game.init_params(0, dtype=torch.float64)
    assert start["generator"]["value"].item() == 1.0 and start["discriminator"]["value"].item() == 1.0
    eq = {p: {k: v.double() for k, v in ps.items()} for p, ps in game.equilibrium().items()}
    assert all(float(g.abs().max()) == 0.0 for g in own_gradients(game, eq).values())
    assert game.evaluate(eq)["distance_to_equilibrium"] == 0.0
    # anywhere else the simultaneous gradient is non-zero (no other stationary point)
    for theta, psi in [(1.0, 1.0), (0.3, 0.0), (0.0, -0.7), (-2.0, 1.5)]:
        params = {"generator": vec(theta), "discriminator": vec(psi)}
        g = own_gradients(game, params)
        assert float(g["generator"].abs() + g["discriminator"].abs()) > 0
        expected = -math.log1p(math.exp(-psi * theta)) - math.log(2.0)
        assert float(game.losses(params, None)["generator"]) == pytest.approx(expected, rel=1e-12)
    wgan = games.make("dirac-gan", objective="wgan")
    assert float(wgan.losses({"generator": vec(0.5), "discriminator": vec(3.0)}, None)["generator"]) == pytest.approx(1.5)


@settings(max_examples=30, deadline=None)
@given(theta=st.floats(-5, 5), psi=st.floats(-5, 5), gamma=st.floats(0.01, 10))
def test_dirac_gan_r1_changes_only_the_discriminator_loss(theta, psi, gamma):
    params = {"generator": vec(theta), "discriminator": vec(psi)}
    plain = games.make("dirac-gan").losses(params, None)
    penalised = games.make("dirac-gan", r1=gamma).losses(params, None)
    assert float(penalised["generator"]) == float(plain["generator"])
    assert float(penalised["discriminator"] - plain["discriminator"]) == pytest.approx(0.5 * gamma * psi**2, rel=1e-9, abs=1e-12)


# ---------------------------------------------------------------------------- letcher
def test_letcher_origin_is_the_only_stationary_point_and_a_strict_maximum():
    game = games.make("letcher")
    origin = {"x": vec(0.0), "y": vec(0.0)}
    assert all(float(g.abs().max()) == 0.0 for g in own_gradients(game, origin).values())
    for x, y in itertools.product(np.linspace(-2, 2, 9), repeat=2):
        if x == 0 and y == 0:
            continue
        g = own_gradients(game, {"x": vec(x), "y": vec(y)})
        assert float(g["x"] ** 2 + g["y"] ** 2) > 1e-6, (x, y)
    # each player's own loss is locally concave at the origin: a strict maximum for both
    eps = 1e-3
    for player, point in (("x", {"x": vec(eps), "y": vec(0.0)}), ("y", {"x": vec(0.0), "y": vec(eps)})):
        assert float(game.losses(point, None)[player]) < float(game.losses(origin, None)[player])
    l1 = game.losses({"x": vec(0.5), "y": vec(-1.5)}, None)
    assert float(l1["x"]) == pytest.approx(0.5 * -1.5 - 0.125 + 1.125 + 0.5**4 / 4 - 1.5**4 / 4)
    assert float(l1["y"]) == -float(l1["x"])
    assert game.evaluate({"x": vec(3.0), "y": vec(4.0)})["distance_to_origin"] == pytest.approx(5.0)
    assert game.default_optimizers()["x"]["lr"] == 0.02


def test_letcher_gradient_descent_cycles_instead_of_converging():
    game = games.make("letcher")
    params = game.init_params(0, dtype=torch.float64)
    distances = []
    for _ in range(3000):  # simultaneous GD at the recommended lr 0.02
        grads = own_gradients(game, params)
        params = {p: {"value": params[p]["value"] - 0.02 * grads[p]} for p in game.player_names}
        distances.append(game.evaluate(params)["distance_to_origin"])
    late = distances[1000:]
    assert 0.9 < min(late) and max(late) < 1.4  # bounded away from the critical point and from infinity
    assert max(late) - min(late) > 0.1  # still moving round the cycle, not settling


# ---------------------------------------------------------------------------- cyclic pennies
def probs_to_params(ps, dtype=torch.float64):
    return {f"p{k + 1}": {"logits": torch.log(torch.tensor([p, 1 - p], dtype=dtype))} for k, p in enumerate(ps)}


def test_cyclic_pennies_losses_depend_on_the_predecessor_only():
    game = games.make("cyclic-pennies")
    params = probs_to_params([0.7, 0.4, 0.2])
    leaves = {p: {k: v.clone().requires_grad_() for k, v in ps.items()} for p, ps in params.items()}
    losses = game.losses(leaves, None)
    predecessor = {"p1": "p3", "p2": "p1", "p3": "p2"}
    for i in game.player_names:
        for j in game.player_names:
            (g,) = torch.autograd.grad(losses[i], [leaves[j]["logits"]], retain_graph=True, allow_unused=True)
            depends = g is not None and float(g.abs().max()) > 0
            assert depends == (j in (i, predecessor[i])), (i, j)
    graph = game.interaction_graph()
    graph.remove_edges_from(list(nx.selfloop_edges(graph)))
    assert set(graph.edges) == {("p1", "p2"), ("p2", "p3"), ("p3", "p1")}


def test_cyclic_pennies_nash_conv():
    game = games.make("cyclic-pennies")
    uniform = game.evaluate(game.equilibrium())
    assert uniform["nash_conv"] == pytest.approx(0.0, abs=1e-12) and uniform["distance_to_nash"] == 0.0
    # all heads: p1 and p2 match their predecessors, p3 (the mismatcher) gains 2 by switching
    assert game.evaluate(probs_to_params([1.0, 1.0, 1.0]))["nash_conv"] == pytest.approx(2.0)
    # no pure profile is an equilibrium
    for profile in itertools.product([0.0, 1.0], repeat=3):
        assert game.evaluate(probs_to_params(profile))["nash_conv"] >= 2.0 - 1e-12
    assert game.evaluate(game.init_params(0))["nash_conv"] > 0
    # the loss is minus the expected payoff of the documented convention
    ps = [0.7, 0.4, 0.2]
    losses = game.losses(probs_to_params(ps), None)
    match = lambda a, b: a * b + (1 - a) * (1 - b) - (a * (1 - b) + (1 - a) * b)
    assert float(losses["p2"]) == pytest.approx(-match(ps[1], ps[0]))
    assert float(losses["p3"]) == pytest.approx(match(ps[2], ps[1]))
    five = games.make("cyclic-pennies", n_players=5)
    assert five.player_names == ("p1", "p2", "p3", "p4", "p5")
    assert five.evaluate(five.equilibrium())["nash_conv"] == pytest.approx(0.0, abs=1e-12)


# ---------------------------------------------------------------------------- ipd
def logits(*probs):
    p = torch.tensor(probs, dtype=torch.float64).clamp(1e-12, 1 - 1e-12)
    return {"value": torch.log(p) - torch.log1p(-p)}


def test_ipd_exact_value_matches_monte_carlo():
    game = games.make("ipd")
    params = game.init_params(1, dtype=torch.float64)
    v1, v2 = game.values(params)
    steps = 300
    returns = game.simulate(params, episodes=4000, steps=steps, generator=torch.Generator().manual_seed(0))
    truncation = 3 * GAMMA**steps / (1 - GAMMA)
    for i, v in enumerate((v1, v2)):
        stderr = float(returns[:, i].std()) / math.sqrt(returns.shape[0])
        assert abs(float(returns[:, i].mean()) - float(v)) < 4 * stderr + truncation


def test_ipd_known_policy_pairs():
    game = games.make("ipd")
    defect, cooperate = logits(*[0.0] * 5), logits(*[1.0] * 5)
    dd = game.evaluate({"p1": defect, "p2": defect})
    assert dd["average_reward_1"] == pytest.approx(-2.0) and dd["average_reward_2"] == pytest.approx(-2.0)
    cc = game.evaluate({"p1": cooperate, "p2": cooperate})
    assert cc["average_reward_1"] == pytest.approx(-1.0) and cc["mutual_cooperation"] == pytest.approx(1.0)
    # tit-for-tat (own perspective: cooperate first and after CC, DC) vs always-defect
    tft = logits(1.0, 1.0, 0.0, 1.0, 0.0)
    for first, second in (("p1", "p2"), ("p2", "p1")):
        v = dict(zip(("p1", "p2"), game.values({first: tft, second: defect})))
        assert float(v[first]) == pytest.approx(-3.0 - 2.0 * GAMMA / (1 - GAMMA))
        assert float(v[second]) == pytest.approx(0.0 - 2.0 * GAMMA / (1 - GAMMA))
    # tit-for-tat against itself cooperates forever
    assert float(game.values({"p1": tft, "p2": tft})[1]) == pytest.approx(-1.0 / (1 - GAMMA))
    assert game.default_optimizers()["p1"] == {"name": "sgd", "lr": 1.0}


@settings(max_examples=20, deadline=None)
@given(st.lists(st.floats(-4, 4), min_size=10, max_size=10))
def test_ipd_is_symmetric_under_swapping_the_players(values):
    game = games.make("ipd")
    a = {"value": torch.tensor(values[:5], dtype=torch.float64)}
    b = {"value": torch.tensor(values[5:], dtype=torch.float64)}
    ab, ba = game.values({"p1": a, "p2": b}), game.values({"p1": b, "p2": a})
    assert float(ab[0]) == pytest.approx(float(ba[1]), rel=1e-10)
    assert float(ab[1]) == pytest.approx(float(ba[0]), rel=1e-10)
    d = game.occupancy({"p1": a, "p2": b})
    assert float(d.sum()) == pytest.approx(1 / (1 - GAMMA), rel=1e-10)
    normalised = games.make("ipd", normalize=True).losses({"p1": a, "p2": b}, None)
    assert float(normalised["p1"]) == pytest.approx(-(1 - GAMMA) * float(ab[0]), rel=1e-10)


def test_ipd_rewards_and_random_init():
    assert IPD_REWARDS == ((-1.0, -1.0), (-3.0, 0.0), (0.0, -3.0), (-2.0, -2.0))
    game = games.make("ipd")
    a, b = game.init_params(0), game.init_params(1)
    assert a["p1"]["value"].shape == (5,) and not torch.equal(a["p1"]["value"], b["p1"]["value"])
    assert not torch.equal(a["p1"]["value"], a["p2"]["value"])
