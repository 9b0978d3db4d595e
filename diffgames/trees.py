"""Parameter trees: a player's ``{name: Tensor}`` and the joint ``{player: {name: Tensor}}``.

One home for the flattening and the few tree operations that solvers and analyses share.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

__all__ = ["flatten", "unflatten", "tree_add", "tree_dot", "num_elements", "Tree"]

#: A joint parameter tree ``{player: {name: Tensor}}``.
Tree = dict[str, dict[str, Tensor]]


def flatten(params: Mapping[str, Tensor]) -> Tensor:
    """One player's parameters as one vector (in the dict's order)."""
    return torch.cat([v.reshape(-1) for v in params.values()])


def unflatten(vector: Tensor, like: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Inverse of :func:`flatten` with the names and shapes of ``like``: views of ``vector``."""
    sizes = [v.numel() for v in like.values()]
    return {k: part.reshape(v.shape) for (k, v), part in zip(like.items(), vector.split(sizes))}


def tree_add(a: Mapping, b: Mapping, scale: float | Tensor = 1.0) -> Tree:
    """``a + scale·b`` over the players and parameters of ``a``."""
    return {p: {k: v + scale * b[p][k] for k, v in ps.items()} for p, ps in a.items()}


def tree_dot(a: Mapping, b: Mapping) -> Tensor:
    """``Σ ⟨a, b⟩`` over the players of ``a`` (a 0-dim tensor)."""
    terms = [(v * b[p][k]).sum() for p, ps in a.items() for k, v in ps.items()]
    return torch.stack(terms).sum()


def num_elements(a: Mapping) -> int:
    return sum(v.numel() for ps in a.values() for v in ps.values())
