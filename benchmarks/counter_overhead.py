"""What counting work costs: ``python -m benchmarks.counter_overhead [--k 0] [--repeats 15]``.

Times blocks of steps of the unrolled solver (alternating schedule) on the paper's App. A
mixture of Gaussians (``games.make("mog", layout="ring")``), with the solver seeing the game
itself and seeing it through :class:`arena.runs.work.WorkCounter` (what a run's engine does),
in interleaved rounds from the same parameters and data. Prints the ratio of the medians
(counted / plain) and the spread of the per-round ratios; above 1 the counter costs time.
"""
from __future__ import annotations

import argparse

import torch

import games
import solvers
from arena.runs.work import WorkCounter
from benchmarks.timing import interleaved, ratio


def block(solver, game, params, state, batches):
    """A function running the steps of ``batches`` from (``params``, ``state``) each call."""
    def run():
        p, s = params, state
        for batch in batches:
            p, s, _ = solver.step(game, p, s, batch)
    return run


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--k", type=int, default=0, help="unroll steps (0: the cheapest step, where the counter weighs most)")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--block", type=int, default=20, help="steps per timed block")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    game = games.make("mog", layout="ring")
    solver = solvers.make("unrolled", unroll_steps=args.k, schedule="alternating")
    params = game.init_params(0, torch.device("cpu"), torch.float32)
    state = solver.init(game, params)
    generator = torch.Generator().manual_seed(0)
    batches = [solver.sample_batch(game, generator, "cpu", state) for _ in range(args.block)]
    times = interleaved({"plain": block(solver, game, params, state, batches),
                         "counted": block(solver, WorkCounter(game), params, state, batches)},
                        args.repeats, torch.device("cpu"))
    result = {}
    for clock in ("cpu", "wall"):
        mid, low, high = ratio(times["counted"], times["plain"], clock)
        result[clock] = mid
        print(f"K = {args.k}, {args.block} steps per block, {args.repeats} rounds: counted / plain "
              f"({clock} clock) {mid:.3f} [per round {low:.3f}–{high:.3f}]")
    return result


if __name__ == "__main__":
    main()
