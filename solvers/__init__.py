"""Solvers: the Solver contract, the registry and the bundled solvers.

Each solver is one module here (its class states what it supports in ``capabilities``)
plus one ``register`` line below. ``solvers`` import only the Game contract
(``games.base``), never a concrete game.

>>> import solvers
>>> solver = solvers.make("unrolled", unroll_steps=5)
>>> solver.unroll_steps
5
"""
from __future__ import annotations

from typing import Any

from diffgames.registry import Registry
from solvers.acgd import ACGD
from solvers.base import Solver, SolverCapabilities, player_gradients
from solvers.cgd import CGD
from solvers.consensus import Consensus
from solvers.extragradient import Extragradient
from solvers.lola import LOLA, LookAheadOpponent
from solvers.lookahead import Lookahead
from solvers.lss import LSS
from solvers.negative_momentum import NegativeMomentum
from solvers.optim import SGD, Adam, BaseOptimizer, make_optimizer
from solvers.ridge import FollowTheRidge
from solvers.sga import SGA
from solvers.simple import Alternating, Optimistic, Simultaneous
from solvers.sos import SOS
from solvers.stackelberg import Stackelberg
from solvers.unrolled import Unrolled

__all__ = [
    "Solver", "SolverCapabilities", "BaseOptimizer", "SGD", "Adam", "make_optimizer", "player_gradients",
    "register", "make", "available", "describe",
    "Simultaneous", "Alternating", "Optimistic", "Unrolled",
    "Extragradient", "Consensus", "SGA", "LookAheadOpponent", "LOLA", "CGD", "Lookahead",
    "Stackelberg", "FollowTheRidge", "SOS", "LSS", "ACGD", "NegativeMomentum",
]

_REGISTRY: Registry[Solver] = Registry("solver", entry_points="diffgames.solvers", contract=Solver)
register = _REGISTRY.register
available = _REGISTRY.available
describe = _REGISTRY.describe
factory = _REGISTRY.factory


def make(name: str, **options: Any) -> Solver:
    """Build the registered solver ``name`` with ``options`` (validated)."""
    solver = _REGISTRY.make(name, **options)
    solver.registered_name = name  # type: ignore[attr-defined]
    return solver


for _name, _solver in (("simultaneous", Simultaneous), ("alternating", Alternating), ("optimistic", Optimistic),
                      ("unrolled", Unrolled), ("extragradient", Extragradient), ("consensus", Consensus),
                      ("sga", SGA), ("lookahead-opponent", LookAheadOpponent), ("lola", LOLA), ("cgd", CGD),
                      ("lookahead", Lookahead), ("stackelberg", Stackelberg),
                      ("follow-the-ridge", FollowTheRidge), ("sos", SOS), ("lss", LSS), ("acgd", ACGD),
                      ("negative-momentum", NegativeMomentum)):
    register(_name, _solver.description)(_solver)
