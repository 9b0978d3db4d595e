"""The Unrolled GAN paper's mixture-of-Gaussians configuration (Metz et al. 2017, App. A):
the toolkit against a hand-written script, per step and over a whole run.

The hand-written side is what a user would write without the toolkit: the game's two
networks as ``nn.Module`` copies, ``torch.optim.Adam``, the saturating losses written out,
``higher.innerloop_ctx`` for the generator's step through K unrolled discriminator steps,
and the same alternating schedule (odd steps: the discriminator; even steps: the
generator), data drawn as the game draws it, and the same evaluation (2,500 samples,
:func:`diffgames.metrics.modes.mode_metrics`) every ``eval_every`` steps.

Commands::

    python -m benchmarks.paper_mog steps [--ks 0,10]          # interleaved per-step times
    python -m benchmarks.paper_mog whole [--steps 30000]       # whole runs, one process each
    python -m benchmarks.paper_mog hand --unroll-steps 10      # one hand-written run (used by `whole`)

``whole`` starts, for each K, the toolkit's ``diffgames run`` and the hand-written run as
two processes at the same time (one torch thread each, one core each on a 2-core machine),
so that both meet the same machine load, and reports the ratio of their wall times.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

import games
import solvers
from benchmarks.baselines import load_nets, torch_optimizer
from benchmarks.timing import interleaved, ratio
from diffgames.machine import machine_description
from diffgames.metrics.modes import mode_metrics

__all__ = ["HandWrittenAppendix", "hand_run"]


def _d_loss(D, real: Tensor, fake: Tensor) -> Tensor:
    logits = D(torch.cat([real, fake])).squeeze(-1)
    n = real.shape[0]
    return F.softplus(-logits[:n]).mean() + F.softplus(logits[n:]).mean()


class HandWrittenAppendix:
    """App. A training by hand: one player per step, the generator through K unrolled
    discriminator steps (``higher``, second order), the saturating generator loss."""

    def __init__(self, game, params, optimizers: Mapping[str, Mapping], unroll_steps: int):
        self.G, self.D = load_nets(game, params)
        self.g_opt = torch_optimizer(optimizers["generator"], self.G.parameters())
        self.d_opt = torch_optimizer(optimizers["discriminator"], self.D.parameters())
        self.K, self.updates = int(unroll_steps), 0

    def step(self, batch: Mapping[str, Tensor]) -> None:
        z, real = batch["z"], batch["real"]
        if self.updates % 2 == 0:  # the discriminator's step
            self.d_opt.zero_grad(set_to_none=True)
            with torch.no_grad():
                fake = self.G(z)
            _d_loss(self.D, real, fake).backward()
            self.d_opt.step()
        elif self.K == 0:
            self.g_opt.zero_grad(set_to_none=True)
            (-_d_loss(self.D, real, self.G(z))).backward()
            self.g_opt.step()
        else:
            import higher

            self.g_opt.zero_grad(set_to_none=True)
            with higher.innerloop_ctx(self.D, self.d_opt, copy_initial_weights=True) as (fD, diffopt):
                fake = self.G(z)
                for _ in range(self.K):
                    diffopt.step(_d_loss(fD, real, fake))
                (-_d_loss(fD, real, fake)).backward()
            self.g_opt.step()
        self.updates += 1

    def params(self) -> dict[str, dict[str, Tensor]]:
        return {"generator": dict(self.G.named_parameters()), "discriminator": dict(self.D.named_parameters())}


def hand_run(steps: int, unroll_steps: int, seed: int = 0, eval_every: int = 500) -> dict:
    """A whole hand-written run of the appendix's configuration; its final metrics."""
    game = games.make("mog")
    hand = HandWrittenAppendix(game, game.init_params(seed), game.default_optimizers(), unroll_steps)
    data = torch.Generator().manual_seed(seed)
    metrics: dict = {}
    for step in range(1, steps + 1):
        idx = torch.randint(game.modes, (game.batch_size,), generator=data)
        noise = torch.randn(game.batch_size, 2, generator=data)
        z = torch.randn(game.batch_size, game.latent_size, generator=data)
        hand.step({"real": game.centers_on("cpu")[idx] + game.std * noise, "z": z})
        if step % eval_every == 0 or step == steps:
            with torch.no_grad():
                samples = hand.G(torch.randn(game.eval_samples, game.latent_size, generator=data))
            metrics = {"step": step, **mode_metrics(samples, game.centers_on("cpu"), game.std)}
    return metrics


def per_step(ks: list[int], repeats: int) -> list[str]:
    game = games.make("mog")
    rows = []
    for K in ks:
        params = game.init_params(0)
        solver = solvers.make("unrolled", unroll_steps=K, schedule="alternating")
        held = [params, solver.init(game, params)]
        hand = HandWrittenAppendix(game, params, game.default_optimizers(), K)
        batch = game.sample(torch.Generator().manual_seed(0), "cpu")

        def toolkit_pair():  # a discriminator step and a generator step
            for _ in range(2):
                held[0], held[1], _ = solver.step(game, held[0], held[1], batch)

        def hand_pair():
            hand.step(batch), hand.step(batch)

        s = interleaved({"toolkit": toolkit_pair, "hand": hand_pair}, repeats, torch.device("cpu"))
        r_wall, r_cpu = ratio(s["toolkit"], s["hand"], "wall"), ratio(s["toolkit"], s["hand"], "cpu")
        rows.append(f"| K = {K} | {500 * s['toolkit'].median('wall'):.2f} | {500 * s['hand'].median('wall'):.2f} | "
                    f"**{r_wall[0]:.2f}×** [{r_wall[1]:.2f}–{r_wall[2]:.2f}] | **{r_cpu[0]:.2f}×** "
                    f"[{r_cpu[1]:.2f}–{r_cpu[2]:.2f}] |")
    return ["| configuration | toolkit ms/step | hand-written ms/step | wall ratio | CPU ratio |",
            "|---|---|---|---|---|", *rows]


def whole(ks: list[int], steps: int, eval_every: int) -> list[str]:
    rows = []
    for K in ks:
        with tempfile.TemporaryDirectory() as tmp:
            toolkit = [sys.executable, "-m", "arena.cli.main", "run", "--game", "mog", "--solver", "unrolled",
                       "--solver-opt", f"unroll_steps={K}", "--solver-opt", "schedule=alternating",
                       "--steps", str(steps), "--eval-every", str(eval_every), "--threads", "1", "--quiet",
                       "--out", str(Path(tmp) / "run")]
            hand = [sys.executable, "-m", "benchmarks.paper_mog", "hand", "--unroll-steps", str(K),
                    "--steps", str(steps), "--eval-every", str(eval_every)]
            started = time.perf_counter()
            procs = {"toolkit": subprocess.Popen(toolkit, stdout=subprocess.DEVNULL),
                     "hand": subprocess.Popen(hand, stdout=subprocess.PIPE, text=True)}
            ended = {}
            while len(ended) < 2:
                for name, p in procs.items():
                    if name not in ended and p.poll() is not None:
                        ended[name] = time.perf_counter() - started
                        if p.returncode:
                            raise SystemExit(f"the {name} run failed ({p.returncode}): {' '.join(p.args)}")
                time.sleep(0.2)
            final = json.loads(procs["hand"].stdout.read())
            summary = json.loads((Path(tmp) / "run" / "summary.json").read_text())
            ours = summary["final_metrics"]
        rows.append(f"| K = {K} | {steps:,} | {ended['toolkit']:.0f} | {ended['hand']:.0f} | "
                    f"**{ended['toolkit'] / ended['hand']:.2f}×** | {ours['modes_covered_1pct']:.0f} / "
                    f"{final['modes_covered_1pct']:.0f} |")
    return ["| configuration | steps | toolkit run s | hand-written run s | ratio | strict modes (toolkit / hand) |",
            "|---|---|---|---|---|---|", *rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.paper_mog", description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["steps", "whole", "hand"])
    parser.add_argument("--ks", default="0,10", help="unroll steps to compare, comma-separated (default 0,10)")
    parser.add_argument("--unroll-steps", type=int, default=10, help="K of one hand-written run (`hand`)")
    parser.add_argument("--steps", type=int, default=30000, help="steps of a whole run (default 30,000)")
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=15, help="interleaved rounds per K (`steps`)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    ks = [int(k) for k in args.ks.split(",")]
    if args.what == "hand":
        print(json.dumps(hand_run(args.steps, args.unroll_steps, eval_every=args.eval_every)))
        return 0
    header = [f"{machine_description('cpu')}", "", f"`python -m benchmarks.paper_mog {' '.join(sys.argv[1:])}`", ""]
    lines = per_step(ks, args.repeats) if args.what == "steps" else whole(ks, args.steps, args.eval_every)
    print("\n".join(header + lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
