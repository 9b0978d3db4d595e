"""Multi-layer perceptrons with a settable activation and initialisation."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from diffgames.errors import ConfigError

__all__ = ["MLP", "ACTIVATIONS", "INITS"]

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "elu": nn.ELU}
INITS = ("orthogonal", "xavier", "kaiming", "default")


class MLP(nn.Module):
    """Fully connected network ``sizes[0] → … → sizes[-1]``, no activation on the output.

    Parameters
    ----------
    sizes
        Layer widths including input and output, e.g. ``(256, 128, 128, 2)``.
    activation
        One of ``tanh``, ``relu``, ``leaky_relu``, ``elu``.
    init
        ``orthogonal`` (weights orthogonal with ``gain``, biases zero — the Unrolled GAN
        reference notebook uses gain 1.4), ``xavier``, ``kaiming`` or ``default``
        (PyTorch's ``nn.Linear`` initialisation, drawn from the given generator).
    gain
        Gain of the orthogonal/xavier initialisation.
    input_scale
        A fixed factor applied to the input before the first layer (default 1: none). The
        Unrolled GAN paper's discriminator divides its input by 4 (Metz et al. 2017,
        App. A: ``input_scale=0.25``), which brings the ring's points to about [−1, 1].
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: Literal["tanh", "relu", "leaky_relu", "elu"] = "tanh",
        init: Literal["orthogonal", "xavier", "kaiming", "default"] = "orthogonal",
        gain: float = 1.0,
        input_scale: float = 1.0,
    ):
        super().__init__()
        if len(sizes) < 2 or any(int(s) < 1 for s in sizes):
            raise ConfigError(f"MLP sizes must be at least two positive widths, got {list(sizes)}")
        if activation not in ACTIVATIONS:
            raise ConfigError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
        if init not in INITS:
            raise ConfigError(f"unknown init {init!r}; choose one of {list(INITS)}")
        self.sizes = [int(s) for s in sizes]
        self.init, self.gain = init, float(gain)
        if not (math.isfinite(float(input_scale)) and float(input_scale) > 0):
            raise ConfigError(f"MLP input_scale must be a positive number, got {input_scale!r}")
        self.input_scale = float(input_scale)
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(self.sizes) - 2:
                layers.append(ACTIVATIONS[activation]())
        self.net = nn.Sequential(*layers)

    def reset_parameters(self, generator: torch.Generator) -> None:
        for layer in self.net:
            if not isinstance(layer, nn.Linear):
                continue
            w, b = layer.weight, layer.bias
            if self.init == "orthogonal":
                nn.init.orthogonal_(w, gain=self.gain, generator=generator)
                nn.init.zeros_(b)
            elif self.init == "xavier":
                nn.init.xavier_uniform_(w, gain=self.gain, generator=generator)
                nn.init.zeros_(b)
            elif self.init == "kaiming":
                nn.init.kaiming_uniform_(w, nonlinearity="relu", generator=generator)
                nn.init.zeros_(b)
            else:  # nn.Linear's own scheme, but from our generator
                nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=generator)
                bound = 1.0 / math.sqrt(w.shape[1])
                nn.init.uniform_(b, -bound, bound, generator=generator)

    def forward(self, x: Tensor) -> Tensor:
        # no multiplication by 1: an unscaled network computes exactly what it always did
        return self.net(x if self.input_scale == 1.0 else x * self.input_scale)
