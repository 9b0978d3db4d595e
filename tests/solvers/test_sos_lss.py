"""SOS (Letcher et al. 2019) and LSS (Mazumdar et al. 2019) against dense float64 references
written here, and one behaviour of each from its paper; the tandem game's fixed points."""
from __future__ import annotations

import pytest
import torch
from torch.autograd.functional import hessian, jacobian

import games
import solvers
from diffgames.errors import ConfigError
from games.base import GameCapabilities, ZeroSumGame
from games.tandem import lola_fixed_line
from players import Vector


# --------------------------------------------------------------------------- dense helpers
def _pieces(game, params):
    """``(names, θ as flat per-player tensors, loss(i) as a function of the flat tensors)``."""
    names = list(game.player_names)
    keys = {p: list(params[p]) for p in names}
    shapes = {p: [params[p][k].shape for k in keys[p]] for p in names}
    flat = [torch.cat([params[p][k].reshape(-1) for k in keys[p]]).detach() for p in names]

    def unflat(vectors):
        out = {}
        for p, v in zip(names, vectors):
            out[p], start = {}, 0
            for k, shape in zip(keys[p], shapes[p]):
                n = int(torch.Size(shape).numel())
                out[p][k] = v[start:start + n].reshape(shape)
                start += n
        return out

    def loss(i):
        return lambda *vs: game.losses(unflat(vs), None)[names[i]]

    return names, flat, loss


def dense_sos_direction(game, params, alpha, a, b):
    """ξ₀ = (I − αH_o)ξ, χ = diag(H_oᵀ∇L), p from Algorithm 1, ξ_p = ξ₀ − pαχ; two players."""
    _, th, loss = _pieces(game, params)
    grads = [jacobian(loss(i), tuple(th)) for i in range(2)]  # grads[i][j] = ∇_j L_i
    hess = [hessian(loss(i), tuple(th)) for i in range(2)]  # hess[i][j][k] = ∇_j ∇_k L_i
    xi = [grads[0][0], grads[1][1]]
    xi0, chi = [], []
    for i in range(2):
        j = 1 - i
        xi0.append(xi[i] - alpha * hess[i][i][j] @ xi[j])  # (H_o ξ)_i = ∇_i∇_j L_i · ξ_j
        chi.append(hess[j][j][i].T @ grads[i][j])  # (∇_i ξ_j)ᵀ ∇_j L_i
    dot = -alpha * sum(float(c @ x) for c, x in zip(chi, xi0))
    n0 = sum(float(x @ x) for x in xi0)
    p1 = 1.0 if dot >= 0 else min(1.0, -a * n0 / dot)
    nxi = sum(float(x @ x) for x in xi) ** 0.5
    p2 = nxi**2 if nxi < b else 1.0
    p = min(p1, p2)
    return [x - p * alpha * c for x, c in zip(xi0, chi)], p, (p1 < 1, nxi < b)


def dense_lss_direction(game, params):
    """½(ξ + Jᵀ J⁻¹ ξ) with J the dense game Jacobian."""
    _, th, loss = _pieces(game, params)
    sizes = [t.numel() for t in th]
    xi = torch.cat([jacobian(loss(i), tuple(th))[i] for i in range(2)])
    rows = []
    for i in range(2):
        h = hessian(loss(i), tuple(th))
        rows.append(torch.cat([h[i][j] for j in range(2)], dim=1))
    J = torch.cat(rows, dim=0)
    out = 0.5 * (xi + J.T @ torch.linalg.solve(J, xi))
    return list(torch.split(out, sizes))


class Quartic(ZeroSumGame):
    """f(x, y) = xᵀAy + ¼Σx⁴ − ¼Σy⁴ + ½xᵀCx − ½yᵀDy: a small nonlinear zero-sum game."""

    description = "a nonlinear zero-sum test game"
    capabilities = GameCapabilities(players=2, zero_sum=True)

    def __init__(self, A, C, D, x0, y0):
        self.A, self.C, self.D = (torch.tensor(M, dtype=torch.float64) for M in (A, C, D))
        self.players = {"x": Vector(len(x0), x0), "y": Vector(len(y0), y0)}

    def value(self, params, batch=None):
        x, y = params["x"]["value"], params["y"]["value"]
        return (x @ self.A @ y + 0.25 * (x**4).sum() - 0.25 * (y**4).sum()
                + 0.5 * x @ self.C @ x - 0.5 * y @ self.D @ y)


QUARTIC = dict(A=[[1.0, -0.5, 0.3], [0.2, 0.8, -1.1]], C=[[0.4, 0.1], [0.1, -0.3]],
               D=[[0.2, 0.0, 0.1], [0.0, -0.5, 0.2], [0.1, 0.2, 0.3]], x0=[0.7, -0.4], y0=[0.3, 0.9, -0.6])
GENERAL = dict(row_payoff=[[1.0, -2.0, 0.5], [0.3, 0.7, -1.1]], col_payoff=[[-0.4, 1.5, 0.2], [0.9, -0.6, 1.3]],
               row_init_logits=[0.2, -0.3], col_init_logits=[0.1, 0.4, -0.5])


def _step(name, game, params, lr, **options):
    solver = solvers.make(name, optimizers={"name": "sgd", "lr": lr}, **options)
    new, _, info = solver.step(game, params, solver.init(game, params), None)
    return new, info


# --------------------------------------------------------------------------- SOS
SOS_POINTS = [  # (game, its options, a, b): together they take every branch of p
    ("matrix", GENERAL, 0.5, 0.1),
    ("tandem", dict(x_init=0.3, y_init=0.2), 0.5, 0.1),  # s < 1: ⟨−αχ, ξ₀⟩ > 0, p₁ = 1
    ("tandem", dict(x_init=0.9, y_init=0.5), 0.5, 0.1),  # s > 1: p₁ < 1
    ("tandem", dict(x_init=0.51, y_init=0.505), 0.5, 0.1),  # ‖ξ‖ < b: p₂ = ‖ξ‖², and p₁ < 1
    ("tandem", dict(x_init=0.495, y_init=0.49), 0.5, 0.1),  # ‖ξ‖ < b, p₁ = 1
    ("tandem", dict(x_init=0.9, y_init=0.5), 0.05, 0.1),
]


def test_sos_step_equals_the_dense_reference_on_every_branch():
    alpha, lr, branches = 0.3, 0.2, set()
    for name, options, a, b in SOS_POINTS:
        game = games.make(name, **options)
        params = game.init_params(0, dtype=torch.float64)
        new, info = _step("sos", game, params, lr, alpha=alpha, a=a, b=b)
        direction, p, branch = dense_sos_direction(game, params, alpha, a, b)
        branches.add(branch)
        assert abs(float(info["p"]) - p) <= 1e-12
        for who, dvec in zip(game.player_names, direction):
            (key,) = params[who]
            expected = params[who][key] - lr * dvec.reshape(params[who][key].shape)
            torch.testing.assert_close(new[who][key], expected, rtol=0, atol=1e-10)
    assert branches == {(False, False), (True, False), (False, True), (True, True)}, branches


def test_sos_is_lola_where_p_is_one_and_lookahead_where_it_vanishes():
    game = games.make("tandem", x_init=0.3, y_init=0.2)  # p = 1 here (previous test)
    params = game.init_params(0, dtype=torch.float64)
    sos, info = _step("sos", game, params, 0.1, alpha=0.1)
    lola, _ = _step("lola", game, params, 0.1, alpha=0.1)
    assert float(info["p"]) == 1.0
    torch.testing.assert_close(sos["x"]["value"], lola["x"]["value"], rtol=0, atol=1e-14)
    on_line = games.make("tandem", x_init=0.6, y_init=0.4)
    params = on_line.init_params(0, dtype=torch.float64)
    sos, info = _step("sos", on_line, params, 0.1, alpha=0.1)
    assert float(info["p"]) == 0.0 and torch.equal(sos["x"]["value"], params["x"]["value"])


def test_sos_reaches_the_tandem_fixed_line_where_lola_does_not():
    """Letcher et al. (2019), Sec. 5 (tandem game): LOLA overshoots to its own fixed points
    s = x + y = (1 − 2α)/(1 − 4α) with a positive total loss; SOS, starting from the same
    points, ends on the game's fixed line s = 1 (total loss 0)."""
    game = games.make("tandem", init_scale=1.0)
    for seed in range(3):
        ends = {}
        for name in ("lola", "sos"):
            params = game.init_params(seed, dtype=torch.float64)
            solver = solvers.make(name, alpha=0.1, optimizers={"name": "sgd", "lr": 0.1})
            state = solver.init(game, params)
            for _ in range(150):
                params, state, _ = solver.step(game, params, state, None)
            ends[name] = game.evaluate(params)
        assert ends["sos"]["distance_to_fixed_line"] < 1e-6, ends
        assert abs(ends["lola"]["sum_xy"] - lola_fixed_line(0.1)) < 1e-6, ends
        assert ends["lola"]["total_loss"] > 0.8 and abs(ends["sos"]["total_loss"]) < 1e-6


def test_tandem_fixed_points_are_the_line_and_stable():
    """ξ = 0 exactly on x + y = 1, and the game Jacobian there is symmetric PSD (4 and 0)."""
    for x in (-2.0, 0.25, 3.0):
        game = games.make("tandem", x_init=x, y_init=1 - x)
        params = game.init_params(0, dtype=torch.float64)
        grads, _ = solvers.player_gradients(game, params, None)
        assert all(float(g["value"].abs().max()) < 1e-12 for g in grads.values())
        _, th, loss = _pieces(game, params)
        J = torch.stack([torch.cat([h[i][j].reshape(1) for j in range(2)])
                         for i, h in enumerate(hessian(loss(i), tuple(th)) for i in range(2))])
        torch.testing.assert_close(J, J.T)
        eig = torch.linalg.eigvalsh(J)
        torch.testing.assert_close(eig, torch.tensor([0.0, 4.0], dtype=torch.float64), rtol=0, atol=1e-12)
    off = games.make("tandem", x_init=0.7, y_init=0.7)
    grads, _ = solvers.player_gradients(off, off.init_params(0, dtype=torch.float64), None)
    assert float(grads["x"]["value"]) == pytest.approx(0.8)


# --------------------------------------------------------------------------- LSS
def test_lss_step_equals_the_dense_reference():
    game = Quartic(**QUARTIC)
    params = game.init_params(0, dtype=torch.float64)
    new, info = _step("lss", game, params, 0.1, tol=1e-14, max_iter=200)
    direction = dense_lss_direction(game, params)
    for who, dvec in zip(game.player_names, direction):
        torch.testing.assert_close(new[who]["value"], params[who]["value"] - 0.1 * dvec, rtol=0, atol=1e-10)
    assert info["cg_iterations"] >= 2


def _saddle(a, b, c, start=(0.3, -0.2)):
    """f = a x²/2 + b xy + c y²/2, x minimises, y maximises: the origin is a local Nash
    equilibrium iff a > 0 and c < 0; its Jacobian is [[a, b], [−b, −c]]."""
    return Quartic(A=[[b]], C=[[a]], D=[[-c]], x0=[start[0]], y0=[start[1]])


def _distance(game, name, steps, lr):
    params = game.init_params(0, dtype=torch.float64)
    solver = solvers.make(name, optimizers={"name": "sgd", "lr": lr})
    state = solver.init(game, params)
    for _ in range(steps):
        params, state, _ = solver.step(game, params, state, None)
    return float(torch.hypot(params["x"]["value"][0], params["y"]["value"][0]))


def test_lss_avoids_a_non_nash_fixed_point_that_gradient_descent_converges_to():
    """Mazumdar et al. (2019), Sec. 3: J = [[−1, 2], [−2, 3]] has eigenvalues with positive
    real part (trace 2, det 1), so simultaneous GD converges to the origin — which is not a
    Nash equilibrium (f is concave in x there: a = −1). LSS's Jacobian there is J's
    symmetric part diag(−1, 3): it leaves (here, with ¼x⁴ − ¼y⁴, to distance ≈ 0.61,
    measured, where f_xx = −1 + 3x² no longer repels). Where the origin is a local Nash
    equilibrium (a = 1, c = −3), LSS converges to it."""
    non_nash = _saddle(a=-1.0, b=2.0, c=-3.0)
    assert _distance(non_nash, "simultaneous", 400, 0.1) < 1e-6
    assert _distance(non_nash, "lss", 200, 0.1) > 0.5  # starts at 0.36
    nash = _saddle(a=1.0, b=2.0, c=-3.0)
    assert _distance(nash, "lss", 300, 0.1) < 1e-6


def test_lss_needs_a_two_player_zero_sum_game():
    for name in ("ipd", "tandem", "cyclic-pennies"):
        game = games.make(name)
        with pytest.raises(ConfigError, match="zero-sum|two players") as info:
            solvers.make("lss").init(game, game.init_params(0))
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("name,options,message", [
    ("sos", dict(alpha=-1.0), "alpha"), ("sos", dict(a=1.0), "a must"), ("sos", dict(b=0.0), "b must"),
    ("lss", dict(damping=-0.1), "damping"), ("lss", dict(tol=0.0), "tol"), ("lss", dict(max_iter=0), "max_iter"),
])
def test_bad_options_are_one_line_config_errors(name, options, message):
    with pytest.raises(ConfigError, match=message) as info:
        solvers.make(name, **options)
    assert "\n" not in str(info.value)
