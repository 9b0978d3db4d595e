"""Speed and memory benchmarks, run on demand (never by the unit tests).

``python -m benchmarks.run [--quick] [--device cuda] [--compile]`` prints a markdown table
of ratios measured side by side in one process: the toolkit's solver steps against
hand-written ``torch.optim`` and ``higher`` loops on the mixture-of-Gaussians GAN, the cost
of unrolling as K grows (time, FLOPs, memory), first against second order, compiled
against eager, and many seeds at once against one after another.

Modules: :mod:`benchmarks.timing` (interleaved timing, FLOPs, peak memory),
:mod:`benchmarks.baselines` (the hand-written loops), :mod:`benchmarks.run` (the table),
:mod:`benchmarks.profile` (where a step's time goes, by operator group);
``benchmarks/gpu_check.sh`` runs the CUDA tests and the table on a GPU machine.
"""
__all__: list[str] = []
