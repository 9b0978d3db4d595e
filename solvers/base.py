"""The Solver contract and the helpers every solver shares.

A solver turns the players' losses into one step of every player:

* ``init(game, params) -> state`` — a (nested) dict of tensors, so it checkpoints with
  ``torch.save`` and can be stacked for many seeds;
* ``step(game, params, state, batch) -> (params, state, info)`` — a pure function of
  tensors; ``info["losses"]`` holds each player's (detached) loss at the step's start.

Each player's base optimizer (:mod:`solvers.optim`) comes from the solver's
``optimizers`` option: one optimizer for every player, a ``{player: optimizer}`` dict, or
``None`` for the game's recommended ones.
"""
from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor
from torch.func import grad as func_grad

from games.base import Game, JointParams, checked_losses
from diffgames.errors import ConfigError
from solvers.optim import BaseOptimizer, make_optimizer

__all__ = ["Solver", "SolverCapabilities", "OptimizersOption", "StepFn", "player_gradients", "detach_losses",
           "functional_gradient", "zeros_where_none"]

OptimizersOption = BaseOptimizer | Mapping[str, Any] | None
#: A solver step as a function of tensors: ``(params, state, batch) -> (params, state, info)``.
StepFn = Callable[[JointParams, dict, Any], tuple[JointParams, dict, dict]]


@dataclass(frozen=True)
class SolverCapabilities:
    """What a solver supports, declared on its class (``capabilities``) next to its code;
    the arena and the tests read it, never a table of solver names.

    Attributes
    ----------
    players
        The number of players it is defined for, or ``None`` for any number.
    vectorizable
        Its step on :class:`arena.runs.stacked.StackedGame` (N seeds stacked, losses summed) is
        every seed's own step: it works per parameter entry (gradients, Hessian-vector
        products, elementwise optimizers) and never reduces over all parameters (norms,
        signs, conjugate gradients), which would mix the seeds.
    compilable
        :meth:`Solver.functional_step` gives a ``torch.func`` step that ``torch.compile``
        captures in one graph (``--compile``).
    own_step_size
        It takes its step size as its own option ``lr`` instead of base optimizers.
    zero_sum_only
        It is defined for zero-sum games only: on a game whose record does not say
        ``zero_sum`` its ``init`` raises one :class:`~diffgames.errors.ConfigError`.
    """

    players: int | None = None
    vectorizable: bool = False
    compilable: bool = False
    own_step_size: bool = False
    zero_sum_only: bool = False


class Solver:
    """Base class of every solver. Subclasses implement :meth:`step` (and :meth:`init`
    when they keep state beyond the players' optimizers), and state what they support in
    ``capabilities`` (:class:`SolverCapabilities`)."""

    description: ClassVar[str] = ""
    capabilities: SolverCapabilities = SolverCapabilities()

    def __init__(self, *, optimizers: OptimizersOption = None):
        self._optimizer_option = optimizers
        if optimizers is not None:
            self._resolve(optimizers, None)  # validate early: a bad optimizer is a config error

    # ------------------------------------------------------------------ optimizers
    @staticmethod
    def _resolve(option: OptimizersOption, game: Game | None) -> dict[str, BaseOptimizer] | BaseOptimizer:
        if isinstance(option, BaseOptimizer) or (isinstance(option, Mapping) and "name" in option):
            return make_optimizer(option)  # one optimizer shared by all players
        assert isinstance(option, Mapping)
        resolved = {player: make_optimizer(spec) for player, spec in option.items()}
        if game is not None:
            unknown = sorted(set(resolved) - set(game.player_names))
            if unknown:
                raise ConfigError(
                    f"optimizers given for unknown players {unknown}; the game's players are {list(game.player_names)}"
                )
        return resolved

    def optimizers(self, game: Game) -> dict[str, BaseOptimizer]:
        """Each player's base optimizer (the game's recommendation fills the gaps).

        Resolved once per game: validating the specs costs ~0.7 ms, a tenth of a small
        GAN's step. Treat the returned dict as read-only.
        """
        cached = self.__dict__.get("_optimizers_for")
        if cached is not None and cached[0]() is game:
            return cached[1]
        resolved = self._optimizers_uncached(game)
        try:
            self._optimizers_for = (weakref.ref(game), resolved)
        except TypeError:  # a game object that cannot be weakly referenced: no cache
            pass
        return resolved

    def __getstate__(self) -> dict[str, Any]:
        # the cache holds a weak reference, which cannot be pickled (solvers travel to workers)
        return {k: v for k, v in self.__dict__.items() if k != "_optimizers_for"}

    def _optimizers_uncached(self, game: Game) -> dict[str, BaseOptimizer]:
        defaults = {p: make_optimizer(s) for p, s in game.default_optimizers().items()}
        if self._optimizer_option is None:
            return defaults
        chosen = self._resolve(self._optimizer_option, game)
        if isinstance(chosen, BaseOptimizer):
            return {p: chosen for p in game.player_names}
        return {p: chosen.get(p, defaults[p]) for p in game.player_names}

    # ------------------------------------------------------------------ contract
    def init(self, game: Game, params: JointParams) -> dict[str, Any]:
        opts = self.optimizers(game)
        return {"opt": {p: opts[p].init(params[p]) for p in game.player_names}}

    def step(self, game: Game, params: JointParams, state: dict[str, Any], batch: Any):
        raise NotImplementedError

    def step_label(self) -> str:
        """What one step of this solver is, for axis labels and tables: ``"step"`` when every
        player updates once per step."""
        return "step"

    def sample_batch(self, game: Game, generator: torch.Generator, device: torch.device | str,
                     state: dict[str, Any]) -> Any:
        """The data of the next :meth:`step` from ``state``: the game's batch
        (``game.sample``). A solver that needs more (e.g. a fresh batch per unrolled step)
        draws it here, from the same generator, so that a run stays reproducible."""
        return game.sample(generator, device)

    def options(self) -> dict[str, Any]:
        """The solver's options as plain data (for configs)."""
        return {}

    def apply_updates(self, game: Game, params: JointParams, state: dict[str, Any],
                      grads: Mapping[str, Mapping[str, Tensor]]) -> tuple[JointParams, dict[str, Any]]:
        """Every player's base-optimizer update with ``grads``: the new ``(params, state)``."""
        opts = self.optimizers(game)
        new_params, new_opt = {}, {}
        for p in game.player_names:
            new_params[p], new_opt[p] = opts[p].update(grads[p], state["opt"][p], params[p])
        return new_params, {**state, "opt": new_opt}

    def functional_step(self, game: Game) -> StepFn | None:
        """The step on ``game`` as a pure ``torch.func`` function (every derivative a
        ``torch.func`` transform, so ``torch.compile`` captures it in one graph), or
        ``None`` when the solver has none. It computes what :meth:`step` computes (same
        equations, same base optimizers); values agree to float rounding. Solvers that
        give one say ``compilable`` in their capability record."""
        return None

    def __repr__(self) -> str:
        name = getattr(type(self), "registered_name", type(self).__name__)
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"<solver {name}({opts})>"


def detach_losses(losses: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return {p: l.detach() for p, l in losses.items()}


def zeros_where_none(grads: Iterable[Tensor | None], like: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """``{name: gradient}`` from ``torch.autograd.grad(..., allow_unused=True)``'s output:
    a parameter the loss does not reach gets a zero gradient."""
    return {k: torch.zeros_like(t) if g is None else g for (k, t), g in zip(like.items(), grads)}


def functional_gradient(game: Game, params: JointParams, batch: Any, player: str) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """``(∇_{θ_p} loss_p, every player's detached loss)`` at ``params``, with ``torch.func.grad``."""

    def loss(own: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        losses = checked_losses(game, {**params, player: own}, batch)
        return losses[player], detach_losses(losses)

    return func_grad(loss, has_aux=True)(params[player])


def player_gradients(
    game: Game, params: JointParams, batch: Any, players: Iterable[str] | None = None
) -> tuple[dict[str, dict[str, Tensor]], dict[str, Tensor]]:
    """Each player's gradient of its own loss w.r.t. its own parameters, all at ``params``.

    One forward pass of the game and one backward pass per player (the graph is shared).
    Returns ``(grads, losses)`` with losses detached. A parameter the loss does not reach
    gets a zero gradient.
    """
    players = list(game.player_names if players is None else players)
    with torch.enable_grad():
        # only the differentiated players' parameters need a graph (saves the others' backward)
        wanted = set(players)
        leaves = {p: {k: v.detach().requires_grad_(p in wanted) for k, v in ps.items()} for p, ps in params.items()}
        losses = checked_losses(game, leaves, batch, tuple(players))
        grads: dict[str, dict[str, Tensor]] = {}
        for n, p in enumerate(players):
            tensors = list(leaves[p].values())
            if losses[p].requires_grad:
                gs = torch.autograd.grad(
                    losses[p], tensors, retain_graph=n < len(players) - 1, allow_unused=True
                )
            else:
                gs = (None,) * len(tensors)
            grads[p] = zeros_where_none(gs, leaves[p])
    return grads, detach_losses(losses)
