"""Local Symplectic Surgery (Mazumdar, Jordan & Sastry 2019), two-player zero-sum games."""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from games.base import Game, JointParams
from diffgames.errors import ConfigError
from diffgames.trees import Tree, flatten, unflatten
from solvers.base import OptimizersOption, Solver, SolverCapabilities
from solvers.cgd import conjugate_gradient
from solvers.hvp import LossDerivatives

__all__ = ["LSS", "require_two_player_zero_sum"]


def require_two_player_zero_sum(game: Game, name: str) -> None:
    """One :class:`ConfigError` unless ``game`` has two players and its capability record
    says ``zero_sum``."""
    if len(game.player_names) != 2:
        raise ConfigError(f"{name}: defined for two players; {game!r} has {len(game.player_names)}")
    if not game.capabilities.zero_sum:
        raise ConfigError(f"{name}: defined for two-player zero-sum games only; {game!r} is not zero-sum "
                          "(its capability record)")


def _flat(tree: Tree, players) -> Tensor:
    return torch.cat([flatten(tree[p]) for p in players])


def _tree(vector: Tensor, like: Tree, players) -> Tree:
    out, start = {}, 0
    for p in players:
        n = sum(t.numel() for t in like[p].values())
        out[p] = unflatten(vector[start:start + n], like[p])
        start += n
    return out


class LSS(Solver):
    """Local Symplectic Surgery: descend ``½(ξ + Jᵀ J⁻¹ ξ)``.

    Mazumdar, Jordan & Sastry (2019), "On Finding Local Nash Equilibria (and Only Local Nash
    Equilibria) in Zero-Sum Games", arXiv 1901.00838, the LSS dynamics (their Sec. 3):
    with ξ the simultaneous gradient and ``J = ∇ξ`` the game Jacobian,

        ``ω_LSS = ½ (ξ + Jᵀ v)``,   ``v = J⁻¹ ξ``.

    At a fixed point the Jacobian of ``ω_LSS`` is ``½(J + JᵀJ⁻¹J) = ½(J + Jᵀ)``, the
    symmetric part of J, which in a zero-sum game is ``diag(∇²_xx f, −∇²_yy f)``: the
    attracting fixed points are exactly the local Nash equilibria (non-Nash fixed points
    that simultaneous GD converges to repel), and near them there is no rotation. The paper
    tracks ``v`` on a faster timescale; here ``v`` is solved at every step, as in the SOS
    authors' notebook, by conjugate gradients on the normal equations
    ``(JᵀJ + λI) v = Jᵀξ`` (from 0, so with ``λ = 0`` and a singular J it is the
    minimum-norm least-squares solution ``J⁺ξ``). Each CG iteration is one ``Jv`` (one
    backward pass per player) and one ``Jᵀu`` (one backward pass) through the retained
    graph of the first derivatives; no Jacobian is formed. The direction goes through
    each player's base optimizer.

    Two-player zero-sum games only (``capabilities.zero_sum_only``): on any other game
    ``init`` raises one ``ConfigError``.

    ``info``: ``losses``, ``cg_iterations``, ``cg_residual``.

    Parameters
    ----------
    damping
        λ ≥ 0 of the normal equations (the notebook uses 0.1, only where ``det J = 0``).
    tol
        Relative residual at which CG stops, in (0, 1).
    max_iter
        Maximum CG iterations per step (≥ 1).
    """

    description = "Local Symplectic Surgery ½(ξ + JᵀJ⁻¹ξ) (Mazumdar et al. 2019), two-player zero-sum"
    capabilities = SolverCapabilities(players=2, zero_sum_only=True)

    def __init__(self, *, damping: float = 0.0, tol: float = 1e-6, max_iter: int = 100,
                 optimizers: OptimizersOption = None):
        super().__init__(optimizers=optimizers)
        if not (isinstance(damping, (int, float)) and math.isfinite(damping) and damping >= 0):
            raise ConfigError(f"lss: damping must be a finite number ≥ 0, got {damping!r}")
        if not (isinstance(tol, (int, float)) and 0 < tol < 1):
            raise ConfigError(f"lss: tol must be in (0, 1), got {tol!r}")
        if not (isinstance(max_iter, int) and max_iter >= 1):
            raise ConfigError(f"lss: max_iter must be an integer ≥ 1, got {max_iter!r}")
        self.damping, self.tol, self.max_iter = float(damping), float(tol), int(max_iter)

    def options(self) -> dict[str, Any]:
        return {"damping": self.damping, "tol": self.tol, "max_iter": self.max_iter}

    def init(self, game: Game, params: JointParams) -> dict[str, Any]:
        require_two_player_zero_sum(game, "lss")
        return super().init(game, params)

    def direction(self, game: Game, params: JointParams, batch: Any):
        """``(ω_LSS, losses, CG iterations, CG residual)`` at ``params``."""
        require_two_player_zero_sum(game, "lss")
        players = game.player_names
        d = LossDerivatives(game, params, batch, cross="all")

        def normal(u: Tensor) -> Tensor:
            ju = d.j(_tree(u, d.xi, players))
            return _flat(d.jt(ju), players) + self.damping * u

        b = _flat(d.jt(d.xi), players)
        v, iterations, residual = conjugate_gradient(normal, b, torch.zeros_like(b), self.tol, self.max_iter)
        jt_v = d.jt(_tree(v, d.xi, players))
        out = {p: {k: 0.5 * (d.xi[p][k] + jt_v[p][k]) for k in d.xi[p]} for p in players}
        return out, d.losses, iterations, residual

    def step(self, game: Game, params: JointParams, state: dict[str, Any], batch: Any):
        direction, losses, iterations, residual = self.direction(game, params, batch)
        with torch.no_grad():
            new_params, new_state = self.apply_updates(game, params, state, direction)
        return new_params, new_state, {"losses": losses, "cg_iterations": iterations, "cg_residual": residual}
