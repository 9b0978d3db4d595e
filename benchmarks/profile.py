"""Where the time of a step goes: ``python -m benchmarks.profile [--solver unrolled] [--K 5]``.

Profiles the toolkit's step on the mixture-of-Gaussians GAN (default networks) with
``torch.profiler`` and sums the operators' self CPU time into a few groups: matrix
products, elementwise work on activation-sized tensors (batch × hidden: the tanh
forward, backward and double backward, gradient accumulation), elementwise work on
parameter-sized tensors (the base optimizer's updates), and everything else (autograd
engine, views, small tensors, Python-side dispatch). Prints a markdown table.
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict

import torch
from torch.profiler import ProfilerActivity, profile

import games
from games.mog import NOTEBOOK_OPTIMIZERS, NOTEBOOK_SETTINGS
import solvers

__all__ = ["profile_step", "main"]

MATMUL = {"aten::mm", "aten::addmm", "aten::bmm", "aten::matmul", "aten::baddbmm"}


def _group(name: str, shapes: list, batch_rows: int, param_sizes: set[int]) -> str:
    if name in MATMUL:
        return "matrix products"
    if not name.startswith("aten::"):
        return "autograd engine and other"
    numel = 0
    for s in shapes:
        if isinstance(s, list) and s and all(isinstance(d, int) for d in s):
            n = 1
            for d in s:
                n *= d
            numel = max(numel, n)
    if numel >= batch_rows * 16:
        return "elementwise, activation-sized"
    if numel in param_sizes or numel >= 1000:
        return "elementwise, parameter-sized (optimizer)"
    return "small tensors, views, dispatch"


def profile_step(solver_name: str = "unrolled", options: dict | None = None, rounds: int = 3) -> dict[str, float]:
    """Milliseconds of self CPU time per step in each group (and ``"total"``)."""
    torch.set_num_threads(1)
    game = games.make("mog", **NOTEBOOK_SETTINGS)  # the configuration performance.md profiles
    params = game.init_params(0)
    batch = game.sample(torch.Generator().manual_seed(0), "cpu")
    solver = solvers.make(solver_name, **{"optimizers": NOTEBOOK_OPTIMIZERS, **(options or {})})
    state = solver.init(game, params)
    step = lambda: solver.step(game, params, state, batch)  # noqa: E731
    step(), step()
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(rounds):
            step()
    sizes = {v.numel() for ps in params.values() for v in ps.values()}
    sizes.add(sum(v.numel() for v in params["discriminator"].values()))
    totals: dict[str, float] = defaultdict(float)
    for event in prof.key_averages(group_by_input_shape=True):
        group = _group(event.key, event.input_shapes, 2 * game.batch_size, sizes)
        totals[group] += event.self_cpu_time_total / 1000 / rounds
    totals["total"] = sum(totals.values())
    return dict(totals)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile",
                                     description="Where the time of a solver step on the MOG GAN goes, by operator group.")
    parser.add_argument("--solver", default="unrolled")
    parser.add_argument("--K", type=int, default=5, help="unroll_steps (unrolled only)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    options = {"unroll_steps": args.K} if args.solver == "unrolled" else {}
    totals = profile_step(args.solver, options, args.rounds)
    total = totals.pop("total")
    print(f"| {args.solver} {options or ''} step: group | ms/step (self CPU) | share |\n|---|---|---|")
    for group, ms in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"| {group} | {ms:.1f} | {100 * ms / total:.0f}% |")
    print(f"| total (profiled, includes profiler overhead) | {total:.1f} | 100% |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
