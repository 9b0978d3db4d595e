"""Opponent-aware learners: LookAhead (LA) and LOLA, for n players."""
from __future__ import annotations

import math
import weakref
from typing import Any, ClassVar, Literal

import torch

from games.base import Game, JointParams
from diffgames.errors import ConfigError
from solvers.base import OptimizersOption, Solver, SolverCapabilities
from diffgames.trees import Tree
from solvers.hvp import LossDerivatives

__all__ = ["LookAheadOpponent", "LOLA", "opponents"]

_OPPONENTS: "weakref.WeakKeyDictionary[Game, dict[str, list[str]]]" = weakref.WeakKeyDictionary()


def opponents(game: Game) -> dict[str, list[str]]:
    """Each player's opponents: its predecessors in ``game.interaction_graph()`` (edge
    ``j → i`` when ``L_i`` depends on ``θ_j``), itself excluded, in the game's order.

    Cached per game object, since deriving the graph evaluates the losses.
    """
    try:
        return _OPPONENTS[game]
    except (KeyError, TypeError):  # TypeError: a game that cannot be weakly referenced/hashed
        pass
    graph = game.interaction_graph()
    found = {i: [j for j in game.player_names if j != i and graph.has_edge(j, i)] for i in game.player_names}
    try:
        _OPPONENTS[game] = found
    except TypeError:
        pass
    return found


class LookAheadOpponent(Solver):
    """LookAhead (LA): each player anticipates its opponents' naive step, as a constant.

    Zhang & Lesser (2010); in the notation of Letcher, Foerster, Balduzzi, Rocktäschel &
    Whiteson (2019), "Stable Opponent Shaping in Differentiable Games", Sec. 3: player
    ``i`` descends ``L_i(θ_i, θ_j − α ξ_j)`` for its opponents ``j``, to first order in α,
    with a stop-gradient on the opponents' step ``ξ_j``:

        ``ξ_LA = (I − α H_o) ξ``,   ``(H_o ξ)_i = Σ_{j ∈ O(i)} ∇_i ∇_j L_i · ξ_j``,

    where ``H_o`` is the off-diagonal part of the game Jacobian and ``O(i)`` the player's
    predecessors in the game's interaction graph. ``(H_o ξ)_i`` is one backward pass of
    ``Σ_j ⟨∇_j L_i, stop(ξ_j)⟩`` through the retained graph (an HVP; no Hessian formed).
    The direction goes through each player's base optimizer (α is the *opponents'*
    assumed learning rate, the player's own step size is its optimizer's).

    Parameters
    ----------
    alpha
        α ≥ 0, the look-ahead rate (``alpha=0`` is simultaneous descent).
    """

    description = "LookAhead: anticipate the opponents' naive step (Zhang & Lesser 2010; Letcher et al. 2019)"
    capabilities = SolverCapabilities(vectorizable=True)
    #: keep the shaping term (LOLA) or not (LA)
    shaping: ClassVar[bool] = False

    def __init__(self, *, alpha: float = 1.0, optimizers: OptimizersOption = None):
        super().__init__(optimizers=optimizers)
        name = "lola" if self.shaping else "lookahead-opponent"
        if not (math.isfinite(alpha) and alpha >= 0):
            raise ConfigError(f"{name}: alpha (the look-ahead rate) must be a finite number ≥ 0, got {alpha!r}")
        self.alpha = float(alpha)

    def options(self) -> dict[str, Any]:
        return {"alpha": self.alpha}

    def direction(self, game: Game, params: JointParams, batch: Any) -> tuple[Tree, dict[str, torch.Tensor]]:
        """Each player's update direction at ``params`` (and the detached losses)."""
        opp = opponents(game)
        d = LossDerivatives(game, params, batch, cross=opp)
        out: Tree = {}
        for i in game.player_names:
            if not opp[i] or self.alpha == 0:
                out[i] = d.xi[i]
                continue
            # LA: ∇_i Σ_j ⟨∇_j L_i, stop(ξ_j)⟩ = (H_o ξ)_i
            pairs = [] if getattr(self, "variant", None) == "foerster2018" else [(d.grads[i][j], d.xi[j]) for j in opp[i]]
            if self.shaping:
                # LOLA's shaping term χ_i = ∇_i Σ_j ⟨ξ_j, stop(∇_j L_i)⟩ = Σ_j (∇_i ξ_j)ᵀ ∇_j L_i,
                # in the same backward pass
                pairs += [(d.grads[j][j], d.grads[i][j]) for j in opp[i]]
            correction = d.grad_of_dot(pairs, [i])[i]
            out[i] = {k: d.xi[i][k] - self.alpha * correction[k] for k in d.xi[i]}
        return out, d.losses

    def step(self, game: Game, params: JointParams, state: dict[str, Any], batch: Any):
        direction, losses = self.direction(game, params, batch)
        with torch.no_grad():
            new_params, new_state = self.apply_updates(game, params, state, direction)
        return new_params, new_state, {"losses": losses}


class LOLA(LookAheadOpponent):
    """Learning with Opponent-Learning Awareness (Foerster et al. 2018), as in Letcher et
    al. (2019), Sec. 3: LA plus the opponent-shaping term,

        ``ξ_LOLA = (I − α H_o) ξ − α χ``,   ``χ = diag(H_oᵀ ∇L)``,
        ``χ_i = Σ_{j ∈ O(i)} (∇_i ξ_j)ᵀ ∇_j L_i``,

    i.e. player ``i`` differentiates ``L_i(θ_i, θ_j − α ξ_j(θ))`` to first order in α
    *through* the opponents' naive step. (This is SOS, Letcher et al. Alg. 1, with
    ``p = 1``; Foerster et al.'s original rule keeps the shaping term only, dropping the
    ``H_o ξ`` term — we follow Letcher et al., as their reference code does.) Both
    second-order terms come from one backward pass per player of
    ``Σ_j ⟨∇_j L_i, ξ_j⟩`` through the retained graph of the first derivatives.

    ``variant="foerster2018"`` is Foerster et al.'s original rule (their Eq. 4, the
    first-order Taylor expansion keeping only the shaping term):

        ``ξ_LOLA' = ξ − α χ``,   ``χ_i = Σ_{j ∈ O(i)} (∇_i ξ_j)ᵀ ∇_j L_i``.

    Parameters
    ----------
    alpha
        α ≥ 0, the opponents' assumed learning rate.
    variant
        ``"letcher2019"`` (default, ``(I − α H_o) ξ − α χ``) or ``"foerster2018"``
        (``ξ − α χ``).
    """

    description = "LOLA: shape the opponents' naive step (Foerster et al. 2018; Letcher et al. 2019)"
    capabilities = SolverCapabilities(vectorizable=True)
    shaping = True

    def __init__(
        self,
        *,
        alpha: float = 1.0,
        variant: Literal["letcher2019", "foerster2018"] = "letcher2019",
        optimizers: OptimizersOption = None,
    ):
        if variant not in ("letcher2019", "foerster2018"):
            raise ConfigError(f"lola: variant must be 'letcher2019' or 'foerster2018', got {variant!r}")
        super().__init__(alpha=alpha, optimizers=optimizers)
        self.variant = variant

    def options(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "variant": self.variant}
