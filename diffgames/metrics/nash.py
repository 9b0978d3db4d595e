"""Nash equilibria of zero-sum matrix games by linear programming, and NashConv.

For payoff matrix ``A`` (row player's payoff, row maximises ``xᵀAy``), the row player's
maximin strategy solves the LP

    max v   s.t.   Aᵀx ≥ v·1,   1ᵀx = 1,   x ≥ 0

(von Neumann's minimax theorem; e.g. Shoham & Leyton-Brown 2009, Sec. 4.1). The column
player's strategy is the row strategy of the game ``−Aᵀ``.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linprog

__all__ = ["maximin_strategy", "zero_sum_nash", "nash_conv_bimatrix"]


def maximin_strategy(payoff: np.ndarray) -> tuple[np.ndarray, float]:
    """Maximin mixed strategy of the row player of ``payoff`` and the game value.

    Examples
    --------
    >>> x, v = maximin_strategy(np.array([[1.0, -1.0], [-1.0, 1.0]]))
    >>> np.round(x, 6).tolist(), round(v, 6)
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
