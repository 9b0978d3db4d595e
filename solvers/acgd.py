"""Adaptive competitive gradient descent (Schäfer, Zheng & Anandkumar 2020), two players."""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from games.base import Game, JointParams
from diffgames.errors import ConfigError
from diffgames.trees import flatten, unflatten
from solvers.base import OptimizersOption, SolverCapabilities
from solvers.cgd import CGD, conjugate_gradient
from solvers.hvp import LossDerivatives

__all__ = ["ACGD"]


class ACGD(CGD):
    """Adaptive CGD: competitive gradient descent with RMSProp-style per-coordinate steps.

    Schäfer, Zheng & Anandkumar (2020), "Implicit competitive regularization in GANs",
    ICML, Sec. 5 (ACGD; the ``CGDs`` package's ``ACGD`` optimizer). Each player ``p`` keeps
    a running mean of its squared gradient, ``v_p ← βv_p + (1 − β)ξ_p²``, and takes the
    diagonal step sizes ``η_p = lr_p·√(1 − βᵗ) / (√v_p + ε)`` (bias-corrected as in the
    package). CGD's local game (Schäfer & Anandkumar 2019, Eq. 4; see :class:`CGD`) is then
    solved with the diagonal matrices ``η_x``, ``η_y`` in place of the scalar η:

        ``Δx = −η_x (ξ_x + D_xy f Δy)``,   ``Δy = −η_y (ξ_y + D_yx g Δx)``,

    i.e. ``(I − η_x D_xy f η_y D_yx g) Δx = −η_x (ξ_x − D_xy f η_y ξ_y)``. Zero-sum
    (``g = −f``): with ``u = η_x^{-1/2} Δx`` the matrix becomes
    ``I + η_x^{1/2} D_xy f η_y D_yx f η_x^{1/2}``, symmetric positive definite, solved by
    conjugate gradients (warm-started from the previous step); general-sum: GMRES on the
    system in ``Δx``, as :class:`CGD`. With ``adaptive=False`` the steps are ``η_p = lr_p``
    and, for one lr for both players, this is :class:`CGD` (same equations; values agree to
    rounding and the linear solver's tolerance).

    ``info``: as :class:`CGD` (``losses``, ``cg_iterations``, ``cg_residual``, ``zero_sum``).
    Not vectorizable: the linear solve takes inner products over all parameters.

    Parameters
    ----------
    lr
        The base step size: one number for both players, or ``{player: lr}`` for each (> 0).
    beta
        β ∈ [0, 1) of the squared-gradient average (the package's 0.99).
    eps
        ε > 0 added to ``√v`` (the package's 1e-8).
    adaptive
        Scale the steps per coordinate (``False``: plain CGD with per-player lr).
    zero_sum, tol, max_iter, warm_start
        As :class:`CGD`.
    """

    description = "adaptive CGD: CGD with RMSProp-scaled steps (Schäfer, Zheng & Anandkumar 2020), two players"
    capabilities = SolverCapabilities(players=2, own_step_size=True)

    def __init__(self, *, lr: float | Mapping[str, float] = 1e-3, beta: float = 0.99, eps: float = 1e-8,
                 adaptive: bool = True, zero_sum: bool | None = None, tol: float = 1e-6, max_iter: int = 100,
                 warm_start: bool = True, optimizers: OptimizersOption = None):
        if optimizers is not None:
            raise ConfigError("acgd: ACGD takes its own step size (option lr) and no base optimizers; "
                              "remove 'optimizers'")
        rates = dict(lr) if isinstance(lr, Mapping) else {"*": lr}
        for who, value in rates.items():
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigError(f"acgd: lr must be a finite number > 0 (or {{player: lr}}), got {value!r} for {who}")
        super().__init__(lr=1.0, zero_sum=zero_sum, tol=tol, max_iter=max_iter, warm_start=warm_start)
        if not (isinstance(beta, (int, float)) and 0 <= beta < 1):
            raise ConfigError(f"acgd: beta must be in [0, 1), got {beta!r}")
        if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps > 0):
            raise ConfigError(f"acgd: eps must be a finite number > 0, got {eps!r}")
        if not isinstance(adaptive, bool):
            raise ConfigError(f"acgd: adaptive must be true or false, got {adaptive!r}")
        self.rates = {k: float(v) for k, v in rates.items()}
        self.lr = self.rates.get("*")  # type: ignore[assignment]  # None: one lr per player
        self.beta, self.eps, self.adaptive = float(beta), float(eps), adaptive

    def options(self) -> dict[str, Any]:
        lr = self.rates["*"] if set(self.rates) == {"*"} else dict(self.rates)
        return {"lr": lr, "beta": self.beta, "eps": self.eps, "adaptive": self.adaptive, "zero_sum": self.zero_sum,
                "tol": self.tol, "max_iter": self.max_iter, "warm_start": self.warm_start}

    @staticmethod
    def _players(game: Game) -> tuple[str, str]:
        if len(game.player_names) != 2:
            raise ConfigError(f"acgd: adaptive CGD is defined for two players; {game!r} has {len(game.player_names)}")
        x, y = game.player_names
        return x, y

    def _rate(self, game: Game, player: str) -> float:
        if "*" in self.rates:
            return self.rates["*"]
        unknown = sorted(set(self.rates) - set(game.player_names))
        if unknown or player not in self.rates:
            raise ConfigError(f"acgd: lr must give one step size for each of the game's players "
                              f"{list(game.player_names)}, got {sorted(self.rates)}")
        return self.rates[player]

    def init(self, game: Game, params: JointParams) -> dict[str, Any]:
        state = super().init(game, params)
        for p in game.player_names:
            self._rate(game, p)
        any_param = next(iter(params[game.player_names[0]].values()))
        state["sq_avg"] = {p: {k: torch.zeros_like(v) for k, v in params[p].items()} for p in game.player_names}
        state["count"] = torch.zeros((), dtype=torch.int64, device=any_param.device)
        return state

    def step_sizes(self, game: Game, xi: dict, state: dict[str, Any]) -> tuple[dict, dict]:
        """Each player's flat step-size vector η_p and the updated squared-gradient averages."""
        t = int(state["count"]) + 1
        etas, sq_avg = {}, {}
        for p in game.player_names:
            lr = self._rate(game, p)
            sq_avg[p] = {k: self.beta * state["sq_avg"][p][k] + (1 - self.beta) * g * g for k, g in xi[p].items()}
            if self.adaptive:
                scale = lr * math.sqrt(1 - self.beta**t)
                etas[p] = flatten({k: scale / (torch.sqrt(v) + self.eps) for k, v in sq_avg[p].items()})
            else:
                etas[p] = torch.full_like(flatten(xi[p]), lr)
        return etas, sq_avg

    def step(self, game: Game, params: JointParams, state: dict[str, Any], batch: Any):
        x, y = self._players(game)
        kind = int(state["zero_sum"])
        d = LossDerivatives(game, params, batch, cross=None if kind == 1 else "all")
        if kind == -1:
            kind = int(self._looks_zero_sum(d, x, y))
        d_xy_f, d_yx_g = self.cross_operators(d, x, y, kind)
        like_x, like_y = d.xi[x], d.xi[y]

        etas, sq_avg = self.step_sizes(game, d.xi, state)
        eta_x, eta_y = etas[x], etas[y]
        xi_x, xi_y = flatten(like_x), flatten(like_y)
        rhs = xi_x - d_xy_f(eta_y * xi_y)
        previous = flatten(state["previous_dx"])
        if kind == 1:
            s = torch.sqrt(eta_x)

            def matvec(u: Tensor) -> Tensor:
                return u - s * d_xy_f(eta_y * d_yx_g(s * u))

            x0 = previous / s if self.warm_start else torch.zeros_like(rhs)
            u, iterations, residual = conjugate_gradient(matvec, -s * rhs, x0, self.tol, self.max_iter)
            dx = s * u
        else:
            def matvec(u: Tensor) -> Tensor:
                return u - eta_x * d_xy_f(eta_y * d_yx_g(u))

            x0 = previous if self.warm_start else torch.zeros_like(rhs)
            dx, iterations, residual = self._gmres(matvec, -eta_x * rhs, x0)
        dy = -eta_y * (xi_y + d_yx_g(dx))
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
            "sq_avg": {p: {k: v.detach() for k, v in sq.items()} for p, sq in sq_avg.items()},
            "count": state["count"] + 1,
        }
        info = {"losses": d.losses, "cg_iterations": iterations, "cg_residual": residual, "zero_sum": bool(kind)}
        return new_params, new_state, info
