"""Image players: an LSTM that writes an image column by column, and a small CNN critic.

The pair of Metz, Poole, Pfau & Sohl-Dickstein (2017), "Unrolled Generative Adversarial
Networks", Sec. 3.2, used by the ``mnist-rnn-cnn`` game (:mod:`games.mnist`).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ColumnLSTMGenerator", "ConvDiscriminator", "SIDE"]

SIDE = 28  # MNIST images are 28 × 28


class ColumnLSTMGenerator(nn.Module):
    """LSTM that writes an image one column per step (Metz et al. 2017, Sec. 3.2).

    The latent ``z`` is the LSTM's input at every one of the ``columns`` steps; the state
    starts at zero. Step ``t`` emits column ``t``: ``tanh(W_out h_t + b_out)``, ``rows``
    pixels in [−1, 1], the range of the data (:func:`diffgames.data.mnist.to_unit_range`).

    The LSTM cell (Hochreiter & Schmidhuber 1997, with a forget gate) is written with
    ``nn.Linear`` layers rather than ``nn.LSTM``: the unrolled solver differentiates
    through the discriminator's updates, i.e. it needs the LSTM's double backward, which
    cuDNN's fused RNN kernel does not provide. ``x_proj`` holds the input-to-gate weights
    and all gate biases, ``h_proj`` the recurrent weights; gates in the order (i, f, g, o).
    Output ``(batch, 1, rows, columns)``.
    """

    def __init__(self, latent_size: int, hidden: int, rows: int = SIDE, columns: int = SIDE):
        super().__init__()
        self.hidden, self.columns = int(hidden), int(columns)
        self.x_proj = nn.Linear(latent_size, 4 * hidden)
        self.h_proj = nn.Linear(hidden, 4 * hidden, bias=False)
        self.out = nn.Linear(hidden, rows)

    def reset_parameters(self, generator: torch.Generator) -> None:
        """``nn.LSTM``'s initialisation (all uniform in ±1/√hidden) with the forget-gate
        bias set to 1 (Jozefowicz et al. 2015); ``nn.Linear``'s for the output layer."""
        bound = 1.0 / math.sqrt(self.hidden)
        for p in (self.x_proj.weight, self.x_proj.bias, self.h_proj.weight):
            nn.init.uniform_(p, -bound, bound, generator=generator)
        self.x_proj.bias[self.hidden: 2 * self.hidden] = 1.0
        nn.init.kaiming_uniform_(self.out.weight, a=math.sqrt(5), generator=generator)
        nn.init.uniform_(self.out.bias, -bound, bound, generator=generator)

    def forward(self, z: Tensor) -> Tensor:
        gates_z = self.x_proj(z)  # the input is the same at every step: project it once
        h = z.new_zeros(z.shape[0], self.hidden)
        c = h
        states = []
        for _ in range(self.columns):
            i, f, g, o = (gates_z + self.h_proj(h)).chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            states.append(h)
        columns = torch.tanh(self.out(torch.stack(states, dim=2).transpose(1, 2)))  # (batch, columns, rows)
        return columns.transpose(1, 2).unsqueeze(1)


class ConvDiscriminator(nn.Module):
    """``(batch, 1, 28, 28)`` → one logit: two 4×4 stride-2 convolutions (``channels``,
    ``2·channels``; 28 → 14 → 7) with leaky ReLU (slope 0.2), then a linear layer."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 4, stride=2, padding=1)
        self.conv2 = nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1)
        self.fc = nn.Linear(2 * channels * 7 * 7, 1)

    def reset_parameters(self, generator: torch.Generator) -> None:
        """PyTorch's default initialisation, drawn from ``generator`` only."""
        for layer in (self.conv1, self.conv2, self.fc):
            nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
            bound = 1.0 / math.sqrt(layer.weight[0].numel())
            nn.init.uniform_(layer.bias, -bound, bound, generator=generator)

    def forward(self, x: Tensor) -> Tensor:
        x = F.leaky_relu(self.conv1(x), 0.2)
        x = F.leaky_relu(self.conv2(x), 0.2)
        return self.fc(x.flatten(1))
