"""The unrolled gradient as the number of unrolling steps K grows: does it become the plain
gradient, or the implicit (Stackelberg) one?

Metz, Poole, Pfau & Sohl-Dickstein (2016), "Unrolled Generative Adversarial Networks",
Eq. (13): the leader's (generator's) surrogate gradient is

    ``df_K/dθ_L = ∂f_L/∂θ_L (θ_L, θ_F^K)  +  ∂f_L/∂θ_F^K · dθ_F^K/dθ_L``,

the first term being the plain gradient at the unrolled follower θ_F^K, the second the
"missing" term that first-order unrolling drops. A reading of the paper says that as
K → ∞ the follower reaches a local optimum, ``∂f/∂θ_F^K = 0``, so the second term
vanishes and K ∈ {0, ∞} both give the plain gradient. That is the envelope theorem, and
it needs ``f_L = −f_F``: then ``∂f_L/∂θ_F = −∂f_F/∂θ_F = 0`` at the follower's optimum.
When ``f_L ≠ −f_F`` (the non-saturating generator loss, or a penalty in the follower's
loss only) ``∂f_L/∂θ_F ≠ 0`` at the optimum, and for a follower whose iterates and their
derivatives converge (gradient descent on a strongly convex loss), ``dθ_F^K/dθ_L →
dθ_F*/dθ_L = −(∇²_FF f_F)⁻¹ ∇²_FL f_F`` (implicit function theorem), so the unrolled
gradient tends to the Stackelberg total derivative (Fiez, Chasnov & Ratliff 2020)

    ``Df_L = ∂_L f_L − ∇²_LF f_F (∇²_FF f_F)⁻¹ ∂_F f_L``   at ``(θ_L, θ_F*(θ_L))``.

:func:`unrolling_limit` measures both statements at one point: per K, the two terms of
Eq. (13) (:func:`solvers.unroll.reference_leader_gradient` with ``second_order=False``
and ``True``), the second term's norm relative to the first's, and the relative distance
of the full unrolled gradient from the Stackelberg gradient (:meth:`solvers.stackelberg.
Stackelberg.direction`, ``damping=0`` by default) and from the plain gradient, both at
``(θ_L, θ_F*)``. ``θ_F*`` is reached by running the follower's own optimizer (from a fresh
state) on its own loss with the leader fixed until ``‖∇_F f_F‖ ≤ optimum_tol``. With
``start="point"`` (default) the unroll starts from the given follower parameters, so the
second term's decay is visible; with ``start="optimum"`` it starts at θ_F*, so that
``θ_F^K = θ_F*`` for every K and only ``dθ_F^K/dθ_L`` changes with K. Either way the
K → ∞ limit of the second-order gradient is the Stackelberg gradient at ``(θ_L, θ_F*)``
(for gradient descent with a step below ``2/λ_max(∇²_FF f_F)``; Adam's iterates need not
converge, so the statement is about SGD followers).

Everything runs in float64 (parameters and floating-point batch entries are cast).

:class:`QuadraticLeaderFollower` is a two-player quadratic game with a strongly convex
follower, where all of this holds exactly and in closed form.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import math

import numpy as np
import torch
from torch import Tensor

from diffgames.errors import ConfigError
from diffgames.trees import flatten
from games.base import Game, GameCapabilities, JointParams, checked_losses
from players import Vector
from solvers.optim import BaseOptimizer
from solvers.stackelberg import Stackelberg, two_players
from solvers.unroll import reference_leader_gradient

__all__ = ["LimitRow", "unrolling_limit", "follower_optimum", "QuadraticLeaderFollower", "to_float64"]


def to_float64(tree: Any) -> Any:
    """Every floating-point tensor of a nested dict/list/tuple cast to float64."""
    if isinstance(tree, Tensor):
        return tree.detach().double() if tree.is_floating_point() else tree
    if isinstance(tree, Mapping):
        return {k: to_float64(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(to_float64(v) for v in tree)
    return tree


@dataclass(frozen=True)
class LimitRow:
    """One K of :func:`unrolling_limit` (norms are Euclidean over all leader parameters).

    ``first_norm``: ‖∂f_L/∂θ_L at θ_F^K‖ (Eq. 13's first term, the first-order unrolled
    gradient); ``second_norm``: ‖second-order − first-order‖ (the second term);
    ``second_ratio`` = second_norm / first_norm; ``stackelberg_distance``: ‖unrolled −
    Stackelberg‖ / ‖Stackelberg‖; ``plain_distance``: ‖unrolled − plain‖ / ‖plain‖, the
    plain gradient being ∂f_L/∂θ_L at θ_F*; ``follower_distance``: ‖θ_F^K − θ_F*‖.
    """

    k: int
    first_norm: float
    second_norm: float
    second_ratio: float
    stackelberg_distance: float
    plain_distance: float
    follower_distance: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _norm(tree: Mapping[str, Tensor]) -> float:
    return float(torch.linalg.vector_norm(flatten(dict(tree))))


def _relative(a: Mapping[str, Tensor], b: Mapping[str, Tensor]) -> float:
    """‖a − b‖ / ‖b‖ (‖a − b‖ when b = 0)."""
    diff = _norm({k: a[k] - b[k] for k in b})
    scale = _norm(b)
    return diff / scale if scale > 0 else diff


def follower_optimum(game: Game, params: JointParams, batch: Any, follower: str, optimizer: BaseOptimizer,
                     tol: float = 1e-12, max_steps: int = 200_000) -> tuple[dict[str, Tensor], int]:
    """θ_F*: the follower's own optimizer (fresh state) on its own loss, the others fixed,
    until ``‖∇_F f_F‖ ≤ tol``. Returns ``(θ_F*, steps)``; a :class:`ConfigError` when
    ``max_steps`` do not reach ``tol`` (the follower's loss is then not strongly convex
    enough, or its step too large)."""
    theta = {k: v.detach() for k, v in params[follower].items()}
    state = optimizer.init(theta)
    norm = math.inf
    for step in range(max_steps + 1):
        with torch.enable_grad():
            leaves = {k: v.detach().requires_grad_() for k, v in theta.items()}
            loss = checked_losses(game, {**params, follower: leaves}, batch)[follower]
            grads = torch.autograd.grad(loss, list(leaves.values()), allow_unused=True)
        g = {k: (torch.zeros_like(v) if gk is None else gk) for (k, v), gk in zip(leaves.items(), grads)}
        norm = _norm(g)
        if not math.isfinite(norm):
            raise ConfigError(f"unrolling limit: the follower {follower!r} diverged while looking for its optimum "
                              f"(step {step}); use a smaller lr")
        if norm <= tol:
            return theta, step
        if step == max_steps:
            break
        with torch.no_grad():
            theta, state = optimizer.update(g, state, theta)
    raise ConfigError(f"unrolling limit: the follower {follower!r} did not reach its optimum (‖∇f_F‖ = {norm:.3g} "
                      f"> {tol:g} after {max_steps} steps): its loss must be strongly convex in its parameters, "
                      "e.g. dirac-gan with r1 > 0")


def unrolling_limit(game: Game, params: JointParams, batch: Any, optimizers: Mapping[str, BaseOptimizer],
                    ks: Sequence[int], *, leader: str | None = None, start: Literal["point", "optimum"] = "point",
                    damping: float = 0.0, optimum_tol: float = 1e-12, optimum_max_steps: int = 200_000,
                    ) -> tuple[list[LimitRow], dict[str, Any]]:
    """The two terms of Eq. (13) per unrolling length K, against the Stackelberg gradient.

    Parameters
    ----------
    game, params, batch
        A two-player game, the joint parameters and the step's batch (cast to float64).
    optimizers
        Every player's base optimizer; the follower's is the one the unroll uses (from a
        fresh state, ``optimizers[F].init``), and the one that finds θ_F*.
    ks
        The unrolling lengths K ≥ 0.
    leader
        The leader's name (default: the game's first player); the other is the follower.
    start
        ``"point"``: the unroll starts at ``params``'s follower; ``"optimum"``: at θ_F*.
    damping
        λ of the Stackelberg solve ``(∇²_FF f_F + λI)⁻¹`` (0: the exact implicit gradient).

    Returns
    -------
    ``(rows, info)``: one :class:`LimitRow` per K, and ``info`` with ``optimum_steps``
    (follower steps to θ_F*), ``stackelberg_norm``, ``plain_norm`` and
    ``stackelberg_vs_plain`` (‖Stackelberg − plain‖ / ‖plain‖: how far the K → ∞ limit is
    from the plain gradient; 0 for a zero-sum game).
    """
    first, second = two_players(game, "unrolling limit", "a leader/follower split")
    leader = first if leader is None else leader
    if leader not in (first, second):
        raise ConfigError(f"unrolling limit: leader {leader!r} is not a player of {game!r}")
    follower = second if leader == first else first
    if start not in ("point", "optimum"):
        raise ConfigError(f"unrolling limit: start must be 'point' or 'optimum', got {start!r}")
    ks = [int(k) for k in ks]
    if not ks or any(k < 0 for k in ks):
        raise ConfigError(f"unrolling limit: K must be integers ≥ 0, got {ks}")
    params, batch = to_float64(params), to_float64(batch)
    opts = dict(optimizers)
    star, optimum_steps = follower_optimum(game, params, batch, follower, opts[follower], optimum_tol,
                                           optimum_max_steps)
    at_star = {**params, follower: star}
    solver = Stackelberg(leader=leader, damping=damping, tol=1e-13,
                         max_iter=max(200, 4 * flatten(star).numel()), solver="auto")
    stackelberg = solver.direction(game, at_star, batch)[0][leader]
    plain = reference_leader_gradient(game, at_star, {"opt": {follower: opts[follower].init(star)}}, batch,
                                      leader, [follower], opts, 0, False)
    start_params = at_star if start == "optimum" else params
    state = {"opt": {follower: opts[follower].init(start_params[follower])}}
    rows = []
    for k in ks:
        g1 = reference_leader_gradient(game, start_params, state, batch, leader, [follower], opts, k, False)
        g2 = reference_leader_gradient(game, start_params, state, batch, leader, [follower], opts, k, True)
        theta_k = _unrolled_follower(game, start_params, state, batch, follower, opts[follower], k)
        second_norm = _norm({n: g2[n] - g1[n] for n in g1})
        first_norm = _norm(g1)
        rows.append(LimitRow(
            k=k, first_norm=first_norm, second_norm=second_norm,
            second_ratio=second_norm / first_norm if first_norm > 0 else math.inf,
            stackelberg_distance=_relative(g2, stackelberg), plain_distance=_relative(g2, plain),
            follower_distance=_norm({n: theta_k[n] - star[n] for n in star}),
        ))
    info = {"leader": leader, "follower": follower, "start": start, "optimum_steps": optimum_steps,
            "stackelberg_norm": _norm(stackelberg), "plain_norm": _norm(plain),
            "stackelberg_vs_plain": _relative(stackelberg, plain)}
    return rows, info


def _unrolled_follower(game: Game, params: JointParams, state: dict[str, Any], batch: Any, follower: str,
                       optimizer: BaseOptimizer, k: int) -> dict[str, Tensor]:
    """θ_F^K of Eq. (11), detached."""
    theta, opt_state = dict(params[follower]), state["opt"][follower]
    for _ in range(k):
        with torch.enable_grad():
            leaves = {n: v.detach().requires_grad_() for n, v in theta.items()}
            loss = checked_losses(game, {**params, follower: leaves}, batch)[follower]
            grads = torch.autograd.grad(loss, list(leaves.values()), allow_unused=True)
        g = {n: (torch.zeros_like(v) if gn is None else gn) for (n, v), gn in zip(leaves.items(), grads)}
        with torch.no_grad():
            theta, opt_state = optimizer.update(g, opt_state, theta)
    return theta


# --------------------------------------------------------------------------- a quadratic game
class QuadraticLeaderFollower(Game):
    """A two-player quadratic game with a strongly convex follower.

    Leader ``x ∈ R^n``, follower ``y ∈ R^m``. The follower minimises
    ``f_F = ½ yᵀAy − yᵀBx − ½ xᵀPx`` (``A`` symmetric with eigenvalues in
    ``[curvature_min, curvature_max]``), so its best response is ``y*(x) = A⁻¹Bx``.
    ``leader_loss="zero-sum"``: ``f_L = −f_F`` (the envelope theorem applies:
    ``∂f_L/∂y = 0`` at ``y*``); ``"general-sum"``: ``f_L = ½ xᵀPx + yᵀCx + eᵀy`` with ``C ≠ B``
    and ``e ≠ 0``, so ``∂f_L/∂y = Cx + e ≠ 0`` at ``y*`` and the K → ∞ unrolled gradient is the
    Stackelberg one, ``Px + Cᵀy* + BᵀA⁻¹(Cx + e)``, not the plain ``Px + Cᵀy*``.
    ``A``, ``B``, ``C``, ``e``, ``P`` (``P = I``) are drawn from ``seed`` (float64); the
    players start at i.i.d. ``N(0, 1)`` points drawn from the run's seed.

    Build it by location, e.g. ``diffgames limit --game
    analysis.unrolling_limit:QuadraticLeaderFollower --game-opt leader_loss=general-sum``.
    """

    description = "quadratic leader-follower game with a strongly convex follower"
    capabilities = GameCapabilities(players=2)

    def __init__(self, dim_leader: int = 3, dim_follower: int = 3, leader_loss: str = "zero-sum", seed: int = 0,
                 curvature_min: float = 1.0, curvature_max: float = 3.0):
        if leader_loss not in ("zero-sum", "general-sum"):
            raise ConfigError(f"quadratic: leader_loss must be 'zero-sum' or 'general-sum', got {leader_loss!r}")
        if not (0 < curvature_min <= curvature_max):
            raise ConfigError("quadratic: need 0 < curvature_min ≤ curvature_max")
        n, m = int(dim_leader), int(dim_follower)
        g = torch.Generator().manual_seed(int(seed))
        q, _ = torch.linalg.qr(torch.randn(m, m, generator=g, dtype=torch.float64))
        eig = torch.linspace(float(curvature_min), float(curvature_max), m, dtype=torch.float64)
        self.A = (q * eig) @ q.T
        self.B = torch.randn(m, n, generator=g, dtype=torch.float64)
        self.C = torch.randn(m, n, generator=g, dtype=torch.float64)
        self.e = torch.randn(m, generator=g, dtype=torch.float64)
        self.P = torch.eye(n, dtype=torch.float64)
        self.leader_loss = leader_loss
        self.players = {"x": Vector(n), "y": Vector(m)}

    def losses(self, params: JointParams, batch: Any = None) -> dict[str, Tensor]:
        x, y = self.call("x", params), self.call("y", params)
        A, B, C, e, P = (t.to(x) for t in (self.A, self.B, self.C, self.e, self.P))
        f_follower = 0.5 * y @ A @ y - y @ B @ x - 0.5 * x @ P @ x
        if self.leader_loss == "zero-sum":
            f_leader = -f_follower
        else:
            f_leader = 0.5 * x @ P @ x + y @ C @ x + e @ y
        return {"x": f_leader, "y": f_follower}

    def closed_form(self, x: Tensor) -> dict[str, np.ndarray]:
        """``y*``, the plain and the Stackelberg leader gradients at ``(x, y*(x))`` (float64)."""
        A, B, C, e, P = (t.numpy() for t in (self.A, self.B, self.C, self.e, self.P))
        x = x.detach().double().numpy()
        y = np.linalg.solve(A, B @ x)
        if self.leader_loss == "zero-sum":
            plain = P @ x + B.T @ y
            d_y = -(A @ y - B @ x)
        else:
            plain = P @ x + C.T @ y
            d_y = C @ x + e
        # ∇²_xy f_F = −Bᵀ, so Df_L = plain − (−Bᵀ) A⁻¹ ∂_y f_L
        return {"y_star": y, "plain": plain, "stackelberg": plain + B.T @ np.linalg.solve(A, d_y)}
