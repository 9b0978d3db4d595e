"""Reusing a player's forward pass while its parameters do not change.

During an unroll (Metz et al. 2016, Eq. 11) the leaders' parameters stay fixed, so a game
that runs its leader through :meth:`games.base.Game.call` (a GAN's ``G(z)``) would compute
the same output in each of the ``K + 1`` evaluations of the losses. Within
``game.reusing_forward(players)``, :meth:`Game.call` asks a :class:`ForwardReuse` first: a
call of one of ``players`` with the *same* parameter tensors and the *same* arguments as
an earlier one (tensors by identity, other values by equality) returns the earlier output.
Games are pure functions of ``(params, batch)`` (the Game contract), so that output is the
value a new call would compute. A game that runs its modules without ``self.call`` simply
gets no reuse.

Under ``torch.func.vmap`` (N seeds stacked, :class:`arena.runs.stacked.StackedGame`) every call
wraps the stacked tensors anew, so identity would never match: there the key is the
*physical* (stacked) tensor with its batch dimension, and a hit wraps the stored physical
output again at the current ``vmap`` level.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from torch import Tensor

# functorch's batched-tensor accessors have no public equivalent; they are needed only to
# key the cache on the stacked tensor under vmap (see the module docstring)
from torch._C import _functorch as _ft

__all__ = ["ForwardReuse", "same_arguments"]


def same_arguments(a: Sequence[Any], b: Sequence[Any]) -> bool:
    """Whether two argument lists are the same call's: the same tensors (by identity) and
    equal plain values."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x is y:
            continue
        if isinstance(x, Tensor) or isinstance(y, Tensor):
            return False
        try:
            if not bool(x == y):
                return False
        except Exception:  # noqa: BLE001 - an argument we cannot compare is a miss, never an error
            return False
    return True


def _unwrap(x: Any) -> tuple[Any, int | None, int | None]:
    """``(physical tensor, batch dim, vmap level)`` of a batched tensor; ``(x, None, None)`` else."""
    if isinstance(x, Tensor) and _ft.is_batchedtensor(x):
        return _ft.get_unwrapped(x), _ft.maybe_get_bdim(x), _ft.maybe_get_level(x)
    return x, None, None


def _same_batched(a: tuple, b: tuple) -> bool:
    """Same physical tensors (by identity) with the same batch dims."""
    return (len(a) == len(b) and all(dx == dy for (_, dx), (_, dy) in zip(a, b))
            and same_arguments([x for x, _ in a], [y for y, _ in b]))


class ForwardReuse:
    """The outputs of the calls of ``players`` made while a reuse block is open."""

    def __init__(self, players: Iterable[str]):
        self.players = frozenset(players)
        self.plain: list[tuple[str, tuple, tuple, tuple, Any]] = []
        self.batched: list[tuple[str, tuple, tuple, Any, int | None]] = []

    def call(self, player: str, own: dict[str, Tensor], args: tuple, kwargs: dict, run: Callable[[], Any]) -> Any:
        """``run()``'s output, or an earlier identical call's (``own``: the player's parameters)."""
        if player not in self.players:
            return run()
        unwrapped = [_unwrap(t) for t in own.values()]
        levels = {level for _, _, level in unwrapped}
        if levels == {None}:
            return self._plain(player, tuple(own.values()), args, tuple(sorted(kwargs.items())), run)
        if len(levels) != 1 or None in levels or kwargs:
            return run()  # partly batched or keyword arguments: no reuse, never a wrong hit
        level = levels.pop()
        key_own = tuple((t, d) for t, d, _ in unwrapped)
        key_args = tuple((t, d) for t, d, _ in (_unwrap(a) for a in args))
        for p, k_own, k_args, out, bdim in self.batched:
            if p == player and _same_batched(k_own, key_own) and _same_batched(k_args, key_args):
                return _ft._add_batch_dim(out, bdim, level)
        out = run()
        physical, bdim, out_level = _unwrap(out)
        if out_level == level:
            self.batched.append((player, key_own, key_args, physical, bdim))
        return out

    def _plain(self, player: str, own: tuple, args: tuple, kw: tuple, run: Callable[[], Any]) -> Any:
        for p, own_c, args_c, kw_c, out in self.plain:
            if p == player and same_arguments(own_c, own) and same_arguments(args_c, args) and same_arguments(kw_c, kw):
                return out
        out = run()
        self.plain.append((player, own, args, kw, out))
        return out
