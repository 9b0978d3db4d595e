"""Two-player matrix games: general-sum bimatrix and zero-sum, with mixed-strategy players.

Players are ``row`` and ``col``, each a :class:`~players.MixedStrategy`; each player's loss
is minus its expected payoff ``xᵀAy`` (row) or ``xᵀBy`` (col).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import networkx as nx
import numpy as np
import torch
from torch import Tensor

from games.base import Game, GameCapabilities, JointParams, Verdict, complete_interaction_graph
from diffgames.errors import ConfigError
from diffgames.metrics.nash import bimatrix_equilibria, nash_conv_bimatrix, zero_sum_nash
from players import MixedStrategy

__all__ = [
    "MatrixGame", "ZeroSumMatrixGame", "tournament_payoff", "RPS_PAYOFF", "RPSLS_EDGES",
    "matrix", "rps", "matching_pennies", "tournament",
]

#: Rock-paper-scissors, rows/cols = (rock, paper, scissors), the row player's payoff.
RPS_PAYOFF = [[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]]


def _matrix(values: Sequence[Sequence[float]], what: str) -> np.ndarray:
    try:
        M = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what} must be a rectangular matrix of numbers: {exc}") from None
    if M.ndim != 2 or 0 in M.shape:
        raise ConfigError(f"{what} must be a non-empty 2-D matrix, got shape {M.shape}")
    if not np.isfinite(M).all():
        raise ConfigError(f"{what} must hold finite numbers")
    return M


class MatrixGame(Game):
    """General-sum bimatrix game ``(A, B)``: row gets ``xᵀAy``, col gets ``xᵀBy``.

    ``A`` and ``B`` are payoffs (maximised): each player's loss is minus its payoff. When
    ``A + B`` is constant the game is zero-sum up to that constant (constant-sum), has the
    equilibria of ``(A, −A)``, and its capability record says ``zero_sum``.

    The equilibria of a general-sum game are computed lazily, when first needed, so that
    building a game stays cheap; ``distance_to_nash`` is off by default for general-sum
    games since enumerating supports grows exponentially with the number of actions.

    Parameters
    ----------
    row_payoff, col_payoff
        ``A`` and ``B`` (payoffs), of one shape ``m × n``.
    row_init_logits, col_init_logits
        The players' starting logits (default: zeros, uniform play).
    distance_to_nash
        General-sum games: report ``distance_to_nash`` (distance to the nearest
        equilibrium). Zero-sum games always report it (from the LP).

    Metrics
    -------
    nash_conv
        Sum of the two players' best-response gains (what each could win by switching
        alone to its best pure action); 0 exactly at a Nash equilibrium.
    row_payoff, col_payoff
        Each player's expected payoff, ``xᵀAy`` and ``xᵀBy`` (maximised).
    distance_to_nash
        L2 distance of the joint mixed strategies ``(x, y)`` to the Nash equilibrium (the
        LP's for a zero-sum game; for a general-sum game the nearest one Nashpy finds).
    """

    description = "two-player bimatrix game from payoff matrices"
    capabilities = GameCapabilities(players=2, verdict=Verdict("nash_conv", 1e-3, "nash_conv (sum of best-response gains)"))

    def __init__(
        self,
        row_payoff: Sequence[Sequence[float]],
        col_payoff: Sequence[Sequence[float]],
        row_init_logits: Sequence[float] | None = None,
        col_init_logits: Sequence[float] | None = None,
        distance_to_nash: bool = False,
    ):
        self.A = _matrix(row_payoff, "row_payoff")
        self.B = _matrix(col_payoff, "col_payoff")
        if self.A.shape != self.B.shape:
            raise ConfigError(f"row_payoff {self.A.shape} and col_payoff {self.B.shape} must have the same shape")
        m, n = self.A.shape
        self.players = {
            "row": MixedStrategy(m, row_init_logits),
            "col": MixedStrategy(n, col_init_logits),
        }
        # constant-sum (B = c − A) is zero-sum up to the constant: the same equilibria
        total = self.A + self.B
        self.zero_sum = bool(np.allclose(total, total.flat[0]))
        self.capabilities = dataclasses.replace(type(self).capabilities, zero_sum=self.zero_sum)
        self._nash = zero_sum_nash(self.A) if self.zero_sum else None
        if not isinstance(distance_to_nash, bool):
            raise ConfigError(f"distance_to_nash must be true or false, got {distance_to_nash!r}")
        self._report_distance = self.zero_sum or distance_to_nash
        self._equilibria: list[tuple[np.ndarray, np.ndarray]] | None = None  # computed when first needed
        self._tensors: dict[tuple, tuple[Tensor, Tensor]] = {}

    def _payoffs(self, like: Tensor) -> tuple[Tensor, Tensor]:
        key = (like.device, like.dtype)
        if key not in self._tensors:
            self._tensors[key] = (
                torch.as_tensor(self.A, dtype=like.dtype, device=like.device),
                torch.as_tensor(self.B, dtype=like.dtype, device=like.device),
            )
        return self._tensors[key]

    def strategies(self, params: JointParams) -> tuple[Tensor, Tensor]:
        return self.call("row", params), self.call("col", params)

    def losses(self, params: JointParams, batch=None) -> dict[str, Tensor]:
        x, y = self.strategies(params)
        A, B = self._payoffs(x)
        return {"row": -(x @ A @ y), "col": -(x @ B @ y)}

    def evaluate(self, params: JointParams, generator=None) -> dict[str, float]:
        x, y = (s.detach().double().cpu().numpy() for s in self.strategies(params))
        metrics = {
            "nash_conv": nash_conv_bimatrix(self.A, self.B, x, y),
            "row_payoff": float(x @ self.A @ y),
            "col_payoff": float(x @ self.B @ y),
        }
        if self._nash is not None:
            xs, ys, _ = self._nash
            metrics["distance_to_nash"] = float(np.sqrt(((x - xs) ** 2).sum() + ((y - ys) ** 2).sum()))
        elif self._report_distance:
            distances = [np.sqrt(((x - xs) ** 2).sum() + ((y - ys) ** 2).sum()) for xs, ys in self.equilibria()]
            metrics["distance_to_nash"] = float(min(distances)) if distances else float("nan")
        return metrics

    def metric_names(self) -> tuple[str, ...]:
        names = ("nash_conv", "row_payoff", "col_payoff")
        return names + (("distance_to_nash",) if self._report_distance else ())

    def equilibria(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The Nash equilibria ``(x, y)`` of ``(A, B)`` that Nashpy finds, computed on first call.

        Support enumeration for ``m·n ≤ 64``, Lemke–Howson otherwise
        (:func:`diffgames.metrics.nash.bimatrix_equilibria`, which warns with a
        ``RuntimeWarning`` when the game is degenerate). For every game, zero-sum ones
        included; the zero-sum metrics keep using the LP equilibrium
        (:meth:`nash_strategies`).
        """
        if self._equilibria is None:
            self._equilibria = bimatrix_equilibria(self.A, self.B)
        return [(x.copy(), y.copy()) for x, y in self._equilibria]

    def interaction_graph(self) -> nx.DiGraph:
        return complete_interaction_graph(self.player_names)

    def nash_strategies(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The LP equilibrium ``(x*, y*)`` of a zero-sum game, else ``None``."""
        return None if self._nash is None else self._nash[:2]


class ZeroSumMatrixGame(MatrixGame):
    """Zero-sum matrix game: the row player gets ``xᵀAy``, the column player ``−xᵀAy``."""

    description = "two-player zero-sum matrix game"

    def __init__(
        self,
        payoff: Sequence[Sequence[float]],
        row_init_logits: Sequence[float] | None = None,
        col_init_logits: Sequence[float] | None = None,
    ):
        A = _matrix(payoff, "payoff")
        super().__init__(A, -A, row_init_logits, col_init_logits)


def tournament_payoff(graph: nx.DiGraph) -> tuple[list, np.ndarray]:
    """Zero-sum payoff of a tournament: ``A[i, j] = +1`` if ``i → j`` (i beats j), −1 if ``j → i``."""
    nodes = list(graph.nodes)
    index = {v: k for k, v in enumerate(nodes)}
    A = np.zeros((len(nodes), len(nodes)))
    for winner, loser in graph.edges:
        if winner == loser:
            raise ConfigError(f"tournament edge {winner!r} → {loser!r}: an action cannot beat itself")
        if graph.has_edge(loser, winner):
            raise ConfigError(f"tournament has both {winner!r} → {loser!r} and the reverse edge")
        A[index[winner], index[loser]] = 1.0
        A[index[loser], index[winner]] = -1.0
    return nodes, A


# ---------------------------------------------------------------------------- factories
# The factories of the bundled matrix games, registered by import path in games/__init__.py.
def matrix(
    payoff: list | None = None,
    row_payoff: list | None = None,
    col_payoff: list | None = None,
    row_init_logits: list | None = None,
    col_init_logits: list | None = None,
    distance_to_nash: bool = False,
) -> MatrixGame:
    """A zero-sum game from ``payoff`` or a general-sum one from ``row_payoff`` and ``col_payoff``.

    ``distance_to_nash=True`` makes a general-sum game report the distance to its nearest
    equilibrium (see :class:`MatrixGame`); zero-sum games always report it.
    """
    if payoff is not None:
        if row_payoff is not None or col_payoff is not None:
            raise ConfigError("give either payoff (zero-sum) or row_payoff and col_payoff, not both")
        return ZeroSumMatrixGame(payoff, row_init_logits, col_init_logits)
    if row_payoff is None or col_payoff is None:
        raise ConfigError("matrix game needs payoff=[[...]] (zero-sum) or both row_payoff and col_payoff")
    return MatrixGame(row_payoff, col_payoff, row_init_logits, col_init_logits, distance_to_nash)


def rps(
    row_init_logits: list | None = (1.0, 0.0, -0.5),
    col_init_logits: list | None = (0.0, 0.5, 0.0),
) -> ZeroSumMatrixGame:
    """Rock-paper-scissors; default start row = (1, 0, −0.5), col = (0, 0.5, 0) logits."""
    return ZeroSumMatrixGame(RPS_PAYOFF, row_init_logits, col_init_logits)


def matching_pennies(
    row_init_logits: list | None = (0.5, 0.0),
    col_init_logits: list | None = (0.0, 0.5),
) -> ZeroSumMatrixGame:
    """Matching pennies; default start row = (0.5, 0), col = (0, 0.5) logits."""
    return ZeroSumMatrixGame([[1.0, -1.0], [-1.0, 1.0]], row_init_logits, col_init_logits)


def tournament(
    edges: list | None = None,
    row_init_logits: list | None = None,
    col_init_logits: list | None = None,
) -> ZeroSumMatrixGame:
    """Tournament game: ``edges`` lists ``[winner, loser]`` pairs of a networkx DiGraph."""
    graph = nx.DiGraph()
    if edges is None:
        graph.add_edges_from(RPSLS_EDGES)
    else:
        try:
            graph.add_edges_from([tuple(e) for e in edges])
        except (TypeError, ValueError):
            raise ConfigError("tournament edges must be a list of [winner, loser] pairs") from None
    nodes, A = tournament_payoff(graph)
    m = len(nodes)
    # a slightly perturbed start, so that solvers have something to do
    default_row = [0.5] + [0.0] * (m - 1)
    default_col = [0.0] * (m - 1) + [0.5]
    game = ZeroSumMatrixGame(A, row_init_logits or default_row, col_init_logits or default_col)
    game.actions = nodes
    return game


#: Rock-paper-scissors-lizard-spock: each action beats two others (a regular 5-tournament).
RPSLS_EDGES = [
    ("scissors", "paper"), ("paper", "rock"), ("rock", "lizard"), ("lizard", "spock"),
    ("spock", "scissors"), ("scissors", "lizard"), ("lizard", "paper"), ("paper", "spock"),
    ("spock", "rock"), ("rock", "scissors"),
]
