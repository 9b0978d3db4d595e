"""Mode metrics of stacked MNIST: 1,000 modes, one per triple of digits.

Metz, Poole, Pfau & Sohl-Dickstein (2017), "Unrolled Generative Adversarial Networks",
Sec. 3.3 and Table 3 (after Che et al. 2017, "Mode Regularized GANs"): each image stacks
three MNIST digits as its three colour channels, so the data have 10³ = 1,000 modes, the
digit triples. A pretrained digit classifier (:mod:`diffgames.metrics.digit_classifier`)
labels each channel of a generated image; the triple ``(c₀, c₁, c₂)`` is its mode,
coded as ``100·c₀ + 10·c₁ + c₂``. Over ``N`` samples (25,600 in the paper):

* ``modes_covered`` — the number of distinct triples seen (0 … 1,000);
* ``kl_to_uniform`` — ``KL(p ‖ u) = Σ_m p_m log(1000 p_m) = log 1000 − H(p)`` of the
  triple histogram ``p`` against the uniform distribution ``u`` over the 1,000 modes, the
  quantity of the paper's table (in nats; 0 for a uniform histogram, ``log 1000 ≈ 6.91``
  for a collapse onto one triple).

Every sample is counted (its channels' arg-max classes; no confidence threshold), as in
the paper. Real stacked data of the same ``N`` do not reach 1,000 modes and KL 0: with
``N`` uniform draws the expected count is ``1000 (1 − (1 − 1/1000)^N)`` (923 for
``N = 2,560``, 1,000 for 25,600); :func:`real_stacked_metrics` measures this ceiling and
the classifier's per-channel accuracy on real stacked images.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["MODES", "STACKED_METRIC_NAMES", "triple_codes", "channel_labels", "stacked_metrics",
           "real_stacked_metrics", "expected_modes_of_uniform"]

#: Number of modes: digit triples.
MODES = 1000
#: The metrics of :func:`stacked_metrics`, in order.
STACKED_METRIC_NAMES = ("modes_covered", "kl_to_uniform")


def triple_codes(labels: Tensor) -> Tensor:
    """Digit labels ``(n, 3)`` (0–9) → mode codes ``100·c₀ + 10·c₁ + c₂`` ``(n,)``."""
    if labels.ndim != 2 or labels.shape[1] != 3:
        raise ValueError(f"triple_codes needs labels of shape (n, 3), got {tuple(labels.shape)}")
    labels = labels.to(torch.int64)
    return labels[:, 0] * 100 + labels[:, 1] * 10 + labels[:, 2]


def channel_labels(probabilities_of, images: Tensor) -> Tensor:
    """The arg-max digit of every channel of ``images`` ``(n, 3, 28, 28)``: ``(n, 3)``.

    ``probabilities_of`` maps ``(m, 1, 28, 28)`` images in [−1, 1] to class probabilities
    ``(m, 10)`` (e.g. :meth:`~diffgames.metrics.digit_classifier.TrainedClassifier.probabilities`);
    the three channels are classified as ``3n`` grey-scale digits in one call.
    """
    n, channels = images.shape[:2]
    flat = images.reshape(n * channels, 1, *images.shape[2:])
    return probabilities_of(flat).argmax(dim=1).reshape(n, channels)


def stacked_metrics(labels: Tensor) -> dict[str, float]:
    """``modes_covered`` and ``kl_to_uniform`` of label triples ``(n, 3)`` (see the module
    docstring; Metz et al. 2017, Table 3).

    ``kl_to_uniform = Σ_m p_m log(1000 p_m) = log 1000 − H(p)``; empty modes add
    ``0 · log 0 = 0``, so the value lies in ``[0, log 1000]``.
    """
    if labels.shape[0] == 0:
        raise ValueError("stacked_metrics needs at least one sample")
    counts = torch.bincount(triple_codes(labels).cpu(), minlength=MODES).double()
    p = counts / counts.sum()
    entropy = float(-torch.where(p > 0, p * torch.log(p), torch.zeros_like(p)).sum())
    return {"modes_covered": int((counts > 0).sum()), "kl_to_uniform": max(math.log(MODES) - entropy, 0.0)}


def real_stacked_metrics(images: Tensor, labels: Tensor, probabilities_of) -> dict[str, float]:
    """The metrics' ceiling and the classifier's accuracy on *real* stacked images.

    Parameters
    ----------
    images
        Real stacked images ``(n, 3, 28, 28)`` in [−1, 1].
    labels
        Their true digit triples ``(n, 3)``.
    probabilities_of
        The classifier, as in :func:`channel_labels`.

    Returns
    -------
    dict
        ``modes_covered`` and ``kl_to_uniform`` of the *classified* triples (what a
        generator that reproduces the data exactly would score with the same ``n``);
        ``true_modes_covered`` and ``true_kl_to_uniform`` of the true triples;
        ``channel_accuracy_0/1/2``: the share of channel ``i`` classified correctly;
        ``triple_accuracy``: the share with all three channels correct.
    """
    predicted = channel_labels(probabilities_of, images).cpu()
    truth = labels.cpu().to(torch.int64)
    out = dict(stacked_metrics(predicted))
    true = stacked_metrics(truth)
    out.update({"true_modes_covered": true["modes_covered"], "true_kl_to_uniform": true["kl_to_uniform"]})
    correct = predicted == truth
    for i in range(truth.shape[1]):
        out[f"channel_accuracy_{i}"] = float(correct[:, i].double().mean())
    out["triple_accuracy"] = float(correct.all(dim=1).double().mean())
    return out


def expected_modes_of_uniform(n: int, modes: int = MODES) -> float:
    """Expected distinct modes among ``n`` uniform draws: ``modes · (1 − (1 − 1/modes)^n)``."""
    return modes * (1.0 - (1.0 - 1.0 / modes) ** int(n))
