"""Figures a reader can place: a titled metrics.png with log axes for exponentially
converging metrics, samples.png after a plain GAN run, one curve per sweep setting, and
heat-map panel titles that do not overlap."""
from __future__ import annotations

import pytest

import arena.reports.plots as plots
from arena.cli.main import main
from arena.comparisons.compare import RunResult
from arena.reports.plots import plot_sweep


@pytest.fixture
def figures(monkeypatch):
    """Every figure the plots module closes, kept for inspection."""
    kept = []
    close = plots.plt.close

    def keep(fig=None):
        kept.append(fig)
        close(fig)

    monkeypatch.setattr(plots.plt, "close", keep)
    return kept


def test_metrics_png_has_a_title_and_a_log_axis_for_a_converging_distance(tmp_path, figures, capsys):
    out = tmp_path / "run"
    assert main(["run", "--game", "bilinear", "--solver", "optimistic", "--lr", "0.1", "--steps", "600",
                 "--eval-every", "20", "--out", str(out), "--quiet"]) == 0
    assert (out / "metrics.png").is_file()
    fig = figures[0]
    assert fig._suptitle.get_text() == "bilinear · optimistic · sgd (lr 0.1) · seed 0"
    scales = {ax.get_title(): ax.get_yscale() for ax in fig.axes}
    assert scales["distance_to_equilibrium"] == "log"  # 3.4 → 0.16: exponential convergence
    assert scales["loss_x (= −loss_y)"] == "linear"  # changes sign


def test_a_plain_gan_run_writes_samples_png(tmp_path, capsys):
    out = tmp_path / "gan"
    assert main(["run", "--game", "mog", "--game-opt", "eval_samples=200", "--game-opt", "batch_size=32",
                 "--solver", "simultaneous", "--steps", "2", "--eval-every", "2", "--out", str(out), "--quiet"]) == 0
    assert (out / "samples.png").stat().st_size > 1000
    assert "samples.png" in capsys.readouterr().out


def test_sweep_curves_one_per_setting(tmp_path, monkeypatch):
    from arena.cli import commands

    seen = {}
    monkeypatch.setattr(commands, "plot_comparison", lambda out, groups, label, x="step": seen.update(groups) or [])
    rows = [{"step": 0, "m": 1.0}]
    results = [RunResult("sim", s, tmp_path, {"status": "done"}, rows, setting=f"lr={lr}")
               for lr in (0.1, 0.2) for s in (0, 1)]
    monkeypatch.setattr(commands, "_step_label", lambda results: "step")
    commands._plot_comparison_dir(tmp_path, None, results)
    assert sorted(seen) == ["sim · lr=0.1", "sim · lr=0.2"] and all(len(v) == 2 for v in seen.values())


def test_heat_map_panel_titles_do_not_overlap(tmp_path, figures):
    results = [RunResult(label, seed, tmp_path, {"status": "done"}, [{"step": 0, "m": seed / 2}],
                         setting=f"lr={lr}")
               for label in ("simultaneous-long-label", "alternating-long-label") for lr in (0.1, 0.2)
               for seed in (0, 1)]
    assert plot_sweep(tmp_path / "sweep.png", results, "m", (">=", 0.5)) is not None
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = figures[-1]
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    boxes = [ax.title.get_window_extent(renderer) for ax in fig.axes if ax.get_title()]
    assert len(boxes) == 2 and boxes[0].x1 < boxes[1].x0


def test_a_heat_map_of_means_gives_every_panel_one_colour_scale(tmp_path, figures):
    # one solver's means are ten times the other's: each panel's own scale would paint both
    # panels' highest cell the same colour
    results = [RunResult(label, 0, tmp_path, {"status": "done"}, [{"step": 0, "m": scale * lr}], setting=f"lr={lr}")
               for label, scale in (("small", 1.0), ("large", 10.0)) for lr in (0.1, 0.2)]
    assert plot_sweep(tmp_path / "sweep.png", results, "m") is not None
    images = [ax.images[0] for ax in figures[-1].axes if ax.images]
    assert len(images) == 2
    assert [image.get_clim() for image in images] == [pytest.approx((0.1, 2.0))] * 2


def test_shares_of_seeds_are_coloured_on_zero_to_one():
    import numpy as np

    assert plots.sweep_color_limits([np.array([[0.5, np.nan]])], share=True) == (0.0, 1.0)
    assert plots.sweep_color_limits([np.array([[np.nan]])], share=False) == (None, None)
