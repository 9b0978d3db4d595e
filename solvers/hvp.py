"""Second-order products of the simultaneous gradient ξ, without dense Jacobians.

Notation (Balduzzi et al. 2018, "The Mechanics of n-Player Differentiable Games", Sec. 2):
player ``i`` has parameters ``θ_i`` and loss ``L_i``; the simultaneous gradient is
``ξ = (∇_1 L_1, …, ∇_n L_n)`` and the game Jacobian is ``J = ∇ξ`` with blocks
``J_ij = ∇_j ∇_i L_i``. Every product here is one reverse pass through the retained graph
of the first derivatives (double backward):

* ``Jᵀu = ∇_θ Σ_i ⟨ξ_i, u_i⟩`` — one backward pass (:meth:`LossDerivatives.jt`);
* ``(Jv)_i = ∇_i ⟨∇_θ L_i, v⟩`` by symmetry of each player's Hessian ``∇²L_i`` — one
  backward pass per player (:meth:`LossDerivatives.j`, needs the cross gradients
  ``∇_j L_i``);
* any ``∇_k Σ ⟨a, b⟩`` with ``a`` a first derivative and ``b`` a constant
  (:meth:`LossDerivatives.grad_of_dot`), from which the solvers build their own terms.

A "tree" below is a joint parameter dict ``{player: {name: Tensor}}``.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from games.base import Game, JointParams, checked_losses
from diffgames.trees import Tree
from solvers.base import detach_losses, zeros_where_none

__all__ = ["LossDerivatives"]


# --------------------------------------------------------------------------- derivatives
class LossDerivatives:
    """Every player's loss and first derivatives at ``params``, graph kept for HVPs.

    Parameters
    ----------
    game, params, batch
        The game and the point (the tensors in ``params`` are not modified).
    cross
        ``{i: [j, …]}``: the opponents ``j`` whose block ``∇_j L_i`` of player ``i``'s full
        gradient is kept as well (``∇_i L_i = ξ_i`` always is). ``None``: none. ``"all"``:
        every player. Each player costs one backward pass with ``create_graph=True``
        whatever the blocks asked for; extra blocks only add their own parameter
        gradients.

    Attributes
    ----------
    losses : dict[str, Tensor]
        Detached losses.
    xi : Tree
        Detached simultaneous gradient ξ.
    grads : dict[str, Tree]
        ``grads[i][j] = ∇_j L_i`` (with graph; a block the loss does not reach is a
        constant zero).
    """

    def __init__(self, game: Game, params: JointParams, batch: Any,
                 cross: Mapping[str, Iterable[str]] | str | None = None):
        self.players = tuple(game.player_names)
        with torch.enable_grad():
            self.leaves: Tree = {
                p: {k: v.detach().requires_grad_() for k, v in ps.items()} for p, ps in params.items()
            }
            losses = checked_losses(game, self.leaves, batch)
            self.losses = detach_losses(losses)
            self.grads: dict[str, Tree] = {}
            for i in self.players:
                if cross == "all":
                    blocks = list(self.players)
                else:
                    extra = [] if cross is None else list(cross.get(i, ()))  # type: ignore[union-attr]
                    blocks = [i] + [j for j in extra if j != i]
                self.grads[i] = self._first(losses[i], blocks)
        self.xi = {i: {k: g.detach() for k, g in self.grads[i][i].items()} for i in self.players}

    def _first(self, loss: Tensor, blocks: Sequence[str]) -> Tree:
        tensors = [t for j in blocks for t in self.leaves[j].values()]
        if loss.requires_grad:
            gs = torch.autograd.grad(loss, tensors, create_graph=True, retain_graph=True, allow_unused=True)
        else:
            gs = (None,) * len(tensors)
        out: Tree = {}
        it = iter(gs)
        for j in blocks:
            out[j] = zeros_where_none([next(it) for _ in self.leaves[j]], self.leaves[j])
        return out

    # ------------------------------------------------------------------ the primitive
    def grad_of_dot(self, pairs: Iterable[tuple[Mapping[str, Tensor], Mapping[str, Tensor]]],
                    wrt: Sequence[str]) -> Tree:
        """``∇_{θ_k} Σ ⟨a, b⟩`` for each player ``k`` in ``wrt`` (detached).

        Each pair is ``(a, b)``: ``a`` a block of first derivatives carrying the graph,
        ``b`` a constant of the same shapes (it is detached here: a stop-gradient).
        One backward pass, the graph is retained for the next product.
        """
        with torch.enable_grad():
            terms = [
                (a[k] * b[k].detach()).sum()
                for a, b in pairs for k in a if a[k].requires_grad
            ]
            tensors = [t for p in wrt for t in self.leaves[p].values()]
            if terms:
                gs = torch.autograd.grad(torch.stack(terms).sum(), tensors, retain_graph=True, allow_unused=True)
            else:
                gs = (None,) * len(tensors)
        out: Tree = {}
        it = iter(gs)
        for p in wrt:
            out[p] = {k: g.detach() for k, g in zeros_where_none([next(it) for _ in self.leaves[p]], self.leaves[p]).items()}
        return out

    # ------------------------------------------------------------------ game-Jacobian products
    def jt(self, u: Mapping[str, Mapping[str, Tensor]]) -> Tree:
        """``Jᵀu`` (e.g. ``Jᵀξ = ∇½‖ξ‖²``, Mescheder et al. 2017): one backward pass."""
        return self.grad_of_dot([(self.grads[i][i], u[i]) for i in self.players], self.players)

    def j(self, v: Mapping[str, Mapping[str, Tensor]]) -> Tree:
        """``Jv`` with ``(Jv)_i = ∇_i Σ_j ⟨∇_j L_i, v_j⟩`` (needs ``cross="all"``; one
        backward pass per player)."""
        out: Tree = {}
        for i in self.players:
            if len(self.grads[i]) != len(self.players):
                raise RuntimeError("LossDerivatives.j needs every block ∇_j L_i: build it with cross='all'")
            pairs = [(self.grads[i][j], v[j]) for j in self.grads[i]]
            out[i] = self.grad_of_dot(pairs, [i])[i]
        return out
