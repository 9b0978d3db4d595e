"""Unrolled optimisation of the followers (Metz, Poole, Pfau & Sohl-Dickstein 2016)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import Tensor
from torch.func import grad as func_grad

from games.base import Game, JointParams, checked_losses
from games.errors import ConfigError
from solvers.base import OptimizersOption, Solver, own_gradient_fn, player_gradients
from solvers.optim import BaseOptimizer

__all__ = ["Unrolled"]


class Unrolled(Solver):
    """Unrolled lookahead (Metz et al. 2016, "Unrolled Generative Adversarial Networks").

    Each leader ``L`` (default: the first player, the generator) descends the surrogate
    loss of Eq. (12), ``f_L(θ_L, θ_F^K(θ_L, θ_F))``, where ``θ_F^K`` is ``K`` steps of the
    followers' *own* base optimizers (same hyperparameters, a copy of their current
    optimizer state, the step's batch) on the followers' own losses, Eq. (11). Its gradient
    is Eq. (13): ``∂f/∂θ_L + ∂f/∂θ_F^K · dθ_F^K/dθ_L``; ``second_order=False`` drops the second
    term. Followers take a plain step at θ_t, and all players update simultaneously, as in
    the paper's equations. ``unroll_steps=0`` is exactly simultaneous gradient descent.

    Parameters
    ----------
    unroll_steps
        K ≥ 0, the number of follower steps unrolled.
    second_order
        Keep the term through ``dθ_F^K/dθ_L`` (the paper's method) or drop it.
    backend
        ``"func"``: nested ``torch.func.grad`` through this package's functional
        optimizers. ``"higher"``: ``higher``'s differentiable ``torch.optim`` optimizers
        (note: its Adam adds ε before the bias correction, torch.optim.Adam after).
    leaders
        The players that look ahead; every other player is a follower.
    """

    description = "unrolled lookahead of the followers' optimizer (Metz et al. 2016)"

    def __init__(
        self,
        *,
        unroll_steps: int = 5,
        second_order: bool = True,
        backend: Literal["func", "higher"] = "func",
        leaders: Sequence[str] | str | None = None,
        optimizers: OptimizersOption = None,
    ):
        super().__init__(optimizers=optimizers)
        if unroll_steps < 0:
            raise ConfigError(f"unrolled: unroll_steps must be an integer ≥ 0, got {unroll_steps}")
        if backend not in ("func", "higher"):
            raise ConfigError(f"unrolled: backend must be 'func' or 'higher', got {backend!r}")
        self.unroll_steps = int(unroll_steps)
        self.second_order = bool(second_order)
        self.backend = backend
        self.leaders = [leaders] if isinstance(leaders, str) else (None if leaders is None else list(leaders))

    def options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {"unroll_steps": self.unroll_steps, "second_order": self.second_order, "backend": self.backend}
        if self.leaders is not None:
            opts["leaders"] = self.leaders
        return opts

    def roles(self, game: Game) -> tuple[list[str], list[str]]:
        leaders = self.leaders or [game.player_names[0]]
        unknown = [p for p in leaders if p not in game.player_names]
        if unknown:
            raise ConfigError(f"unrolled: leaders {unknown} are not players of the game {list(game.player_names)}")
        followers = [p for p in game.player_names if p not in leaders]
        if not followers:
            raise ConfigError("unrolled: every player is a leader; leave at least one follower to unroll")
        return list(leaders), followers

    def step(self, game: Game, params: JointParams, state: dict[str, Any], batch: Any):
        opts = self.optimizers(game)
        grads, losses = player_gradients(game, params, batch)
        if self.unroll_steps > 0:
            leaders, followers = self.roles(game)
            for leader in leaders:
                grads[leader] = self.leader_gradient(game, params, state, batch, leader, followers, opts)
        new_params, new_opt = {}, {}
        with torch.no_grad():
            for p in game.player_names:
                new_params[p], new_opt[p] = opts[p].update(grads[p], state["opt"][p], params[p])
        return new_params, {**state, "opt": new_opt}, {"losses": losses}

    # ------------------------------------------------------------------ the surrogate gradient
    def leader_gradient(
        self,
        game: Game,
        params: JointParams,
        state: dict[str, Any],
        batch: Any,
        leader: str,
        followers: list[str],
        opts: dict[str, BaseOptimizer],
    ) -> dict[str, Tensor]:
        """∇_{θ_L} f_L(θ_L, θ_F^K) at ``params`` (Eq. 13, or its first term only)."""
        if not self.second_order:
            unrolled = self._unroll_detached(game, params, state, batch, followers, opts)
            return player_gradients(game, unrolled, batch, players=[leader])[0][leader]
        if self.backend == "higher":
            return self._leader_gradient_higher(game, params, state, batch, leader, followers, opts)
        own_grads = {f: own_gradient_fn(game, f) for f in followers}
        follower_states = {f: state["opt"][f] for f in followers}

        def surrogate(leader_params: dict[str, Tensor]) -> Tensor:
            current = {**params, leader: leader_params}
            states = dict(follower_states)
            for _ in range(self.unroll_steps):
                fgrads = {f: own_grads[f](current, batch) for f in followers}
                current = dict(current)
                for f in followers:
                    current[f], states[f] = opts[f].update(fgrads[f], states[f], current[f])
            return checked_losses(game, current, batch)[leader]

        with torch.enable_grad():
            return func_grad(surrogate)(params[leader])

    def _unroll_detached(self, game, params, state, batch, followers, opts) -> JointParams:
        current, states = dict(params), {f: state["opt"][f] for f in followers}
        for _ in range(self.unroll_steps):
            fgrads, _ = player_gradients(game, current, batch, players=followers)
            current = dict(current)
            with torch.no_grad():
                for f in followers:
                    current[f], states[f] = opts[f].update(fgrads[f], states[f], current[f])
        return current

    def _leader_gradient_higher(self, game, params, state, batch, leader, followers, opts) -> dict[str, Tensor]:
        import higher  # imported lazily: only this backend needs it

        with torch.enable_grad():
            leader_params = {k: v.detach().requires_grad_() for k, v in params[leader].items()}
            current: JointParams = {**params, leader: leader_params}
            diff_opts = {}
            for f in followers:
                start = [v.detach().requires_grad_() for v in params[f].values()]
                torch_opt = opts[f].to_torch(start, state["opt"][f])
                diff_opts[f] = higher.get_diff_optim(torch_opt, start, track_higher_grads=True)
                current[f] = dict(zip(params[f].keys(), start))
            for _ in range(self.unroll_steps):
                stepped = {}
                for f in followers:
                    loss = checked_losses(game, current, batch)[f]
                    new = diff_opts[f].step(loss, params=list(current[f].values()))
                    stepped[f] = dict(zip(current[f].keys(), new))
                current = {**current, **stepped}
            loss = checked_losses(game, current, batch)[leader]
            tensors = list(leader_params.values())
            gs = torch.autograd.grad(loss, tensors, allow_unused=True)
        return {k: torch.zeros_like(t) if g is None else g for (k, t), g in zip(leader_params.items(), gs)}
