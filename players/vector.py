"""A player that is one plain parameter vector (the classic small games' players)."""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from diffgames.errors import ConfigError

__all__ = ["Vector"]


class Vector(nn.Module):
    """A player that is one parameter vector ``value`` of length ``dim``.

    ``forward()`` returns the vector. Initialisation is ``init`` when given (a fixed
    starting point), else i.i.d. ``N(0, init_scale²)`` drawn from the generator.

    Examples
    --------
    >>> v = Vector(2, init=[1.0, -1.0])
    >>> v.reset_parameters(torch.Generator())
    >>> v().tolist()
    [1.0, -1.0]
    """

    def __init__(self, dim: int, init: Sequence[float] | None = None, init_scale: float = 1.0):
        super().__init__()
        if int(dim) < 1:
            raise ConfigError(f"a Vector player needs dim ≥ 1, got {dim}")
        if init is not None and len(init) != dim:
            raise ConfigError(f"initial point has {len(init)} entries but the player has dim={dim}")
        if not (math.isfinite(init_scale) and init_scale >= 0):
            raise ConfigError(f"init_scale must be a finite number ≥ 0, got {init_scale}")
        self.dim = int(dim)
        self.init = None if init is None else [float(v) for v in init]
        self.init_scale = float(init_scale)
        self.value = nn.Parameter(torch.zeros(self.dim))

    def reset_parameters(self, generator: torch.Generator) -> None:
        if self.init is not None:
            self.value.copy_(torch.tensor(self.init, dtype=self.value.dtype))
        else:
            # drawn in float64 on the CPU then cast, so a seed gives the same point in any dtype
            z = torch.randn(self.dim, generator=generator, dtype=torch.float64)
            self.value.copy_((self.init_scale * z).to(self.value.dtype))

    def forward(self) -> Tensor:
        return self.value
