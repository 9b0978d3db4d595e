"""Games: the Game contract, the registry and the bundled games.

>>> import games
>>> game = games.make("rps")
>>> game.player_names
('row', 'col')
"""
from __future__ import annotations

from typing import Any

from games.base import Game, JointParams, OptimizerSpec, ZeroSumGame, checked_losses
from diffgames.errors import ConfigError, DivergenceError, GameContractError
import importlib

from games.matrix import MatrixGame, ZeroSumMatrixGame
from diffgames.registry import Registry

__all__ = [
    "Game", "ZeroSumGame", "JointParams", "OptimizerSpec", "MatrixGame", "ZeroSumMatrixGame",
    "checked_losses", "register", "make", "available", "describe",
    "ConfigError", "DivergenceError", "GameContractError",
]

_REGISTRY: Registry[Game] = Registry("game")
register = _REGISTRY.register
available = _REGISTRY.available
describe = _REGISTRY.describe
factory = _REGISTRY.factory


def make(name: str, **options: Any) -> Game:
    """Build the registered game ``name`` with ``options`` (validated; see ``describe()``)."""
    game = _REGISTRY.make(name, **options)
    game.registered_name = name  # type: ignore[attr-defined]
    game.options = dict(options)  # type: ignore[attr-defined]
    return game


#: Modules whose ``register_bundled(registry)`` adds the bundled games.
_BUNDLED_MODULES = ("games.matrix", "games.mog", "games.mnist", "games.classic")
for _module in _BUNDLED_MODULES:
    importlib.import_module(_module).register_bundled(_REGISTRY)
