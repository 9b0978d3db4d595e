"""Consensus optimisation (Mescheder, Nowozin & Geiger 2017, "The Numerics of GANs")."""
from __future__ import annotations

import math
from typing import Any

import torch

from games.base import Game, JointParams
from diffgames.errors import ConfigError
from solvers.base import OptimizersOption, Solver
from solvers.hvp import LossDerivatives, tree_add, tree_dot

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

    def __init__(self, *, gamma: float = 1.0, optimizers: OptimizersOption = None):
        super().__init__(optimizers=optimizers)
        if not (math.isfinite(gamma) and gamma >= 0):
            raise ConfigError(f"consensus: gamma must be a finite number ≥ 0, got {gamma!r}")
        self.gamma = float(gamma)

    def options(self) -> dict[str, Any]:
        return {"gamma": self.gamma}

    def step(self, game: Game, params: JointParams, state: dict[str, Any], batch: Any):
        opts = self.optimizers(game)
        d = LossDerivatives(game, params, batch)
        direction = tree_add(d.xi, d.jt(d.xi), self.gamma) if self.gamma else d.xi
        new_params, new_opt = {}, {}
        with torch.no_grad():
            for p in game.player_names:
                new_params[p], new_opt[p] = opts[p].update(direction[p], state["opt"][p], params[p])
        hamiltonian = 0.5 * tree_dot(d.xi, d.xi)
        return new_params, {**state, "opt": new_opt}, {"losses": d.losses, "hamiltonian": hamiltonian}
