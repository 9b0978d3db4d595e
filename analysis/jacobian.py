"""Local diagnostics of a game's dynamics: the simultaneous gradient and its Jacobian.

Balduzzi, Racanière, Martens, Foerster, Tuyls & Graepel (2018), "The Mechanics of n-Player
Differentiable Games", ICML: the *simultaneous gradient* stacks every player's gradient
of its own loss (their Eq. 1)

    ξ(θ) = (∇_{θ_1} ℓ_1, …, ∇_{θ_n} ℓ_n),

and the *game Jacobian* ``J = ∇ξ`` (their Eq. 2; rows index ξ, columns θ) splits into a
symmetric part ``S = (J + Jᵀ)/2`` (the potential component; ``A = 0`` for potential
games) and an antisymmetric part ``A = (J − Jᵀ)/2`` (the Hamiltonian component; ``S = 0``
for e.g. bilinear zero-sum games) (their Sec. 3, Eq. 5). The Hamiltonian
``ℋ = ½‖ξ‖²`` (their Sec. 3.2) vanishes exactly at fixed points. At a fixed point the
eigenvalues of ``J`` decide local stability of gradient dynamics (Mescheder, Nowozin &
Geiger 2017, "The Numerics of GANs", Sec. 3): simultaneous gradient flow is attracted
when all real parts are positive; purely imaginary eigenvalues mean rotation.

Everything is computed with ``torch.func`` on a flat parameter vector, so the dense
Jacobian (small games) and matrix-free products ``Jv``/``Jᵀv`` (large games, via
forward/reverse Hessian-vector products) share one definition of ξ. Games only: this
module never imports solvers.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import scipy.linalg
import torch
from torch import Tensor

from games.base import Game, JointParams, checked_losses
from diffgames.errors import ConfigError
from diffgames.trees import flatten, unflatten

__all__ = [
    "DENSE_PARAM_CAP", "flatten_params", "unflatten_params", "simultaneous_gradient_fn",
    "simultaneous_gradient", "game_jacobian", "decompose", "eigenvalues", "hamiltonian",
    "jacobian_vector_product", "jacobian_transpose_vector_product",
    "spectral_norm_estimate", "spectral_radius_estimate", "diagnose", "plot_eigenvalues",
]

#: Above this many parameters the dense Jacobian (``n²`` entries) is refused.
DENSE_PARAM_CAP = 5000
#: Power iterations and Hutchinson probes of :func:`diagnose`'s matrix-free path.
DIAGNOSE_ITERS, DIAGNOSE_PROBES = 100, 16

Layout = list[tuple[str, str, torch.Size]]


def _layout(game: Game, params: JointParams) -> Layout:
    missing = [p for p in game.player_names if p not in params]
    if missing:
        raise ConfigError(f"params lack the players {missing}; the game's players are {list(game.player_names)}")
    return [(p, k, v.shape) for p in game.player_names for k, v in params[p].items()]


def flatten_params(game: Game, params: JointParams) -> Tensor:
    """All players' parameters as one flat vector, in the game's player order."""
    _layout(game, params)
    return torch.cat([flatten(params[p]) for p in game.player_names])


def unflatten_params(game: Game, flat: Tensor, like: JointParams) -> JointParams:
    """Inverse of :func:`flatten_params`, shaped like ``like``."""
    total = sum(math.prod(shape) for _, _, shape in _layout(game, like))
    if total != flat.numel():
        raise ConfigError(f"a flat vector of {flat.numel()} entries does not match the game's {total} parameters")
    sizes = [sum(v.numel() for v in like[p].values()) for p in game.player_names]
    return {p: unflatten(part, like[p]) for p, part in zip(game.player_names, flat.split(sizes))}


def simultaneous_gradient_fn(game: Game, params: JointParams, batch: Any) -> tuple[Callable[[Tensor], Tensor], Tensor]:
    """``(ξ, θ₀)``: ξ as a pure function of the flat parameters (composable with
    ``torch.func`` transforms), and the flat point ``θ₀`` of ``params``.

    ``ξ_i = ∇_{θ_i} ℓ_i(θ_i, θ_{−i})`` (Balduzzi et al. 2018, Eq. 1), each taken with
    ``torch.func.grad`` while the other players' parameters are held as inputs, so
    that ``∂ξ/∂θ`` includes every cross term ``∇_{θ_j}∇_{θ_i} ℓ_i``.
    """
    like = {p: {k: v.detach() for k, v in params[p].items()} for p in game.player_names}
    flat0 = flatten_params(game, like)

    def xi(flat: Tensor) -> Tensor:
        joint = unflatten_params(game, flat, like)
        parts = []
        for i in game.player_names:
            if not joint[i]:
                continue

            def own_loss(own: dict[str, Tensor], i: str = i) -> Tensor:
                return checked_losses(game, {**joint, i: own}, batch)[i]

            g = torch.func.grad(own_loss)(joint[i])
            parts.extend(g[k].reshape(-1) for k in joint[i])
        return torch.cat(parts)

    return xi, flat0


def simultaneous_gradient(game: Game, params: JointParams, batch: Any) -> Tensor:
    """The simultaneous gradient ξ at ``params`` as a flat vector (Balduzzi et al. 2018, Eq. 1)."""
    xi, flat0 = simultaneous_gradient_fn(game, params, batch)
    return xi(flat0)


def hamiltonian(game: Game, params: JointParams, batch: Any) -> Tensor:
    """``ℋ = ½‖ξ‖²`` (Balduzzi et al. 2018, Sec. 3.2): zero exactly at fixed points."""
    xi = simultaneous_gradient(game, params, batch)
    return 0.5 * (xi * xi).sum()


def game_jacobian(game: Game, params: JointParams, batch: Any, max_params: int = DENSE_PARAM_CAP) -> Tensor:
    """The dense game Jacobian ``J = ∂ξ/∂θ`` (Balduzzi et al. 2018, Eq. 2), ``n × n``.

    Computed forward-over-reverse (``torch.func.jacfwd`` of ξ); games whose ops ``vmap``
    does not support fall back to one ``jvp`` per column. Refuses games with more than
    ``max_params`` parameters: use :func:`jacobian_vector_product` and friends there.
    """
    xi, flat0 = simultaneous_gradient_fn(game, params, batch)
    n = flat0.numel()
    if n > max_params:
        raise ConfigError(
            f"{game!r} has {n} parameters, above the dense-Jacobian cap of {max_params} "
            f"({n}² entries); use the matrix-free path (jacobian_vector_product, "
            "spectral_norm_estimate, or diagnose(), which switches to it), or raise max_params"
        )
    try:
        return torch.func.jacfwd(xi)(flat0)
    except RuntimeError:  # an op without a vmap rule: build J one column at a time
        eye = torch.eye(n, dtype=flat0.dtype, device=flat0.device)
        return torch.stack([torch.func.jvp(xi, (flat0,), (eye[k],))[1] for k in range(n)], dim=1)


def decompose(J: Tensor | np.ndarray) -> tuple[Tensor | np.ndarray, Tensor | np.ndarray]:
    """``(S, A)`` with ``S = (J + Jᵀ)/2`` symmetric and ``A = (J − Jᵀ)/2`` antisymmetric
    (Balduzzi et al. 2018, Eq. 5: the potential and Hamiltonian components)."""
    Jt = J.T
    return (J + Jt) / 2, (J - Jt) / 2


def eigenvalues(J: Tensor | np.ndarray) -> np.ndarray:
    """Eigenvalues of ``J`` (complex, float64) via :func:`scipy.linalg.eigvals`."""
    if isinstance(J, Tensor):
        J = J.detach().cpu().double().numpy()
    return scipy.linalg.eigvals(np.asarray(J, dtype=np.float64))


def _as_flat(game: Game, params: JointParams, v: Tensor | JointParams) -> Tensor:
    return flatten_params(game, v) if isinstance(v, Mapping) else v.reshape(-1)


def jacobian_vector_product(game: Game, params: JointParams, batch: Any, v: Tensor | JointParams) -> Tensor:
    """``J v`` without forming ``J``: a forward-mode derivative of ξ (one Hessian-vector
    product per player). ``v`` is a flat vector or shaped like ``params``."""
    xi, flat0 = simultaneous_gradient_fn(game, params, batch)
    return torch.func.jvp(xi, (flat0,), (_as_flat(game, params, v).to(flat0),))[1]


def jacobian_transpose_vector_product(game: Game, params: JointParams, batch: Any, v: Tensor | JointParams) -> Tensor:
    """``Jᵀ v`` without forming ``J``: a reverse-mode derivative of ξ (``∇_θ ⟨ξ(θ), v⟩``)."""
    xi, flat0 = simultaneous_gradient_fn(game, params, batch)
    _, vjp_fn = torch.func.vjp(xi, flat0)
    return vjp_fn(_as_flat(game, params, v).to(flat0))[0]


def spectral_norm_estimate(
    game: Game,
    params: JointParams,
    batch: Any,
    iters: int = 50,
    generator: torch.Generator | None = None,
    rtol: float = 1e-12,
    progress: Callable[[], None] | None = None,
) -> float:
    """Largest singular value ``σ_max(J) = sqrt(λ_max(JᵀJ))`` by power iteration on
    ``JᵀJ`` with matrix-free products (never forms ``J``).

    This is the spectral *norm*, an upper bound on the spectral radius ``max|λ(J)|``
    (equal for normal ``J``, e.g. bilinear and potential games). The estimate is the
    Rayleigh quotient ``‖Jv‖`` at the last unit iterate, so it approaches ``σ_max`` from
    below. The start vector is drawn from ``generator`` (seed 0 if ``None``); the
    iteration stops early once the estimate changes by less than ``rtol`` (relative).
    ``progress`` is called after each iteration (e.g. a progress bar's ``update``).
    """
    if iters < 1:
        raise ConfigError(f"spectral_norm_estimate needs iters ≥ 1, got {iters}")
    xi, flat0 = simultaneous_gradient_fn(game, params, batch)
    _, vjp_fn = torch.func.vjp(xi, flat0)
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    v = torch.randn(flat0.numel(), generator=generator, dtype=torch.float64).to(flat0)
    v = v / v.norm()
    sigma = -1.0
    for _ in range(iters):
        Jv = torch.func.jvp(xi, (flat0,), (v,))[1]
        previous, sigma = sigma, float(Jv.norm())
        if abs(sigma - previous) <= rtol * sigma:
            return sigma
        w = vjp_fn(Jv)[0]
        norm = float(w.norm())
        if norm == 0.0:  # v lies in J's null space; then J = 0 along every iterate
            return sigma
        v = w / norm
        if progress is not None:
            progress()
    return float(torch.func.jvp(xi, (flat0,), (v,))[1].norm())


#: Alias of :func:`spectral_norm_estimate`: it returns the largest *singular* value of ``J``,
#: which bounds the spectral radius from above (and equals it when ``J`` is normal).
spectral_radius_estimate = spectral_norm_estimate


def diagnose(
    game: Game,
    params: JointParams,
    batch: Any = None,
    max_params: int = DENSE_PARAM_CAP,
    iters: int = DIAGNOSE_ITERS,
    probes: int = DIAGNOSE_PROBES,
    generator: torch.Generator | None = None,
    progress: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Local diagnostics of ``game`` at ``params`` (all in the parameters' dtype).

    Returns a dict with ``method`` (``"dense"`` up to ``max_params`` parameters, else
    ``"hvp"``), ``n_params``, ``hamiltonian`` (½‖ξ‖²), ``grad_norm`` (‖ξ‖),
    ``spectral_norm`` (σ_max(J); estimated by power iteration in the HVP path),
    ``symmetric_norm`` and ``antisymmetric_norm`` (Frobenius norms of S and A; Hutchinson
    estimates ``E‖Sz‖²`` with ``probes`` Rademacher vectors in the HVP path) and
    ``antisymmetric_share`` = ``‖A‖²/(‖S‖² + ‖A‖²)`` (0 for potential games, 1 for
    Hamiltonian ones). The dense path adds ``eigenvalues`` (complex numpy array),
    ``spectral_radius``, ``max_real_part``, ``min_real_part``, ``max_abs_imag_part``,
    ``min_symmetric_eigenvalue`` and ``stable`` (all real parts > 0: a fixed point
    here attracts simultaneous gradient flow); in the HVP path ``eigenvalues`` is None.
    ``progress`` is called after each probe and each power iteration of the HVP path
    (``probes + iters`` calls at most; each is a few Hessian-vector products).
    """
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    xi, flat0 = simultaneous_gradient_fn(game, params, batch)
    g = xi(flat0).detach()
    n = flat0.numel()
    out: dict[str, Any] = {
        "n_params": n,
        "hamiltonian": 0.5 * float((g * g).sum()),
        "grad_norm": float(g.norm()),
    }
    if n <= max_params:
        J = game_jacobian(game, params, batch, max_params).detach().cpu().double().numpy()
        S, A = decompose(J)
        eigs = eigenvalues(J)
        s2, a2 = float((S**2).sum()), float((A**2).sum())
        out.update(
            method="dense",
            eigenvalues=eigs,
            spectral_radius=float(np.abs(eigs).max()),
            spectral_norm=float(np.linalg.norm(J, 2)),
            max_real_part=float(eigs.real.max()),
            min_real_part=float(eigs.real.min()),
            max_abs_imag_part=float(np.abs(eigs.imag).max()),
            min_symmetric_eigenvalue=float(scipy.linalg.eigvalsh(S).min()),
            stable=bool((eigs.real > 0).all()),
            symmetric_norm=math.sqrt(s2),
            antisymmetric_norm=math.sqrt(a2),
        )
    else:
        _, vjp_fn = torch.func.vjp(xi, flat0)
        s2 = a2 = 0.0
        for _ in range(probes):
            z = (torch.randint(0, 2, (n,), generator=generator) * 2 - 1).to(flat0)
            Jz, Jtz = torch.func.jvp(xi, (flat0,), (z,))[1], vjp_fn(z)[0]
            s2 += float((((Jz + Jtz) / 2) ** 2).sum()) / probes
            a2 += float((((Jz - Jtz) / 2) ** 2).sum()) / probes
            if progress is not None:
                progress()
        out.update(
            method="hvp",
            eigenvalues=None,
            spectral_norm=spectral_norm_estimate(game, params, batch, iters, generator, progress=progress),
            symmetric_norm=math.sqrt(s2),
            antisymmetric_norm=math.sqrt(a2),
        )
    out["antisymmetric_share"] = a2 / (s2 + a2) if s2 + a2 > 0 else 0.0
    return out


def plot_eigenvalues(eigs: np.ndarray | Tensor, path_or_ax: str | Path | Any, title: str | None = None) -> Any:
    """Scatter the eigenvalues of ``J`` in the complex plane.

    ``path_or_ax`` is a file path (a PNG/PDF/SVG is written and the path returned) or a
    matplotlib ``Axes`` (drawn on and returned). Points right of the imaginary axis are
    attracting directions of gradient flow; points on it are rotations.
    """
    eigs = np.asarray(eigs.detach().cpu() if isinstance(eigs, Tensor) else eigs, dtype=complex).reshape(-1)
    if isinstance(path_or_ax, (str, Path)):
        from matplotlib.figure import Figure  # no pyplot: no global backend or figure state

        fig = Figure(figsize=(4.5, 4.5))
        ax = fig.add_subplot()
    else:
        fig, ax = None, path_or_ax
    ax.axhline(0.0, color="0.7", lw=0.8)
    ax.axvline(0.0, color="0.7", lw=0.8)
    ax.scatter(eigs.real, eigs.imag, s=18, color="C0", zorder=3)
    ax.set_xlabel("Re λ")
    ax.set_ylabel("Im λ")
    ax.set_title(title or f"eigenvalues of the game Jacobian ({eigs.size})")
    lim = 1.1 * max(float(np.abs(eigs).max()) if eigs.size else 0.0, 1e-3)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    if fig is None:
        return ax
    path = Path(path_or_ax)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path
