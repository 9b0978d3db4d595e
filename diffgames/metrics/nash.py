"""Nash equilibria of matrix games (zero-sum by linear programming, general-sum through
Nashpy), and NashConv.

For payoff matrix ``A`` (row player's payoff, row maximises ``xᵀAy``), the row player's
maximin strategy solves the LP

    max v   s.t.   Aᵀx ≥ v·1,   1ᵀx = 1,   x ≥ 0

(von Neumann's minimax theorem; e.g. Shoham & Leyton-Brown 2009, Sec. 4.1). The column
player's strategy is the row strategy of the game ``−Aᵀ``.

Equilibria of general-sum bimatrix games ``(A, B)`` come from Nashpy (Knight & Campbell
2018, "Nashpy: A Python library for the computation of Nash equilibria", JOSS 3(30), 904):
support enumeration or Lemke–Howson (Nisan, Roughgarden, Tardos & Vazirani 2007,
"Algorithmic Game Theory", Algorithms 3.4 and 3.6), see :func:`bimatrix_equilibria`.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import linprog

__all__ = ["maximin_strategy", "zero_sum_nash", "nash_conv_bimatrix", "bimatrix_equilibria", "SUPPORT_ENUMERATION_MAX_SIZE"]

#: the largest ``m·n`` for which :func:`bimatrix_equilibria` enumerates supports by default
SUPPORT_ENUMERATION_MAX_SIZE = 64


def maximin_strategy(payoff: np.ndarray) -> tuple[np.ndarray, float]:
    """Maximin mixed strategy of the row player of ``payoff`` and the game value.

    Examples
    --------
    >>> x, v = maximin_strategy(np.array([[1.0, -1.0], [-1.0, 1.0]]))
    >>> np.round(x, 6).tolist(), round(v, 6) + 0.0  # + 0.0: the LP may return -0.0
    ([0.5, 0.5], 0.0)
    """
    A = np.asarray(payoff, dtype=float)
    m, n = A.shape
    # variables (x_1..x_m, v); linprog minimises, so minimise -v
    c = np.zeros(m + 1)
    c[-1] = -1.0
    A_ub = np.hstack([-A.T, np.ones((n, 1))])  # v - (Aᵀx)_j ≤ 0
    b_ub = np.zeros(n)
    A_eq = np.hstack([np.ones((1, m)), np.zeros((1, 1))])
    bounds = [(0, None)] * m + [(None, None)]
    result = linprog(c, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=[1.0], bounds=bounds, method="highs")
    if not result.success:  # cannot happen for a finite matrix; keep the reason if it does
        raise RuntimeError(f"Nash LP failed: {result.message}")
    x = np.clip(result.x[:m], 0.0, None)
    return x / x.sum(), float(result.x[-1])


def zero_sum_nash(payoff: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """A Nash equilibrium ``(x*, y*)`` of the zero-sum game with row payoff ``payoff`` and its value."""
    A = np.asarray(payoff, dtype=float)
    x, value = maximin_strategy(A)
    y, _ = maximin_strategy(-A.T)
    return x, y, value


def nash_conv_bimatrix(row_payoff: np.ndarray, col_payoff: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """Sum over the two players of the gain of a best response: 0 exactly at a Nash equilibrium.

    ``NashConv(x, y) = [max_i (Ay)_i − xᵀAy] + [max_j (xᵀB)_j − xᵀBy]`` (Lanctot et al. 2017).
    """
    A, B = np.asarray(row_payoff, float), np.asarray(col_payoff, float)
    return float((A @ y).max() - x @ A @ y + (x @ B).max() - x @ B @ y)


def _run_nashpy(algorithm) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[str]]:
    """Run a Nashpy enumeration, returning its equilibria and the messages of its warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = [(np.asarray(x, float), np.asarray(y, float)) for x, y in algorithm()]
    # numpy's floating-point warnings from inside the pivoting ("divide by zero encountered")
    # are not Nashpy's verdict on the game
    messages = [" ".join(str(w.message).split()) for w in caught if "encountered in" not in str(w.message)]
    return found, messages


def _lemke_howson_all_labels(game, labels: int):
    """Lemke–Howson from every initial dropped label, as Nashpy's ``lemke_howson_enumeration``.

    Nashpy's integer pivoting on a real-valued (degenerate) tableau can cycle while its
    entries grow without bound; overflow is raised here, so that such a label ends in
    ``FloatingPointError`` and is skipped instead of never returning.
    """
    found, messages, failed = [], [], []
    for label in range(labels):
        try:
            with np.errstate(over="raise"):
                more, caught = _run_nashpy(lambda: [game.lemke_howson(initial_dropped_label=label)])
        except FloatingPointError:
            failed.append(label)
            continue
        found += more
        messages += [m for m in caught if m not in messages]
    return found, messages, failed


def bimatrix_equilibria(
    row_payoff: np.ndarray,
    col_payoff: np.ndarray,
    method: str = "auto",
    tol: float = 1e-9,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Nash equilibria ``(x, y)`` of the bimatrix game ``(A, B)`` through Nashpy.

    Row gets ``xᵀAy`` and column ``xᵀBy`` (payoffs, maximised). ``method="support"`` is
    support enumeration (Nisan et al. 2007, Algorithm 3.4; Nashpy's
    ``Game.support_enumeration``): for a non-degenerate game it finds *all* equilibria,
    an odd number of them (Shapley 1974). ``method="lemke-howson"`` runs Lemke–Howson
    from every initial dropped label (Algorithm 3.6; Nashpy's
    ``Game.lemke_howson_enumeration``): at least one equilibrium, not necessarily all.
    ``method="auto"`` (default) enumerates supports when ``m·n ≤``
    :data:`SUPPORT_ENUMERATION_MAX_SIZE` (64) and uses Lemke–Howson otherwise.

    Degenerate games are reported, not hidden: a ``RuntimeWarning`` naming the problem
    when Nashpy warns (an even number of equilibria from support enumeration, bad shapes
    from Lemke–Howson), when support enumeration finds none (then Lemke–Howson is tried),
    when Lemke–Howson's pivoting overflows from a dropped label (that label is skipped),
    or when a returned profile is not an equilibrium (NashConv > ``tol``; it is dropped).
    Support enumeration considers supports of equal size only, so a degenerate game may
    have equilibria it does not list. Duplicates (up to ``tol``) are removed.

    Parameters
    ----------
    row_payoff, col_payoff
        ``A`` and ``B``, both ``m × n``.
    method
        ``"auto"``, ``"support"`` or ``"lemke-howson"``.
    tol
        NashConv tolerance for accepting an equilibrium, and for duplicates.

    Returns
    -------
    list of (x, y)
        The equilibria found (probability vectors of length ``m`` and ``n``).

    Examples
    --------
    Battle of the sexes: two pure equilibria and one mixed.

    >>> eqs = bimatrix_equilibria(np.array([[3.0, 0.0], [0.0, 2.0]]), np.array([[2.0, 0.0], [0.0, 3.0]]))
    >>> [(np.round(x, 6).tolist(), np.round(y, 6).tolist()) for x, y in eqs]
    [([1.0, 0.0], [1.0, 0.0]), ([0.0, 1.0], [0.0, 1.0]), ([0.6, 0.4], [0.4, 0.6])]
    """
    import nashpy  # imported here: the package and its dependencies load only when needed

    A, B = np.asarray(row_payoff, dtype=float), np.asarray(col_payoff, dtype=float)
    if A.ndim != 2 or A.shape != B.shape or 0 in A.shape:
        raise ValueError(f"payoff matrices must be non-empty and of one 2-D shape, got {A.shape} and {B.shape}")
    if method not in ("auto", "support", "lemke-howson"):
        raise ValueError(f"method must be 'auto', 'support' or 'lemke-howson', got {method!r}")
    if method == "auto":
        method = "support" if A.size <= SUPPORT_ENUMERATION_MAX_SIZE else "lemke-howson"
    game = nashpy.Game(A, B)
    problems: list[str] = []
    found: list[tuple[np.ndarray, np.ndarray]] = []
    if method == "support":
        found, messages = _run_nashpy(game.support_enumeration)
        problems += [f"support enumeration: {m}" for m in messages]
        if not found:
            problems.append("support enumeration found no equilibrium (the game is degenerate); tried Lemke–Howson")
            method = "lemke-howson"
    if method == "lemke-howson":
        found, messages, failed = _lemke_howson_all_labels(game, sum(A.shape))
        problems += [f"Lemke–Howson: {m}" for m in messages]
        if failed:
            problems.append(f"Lemke–Howson overflowed (its pivots cycled) from dropped labels {failed}; skipped them")
    equilibria: list[tuple[np.ndarray, np.ndarray]] = []
    for x, y in found:
        if x.shape != (A.shape[0],) or y.shape != (A.shape[1],) or not (np.isfinite(x).all() and np.isfinite(y).all()):
            problems.append(f"dropped a profile of shapes {x.shape}, {y.shape} that is not a pair of mixed strategies")
            continue
        gap = nash_conv_bimatrix(A, B, x, y)
        if not gap <= tol:
            problems.append(f"dropped a profile with NashConv {gap:.3g} > {tol:g}: not an equilibrium")
            continue
        if any(np.abs(x - u).max() <= tol and np.abs(y - v).max() <= tol for u, v in equilibria):
            continue
        equilibria.append((x, y))
    if not equilibria:
        problems.append("no equilibrium was found")
    if problems:
        warnings.warn(
            f"equilibria of the {A.shape[0]}×{A.shape[1]} bimatrix game may be incomplete or the game degenerate: "
            + "; ".join(problems),
            RuntimeWarning,
            stacklevel=2,
        )
    return equilibria
