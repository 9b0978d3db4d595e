"""The benchmark table: ``python -m benchmarks.run [--quick] [--device cuda] [--compile]``.

Everything runs on the mixture-of-Gaussians GAN with its default networks (2 × 128 tanh,
latent 256, batch 512, Adam β = (0.5, 0.999)), from seed 0's parameters and one fixed
batch, in this one process: candidates are timed in interleaved rounds (see
:mod:`benchmarks.timing`) and compared by the ratio of their medians, with the spread
(min–max) of the per-round ratios. Ratios below 1 favour the toolkit.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import torch

import games
from games.mog import NOTEBOOK_OPTIMIZERS, NOTEBOOK_SETTINGS
import solvers
from arena.runs.stacked import StackedGame, stack_trees
from benchmarks.baselines import HigherUnrolled, TorchOptimAlternating, nested_func_leader_gradient
from benchmarks.timing import (flops, interleaved, linear_fit, matmul_gflops, peak_memory, ratio,
                               saved_tensor_bytes)
from diffgames.machine import machine_description
from solvers.base import player_gradients

__all__ = ["main"]


def _flat(grads) -> torch.Tensor:
    values = grads.values() if isinstance(grads, dict) else grads
    return torch.cat([g.reshape(-1) for g in values])


def _rel(a, b) -> float:
    a, b = _flat(a).detach().double(), _flat(b).detach().double()
    return float((a - b).norm() / b.norm())


def _fmt_ratio(r: tuple[float, float, float]) -> str:
    return f"**{r[0]:.2f}×** [{r[1]:.2f}–{r[2]:.2f}]"


class Bench:
    def __init__(self, device: torch.device, repeats: int):
        self.device, self.repeats = device, repeats
        self.clock = "cpu" if device.type == "cpu" else "wall"
        # the notebook's configuration, which the timings of docs/results/performance.md measure
        self.game = games.make("mog", **NOTEBOOK_SETTINGS)
        self.optimizers = NOTEBOOK_OPTIMIZERS
        self.params = self.game.init_params(0, device)
        self.batch = self.game.sample(torch.Generator(device=device).manual_seed(0), device)
        self.rows: list[list[str]] = []

    def time(self, fns: dict[str, Any], repeats: int | None = None):
        return interleaved(fns, repeats or self.repeats, self.device)

    def row(self, what: str, samples, a: str, b: str, target: str = "", note: str = "") -> None:
        cells = [what, f"{1000 * samples[a].median('wall'):.1f}", f"{1000 * samples[b].median('wall'):.1f}",
                 _fmt_ratio(ratio(samples[a], samples[b], "wall"))]
        cells.append(_fmt_ratio(ratio(samples[a], samples[b], "cpu")) if self.device.type == "cpu" else "–")
        self.rows.append(cells + [target, note])

    def unrolled(self, K: int, second_order: bool = True, optimizers=None):
        solver = solvers.make("unrolled", unroll_steps=K, second_order=second_order,
                              optimizers=optimizers or self.optimizers)
        return solver, solver.init(self.game, self.params)

    # ------------------------------------------------------------------ sections
    def alternating(self) -> None:
        game, batch = self.game, self.batch
        solver = solvers.make("alternating", optimizers=self.optimizers)
        held = [self.params, solver.init(game, self.params)]
        hand = TorchOptimAlternating(game, self.params, self.optimizers)
        for _ in range(3):  # same start, same batch: the two loops must agree
            held[0], held[1], _ = solver.step(game, held[0], held[1], batch)
            hand.step(batch)
        diff = _rel(held[0]["generator"], dict(hand.G.named_parameters()))

        def toolkit():
            held[0], held[1], _ = solver.step(game, held[0], held[1], batch)

        s = self.time({"toolkit": toolkit, "hand": lambda: hand.step(batch)})
        self.row("alternating step vs hand-written torch.optim loop", s, "toolkit", "hand", "≤ 1.1×",
                 f"params after 3 steps differ by {diff:.1e} (relative)")

    def unrolled_vs_higher(self) -> None:
        game, batch, params = self.game, self.batch, self.params
        solver, state = self.unrolled(5)
        hand = HigherUnrolled(game, params, self.optimizers, 5)
        opts = solver.optimizers(game)

        def previous():  # the step until 2026-11: all players' gradients, then a nested torch.func.grad unroll
            grads, _ = player_gradients(game, params, batch)
            grads["generator"] = nested_func_leader_gradient(game, params, state, batch, "generator",
                                                             ["discriminator"], opts, 5)
            with torch.no_grad():
                return {p: opts[p].update(grads[p], state["opt"][p], params[p]) for p in game.player_names}

        fns = {"toolkit": lambda: solver.step(game, params, state, batch), "higher": lambda: hand.step(batch),
               "previous": previous}
        s = self.time(fns)
        self.row("unrolled K=5 (Adam D) vs hand-written higher loop", s, "toolkit", "higher", "≤ 0.9×",
                 f"FLOPs {flops(fns['toolkit']) / flops(fns['higher']):.2f}× the loop's")
        self.row("unrolled K=5 as until 2026-11 (nested torch.func.grad) vs higher loop", s, "previous", "higher", "",
                 f"FLOPs {flops(previous) / flops(fns['higher']):.2f}× the loop's")
        # the generator's gradient from the same state, both sides
        for name, d_opt in [("SGD", {"name": "sgd", "lr": 0.1}), ("Adam", self.optimizers["discriminator"])]:
            specs = {**self.optimizers, "discriminator": d_opt}
            tk, tk_state = self.unrolled(5, optimizers=specs)
            first, _ = self.unrolled(5, second_order=False, optimizers=specs)
            opts = tk.optimizers(game)
            g2 = tk.leader_gradient(game, params, tk_state, batch, "generator", ["discriminator"], opts)
            g1 = first.leader_gradient(game, params, tk_state, batch, "generator", ["discriminator"], opts)
            gh = HigherUnrolled(game, params, specs, 5).generator_gradient(batch)[0]
            self.notes.append(f"Generator gradient, unrolled K=5, {name} discriminator "
                              f"({', '.join(f'{k}={v}' for k, v in d_opt.items() if k != 'name')}), float32: "
                              f"toolkit vs higher loop relative difference **{_rel(g2, gh):.2e}**"
                              f"{' (target ≤ 1e-5)' if name == 'SGD' else ' (higher puts Adam eps before the bias correction)'}; "
                              f"the second-order term is {_rel(g2, g1):.1e} of the gradient.")

    def unroll_sweep(self, ks: list[int]) -> None:
        game, batch, params = self.game, self.batch, self.params
        fns, counts, peaks, saved = {}, {}, {}, {}
        for K in ks:
            solver, state = self.unrolled(K)
            fns[K] = (lambda s, st: (lambda: s.step(game, params, st, batch)))(solver, state)
            counts[K], peaks[K], saved[K] = flops(fns[K]), peak_memory(fns[K], self.device), saved_tensor_bytes(fns[K])
        s = self.time({f"K={K}": f for K, f in fns.items()})
        mm = matmul_gflops(self.device, n=2048 if self.device.type == "cpu" else 8192, clock=self.clock)
        self.sweep = []
        for K in ks:
            t = s[f"K={K}"].median(self.clock)
            rate = counts[K] / t / 1e9
            self.sweep.append([str(K), f"{1000 * s[f'K={K}'].median('wall'):.1f}",
                               f"{1000 * s[f'K={K}'].median('cpu'):.1f}" if self.device.type == "cpu" else "–",
                               f"{counts[K] / 1e9:.2f}", f"{rate:.1f}", f"{100 * rate / mm:.0f}%",
                               f"{peaks[K] / 2**20:.1f}", f"{saved[K] / 2**20:.1f}"])
        fits = {name: linear_fit([float(k) for k in ks], [float(v[k]) for k in ks]) for name, v in
                (("peak", peaks), ("saved", saved))}
        self.sweep_notes = [
            f"Large float32 matmul (2048² CPU / 8192² GPU): {mm:.1f} GFLOP/s on this device ({self.clock} clock).",
            "Bytes per unroll step (least-squares fit over K): peak allocation "
            f"{fits['peak'][0] / 2**20:.2f} MiB/step + {fits['peak'][1] / 2**20:.1f} MiB (max residual "
            f"{100 * fits['peak'][2]:.1f}%), saved-for-backward {fits['saved'][0] / 2**20:.2f} MiB/step + "
            f"{fits['saved'][1] / 2**20:.1f} MiB (max residual {100 * fits['saved'][2]:.1f}%)."]

    def checkpointed(self, ks: list[int]) -> None:
        """Peak memory and time of the unrolled step with the whole unroll kept and with
        the followers stored every ⌈√K⌉ steps (``checkpoint_every``)."""
        import math

        game, batch, params = self.game, self.batch, self.params
        self.memory_rows = []
        for K in ks:
            every = math.ceil(math.sqrt(K))
            plain = solvers.make("unrolled", unroll_steps=K, optimizers=self.optimizers)
            kept = solvers.make("unrolled", unroll_steps=K, checkpoint_every=every, optimizers=self.optimizers)
            state = plain.init(game, params)
            fns = {"plain": lambda: plain.step(game, params, state, batch),
                   "checkpointed": lambda: kept.step(game, params, state, batch)}
            peaks = {name: peak_memory(fn, self.device) for name, fn in fns.items()}
            s = self.time(fns, repeats=3)
            rel = _rel(fns["checkpointed"]()[0]["generator"], fns["plain"]()[0]["generator"])
            self.memory_rows.append([str(K), str(every), f"{peaks['plain'] / 2**20:.1f}",
                                     f"{peaks['checkpointed'] / 2**20:.1f}",
                                     f"**{peaks['checkpointed'] / peaks['plain']:.2f}×**",
                                     f"{1000 * s['plain'].median(self.clock):.0f}",
                                     f"{1000 * s['checkpointed'].median(self.clock):.0f}",
                                     _fmt_ratio(ratio(s["checkpointed"], s["plain"], self.clock)), f"{rel:.1e}"])

    def first_vs_second(self, ks: list[int]) -> None:
        game, batch, params = self.game, self.batch, self.params
        for K in ks:
            (s2, st2), (s1, st1) = self.unrolled(K), self.unrolled(K, second_order=False)
            fns = {"first": lambda: s1.step(game, params, st1, batch), "second": lambda: s2.step(game, params, st2, batch)}
            s = self.time(fns)
            self.row(f"unrolled K={K}: first vs second order", s, "first", "second", "",
                     f"FLOPs {flops(fns['first']) / flops(fns['second']):.2f}×")

    def compiled(self, mode: str | None = None) -> None:
        from solvers.compiled import compile_step

        game, batch, params = self.game, self.batch, self.params
        solver, state = self.unrolled(5)
        step = compile_step(solver, game, mode=mode)
        out = step(params, state, batch)
        if step.fallback is not None:
            self.notes.append(f"Compiled unrolled step: fell back to eager ({step.fallback}).")
            return
        eager = solver.step(game, params, state, batch)
        diff = _rel(out[0]["generator"], eager[0]["generator"])
        hand = HigherUnrolled(game, params, self.optimizers, 5)
        s = self.time({"compiled": lambda: step(params, state, batch), "higher": lambda: hand.step(batch),
                       "eager": lambda: solver.step(game, params, state, batch)})
        self.row("unrolled K=5 compiled vs hand-written higher loop", s, "compiled", "higher", "≤ 0.5×",
                 f"compile (first call) {step.compile_seconds:.0f} s; new G params vs eager {diff:.1e} rel.")
        self.row("unrolled K=5 compiled vs toolkit eager", s, "compiled", "eager")

    def seeds(self, ns: list[int], repeats: int) -> None:
        game, device = self.game, self.device
        self.seed_rows = []
        for name, options in [("alternating", {}), ("unrolled", {"unroll_steps": 5})]:
            solver = solvers.make(name, optimizers=self.optimizers, **options)
            p0 = game.init_params(0, device)
            s0, g0 = solver.init(game, p0), torch.Generator(device=device).manual_seed(0)
            fns = {"one": lambda: solver.step(game, p0, s0, game.sample(g0, device))}
            for n in ns:
                stacked = StackedGame(game, n)
                P = stack_trees([game.init_params(s, device) for s in range(n)])
                S = solver.init(stacked, P)
                gens = [torch.Generator(device=device).manual_seed(s) for s in range(n)]
                fns[n] = (lambda st, P, S, gens: lambda: solver.step(
                    st, P, S, stack_trees([game.sample(g, device) for g in gens])))(stacked, P, S, gens)
            s = self.time({str(k): f for k, f in fns.items()}, repeats)
            for n in ns:
                def speed(clock: str) -> str:
                    per_round = [n * a / b for a, b in zip(getattr(s["one"], clock), getattr(s[str(n)], clock))]
                    mid = n * s["one"].median(clock) / s[str(n)].median(clock)
                    return f"**{mid:.2f}×** [{min(per_round):.2f}–{max(per_round):.2f}]"

                cells = [f"{name}{' K=5' if options else ''}", str(n), f"{1000 * s['one'].median('wall'):.1f}",
                         f"{1000 * s[str(n)].median('wall'):.1f}", speed("wall"),
                         speed("cpu") if device.type == "cpu" else "–"]
                self.seed_rows.append(cells + ["≥ 1.5× (N=16)" if n == 16 else ""])


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Benchmark the toolkit's solver steps against hand-written loops on the MOG GAN; "
                    "prints a markdown table of interleaved, side-by-side ratios.")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, no compilation (about 3 minutes on CPU)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--compile", dest="compile", action="store_true", default=None,
                        help="include the compiled step (default: on unless --quick)")
    parser.add_argument("--no-compile", dest="compile", action="store_false")
    parser.add_argument("--compile-mode", default=None,
                        help="torch.compile mode for the compiled step (e.g. reduce-overhead on CUDA)")
    parser.add_argument("--repeats", type=int, help="timed rounds per comparison (default 7 quick, 15 full)")
    parser.add_argument("--out", help="also write the tables to this markdown file")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device available")
    torch.set_num_threads(args.threads)
    repeats = args.repeats or (7 if args.quick else 15)
    do_compile = (not args.quick) if args.compile is None else args.compile
    started = time.perf_counter()
    bench = Bench(device, repeats)
    bench.notes = []
    print(f"# diffgames benchmarks\n\n{machine_description(str(device))}\n\n`{' '.join(['python -m benchmarks.run', *sys.argv[1:]])}`"
          f" — {repeats} interleaved rounds after 2 warm-up rounds; ratios: median [min–max of per-round ratios]\n",
          flush=True)
    bench.alternating()
    bench.unrolled_vs_higher()
    bench.first_vs_second([5] if args.quick else [5, 10])
    if do_compile:
        bench.compiled(args.compile_mode)
    bench.unroll_sweep([1, 5, 10, 20])
    bench.checkpointed([5, 20] if args.quick else [5, 20, 50, 100])
    bench.seeds([4, 16], max(3, repeats // 2))
    clock_note = "CPU = process CPU time, less disturbed by other load than wall time" if device.type == "cpu" else ""
    text = "\n\n".join([
        "## Toolkit vs hand-written loops (ratio < 1: toolkit faster)",
        _table(["comparison", "toolkit ms", "baseline ms", "wall ratio", "CPU ratio", "target", "notes"], bench.rows),
        "\n".join(f"- {n}" for n in bench.notes + ([clock_note] if clock_note else [])),
        "## Unrolled step (second order, Adam) against K",
        _table(["K", "wall ms", "CPU ms", "GFLOP/step", "GFLOP/s", "of matmul", "peak MiB", "saved MiB"], bench.sweep),
        "\n".join(f"- {n}" for n in bench.sweep_notes + [
            "GFLOP: matrix products only (FlopCounterMode), forward and backward; GFLOP/s on the "
            f"{bench.clock} clock. Peak: bytes allocated during the step above its start (profiler "
            "memory events on CPU, max_memory_allocated on CUDA); saved: distinct storages autograd saves for backward."]),
        "## Memory-bounded unrolling (`checkpoint_every=⌈√K⌉`) vs the whole unroll kept",
        _table(["K", "S", "peak MiB, kept", "peak MiB, checkpointed", "memory ratio", f"{bench.clock} ms, kept",
                f"{bench.clock} ms, checkpointed", "time ratio", "G params rel. diff"], bench.memory_rows),
        "## N seeds at once (arena.runs.vectorized) vs one after another: per-seed throughput",
        _table(["solver", "N", "one seed ms", "N seeds ms", "speed-up (wall)", "speed-up (CPU)", "target"], bench.seed_rows),
        f"_Total benchmark time {time.perf_counter() - started:.0f} s._",
    ])
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
