"""LOLA's two forms: Letcher et al. 2019 (default) and Foerster et al. 2018, Eq. 4."""
from __future__ import annotations

import pytest
import torch
from torch.autograd.functional import hessian, jacobian

import games
import solvers

A = [[1.0, -2.0, 0.5], [0.3, 0.7, -1.1]]
B = [[-0.4, 1.5, 0.2], [0.9, -0.6, 1.3]]
ALPHA, LR = 0.7, 0.3


def _setup():
    game = games.make("matrix", row_payoff=A, col_payoff=B, row_init_logits=[0.2, -0.3], col_init_logits=[0.1, 0.4, -0.5])
    params = game.init_params(0, dtype=torch.float64)
    return game, params


def _dense_step(game, params, variant):
    """θ − lr·(ξ − α[H_o ξ] − α χ) from dense Jacobians and Hessians."""
    r0, c0 = params["row"]["logits"].detach(), params["col"]["logits"].detach()

    def loss(who):
        return lambda r, c: game.losses({"row": {"logits": r}, "col": {"logits": c}}, None)[who]

    g_r = jacobian(loss("row"), (r0, c0))  # (∇_r L_r, ∇_c L_r)
    g_c = jacobian(loss("col"), (r0, c0))
    H_r = hessian(loss("row"), (r0, c0))
    H_c = hessian(loss("col"), (r0, c0))
    xi_r, xi_c = g_r[0], g_c[1]
    chi_r = H_c[1][0].T @ g_r[1]  # (∇_r ξ_c)ᵀ ∇_c L_r
    chi_c = H_r[0][1].T @ g_c[0]  # (∇_c ξ_r)ᵀ ∇_r L_c
    d_r, d_c = xi_r - ALPHA * chi_r, xi_c - ALPHA * chi_c
    if variant == "letcher2019":
        d_r = d_r - ALPHA * H_r[0][1] @ xi_c
        d_c = d_c - ALPHA * H_c[1][0] @ xi_r
    return r0 - LR * d_r, c0 - LR * d_c


def _solver_step(variant=None):
    game, params = _setup()
    options = {"alpha": ALPHA, "optimizers": {"name": "sgd", "lr": LR}}
    if variant is not None:
        options["variant"] = variant
    solver = solvers.make("lola", **options)
    new, _, _ = solver.step(game, params, solver.init(game, params), None)
    return game, params, new


@pytest.mark.parametrize("variant", ["foerster2018", "letcher2019"])
def test_one_step_equals_the_dense_reference(variant):
    game, params, new = _solver_step(variant)
    r, c = _dense_step(game, params, variant)
    torch.testing.assert_close(new["row"]["logits"], r, rtol=0, atol=1e-10)
    torch.testing.assert_close(new["col"]["logits"], c, rtol=0, atol=1e-10)


def test_default_is_letcher2019():
    _, _, default = _solver_step()
    _, _, explicit = _solver_step("letcher2019")
    _, _, foerster = _solver_step("foerster2018")
    for p in ("row", "col"):
        assert torch.equal(default[p]["logits"], explicit[p]["logits"])
    assert not torch.allclose(default["row"]["logits"], foerster["row"]["logits"])


def test_bad_variant():
    with pytest.raises(ValueError, match="variant"):
        solvers.make("lola", variant="foerster")
