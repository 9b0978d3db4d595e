"""Classic small differentiable games: the standard test beds of game solvers.

* ``bilinear`` — ``min_x max_y xᵀAy``, the simplest game on which simultaneous gradient
  descent spirals away from the equilibrium (Daskalakis et al. 2018; Balduzzi et al. 2018).
* ``dirac-gan`` — the two-parameter GAN of Mescheder, Geiger & Nowozin (2018).
* ``letcher`` — the quadratic-quartic zero-sum game of Letcher (2021) on which every
  reasonable gradient method cycles.
* ``cyclic-pennies`` — three-player matching pennies on a directed 3-cycle (Jordan 1993).
* ``ipd`` — the iterated prisoner's dilemma with the exact discounted value of Foerster et
  al. (2018), in :mod:`games.ipd`.

Every player here is a plain parameter vector (:class:`~players.Vector`) or a
:class:`~players.MixedStrategy`, so the games are cheap enough for dense Jacobians.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import networkx as nx
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from games.base import Game, GameCapabilities, JointParams, OptimizerSpec, Verdict, ZeroSumGame
from diffgames.checks import finite_number
from diffgames.errors import ConfigError
from players import MixedStrategy, Vector

__all__ = [
    "Bilinear", "DiracGAN", "Letcher", "CyclicPennies", "bilinear_matrix",
    "bilinear", "dirac_gan", "letcher", "cyclic_pennies",
]


def _as_tensor(cache: dict, array: np.ndarray, like: Tensor) -> Tensor:
    key = (like.device, like.dtype)
    if key not in cache:
        cache[key] = torch.as_tensor(array, dtype=like.dtype, device=like.device)
    return cache[key]


# ---------------------------------------------------------------------------- bilinear
def bilinear_matrix(
    matrix: Literal["identity", "random"] | Sequence[Sequence[float]], dim: int, seed: int
) -> np.ndarray:
    """The matrix ``A`` of the bilinear game.

    ``"identity"`` is ``I_dim``; ``"random"`` has i.i.d. ``N(0, 1)`` entries drawn from
    ``torch.Generator().manual_seed(seed)`` (float64, so it is the same on every machine);
    a list of lists is taken as given (it may be rectangular).
    """
    if isinstance(matrix, str):
        if matrix == "identity":
            return np.eye(dim)
        if matrix == "random":
            g = torch.Generator().manual_seed(int(seed))
            return torch.randn(dim, dim, generator=g, dtype=torch.float64).numpy()
        raise ConfigError(f"bilinear: matrix must be 'identity', 'random' or a list of rows, got {matrix!r}")
    try:
        A = np.asarray(matrix, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bilinear: matrix must be a rectangular list of rows of numbers ({exc})") from None
    if A.ndim != 2 or 0 in A.shape or not np.isfinite(A).all():
        raise ConfigError(f"bilinear: matrix must be a non-empty 2-D matrix of finite numbers, got shape {A.shape}")
    return A


class Bilinear(ZeroSumGame):
    """Bilinear zero-sum game ``min_x max_y f(x, y) = xᵀAy``.

    The simultaneous gradient is ``ξ = (Ay, −Aᵀx)`` and the game Jacobian
    ``J = [[0, A], [−Aᵀ, 0]]`` is antisymmetric, so its eigenvalues are ``±i·σ_k(A)``:
    simultaneous gradient descent spirals out (Daskalakis et al. 2018, "Training GANs with
    Optimism", Sec. 3; Balduzzi et al. 2018, "The Mechanics of n-Player Differentiable
    Games", Sec. 2, Example 1). When ``A`` is nonsingular the unique equilibrium is
    ``x = y = 0``.

    Players ``x`` (minimises ``f``) and ``y`` (maximises ``f``), each a :class:`Vector`.
    Recommended optimizers: plain SGD, lr 0.1 (small enough that one step of
    extragradient/optimism contracts for ``‖A‖ ≈ 1``, large enough to see GD diverge).

    Metrics
    -------
    distance_to_equilibrium
        ``sqrt(‖x‖² + ‖y‖²)``, the distance to the origin (always an equilibrium).
    hamiltonian
        ``½‖ξ‖² = ½(‖Ay‖² + ‖Aᵀx‖²)``, half the squared norm of the simultaneous gradient; 0
        exactly at a critical point.
    """

    description = "bilinear zero-sum game min_x max_y xᵀAy"
    capabilities = GameCapabilities(players=2, zero_sum=True, verdict=Verdict(
        "distance_to_equilibrium", 1e-3, "distance to the equilibrium (0, 0)"))

    def __init__(
        self,
        matrix: Literal["identity", "random"] | Sequence[Sequence[float]] = "identity",
        dim: int | None = None,
        seed: int = 0,
        init_scale: float = 1.0,
        x_init: Sequence[float] | None = None,
        y_init: Sequence[float] | None = None,
    ):
        if dim is not None and dim < 1:
            raise ConfigError(f"bilinear: dim must be ≥ 1, got {dim}")
        A = bilinear_matrix(matrix, 4 if dim is None else dim, seed)
        if not isinstance(matrix, str) and dim is not None and A.shape != (dim, dim):
            raise ConfigError(
                f"bilinear: the explicit matrix has shape {A.shape} but dim={dim}; drop dim (it is "
                "taken from the matrix) or give a dim × dim matrix"
            )
        self.A = A
        m, n = A.shape
        init_scale = finite_number(init_scale, "bilinear: init_scale", 0.0)
        self.players = {"x": Vector(m, x_init, init_scale), "y": Vector(n, y_init, init_scale)}
        self._cache: dict = {}

    def value(self, params: JointParams, batch: Any = None) -> Tensor:
        x, y = self.call("x", params), self.call("y", params)
        return x @ _as_tensor(self._cache, self.A, x) @ y

    def evaluate(self, params: JointParams, generator: torch.Generator | None = None) -> dict[str, float]:
        x = params["x"]["value"].detach().double().cpu().numpy()
        y = params["y"]["value"].detach().double().cpu().numpy()
        return {
            "distance_to_equilibrium": float(np.sqrt(x @ x + y @ y)),
            "hamiltonian": float(0.5 * (np.sum((self.A @ y) ** 2) + np.sum((self.A.T @ x) ** 2))),
        }

    def metric_names(self) -> tuple[str, ...]:
        return ("distance_to_equilibrium", "hamiltonian")

    def default_optimizers(self) -> dict[str, OptimizerSpec]:
        return {"x": {"name": "sgd", "lr": 0.1}, "y": {"name": "sgd", "lr": 0.1}}

    def equilibrium(self) -> JointParams | None:
        """The origin when ``A`` is square and nonsingular (then it is the unique one)."""
        m, n = self.A.shape
        if m != n or np.linalg.matrix_rank(self.A) < n:
            return None
        return {"x": {"value": torch.zeros(m)}, "y": {"value": torch.zeros(n)}}


# ---------------------------------------------------------------------------- Dirac-GAN
class DiracGAN(Game):
    """The Dirac-GAN of Mescheder, Geiger & Nowozin (2018), "Which Training Methods for GANs
    do actually Converge?", ICML, Sec. 2.

    Data ``p_D = δ_0``, generator ``p_θ = δ_θ`` (one scalar), linear discriminator
    ``D_ψ(x) = ψ·x`` (one scalar). The GAN objective (their Eq. 1 with ``f(t) = −log(1 +
    exp(−t))``) is ``L(θ, ψ) = f(ψθ) + f(0)``; the generator minimises it, the
    discriminator maximises it. ``objective="wgan"`` uses ``f(t) = t`` (their Sec. 3.2,
    without weight clipping). The unique equilibrium is ``θ = ψ = 0``, where the
    Jacobian's eigenvalues are ``±i·f'(0)`` (their Lemma 2.3): simultaneous gradient
    descent spirals out, alternating GD circles.

    ``r1 = γ > 0`` adds the R1 gradient penalty (their Eq. 9) to the discriminator's loss,
    ``(γ/2)·E_{p_D}‖∇_x D_ψ(x)‖² = (γ/2)ψ²`` (closed form: ``∇_x D_ψ = ψ``), which makes
    the equilibrium locally attracting for simultaneous GD with small steps (Thm. 4.1).

    ``generator_loss``: ``"saturating"`` (default) — the generator minimises ``L``, the R1
    penalty being the discriminator's alone; ``"zero-sum"`` — it minimises the negated
    discriminator loss ``L − (γ/2)ψ²`` (the same gradient in θ; the game is then exactly
    zero-sum, also when ``r1 > 0``; equal to ``"saturating"`` when ``r1 = 0``);
    ``"non-saturating"`` — it minimises ``−f(−ψθ)`` (for ``objective="gan"``
    ``softplus(ψθ) = −log σ(−ψθ)``, the −log D trick of Goodfellow et al. 2014, Sec. 3).

    Players ``generator`` and ``discriminator``, each a one-entry :class:`Vector` starting
    at ``theta_init`` / ``psi_init`` (default 1, 1).

    Metrics
    -------
    distance_to_equilibrium
        ``sqrt(θ² + ψ²)``, the distance to the equilibrium ``θ = ψ = 0``.
    theta
        The generator's parameter θ (the position of its point mass; the data sits at 0).
    psi
        The discriminator's parameter ψ (the slope of its linear output).
    """

    description = "Dirac-GAN: one-parameter generator vs linear discriminator"
    capabilities = GameCapabilities(players=2, verdict=Verdict(
        "distance_to_equilibrium", 1e-3, "distance to the equilibrium θ = ψ = 0"))

    def __init__(
        self,
        theta_init: float = 1.0,
        psi_init: float = 1.0,
        r1: float = 0.0,
        objective: Literal["gan", "wgan"] = "gan",
        generator_loss: Literal["saturating", "zero-sum", "non-saturating"] = "saturating",
    ):
        self.r1 = finite_number(r1, "dirac-gan: r1", 0.0)
        if objective not in ("gan", "wgan"):
            raise ConfigError(f"dirac-gan: objective must be 'gan' or 'wgan', got {objective!r}")
        if generator_loss not in ("saturating", "zero-sum", "non-saturating"):
            raise ConfigError("dirac-gan: generator_loss must be 'saturating', 'zero-sum' or 'non-saturating', "
                              f"got {generator_loss!r}")
        self.objective = objective
        self.generator_loss = generator_loss
        self.players = {
            "generator": Vector(1, [finite_number(theta_init, "dirac-gan: theta_init")]),
            "discriminator": Vector(1, [finite_number(psi_init, "dirac-gan: psi_init")]),
        }

    def _f(self, t: Tensor) -> Tensor:
        # f(t) = −log(1 + e^{−t}) = log σ(t), in its numerically stable form
        return t if self.objective == "wgan" else F.logsigmoid(t)

    def value(self, params: JointParams) -> Tensor:
        """``L(θ, ψ) = f(ψθ) + f(0)``."""
        theta = self.call("generator", params)[0]
        psi = self.call("discriminator", params)[0]
        return self._f(psi * theta) + self._f(torch.zeros_like(theta))

    def losses(self, params: JointParams, batch: Any = None) -> dict[str, Tensor]:
        v = self.value(params)
        psi = self.call("discriminator", params)[0]
        d_loss = -v + 0.5 * self.r1 * psi**2
        if self.generator_loss == "zero-sum":
            g_loss = -d_loss
        elif self.generator_loss == "non-saturating":
            theta = self.call("generator", params)[0]
            g_loss = -self._f(-psi * theta)
        else:
            g_loss = v
        return {"generator": g_loss, "discriminator": d_loss}

    def evaluate(self, params: JointParams, generator: torch.Generator | None = None) -> dict[str, float]:
        theta = float(params["generator"]["value"][0])
        psi = float(params["discriminator"]["value"][0])
        return {"distance_to_equilibrium": math.hypot(theta, psi), "theta": theta, "psi": psi}

    def metric_names(self) -> tuple[str, ...]:
        return ("distance_to_equilibrium", "theta", "psi")

    def equilibrium(self) -> JointParams:
        return {"generator": {"value": torch.zeros(1)}, "discriminator": {"value": torch.zeros(1)}}


# ---------------------------------------------------------------------------- Letcher
class Letcher(ZeroSumGame):
    """The quadratic-quartic zero-sum game of Letcher (2021), "On the Impossibility of
    Global Convergence in Multi-Loss Optimization", ICLR.

    ``L₁(x, y) = xy − x²/2 + y²/2 + x⁴/4 − y⁴/4`` and ``L₂ = −L₁``; player ``x``
    minimises ``L₁``, player ``y`` minimises ``L₂``. The losses are coercive in each
    player's own variable, but the only simultaneous critical point, the origin, is a
    strict *maximum* of both players' losses (``∂²L₁/∂x² = ∂²L₂/∂y² = −1`` there), so any
    method that avoids strict maxima cannot converge: gradient methods (GD, extragradient,
    optimism, consensus, SGA, LOLA, SOS, CGD, …) end in a bounded limit cycle around the
    origin (the paper's zero-sum construction). With the recommended α = 0.02,
    simultaneous GD from (1, 1) settles on a cycle whose distance to the origin swings
    between ≈ 1.07 and 1.26 (measured over steps 1,000–6,000).

    Players ``x`` and ``y`` (one-entry :class:`Vector` each), starting at ``x_init``,
    ``y_init`` (default 1, 1). Recommended optimizers: SGD with lr 0.02 (the paper's α).

    Metrics
    -------
    distance_to_origin
        ``sqrt(x² + y²)``, the distance to the origin, the only critical point.
    """

    description = "Letcher's zero-sum game where every gradient method cycles"
    capabilities = GameCapabilities(players=2, zero_sum=True, verdict=Verdict(
        "distance_to_origin", 1e-3, "distance to the origin (the only critical point)"))

    def __init__(self, x_init: float = 1.0, y_init: float = 1.0):
        self.players = {
            "x": Vector(1, [finite_number(x_init, "letcher: x_init")]),
            "y": Vector(1, [finite_number(y_init, "letcher: y_init")]),
        }

    def value(self, params: JointParams, batch: Any = None) -> Tensor:
        x, y = self.call("x", params)[0], self.call("y", params)[0]
        return x * y - x**2 / 2 + y**2 / 2 + x**4 / 4 - y**4 / 4

    def evaluate(self, params: JointParams, generator: torch.Generator | None = None) -> dict[str, float]:
        x, y = float(params["x"]["value"][0]), float(params["y"]["value"][0])
        return {"distance_to_origin": math.hypot(x, y)}

    def metric_names(self) -> tuple[str, ...]:
        return ("distance_to_origin",)

    def default_optimizers(self) -> dict[str, OptimizerSpec]:
        return {"x": {"name": "sgd", "lr": 0.02}, "y": {"name": "sgd", "lr": 0.02}}


# ---------------------------------------------------------------------------- cyclic pennies
class CyclicPennies(Game):
    """n-player matching pennies on a directed cycle (Jordan 1993, "Three problems in
    learning mixed-strategy Nash equilibria", Games and Economic Behavior 5, Sec. 4).

    Players ``p1 … pn`` sit on the directed cycle ``p1 → p2 → … → pn → p1`` (a networkx
    DiGraph); each plays heads or tails with a :class:`~players.MixedStrategy` ``π_i``
    over ``(H, T)``. Player ``i``'s payoff depends only on its own action and its
    predecessor's: ``+1`` if ``i`` *matches* its predecessor and ``−1`` otherwise, except
    for the last player ``pn``, who wants to *mismatch* ``p(n−1)``. In expectation
    ``u_i = s_i·π_iᵀ [[1, −1], [−1, 1]] π_{i−1}`` with ``s_i = +1`` (``s_n = −1``), and
    the loss is ``−u_i``. With an odd number of mismatchers there is no pure equilibrium
    and the unique Nash equilibrium is uniform play (any player with a non-uniform
    predecessor plays pure, which propagates round the cycle). Jordan's point: fictitious
    play and gradient dynamics cycle here instead of converging.

    The default start gives every player logits ``(0.5, 0)`` (``P(H) ≈ 0.62``), since
    uniform play is already the equilibrium.

    Metrics
    -------
    nash_conv
        Sum of the players' best-response gains; 0 exactly at a Nash equilibrium.
    distance_to_nash
        L2 distance of the joint probabilities to the uniform profile, the unique Nash
        equilibrium.
    """

    description = "matching pennies on a directed n-cycle (unique Nash: uniform)"
    capabilities = GameCapabilities(verdict=Verdict("nash_conv", 1e-3, "nash_conv (sum of best-response gains)"))

    def __init__(self, n_players: int = 3, init_logits: Sequence[Sequence[float]] | None = None):
        if n_players < 2:
            raise ConfigError(f"cyclic-pennies: n_players must be ≥ 2, got {n_players}")
        names = [f"p{k + 1}" for k in range(n_players)]
        if init_logits is None:
            init_logits = [[0.5, 0.0]] * n_players
        if len(init_logits) != n_players:
            raise ConfigError(
                f"cyclic-pennies: init_logits must hold one [heads, tails] pair per player "
                f"({n_players}), got {len(init_logits)}"
            )
        self.cycle = nx.relabel_nodes(nx.cycle_graph(n_players, create_using=nx.DiGraph), dict(enumerate(names)))
        self.players = {}
        for name, logits in zip(names, init_logits):
            try:
                self.players[name] = MixedStrategy(2, [finite_number(v, f"cyclic-pennies: init_logits of {name}") for v in logits])
            except TypeError:
                raise ConfigError(f"cyclic-pennies: init_logits of {name} must be a [heads, tails] pair") from None
        self.predecessor = {i: next(iter(self.cycle.predecessors(i))) for i in names}
        self.sign = {i: (-1.0 if i == names[-1] else 1.0) for i in names}
        self._match = np.array([[1.0, -1.0], [-1.0, 1.0]])
        self._cache: dict = {}

    def losses(self, params: JointParams, batch: Any = None) -> dict[str, Tensor]:
        pi = {i: self.call(i, params) for i in self.player_names}
        losses = {}
        for i in self.player_names:
            M = _as_tensor(self._cache, self._match, pi[i])
            losses[i] = -self.sign[i] * (pi[i] @ M @ pi[self.predecessor[i]])
        return losses

    def evaluate(self, params: JointParams, generator: torch.Generator | None = None) -> dict[str, float]:
        pi = {i: torch.softmax(params[i]["logits"].detach().double().cpu(), -1).numpy() for i in self.player_names}
        gains, dist2 = 0.0, 0.0
        for i in self.player_names:
            action_values = self.sign[i] * (self._match @ pi[self.predecessor[i]])
            gains += float(action_values.max() - pi[i] @ action_values)
            dist2 += float(((pi[i] - 0.5) ** 2).sum())
        return {"nash_conv": gains, "distance_to_nash": math.sqrt(dist2)}

    def metric_names(self) -> tuple[str, ...]:
        return ("nash_conv", "distance_to_nash")

    def equilibrium(self) -> JointParams:
        return {i: {"logits": torch.zeros(2)} for i in self.player_names}


# ---------------------------------------------------------------------------- factories
# The factories of the bundled classic games, registered by import path in games/__init__.py.
def bilinear(
    dim: int | None = None,
    matrix: str | list = "identity",
    seed: int = 0,
    init_scale: float = 1.0,
    x_init: list | None = None,
    y_init: list | None = None,
) -> Bilinear:
    """Bilinear game; ``dim`` defaults to 4 (or the explicit matrix's shape); ``seed``
    draws ``matrix="random"``, the initial point comes from the run's seed."""
    return Bilinear(matrix, dim, seed, init_scale, x_init, y_init)


def dirac_gan(
    theta_init: float = 1.0,
    psi_init: float = 1.0,
    r1: float = 0.0,
    objective: Literal["gan", "wgan"] = "gan",
    generator_loss: Literal["saturating", "zero-sum", "non-saturating"] = "saturating",
) -> DiracGAN:
    """Dirac-GAN; ``r1`` is the R1 penalty weight γ on the discriminator, ``generator_loss``
    ``"saturating"`` (default), ``"zero-sum"`` or ``"non-saturating"``."""
    return DiracGAN(theta_init, psi_init, r1, objective, generator_loss)


def letcher(x_init: float = 1.0, y_init: float = 1.0) -> Letcher:
    """Letcher's game from the point ``(x_init, y_init)``."""
    return Letcher(x_init, y_init)


def cyclic_pennies(n_players: int = 3, init_logits: list | None = None) -> CyclicPennies:
    """Cyclic matching pennies; ``init_logits`` is one [heads, tails] pair per player."""
    return CyclicPennies(n_players, init_logits)
