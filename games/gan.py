"""What every bundled GAN shares: the two players and the cross-entropy losses.

The discriminator minimises ``−E log D(x) − E log(1 − D(G(z)))`` (Goodfellow et al.
2014, Eq. 1). The generator minimises either ``−E log D(G(z))`` — the non-saturating
loss of the same paper (Sec. 3), the default — or the minimax value itself, the
negated discriminator loss (``"saturating"``), which is what Metz et al.'s reference
notebook optimises.
"""
from __future__ import annotations

import networkx as nx
import torch
import torch.nn.functional as F
from torch import Tensor

from games.base import Game, GameCapabilities, JointParams, complete_interaction_graph
from diffgames.errors import ConfigError

__all__ = ["GANGame", "GENERATOR_LOSSES", "check_generator_loss"]

GENERATOR_LOSSES = ("non-saturating", "saturating")


def check_generator_loss(game: str, value: str) -> str:
    """Return ``value`` when it names a generator loss, else a ConfigError naming ``game``."""
    if value not in GENERATOR_LOSSES:
        raise ConfigError(f"{game}: generator_loss must be 'non-saturating' or 'saturating', got {value!r}")
    return value


def _as(x: Tensor, dtype: torch.dtype) -> Tensor:
    """``x`` in ``dtype``: a float32 batch may meet float64 parameters (``sample()`` knows
    no dtype). The same object when the dtype already matches — inside ``torch.func``
    transforms even a no-op ``.to()`` returns a new wrapper, and the unrolled solver
    recognises a repeated ``G(z)`` call by the identity of ``z``."""
    return x if x.dtype == dtype else x.to(dtype)


class GANGame(Game):
    """A game of a ``generator`` and a ``discriminator`` (one logit per input).

    Subclasses set ``generator_loss`` and make ``sample`` return ``{"real", "z"}``.
    """

    capabilities = GameCapabilities(players=2)
    generator_loss: str = "non-saturating"
    #: λ of an L2 penalty ``½ λ ‖θ_D‖²`` in the discriminator's loss (0: none). With the
    #: saturating generator loss the generator minimises the negated loss, penalty
    #: included, so the game stays zero-sum.
    discriminator_weight_decay: float = 0.0

    def _fake(self, params: JointParams, batch: dict[str, Tensor]) -> Tensor:
        """``G(z)``, in the parameters' dtype."""
        return self.call("generator", params, _as(batch["z"], next(iter(params["generator"].values())).dtype))

    def losses(self, params: JointParams, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        fake = self._fake(params, batch)
        real = _as(batch["real"], fake.dtype)
        n = real.shape[0]
        # one discriminator pass over real and fake: unrolling calls this K+2 times a step
        logits = self.call("discriminator", params, torch.cat([real, fake])).squeeze(-1)
        real_logits, fake_logits = logits[:n], logits[n:]
        # −log σ(a) = softplus(−a) and −log(1 − σ(a)) = softplus(a), stable for large |a|
        d_loss = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
        if self.discriminator_weight_decay:
            # a strongly convex discriminator loss near its optimum: the K → ∞ analysis
            squares = sum(w.pow(2).sum() for w in params["discriminator"].values())
            d_loss = d_loss + 0.5 * self.discriminator_weight_decay * squares
        if self.generator_loss == "saturating":
            g_loss = -d_loss
        else:
            g_loss = F.softplus(-fake_logits).mean()
        return {"generator": g_loss, "discriminator": d_loss}

    def losses_of(self, params: JointParams, batch: dict[str, Tensor], players: tuple[str, ...]) -> dict[str, Tensor]:
        # The non-saturating generator loss sees only fake samples: alternating descent's
        # generator step then back-propagates through the discriminator on half the rows.
        if tuple(players) != ("generator",) or self.generator_loss == "saturating":
            return self.losses(params, batch)
        fake_logits = self.call("discriminator", params, self._fake(params, batch)).squeeze(-1)
        return {"generator": F.softplus(-fake_logits).mean()}

    def interaction_graph(self) -> nx.DiGraph:
        return complete_interaction_graph(self.player_names)

    def generator_samples(self, params: JointParams, n: int, generator: torch.Generator,
                          device: torch.device | str, chunk: int = 8192) -> Tensor:
        """``n`` samples ``G(z)`` of the generator at ``params`` (detached, on ``device``).

        ``z`` is the noise :meth:`sample` draws for the generator: ``N(0, I)`` rows of the
        game's ``latent_size`` (or of the shape of ``sample()["z"]`` for a game without
        one), drawn with ``generator`` on its own device in the parameters' dtype, then
        moved to ``device``; ``chunk`` rows at a time, so memory stays bounded and
        ``n ≤ chunk`` draws ``torch.randn(n, latent_size, generator=generator)`` in one
        call. No autograd graph is recorded: a generator trained with any solver
        (unrolled or not) costs one forward pass per sample.
        """
        weights = {k: v.to(device) for k, v in params["generator"].items()}
        dtype = next(iter(weights.values())).dtype
        latent = getattr(self, "latent_size", None)
        if latent is not None:
            shape: tuple[int, ...] = (int(latent),)
        else:
            shape = tuple(self.sample(torch.Generator().manual_seed(0), "cpu")["z"].shape[1:])
        joint = {"generator": weights}
        parts = []
        with torch.no_grad():
            for start in range(0, int(n), int(chunk)):
                rows = min(int(chunk), int(n) - start)
                z = torch.randn(rows, *shape, generator=generator, device=generator.device, dtype=dtype)
                parts.append(self.call("generator", joint, z.to(device)))
        if not parts:
            raise ValueError(f"generator_samples needs n ≥ 1, got {n}")
        return torch.cat(parts)
