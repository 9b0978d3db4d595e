"""Extragradient and extrapolation from the past (Korpelevich 1976; Gidel et al. 2019)."""
from __future__ import annotations

from typing import Any, Literal

import torch

from games.base import Game, JointParams
from diffgames.errors import ConfigError
from solvers.base import OptimizersOption, Solver, SolverCapabilities, player_gradients

__all__ = ["Extragradient"]


class Extragradient(Solver):
    """Extragradient with any base optimizer (ExtraSGD, ExtraAdam).

    Korpelevich (1976); Gidel, Berard, Vignoud, Vincent & Lacoste-Julien (2019), "A
    Variational Inequality Perspective on Generative Adversarial Networks". With
    ``F = ξ`` the players' gradients and ``P`` each player's base-optimizer step:

    * ``variant="standard"`` (Sec. 3, Eq. (EG); their Alg. 2 without averaging): extrapolate
      ``θ_{t+½} = P(θ_t; F(θ_t))``, then update *from the original point*
      ``θ_{t+1} = P(θ_t; F(θ_{t+½}))``. Two gradient evaluations per step, both with the
      step's batch.
    * ``variant="past"`` (extrapolation from the past, Sec. 3; their Alg. 3 without
      averaging; Popov 1980):
      the extrapolation reuses the gradient of the previous extrapolated point,
      ``θ_{t+½} = P(θ_t; F(θ_{t−½}))``, then ``θ_{t+1} = P(θ_t; F(θ_{t+½}))``: one gradient
      evaluation per step. The first step has no past gradient and extrapolates with
      ``F(θ_0)`` (a standard step).

    Optimizer state (Adam's moments, SGD's momentum): as in Gidel et al.'s ExtraAdam
    (their Alg. 4, Extra-Adam, and reference code), the extrapolation and the update each advance the
    player's optimizer state: the extrapolation runs the optimizer from ``s_t`` with the
    extrapolation gradient, giving ``s_{t+½}``; the update runs it from ``s_{t+½}`` (not
    ``s_t``) with ``F(θ_{t+½})``, applied to ``θ_t``. So Adam's step counter advances by 2 per
    step, and with plain SGD both variants are exactly the textbook updates.

    ``info["losses"]``: the losses at θ_t for ``"standard"``; for ``"past"`` (which
    never evaluates the game at θ_t) the losses at ``θ_{t+½}``, where its gradient is
    taken (at θ_0 on the first step).

    Parameters
    ----------
    variant
        ``"standard"`` or ``"past"``.
    """

    description = "extragradient / extrapolation from the past, any base optimizer (Gidel et al. 2019)"
    capabilities = SolverCapabilities(vectorizable=True)

    def __init__(self, *, variant: Literal["standard", "past"] = "standard", optimizers: OptimizersOption = None):
        super().__init__(optimizers=optimizers)
        if variant not in ("standard", "past"):
            raise ConfigError(f"extragradient: variant must be 'standard' or 'past', got {variant!r}")
        self.variant = variant

    def options(self) -> dict[str, Any]:
        return {"variant": self.variant}

    def init(self, game: Game, params: JointParams) -> dict[str, Any]:
        state = super().init(game, params)
        if self.variant == "past":
            state["past_grad"] = {p: {k: torch.zeros_like(v) for k, v in ps.items()} for p, ps in params.items()}
            any_param = next(iter(next(iter(params.values())).values()))
            state["has_past"] = torch.zeros((), dtype=torch.bool, device=any_param.device)
        return state

    def step(self, game: Game, params: JointParams, state: dict[str, Any], batch: Any):
        opts = self.optimizers(game)
        players = game.player_names
        losses = None
        if self.variant == "past" and bool(state["has_past"]):
            extrapolation_grads = state["past_grad"]
        else:
            extrapolation_grads, losses = player_gradients(game, params, batch)
        with torch.no_grad():
            half, half_opt = {}, {}
            for p in players:
                half[p], half_opt[p] = opts[p].update(extrapolation_grads[p], state["opt"][p], params[p])
        half_grads, half_losses = player_gradients(game, half, batch)
        new_params, new_opt = {}, {}
        with torch.no_grad():
            for p in players:
                new_params[p], new_opt[p] = opts[p].update(half_grads[p], half_opt[p], params[p])
        new_state = {**state, "opt": new_opt}
        if self.variant == "past":
            new_state["past_grad"] = half_grads
            new_state["has_past"] = torch.ones_like(state["has_past"])
            losses = half_losses if bool(state["has_past"]) else losses
        return new_params, new_state, {"losses": losses}
