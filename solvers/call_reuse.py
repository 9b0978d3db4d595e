"""Reusing a player's forward pass while its parameters do not change.

During an unroll the leaders' parameters stay fixed, so a game that runs its leader
through :meth:`games.base.Game.call` (a GAN's ``G(z)``) computes the same output in every
one of the ``K + 1`` evaluations of the losses. :func:`reuse_calls` computes it once.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from torch import Tensor

from games.base import Game, JointParams

__all__ = ["reuse_calls", "replaced_call", "same_arguments"]


def same_arguments(a: Sequence[Any], b: Sequence[Any]) -> bool:
    """Whether two argument lists are the same call's: the same tensors (by identity) and
    equal plain values. Used to recognise a repeated game call whose result can be reused."""
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


@contextmanager
def replaced_call(game: Game, call: Any) -> Iterator[None]:
    """Within the block, ``game.call`` is ``call``; afterwards the game's own (an instance
    attribute set before) or its class's method again."""
    had_own, original = "call" in vars(game), vars(game).get("call")
    game.call = call  # type: ignore[method-assign]
    try:
        yield
    finally:
        if had_own:
            game.call = original  # type: ignore[method-assign]
        else:
            del game.call


@contextmanager
def reuse_calls(game: Game, players: Iterable[str]) -> Iterator[None]:
    """Within the block, :meth:`Game.call` of any of ``players`` returns its earlier output
    when called again with the *same* parameter tensors and the *same* arguments (identity
    of tensors, equality of other values).

    The leaders' parameters do not change during an unroll, so a game that runs its
    leader through ``self.call`` (e.g. the generator of a GAN: ``G(z)``) computes that
    forward pass once instead of ``K + 1`` times, and its backward pass once at the end.
    Games are pure functions of ``(params, batch)`` (the Game contract), so the reused
    output is the value a new call would compute. Games that call their modules
    otherwise simply get no reuse, or read ``game.reuse_context`` — ``(players, cache)``,
    a dict that lives as long as the block — to do the same in their own way (e.g.
    :class:`arena.vectorized.StackedGame`, whose players run under ``vmap``).
    """
    players = set(players)
    original = game.call
    cache: list[tuple[str, tuple[Tensor, ...], tuple[Any, ...], tuple[Any, ...], Any]] = []

    def call(player: str, params: JointParams, *args: Any, **kwargs: Any) -> Any:
        if player not in players:
            return original(player, params, *args, **kwargs)
        own = tuple(params[player].values())
        kw = tuple(sorted(kwargs.items()))
        for p, own_c, args_c, kw_c, out in cache:
            if p == player and same_arguments(own_c, own) and same_arguments(args_c, args) and same_arguments(kw_c, kw):
                return out
        out = original(player, params, *args, **kwargs)
        cache.append((player, own, args, kw, out))
        return out

    previous_context = vars(game).get("reuse_context")
    game.reuse_context = (frozenset(players), {})  # type: ignore[attr-defined]
    try:
        with replaced_call(game, call):
            yield
    finally:
        if previous_context is None:
            del game.reuse_context
        else:
            game.reuse_context = previous_context  # type: ignore[attr-defined]
        cache.clear()
