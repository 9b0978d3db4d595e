"""Mode-collapse metrics of generated samples against the modes of a mixture.

VEEGAN (Srivastava et al. 2017, Sec. 5.1) and PacGAN (Lin et al. 2018, Sec. 5) count the
modes a generator covers and measure how evenly it covers them; :func:`mode_metrics`
computes both papers' numbers and a stricter count.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["mode_metrics", "MODE_METRIC_NAMES", "mode_history_metrics", "mode_shares"]

#: The headline metrics of :func:`mode_metrics`, in order (it also returns each mode's share).
MODE_METRIC_NAMES = ("hq_fraction", "modes_covered", "modes_covered_1pct", "reverse_kl", "top_mode", "top_mode_share")
#: The share of the samples a mode must hold to count as covered (strict count) or visited.
STRICT_SHARE = 0.01


def mode_metrics(samples: Tensor, centers: Tensor, std: float) -> dict[str, float]:
    """Mode-collapse metrics of generated samples against the mixture's modes.

    As in VEEGAN (Srivastava et al. 2017, Sec. 5.1) and PacGAN (Lin et al. 2018, Sec. 5):
    a sample is *high quality* when it lies within ``3·std`` (Euclidean distance) of its
    nearest mode; both papers use 2,500 samples.

    Parameters
    ----------
    samples
        ``(n, 2)`` generated points (any device; ``n ≥ 1``).
    centers
        ``(m, 2)`` mode centres.
    std
        The standard deviation of every mode.

    Returns
    -------
    dict
        ``hq_fraction``: share of the ``n`` samples that are high quality.
        ``modes_covered``: number of modes nearest to at least one high-quality sample
        (VEEGAN's "modes captured").
        ``modes_covered_1pct``: number of modes whose high-quality samples make up at
        least 1% of all ``n`` samples — stricter, a stray sample does not count.
        ``reverse_kl``: ``KL(p ‖ u) = Σ_j p_j log(m p_j)`` of the histogram ``p`` of the
        high-quality samples over their nearest modes against the uniform ``u = 1/m``
        (PacGAN's reverse KL). Empty modes contribute ``0 · log 0 = 0``, so the value lies
        in ``[0, log m]``; with no high-quality sample at all ``p`` is undefined and we
        return ``log m``, the value of a complete collapse onto one mode, so that a
        generator far from every mode never scores better than a collapsed one.
        ``top_mode``: the index of the mode nearest to the most high-quality samples
        (``−1`` when there is none), so that a collapsed generator's walk from mode to
        mode (Metz et al. 2017, Fig. 1) can be followed over a run.
        ``top_mode_share``: that mode's high-quality samples as a share of all ``n``.
        ``mode_share_<j>`` for every mode ``j``: mode ``j``'s high-quality samples as a
        share of all ``n`` (the occupancy of each mode).
    """
    samples = torch.as_tensor(samples)
    centers = torch.as_tensor(centers).to(device=samples.device, dtype=samples.dtype)
    if samples.ndim != 2 or samples.shape[0] == 0 or samples.shape[1] != centers.shape[1]:
        raise ValueError(f"samples must be (n ≥ 1, {centers.shape[1]}), got {tuple(samples.shape)}")
    m, n = centers.shape[0], samples.shape[0]
    distance, nearest = torch.cdist(samples, centers).min(dim=1)
    hq = distance <= 3.0 * std
    counts = torch.bincount(nearest[hq], minlength=m)
    total = int(counts.sum())
    if total == 0:
        reverse_kl = math.log(m)
    else:
        p = counts.double() / total
        reverse_kl = float(torch.where(p > 0, p * torch.log(p * m), torch.zeros_like(p)).sum())
    top = int(torch.argmax(counts)) if total else -1
    return {
        "hq_fraction": total / n,
        "modes_covered": int((counts > 0).sum()),
        "modes_covered_1pct": int((counts >= STRICT_SHARE * n).sum()),
        "reverse_kl": max(reverse_kl, 0.0),  # rounding can give -1e-17 for an exact uniform histogram
        "top_mode": top,
        "top_mode_share": int(counts[top]) / n if total else 0.0,
        **{f"mode_share_{j}": c / n for j, c in enumerate(counts.tolist())},
    }


def mode_shares(row: dict, modes: int) -> list[float]:
    """The ``mode_share_<j>`` entries of one evaluation's row, mode by mode (NaN where absent)."""
    return [float(row.get(f"mode_share_{j}", float("nan"))) for j in range(modes)]


def mode_history_metrics(rows: list[dict], modes: int) -> dict[str, float]:
    """What a run's evaluations so far say about its walk over the modes.

    ``modes_visited``: the modes that held ≥ 1% of the samples as high-quality ones at
    one evaluation at least (a generator that rotates through the modes one at a time,
    Metz et al. 2017 Fig. 1, visits many while covering one). ``peak_modes_covered_1pct``:
    the most modes covered at the strict count at any evaluation. ``top_mode_changes``:
    how often the top mode changed between consecutive evaluations that had one.
    """
    visited = [False] * modes
    peak, changes, last = 0, 0, None
    for row in rows:
        for j, share in enumerate(mode_shares(row, modes)):
            visited[j] = visited[j] or share >= STRICT_SHARE
        peak = max(peak, int(row.get("modes_covered_1pct", 0)))
        top = int(row.get("top_mode", -1))
        if top >= 0:
            changes += last is not None and top != last
            last = top
    return {"modes_visited": sum(visited), "peak_modes_covered_1pct": peak, "top_mode_changes": changes}
