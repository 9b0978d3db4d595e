"""Errors a user can cause, shared by every package of the toolkit.

Each one carries a message that says what was wrong and how to fix it; the CLI prints
that message alone and exits with code 2 (1 for a divergence found during a run).
"""
from __future__ import annotations

__all__ = ["DiffgamesError", "ConfigError", "GameContractError", "DivergenceError"]


class DiffgamesError(Exception):
    """Base class of every error the toolkit raises on purpose."""


class ConfigError(DiffgamesError, ValueError):
    """An unknown name, an unknown option or an invalid option value."""


class GameContractError(DiffgamesError, ValueError):
    """A game broke the Game contract (e.g. ``losses`` not one scalar per player)."""


class DivergenceError(DiffgamesError, RuntimeError):
    """A loss or a parameter became non-finite during a step.

    Attributes
    ----------
    step : int | None
        The step at which the non-finite value appeared (the step being taken).
    player : str | None
        The player whose loss or parameters were non-finite.
    """

    def __init__(self, message: str, *, step: int | None = None, player: str | None = None):
        super().__init__(message)
        self.step = step
        self.player = player
