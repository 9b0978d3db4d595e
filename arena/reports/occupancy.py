"""Mode occupancy over a run: which modes hold the generator's samples at each evaluation.

Metz et al. (2017, Fig. 1) describe the plain GAN on a ring of Gaussians as collapsing
onto one mode and then rotating through the modes; a grid of sample panels shows a few
moments of that. :func:`plot_occupancy` shows all of them: one panel per solver, modes
down, evaluation steps across, each cell the share of the samples that lie, as
high-quality samples, on that mode (the ``mode_share_<j>`` metrics of
:func:`diffgames.metrics.modes.mode_metrics`). A walk from mode to mode is a staircase; a
generator covering every mode is a band of even colour.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: the machines have no screen
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import PowerNorm  # noqa: E402

__all__ = ["occupancy_modes", "occupancy_matrix", "plot_occupancy", "OCCUPANCY_COLUMN"]

#: The metric columns this figure reads (and the metric-curve figures leave out).
OCCUPANCY_COLUMN = re.compile(r"^mode_share_(\d+)$")


def occupancy_modes(rows: list[dict[str, Any]]) -> int:
    """The number of modes whose share the rows log (0: none)."""
    found = [int(m.group(1)) for row in rows[:1] for k in row if (m := OCCUPANCY_COLUMN.match(k))]
    return max(found) + 1 if found else 0


def occupancy_matrix(rows: list[dict[str, Any]], modes: int) -> tuple[np.ndarray, np.ndarray]:
    """``(steps, shares)``: the evaluation steps and a ``(modes, len(steps))`` array of each
    mode's share of the samples (NaN where a row lacks it)."""
    steps = np.array([row["step"] for row in rows], dtype=float)
    shares = np.array([[float(row.get(f"mode_share_{j}", np.nan)) for row in rows] for j in range(modes)])
    return steps, shares


def plot_occupancy(path: Path, runs: dict[str, list[dict[str, Any]]], title: str = "",
                   step_label: str = "step") -> Path | None:
    """One heat-map panel per label (its run's rows), modes × steps; ``None`` when no run
    logs mode shares. The colour scale is shared, so panels compare at a glance, and
    square-root scaled, so that a generator spread thinly over every mode still shows
    beside one that puts all its samples on a single mode."""
    runs = {label: rows for label, rows in runs.items() if rows and occupancy_modes(rows)}
    if not runs:
        return None
    modes = max(occupancy_modes(rows) for rows in runs.values())
    vmax = max(float(np.nanmax(occupancy_matrix(rows, modes)[1])) for rows in runs.values())
    vmax = max(vmax, 1e-3)
    fig, axes = plt.subplots(len(runs), 1, figsize=(9, 0.35 * modes * len(runs) + 1.4), squeeze=False, sharex=True)
    image = None
    for ax, (label, rows) in zip(axes[:, 0], runs.items()):
        steps, shares = occupancy_matrix(rows, modes)
        edges = np.concatenate([[steps[0] - (steps[1] - steps[0]) / 2 if len(steps) > 1 else steps[0] - 0.5],
                                (steps[:-1] + steps[1:]) / 2,
                                [steps[-1] + (steps[-1] - steps[-2]) / 2 if len(steps) > 1 else steps[-1] + 0.5]])
        image = ax.pcolormesh(edges, np.arange(modes + 1) - 0.5, shares, cmap="viridis",
                              norm=PowerNorm(0.5, vmin=0, vmax=vmax), shading="flat")
        ax.set_ylabel(label, fontsize=9)
        ax.set_yticks(range(modes))
        ax.set_yticklabels([str(j) for j in range(modes)], fontsize=6)
        ax.set_ylim(modes - 0.5, -0.5)
    axes[-1, 0].set_xlabel(step_label)
    fig.suptitle(title or "mode occupancy: share of the samples on each mode (rows: modes)", fontsize=10)
    fig.colorbar(image, ax=axes[:, 0].tolist(), label="share of the samples", fraction=0.03, pad=0.02)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
