"""Shared test helpers: a small GAN-shaped game and a run loop that records metrics."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

# The tests use small tensors, for which torch's intra-op threads cost far more than they
# save, and on a busy 2-core machine oversubscription slows some ops ~1000x.
torch.set_num_threads(1)

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
        # BCE with logits: label 1 → softplus(−l), label 0 → softplus(l). (Written out
        # because F.binary_cross_entropy_with_logits is ~1000× slower on a loaded 2-core CPU.)
        disc = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
        gen = F.softplus(-d_fake).mean()
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
