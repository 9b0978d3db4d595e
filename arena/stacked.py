"""N copies of a game as one game: the seeds' parameters and batches stacked along a new
leading axis, evaluated with one ``torch.func.vmap`` of :meth:`Game.losses`
(:class:`StackedGame`, used by :mod:`arena.vectorized` and the benchmarks)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor
from torch._C import _functorch as _ft
from torch.utils._pytree import tree_flatten, tree_map, tree_unflatten

from games.base import Game, JointParams, checked_losses
from solvers.call_reuse import replaced_call, same_arguments

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


def _unwrap(x: Any) -> tuple[Any, int | None, int | None]:
    """``(physical tensor, batch dim, vmap level)`` of a batched tensor; ``(x, None, None)`` else."""
    if isinstance(x, Tensor) and _ft.is_batchedtensor(x):
        return _ft.get_unwrapped(x), _ft.maybe_get_bdim(x), _ft.maybe_get_level(x)
    return x, None, None


def _same_keys(a: tuple, b: tuple) -> bool:
    """Same arguments (see :func:`solvers.call_reuse.same_arguments`) with the same vmap dims."""
    return (len(a) == len(b) and all(dx == dy for (_, dx), (_, dy) in zip(a, b))
            and same_arguments([x for x, _ in a], [y for y, _ in b]))


@contextmanager
def _batched_reuse(game: Game, players: frozenset[str], cache: dict) -> Iterator[None]:
    """:func:`solvers.call_reuse.reuse_calls` for players that run under ``vmap``.

    ``vmap`` wraps the stacked tensors anew in every call, so the cache is keyed by the
    *physical* (stacked) parameter and argument tensors and stores the physical output;
    a hit wraps it again at the current ``vmap`` level. Anything unexpected is a miss.
    """
    entries = cache.setdefault("vmap", [])
    original = game.call

    def call(player: str, params: JointParams, *args: Any, **kwargs: Any) -> Any:
        if player not in players or kwargs:
            return original(player, params, *args, **kwargs)
        own = [_unwrap(t) for t in params[player].values()]
        levels = {level for _, _, level in own}
        if len(levels) != 1 or None in levels:
            return original(player, params, *args)
        level = levels.pop()
        key_own = tuple((t, d) for t, d, _ in own)
        key_args = tuple((t, d) for t, d, _ in (_unwrap(a) for a in args))
        for p, k_own, k_args, out, bdim in entries:
            if p == player and _same_keys(k_own, key_own) and _same_keys(k_args, key_args):
                return _ft._add_batch_dim(out, bdim, level)
        out = original(player, params, *args)
        physical, bdim, out_level = _unwrap(out)
        if out_level == level:
            entries.append((player, key_own, key_args, physical, bdim))
        return out

    with replaced_call(game, call):
        yield


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
        context = vars(self).get("reuse_context")  # set by solvers.call_reuse.reuse_calls
        if context is None:
            per_seed = self.per_seed_losses(params, batch, players)
        else:
            with _batched_reuse(self.game, *context):
                per_seed = self.per_seed_losses(params, batch, players)
        if self.record:
            self.recorded.append({p: l.detach() for p, l in per_seed.items()})
        return {p: l.sum() for p, l in per_seed.items()}

    def default_optimizers(self):
        return self.game.default_optimizers()

    def interaction_graph(self):
        return self.game.interaction_graph()

    def metric_names(self) -> tuple[str, ...]:
        return self.game.metric_names()
