"""Unrolled optimisation of the followers (Metz, Poole, Pfau & Sohl-Dickstein 2016).

The method's equations (11)–(13) and the implementations of the surrogate gradient are in
:mod:`solvers.unroll`; this module is the solver: its options, the roles of the players,
and the choice of implementation, made once when the solver is built. Speed: see
``docs/results/performance.md``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import Tensor

from diffgames.errors import ConfigError
from games.base import Game, JointParams, checked_losses
from solvers.base import OptimizersOption, Solver, SolverCapabilities, StepFn, functional_gradient, player_gradients
from solvers.optim import BaseOptimizer
from solvers.unroll import leader_gradient_higher, unroll_autograd, unroll_checkpointed, unroll_func

__all__ = ["Unrolled"]


class Unrolled(Solver):
    """Unrolled lookahead (Metz et al. 2016, "Unrolled Generative Adversarial Networks").

    Each leader ``L`` (default: the first player, the generator) descends the surrogate
    loss of Eq. (12), ``f_L(θ_L, θ_F^K(θ_L, θ_F))``, where ``θ_F^K`` is ``K`` steps of the
    followers' *own* base optimizers (same hyperparameters, a copy of their current
    optimizer state, the step's batch) on the followers' own losses, Eq. (11). Its gradient
    is Eq. (13): ``∂f/∂θ_L + ∂f/∂θ_F^K · dθ_F^K/dθ_L``; ``second_order=False`` drops the second
    term.

    Two schedules. ``"simultaneous"`` (default), the paper's equations: every step, the
    followers take a plain step at θ_t and the leaders their surrogate step, all at once;
    ``unroll_steps=0`` is exactly simultaneous gradient descent. ``"alternating"``, the
    paper's experiments (App. A): **one step updates one side only** — odd steps (the
    1st, 3rd, …) the followers take a plain step, even steps the leaders take their
    surrogate step at the followers' new parameters, as the appendix counts its steps
    (30,000 steps: 15,000 discriminator and 15,000 generator updates). Given the same
    batch for both steps, two alternating steps with ``unroll_steps=0`` equal one step
    of the ``alternating`` solver with the followers first.

    The unroll's data (``unroll_data``): ``"reuse"`` (default, the demo notebook's) runs
    every unrolled step and the surrogate on the step's batch; ``"fresh"`` draws a new
    batch for each of the ``K`` unrolled steps (:meth:`sample_batch`) and evaluates the
    surrogate on the step's own batch.

    Parameters
    ----------
    unroll_steps
        K ≥ 0, the number of follower steps unrolled.
    second_order
        Keep the term through ``dθ_F^K/dθ_L`` (the paper's method) or drop it.
    backend
        ``"func"``: differentiate through this package's functional optimizers — with the
        autograd engine (``create_graph=True``) in :meth:`step`
        (:func:`solvers.unroll.unroll_autograd`), with nested ``torch.func.grad`` in
        :meth:`functional_step`, for ``torch.func`` transforms and ``torch.compile``
        (:func:`solvers.unroll.unroll_func`); the two give the same values. ``"higher"``:
        ``higher``'s differentiable ``torch.optim`` optimizers
        (:func:`solvers.unroll.leader_gradient_higher`; note: its Adam adds ε before the
        bias correction, torch.optim.Adam after).
    leaders
        The players that look ahead, every other player a follower; default: the first player. For a GAN,
        ``leaders="discriminator"`` unrolls the generator when updating the
        discriminator: the maximin surrogate of the paper's footnote instead of minimax.
    schedule
        ``"simultaneous"`` (the paper's equations) or ``"alternating"`` (its Appendix A: one side per step).
    unroll_data
        ``"reuse"`` (the step's batch for every unrolled step) or ``"fresh"`` (a new batch per unrolled step).
    checkpoint_every
        ``S ≥ 1``: keep the followers only every ``S`` unroll steps and recompute the rest
        in the backward pass (:func:`solvers.unroll.unroll_checkpointed`): the same
        gradient (float64: within 1e-10), peak memory growing like ``K / S + S`` instead of
        ``K`` (``S ≈ √K``), for about one more forward pass of the unroll. ``None`` (default):
        keep the whole unroll. Second order, ``backend="func"``, eager steps only.
    """

    description = "unrolled lookahead of the followers' optimizer (Metz et al. 2016)"
    capabilities = SolverCapabilities(vectorizable=True, compilable=True)

    def __init__(
        self,
        *,
        unroll_steps: int = 5,
        second_order: bool = True,
        backend: Literal["func", "higher"] = "func",
        leaders: Sequence[str] | str | None = None,
        checkpoint_every: int | None = None,
        schedule: Literal["simultaneous", "alternating"] = "simultaneous",
        unroll_data: Literal["reuse", "fresh"] = "reuse",
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
        if checkpoint_every is not None and (checkpoint_every < 1 or backend != "func" or not second_order):
            raise ConfigError("unrolled: checkpoint_every must be an integer ≥ 1, with backend='func' and "
                              f"second_order=True (got {checkpoint_every!r}, {backend!r}, {second_order!r}); "
                              "a first-order unroll keeps no graph through the followers anyway")
        self.checkpoint_every = checkpoint_every
        if schedule not in ("simultaneous", "alternating"):
            raise ConfigError(f"unrolled: schedule must be 'simultaneous' or 'alternating', got {schedule!r}")
        if unroll_data not in ("reuse", "fresh"):
            raise ConfigError(f"unrolled: unroll_data must be 'reuse' (the step's batch for every unrolled step) "
                              f"or 'fresh' (a new batch per unrolled step), got {unroll_data!r}")
        if unroll_data == "fresh" and checkpoint_every is not None:
            raise ConfigError("unrolled: checkpoint_every works with unroll_data='reuse' only")
        self.schedule, self.unroll_data = schedule, unroll_data
        plain = schedule == "simultaneous" and unroll_data == "reuse"
        if backend == "higher" or not plain:
            # no torch.func step: higher's optimizers are not functional, and the alternating
            # schedule and fresh batches are eager only; stacked seeds are tested with neither
            self.capabilities = SolverCapabilities(vectorizable=plain, compilable=False)

    def options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {"unroll_steps": self.unroll_steps, "second_order": self.second_order, "backend": self.backend}
        if self.leaders is not None:
            opts["leaders"] = self.leaders
        if self.checkpoint_every is not None:
            opts["checkpoint_every"] = self.checkpoint_every
        if self.schedule != "simultaneous":
            opts["schedule"] = self.schedule
        if self.unroll_data != "reuse":
            opts["unroll_data"] = self.unroll_data
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

    # ------------------------------------------------------------------ data and schedule
    def init(self, game: Game, params: JointParams) -> dict[str, Any]:
        state = super().init(game, params)
        if self.schedule == "alternating":  # the number of updates so far: its parity says whose turn it is
            any_param = next(iter(next(iter(params.values())).values()))
            state["updates"] = torch.zeros((), dtype=torch.int64, device=any_param.device)
        return state

    def leaders_turn(self, state: dict[str, Any]) -> bool:
        """Whether the next step updates the leaders (always, in the simultaneous schedule)."""
        return self.schedule == "simultaneous" or int(state["updates"].reshape(-1)[0]) % 2 == 1

    def step_label(self) -> str:
        if self.schedule == "alternating":
            return "step (one side updates: followers on odd steps, leaders on even)"
        return "step"

    def sample_batch(self, game: Game, generator: torch.Generator, device: torch.device | str,
                     state: dict[str, Any]) -> Any:  # noqa: D401 - see Solver.sample_batch
        """The step's data: the game's batch, and with ``unroll_data="fresh"`` on a step
        that updates the leaders ``{"batch": the step's batch, "unroll": [K batches]}``,
        drawn in that order from ``generator``."""
        batch = game.sample(generator, device)
        if self.unroll_data == "reuse" or self.unroll_steps == 0 or not self.leaders_turn(state):
            return batch
        return {"batch": batch, "unroll": [game.sample(generator, device) for _ in range(self.unroll_steps)]}

    def _split(self, batch: Any) -> tuple[Any, list | None]:
        """``(the step's batch, the unrolled steps' batches or None)``. A plain batch (from a
        caller that did not use :meth:`sample_batch`) serves every unrolled step."""
        if self.unroll_data == "fresh" and isinstance(batch, dict) and set(batch) == {"batch", "unroll"}:
            return batch["batch"], list(batch["unroll"])
        return batch, None

    def step(self, game: Game, params: JointParams, state: dict[str, Any], batch: Any):
        batch, unroll_batches = self._split(batch)
        if self.schedule == "alternating":
            return self._alternating_step(game, params, state, batch, unroll_batches)
        opts = self.optimizers(game)
        if unroll_batches is not None:
            # fresh batches: the unroll's first step is not the followers' own step at θ_t
            grads, losses = player_gradients(game, params, batch)
            leaders, followers = self.roles(game)
            for leader in leaders:
                grads[leader] = self.leader_gradient(game, params, state, batch, leader, followers, opts,
                                                     unroll_batches)
        elif self.unroll_steps > 0 and self.checkpoint_every is not None:
            grads, losses = unroll_checkpointed(game, params, state, batch, *self.roles(game), opts,
                                                self.unroll_steps, self.checkpoint_every)
        elif self.unroll_steps > 0 and self.backend == "func":
            grads, losses = unroll_autograd(game, params, state, batch, *self.roles(game), opts,
                                            self.unroll_steps, self.second_order)
        else:
            grads, losses = player_gradients(game, params, batch)
            if self.unroll_steps > 0:
                leaders, followers = self.roles(game)
                for leader in leaders:
                    grads[leader] = self.leader_gradient(game, params, state, batch, leader, followers, opts)
        with torch.no_grad():
            new_params, new_state = self.apply_updates(game, params, state, grads)
        return new_params, new_state, {"losses": losses}

    def _alternating_step(self, game: Game, params: JointParams, state: dict[str, Any], batch: Any,
                          unroll_batches: list | None):
        """One side's update (App. A): the followers' plain step, or the leaders' surrogate step."""
        opts = self.optimizers(game)
        leaders, followers = self.roles(game)
        moving = leaders if self.leaders_turn(state) else followers
        if moving is followers or self.unroll_steps == 0:
            grads, losses = player_gradients(game, params, batch, players=moving)
        elif unroll_batches is None and self.checkpoint_every is None and self.backend == "func":
            grads, losses = unroll_autograd(game, params, state, batch, leaders, followers, opts,
                                            self.unroll_steps, self.second_order)
        else:
            grads = {p: self.leader_gradient(game, params, state, batch, p, followers, opts, unroll_batches)
                     for p in leaders}
            with torch.no_grad():  # the leaders' losses at θ_t, for the engine's non-finite check
                losses = {p: checked_losses(game, params, batch, tuple(leaders))[p].detach() for p in leaders}
        new_params, new_opt = dict(params), dict(state["opt"])
        with torch.no_grad():
            for p in moving:
                new_params[p], new_opt[p] = opts[p].update(grads[p], state["opt"][p], params[p])
        new_state = {**state, "opt": new_opt, "updates": state["updates"] + 1}
        # the losses this update computed (the moving side's at least): a second forward pass
        # for the other side's would cost a K = 0 step a third of its time
        return new_params, new_state, {"losses": {p: losses[p] for p in game.player_names if p in losses}}

    def leader_gradient(self, game: Game, params: JointParams, state: dict[str, Any], batch: Any, leader: str,
                        followers: list[str], opts: dict[str, BaseOptimizer],
                        unroll_batches: list | None = None) -> dict[str, Tensor]:
        """∇_{θ_L} f_L(θ_L, θ_F^K) at ``params`` (Eq. 13, or its first term only) by this
        solver's backend; unrolled step ``k`` on ``unroll_batches[k]`` when given."""
        if self.backend == "higher" and self.second_order:
            return leader_gradient_higher(game, params, state, batch, leader, followers, opts, self.unroll_steps,
                                          unroll_batches)
        if self.checkpoint_every is not None:
            return unroll_checkpointed(game, params, state, batch, [leader], followers, opts, self.unroll_steps,
                                       self.checkpoint_every)[0][leader]
        # first order, higher's optimizers add nothing: no derivative goes through them
        return unroll_autograd(game, params, state, batch, [leader], followers, opts,
                               self.unroll_steps, self.second_order, unroll_batches)[0][leader]

    def functional_step(self, game: Game) -> StepFn | None:
        """The step as a pure ``torch.func`` function (:func:`solvers.unroll.unroll_func`);
        ``None`` for the ``higher`` backend, the alternating schedule and fresh batches."""
        if self.backend != "func" or self.schedule != "simultaneous" or self.unroll_data != "reuse":
            return None
        opts = self.optimizers(game)  # resolved once, outside the compiled region
        names = list(game.player_names)
        leaders, followers = self.roles(game) if self.unroll_steps > 0 else ([], names)

        def unrolled(params, state, batch):
            grads, losses = {}, None
            for leader in leaders:
                # the first unroll gives the followers' gradients and the losses at θ_t
                grads[leader], first_grads, first_losses = unroll_func(
                    game, params, state, batch, leader, followers, opts, self.unroll_steps, self.second_order)
                if losses is None:
                    grads.update(first_grads)
                    losses = {p: l.detach() for p, l in first_losses.items()}
            for p in followers:
                if p not in grads:  # no unroll (K = 0): simultaneous gradient descent
                    grads[p], step_losses = functional_gradient(game, params, batch, p)
                    losses = step_losses if losses is None else losses
            new_params, new_state = self.apply_updates(game, params, state, grads)
            return new_params, new_state, {"losses": losses}

        return unrolled
