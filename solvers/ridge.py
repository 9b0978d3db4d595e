"""Follow-the-ridge (Wang, Zhang & Ba 2020), two players."""
from __future__ import annotations

from typing import Any

import torch

from games.base import Game, JointParams
from solvers.base import OptimizersOption, Solver, SolverCapabilities
from solvers.hvp import LossDerivatives
from solvers.stackelberg import check_solve_options, follower_solve, two_players

__all__ = ["FollowTheRidge"]


class FollowTheRidge(Solver):
    """Follow-the-ridge (FR): gradient descent-ascent plus a correction that keeps the
    maximiser on the ridge while the minimiser moves.

    Wang, Zhang & Ba (2020), "On solving minimax optimization locally: a follow-the-ridge
    approach", ICLR, Algorithm 1. For ``min_x max_y f(x, y)`` (x the first player, f its
    loss; y the second player, its loss ``−f``) with step sizes ``η_x, η_y``:

        ``x ← x − η_x ∇_x f``,
        ``y ← y + η_y ∇_y f + η_x (∇²_yy f)⁻¹ ∇²_yx f ∇_x f``.

    The correction is the ridge's tangent: on the ridge ``∇_y f(x, r(x)) = 0``, so
    ``Dr = −(∇²_yy f)⁻¹ ∇²_yx f`` and a leader step ``Δx = −η_x ∇_x f`` moves the ridge by
    ``Dr Δx``, which is the third term.

    How it is computed here. Each player's step goes through its own base optimizer (the
    ``optimizers`` option): x's optimizer takes ``∇_x f``, y's takes its own gradient
    ``∇_y g`` (``g = −f``: ascent on f), and y then adds the ridge correction for x's
    *actual* displacement ``Δx = x_new − x``:

        ``y ← y_opt − (∇²_yy g + λI)⁻¹ ∇²_yx g Δx``.

    With plain SGD for both players (``lr`` η_x and η_y, no momentum) and ``damping=0``
    this is Algorithm 1 exactly (``∇²g = −∇²f``, ``Δx = −η_x ∇_x f``); with other base
    optimizers the correction follows whatever step x takes (a preconditioned FR). The
    same formula with g the second player's own loss is used for general-sum two-player
    games (for a zero-sum game g = −f and it is Algorithm 1): the follower y tracks its
    own best-response ridge ``∇_y g(x, r(x)) = 0``.

    ``(∇²_yy g + λI) v = ∇²_yx g Δx`` is solved matrix-free by conjugate gradients
    (:func:`solvers.stackelberg.follower_solve`): each product is one backward pass
    through the retained graph of the first derivatives; ``∇²_yx g Δx = ∇_y ⟨∇_x g, Δx⟩``
    is one more. No Hessian is formed. CG needs ``∇²_yy g + λI`` positive definite (y at a
    local maximum of f); ``solver="cg"`` ends the step with a
    :class:`~diffgames.errors.ConfigError` asking for a larger ``damping`` when it is not,
    ``solver="minres"`` solves the symmetric indefinite system by MINRES, and the default
    ``"auto"`` runs CG and falls back to MINRES. ``damping=0`` is the paper's update (which
    assumes ``∇²_yy f`` invertible); the default ``damping=1`` also handles a singular
    Hessian (softmax strategies, a bilinear game's ``∇²_yy f = 0``).

    Two players only; other games are a ConfigError. Not vectorizable (CG's inner products
    run over all parameters).

    ``info``: ``losses``, ``cg_iterations`` (iterations of the solver that gave ``v``),
    ``cg_residual`` (its final relative residual), ``linear_solver`` (``"cg"`` or
    ``"minres"``).

    Parameters
    ----------
    damping
        λ ≥ 0 added to y's Hessian of its own loss, ``(∇²_yy g + λI) v = ∇²_yx g Δx``.
    tol
        Relative residual ``‖b − (H + λI)v‖ / ‖b‖`` at which CG stops, in (0, 1).
    max_iter
        Maximum CG (or MINRES) iterations per step (≥ 1).
    solver
        ``"auto"`` (CG, MINRES when CG meets non-positive curvature or does not converge),
        ``"cg"`` (CG only: a ConfigError then) or ``"minres"``.
    """

    description = "follow-the-ridge: descent-ascent with a ridge-tracking correction (Wang, Zhang & Ba 2020), two players"
    capabilities = SolverCapabilities(players=2, vectorizable=False)

    def __init__(self, *, damping: float = 1.0, tol: float = 1e-6, max_iter: int = 100,
                 solver: str = "auto", optimizers: OptimizersOption = None):
        super().__init__(optimizers=optimizers)
        check_solve_options("follow-the-ridge", damping, tol, max_iter, solver)
        self.damping, self.tol, self.max_iter, self.solver = float(damping), float(tol), int(max_iter), solver

    def options(self) -> dict[str, Any]:
        return {"damping": self.damping, "tol": self.tol, "max_iter": self.max_iter, "solver": self.solver}

    @staticmethod
    def _players(game: Game) -> tuple[str, str]:
        return two_players(game, "follow-the-ridge", "min_x max_y f(x, y)")

    def init(self, game: Game, params: JointParams) -> dict[str, Any]:
        self._players(game)
        return super().init(game, params)

    def step(self, game: Game, params: JointParams, state: dict[str, Any], batch: Any):
        x, y = self._players(game)
        d = LossDerivatives(game, params, batch, cross={y: [x]})
        with torch.no_grad():
            stepped, new_state = self.apply_updates(game, params, state, d.xi)
            dx = {k: (stepped[x][k] - params[x][k]).detach() for k in params[x]}
        b = d.grad_of_dot([(d.grads[y][x], dx)], [y])[y]  # ∇²_yx g Δx
        v, iterations, residual, used = follower_solve(d, y, b, self.damping, self.tol, self.max_iter,
                                                       "follow-the-ridge", self.solver)
        with torch.no_grad():
            new_params = {**stepped, y: {k: t - v[k] for k, t in stepped[y].items()}}
        return new_params, new_state, {"losses": d.losses, "cg_iterations": iterations, "cg_residual": residual,
                                        "linear_solver": used}
