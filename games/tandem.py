"""The tandem game of Letcher, Foerster, Balduzzi, Rocktäschel & Whiteson (2019)."""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from games.base import Game, GameCapabilities, JointParams, OptimizerSpec, Verdict
from diffgames.checks import finite_number
from players import Vector

__all__ = ["Tandem", "tandem", "lola_fixed_line"]


def lola_fixed_line(alpha: float) -> float:
    """The sum ``s = x + y`` at LOLA's fixed points on the tandem game, for ``α < 1/4``.

    Letcher et al. (2019)'s LOLA direction (LookAhead plus shaping) is, for both players,
    ``(2s − 2)(1 − 2α) − 4αs``; it vanishes at ``s = (1 − 2α)/(1 − 4α)`` (4/3 for α = 0.1),
    off the game's fixed line ``s = 1``: there ``L₁ + L₂ = 2s² − 2s > 0``.
    """
    if not 0 <= alpha < 0.25:
        raise ValueError(f"LOLA has a fixed line on the tandem game for 0 ≤ α < 1/4, got {alpha}")
    return (1 - 2 * alpha) / (1 - 4 * alpha)


class Tandem(Game):
    """The tandem game: ``L₁ = (x + y)² − 2x``, ``L₂ = (x + y)² − 2y``.

    Letcher et al. (2019), "Stable Opponent Shaping in Differentiable Games", ICLR, Sec. 3
    (the game on which LOLA's "arrogance" shows; also in the authors' notebook,
    aletcher/stable-opponent-shaping). Players ``x`` and ``y`` hold one number each.

    Fixed points: ``ξ = (2(x + y) − 2, 2(x + y) − 2)`` vanishes exactly on the line
    ``x + y = 1``. Every point of it is a Nash equilibrium (``L₁`` is a convex parabola in
    ``x`` with its minimum at ``x = 1 − y``, likewise for ``L₂``), with total loss
    ``L₁ + L₂ = 2s² − 2s = 0`` (``s = x + y``); the game Jacobian ``J = [[2, 2], [2, 2]]``
    is symmetric positive semi-definite (eigenvalues 4 across the line, 0 along it), so
    each is a stable fixed point in the non-strict sense (``J ⪰ 0``; the line is a
    continuum, so none is isolated). The tests check this with dense derivatives.
    LOLA's fixed points lie at ``s = (1 − 2α)/(1 − 4α) > 1`` instead
    (:func:`lola_fixed_line`), where both players are worse off in total.

    Start: ``N(0, init_scale²)`` per player from the seed, or ``x_init``/``y_init``.
    Recommended optimizers: SGD, lr 0.1.

    Metrics
    -------
    distance_to_fixed_line
        ``|x + y − 1|/√2``, the distance to the line of fixed points (every one a Nash
        equilibrium).
    total_loss
        ``L₁ + L₂``; 0 on the fixed line, higher at LOLA's fixed points.
    sum_xy
        ``x + y`` (1 on the fixed line).
    """

    description = "tandem game L₁ = (x+y)² − 2x, L₂ = (x+y)² − 2y (Letcher et al. 2019)"
    capabilities = GameCapabilities(players=2, verdict=Verdict(
        "distance_to_fixed_line", 1e-3, "distance to the fixed line x + y = 1"))

    def __init__(self, init_scale: float = 1.0, x_init: float | None = None, y_init: float | None = None):
        scale = finite_number(init_scale, "tandem: init_scale", 0.0)
        self.players = {
            "x": Vector(1, None if x_init is None else [finite_number(x_init, "tandem: x_init")], scale),
            "y": Vector(1, None if y_init is None else [finite_number(y_init, "tandem: y_init")], scale),
        }

    def losses(self, params: JointParams, batch: Any = None) -> dict[str, Tensor]:
        x, y = self.call("x", params)[0], self.call("y", params)[0]
        s = (x + y) ** 2
        return {"x": s - 2 * x, "y": s - 2 * y}

    def evaluate(self, params: JointParams, generator: torch.Generator | None = None) -> dict[str, float]:
        x, y = float(params["x"]["value"][0]), float(params["y"]["value"][0])
        s = x + y
        return {"distance_to_fixed_line": abs(s - 1) / math.sqrt(2), "total_loss": 2 * s * s - 2 * s, "sum_xy": s}

    def metric_names(self) -> tuple[str, ...]:
        return ("distance_to_fixed_line", "total_loss", "sum_xy")

    def default_optimizers(self) -> dict[str, OptimizerSpec]:
        return {"x": {"name": "sgd", "lr": 0.1}, "y": {"name": "sgd", "lr": 0.1}}


# The factory of ``tandem``, registered by import path in games/__init__.py.
def tandem(init_scale: float = 1.0, x_init: float | None = None, y_init: float | None = None) -> Tandem:
    """Tandem game; the start is ``N(0, init_scale²)`` from the seed unless ``x_init``/``y_init`` are given."""
    return Tandem(init_scale, x_init, y_init)
