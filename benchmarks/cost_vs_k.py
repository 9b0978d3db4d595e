"""The cost of unrolling against K: time, work and memory per step of the Unrolled GAN
paper's mixture-of-Gaussians configuration (Metz et al. 2017, App. A).

Claim under test (a review of the paper): "the computation grows in proportion to K". The
configuration is the paper's: ``games.make("mog", layout="ring")`` (its defaults are App. A)
and ``solvers.make("unrolled", unroll_steps=K, schedule="alternating")``: one player per
step, the discriminator on odd steps and the generator, through K unrolled discriminator
steps, on even steps. Every number is per step averaged over whole pairs of steps (one of
each player), so a K = 0 step and a K = 20 step mean the same thing.

For each K:

* **ms per step**: one training step as the engine takes it (``solver.sample_batch`` then
  ``solver.step`` on the game wrapped in the engine's work counter; no evaluation),
  interleaved across K (:func:`benchmarks.timing.interleaved`: one block of steps of every K
  per round, rotating the order, after warm-up rounds), the median over rounds; on the wall
  clock and, on CPU, the process's CPU time, which a loaded machine disturbs much less.
  ``×K=0`` is :func:`benchmarks.timing.ratio`: the ratio of the medians and the min–max of
  the per-round ratios.
* **work per step**: loss-gradient evaluations counted by the engine's counter
  (:class:`arena.runs.work.WorkCounter`) over the timed steps; reported, not assumed.
* **memory per step**: bytes of the distinct tensor storages autograd saves for backward
  during one step (:func:`benchmarks.timing.saved_tensor_bytes`, parameters included), the
  larger of the two steps of a pair; machine-independent. On CUDA also the peak allocation
  above the step's start (``torch.cuda.max_memory_allocated``,
  :func:`benchmarks.timing.peak_memory`).
* a least-squares line through each of the three against K: slope, intercept, R², and the
  relative residual of every point.

Every K starts from the same point a few hundred steps into training (``--train-steps`` of
the cheap K = 0 schedule: a step's cost does not depend on where training is, but step 0
is unrepresentative of caches and allocator state), with the same data stream, then takes
``--warmup`` steps of its own before anything is measured.

Command::

    python -m benchmarks.cost_vs_k [--ks 0,1,2,5,10,20] [--repeats 5] [--out docs/results]

prints the table and writes ``OUT/cost-vs-k.md`` and ``OUT/figures/cost-vs-k.png``.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils._pytree import tree_map, tree_structure

import games
import solvers
from arena.runs.work import WorkCounter
from benchmarks.timing import Samples, interleaved, linear_fit, peak_memory, ratio, saved_tensor_bytes
from diffgames.machine import machine_description

__all__ = ["Fit", "fit_line", "Trainer", "KResult", "Measurement", "measure", "table", "write_page",
           "write_figure", "main"]

MiB = 2**20
#: A cost is called linear in K when its straight-line fit has R² at least this ...
LINEAR_R2 = 0.99
#: ... and no point is further than this (relative) from the line.
LINEAR_RESIDUAL = 0.10
_ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------- the fit
@dataclass
class Fit:
    """A least-squares line ``y ≈ slope·K + intercept`` through ``(xs, ys)``."""

    xs: list[float]
    slope: float
    intercept: float
    r2: float
    residuals: list[float]  # (y - fitted) / y at every point, signed

    @property
    def max_residual(self) -> float:
        return max(abs(r) for r in self.residuals)

    @property
    def worst_x(self) -> float:
        """The x of the point furthest (relatively) from the line."""
        return self.xs[max(range(len(self.xs)), key=lambda i: abs(self.residuals[i]))]

    @property
    def linear(self) -> bool:
        return self.r2 >= LINEAR_R2 and self.max_residual <= LINEAR_RESIDUAL

    def at(self, x: float) -> float:
        return self.slope * x + self.intercept

    def equation(self, unit: str = "", digits: int = 3) -> str:
        sign = "+" if self.intercept >= 0 else "−"
        return (f"{self.slope:.{digits}g}{unit}·K {sign} {abs(self.intercept):.{digits}g}{unit}"
                f" (R² = {self.r2:.4f})")


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> Fit:
    """Least squares (:func:`benchmarks.timing.linear_fit`), with R² = 1 − SS_res / SS_tot
    (1 when every ``y`` is the same and the line goes through them) and the signed relative
    residual of every point."""
    xs, ys = [float(x) for x in xs], [float(y) for y in ys]
    slope, intercept, _ = linear_fit(xs, ys)
    fitted = [slope * x + intercept for x in xs]
    mean = sum(ys) / len(ys)
    ss_res = sum((y - f) ** 2 for y, f in zip(ys, fitted))
    ss_tot = sum((y - mean) ** 2 for y in ys)
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else (1.0 if ss_res <= 1e-24 else 0.0)
    residuals = [(y - f) / y if y != 0 else (0.0 if f == 0 else float("inf")) for y, f in zip(ys, fitted)]
    return Fit(xs, slope, intercept, r2, residuals)


# ---------------------------------------------------------------------------- one K
class Trainer:
    """One K's training, stepped as the engine steps it (``arena/runs/engine.py:SingleEngine``):
    ``batch = solver.sample_batch(game, generator, device, state)`` then
    ``solver.step(counter, params, state, batch)``, the game seen through a
    :class:`~arena.runs.work.WorkCounter`."""

    def __init__(self, game, unroll_steps: int, params, state, generator_state: torch.Tensor,
                 device: torch.device):
        self.K, self.game, self.device = int(unroll_steps), game, device
        self.solver = solvers.make("unrolled", unroll_steps=self.K, schedule="alternating")
        fresh = self.solver.init(game, params)
        if tree_structure(fresh) != tree_structure(state):
            raise ValueError(f"K = {self.K}: the solver's state differs in structure from the one given")
        copy = lambda t: t.clone() if isinstance(t, torch.Tensor) else t  # noqa: E731
        self.params, self.state = tree_map(copy, params), tree_map(copy, state)
        self.generator = torch.Generator(device=device)
        self.generator.set_state(generator_state.clone())
        self.counter = WorkCounter(game)
        self.steps_taken = 0

    def step(self) -> None:
        batch = self.solver.sample_batch(self.game, self.generator, self.device, self.state)
        self.params, self.state, _ = self.solver.step(self.counter, self.params, self.state, batch)
        self.steps_taken += 1

    def steps(self, n: int) -> None:
        for _ in range(n):
            self.step()

    def generators_turn(self) -> bool:
        return self.solver.leaders_turn(self.state)

    def pair_memory(self) -> tuple[int, int, int | None, int | None]:
        """One pair of steps, each measured: ``(discriminator's saved bytes, generator's saved
        bytes, discriminator's CUDA peak, generator's CUDA peak)`` (peaks ``None`` off CUDA).
        The saved-tensor bytes are measured on one step and the CUDA peak on the next pair's
        step of the same player, so that the hooks do not disturb the peak."""
        if self.generators_turn():
            self.step()  # start the pair on the discriminator's step
        d_saved = saved_tensor_bytes(self.step)
        g_saved = saved_tensor_bytes(self.step)
        if self.device.type != "cuda":
            return d_saved, g_saved, None, None
        d_peak = peak_memory(self.step, self.device)
        g_peak = peak_memory(self.step, self.device)
        return d_saved, g_saved, d_peak, g_peak


def pretrained(game, seed: int, steps: int, device: torch.device, dtype: torch.dtype = torch.float32):
    """``(params, solver state, data generator state)`` after ``steps`` steps (an even
    number) of the alternating K = 0 schedule from ``seed``."""
    if steps % 2:
        raise ValueError(f"--train-steps must be even (whole pairs of steps), got {steps}")
    params = game.init_params(seed, device, dtype)
    state = solvers.make("unrolled", unroll_steps=0, schedule="alternating").init(game, params)
    trainer = Trainer(game, 0, params, state, torch.Generator(device=device).manual_seed(seed).get_state(), device)
    trainer.steps(steps)
    return trainer.params, trainer.state, trainer.generator.get_state()


# ---------------------------------------------------------------------------- the measurement
@dataclass
class KResult:
    K: int
    samples: Samples  # per-round seconds of one block of ``block`` steps
    block: int
    work: dict[str, int]  # per player, over ``work_steps`` steps
    work_steps: int
    saved: tuple[int, int]  # bytes saved for backward: discriminator's step, generator's step
    cuda_peak: tuple[int, int] | None = None

    def ms(self, clock: str) -> float:
        return 1e3 * self.samples.median(clock) / self.block

    @property
    def work_per_step(self) -> float:
        return sum(self.work.values()) / self.work_steps

    @property
    def saved_mib(self) -> float:
        return max(self.saved) / MiB

    @property
    def cuda_peak_mib(self) -> float | None:
        return None if self.cuda_peak is None else max(self.cuda_peak) / MiB


@dataclass
class Measurement:
    results: list[KResult]
    device: torch.device
    repeats: int
    block: int
    train_steps: int
    warmup: int
    rounds_warmup: int
    load: tuple[float, float]  # 1-minute load average before and after
    seconds: float
    fits: dict[str, Fit] = field(default_factory=dict)

    @property
    def ks(self) -> list[int]:
        return [r.K for r in self.results]

    @property
    def clock(self) -> str:
        """The clock the headline numbers use: process CPU time on CPU (robust to the load of
        a shared machine with one torch thread), wall time on CUDA (the CPU only launches)."""
        return "wall" if self.device.type == "cuda" else "cpu"

    def result(self, K: int) -> KResult:
        return next(r for r in self.results if r.K == K)


def measure(ks: Sequence[int], repeats: int = 5, block: int = 10, train_steps: int = 200, warmup: int = 20,
            seed: int = 0, device: torch.device | str = "cpu", game=None, rounds_warmup: int = 2) -> Measurement:
    """Time, work and memory per step of every K in ``ks`` (see the module docstring).
    ``block``, ``train_steps`` and ``warmup`` are numbers of steps and must be even."""
    device = torch.device(device)
    ks = [int(k) for k in ks]
    if len(set(ks)) != len(ks) or len(ks) < 2 or any(k < 0 for k in ks):
        raise ValueError(f"--ks must be at least two distinct non-negative integers, got {ks}")
    for name, n in (("--block", block), ("--warmup", warmup)):
        if n % 2 or n < 0 or (name == "--block" and n == 0):
            raise ValueError(f"{name} must be an even number of steps (whole pairs), got {n}")
    started, load0 = time.perf_counter(), os.getloadavg()[0]
    game = games.make("mog", layout="ring") if game is None else game
    params, state, gen_state = pretrained(game, seed, train_steps, device)
    trainers = {K: Trainer(game, K, params, state, gen_state, device) for K in ks}
    for tr in trainers.values():
        tr.steps(warmup)
    before = {K: (dict(tr.counter.counts), tr.steps_taken) for K, tr in trainers.items()}
    samples = interleaved({f"K={K}": (lambda tr=tr: tr.steps(block)) for K, tr in trainers.items()},
                          repeats, device, warmup=rounds_warmup)
    results = []
    for K, tr in trainers.items():
        counts0, steps0 = before[K]
        work = {p: tr.counter.counts[p] - counts0[p] for p in tr.counter.counts}
        work_steps = tr.steps_taken - steps0
        d_saved, g_saved, d_peak, g_peak = tr.pair_memory()
        results.append(KResult(K, samples[f"K={K}"], block, work, work_steps, (d_saved, g_saved),
                               None if d_peak is None else (d_peak, g_peak)))
    m = Measurement(results, device, repeats, block, train_steps, warmup, rounds_warmup, (load0, os.getloadavg()[0]),
                    time.perf_counter() - started)
    xs = [float(r.K) for r in results]
    clocks = ["wall"] if device.type == "cuda" else ["cpu", "wall"]
    for clock in clocks:
        m.fits[f"ms_{clock}"] = fit_line(xs, [r.ms(clock) for r in results])
    unrolled = [r for r in results if r.K > 0]
    if len(unrolled) >= 3 and len(unrolled) < len(results):
        # K = 0 takes another path (the generator's own gradient, no unroll): the line without it
        m.fits[f"ms_{m.clock}_unrolled"] = fit_line([float(r.K) for r in unrolled], [r.ms(m.clock) for r in unrolled])
    m.fits["work"] = fit_line(xs, [r.work_per_step for r in results])
    m.fits["saved"] = fit_line(xs, [r.saved_mib for r in results])
    if device.type == "cuda":
        m.fits["cuda_peak"] = fit_line(xs, [r.cuda_peak_mib for r in results])
    return m


# ---------------------------------------------------------------------------- the output
def table(m: Measurement) -> list[str]:
    """The markdown table: one row per K."""
    clock, other = m.clock, ("wall" if m.clock == "cpu" else None)
    base = m.result(min(m.ks))
    fit = m.fits[f"ms_{clock}"]
    head = ["K", f"ms/step ({'CPU' if clock == 'cpu' else 'wall'})"]
    if other:
        head.append("ms/step (wall)")
    head += [f"×K={base.K} ({'CPU' if clock == 'cpu' else 'wall'}) [min–max]", "work/step", "saved MiB/step"]
    if m.device.type == "cuda":
        head.append("peak MiB/step (CUDA)")
    head.append("fit residual")
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r, res in zip(m.results, fit.residuals):
        med, lo, hi = ratio(r.samples, base.samples, clock)
        cells = [str(r.K), f"{r.ms(clock):.2f}"]
        if other:
            cells.append(f"{r.ms(other):.2f}")
        cells += [f"**{med:.2f}×** [{lo:.2f}–{hi:.2f}]", f"{r.work_per_step:.2f}", f"{r.saved_mib:.2f}"]
        if m.device.type == "cuda":
            cells.append(f"{r.cuda_peak_mib:.2f}")
        cells.append(f"{100 * res:+.1f}%")
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def _verdict(name: str, fit: Fit, unit: str) -> str:
    word = "linear in K" if fit.linear else "**not** linear in K"
    return (f"- {name}: {fit.equation(unit)}; largest relative residual {100 * fit.max_residual:.1f}% "
            f"(K = {fit.worst_x:g}): {word}.")


def summary(m: Measurement) -> list[str]:
    """What the fits say: linear or not, the cost of one more unrolled step, K = 10 / K = 0."""
    clock = m.clock
    name = "CPU" if clock == "cpu" else "wall"
    lines = [f"Straight lines by least squares against K over K = {', '.join(map(str, m.ks))}; a cost is called "
             f"linear in K when R² ≥ {LINEAR_R2} and every point lies within {100 * LINEAR_RESIDUAL:.0f}% "
             "of the line.",
             "", _verdict(f"time per step ({name} clock)", m.fits[f"ms_{clock}"], " ms")]
    if clock == "cpu":
        lines.append(_verdict("time per step (wall clock)", m.fits["ms_wall"], " ms"))
    lines.append(_verdict("work per step (loss-gradient evaluations)", m.fits["work"], ""))
    lines.append(_verdict("memory per step (saved for backward)", m.fits["saved"], " MiB"))
    if "cuda_peak" in m.fits:
        lines.append(_verdict("memory per step (CUDA peak)", m.fits["cuda_peak"], " MiB"))
    if f"ms_{clock}_unrolled" in m.fits:
        lines.append(_verdict(f"time per step ({name} clock), K ≥ 1 only (K = 0 takes another path: the "
                              "generator's own gradient, no unroll)", m.fits[f"ms_{clock}_unrolled"], " ms"))
    fit = m.fits[f"ms_{clock}"]
    lines.append(f"- One more unrolled step costs **{fit.slope:.2f} ms** per step ({name} clock; "
                 f"{2 * fit.slope:.2f} ms per generator step), "
                 f"{m.fits['work'].slope:.2f} loss-gradient evaluations and {m.fits['saved'].slope:.2f} MiB "
                 f"saved for backward.")
    base = m.result(min(m.ks))
    target = 10 if 10 in m.ks else max(m.ks)
    if target != base.K:
        r = m.result(target)
        med, lo, hi = ratio(r.samples, base.samples, clock)
        lines.append(f"- A K = {target} step costs **{med:.2f}×** a K = {base.K} step ({name} clock; per-round "
                     f"ratios {lo:.2f}–{hi:.2f}); in work {r.work_per_step / base.work_per_step:.2f}×, in "
                     f"saved memory {r.saved_mib / base.saved_mib:.2f}×.")
    return lines


def _git_commit() -> str:
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(_ROOT), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "--short", "HEAD")
    if commit is None:
        return "unknown (not a git checkout)"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return f"{commit} ({'with uncommitted changes in the tree' if dirty else 'clean tree'})"


def header(m: Measurement, command: str) -> list[str]:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return [
        "# The cost of unrolling against K",
        "",
        "Claim under test (a review of Metz et al. 2017, *Unrolled Generative Adversarial Networks*): "
        "\"the computation grows in proportion to K\". Configuration: the paper's App. A mixture of "
        "Gaussians (`games.make(\"mog\", layout=\"ring\")`: 8 modes; generator 2 × 128 ReLU, "
        "discriminator 1 × 128 ReLU with its input scaled by 1/4, orthogonal init gain 0.8, latent 256, "
        "batch 512, Adam lr 1e-4) and `solvers.make(\"unrolled\", unroll_steps=K, "
        "schedule=\"alternating\")`: the discriminator on odd steps, the generator through K unrolled "
        "discriminator steps on even steps. Per step = averaged over whole pairs of steps.",
        "",
        f"- **Command**: `{command}` (`benchmarks/cost_vs_k.py`)",
        f"- **Commit**: {_git_commit()}",
        f"- **Date**: {now}",
        f"- **Machine**: {machine_description(str(m.device))}",
        f"- **Device**: {m.device}; torch {torch.__version__}; **{torch.get_num_threads()} torch thread(s)** "
        f"(`torch.set_num_threads(1)`); Python {platform.python_version()}",
        f"- **Load**: 1-minute load average {m.load[0]:.2f} at the start and {m.load[1]:.2f} at the end, on "
        f"{os.cpu_count()} logical CPUs (`os.getloadavg()`); the measurement took {m.seconds:.0f} s"
        + (". **The machine was shared** (more runnable processes than CPUs): the wall clock includes waiting "
           "for a CPU, which is why the K are timed interleaved and the CPU-clock column leads."
           if max(m.load) > (os.cpu_count() or 1) and m.device.type != "cuda" else ""),
        f"- **Method**: every K starts from the same point, {m.train_steps} steps into training (K = 0 "
        f"schedule, seed 0), with the same data stream, and takes {m.warmup} steps of its own; then "
        f"{m.repeats} rounds (after {m.rounds_warmup} warm-up rounds) of one block of {m.block} steps of every K, in a "
        f"rotating order (`benchmarks.timing.interleaved`), so that the machine's load hits every K alike; "
        f"ms/step = median block time / {m.block}. A step is what the engine times: "
        "`solver.sample_batch` + `solver.step` on the game seen through the work counter. "
        "Work: loss-gradient evaluations counted by `arena.runs.work.WorkCounter` over the "
        f"{(m.rounds_warmup + m.repeats) * m.block} timed steps. Memory: bytes of the distinct storages autograd saves "
        "for backward during one step (`saved_tensors_hooks`, parameters included), the larger of the "
        "pair's two steps (the generator's)."
        + (" Peak: `torch.cuda.max_memory_allocated` above the step's start, the larger of the pair."
           if m.device.type == "cuda" else ""),
    ]


def write_figure(m: Measurement, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only
    import matplotlib.pyplot as plt

    ks = m.ks
    line = [min(ks), max(ks)]
    clock = m.clock
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    panels = [
        (axes[0], [(f"ms_{clock}", [r.ms(clock) for r in m.results],
                    f"{'CPU' if clock == 'cpu' else 'wall'} time", "o", " ms")],
         "time per step", "ms per step"),
        (axes[1], [("work", [r.work_per_step for r in m.results], "counted", "s", "")],
         "work per step", "loss-gradient evaluations per step"),
        (axes[2], [("saved", [r.saved_mib for r in m.results], "saved for backward", "^", " MiB")],
         "memory per step (the pair's larger step)", "MiB per step"),
    ]
    if clock == "cpu":
        panels[0][1].append(("ms_wall", [r.ms("wall") for r in m.results], "wall time", "x", " ms"))
    if m.device.type == "cuda":
        panels[2][1].append(("cuda_peak", [r.cuda_peak_mib for r in m.results], "CUDA peak", "v", " MiB"))
    for ax, series, title, ylabel in panels:
        for key, ys, label, marker, unit in series:
            fit = m.fits[key]
            points = ax.plot(ks, ys, marker, label=label)[0]
            ax.plot(line, [fit.at(x) for x in line], "-", color=points.get_color(), alpha=0.6,
                    label=f"fit: {fit.equation(unit)}")
            if f"{key}_unrolled" in m.fits:
                part = m.fits[f"{key}_unrolled"]
                span = [min(part.xs), max(part.xs)]
                ax.plot(span, [part.at(x) for x in span], "--", color=points.get_color(), alpha=0.9,
                        label=f"fit, K ≥ 1: {part.equation(unit)}")
        ax.set_title(title)
        ax.set_xticks(ks)
        ax.set_xlabel("K (unrolled discriminator steps)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Unrolled GAN, App. A MOG, alternating schedule: cost per step against K ({m.device}, "
                 f"{torch.get_num_threads()} thread)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_page(m: Measurement, out: Path, command: str) -> tuple[Path, Path]:
    """``out/cost-vs-k.md`` and ``out/figures/cost-vs-k.png``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    figure = out / "figures" / "cost-vs-k.png"
    write_figure(m, figure)
    page = out / "cost-vs-k.md"
    text = header(m, command) + ["", "## Per step", "", *table(m), "",
                                 "Fit residual: (measured − fitted) / measured, of the "
                                 f"{'CPU' if m.clock == 'cpu' else 'wall'}-time line.", "",
                                 "## Fit", "", *summary(m), "",
                                 "![time, work and memory per step against K](figures/cost-vs-k.png)", ""]
    page.write_text("\n".join(text), encoding="utf-8")
    return page, figure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cost_vs_k", description=__doc__.split("\n\n")[0])
    parser.add_argument("--ks", default="0,1,2,5,10,20", help="unroll steps K, comma-separated (default 0,1,2,5,10,20)")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds, after 2 warm-up rounds (default 5)")
    parser.add_argument("--block", type=int, default=10, help="steps per K per round, even (default 10)")
    parser.add_argument("--train-steps", type=int, default=200,
                        help="steps of training (K = 0) before the measurement, even (default 200)")
    parser.add_argument("--warmup", type=int, default=20,
                        help="steps of each K before the measurement, even (default 20)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:i] (default cpu)")
    parser.add_argument("--out", default="docs/results",
                        help="folder for cost-vs-k.md and figures/ (default docs/results)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    try:
        ks = [int(k) for k in args.ks.split(",")]
        m = measure(ks, args.repeats, args.block, args.train_steps, args.warmup, device=device)
    except ValueError as e:
        parser.error(str(e))
    command = "python -m benchmarks.cost_vs_k " + " ".join(sys.argv[1:] if argv is None else argv)
    page, figure = write_page(m, Path(args.out), command.strip())
    print("\n".join([machine_description(str(device)), "", *table(m), "", *summary(m), "",
                     f"written: {page}, {figure}"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
