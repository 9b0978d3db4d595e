"""Stable Opponent Shaping (Letcher, Foerster, Balduzzi, Rocktäschel & Whiteson 2019)."""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from games.base import Game, JointParams
from diffgames.errors import ConfigError
from diffgames.trees import Tree, tree_dot
from solvers.base import OptimizersOption, Solver, SolverCapabilities
from solvers.hvp import LossDerivatives
from solvers.lola import opponents

__all__ = ["SOS", "sos_p"]


def sos_p(xi: Tree, xi_0: Tree, chi: Tree, alpha: float, a: float, b: float) -> Tensor:
    """The shaping weight ``p`` of SOS (Letcher et al. 2019, Algorithm 1, lines 4–6).

    With ``d = ⟨−αχ, ξ₀⟩``: ``p₁ = 1`` if ``d ≥ 0``, else ``p₁ = min(1, −a‖ξ₀‖²/d)``
    (the largest ``p ≤ 1`` with ``⟨ξ_p, ξ₀⟩ ≥ (1 − a)‖ξ₀‖²``: the shaped direction keeps a
    share of LookAhead's); ``p₂ = ‖ξ‖²`` if ``‖ξ‖ < b``, else ``p₂ = 1`` (shaping fades out
    near fixed points); ``p = min(p₁, p₂)``. Norms and inner products run over every
    player's parameters. Returns ``p`` as a 0-dim tensor.
    """
    d = -alpha * tree_dot(chi, xi_0)
    norm0_sq = tree_dot(xi_0, xi_0)
    one = torch.ones_like(d)
    # where d ≥ 0 the ratio is not used; the guard keeps it finite
    ratio = -a * norm0_sq / torch.where(d < 0, d, -one)
    p1 = torch.where(d >= 0, one, torch.minimum(one, ratio))
    xi_sq = tree_dot(xi, xi)
    p2 = torch.where(torch.sqrt(xi_sq) < b, xi_sq, one)
    return torch.minimum(p1, p2)


class SOS(Solver):
    """Stable Opponent Shaping: LookAhead plus as much of LOLA's shaping as keeps it stable.

    Letcher, Foerster, Balduzzi, Rocktäschel & Whiteson (2019), "Stable Opponent Shaping in
    Differentiable Games", ICLR, Algorithm 1. With ξ the simultaneous gradient, ``H_o`` the
    off-diagonal blocks of the game Jacobian and ``χ = diag(H_oᵀ∇L)`` LOLA's shaping term,

        ``ξ₀ = (I − αH_o)ξ``   (LookAhead),
        ``ξ_p = ξ₀ − pαχ``,

    with ``p ∈ [0, 1]`` from :func:`sos_p` (the paper's criterion: ``p₁`` keeps ``ξ_p``
    aligned with ``ξ₀``, ``p₂ = ‖ξ‖²`` below ``‖ξ‖ < b`` switches shaping off near fixed
    points). ``p = 1`` is LOLA (:class:`~solvers.lola.LOLA`, ``variant="letcher2019"``),
    ``p = 0`` LookAhead. Player ``i``'s blocks ``(H_o ξ)_i = ∇_i Σ_j ⟨∇_j L_i, stop(ξ_j)⟩``
    and ``χ_i = ∇_i Σ_j ⟨stop(∇_j L_i), ξ_j⟩`` (``j`` its opponents in the interaction
    graph) are one backward pass each through the retained graph of the first derivatives.
    The paper assigns ``θ ← θ − αξ_p``; here ``ξ_p`` goes through each player's base
    optimizer (plain SGD with lr α is the paper's update).

    ``info``: ``losses`` and ``p`` (0-dim tensor). Not vectorizable: ``p`` takes norms over
    all parameters.

    Parameters
    ----------
    alpha
        α ≥ 0, the opponents' assumed learning rate (the paper: also the step size).
    a
        a ∈ (0, 1) of the alignment criterion (the paper's and its notebook's 0.5).
    b
        b ∈ (0, 1) of the fixed-point criterion (the notebook's 0.1).
    """

    description = "Stable Opponent Shaping: LookAhead + the stable share of LOLA's shaping (Letcher et al. 2019)"
    capabilities = SolverCapabilities()

    def __init__(self, *, alpha: float = 1.0, a: float = 0.5, b: float = 0.1, optimizers: OptimizersOption = None):
        super().__init__(optimizers=optimizers)
        if not (isinstance(alpha, (int, float)) and math.isfinite(alpha) and alpha >= 0):
            raise ConfigError(f"sos: alpha (the look-ahead rate) must be a finite number ≥ 0, got {alpha!r}")
        for name, value in (("a", a), ("b", b)):
            if not (isinstance(value, (int, float)) and 0 < value < 1):
                raise ConfigError(f"sos: {name} must be a number in (0, 1), got {value!r}")
        self.alpha, self.a, self.b = float(alpha), float(a), float(b)

    def options(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "a": self.a, "b": self.b}

    def direction(self, game: Game, params: JointParams, batch: Any) -> tuple[Tree, Tensor, dict[str, Tensor]]:
        """``(ξ_p, p, losses)`` at ``params``."""
        opp = opponents(game)
        d = LossDerivatives(game, params, batch, cross=opp)
        xi_0: Tree = {}
        chi: Tree = {}
        for i in game.player_names:
            if not opp[i]:
                xi_0[i] = d.xi[i]
                chi[i] = {k: torch.zeros_like(v) for k, v in d.xi[i].items()}
                continue
            h_o_xi = d.grad_of_dot([(d.grads[i][j], d.xi[j]) for j in opp[i]], [i])[i]
            chi[i] = d.grad_of_dot([(d.grads[j][j], d.grads[i][j]) for j in opp[i]], [i])[i]
            xi_0[i] = {k: d.xi[i][k] - self.alpha * h_o_xi[k] for k in d.xi[i]}
        p = sos_p(d.xi, xi_0, chi, self.alpha, self.a, self.b)
        out = {i: {k: xi_0[i][k] - p * self.alpha * chi[i][k] for k in xi_0[i]} for i in game.player_names}
        return out, p, d.losses

    def step(self, game: Game, params: JointParams, state: dict[str, Any], batch: Any):
        direction, p, losses = self.direction(game, params, batch)
        with torch.no_grad():
            new_params, new_state = self.apply_updates(game, params, state, direction)
        return new_params, new_state, {"losses": losses, "p": p}
