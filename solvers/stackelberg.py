"""Stackelberg learning dynamics (Fiez, Chasnov & Ratliff 2020), two players, and the
follower-Hessian solve that it shares with :mod:`solvers.ridge`."""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from games.base import Game, JointParams
from diffgames.errors import ConfigError
from diffgames.trees import Tree, flatten, unflatten
from solvers.base import OptimizersOption, Solver, SolverCapabilities
from solvers.cgd import CGFailure, conjugate_gradient
from solvers.hvp import LossDerivatives

__all__ = ["Stackelberg", "follower_solve", "damped_conjugate_gradient", "check_solve_options", "two_players",
           "minres_solve", "LINEAR_SOLVERS"]


def two_players(game: Game, name: str, why: str) -> tuple[str, str]:
    """The game's two player names, or one ConfigError naming ``name`` and ``why``."""
    if len(game.player_names) != 2:
        raise ConfigError(
            f"{name}: {why} is defined for two players; {game!r} has {len(game.player_names)}"
        )
    first, second = game.player_names
    return first, second


#: The linear solvers of the follower-Hessian system.
LINEAR_SOLVERS = ("auto", "cg", "minres")


def check_solve_options(name: str, damping: float, tol: float, max_iter: int, solver: str = "auto") -> None:
    """Validate the options of the follower-Hessian solve (ConfigError naming ``name``)."""
    if not (isinstance(damping, (int, float)) and math.isfinite(damping) and damping >= 0):
        raise ConfigError(f"{name}: damping must be a finite number ≥ 0, got {damping!r}")
    if not (isinstance(tol, (int, float)) and math.isfinite(tol) and 0 < tol < 1):
        raise ConfigError(f"{name}: tol must be in (0, 1), got {tol!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ConfigError(f"{name}: max_iter must be an integer ≥ 1, got {max_iter!r}")
    if solver not in LINEAR_SOLVERS:
        raise ConfigError(f"{name}: solver must be one of {', '.join(map(repr, LINEAR_SOLVERS))}, got {solver!r}")


def damped_conjugate_gradient(matvec, b: Tensor, tol: float, max_iter: int, name: str,
                              damping: float) -> tuple[Tensor, int, Tensor]:
    """Solve ``M x = b`` by conjugate gradients from 0, for ``M`` symmetric positive definite.

    Stops when ``‖b − Mx‖ ≤ tol · ‖b‖``. Non-positive curvature (``pᵀMp ≤ 0``) or no
    convergence within ``max_iter`` iterations is a :class:`ConfigError` saying that the
    follower's Hessian is not definite enough (``damping`` is named in the message).
    Returns ``(x, iterations, relative residual)``.
    """
    advice = (f"the follower's Hessian plus damping·I (damping={damping:g}) is not positive definite enough "
              f"for conjugate gradients; use a larger damping")
    try:
        return conjugate_gradient(matvec, b, torch.zeros_like(b), tol, max_iter, strict=True)
    except CGFailure as failure:
        if failure.curvature is not None:
            raise ConfigError(f"{name}: non-positive curvature pᵀ(H + damping·I)p = {failure.curvature:.3g}: "
                              f"{advice}") from None
        raise ConfigError(f"{name}: conjugate gradients did not reach tol={tol:g} in max_iter={max_iter} iterations "
                          f"(relative residual {failure.relative:.3g}): {advice} (or a larger max_iter)") from None


def minres_solve(matvec, b: Tensor, tol: float, max_iter: int) -> tuple[Tensor, int, Tensor]:
    """Solve the symmetric (possibly indefinite) system ``M x = b`` by
    ``scipy.sparse.linalg.minres`` from 0; each ``matvec`` copies a vector to and from a
    float64 NumPy array. Returns ``(x, iterations, relative residual)``: MINRES's last
    iterate, which minimises the residual over its Krylov space even when it has not
    reached ``tol``."""
    import numpy as np
    from scipy.sparse.linalg import LinearOperator, minres  # only indefinite systems need scipy

    b_norm = torch.linalg.vector_norm(b)
    if not bool(b_norm > 0):
        return torch.zeros_like(b), 0, torch.zeros_like(b_norm)
    n = b.numel()
    count = [0]

    def np_matvec(v: np.ndarray) -> np.ndarray:
        out = matvec(torch.as_tensor(np.ravel(v), dtype=b.dtype, device=b.device))
        return out.detach().double().cpu().numpy()

    def callback(_x: np.ndarray) -> None:
        count[0] += 1

    operator = LinearOperator((n, n), matvec=np_matvec, dtype=np.float64)
    solution, _ = minres(operator, b.detach().double().cpu().numpy(), rtol=tol, maxiter=max_iter, callback=callback)
    x = torch.as_tensor(solution, dtype=b.dtype, device=b.device)
    if not bool(torch.isfinite(x).all()):
        raise ConfigError("MINRES gave a non-finite solution: the follower's Hessian plus damping·I is singular; "
                          "use a larger damping")
    return x, count[0], torch.linalg.vector_norm(b - matvec(x)) / b_norm


def follower_solve(d: LossDerivatives, follower: str, b: dict[str, Tensor], damping: float, tol: float,
                   max_iter: int, name: str, solver: str = "auto") -> tuple[dict[str, Tensor], int, Tensor, str]:
    """``v = (∇²_FF f_F + λI)⁻¹ b`` matrix-free, with ``f_F`` the follower's own loss.

    Each product ``∇²_FF f_F u = ∇_F ⟨∇_F f_F, u⟩`` is one backward pass through the
    retained graph of ``d`` (no Hessian is formed). ``solver``: ``"cg"`` conjugate
    gradients (a ConfigError when the matrix is not positive definite enough),
    ``"minres"`` MINRES (symmetric indefinite matrices), ``"auto"`` CG, then MINRES when
    CG meets non-positive curvature or does not converge. Returns
    ``(v, iterations, residual, used)``: the iterations and relative residual of the
    solver that gave ``v``, and its name (``"cg"`` or ``"minres"``).
    """
    like = d.xi[follower]
    own = d.grads[follower][follower]

    def matvec(u: Tensor) -> Tensor:
        hu = flatten(d.grad_of_dot([(own, unflatten(u, like))], [follower])[follower])
        return hu + damping * u if damping else hu

    rhs = flatten(b).detach()
    if solver == "minres":
        v, iterations, residual = minres_solve(matvec, rhs, tol, max_iter)
        used = "minres"
    else:
        used = "cg"
        try:
            v, iterations, residual = damped_conjugate_gradient(matvec, rhs, tol, max_iter, name, damping)
        except ConfigError:
            if solver == "cg":
                raise
            v, iterations, residual = minres_solve(matvec, rhs, tol, max_iter)
            used = "minres"
    return {k: t.detach() for k, t in unflatten(v, like).items()}, iterations, residual, used


class Stackelberg(Solver):
    """Stackelberg learning: the leader descends its total derivative, the follower its
    own gradient.

    Fiez, Chasnov & Ratliff (2020), "Implicit learning dynamics in Stackelberg games:
    equilibria characterization, convergence analysis, and empirical study", ICML: the
    Stackelberg learning update, in which the leader (player 1) follows its total derivative
    ``Df_1 = ∇_1 f_1 − (∇_21 f_2)ᵀ (∇_2² f_2)⁻¹ ∇_2 f_1`` and the follower (player 2) its
    individual gradient ``∇_2 f_2``. In the names used here: the follower
    F best-responds implicitly, ``∇_F f_F(θ_L, r(θ_L)) = 0``, so by the implicit function
    theorem ``Dr = −(∇²_FF f_F)⁻¹ ∇²_FL f_F`` and the leader L's total derivative is

        ``Df_L = ∂_L f_L − ∇²_LF f_F (∇²_FF f_F)⁻¹ ∂_F f_L``,

    with ``∇²_LF f_F = (∇²_FL f_F)ᵀ`` the mixed block ``∂²f_F / ∂θ_L ∂θ_F`` (the paper
    writes it ``(∇_{21} f_2)ᵀ``). The leader's base optimizer takes ``Df_L``, the
    follower's takes ``∂_F f_F``, both at ``θ_t`` (simultaneous, as in the paper's
    update). The default leader is the first player (a GAN's generator).

    The system ``(∇²_FF f_F + λI) v = ∂_F f_L`` is solved matrix-free by conjugate
    gradients (each product one backward pass through the retained graph of the first
    derivatives); then ``∇²_LF f_F v = ∇_L ⟨∇_F f_F, v⟩`` is one more backward pass. No
    Hessian is formed. ``λ`` (``damping``) regularises the follower's Hessian in the
    Levenberg–Marquardt way; ``damping=0`` is the paper's update exactly (the paper
    assumes ``∇²_FF f_F`` invertible; a softmax strategy's Hessian is singular, hence the
    default ``damping=1``). CG needs ``∇²_FF f_F + λI`` positive definite (the follower
    at a local minimum of its loss); away from one, e.g. a GAN discriminator early in
    training, it is indefinite. ``solver="cg"`` then ends the step with a
    :class:`~diffgames.errors.ConfigError` that asks for a larger ``damping``;
    ``solver="minres"`` solves the symmetric indefinite system by MINRES
    (``scipy.sparse.linalg.minres``, each product a copy to and from NumPy); the default
    ``solver="auto"`` runs CG and falls back to MINRES when CG meets non-positive
    curvature or does not converge (:func:`follower_solve`).

    Two players only (one leader, one follower); other games are a ConfigError. Not
    vectorizable: CG's inner products run over all parameters, which would mix stacked
    seeds.

    ``info``: ``losses``, ``cg_iterations`` (iterations of the solver that gave ``v``),
    ``cg_residual`` (its final relative residual), ``linear_solver`` (``"cg"`` or
    ``"minres"``).

    Parameters
    ----------
    leader
        The leader's player name; ``None``: the game's first player.
    damping
        λ ≥ 0 added to the follower's Hessian, ``(∇²_FF f_F + λI) v = ∂_F f_L``.
    tol
        Relative residual ``‖b − (H + λI)v‖ / ‖b‖`` at which CG stops, in (0, 1).
    max_iter
        Maximum CG (or MINRES) iterations per step (≥ 1).
    solver
        ``"auto"`` (CG, MINRES when CG meets non-positive curvature or does not converge),
        ``"cg"`` (CG only: a ConfigError then) or ``"minres"``.
    """

    description = "Stackelberg learning: leader descends its total derivative (Fiez, Chasnov & Ratliff 2020), two players"
    capabilities = SolverCapabilities(players=2, vectorizable=False)

    def __init__(self, *, leader: str | None = None, damping: float = 1.0, tol: float = 1e-6, max_iter: int = 100,
                 solver: str = "auto", optimizers: OptimizersOption = None):
        super().__init__(optimizers=optimizers)
        if leader is not None and not isinstance(leader, str):
            raise ConfigError(f"stackelberg: leader must be a player name or None, got {leader!r}")
        check_solve_options("stackelberg", damping, tol, max_iter, solver)
        self.leader, self.damping, self.tol, self.max_iter = leader, float(damping), float(tol), int(max_iter)
        self.solver = solver

    def options(self) -> dict[str, Any]:
        return {"leader": self.leader, "damping": self.damping, "tol": self.tol, "max_iter": self.max_iter,
                "solver": self.solver}

    def roles(self, game: Game) -> tuple[str, str]:
        """``(leader, follower)`` of ``game``."""
        first, second = two_players(game, "stackelberg", "a leader/follower split")
        leader = first if self.leader is None else self.leader
        if leader not in (first, second):
            raise ConfigError(f"stackelberg: leader {leader!r} is not a player of {game!r}; its players are "
                              f"{list(game.player_names)}")
        return leader, second if leader == first else first

    def init(self, game: Game, params: JointParams) -> dict[str, Any]:
        self.roles(game)
        return super().init(game, params)

    def direction(self, game: Game, params: JointParams, batch: Any) -> tuple[Tree, dict[str, Any]]:
        """``{L: Df_L, F: ∂_F f_F}`` at ``params`` and the step's ``info``."""
        leader, follower = self.roles(game)
        d = LossDerivatives(game, params, batch, cross={leader: [follower]})
        b = {k: g.detach() for k, g in d.grads[leader][follower].items()}  # ∂_F f_L
        v, iterations, residual, used = follower_solve(d, follower, b, self.damping, self.tol, self.max_iter,
                                                       "stackelberg", self.solver)
        correction = d.grad_of_dot([(d.grads[follower][follower], v)], [leader])[leader]  # ∇²_LF f_F v
        direction = {leader: {k: d.xi[leader][k] - correction[k] for k in d.xi[leader]}, follower: d.xi[follower]}
        return direction, {"losses": d.losses, "cg_iterations": iterations, "cg_residual": residual,
                           "linear_solver": used}

    def step(self, game: Game, params: JointParams, state: dict[str, Any], batch: Any):
        direction, info = self.direction(game, params, batch)
        with torch.no_grad():
            new_params, new_state = self.apply_updates(game, params, state, direction)
        return new_params, new_state, info
