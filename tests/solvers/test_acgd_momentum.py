"""Adaptive CGD (Schäfer, Zheng & Anandkumar 2020) and negative momentum (Gidel et al. 2019)
against dense float64 references written here, and one behaviour of each from its paper."""
from __future__ import annotations

import math

import pytest
import torch
from torch.autograd.functional import hessian, jacobian

import games
import solvers
from diffgames.errors import ConfigError

ZERO_SUM = ("matrix", dict(payoff=[[1.0, -2.0, 0.5], [-0.3, 0.7, -1.1]], row_init_logits=[0.2, -0.3],
                           col_init_logits=[0.1, 0.4, -0.5]))
GENERAL = ("matrix", dict(row_payoff=[[1.0, -2.0, 0.5], [0.3, 0.7, -1.1]],
                          col_payoff=[[-0.4, 1.5, 0.2], [0.9, -0.6, 1.3]],
                          row_init_logits=[0.2, -0.3], col_init_logits=[0.1, 0.4, -0.5]))


def _flat_params(game, params):
    return [params[p]["logits"].detach().clone() for p in game.player_names]


def dense_acgd_steps(game, params, lrs, beta, eps, steps, adaptive=True):
    """ACGD with dense derivatives: η_p = lr_p·√(1 − βᵗ)/(√v_p + ε), then the local game
    Δx = −η_x(ξ_x + D_xy f Δy), Δy = −η_y(ξ_y + D_yx g Δx), solved directly."""
    names = game.player_names
    th = _flat_params(game, params)
    v = [torch.zeros_like(t) for t in th]
    out = []
    for t in range(1, steps + 1):
        def loss(i):
            return lambda a, b: game.losses({names[0]: {"logits": a}, names[1]: {"logits": b}}, None)[names[i]]

        xi = [jacobian(loss(0), tuple(th))[0], jacobian(loss(1), tuple(th))[1]]
        d_xy_f = hessian(loss(0), tuple(th))[0][1]  # ∂²f/∂x∂y, (dim x, dim y)
        d_yx_g = hessian(loss(1), tuple(th))[1][0]  # ∂²g/∂y∂x, (dim y, dim x)
        eta = []
        for i in range(2):
            v[i] = beta * v[i] + (1 - beta) * xi[i] ** 2
            eta.append(lrs[i] * math.sqrt(1 - beta**t) / (torch.sqrt(v[i]) + eps) if adaptive
                       else torch.full_like(xi[i], lrs[i]))
        M = torch.eye(len(th[0]), dtype=torch.float64) - torch.diag(eta[0]) @ d_xy_f @ torch.diag(eta[1]) @ d_yx_g
        dx = torch.linalg.solve(M, -eta[0] * (xi[0] - d_xy_f @ (eta[1] * xi[1])))
        dy = -eta[1] * (xi[1] + d_yx_g @ dx)
        th = [th[0] + dx, th[1] + dy]
        out.append(th)
    return out


def _run(name, game, steps, **options):
    params = game.init_params(0, dtype=torch.float64)
    solver = solvers.make(name, **options)
    state = solver.init(game, params)
    trajectory = []
    for _ in range(steps):
        params, state, info = solver.step(game, params, state, None)
        trajectory.append([params[p]["logits"] for p in game.player_names])
    return trajectory, info


@pytest.mark.parametrize("which", [ZERO_SUM, GENERAL], ids=["zero-sum (CG)", "general-sum (GMRES)"])
def test_acgd_equals_the_dense_reference(which):
    game = games.make(which[0], **which[1])
    lrs, beta, eps = (0.3, 0.2), 0.9, 1e-8
    ours, info = _run("acgd", game, 4, lr={"row": lrs[0], "col": lrs[1]}, beta=beta, eps=eps, tol=1e-13,
                      max_iter=50)
    reference = dense_acgd_steps(game, game.init_params(0, dtype=torch.float64), lrs, beta, eps, 4)
    assert info["zero_sum"] is (which is ZERO_SUM)
    for step, (a, b) in enumerate(zip(ours, reference)):
        for x, y in zip(a, b):
            torch.testing.assert_close(x, y, rtol=0, atol=1e-10, msg=f"step {step}")


@pytest.mark.parametrize("which", [ZERO_SUM, GENERAL, ("bilinear", dict(matrix="random", dim=5, seed=3))],
                         ids=["zero-sum", "general-sum", "bilinear"])
def test_acgd_without_scaling_is_cgd(which):
    game = games.make(which[0], **which[1])
    key = "value" if which[0] == "bilinear" else "logits"
    runs = {}
    for name, options in (("acgd", dict(adaptive=False)), ("cgd", {})):
        params = game.init_params(0, dtype=torch.float64)
        solver = solvers.make(name, lr=0.4, tol=1e-13, max_iter=60, **options)
        state = solver.init(game, params)
        for _ in range(6):
            params, state, _ = solver.step(game, params, state, None)
        runs[name] = params
    for p in game.player_names:
        torch.testing.assert_close(runs["acgd"][p][key], runs["cgd"][p][key], rtol=0, atol=1e-10)
    # and the scaling changes the steps: the test above can fail
    scaled, _ = _run("acgd", games.make(*ZERO_SUM[:1], **ZERO_SUM[1]), 2, lr=0.4)
    plain, _ = _run("acgd", games.make(*ZERO_SUM[:1], **ZERO_SUM[1]), 2, lr=0.4, adaptive=False)
    assert not torch.allclose(scaled[-1][0], plain[-1][0])


def test_acgd_state_round_trips_and_counts_steps(tmp_path):
    game = games.make("bilinear", dim=3)
    solver = solvers.make("acgd", lr=0.1)
    params = game.init_params(0, dtype=torch.float64)
    state = solver.init(game, params)
    for _ in range(3):
        params, state, _ = solver.step(game, params, state, None)
    assert int(state["count"]) == 3
    torch.save(state, tmp_path / "s.pt")
    loaded = torch.load(tmp_path / "s.pt", weights_only=True)
    a, _, _ = solver.step(game, params, state, None)
    b, _, _ = solver.step(game, params, loaded, None)
    assert torch.equal(a["x"]["value"], b["x"]["value"])


# --------------------------------------------------------------------------- negative momentum
def test_negative_momentum_matches_hand_written_alternating_heavy_ball():
    """θ_x ← θ_x − η∇_x f(θ_x, θ_y) + β_x(θ_x − θ_x⁻), then θ_y likewise at the new θ_x."""
    game = games.make("bilinear", matrix="random", dim=3, seed=1)
    A = torch.as_tensor(game.A)
    lr, betas = 0.2, {"x": 0.3, "y": -0.6}
    solver = solvers.make("negative-momentum", momentum=betas, optimizers={"name": "sgd", "lr": lr})
    params = game.init_params(0, dtype=torch.float64)
    state = solver.init(game, params)
    x, y = params["x"]["value"].clone(), params["y"]["value"].clone()
    x_prev, y_prev = x.clone(), y.clone()
    for _ in range(8):
        params, state, _ = solver.step(game, params, state, None)
        x_new = x - lr * (A @ y) + betas["x"] * (x - x_prev)  # f = xᵀAy: ∇_x f = Ay
        y_new = y - lr * (-(A.T @ x_new)) + betas["y"] * (y - y_prev)  # y minimises −f
        x_prev, y_prev, x, y = x, y, x_new, y_new
        torch.testing.assert_close(params["x"]["value"], x, rtol=0, atol=1e-12)
        torch.testing.assert_close(params["y"]["value"], y, rtol=0, atol=1e-12)


def test_negative_momentum_converges_on_a_bilinear_game_where_positive_momentum_does_not():
    """Gidel et al. (2019), Thm. 6 and Fig. 3: alternating GD on min_x max_y xᵀy with β = −0.5
    converges; β = 0 stays on a bounded orbit; β = +0.5 diverges (lr 0.3, 2,000 steps)."""
    game = games.make("bilinear", dim=4)
    end = {}
    for beta in (-0.5, 0.0, 0.5):
        params = game.init_params(0, dtype=torch.float64)
        start = game.evaluate(params)["distance_to_equilibrium"]
        solver = solvers.make("negative-momentum", momentum=beta, optimizers={"name": "sgd", "lr": 0.3})
        state = solver.init(game, params)
        for _ in range(2000):
            params, state, _ = solver.step(game, params, state, None)
        end[beta] = game.evaluate(params)["distance_to_equilibrium"] / start
    assert end[-0.5] < 1e-6, end
    assert 0.2 < end[0.0] < 5.0, end
    assert end[0.5] > 1e3, end


@pytest.mark.parametrize("name,options,message", [
    ("acgd", dict(lr=0.0), "lr"), ("acgd", dict(beta=1.0), "beta"), ("acgd", dict(eps=0.0), "eps"),
    ("acgd", dict(optimizers={"name": "sgd", "lr": 0.1}), "own step size"),
    ("negative-momentum", dict(momentum=1.0), "momentum"),
    ("negative-momentum", dict(momentum={"d": -1.5}), "momentum"),
])
def test_bad_options_are_one_line_config_errors(name, options, message):
    with pytest.raises(ConfigError, match=message) as info:
        solvers.make(name, **options)
    assert "\n" not in str(info.value)


def test_per_player_options_name_the_game_players():
    game = games.make("bilinear", dim=2)
    for name, options in (("acgd", dict(lr={"x": 0.1, "z": 0.1})), ("negative-momentum", dict(momentum={"z": -0.5}))):
        with pytest.raises(ConfigError, match="players"):
            solvers.make(name, **options).init(game, game.init_params(0))
