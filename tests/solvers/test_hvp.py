"""The second-order solvers against dense-Jacobian references (float64).

Every solver that uses Hessian-vector products (consensus, SGA, LookAhead, LOLA, CGD) is
checked on a small random n-player game against the same formula written with the dense
game Jacobian ``J = jacrev(ξ)`` — the way the papers write it — to ~1e-10.
"""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.func import jacrev

import solvers
from games.base import Game
from players import Vector
from diffgames.trees import flatten
from solvers.hvp import LossDerivatives

TOL = dict(rtol=1e-10, atol=1e-10)


class RandomQuadratic(Game):
    """n players with ``L_i(z) = ½ zᵀQ_i z + q_iᵀz + s·Σ tanh(W_i z)``, ``z`` the parameters
    of the players ``deps[i]`` that ``L_i`` reads (so the interaction graph is not complete
    when ``deps`` says so). The tanh term makes the Jacobian depend on the point.
    ``zero_sum`` (two players): ``L_2 = −L_1``."""

    def __init__(self, dims: dict[str, int], deps: dict[str, list[str]] | None = None, seed: int = 0,
                 zero_sum: bool = False, nonlinear: float = 0.3):
        self.players = {p: Vector(d) for p, d in dims.items()}
        self.deps = deps or {p: list(dims) for p in dims}
        self.zero_sum, self.nonlinear = zero_sum, nonlinear
        g = torch.Generator().manual_seed(seed)
        self.coef = {}
        for p in dims:
            m = sum(dims[j] for j in self.deps[p])
            Q = torch.randn(m, m, generator=g, dtype=torch.float64)
            self.coef[p] = ((Q + Q.T) / 2, torch.randn(m, generator=g, dtype=torch.float64),
                            torch.randn(3, m, generator=g, dtype=torch.float64))

    def _loss(self, p, params):
        z = torch.cat([params[j]["value"] for j in self.deps[p]])
        Q, q, W = (c.to(z.dtype) for c in self.coef[p])
        return 0.5 * z @ Q @ z + q @ z + self.nonlinear * torch.tanh(W @ z).sum()

    def losses(self, params, batch=None):
        names = self.player_names
        if self.zero_sum:
            first = self._loss(names[0], params)
            return {names[0]: first, names[1]: -first}
        return {p: self._loss(p, params) for p in names}


THREE = dict(dims={"a": 2, "b": 3, "c": 2}, deps={"a": ["a", "b", "c"], "b": ["a", "b", "c"], "c": ["b", "c"]})
TWO = dict(dims={"x": 3, "y": 2})


# --------------------------------------------------------------------------- dense reference
class Dense:
    """ξ, the gradient matrix ``G[i, :] = ∇_θ L_i`` and ``J = ∇ξ`` from ``jacrev`` on the
    flat parameter vector."""

    def __init__(self, game: Game, params):
        self.game, self.names = game, game.player_names
        self.like = params
        sizes = [params[p]["value"].numel() for p in self.names]
        starts = [sum(sizes[:k]) for k in range(len(sizes))]
        self.slices = {p: slice(s, s + n) for p, s, n in zip(self.names, starts, sizes)}
        self.theta = torch.cat([params[p]["value"] for p in self.names])
        self.G = jacrev(self._losses)(self.theta)
        self.J = jacrev(self._xi)(self.theta)
        self.xi = self._xi(self.theta)
        self.graph = game.interaction_graph()

    def unflat(self, theta):
        return {p: {"value": theta[s]} for p, s in self.slices.items()}

    def _losses(self, theta):
        losses = self.game.losses(self.unflat(theta))
        return torch.stack([losses[p] for p in self.names])

    def _xi(self, theta):
        G = jacrev(self._losses)(theta)
        return torch.cat([G[k, self.slices[p]] for k, p in enumerate(self.names)])

    def opponents(self, i):
        return [j for j in self.names if j != i and self.graph.has_edge(j, i)]

    def block(self, i, j):
        return self.J[self.slices[i], self.slices[j]]

    # the solvers' directions, as the papers write them
    def consensus(self, gamma):
        return self.xi + gamma * self.J.T @ self.xi

    def sga(self, lam, align, eps=0.1):
        a_t_xi = 0.5 * (self.J.T - self.J) @ self.xi
        if align:
            grad_h = self.J.T @ self.xi
            lam = lam * torch.sign((self.xi @ grad_h) * (a_t_xi @ grad_h) / self.theta.numel() + eps)
        return self.xi + lam * a_t_xi

    def lookahead(self, alpha, shaping):
        out = []
        for k, i in enumerate(self.names):
            d = self.xi[self.slices[i]].clone()
            for j in self.opponents(i):
                sj = self.slices[j]
                d = d - alpha * self.block(i, j) @ self.xi[sj]  # (H_o ξ)_i
                if shaping:
                    d = d - alpha * self.block(j, i).T @ self.G[k, sj]  # χ_i
            out.append(d)
        return torch.cat(out)

    def cgd_update(self, eta):
        """Δ solving the local bilinear game's optimality conditions, (I + ηH_o)Δ = −ηξ."""
        H_o = self.J.clone()
        for p in self.names:
            H_o[self.slices[p], self.slices[p]] = 0
        eye = torch.eye(self.theta.numel(), dtype=self.theta.dtype)
        return -eta * torch.linalg.solve(eye + eta * H_o, self.xi)


def flat(params, names):
    return torch.cat([params[p]["value"] for p in names])


def one_step(game, solver, params):
    state = solver.init(game, params)
    new, _, info = solver.step(game, params, state, None)
    return flat(new, game.player_names), info


# --------------------------------------------------------------------------- the products
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), point=st.integers(0, 10_000))
def test_jacobian_products_match_dense(seed, point):
    game = RandomQuadratic(**THREE, seed=seed)
    params = game.init_params(point, dtype=torch.float64)
    dense = Dense(game, params)
    g = torch.Generator().manual_seed(seed + 1)
    u = torch.randn(dense.theta.numel(), generator=g, dtype=torch.float64)
    v = torch.randn(dense.theta.numel(), generator=g, dtype=torch.float64)
    d = LossDerivatives(game, params, None, cross="all")
    torch.testing.assert_close(flat({p: d.xi[p] for p in game.player_names}, game.player_names), dense.xi, **TOL)
    jt = d.jt(dense.unflat(u))
    jv = d.j(dense.unflat(v))
    torch.testing.assert_close(flat(jt, game.player_names), dense.J.T @ u, **TOL)
    torch.testing.assert_close(flat(jv, game.player_names), dense.J @ v, **TOL)


def test_interaction_graph_of_the_test_game_is_sparse():
    # the references below rely on player c ignoring player a
    graph = RandomQuadratic(**THREE).interaction_graph()
    assert not graph.has_edge("a", "c") and graph.has_edge("b", "c") and graph.has_edge("c", "a")


# --------------------------------------------------------------------------- the solvers
SGD1 = {"name": "sgd", "lr": 1.0}  # θ_{t+1} = θ_t − direction: compares the directions


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("gamma", [0.0, 0.7])
def test_consensus_matches_dense(seed, gamma):
    game = RandomQuadratic(**THREE, seed=seed)
    params = game.init_params(seed, dtype=torch.float64)
    dense = Dense(game, params)
    new, info = one_step(game, solvers.make("consensus", gamma=gamma, optimizers=SGD1), params)
    torch.testing.assert_close(new, dense.theta - dense.consensus(gamma), **TOL)
    torch.testing.assert_close(info["hamiltonian"], 0.5 * dense.xi @ dense.xi, **TOL)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("align", [False, True])
def test_sga_matches_dense(seed, align):
    game = RandomQuadratic(**THREE, seed=seed)
    params = game.init_params(seed, dtype=torch.float64)
    dense = Dense(game, params)
    new, info = one_step(game, solvers.make("sga", lam=0.8, align=align, optimizers=SGD1), params)
    torch.testing.assert_close(new, dense.theta - dense.sga(0.8, align), **TOL)


def test_sga_alignment_flips_the_sign_somewhere():
    """The alignment criterion must actually choose λ < 0 on some points (else the
    aligned test above could not tell the two variants apart)."""
    signs = set()
    for seed in range(12):
        game = RandomQuadratic(**THREE, seed=seed)
        params = game.init_params(seed, dtype=torch.float64)
        _, info = one_step(game, solvers.make("sga", lam=1.0, align=True, optimizers=SGD1), params)
        signs.add(float(info["lambda"]))
    assert signs == {1.0, -1.0}


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name,shaping", [("lookahead-opponent", False), ("lola", True)])
def test_lookahead_and_lola_match_dense(seed, name, shaping):
    game = RandomQuadratic(**THREE, seed=seed)
    params = game.init_params(seed, dtype=torch.float64)
    dense = Dense(game, params)
    new, _ = one_step(game, solvers.make(name, alpha=0.3, optimizers=SGD1), params)
    expected = dense.theta - dense.lookahead(0.3, shaping)
    torch.testing.assert_close(new, expected, **TOL)
    # and the terms matter: the check would fail for plain simultaneous descent
    assert not torch.allclose(expected, dense.theta - dense.xi, atol=1e-6)


def test_lola_differs_from_lookahead():
    game = RandomQuadratic(**THREE, seed=5)
    params = game.init_params(5, dtype=torch.float64)
    la, _ = one_step(game, solvers.make("lookahead-opponent", alpha=0.3, optimizers=SGD1), params)
    lola, _ = one_step(game, solvers.make("lola", alpha=0.3, optimizers=SGD1), params)
    assert (la - lola).abs().max() > 1e-3


@pytest.mark.parametrize("zero_sum", [True, False])
@pytest.mark.parametrize("seed", [0, 1])
def test_cgd_matches_dense(zero_sum, seed):
    game = RandomQuadratic(**TWO, seed=seed, zero_sum=zero_sum)
    params = game.init_params(seed, dtype=torch.float64)
    dense = Dense(game, params)
    solver = solvers.make("cgd", lr=0.2, tol=1e-13, max_iter=50)
    state = solver.init(game, params)
    new, state, info = solver.step(game, params, state, None)
    torch.testing.assert_close(flat(new, game.player_names), dense.theta + dense.cgd_update(0.2), **TOL)
    assert info["zero_sum"] is zero_sum and int(state["zero_sum"]) == int(zero_sum)
    assert info["cg_iterations"] >= 1


def test_derivatives_leave_the_inputs_alone():
    game = RandomQuadratic(**THREE)
    params = game.init_params(0, dtype=torch.float64)
    before = {p: {k: v.clone() for k, v in ps.items()} for p, ps in params.items()}
    for name in ("consensus", "sga", "lookahead-opponent", "lola"):
        one_step(game, solvers.make(name), params)
    for p in params:
        assert torch.equal(params[p]["value"], before[p]["value"]) and not params[p]["value"].requires_grad


def test_flatten_round_trip():
    from diffgames.trees import unflatten

    like = {"w": torch.zeros(2, 3), "b": torch.zeros(4)}
    v = torch.arange(10.0)
    assert torch.equal(flatten(unflatten(v, like)), v)
