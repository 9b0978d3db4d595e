"""Stackelberg learning (Fiez, Chasnov & Ratliff 2020) and follow-the-ridge (Wang, Zhang &
Ba 2020): their updates against dense closed forms on quadratic games, FR on a local
minimax point where descent-ascent diverges, the linear-solver errors, and CLI runs."""
from __future__ import annotations

import json

import pytest
import torch

import games
import solvers
from arena.cli.main import main
from diffgames.errors import ConfigError
from players.vector import Vector

N, M = 3, 4  # different sizes: a transposed block is a shape error, not a silent pass


def _spd(generator, n, shift=1.0):
    a = torch.randn(n, n, generator=generator, dtype=torch.float64)
    return a @ a.T + shift * torch.eye(n, dtype=torch.float64)


def _sym(generator, n):
    a = torch.randn(n, n, generator=generator, dtype=torch.float64)
    return (a + a.T) / 2


class QuadraticGame(games.Game):
    """``f_x = ½xᵀAx + xᵀBy + ½yᵀCy + aᵀx + cᵀy``, ``f_y = ½xᵀDx + xᵀEy + ½yᵀGy + dᵀx + eᵀy``."""

    def __init__(self, seed: int, follower_hessian: torch.Tensor | None = None):
        g = torch.Generator().manual_seed(seed)
        self.players = {"x": Vector(N), "y": Vector(M)}
        self.A, self.C, self.D = _sym(g, N), _sym(g, M), _sym(g, N)
        self.B = torch.randn(N, M, generator=g, dtype=torch.float64)
        self.E = torch.randn(N, M, generator=g, dtype=torch.float64)
        self.G = _spd(g, M) if follower_hessian is None else follower_hessian
        self.a, self.d = (torch.randn(N, generator=g, dtype=torch.float64) for _ in range(2))
        self.c, self.e = (torch.randn(M, generator=g, dtype=torch.float64) for _ in range(2))

    def losses(self, params, batch=None):
        x, y = params["x"]["value"], params["y"]["value"]
        fx = 0.5 * x @ self.A @ x + x @ self.B @ y + 0.5 * y @ self.C @ y + self.a @ x + self.c @ y
        fy = 0.5 * x @ self.D @ x + x @ self.E @ y + 0.5 * y @ self.G @ y + self.d @ x + self.e @ y
        return {"x": fx, "y": fy}

    # the derivatives, by hand
    def grad_x_fx(self, x, y):
        return self.A @ x + self.B @ y + self.a

    def grad_y_fx(self, x, y):
        return self.B.T @ x + self.C @ y + self.c

    def grad_y_fy(self, x, y):
        return self.E.T @ x + self.G @ y + self.e


class ZeroSumQuadratic(games.ZeroSumGame):
    """``f = ½xᵀAx + xᵀBy − ½yᵀCy + aᵀx + cᵀy`` with C SPD (y at a local maximum)."""

    def __init__(self, seed: int):
        g = torch.Generator().manual_seed(seed)
        self.players = {"x": Vector(N), "y": Vector(M)}
        self.A, self.C = _sym(g, N), _spd(g, M)
        self.B = torch.randn(N, M, generator=g, dtype=torch.float64)
        self.a, self.c = torch.randn(N, generator=g, dtype=torch.float64), torch.randn(M, generator=g, dtype=torch.float64)

    def value(self, params, batch=None):
        x, y = params["x"]["value"], params["y"]["value"]
        return 0.5 * x @ self.A @ x + x @ self.B @ y - 0.5 * y @ self.C @ y + self.a @ x + self.c @ y


def _point(game, seed=1):
    return game.init_params(seed, dtype=torch.float64)


def _step(solver, game, params):
    new, _, info = solver.step(game, params, solver.init(game, params), None)
    return new["x"]["value"], new["y"]["value"], info


def _close(actual, expected, rel=1e-10):
    assert torch.linalg.vector_norm(actual - expected) <= rel * torch.linalg.vector_norm(expected), (actual, expected)


SGD = {"x": {"name": "sgd", "lr": 0.03}, "y": {"name": "sgd", "lr": 0.07}}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("damping", [0.0, 0.3])
def test_stackelberg_step_is_the_dense_total_derivative(seed, damping):
    game = QuadraticGame(seed)
    params = _point(game)
    x, y = params["x"]["value"], params["y"]["value"]
    solver = solvers.make("stackelberg", damping=damping, tol=1e-14, solver="cg", optimizers=SGD)
    new_x, new_y, info = _step(solver, game, params)
    # Df_L = ∂_x f_x − ∇²_xy f_y (∇²_yy f_y + λI)⁻¹ ∂_y f_x, with ∇²_xy f_y = E (N×M)
    v = torch.linalg.solve(game.G + damping * torch.eye(M, dtype=torch.float64), game.grad_y_fx(x, y))
    total = game.grad_x_fx(x, y) - game.E @ v
    _close(new_x, x - 0.03 * total)
    _close(new_y, y - 0.07 * game.grad_y_fy(x, y))
    assert info["linear_solver"] == "cg" and info["cg_iterations"] >= 1
    # the correction matters: dropping it would be another update
    assert torch.linalg.vector_norm(game.E @ v) > 1e-3


def test_stackelberg_leader_option_swaps_the_roles():
    game = QuadraticGame(3)
    params = _point(game)
    x, y = params["x"]["value"], params["y"]["value"]
    h = _spd(torch.Generator().manual_seed(8), N)
    game.A = h  # the follower x's Hessian, SPD for CG
    solver = solvers.make("stackelberg", leader="y", damping=0.0, tol=1e-14, solver="cg", optimizers=SGD)
    new_x, new_y, _ = _step(solver, game, params)
    # leader y: ∂_y f_y − ∇²_yx f_x (∇²_xx f_x)⁻¹ ∂_x f_y, with ∇²_yx f_x = Bᵀ and ∇²_xx f_x = A
    grad_x_fy = game.D @ x + game.E @ y + game.d
    total = game.grad_y_fy(x, y) - game.B.T @ torch.linalg.solve(h, grad_x_fy)
    _close(new_y, y - 0.07 * total)
    _close(new_x, x - 0.03 * game.grad_x_fx(x, y))


def test_stackelberg_auto_falls_back_to_minres_on_an_indefinite_follower_hessian():
    indefinite = torch.diag(torch.tensor([2.0, -1.0, 0.5, -3.0], dtype=torch.float64))
    game = QuadraticGame(4, follower_hessian=indefinite)
    params = _point(game)
    x, y = params["x"]["value"], params["y"]["value"]
    solver = solvers.make("stackelberg", damping=0.0, tol=1e-13, optimizers=SGD)
    new_x, _, info = _step(solver, game, params)
    total = game.grad_x_fx(x, y) - game.E @ torch.linalg.solve(indefinite, game.grad_y_fx(x, y))
    assert info["linear_solver"] == "minres"
    _close(new_x, x - 0.03 * total, rel=1e-8)


@pytest.mark.parametrize("name", ["stackelberg", "follow-the-ridge"])
def test_a_non_definite_follower_hessian_is_a_clear_error_with_cg(name):
    game = QuadraticGame(5, follower_hessian=-_spd(torch.Generator().manual_seed(9), M))
    params = _point(game)
    solver = solvers.make(name, damping=0.0, solver="cg")
    with pytest.raises(ConfigError, match=r"not positive definite enough .* use a larger damping"):
        solver.step(game, params, solver.init(game, params), None)
    # a damping larger than the most negative eigenvalue makes it definite again
    shift = float(-torch.linalg.eigvalsh(game.G).min()) + 1.0
    solvers.make(name, damping=shift, solver="cg").step(game, params, solver.init(game, params), None)


def test_cg_that_does_not_converge_is_a_clear_error():
    game = QuadraticGame(6)
    params = _point(game)
    solver = solvers.make("stackelberg", damping=0.0, solver="cg", max_iter=1, tol=1e-12)
    with pytest.raises(ConfigError, match="did not reach tol"):
        solver.step(game, params, solver.init(game, params), None)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_follow_the_ridge_step_is_algorithm_1(seed):
    game = ZeroSumQuadratic(seed)
    params = _point(game)
    x, y = params["x"]["value"], params["y"]["value"]
    solver = solvers.make("follow-the-ridge", damping=0.0, tol=1e-14, solver="cg", optimizers=SGD)
    new_x, new_y, info = _step(solver, game, params)
    eta_x, eta_y = 0.03, 0.07
    grad_x = game.A @ x + game.B @ y + game.a
    grad_y = game.B.T @ x - game.C @ y + game.c
    # y ← y + η_y ∇_y f + η_x (∇²_yy f)⁻¹ ∇²_yx f ∇_x f, with ∇²_yy f = −C and ∇²_yx f = Bᵀ
    ridge = torch.linalg.solve(-game.C, game.B.T @ grad_x)
    _close(new_x, x - eta_x * grad_x)
    _close(new_y, y + eta_y * grad_y + eta_x * ridge)
    assert info["linear_solver"] == "cg"


def test_follow_the_ridge_general_sum_tracks_the_followers_own_ridge():
    game = QuadraticGame(7)
    params = _point(game)
    x, y = params["x"]["value"], params["y"]["value"]
    solver = solvers.make("follow-the-ridge", damping=0.0, tol=1e-14, solver="cg", optimizers=SGD)
    new_x, new_y, _ = _step(solver, game, params)
    grad_x = game.grad_x_fx(x, y)
    # y ← y − η_y ∇_y g + η_x (∇²_yy g)⁻¹ ∇²_yx g ∇_x f, with ∇²_yy g = G and ∇²_yx g = Eᵀ
    _close(new_x, x - 0.03 * grad_x)
    _close(new_y, y - 0.07 * game.grad_y_fy(x, y) + 0.03 * torch.linalg.solve(game.G, game.E.T @ grad_x))


class LocalMinimax(games.ZeroSumGame):
    """``f(x, y) = −3x² − y² + 4xy`` (Wang et al. 2020): (0, 0) is a local minimax point,
    not a Nash equilibrium (``∇²_xx f = −6``)."""

    def __init__(self):
        self.players = {"x": Vector(1, init=[5.0]), "y": Vector(1, init=[7.0])}

    def value(self, params, batch=None):
        x, y = params["x"]["value"][0], params["y"]["value"][0]
        return -3 * x ** 2 - y ** 2 + 4 * x * y


def _run(solver, game, steps):
    params = game.init_params(0, dtype=torch.float64)
    state = solver.init(game, params)
    for _ in range(steps):
        params, state, _ = solver.step(game, params, state, None)
    return float(params["x"]["value"][0]), float(params["y"]["value"][0])


def test_descent_ascent_diverges_and_follow_the_ridge_converges_to_the_local_minimax():
    game = LocalMinimax()
    sgd = {"name": "sgd", "lr": 0.05}
    x, y = _run(solvers.make("simultaneous", optimizers=sgd), game, 1000)
    assert not (abs(x) < 1e3 and abs(y) < 1e3), (x, y)
    x, y = _run(solvers.make("follow-the-ridge", damping=0.0, solver="cg", optimizers=sgd), game, 1000)
    assert abs(x) < 1e-6 and abs(y) < 1e-6, (x, y)


@pytest.mark.parametrize("name", ["stackelberg", "follow-the-ridge"])
def test_two_players_only_and_the_leader_must_be_a_player(name):
    game = games.make("cyclic-pennies")
    with pytest.raises(ConfigError, match="two players"):
        solvers.make(name).init(game, game.init_params(0))
    if name == "stackelberg":
        rps = games.make("rps")
        with pytest.raises(ConfigError, match="leader 'nobody' is not a player"):
            solvers.make(name, leader="nobody").init(rps, rps.init_params(0))


@pytest.mark.parametrize("options", [{"damping": -1.0}, {"tol": 0.0}, {"max_iter": 0}, {"solver": "lu"}])
@pytest.mark.parametrize("name", ["stackelberg", "follow-the-ridge"])
def test_bad_options_are_config_errors(name, options):
    with pytest.raises(ConfigError, match=next(iter(options))):
        solvers.make(name, **options)


@pytest.mark.parametrize("name", ["stackelberg", "follow-the-ridge"])
def test_runs_through_the_cli_on_a_small_mog_gan(tmp_path, name):
    out = tmp_path / "s"
    argv = ["run", "--game", "mog", "--game-opt", "hidden=8", "--game-opt", "latent_size=4",
            "--game-opt", "batch_size=32", "--game-opt", "eval_samples=100", "--solver", name,
            "--solver-opt", "damping=1.0", "--steps", "5", "--eval-every", "5", "--quiet", "--out", str(out)]
    assert main(argv) == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    assert rows and rows[-1]["step"] == 5
