"""Shared test helpers: a small GAN-shaped game and a run loop that records metrics."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from games.base import Game
from players import MLP


class TinyGAN(Game):
    """A GAN-shaped two-player game for solver tests (not registered).

    Generator MLP ``z ∈ R^latent → R²``, discriminator MLP ``R² → R`` (logits); the real
    data are Gaussians around two points. Losses: the discriminator's BCE on real (label 1)
    and fake (label 0) samples, the generator's non-saturating BCE on fake samples
    (label 1). ``batch = {"z", "real"}`` comes from :meth:`sample`'s generator only.
    """

    def __init__(self, latent: int = 3, hidden: int = 8, batch_size: int = 16,
                 dtype: torch.dtype = torch.float64, activation: str = "tanh"):
        self.latent, self.batch_size, self.dtype = latent, batch_size, dtype
        self.players = {
            "gen": MLP([latent, hidden, 2], activation=activation),
            "disc": MLP([2, hidden, 1], activation=activation),
        }

    def sample(self, generator: torch.Generator, device="cpu"):
        z = torch.randn(self.batch_size, self.latent, generator=generator, dtype=self.dtype)
        centers = torch.tensor([[1.0, 0.0], [-1.0, 0.5]], dtype=self.dtype)
        which = torch.randint(0, 2, (self.batch_size,), generator=generator)
        real = centers[which] + 0.1 * torch.randn(self.batch_size, 2, generator=generator, dtype=self.dtype)
        return {"z": z.to(device), "real": real.to(device)}

    def losses(self, params, batch):
        fake = self.call("gen", params, batch["z"])
        d_fake = self.call("disc", params, fake)
        d_real = self.call("disc", params, batch["real"])
        ones, zeros = torch.ones_like(d_real), torch.zeros_like(d_fake)
        disc = F.binary_cross_entropy_with_logits(d_real, ones) + F.binary_cross_entropy_with_logits(d_fake, zeros)
        gen = F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
        return {"gen": gen, "disc": disc}


@pytest.fixture
def tiny_gan():
    """Factory of :class:`TinyGAN` games (keyword options as the class)."""
    return TinyGAN


def run_solver(game, solver, steps: int, checkpoints=(), seed: int = 0, params=None, metric: str | None = None):
    """Run ``solver`` on ``game`` for ``steps`` steps from ``game.init_params(seed)``.

    Returns ``(params, history)`` where ``history[t]`` is ``game.evaluate`` (or one of its
    metrics) at the checkpoints ``t`` (0 ≤ t ≤ steps).
    """
    params = game.init_params(seed) if params is None else params
    state = solver.init(game, params)
    generator = torch.Generator().manual_seed(seed)
    history = {}
    for t in range(steps + 1):
        if t in checkpoints:
            metrics = game.evaluate(params, generator)
            history[t] = metrics if metric is None else metrics[metric]
        if t == steps:
            break
        params, state, _ = solver.step(game, params, state, game.sample(generator, "cpu"))
    return params, history


@pytest.fixture(scope="session")
def run():
    """The :func:`run_solver` loop."""
    return run_solver
