"""Alternating updates with (negative) heavy-ball momentum (Gidel et al. 2019)."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from games.base import Game, JointParams
from diffgames.errors import ConfigError
from solvers.base import OptimizersOption, SolverCapabilities, player_gradients
from solvers.simple import Alternating

__all__ = ["NegativeMomentum"]


class NegativeMomentum(Alternating):
    """Alternating gradient steps with a heavy-ball momentum β per player, β < 0 allowed.

    Gidel, Askari Hemmat, Pezeshki, Le Priol, Huang, Lacoste-Julien & Mitliagkas (2019),
    "Negative Momentum for Improved Game Dynamics", AISTATS, Eq. (5)–(6) (alternating
    updates with momentum): players update in turn (``player_order``, default the game's
    order), each at the latest parameters, and

        ``θ_i^{t+1} = θ_i^t − η_i ∇_i L_i(θ_{<i}^{t+1}, θ_{≥i}^t) + β_i (θ_i^t − θ_i^{t−1})``.

    The gradient step ``θ − η∇`` is the player's base optimizer (plain SGD with lr η is the
    paper's rule); the momentum term ``β_i(θ_i^t − θ_i^{t−1})`` is added here, with
    ``θ^{−1} := θ^0``. Their Theorem 6: on bilinear games alternating updates with a
    negative β converge (for suitable η), where β = 0 stays on a bounded orbit and a positive
    β does not converge; their GAN experiments use β = −0.5 for the discriminator.

    State: the base optimizers' and each player's previous parameters. ``info``: ``losses``.

    Parameters
    ----------
    momentum
        β for every player, or ``{player: β}`` (players left out: 0). Each β in (−1, 1).
    player_order
        The order of the updates (as :class:`~solvers.simple.Alternating`).
    """

    description = "alternating GD with (negative) heavy-ball momentum (Gidel et al. 2019)"
    capabilities = SolverCapabilities(vectorizable=True)

    def __init__(self, *, momentum: float | Mapping[str, float] = -0.5, player_order: Sequence[str] | None = None,
                 optimizers: OptimizersOption = None):
        super().__init__(player_order=player_order, optimizers=optimizers)
        betas = dict(momentum) if isinstance(momentum, Mapping) else {"*": momentum}
        for who, beta in betas.items():
            if not (isinstance(beta, (int, float)) and not isinstance(beta, bool) and math.isfinite(beta)
                    and -1 < beta < 1):
                raise ConfigError(f"negative-momentum: momentum must be a number in (-1, 1) (or {{player: β}}), "
                                  f"got {beta!r} for {who}")
        self.betas = {k: float(v) for k, v in betas.items()}

    def beta(self, game: Game, player: str) -> float:
        if "*" in self.betas:
            return self.betas["*"]
        unknown = sorted(set(self.betas) - set(game.player_names))
        if unknown:
            raise ConfigError(f"negative-momentum: momentum given for unknown players {unknown}; the game's players "
                              f"are {list(game.player_names)}")
        return self.betas.get(player, 0.0)

    def options(self) -> dict[str, Any]:
        momentum = self.betas["*"] if set(self.betas) == {"*"} else dict(self.betas)
        return {"momentum": momentum, **super().options()}

    def functional_step(self, game: Game):
        return None

    def init(self, game: Game, params: JointParams) -> dict[str, Any]:
        state = super().init(game, params)
        for p in game.player_names:
            self.beta(game, p)
        state["previous"] = {p: {k: v.detach().clone() for k, v in ps.items()} for p, ps in params.items()}
        return state

    def step(self, game: Game, params: JointParams, state: dict[str, Any], batch: Any):
        opts = self.optimizers(game)
        params, new_opt, losses, previous = dict(params), dict(state["opt"]), {}, {}
        for p in self.order(game):
            grads, step_losses = player_gradients(game, params, batch, players=[p])
            losses[p] = step_losses[p]
            beta = self.beta(game, p)
            with torch.no_grad():
                stepped, new_opt[p] = opts[p].update(grads[p], state["opt"][p], params[p])
                previous[p] = params[p]
                params[p] = {k: stepped[k] + beta * (params[p][k] - state["previous"][p][k]) for k in stepped}
        new_state = {**state, "opt": new_opt, "previous": previous}
        return params, new_state, {"losses": {p: losses[p] for p in game.player_names}}
