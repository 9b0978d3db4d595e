"""Figures: metric curves (per run, or mean ± band over seeds per solver) and sample grids.

The sample grid is the Unrolled GAN paper's figure layout: one row per solver setting,
one column per saved step, each panel drawn by the game's own ``draw`` (e.g. generator
samples with the real modes marked).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: the machines have no screen
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from arena.comparisons.at_compute import X_AXES  # noqa: E402
from arena.reports.occupancy import OCCUPANCY_COLUMN  # noqa: E402
from arena.runs.files import save_figure  # noqa: E402
from arena.runs.recorder import BOOKKEEPING_COLUMNS, load_snapshot  # noqa: E402

__all__ = ["plot_run", "plot_comparison", "plot_samples", "plot_sweep", "sweep_figure_name"]


def _metrics(rows: list[dict[str, Any]]) -> list[str]:
    """The metrics to draw as curves: every logged column but the bookkeeping and the
    per-mode shares (those make the occupancy figure, :mod:`arena.reports.occupancy`)."""
    return [k for k in rows[0] if k not in BOOKKEEPING_COLUMNS and not OCCUPANCY_COLUMN.match(k)] if rows else []


def _mirrors(runs: list[list[dict[str, Any]]], names: list[str]) -> dict[str, list[str]]:
    """``{kept metric: the later metrics that equal it or its negative in every row}``.

    A zero-sum game logs each loss twice (``loss_col = −loss_row``) and often its payoffs
    too; one panel then shows them all (its title names the mirrored ones)."""
    rows = [row for run in runs for row in run]
    kept: dict[str, list[str]] = {}
    for name in names:
        values = np.array([row.get(name, np.nan) for row in rows], dtype=float)
        for other, mirrored in kept.items():
            base = np.array([row.get(other, np.nan) for row in rows], dtype=float)
            # float32 losses next to float64 payoffs agree to float32 rounding, not exactly
            scale = 1e-6 * max(1.0, float(np.nanmax(np.abs(base))) if np.isfinite(base).any() else 1.0)
            for sign, word in ((1.0, "="), (-1.0, "= −")):
                if values.size and np.isfinite(values).all() and np.allclose(values, sign * base, rtol=0, atol=scale):
                    mirrored.append(f"{word}{name}" if word == "= −" else f"= {name}")
                    break
            else:
                continue
            break
        else:
            kept[name] = []
    return kept


def _title(name: str, mirrored: list[str], width: int = 48) -> str:
    """A panel's title, wrapped so that neighbouring panels' titles never overlap."""
    import textwrap

    return textwrap.fill(name + (f" ({' '.join(mirrored)})" if mirrored else ""), width)


def run_title(run_dir: Path) -> str | None:
    """``game · solver (options) · optimizers, seed S`` of the run in ``run_dir``, for the
    title of its figures (``None`` without a readable ``config.toml``)."""
    import games
    import solvers
    from arena.comparisons.describe import optimizers_text, options_text
    from arena.runs.config import RunConfig
    from diffgames.errors import DiffgamesError

    try:
        cfg = RunConfig.load(Path(run_dir) / "config.toml")
    except DiffgamesError:
        return None
    name = lambda n: n.rpartition(":")[2] or n  # noqa: E731  (a class from a file: its name)
    game = name(cfg.game) + (f" ({options_text(cfg.game_options)})" if cfg.game_options else "")
    solver = cfg.label if cfg.label == cfg.solver else f"{cfg.label}: {name(cfg.solver)}"
    solver += f" ({options_text(cfg.solver_options)})" if cfg.solver_options else ""
    own = False
    try:
        built = games.make(cfg.game, **cfg.game_options)
        own = solvers.make(cfg.solver, **cfg.solver_options).capabilities.own_step_size
        optimizers = optimizers_text(cfg.optimizers, list(built.player_names), built.default_optimizers(), own)
    except DiffgamesError:
        optimizers = str(cfg.optimizers or "the game's optimizers")
    optimizers = optimizers.replace("every player: ", "").replace(" — the game's recommendation", " (game's)")
    if own:
        optimizers = "own step size"
    return f"{game} · {solver} · {optimizers} · seed {cfg.seed}"


def _by(x: str) -> str:
    """The file name suffix of figures against ``x``: none for steps, ``-by-work``, ``-by-time``."""
    return "" if x == "step" else f"-by-{x}"


def plot_run(run_dir: Path, rows: list[dict[str, Any]], x: str = "step") -> list[Path]:
    """One figure with every metric of one run against the step: ``metrics.png``, titled
    with the game, the solver and the learning rates (:func:`run_title`); a positive
    metric spanning more than a decade (an exponentially converging distance) gets a log
    axis. ``x`` ``"work"`` or ``"time"`` draws against loss-gradient evaluations or training
    time instead (:data:`arena.comparisons.at_compute.X_AXES`), into ``metrics-by-<x>.png``."""
    column, xlabel = X_AXES[x]
    panels = _mirrors([rows], _metrics(rows))
    names = list(panels)
    if not names:
        return []
    cols = min(3, len(names))
    fig, axes = plt.subplots(math.ceil(len(names) / cols), cols, figsize=(4.2 * cols, 3 * math.ceil(len(names) / cols)),
                             squeeze=False, layout="constrained")
    steps = [r[column] for r in rows]
    for ax, name in zip(axes.flat, names):
        values = np.array([r.get(name, np.nan) for r in rows], dtype=float)
        ax.plot(steps, values)
        if _log_scale_helps(values):
            ax.set_yscale("log")
        ax.set_title(_title(name, panels[name]), fontsize=9 if panels[name] else None)
        ax.set_xlabel(xlabel or "step")
        ax.grid(alpha=0.3, which="both" if ax.get_yscale() == "log" else "major")
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    title = run_title(run_dir)
    if title:
        import textwrap

        fig.suptitle(textwrap.fill(title, 36 * cols), fontsize=10)
    path = Path(run_dir) / f"metrics{_by(x)}.png"
    save_figure(fig, path, dpi=110)
    plt.close(fig)
    return [path]


def _band(groups: dict[str, list[list[dict[str, Any]]]], metric: str, x: str):
    for label, runs in groups.items():
        runs = [r for r in runs if r]
        if not runs:
            continue
        n = min(len(r) for r in runs)
        xs = np.mean([[row[x] for row in r[:n]] for r in runs], axis=0)
        ys = np.array([[row.get(metric, np.nan) for row in r[:n]] for r in runs], dtype=float)
        yield label, xs, np.nanmean(ys, axis=0), np.nanmin(ys, axis=0), np.nanmax(ys, axis=0), len(runs)


def _log_scale_helps(values: np.ndarray) -> bool:
    """A positive metric spanning more than a decade (e.g. a distance converging
    exponentially) reads better on a log axis."""
    positive = values[np.isfinite(values) & (values > 0)]
    return positive.size > 1 and bool((values[np.isfinite(values)] > 0).all()) and positive.max() / positive.min() > 10


def plot_comparison(out: Path, groups: dict[str, list[list[dict[str, Any]]]],
                    step_label: str = "step", x: str = "step") -> list[Path]:
    """One PNG per metric: mean over seeds with a min–max band, against step and wall time.

    ``step_label`` names the step axis (a solver that updates one player per step says
    so: :meth:`solvers.base.Solver.step_label`). ``x`` ``"work"`` or ``"time"`` puts
    loss-gradient evaluations or training time in place of the step, into
    ``plots/<metric>-by-<x>.png``. Positive metrics spanning more than a decade get a log axis; more than ten solvers get
    colours from a larger palette so that no two lines share one."""
    first = next((r for runs in groups.values() for r in runs if r), [])
    paths = []
    plots = Path(out) / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    palette = plt.get_cmap("tab10" if len(groups) <= 10 else "tab20").colors
    panels = _mirrors([r for runs in groups.values() for r in runs], _metrics(first))
    several = any(len([r for r in runs if r]) > 1 for runs in groups.values())
    for metric in panels:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
        for ax, column in zip(axes, (X_AXES[x][0], "wall_time")):
            spans = []
            for i, (label, xs, mean, lo, hi, n) in enumerate(_band(groups, metric, column)):
                color = palette[i % len(palette)]
                ax.plot(xs, mean, label=f"{label} (n={n})", color=color)
                ax.fill_between(xs, lo, hi, color=color, alpha=0.2, linewidth=0)
                spans.append(np.concatenate([lo, hi]))
            if spans and _log_scale_helps(np.concatenate(spans)):
                ax.set_yscale("log")
            ax.set_xlabel({"step": step_label, "wall_time": "wall time (s)"}.get(column) or X_AXES[x][1])
            ax.set_ylabel(metric)
            ax.grid(alpha=0.3)
        if len(groups) > 6:  # many curves (a sweep's settings): the legend beside the panels, not over them
            axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), ncol=1 + len(groups) // 24)
        else:
            axes[0].legend(fontsize=8)
        fig.suptitle(f"{_title(metric, panels[metric], 90)}: " + ("mean over seeds, band = min–max" if several
                                                                   else "one seed per curve"))
        fig.tight_layout()
        path = plots / f"{metric}{_by(x)}.png"
        save_figure(fig, path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def plot_samples(path: Path, game: Any, rows: dict[str, Path], seed: int, device: str = "cpu") -> Path | None:
    """Grid of ``game.draw`` panels: one row per label (its run dir's snapshots), one column per step.

    Returns ``None`` when the game has no ``draw`` or no snapshots were saved.
    """
    from arena.runs.loop import eval_generator

    from games.base import Game

    if type(game).draw is Game.draw:
        return None  # the game has no picture
    snapshots = {label: sorted((d / "snapshots").glob("step-*.pt")) for label, d in rows.items()}
    snapshots = {k: v for k, v in snapshots.items() if v}
    if not snapshots:
        return _plot_final(path, game, rows, seed, device)
    cols = max(len(v) for v in snapshots.values())
    fig, axes = plt.subplots(len(snapshots), cols, figsize=(2.6 * cols, 2.6 * len(snapshots)), squeeze=False)
    for r, (label, files) in enumerate(snapshots.items()):
        for c, file in enumerate(files):
            step = int(file.stem.split("-")[1])
            params = load_snapshot(file, device)
            ax = axes[r, c]
            try:
                game.draw(params, ax, eval_generator(seed, step, torch.device(device)))
            except NotImplementedError:
                plt.close(fig)
                return None
            ax.set_title(f"step {step}", fontsize=9)
            if c == 0:
                ax.set_ylabel(label, fontsize=10)
        for c in range(len(files), cols):
            axes[r, c].axis("off")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)
    return path


def _plot_final(path: Path, game: Any, rows: dict[str, Path], seed: int, device: str) -> Path | None:
    """One panel per run from its newest parameters (a run that saved no snapshots: a plain
    ``diffgames run``), titled with the step; ``None`` when no run has parameters yet."""
    from arena.reports.sampling import load_params
    from arena.runs.loop import eval_generator
    from diffgames.errors import DiffgamesError

    found = {}
    for label, run_dir in rows.items():
        try:
            step, params, _ = load_params(run_dir, game)
        except DiffgamesError:
            continue
        found[label] = (step, {p: {k: v.to(device) for k, v in ps.items()} for p, ps in params.items()})
    if not found:
        return None
    fig, axes = plt.subplots(1, len(found), figsize=(3.2 * len(found), 3.4), squeeze=False)
    for ax, (label, (step, params)) in zip(axes[0], found.items()):
        game.draw(params, ax, eval_generator(seed, step, torch.device(device)))
        ax.set_title(f"{label}, step {step} (final)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def sweep_color_limits(grids: list[np.ndarray], share: bool) -> tuple[float | None, float | None]:
    """One colour scale for every panel of a sweep's heat map, so that a colour means the same
    value in each solver's panel: ``(0, 1)`` for shares of seeds, else the range of all cells.

    >>> sweep_color_limits([np.array([[0.0, 0.5]]), np.array([[0.25, 2.0]])], share=False)
    (0.0, 2.0)
    """
    if share:
        return 0.0, 1.0
    cells = np.concatenate([g.ravel() for g in grids]) if grids else np.array([])
    cells = cells[np.isfinite(cells)]
    return (float(cells.min()), float(cells.max())) if cells.size else (None, None)


def plot_sweep(path: Path, results: list[Any], metric: str, criterion: tuple[str, float] | None = None) -> Path | None:
    """Heat map of a sweep: one panel per solver, one cell per setting.

    A cell holds the share of the setting's seeds whose final ``metric`` meets ``criterion``
    (``(op, value)``, e.g. ``(">=", 8)``), or without one the metric's mean over seeds. Rows
    are the combinations of the first half of the sweep's keys, columns those of the rest,
    values in numeric order. ``None`` when the runs hold no sweep.
    """
    from arena.comparisons.cases import OPS
    from arena.parsing import is_number
    from arena.comparisons.sweep import parse_label

    swept = [r for r in results if getattr(r, "setting", None)]
    if not swept:
        return None
    names = list(parse_label(swept[0].setting))
    values: dict[str, list[str]] = {n: [] for n in names}
    for r in swept:
        for n, v in parse_label(r.setting).items():
            if v not in values.setdefault(n, []):
                values[n].append(v)
    for n in values:
        values[n].sort(key=lambda v: (0, float(v), "") if is_number(v) else (1, 0.0, v))
    split = (len(names) + 1) // 2
    row_keys, col_keys = names[:split], names[split:]
    rows = _combos(row_keys, values)
    cols = _combos(col_keys, values) or [()]
    labels = list(dict.fromkeys(r.label for r in swept))
    # each panel at least as wide as its two-line title, so that neighbouring titles never overlap
    width = max(0.95 * len(cols), 0.075 * max(len(label) for label in labels) + 0.3, 2.0)
    fig, axes = plt.subplots(1, len(labels), figsize=(1.0 + width * len(labels) + 1.2,
                                                       1.4 + 0.42 * len(rows)), squeeze=False)
    grids = {}
    for label in labels:
        grid = np.full((len(rows), len(cols)), np.nan)
        for i, rk in enumerate(rows):
            for j, ck in enumerate(cols):
                want = dict(zip(row_keys + col_keys, rk + ck))
                runs = [r for r in swept if r.label == label and parse_label(r.setting) == want]
                finals = [r.rows[-1].get(metric) if r.rows and r.status == "done" else None for r in runs]
                if criterion is not None:
                    op, bound = criterion
                    if runs:
                        grid[i, j] = sum(v is not None and OPS[op](v, bound) for v in finals) / len(runs)
                else:
                    finite = [v for v in finals if v is not None and math.isfinite(v)]
                    grid[i, j] = np.mean(finite) if finite else np.nan
        grids[label] = grid
    vmin, vmax = sweep_color_limits(list(grids.values()), criterion is not None)
    for ax, label in zip(axes[0], labels):
        grid = grids[label]
        image = ax.imshow(grid, cmap="RdYlGn" if criterion else "viridis", aspect="auto", vmin=vmin, vmax=vmax)
        for (i, j), v in np.ndenumerate(grid):
            ax.text(j, i, "–" if np.isnan(v) else f"{v:.2g}", ha="center", va="center", fontsize=7)
        ax.set_xticks(range(len(cols)), [",".join(f"{k}={v}" for k, v in zip(col_keys, c)) for c in cols],
                      rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(len(rows)), [",".join(f"{k}={v}" for k, v in zip(row_keys, r)) for r in rows]
                      if ax is axes[0][0] else [], fontsize=7)
        mean = np.nanmean(grid) if np.isfinite(grid).any() else None  # over settings
        ax.set_title(label + (f"\nmean over settings {mean:.3g}" if mean is not None else ""), fontsize=9)
    what = f"share of seeds with final {metric} {criterion[0]} {criterion[1]:g}" if criterion else f"final {metric}, mean over seeds"
    fig.colorbar(image, ax=list(axes[0]), shrink=0.8, label=what)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


_OP_NAMES = {">=": "ge", ">": "gt", "<=": "le", "<": "lt", "==": "eq"}


def sweep_figure_name(metric: str, criterion: tuple[str, float] | None = None) -> str:
    """``sweep-<metric>.png``, or ``sweep-<metric>-ge8.png`` for the criterion ``>= 8``."""
    return f"sweep-{metric}" + (f"-{_OP_NAMES[criterion[0]]}{criterion[1]:g}" if criterion else "") + ".png"


def _combos(keys: list[str], values: dict[str, list[str]]) -> list[tuple[str, ...]]:
    import itertools

    return list(itertools.product(*(values[k] for k in keys))) if keys else []
