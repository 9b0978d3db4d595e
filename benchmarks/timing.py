"""Measuring tools: interleaved timing, FLOP counts, peak memory, matmul throughput.

Timing: every candidate runs once per round, in a rotating order, after warm-up rounds;
the table reports medians and the spread (min–max) of the per-round ratios, so a slow
moment of a shared machine hits all candidates of a round alike. Two clocks: wall time
(``perf_counter``, with a device synchronisation on CUDA) and, on CPU, the process's CPU
time (``process_time``: every thread of this process), which a busy machine disturbs
much less than wall time.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils._pytree import tree_flatten

__all__ = ["Samples", "interleaved", "ratio", "flops", "peak_memory", "saved_tensor_bytes", "matmul_gflops",
           "synchronize", "linear_fit"]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class Samples:
    """Per-round times (seconds) of one candidate."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def median(self, clock: str = "wall") -> float:
        return statistics.median(getattr(self, clock))


def interleaved(fns: dict[str, Callable[[], Any]], repeats: int, device: torch.device, warmup: int = 2) -> dict[str, Samples]:
    """Time each function ``repeats`` times, one call of each per round, rotating the order."""
    names = list(fns)
    out = {n: Samples() for n in names}
    for r in range(warmup + repeats):
        order = names[r % len(names):] + names[: r % len(names)]
        for n in order:
            synchronize(device)
            w, c = time.perf_counter(), time.process_time()
            fns[n]()
            synchronize(device)
            if r >= warmup:
                out[n].wall.append(time.perf_counter() - w)
                out[n].cpu.append(time.process_time() - c)
    return out


def ratio(a: Samples, b: Samples, clock: str = "wall") -> tuple[float, float, float]:
    """``(median(a) / median(b), min, max of the per-round ratios a_i / b_i)``."""
    xs, ys = getattr(a, clock), getattr(b, clock)
    per_round = [x / y for x, y in zip(xs, ys) if y > 0]
    return statistics.median(xs) / statistics.median(ys), min(per_round), max(per_round)


def flops(fn: Callable[[], Any]) -> int:
    """FLOPs of one call, counted by ``torch.utils.flop_counter.FlopCounterMode``: matrix
    products and convolutions (2 per multiply–add), including those of the backward
    passes; elementwise operations are not counted."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return int(counter.get_total_flops())


def peak_memory(fn: Callable[[], Any], device: torch.device) -> int:
    """Peak bytes allocated during one call above the level at its start.

    CUDA: ``torch.cuda.max_memory_allocated``. CPU: the running sum of the allocation and
    free events of PyTorch's CPU allocator, as ``torch.profiler(profile_memory=True)``
    records them (tensor storage only; Python objects and allocator caching excluded).
    """
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        fn()
        synchronize(device)
        return int(torch.cuda.max_memory_allocated(device) - base)
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events()
                    if e.name() == "[memory]" and e.device_type() == torch.autograd.DeviceType.CPU)
    level = peak = 0
    for _, nbytes in events:
        level += nbytes
        peak = max(peak, level)
    return int(peak)


def saved_tensor_bytes(fn: Callable[[], Any]) -> int:
    """Bytes of the distinct tensor storages that autograd saves for backward during one
    call (``torch.autograd.graph.saved_tensors_hooks``): the activations an unroll keeps
    alive, parameters included."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values())


def matmul_gflops(device: torch.device, n: int = 2048, repeats: int = 5, clock: str = "wall",
                  dtype: torch.dtype = torch.float32) -> float:
    """Throughput of an ``n × n`` by ``n × n`` matrix product (median of ``repeats``, by
    ``clock``: ``"wall"`` or ``"cpu"``)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    samples = interleaved({"mm": lambda: a @ b}, repeats, device, warmup=1)["mm"]
    return 2 * n**3 / samples.median(clock) / 1e9


def linear_fit(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    """Least-squares ``y ≈ slope·x + intercept``; returns ``(slope, intercept, max relative residual)``."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    intercept = my - slope * mx
    residual = max(abs(y - (slope * x + intercept)) / max(abs(y), 1e-30) for x, y in zip(xs, ys))
    return slope, intercept, residual


def tree_numel(tree: Any) -> int:
    return sum(t.numel() for t in tree_flatten(tree)[0] if isinstance(t, torch.Tensor))
