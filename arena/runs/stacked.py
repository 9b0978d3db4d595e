"""N copies of a game as one game: the seeds' parameters and batches stacked along a new
leading axis, evaluated with one ``torch.func.vmap`` of :meth:`Game.losses`
(:class:`StackedGame`, used by the stacked step engine :class:`arena.runs.engine.StackedEngine`
and the benchmarks)."""
from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any

import torch
from torch import Tensor
# torch.utils._pytree: the pytree flattening torch.func itself uses (no public alias in torch 2.x)
from torch.utils._pytree import tree_flatten, tree_map, tree_unflatten

from games.base import Game, GameCapabilities, JointParams, checked_losses

__all__ = ["StackedGame", "stack_trees", "unstack_tree"]


def stack_trees(trees: list[Any]) -> Any:
    """Stack matching pytrees of tensors along a new leading axis (``None`` stays ``None``)."""
    leaves, spec = tree_flatten(trees[0])
    columns = [tree_flatten(t)[0] for t in trees]
    return tree_unflatten([None if leaves[i] is None else torch.stack([c[i] for c in columns])
                           for i in range(len(leaves))], spec)


def unstack_tree(tree: Any, index: int, stacked: Any = True) -> Any:
    """Seed ``index``'s slice of a stacked pytree. ``stacked`` is a matching pytree of
    bools (or one bool) saying which leaves carry the seed axis; the others are shared."""
    if isinstance(stacked, bool):
        return tree_map(lambda t: t[index] if stacked else t, tree)
    leaves, spec = tree_flatten(tree)
    return tree_unflatten([t[index] if s else t for t, s in zip(leaves, tree_flatten(stacked)[0])], spec)


class StackedGame(Game):
    """``n`` independent copies of ``game``: parameters and batches carry a leading seed
    axis, and each player's loss is the sum over the copies of its loss in each copy
    (``torch.func.vmap`` of ``game.losses``).

    With ``record=True``, ``recorded`` collects each call's per-seed losses (detached,
    shape ``(n,)``), so the run loop can tell which seed went non-finite.
    """

    def __init__(self, game: Game, n: int, record: bool = False):
        self.game, self.n, self.record = game, int(n), bool(record)
        self.players = game.players
        self.recorded: list[dict[str, Tensor]] = []
        for name in ("registered_name", "options"):
            if hasattr(game, name):
                setattr(self, name, getattr(game, name))

    def per_seed_losses(self, params: JointParams, batch: Any, players: tuple[str, ...] | None = None) -> dict[str, Tensor]:
        """Every player's loss (or those of ``players``) in every copy, shape ``(n,)`` each."""
        if batch is None:
            return torch.func.vmap(lambda p: checked_losses(self.game, p, None, players))(params)
        return torch.func.vmap(lambda p, b: checked_losses(self.game, p, b, players))(params, batch)

    def losses(self, params: JointParams, batch: Any) -> dict[str, Tensor]:
        return self._summed_losses(params, batch, None)

    def losses_of(self, params: JointParams, batch: Any, players: tuple[str, ...]) -> dict[str, Tensor]:
        # the wrapped game's own shortcut (e.g. a GAN's generator loss without the real data)
        return self._summed_losses(params, batch, tuple(players))

    def _summed_losses(self, params: JointParams, batch: Any, players: tuple[str, ...] | None) -> dict[str, Tensor]:
        per_seed = self.per_seed_losses(params, batch, players)
        if self.record:
            self.recorded.append({p: l.detach() for p, l in per_seed.items()})
        return {p: l.sum() for p, l in per_seed.items()}

    @property
    def capabilities(self) -> GameCapabilities:  # type: ignore[override]
        return self.game.capabilities

    def reusing_forward(self, players: Iterable[str]) -> AbstractContextManager[None]:
        # the wrapped game runs the players' modules (under vmap): its calls are the ones to reuse
        return self.game.reusing_forward(players)

    def default_optimizers(self):
        return self.game.default_optimizers()

    def interaction_graph(self):
        return self.game.interaction_graph()

    def metric_names(self) -> tuple[str, ...]:
        return self.game.metric_names()
