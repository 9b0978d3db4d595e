"""DCGAN-style convolutional players for 28 × 28 images, with batch-statistics batch norm.

Radford, Metz & Chintala (2016), "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks" (DCGAN), Sec. 3: a generator of transposed
convolutions with batch norm and ReLU and a ``tanh`` output, a discriminator of strided
convolutions with leaky ReLU (slope 0.2) and no batch norm on its first layer. Used by the
``stacked-mnist`` game (:mod:`games.stacked_mnist`) for the 1,000-mode experiment of Metz,
Poole, Pfau & Sohl-Dickstein (2017), "Unrolled Generative Adversarial Networks", Table 3.

**Batch norm** (Ioffe & Szegedy 2015, Alg. 1) is :func:`batch_norm`: it normalises each
channel with the mean and the biased variance of the *current batch* and keeps no running
averages. A module's output is then a pure function of its parameters and its input batch
— no buffers, nothing updated in place — so ``torch.func.functional_call``,
``torch.func.vmap`` over seeds and the unrolled solver's second-order derivative through
the discriminator's steps all see the function that training uses, exactly. The price:
an output depends on the other rows of its batch, so samples must be drawn in batches of
the training batch size (the game's ``generate`` does).

The players follow the Player contract of :mod:`players.base`: ``reset_parameters``
draws every parameter from the ``torch.Generator`` passed in.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["DCGANGenerator", "DCGANDiscriminator", "batch_norm", "BN_EPS"]

SIDE = 28  # the images are 28 × 28: 7 → 14 → 28
BN_EPS = 1e-5  # ε of Ioffe & Szegedy's Alg. 1 (torch.nn.BatchNorm2d's default)


def batch_norm(x: Tensor, weight: Tensor, bias: Tensor, eps: float = BN_EPS) -> Tensor:
    """Batch norm of ``x`` ``(batch, channels, h, w)`` with batch statistics only.

    ``weight · (x − μ) / √(σ² + ε) + bias`` per channel, ``μ`` and ``σ²`` the mean and
    the biased variance over the batch and the spatial axes (Ioffe & Szegedy 2015, Alg. 1,
    training mode). Plain tensor operations: twice differentiable, ``vmap``-able.
    """
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = (x - mean).pow(2).mean(dim=(0, 2, 3), keepdim=True)
    return (x - mean) * torch.rsqrt(var + eps) * weight.view(1, -1, 1, 1) + bias.view(1, -1, 1, 1)


def _dcgan_init(weights: list[Tensor], norms: list[tuple[Tensor, Tensor]], biases: list[Tensor],
                generator: torch.Generator) -> None:
    """DCGAN's initialisation (Radford et al. 2016, Sec. 4): weights ``N(0, 0.02²)``,
    batch-norm scales ``N(1, 0.02²)``, batch-norm shifts and biases 0."""
    for w in weights:
        nn.init.normal_(w, 0.0, 0.02, generator=generator)
    for scale, shift in norms:
        nn.init.normal_(scale, 1.0, 0.02, generator=generator)
        nn.init.zeros_(shift)
    for b in biases:
        nn.init.zeros_(b)


class DCGANGenerator(nn.Module):
    """``z (batch, latent)`` → images ``(batch, out_channels, 28, 28)`` in (−1, 1).

    A linear layer to ``2·channels`` maps of 7 × 7, then two 4 × 4 stride-2 transposed
    convolutions (``2·channels → channels``: 14 × 14; ``channels → out_channels``:
    28 × 28). Batch norm (:func:`batch_norm`) and ReLU after the linear layer and the
    first transposed convolution, ``tanh`` at the output (DCGAN, Sec. 3). Layers followed
    by batch norm have no bias (it would cancel).
    """

    def __init__(self, latent_size: int, channels: int, out_channels: int = 3):
        super().__init__()
        self.channels = int(channels)
        wide = 2 * self.channels
        self.fc = nn.Linear(latent_size, wide * 7 * 7, bias=False)
        self.bn0_weight, self.bn0_bias = nn.Parameter(torch.ones(wide)), nn.Parameter(torch.zeros(wide))
        self.up1 = nn.ConvTranspose2d(wide, self.channels, 4, stride=2, padding=1, bias=False)
        self.bn1_weight = nn.Parameter(torch.ones(self.channels))
        self.bn1_bias = nn.Parameter(torch.zeros(self.channels))
        self.up2 = nn.ConvTranspose2d(self.channels, out_channels, 4, stride=2, padding=1)

    def reset_parameters(self, generator: torch.Generator) -> None:
        """DCGAN's initialisation (:func:`_dcgan_init`), drawn from ``generator`` only."""
        _dcgan_init([self.fc.weight, self.up1.weight, self.up2.weight],
                    [(self.bn0_weight, self.bn0_bias), (self.bn1_weight, self.bn1_bias)], [self.up2.bias], generator)

    def forward(self, z: Tensor) -> Tensor:
        x = self.fc(z).view(z.shape[0], 2 * self.channels, 7, 7)
        x = F.relu(batch_norm(x, self.bn0_weight, self.bn0_bias))
        x = F.relu(batch_norm(self.up1(x), self.bn1_weight, self.bn1_bias))
        return torch.tanh(self.up2(x))


class DCGANDiscriminator(nn.Module):
    """Images ``(batch, in_channels, 28, 28)`` → one logit each.

    Two 4 × 4 stride-2 convolutions (``in_channels → channels``: 14 × 14;
    ``channels → 2·channels``: 7 × 7) with leaky ReLU (slope 0.2), then a linear layer.
    No batch norm on the first layer (DCGAN, Sec. 3); with ``batch_norm=True`` the second
    convolution is followed by :func:`batch_norm` (and has no bias).
    """

    def __init__(self, channels: int, in_channels: int = 3, batch_norm: bool = False):
        super().__init__()
        self.channels, self.batch_norm = int(channels), bool(batch_norm)
        self.conv1 = nn.Conv2d(in_channels, self.channels, 4, stride=2, padding=1)
        self.conv2 = nn.Conv2d(self.channels, 2 * self.channels, 4, stride=2, padding=1, bias=not self.batch_norm)
        if self.batch_norm:
            self.bn2_weight = nn.Parameter(torch.ones(2 * self.channels))
            self.bn2_bias = nn.Parameter(torch.zeros(2 * self.channels))
        self.fc = nn.Linear(2 * self.channels * 7 * 7, 1)

    def reset_parameters(self, generator: torch.Generator) -> None:
        """DCGAN's initialisation (:func:`_dcgan_init`), drawn from ``generator`` only."""
        norms = [(self.bn2_weight, self.bn2_bias)] if self.batch_norm else []
        biases = [self.conv1.bias, self.fc.bias] + ([] if self.batch_norm else [self.conv2.bias])
        _dcgan_init([self.conv1.weight, self.conv2.weight, self.fc.weight], norms, biases, generator)

    def forward(self, x: Tensor) -> Tensor:
        x = F.leaky_relu(self.conv1(x), 0.2)
        x = self.conv2(x)
        if self.batch_norm:
            x = batch_norm(x, self.bn2_weight, self.bn2_bias)
        return self.fc(F.leaky_relu(x, 0.2).flatten(1))
