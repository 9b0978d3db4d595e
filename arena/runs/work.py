"""Work: how many loss-gradient evaluations each player's training has cost.

A step engine hands its solver the game wrapped in a :class:`WorkCounter`. Every loss the
solver asks the game for that carries a graph gets a tensor hook; the hook fires when a
backward pass (``torch.autograd.grad``, ``.backward()`` or ``torch.func.grad``) reaches the
loss, and counts one evaluation of that player's gradient. So the count is what the solver
*did*, not what a formula says it should do:

* simultaneous gradient descent: one per player per step;
* alternating steps: one per step, for the player that moves;
* unrolled K (``solvers.unrolled``): the leader's gradient through the unroll is one, and
  each of the K unrolled follower steps is one more of the follower's;
* extragradient: two per player per step (the extrapolation and the update).

A backward pass that only runs *through* a gradient (a Hessian-vector product, or the
leader's backward through the unrolled follower steps) does not reach the loss tensor
itself and is not counted: work counts gradient evaluations, the unit of the game-
optimisation literature, and its cost in time is what the run's ``train_time`` records.

Why both: ``work`` does not depend on the machine or its load (two runs of one
configuration count the same work, bit for bit), so it is the fair unit for comparing
solvers on a shared, noisy machine; training time includes what work leaves out (backward
passes through gradients, the optimizer's own arithmetic), so it is the fair unit on a
dedicated machine.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor

from games.base import Game, JointParams

__all__ = ["WorkCounter"]


class WorkCounter:
    """``game`` as the solver sees it, counting each player's loss-gradient evaluations.

    Every attribute but :meth:`losses` and :meth:`losses_of` is the wrapped game's.
    ``counts`` maps each player to the number of backward passes that reached its loss.
    """

    def __init__(self, game: Game, counts: Mapping[str, int] | None = None):
        self.game = game
        self.counts = {p: 0 for p in game.player_names}
        if counts is not None:
            self.counts.update({p: int(v) for p, v in counts.items() if p in self.counts})

    def __getattr__(self, name: str) -> Any:
        # only called for names this class does not define: the wrapped game's attributes
        return getattr(self.__dict__["game"], name)

    def __repr__(self) -> str:
        return repr(self.game)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def losses(self, params: JointParams, batch: Any) -> dict[str, Tensor]:
        return self._counted(self.game.losses(params, batch))

    def losses_of(self, params: JointParams, batch: Any, players: tuple[str, ...]) -> dict[str, Tensor]:
        return self._counted(self.game.losses_of(params, batch, players))

    def _counted(self, losses: Any) -> Any:
        if not isinstance(losses, Mapping):
            return losses  # checked_losses names the broken contract
        counted = dict(losses)
        for player, loss in losses.items():
            if isinstance(loss, Tensor) and loss.requires_grad and player in self.counts:
                # the hook goes on an alias of the loss, not on the game's own tensor: in a zero-sum
                # game one player's loss is built from the other's, and a backward pass from the
                # generator's loss would otherwise also count as one of the discriminator's
                counted[player] = loss.view_as(loss)
                counted[player].register_hook(self._counter_of(player))
        return counted

    def _counter_of(self, player: str):
        def count(grad: Tensor) -> None:
            self.counts[player] += 1

        return count
