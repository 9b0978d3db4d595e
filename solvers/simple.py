"""First-order solvers: simultaneous and alternating gradient descent, and optimistic GD."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from games.base import Game, JointParams
from diffgames.errors import ConfigError
from solvers.base import OptimizersOption, Solver, SolverCapabilities, StepFn, functional_gradient, player_gradients

__all__ = ["Simultaneous", "Alternating", "Optimistic"]


class Simultaneous(Solver):
    """Simultaneous gradient descent: every player's gradient at the same point θ_t.

    ``θ_i^{t+1} = opt_i(∇_{θ_i} f_i(θ^t))`` for every player ``i`` at once (e.g. the
    "simultaneous gradient" ξ of Balduzzi et al. 2018, Eq. 1, followed by each player's
    base optimizer).
    """

    description = "simultaneous gradient descent (all players' gradients at θ_t)"
    capabilities = SolverCapabilities(vectorizable=True, compilable=True)

    def step(self, game: Game, params: JointParams, state: dict[str, Any], batch: Any):
        grads, losses = player_gradients(game, params, batch)
        with torch.no_grad():
            new_params, new_state = self.apply_updates(game, params, state, grads)
        return new_params, new_state, {"losses": losses}

    def functional_step(self, game: Game) -> StepFn:
        self.optimizers(game)  # resolved once, outside the compiled region

        def simultaneous(params, state, batch):
            grads, losses = {}, None
            for p in game.player_names:
                grads[p], step_losses = functional_gradient(game, params, batch, p)
                losses = step_losses if losses is None else losses
            new_params, new_state = self.apply_updates(game, params, state, grads)
            return new_params, new_state, {"losses": losses}

        return simultaneous


class Alternating(Solver):
    """Alternating (Gauss–Seidel) gradient descent.

    Players update one after another in ``player_order`` (default: the game's order);
    each gradient is taken at the latest parameters, with the step's batch:
    ``θ_i^{t+1} = opt_i(∇_{θ_i} f_i(θ_{<i}^{t+1}, θ_{≥i}^t))``. ``info["losses"]`` holds each
    player's loss at the point where its gradient was taken.

    Parameters
    ----------
    player_order
        The order of the updates; must list every player once.
    """

    description = "alternating gradient descent (players update in turn)"
    capabilities = SolverCapabilities(vectorizable=True, compilable=True)

    def __init__(self, *, player_order: Sequence[str] | None = None, optimizers: OptimizersOption = None):
        super().__init__(optimizers=optimizers)
        self.player_order = None if player_order is None else [str(p) for p in player_order]
        if self.player_order is not None and len(set(self.player_order)) != len(self.player_order):
            raise ConfigError(f"alternating: player_order lists a player twice: {self.player_order}")

    def order(self, game: Game) -> list[str]:
        if self.player_order is None:
            return list(game.player_names)
        if sorted(self.player_order) != sorted(game.player_names):
            raise ConfigError(
                f"alternating: player_order {self.player_order} must list each of the game's players "
                f"{list(game.player_names)} exactly once"
            )
        return self.player_order

    def options(self) -> dict[str, Any]:
        return {} if self.player_order is None else {"player_order": self.player_order}

    def step(self, game: Game, params: JointParams, state: dict[str, Any], batch: Any):
        opts = self.optimizers(game)
        params, new_opt, losses = dict(params), dict(state["opt"]), {}
        for p in self.order(game):
            grads, step_losses = player_gradients(game, params, batch, players=[p])
            losses[p] = step_losses[p]
            with torch.no_grad():
                params[p], new_opt[p] = opts[p].update(grads[p], state["opt"][p], params[p])
        return params, {**state, "opt": new_opt}, {"losses": {p: losses[p] for p in game.player_names}}

    def functional_step(self, game: Game) -> StepFn:
        opts, order = self.optimizers(game), self.order(game)  # resolved outside the compiled region

        def alternating(params, state, batch):
            params, losses, opt_state = dict(params), {}, dict(state["opt"])
            for p in order:
                g, step_losses = functional_gradient(game, params, batch, p)
                losses[p] = step_losses[p]
                params[p], opt_state[p] = opts[p].update(g, state["opt"][p], params[p])
            return params, {**state, "opt": opt_state}, {"losses": {p: losses[p] for p in game.player_names}}

        return alternating


class Optimistic(Solver):
    """Optimistic gradient descent (Daskalakis, Ilyas, Syrgkanis & Zeng 2018).

    With plain SGD this is OGDA, Eq. (2) of the paper: ``θ_{t+1} = θ_t − η(2g_t − g_{t−1})``
    with ``g_{−1} := g_0``. In general, with ``Δ_t`` the update the player's base optimizer
    proposes at step t, ``θ_{t+1} = θ_t + 2Δ_t − Δ_{t−1}`` (``Δ_{−1} := Δ_0``). With Adam
    this is Optimistic Adam (the paper's Algorithm 1: ``w_t = w_{t−1} − 2η m_t/(√v_t+ε) +
    η m_{t−1}/(√v_{t−1}+ε)``), here with torch.optim.Adam's bias correction of m and v.
    """

    description = "optimistic gradient descent / optimistic Adam (Daskalakis et al. 2018)"
    capabilities = SolverCapabilities(vectorizable=True)

    def init(self, game: Game, params: JointParams) -> dict[str, Any]:
        state = super().init(game, params)
        state["previous_update"] = {p: {k: torch.zeros_like(v) for k, v in ps.items()} for p, ps in params.items()}
        any_param = next(iter(next(iter(params.values())).values()))
        state["has_previous"] = torch.zeros((), dtype=torch.bool, device=any_param.device)
        return state

    def step(self, game: Game, params: JointParams, state: dict[str, Any], batch: Any):
        opts = self.optimizers(game)
        grads, losses = player_gradients(game, params, batch)
        new_params, new_opt, updates = {}, {}, {}
        has_prev = state["has_previous"]
        with torch.no_grad():
            for p in game.player_names:
                proposed, new_opt[p] = opts[p].update(grads[p], state["opt"][p], params[p])
                updates[p], new_params[p] = {}, {}
                for k, theta in params[p].items():
                    delta = proposed[k] - theta
                    previous = torch.where(has_prev, state["previous_update"][p][k], delta)
                    updates[p][k] = delta
                    new_params[p][k] = theta + 2 * delta - previous
        new_state = {**state, "opt": new_opt, "previous_update": updates, "has_previous": torch.ones_like(has_prev)}
        return new_params, new_state, {"losses": losses}
