"""Tests of analysis.jacobian: ξ, the game Jacobian, its decomposition, HVP products,
the spectral-norm estimate and the eigenvalue plot."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import games
from games import ConfigError, Game
from analysis import jacobian as D
from players import Vector


class QuadraticGame(Game):
    """n players, ``ℓ_i(θ) = ½ θᵀ Q_i θ + b_iᵀ θ`` over the joint vector θ, so that
    ``ξ_i = (sym(Q_i) θ + b_i)_i`` and row block ``i`` of ``J`` is ``sym(Q_i)[i, :]``."""

    def __init__(self, dims, seed, shared=False):
        g = torch.Generator().manual_seed(seed)
        n = sum(dims)
        self.players = {f"q{k}": Vector(d) for k, d in enumerate(dims)}
        self.slices, offset = [], 0
        for d in dims:
            self.slices.append(slice(offset, offset + d))
            offset += d
        base = torch.randn(n, n, generator=g, dtype=torch.float64)
        self.Q = [base if shared else torch.randn(n, n, generator=g, dtype=torch.float64) for _ in dims]
        self.b = [torch.randn(n, generator=g, dtype=torch.float64) for _ in dims]

    def losses(self, params, batch=None):
        theta = torch.cat([self.call(p, params) for p in self.player_names])
        return {
            p: 0.5 * theta @ self.Q[k].to(theta) @ theta + self.b[k].to(theta) @ theta
            for k, p in enumerate(self.player_names)
        }

    def jacobian(self):
        rows = [((Q + Q.T) / 2)[s] for Q, s in zip(self.Q, self.slices)]
        return torch.cat(rows)

    def xi(self, theta):
        return torch.cat([(((Q + Q.T) / 2) @ theta + b)[s] for Q, b, s in zip(self.Q, self.b, self.slices)])


def params64(game, seed=0):
    return game.init_params(seed, dtype=torch.float64)


# ---------------------------------------------------------------------------- ξ and J
@settings(max_examples=15, deadline=None)
@given(dims=st.lists(st.integers(1, 4), min_size=2, max_size=4), seed=st.integers(0, 10_000))
def test_dense_jacobian_and_xi_match_the_quadratic_game(dims, seed):
    game = QuadraticGame(dims, seed)
    params = params64(game, seed)
    theta = D.flatten_params(game, params)
    torch.testing.assert_close(D.simultaneous_gradient(game, params, None), game.xi(theta), rtol=1e-12, atol=1e-12)
    J = D.game_jacobian(game, params, None)
    torch.testing.assert_close(J, game.jacobian(), rtol=1e-12, atol=1e-12)
    xi = game.xi(theta)
    assert float(D.hamiltonian(game, params, None)) == pytest.approx(0.5 * float(xi @ xi), rel=1e-12)


@settings(max_examples=15, deadline=None)
@given(dims=st.lists(st.integers(1, 4), min_size=2, max_size=4), seed=st.integers(0, 10_000))
def test_hvp_products_match_the_dense_jacobian(dims, seed):
    game = QuadraticGame(dims, seed)
    params = params64(game, seed)
    J = D.game_jacobian(game, params, None)
    v = torch.randn(J.shape[0], generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
    torch.testing.assert_close(D.jacobian_vector_product(game, params, None, v), J @ v, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(D.jacobian_transpose_vector_product(game, params, None, v), J.T @ v, rtol=1e-10, atol=1e-10)
    # a direction shaped like the params gives the same product
    shaped = D.unflatten_params(game, v, params)
    torch.testing.assert_close(D.jacobian_vector_product(game, params, None, shaped), J @ v, rtol=1e-10, atol=1e-10)


def test_jacobian_of_a_nonlinear_game_matches_finite_differences():
    game = games.make("ipd")
    params = params64(game, 4)
    xi, theta = D.simultaneous_gradient_fn(game, params, None)
    J = D.game_jacobian(game, params, None)
    h = 1e-6
    eye = torch.eye(theta.numel(), dtype=torch.float64)
    fd = torch.stack([(xi(theta + h * e) - xi(theta - h * e)) / (2 * h) for e in eye], dim=1)
    torch.testing.assert_close(J, fd, rtol=1e-5, atol=1e-6)


def test_column_by_column_fallback_equals_jacfwd(monkeypatch):
    game = QuadraticGame([2, 3], 7)
    params = params64(game)
    expected = D.game_jacobian(game, params, None)

    def no_vmap(*args, **kwargs):
        raise RuntimeError("no batching rule")

    monkeypatch.setattr(torch.func, "jacfwd", no_vmap)
    torch.testing.assert_close(D.game_jacobian(game, params, None), expected, rtol=1e-12, atol=1e-12)


def test_dense_jacobian_refused_above_the_cap():
    game = QuadraticGame([3, 3], 0)
    with pytest.raises(ConfigError, match="cap"):
        D.game_jacobian(game, params64(game), None, max_params=5)


# ---------------------------------------------------------------------------- spectra
@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), dim=st.integers(1, 5))
def test_bilinear_eigenvalues_are_plus_minus_i_singular_values(seed, dim):
    game = games.make("bilinear", dim=dim, matrix="random", seed=seed)
    params = params64(game, seed)
    J = D.game_jacobian(game, params, None)
    eigs = D.eigenvalues(J)
    sigma = np.linalg.svd(game.A, compute_uv=False)
    assert np.abs(eigs.real).max() < 1e-10
    np.testing.assert_allclose(np.sort(eigs.imag), np.sort(np.concatenate([sigma, -sigma])), atol=1e-9)
    S, A = D.decompose(J)
    assert float(S.abs().max()) == 0.0
    torch.testing.assert_close(A, -A.T)
    torch.testing.assert_close(S + A, J)


def test_rectangular_bilinear_has_extra_zero_eigenvalues():
    M = [[1.0, 2.0, 0.0], [0.0, 1.0, 3.0]]
    game = games.make("bilinear", matrix=M)
    eigs = D.eigenvalues(D.game_jacobian(game, params64(game), None))
    sigma = np.linalg.svd(np.array(M), compute_uv=False)
    assert eigs.size == 5 and np.abs(eigs.real).max() < 1e-10
    np.testing.assert_allclose(np.sort(eigs.imag), np.sort(np.concatenate([sigma, -sigma, [0.0]])), atol=1e-9)


@settings(max_examples=15, deadline=None)
@given(dims=st.lists(st.integers(1, 3), min_size=2, max_size=3), seed=st.integers(0, 10_000))
def test_potential_game_has_a_symmetric_jacobian_and_real_eigenvalues(dims, seed):
    game = QuadraticGame(dims, seed, shared=True)  # every player minimises the same loss
    params = params64(game, seed)
    J = D.game_jacobian(game, params, None)
    S, A = D.decompose(J)
    assert float(A.abs().max()) < 1e-12
    eigs = D.eigenvalues(J)
    assert np.abs(eigs.imag).max() < 1e-9
    Q = game.Q[0]
    np.testing.assert_allclose(np.sort(eigs.real), np.linalg.eigvalsh(((Q + Q.T) / 2).numpy()), atol=1e-9)


def test_dirac_gan_eigenvalues_at_the_equilibrium():
    eq = {p: {k: v.double() for k, v in ps.items()} for p, ps in games.make("dirac-gan").equilibrium().items()}
    # f'(0) = 1/2: J = [[0, 1/2], [-1/2, 0]] without regularisation — a pure rotation
    eigs = D.eigenvalues(D.game_jacobian(games.make("dirac-gan"), eq, None))
    np.testing.assert_allclose(np.sort(eigs.imag), [-0.5, 0.5], atol=1e-12)
    assert np.abs(eigs.real).max() < 1e-12
    # R1 adds γ on the discriminator's diagonal: every real part becomes positive
    gamma = 0.3
    J = D.game_jacobian(games.make("dirac-gan", r1=gamma), eq, None)
    torch.testing.assert_close(J, torch.tensor([[0.0, 0.5], [-0.5, gamma]], dtype=torch.float64))
    assert D.diagnose(games.make("dirac-gan", r1=gamma), eq)["stable"] is True


def test_spectral_norm_estimate_is_close_to_the_largest_singular_value():
    game = QuadraticGame([3, 4, 2], 11)
    params = params64(game)
    true = float(torch.linalg.matrix_norm(D.game_jacobian(game, params, None), ord=2))
    est = D.spectral_radius_estimate(game, params, None, iters=100, generator=torch.Generator().manual_seed(0))
    assert est == pytest.approx(true, rel=1e-6)
    assert est <= true * (1 + 1e-12)  # a Rayleigh quotient: never above σ_max
    assert D.spectral_norm_estimate(game, params, None, iters=100) == pytest.approx(true, rel=1e-6)


# ---------------------------------------------------------------------------- diagnose and plots
def test_diagnose_dense_and_hvp_paths_agree():
    game = games.make("bilinear", dim=4, matrix="random", seed=2)
    params = params64(game, 1)
    dense = D.diagnose(game, params, None)
    hvp = D.diagnose(game, params, None, max_params=4, iters=100)
    assert dense["method"] == "dense" and hvp["method"] == "hvp" and hvp["eigenvalues"] is None
    sigma = np.linalg.svd(game.A, compute_uv=False)
    assert dense["spectral_norm"] == pytest.approx(sigma.max()) and dense["spectral_radius"] == pytest.approx(sigma.max())
    assert hvp["spectral_norm"] == pytest.approx(sigma.max(), rel=1e-6)
    assert dense["hamiltonian"] == pytest.approx(game.evaluate(params)["hamiltonian"]) == hvp["hamiltonian"]
    for report in (dense, hvp):  # a bilinear game is purely "Hamiltonian"
        assert report["symmetric_norm"] == 0.0 and report["antisymmetric_share"] == 1.0
    assert dense["antisymmetric_norm"] == pytest.approx(np.sqrt(2) * np.linalg.norm(game.A))
    assert dense["stable"] is False and dense["max_abs_imag_part"] == pytest.approx(sigma.max())
    potential = QuadraticGame([2, 2], 3, shared=True)
    report = D.diagnose(potential, params64(potential), None, max_params=1)
    assert report["antisymmetric_norm"] < 1e-10 and report["antisymmetric_share"] < 1e-20


def test_matrix_free_path_reports_progress_per_probe_and_iteration():
    game = QuadraticGame([3, 4, 2], 11)
    ticks = []
    report = D.diagnose(game, params64(game), None, max_params=2, probes=3, iters=40, progress=lambda: ticks.append(1))
    assert report["method"] == "hvp"
    assert 3 + 1 <= len(ticks) <= 3 + 40  # every probe, then each power iteration until it settles
    dense_ticks = []
    D.diagnose(game, params64(game), None, progress=lambda: dense_ticks.append(1))
    assert dense_ticks == []  # the dense path is one Jacobian: nothing to count


@pytest.mark.parametrize("name", ["bilinear", "dirac-gan", "letcher", "cyclic-pennies", "ipd", "rps"])
def test_diagnose_runs_on_the_bundled_small_games(name):
    game = games.make(name)
    report = D.diagnose(game, params64(game), None)
    n = report["n_params"]
    assert report["method"] == "dense" and report["eigenvalues"].shape == (n,)
    assert np.isfinite(report["eigenvalues"]).all() and np.isfinite(report["spectral_norm"])
    assert report["spectral_radius"] <= report["spectral_norm"] + 1e-9


def test_plot_eigenvalues_writes_a_png_and_draws_on_axes(tmp_path):
    game = games.make("bilinear", matrix="random", seed=1)
    eigs = D.eigenvalues(D.game_jacobian(game, params64(game), None))
    path = D.plot_eigenvalues(eigs, tmp_path / "sub" / "eigs.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 1000
    from matplotlib.figure import Figure

    ax = Figure().add_subplot()
    assert D.plot_eigenvalues(eigs, ax) is ax
    offsets = ax.collections[0].get_offsets()
    np.testing.assert_allclose(np.sort(offsets[:, 1]), np.sort(eigs.imag))
