"""Mixed strategies over a finite action set."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from diffgames.errors import ConfigError

__all__ = ["MixedStrategy"]


class MixedStrategy(nn.Module):
    """A probability vector over ``n_actions`` actions, parameterised by logits.

    ``forward()`` returns ``softmax(logits)``. The initial logits are ``init_logits`` when
    given (the matrix-game conventions fix them), else zeros (the uniform strategy).

    Examples
    --------
    >>> s = MixedStrategy(3, init_logits=[0.0, 0.0, 0.0])
    >>> s.reset_parameters(torch.Generator())
    >>> s().tolist()
    [0.3333333432674408, 0.3333333432674408, 0.3333333432674408]
    """

    def __init__(self, n_actions: int, init_logits: Sequence[float] | None = None):
        super().__init__()
        if n_actions < 1:
            raise ConfigError(f"MixedStrategy needs at least one action, got n_actions={n_actions}")
        if init_logits is not None and len(init_logits) != n_actions:
            raise ConfigError(
                f"init_logits has {len(init_logits)} entries but the player has {n_actions} actions"
            )
        self.n_actions = n_actions
        self.init_logits = None if init_logits is None else [float(v) for v in init_logits]
        self.logits = nn.Parameter(torch.zeros(n_actions))

    def reset_parameters(self, generator: torch.Generator) -> None:
        if self.init_logits is None:
            self.logits.zero_()
        else:
            self.logits.copy_(torch.tensor(self.init_logits, dtype=self.logits.dtype))

    def forward(self) -> Tensor:
        return torch.softmax(self.logits, dim=-1)
