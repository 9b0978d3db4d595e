"""Consensus optimisation (Mescheder, Nowozin & Geiger 2017, "The Numerics of GANs")."""
from __future__ import annotations

import math
from typing import Any

import torch

from games.base import Game, JointParams
from diffgames.errors import ConfigError
from solvers.base import OptimizersOption, Solver, SolverCapabilities
from diffgames.trees import tree_add, tree_dot
from solvers.hvp import LossDerivatives

__all__ = ["Consensus"]


class Consensus(Solver):
    """Consensus optimisation: each player descends ``ξ + γ ∇(½‖ξ‖²) = ξ + γ Jᵀξ``.

    Mescheder et al. (2017) regularise the vector field with the gradient of
    ``L(θ) = ½‖ξ(θ)‖²`` (Sec. 3, "consensus optimization", Algorithm 2; in their ascent
    convention the field is ``v − γ∇L``); with losses to minimise the direction is
    ``ξ + γ Jᵀξ``, where ``J = ∇ξ``. ``Jᵀξ`` costs one extra backward pass through the
    graph of ξ (a vector–Jacobian product; no Jacobian is formed). The direction then goes
    through each player's base optimizer (the paper used RMSProp).

    ``info`` holds ``losses`` and ``hamiltonian`` (``½‖ξ‖²`` at θ_t, a 0-dim tensor).

    Parameters
    ----------
    gamma
        γ ≥ 0, the weight of the consensus term (``gamma=0`` is simultaneous descent).
    """

    description = "consensus optimisation ξ + γJᵀξ (Mescheder et al. 2017)"
    capabilities = SolverCapabilities(vectorizable=True)

    def __init__(self, *, gamma: float = 1.0, optimizers: OptimizersOption = None):
        super().__init__(optimizers=optimizers)
        if not (math.isfinite(gamma) and gamma >= 0):
            raise ConfigError(f"consensus: gamma must be a finite number ≥ 0, got {gamma!r}")
        self.gamma = float(gamma)

    def options(self) -> dict[str, Any]:
        return {"gamma": self.gamma}

    def step(self, game: Game, params: JointParams, state: dict[str, Any], batch: Any):
        d = LossDerivatives(game, params, batch)
        direction = tree_add(d.xi, d.jt(d.xi), self.gamma) if self.gamma else d.xi
        with torch.no_grad():
            new_params, new_state = self.apply_updates(game, params, state, direction)
        hamiltonian = 0.5 * tree_dot(d.xi, d.xi)
        return new_params, new_state, {"losses": d.losses, "hamiltonian": hamiltonian}
