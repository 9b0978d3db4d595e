"""Solvers: the Solver contract, the registry and the bundled solvers.

>>> import solvers
>>> solver = solvers.make("unrolled", unroll_steps=5)
>>> solver.unroll_steps
5
"""
from __future__ import annotations

from typing import Any

from diffgames.registry import Registry
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

# game solvers of issue 6 (imported here, after the registry exists: lookahead builds its
# inner solver through solvers.make)
from solvers.cgd import CGD  # noqa: E402
from solvers.consensus import Consensus  # noqa: E402
from solvers.extragradient import Extragradient  # noqa: E402
from solvers.lola import LOLA, LookAheadOpponent  # noqa: E402
from solvers.lookahead import Lookahead  # noqa: E402
from solvers.sga import SGA  # noqa: E402

__all__ += ["Extragradient", "Consensus", "SGA", "LookAheadOpponent", "LOLA", "CGD", "Lookahead"]

register("extragradient", Extragradient.description)(Extragradient)
register("consensus", Consensus.description)(Consensus)
register("sga", SGA.description)(SGA)
register("lookahead-opponent", LookAheadOpponent.description)(LookAheadOpponent)
register("lola", LOLA.description)(LOLA)
register("cgd", CGD.description)(CGD)
register("lookahead", Lookahead.description)(Lookahead)
