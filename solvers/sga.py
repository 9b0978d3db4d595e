"""Symplectic gradient adjustment (Balduzzi et al. 2018)."""
from __future__ import annotations

import math
from typing import Any

import torch

from games.base import Game, JointParams
from diffgames.errors import ConfigError
from solvers.base import OptimizersOption, Solver, SolverCapabilities
from diffgames.trees import num_elements, tree_add, tree_dot
from solvers.hvp import LossDerivatives

__all__ = ["SGA"]


class SGA(Solver):
    """Symplectic gradient adjustment: each player descends ``ξ + λ Aᵀξ``.

    Balduzzi, Racanière, Martens, Foerster, Tuyls & Graepel (2018), "The Mechanics of
    n-Player Differentiable Games", Algorithm 1. With ``J = ∇ξ`` the game Jacobian and
    ``A = ½(J − Jᵀ)`` its antisymmetric part, ``Aᵀξ = ½(Jᵀξ − Jξ)``; both products are
    reverse passes through the retained graph of the first derivatives (no Jacobian is
    formed). With ``align=True`` the sign of λ follows the paper's alignment criterion
    (Algorithm 1): ``λ = lam · sign(⟨ξ, ∇H⟩⟨Aᵀξ, ∇H⟩ / d + ε)`` with
    ``∇H = ∇½‖ξ‖² = Jᵀξ``, ``d`` the number of parameters and ``ε = align_epsilon``
    (the paper's 1/10), so that the adjustment points towards stable fixed points and
    away from unstable ones. The adjusted direction then goes through each player's base
    optimizer.

    ``info`` holds ``losses`` and ``lambda`` (the λ used, a 0-dim tensor).

    Parameters
    ----------
    lam
        λ > 0, the magnitude of the adjustment.
    align
        Choose the sign of λ by the alignment criterion (else λ = ``lam``).
    align_epsilon
        ε ≥ 0 of the criterion.
    """

    description = "symplectic gradient adjustment ξ + λAᵀξ (Balduzzi et al. 2018)"
    #: not vectorizable: the alignment criterion takes inner products over all parameters
    capabilities = SolverCapabilities()

    def __init__(self, *, lam: float = 1.0, align: bool = True, align_epsilon: float = 0.1,
                 optimizers: OptimizersOption = None):
        super().__init__(optimizers=optimizers)
        if not (math.isfinite(lam) and lam > 0):
            raise ConfigError(f"sga: lam must be a finite number > 0, got {lam!r}")
        if not (math.isfinite(align_epsilon) and align_epsilon >= 0):
            raise ConfigError(f"sga: align_epsilon must be a finite number ≥ 0, got {align_epsilon!r}")
        self.lam, self.align, self.align_epsilon = float(lam), bool(align), float(align_epsilon)

    def options(self) -> dict[str, Any]:
        return {"lam": self.lam, "align": self.align, "align_epsilon": self.align_epsilon}

    def adjusted_gradient(self, game: Game, params: JointParams, batch: Any):
        """``(ξ + λAᵀξ, λ, losses)`` at ``params``."""
        d = LossDerivatives(game, params, batch, cross="all")
        jt_xi, j_xi = d.jt(d.xi), d.j(d.xi)
        a_t_xi = {p: {k: 0.5 * (jt_xi[p][k] - j_xi[p][k]) for k in jt_xi[p]} for p in jt_xi}
        any_xi = next(t for ps in d.xi.values() for t in ps.values())
        lam = torch.as_tensor(self.lam, dtype=any_xi.dtype, device=any_xi.device)
        if self.align:
            dim = num_elements(d.xi)
            criterion = tree_dot(d.xi, jt_xi) * tree_dot(a_t_xi, jt_xi) / dim + self.align_epsilon
            # sign(0) is taken as +1: the paper's ε > 0 makes the tie impossible at ξ ≠ 0
            lam = torch.where(criterion >= 0, lam, -lam)
        return tree_add(d.xi, a_t_xi, lam), lam, d.losses

    def step(self, game: Game, params: JointParams, state: dict[str, Any], batch: Any):
        direction, lam, losses = self.adjusted_gradient(game, params, batch)
        with torch.no_grad():
            new_params, new_state = self.apply_updates(game, params, state, direction)
        return new_params, new_state, {"losses": losses, "lambda": lam}
