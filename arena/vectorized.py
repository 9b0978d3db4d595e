"""Many seeds at once: several seeds of one game and solver as one batched computation.

The seeds run through the one run loop (:func:`arena.run.run_loop`) with the stacked step
engine (:class:`arena.engine.StackedEngine`). Each seed writes its own run directory
exactly as :func:`arena.run.train` does (``config.toml``, ``metrics.jsonl``, checkpoints,
snapshots, ``summary.json``), from the same data and evaluation streams, so results agree
with running each seed alone to float tolerance (batched and single matrix products
round differently). Solvers and games whose capability record says ``vectorizable`` can
run this way; the others are refused with one clear message.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from arena.config import RunConfig, run_dirs_below, same_config
from arena.recorder import read_summary
from arena.run import run_loop
from arena.stacked import StackedGame, stack_trees, unstack_tree
from diffgames.errors import ConfigError

__all__ = ["train_vectorized", "resume_vectorized", "interrupted_together", "StackedGame", "stack_trees", "unstack_tree"]


def train_vectorized(configs: list[RunConfig], quiet: bool = False,
                     resume_from_checkpoint: bool = False) -> list[dict[str, Any]]:
    """Run several seeds of one game/solver as one batched computation.

    ``configs`` may differ only in ``seed``, ``out`` and ``label``. Each seed's summary
    adds ``seeds_vectorized`` (N), and its ``train_time`` is the batched steps' time,
    shared by the N seeds. A seed whose loss or parameters become non-finite ends with
    status ``diverged`` (its last good checkpoint kept) while the others go on. Returns
    the summaries in the order of ``configs``; never raises for a divergence (read the
    statuses), raises :class:`arena.run.Interrupted` after SIGINT/SIGTERM. With
    ``resume_from_checkpoint`` the seeds continue together from their newest checkpoints,
    which must all be at the same step (see :func:`resume_vectorized`).
    """
    if not configs:
        raise ConfigError("train_vectorized needs at least one config")
    return run_loop(configs, stacked=True, quiet=quiet, resume_from_checkpoint=resume_from_checkpoint)


def interrupted_together(configs: list[RunConfig]) -> bool:
    """Whether every seed's directory holds an interrupted run of its config, so that the
    batch continues from the checkpoints (:func:`train_vectorized` checks their steps)."""
    return all(read_summary(Path(c.out)).get("status") == "interrupted" and same_config(Path(c.out), c)
               for c in configs)


def resume_vectorized(root: Path, *, quiet: bool = False, steps: int | None = None) -> list[dict[str, Any]]:
    """Continue the seeds in the run directories below ``root`` (``root/seed<k>``, made by
    ``diffgames run --seeds … --vectorize``) together, from their newest checkpoints
    (optionally to a new ``steps``)."""
    dirs = run_dirs_below(root)
    if not dirs:
        raise ConfigError(f"{root}: no run directories (<dir>/config.toml) inside; is this a run made by `diffgames run`?")
    configs = []
    for d in dirs:
        config = RunConfig.load(d / "config.toml")
        config.out = str(d)
        if steps is not None:
            config.steps = steps
        configs.append(config)
    return train_vectorized(configs, quiet=quiet, resume_from_checkpoint=True)
