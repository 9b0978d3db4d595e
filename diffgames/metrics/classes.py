"""Class-coverage metrics of generated images from a classifier's probabilities.

For GANs on labelled data (MNIST digits): how many classes the generated samples cover and
how far their class histogram is from uniform (PacGAN's reverse KL, Lin et al. 2018, Sec. 5).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["class_metrics", "CLASS_METRIC_NAMES"]

#: The metrics of :func:`class_metrics`, in order.
CLASS_METRIC_NAMES = ("digits_covered", "class_kl", "confident_fraction")


def class_metrics(probabilities: Tensor, confidence: float = 0.9, min_share: float = 0.01) -> dict[str, float]:
    """Mode-coverage metrics of generated digits from their class probabilities ``(n, 10)``.

    A sample is *confident* when its top class probability is ≥ ``confidence``.

    Returns
    -------
    dict
        ``confident_fraction``: share of the ``n`` samples that are confident.
        ``digits_covered``: number of classes that receive at least ``min_share`` (1%) of
        the confident samples (and at least one).
        ``class_kl``: ``KL(p ‖ u) = Σ_c p_c log(10 p_c)`` of the class histogram ``p`` of
        the confident samples against the uniform ``u = 1/10`` (PacGAN's reverse KL, Lin
        et al. 2018, Sec. 5, for the modes of stacked MNIST). Empty classes contribute
        ``0 · log 0 = 0``, so the value lies in ``[0, log 10]``. With no confident sample
        ``p`` is undefined: ``class_kl`` is NaN (not computable; comparison tables say so)
        rather than a value that would read like a measured histogram, and
        ``digits_covered = 0``.
    """
    n, classes = probabilities.shape
    if n == 0:
        raise ValueError("class_metrics needs at least one sample")
    top, label = probabilities.max(dim=1)
    confident = top >= confidence
    total = int(confident.sum())
    if total == 0:
        return {"digits_covered": 0, "class_kl": math.nan, "confident_fraction": 0.0}
    counts = torch.bincount(label[confident], minlength=classes).double()
    p = counts / total
    kl = float(torch.where(p > 0, p * torch.log(p * classes), torch.zeros_like(p)).sum())
    covered = int(((counts > 0) & (counts >= min_share * total)).sum())
    return {"digits_covered": covered, "class_kl": max(kl, 0.0), "confident_fraction": total / n}
