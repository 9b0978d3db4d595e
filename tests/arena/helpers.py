"""Games used only by the arena tests, registered once under test-only names."""
from __future__ import annotations

import torch
from torch import nn

import games
from games.base import Game


class _Scalar(nn.Module):
    """One scalar parameter starting at ``start``, or, when ``start`` is None, at a
    seed-dependent value in [2, 14)."""

    def __init__(self, start: float | None):
        super().__init__()
        self.start = start
        self.value = nn.Parameter(torch.zeros(()))

    def reset_parameters(self, generator):
        if self.start is None:
            self.value.fill_(float(2 + 12 * torch.rand((), generator=generator, dtype=torch.float64)))
        else:
            self.value.fill_(self.start)


class NaNAtStep(Game):
    """Player ``a`` descends ``a`` (SGD lr 1 lowers it by 1 a step); player ``b``'s loss holds
    ``sqrt(a)``, so it becomes NaN at the first step where ``a < 0``: step ``k + 1``
    starting from ``a = k - 0.5``."""

    def __init__(self, k: int = 5):
        self.players = {"a": _Scalar(k - 0.5), "b": _Scalar(1.0)}

    def losses(self, params, batch):
        a, b = params["a"]["value"], params["b"]["value"]
        return {"a": a, "b": b * b + torch.sqrt(a)}

    def default_optimizers(self):
        return {"a": {"name": "sgd", "lr": 1.0}, "b": {"name": "sgd", "lr": 0.1}}

    def evaluate(self, params, generator):
        return {"a": float(params["a"]["value"])}

    def metric_names(self):
        return ("a",)


class NaNAtRandomStep(NaNAtStep):
    """:class:`NaNAtStep` with ``a`` starting at a seed-dependent value in [2, 14), so it
    turns NaN at a step that depends on the seed."""

    def __init__(self):
        self.players = {"a": _Scalar(None), "b": _Scalar(None)}


if "test-nan-at-step" not in games.available():
    games.register("test-nan-at-step", "a game whose loss turns NaN at step k+1")(NaNAtStep)
if "test-nan-at-random-step" not in games.available():
    games.register("test-nan-at-random-step", "turns NaN at a seed-dependent step")(NaNAtRandomStep)
