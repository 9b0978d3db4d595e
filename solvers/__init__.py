"""Solvers: the Solver contract, the registry and the bundled solvers.

>>> import solvers
>>> solver = solvers.make("unrolled", unroll_steps=5)
>>> solver.unroll_steps
5
"""
from __future__ import annotations

from typing import Any

from games.registry import Registry
from solvers.base import Solver, player_gradients
from solvers.optim import SGD, Adam, BaseOptimizer, make_optimizer
from solvers.simple import Alternating, Optimistic, Simultaneous
from solvers.unrolled import Unrolled

__all__ = [
    "Solver", "BaseOptimizer", "SGD", "Adam", "make_optimizer", "player_gradients",
    "register", "make", "available", "describe",
    "Simultaneous", "Alternating", "Optimistic", "Unrolled",
]

_REGISTRY: Registry[Solver] = Registry("solver")
register = _REGISTRY.register
available = _REGISTRY.available
describe = _REGISTRY.describe
factory = _REGISTRY.factory


def make(name: str, **options: Any) -> Solver:
    """Build the registered solver ``name`` with ``options`` (validated)."""
    solver = _REGISTRY.make(name, **options)
    solver.registered_name = name  # type: ignore[attr-defined]
    return solver


register("simultaneous", Simultaneous.description)(Simultaneous)
register("alternating", Alternating.description)(Alternating)
register("optimistic", Optimistic.description)(Optimistic)
register("unrolled", Unrolled.description)(Unrolled)
