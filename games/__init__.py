"""Games: the Game contract (:mod:`games.base`), the game registry and the bundled games.

Each bundled game lives in its own module (:mod:`games.matrix`, :mod:`games.classic`,
:mod:`games.ipd`, :mod:`games.mog`, :mod:`games.mnist`, with the shared GAN pieces in
:mod:`games.gan`) and is registered below by its import path, so that ``import games``,
:func:`available` and :func:`describe` import none of them: a game's module is imported
the first time :func:`make` or :func:`factory` needs it.

``games`` may import the base layer (:mod:`diffgames`: errors, registry, data, metrics)
and :mod:`players`, never :mod:`solvers`, :mod:`analysis` or :mod:`arena`.

>>> import games
>>> game = games.make("rps")
>>> game.player_names
('row', 'col')
"""
from __future__ import annotations

import importlib
from typing import Any

from diffgames.errors import ConfigError, DivergenceError, GameContractError
from diffgames.registry import Registry
from games.base import Game, JointParams, OptimizerSpec, ZeroSumGame, checked_losses

__all__ = [
    "Game", "ZeroSumGame", "JointParams", "OptimizerSpec", "MatrixGame", "ZeroSumMatrixGame",
    "checked_losses", "register", "make", "available", "describe", "factory",
    "ConfigError", "DivergenceError", "GameContractError",
]

_REGISTRY: Registry[Game] = Registry("game", entry_points="diffgames.games", contract=Game)
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


#: The bundled games: registered name, ``"module:factory"``, one-line description.
_BUNDLED = (
    ("matrix", "games.matrix:matrix", "zero-sum or general-sum matrix game from payoff matrices"),
    ("rps", "games.matrix:rps", "rock-paper-scissors (zero-sum, unique Nash at uniform play)"),
    ("matching-pennies", "games.matrix:matching_pennies", "matching pennies (zero-sum 2x2, Nash at (1/2, 1/2))"),
    ("tournament", "games.matrix:tournament",
     "zero-sum game of a 'beats' tournament graph (default: rock-paper-scissors-lizard-spock)"),
    ("mog", "games.mog:MixtureOfGaussians",
     "GAN on a 2-D mixture of Gaussians, ring (8) or grid (25) (Metz et al. 2017, Fig. 1; defaults: its App. A)"),
    ("mnist-rnn-cnn", "games.mnist:MnistRnnCnn",
     "LSTM generator vs CNN discriminator on MNIST (Metz et al. 2017, Fig. 2)"),
    ("stacked-mnist", "games.stacked_mnist:StackedMnist", "DCGAN on stacked MNIST, 1,000 modes (Metz et al. 2017, Table 3)"),
    ("bilinear", "games.classic:bilinear", "bilinear zero-sum game min_x max_y xᵀAy (equilibrium at 0)"),
    ("dirac-gan", "games.classic:dirac_gan", "Dirac-GAN of Mescheder et al. 2018 (equilibrium at θ = ψ = 0)"),
    ("letcher", "games.classic:letcher", "Letcher 2021 zero-sum game: all gradient methods cycle"),
    ("cyclic-pennies", "games.classic:cyclic_pennies", "matching pennies on a directed 3-cycle (Jordan 1993)"),
    ("ipd", "games.ipd:ipd", "iterated prisoner's dilemma with exact discounted value (LOLA)"),
    ("tandem", "games.tandem:tandem", "tandem game (x+y)² − 2x, (x+y)² − 2y: fixed line x + y = 1 (Letcher et al. 2019)"),
)
for _name, _target, _description in _BUNDLED:
    _REGISTRY.register_lazy(_name, _target, _description)

#: Names importable from ``games`` that live in a bundled game's module (imported on use).
_LAZY_NAMES = {"MatrixGame": "games.matrix", "ZeroSumMatrixGame": "games.matrix"}


def __getattr__(name: str) -> Any:
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(_LAZY_NAMES[name]), name)
    raise AttributeError(f"module 'games' has no attribute {name!r}")
