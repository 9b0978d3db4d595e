"""Competitive gradient descent (Schäfer & Anandkumar 2019), two players."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from games.base import Game, JointParams
from diffgames.errors import ConfigError
from solvers.base import OptimizersOption, Solver, SolverCapabilities
from diffgames.trees import flatten, unflatten
from solvers.hvp import LossDerivatives

__all__ = ["CGD", "conjugate_gradient", "CGFailure"]


class CGFailure(Exception):
    """Conjugate gradients met non-positive curvature (``curvature`` set) or did not
    converge (``curvature`` None); ``relative`` is the relative residual reached."""

    def __init__(self, relative: float, curvature: float | None = None):
        super().__init__(relative, curvature)
        self.relative, self.curvature = relative, curvature


def conjugate_gradient(matvec, b: Tensor, x0: Tensor, tol: float, max_iter: int,
                       strict: bool = False) -> tuple[Tensor, int, Tensor]:
    """Solve the SPD system ``M x = b`` by conjugate gradients from ``x0``.

    Stops when ``‖b − Mx‖ ≤ tol · ‖b‖`` or after ``max_iter`` iterations (each one
    ``matvec``); at non-positive curvature ``pᵀMp ≤ 0`` (definiteness lost to rounding) it
    stops there. With ``strict``, non-positive curvature and no convergence raise
    :class:`CGFailure` instead. Returns ``(x, iterations, relative residual)``.
    """
    b_norm = torch.linalg.vector_norm(b)
    if not bool(b_norm > 0):
        return torch.zeros_like(b), 0, torch.zeros_like(b_norm)
    x = x0
    r = b - matvec(x) if bool(x0.any()) else b.clone()
    target = tol * b_norm
    p, rs = r.clone(), r @ r
    iterations = 0
    while iterations < max_iter and torch.sqrt(rs) > target:
        mp = matvec(p)
        curvature = p @ mp
        if not bool(curvature > 0):  # lost positive definiteness to rounding: stop here
            if strict:
                raise CGFailure(float(torch.sqrt(rs) / b_norm), float(curvature))
            break
        step = rs / curvature
        x = x + step * p
        r = r - step * mp
        rs_new = r @ r
        p = r + (rs_new / rs) * p
        rs = rs_new
        iterations += 1
    relative = torch.sqrt(rs) / b_norm
    if strict and torch.sqrt(rs) > target:
        raise CGFailure(float(relative))
    return x, iterations, relative


class CGD(Solver):
    """Competitive gradient descent: the Nash equilibrium of the local bilinear game.

    Schäfer & Anandkumar (2019), "Competitive Gradient Descent", Eq. (4). For players
    ``x`` (minimising ``f``) and ``y`` (minimising ``g``) with step size η:

        ``Δx = −η (I − η² D_xy f D_yx g)⁻¹ (∇_x f − η D_xy f ∇_y g)``,
        ``Δy = −η (∇_y g + D_yx g Δx)``

    (the second line is the y-player's optimality condition of the local game, which
    with the exact ``Δx`` equals the paper's symmetric formula for ``Δy``). Every
    mixed-derivative product ``D_xy f v`` is one backward pass through the retained graph
    of the first derivatives (no Hessian is formed).

    * Zero-sum (``g = −f``): the matrix is ``I + η² D_xy f (D_xy f)ᵀ``, symmetric positive
      definite; it is solved by conjugate gradients (:func:`conjugate_gradient`),
      warm-started from the previous step's ``Δx`` (kept in the state).
    * General-sum: the matrix is not symmetric; it is solved by
      ``scipy.sparse.linalg.gmres`` through a ``LinearOperator`` whose ``matvec`` runs the
      same products; each ``matvec`` copies a vector to and from a float64 NumPy array
      (a device round trip; fine for the small general-sum games this is meant for).

    Whether the game is zero-sum: the ``zero_sum`` option; if ``None``, a game whose
    capability record says ``zero_sum`` (e.g. a :class:`~games.ZeroSumGame`) is; otherwise it is
    checked on the first step from the losses and their gradients (``f + g`` and
    ``∇(f + g)`` zero to rounding), and the answer is kept in the state.

    Cost per step: the first derivatives with their graph, then one backward pass for
    each of the ``1 + 2·iterations + 1`` products (one more for a warm start's residual).

    CGD takes its own step size η (option ``lr``); it does not use base optimizers, and
    passing ``optimizers`` is a config error.

    ``info``: ``losses``, ``cg_iterations`` (CG or GMRES iterations of this step),
    ``cg_residual`` (final relative residual), ``zero_sum``.

    Parameters
    ----------
    lr
        η > 0.
    zero_sum
        ``True``/``False`` to declare the game's kind, ``None`` to detect it.
    tol
        Relative residual at which the linear solver stops, in (0, 1). The default 1e-6
        is about what float32 products can resolve; float64 studies can ask for less.
    max_iter
        Maximum CG/GMRES iterations per step (≥ 1).
    warm_start
        Start the solver from the previous step's ``Δx`` (else from 0).
    """

    description = "competitive gradient descent (Schäfer & Anandkumar 2019), two players"
    #: not vectorizable: its conjugate-gradient solve takes inner products over all parameters
    capabilities = SolverCapabilities(players=2, own_step_size=True)

    def __init__(self, *, lr: float = 0.1, zero_sum: bool | None = None, tol: float = 1e-6,
                 max_iter: int = 100, warm_start: bool = True, optimizers: OptimizersOption = None):
        if optimizers is not None:
            raise ConfigError(
                "cgd: CGD takes its own step size (option lr) and no base optimizers; remove 'optimizers'"
            )
        super().__init__(optimizers=None)
        if not (math.isfinite(lr) and lr > 0):
            raise ConfigError(f"cgd: lr must be a finite number > 0, got {lr!r}")
        if not (math.isfinite(tol) and 0 < tol < 1):
            raise ConfigError(f"cgd: tol must be in (0, 1), got {tol!r}")
        if max_iter < 1:
            raise ConfigError(f"cgd: max_iter must be an integer ≥ 1, got {max_iter!r}")
        self.lr, self.zero_sum, self.tol = float(lr), zero_sum, float(tol)
        self.max_iter, self.warm_start = int(max_iter), bool(warm_start)

    def options(self) -> dict[str, Any]:
        return {"lr": self.lr, "zero_sum": self.zero_sum, "tol": self.tol,
                "max_iter": self.max_iter, "warm_start": self.warm_start}

    @staticmethod
    def _players(game: Game) -> tuple[str, str]:
        if len(game.player_names) != 2:
            raise ConfigError(
                f"cgd: competitive gradient descent is defined for two players; {game!r} has "
                f"{len(game.player_names)}. Use lookahead-opponent, sga or consensus for n players."
            )
        x, y = game.player_names
        return x, y

    def init(self, game: Game, params: JointParams) -> dict[str, Any]:
        x, _ = self._players(game)
        if self.zero_sum is not None:
            kind = int(self.zero_sum)
        elif game.capabilities.zero_sum:
            kind = 1
        else:
            kind = -1  # unknown until the first step
        any_param = next(iter(params[x].values()))
        return {
            "zero_sum": torch.tensor(kind, dtype=torch.int8, device=any_param.device),
            "previous_dx": {k: torch.zeros_like(v) for k, v in params[x].items()},
        }

    @staticmethod
    def cross_operators(d: LossDerivatives, x: str, y: str, kind: int):
        """``(D²_xy f ·, D²_yx g ·)`` as flat matrix-vector products (y-space → x-space and
        back); for a zero-sum game (``kind == 1``) both come from ξ's own graph, since
        ``∇_y f = −ξ_y`` and ``∇_x g = −ξ_x``."""
        if kind == 1:
            grad_f_y = {k: -v for k, v in d.grads[y][y].items()}
            grad_g_x = {k: -v for k, v in d.grads[x][x].items()}
        else:
            grad_f_y, grad_g_x = d.grads[x][y], d.grads[y][x]
        like_x, like_y = d.xi[x], d.xi[y]

        def d_xy_f(v: Tensor) -> Tensor:
            return flatten(d.grad_of_dot([(grad_f_y, unflatten(v, like_y))], [x])[x])

        def d_yx_g(u: Tensor) -> Tensor:
            return flatten(d.grad_of_dot([(grad_g_x, unflatten(u, like_x))], [y])[y])

        return d_xy_f, d_yx_g

    # ------------------------------------------------------------------ the step
    def step(self, game: Game, params: JointParams, state: dict[str, Any], batch: Any):
        x, y = self._players(game)
        kind = int(state["zero_sum"])
        d = LossDerivatives(game, params, batch, cross=None if kind == 1 else "all")
        if kind == -1:
            kind = int(self._looks_zero_sum(d, x, y))
        eta = self.lr
        d_xy_f, d_yx_g = self.cross_operators(d, x, y, kind)
        like_x, like_y = d.xi[x], d.xi[y]

        def matvec(u: Tensor) -> Tensor:
            return u - eta ** 2 * d_xy_f(d_yx_g(u))

        xi_x, xi_y = flatten(like_x), flatten(like_y)
        b = -eta * (xi_x - eta * d_xy_f(xi_y))
        x0 = flatten(state["previous_dx"]) if self.warm_start else torch.zeros_like(b)
        if kind == 1:
            dx, iterations, residual = conjugate_gradient(matvec, b, x0, self.tol, self.max_iter)
        else:
            dx, iterations, residual = self._gmres(matvec, b, x0)
        dy = -eta * (xi_y + d_yx_g(dx))
        with torch.no_grad():
            dx_tree, dy_tree = unflatten(dx, like_x), unflatten(dy, like_y)
            new_params = {
                x: {k: v + dx_tree[k] for k, v in params[x].items()},
                y: {k: v + dy_tree[k] for k, v in params[y].items()},
            }
        new_state = {
            **state,
            "zero_sum": torch.full_like(state["zero_sum"], kind),
            "previous_dx": {k: v.detach() for k, v in dx_tree.items()},
        }
        info = {"losses": d.losses, "cg_iterations": iterations, "cg_residual": residual, "zero_sum": bool(kind)}
        return new_params, new_state, info

    @staticmethod
    def _looks_zero_sum(d: LossDerivatives, x: str, y: str) -> bool:
        """``f + g ≈ 0`` and ``∇(f + g) ≈ 0`` at this point, to a dtype-relative tolerance."""
        f, g = d.losses[x], d.losses[y]
        tol = math.sqrt(torch.finfo(f.dtype).eps)
        if abs(float(f + g)) > tol * (1.0 + abs(float(f))):
            return False
        for p in (x, y):
            for k in d.leaves[p]:
                a, b = d.grads[x][p][k].detach(), d.grads[y][p][k].detach()
                scale = 1.0 + float(torch.linalg.vector_norm(a))
                if float(torch.linalg.vector_norm(a + b)) > tol * scale:
                    return False
        return True

    def _gmres(self, matvec, b: Tensor, x0: Tensor) -> tuple[Tensor, int, Tensor]:
        from scipy.sparse.linalg import LinearOperator, gmres  # only general-sum games need scipy

        n = b.numel()
        count = [0]

        def np_matvec(v: np.ndarray) -> np.ndarray:
            out = matvec(torch.as_tensor(np.ravel(v), dtype=b.dtype, device=b.device))
            return out.detach().double().cpu().numpy()

        def callback(_residual: float) -> None:
            count[0] += 1

        operator = LinearOperator((n, n), matvec=np_matvec, dtype=np.float64)
        b_np = b.detach().double().cpu().numpy()
        solution, _ = gmres(
            operator, b_np, x0=x0.detach().double().cpu().numpy(), rtol=self.tol, atol=0.0,
            restart=min(n, self.max_iter), maxiter=max(1, math.ceil(self.max_iter / min(n, self.max_iter))),
            callback=callback, callback_type="pr_norm",
        )
        dx = torch.as_tensor(solution, dtype=b.dtype, device=b.device)
        residual = torch.linalg.vector_norm(b - matvec(dx)) / torch.clamp(
            torch.linalg.vector_norm(b), min=torch.finfo(b.dtype).tiny
        )
        return dx, count[0], residual
