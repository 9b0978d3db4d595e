"""The Player contract."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import Tensor, nn

__all__ = ["Params", "Player", "init_params", "num_parameters"]

Params = dict[str, Tensor]


@runtime_checkable
class Player(Protocol):
    """What a game needs of a player module.

    ``reset_parameters(generator)`` initialises every parameter from ``generator`` only,
    so that a seed fixes the initial point whatever the device.
    """

    def reset_parameters(self, generator: torch.Generator) -> None: ...

    def named_parameters(self, *args, **kwargs): ...


def init_params(
    module: nn.Module,
    generator: torch.Generator,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Params:
    """Initialise ``module`` from ``generator`` (on CPU, so seeds mean the same on every
    device) and return detached copies of its parameters on ``device`` in ``dtype``.

    The module itself is moved to ``device``/``dtype`` as well, so that buffers that are
    not passed to ``functional_call`` live where the parameters do.
    """
    module.to(device="cpu", dtype=torch.float64 if dtype == torch.float64 else torch.float32)
    with torch.no_grad():
        module.reset_parameters(generator)
    module.to(device=device, dtype=dtype)
    return {name: p.detach().clone() for name, p in module.named_parameters()}


def num_parameters(params: Params) -> int:
    return sum(p.numel() for p in params.values())
