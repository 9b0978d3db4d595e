"""Many seeds at once: several seeds of one game and solver as one batched computation.

The seeds run through the one run loop (:func:`arena.runs.loop.run_loop`) with the stacked step
engine (:class:`arena.runs.engine.StackedEngine`). Each seed writes its own run directory
exactly as :func:`arena.runs.loop.train` does (``config.toml``, ``metrics.jsonl``, checkpoints,
snapshots, ``summary.json``), from the same data and evaluation streams, so results agree
with running each seed alone to float tolerance (batched and single matrix products
round differently). Solvers and games whose capability record says ``vectorizable`` can
run this way; the others are refused with one clear message.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from arena.runs.config import RunConfig, run_dirs_below
from arena.runs.recorder import read_summary
from arena.runs.loop import extend_budgets, run_loop
from arena.runs.directory import action_for
from arena.runs.lock import run_lock
from arena.runs.stacked import StackedGame, stack_trees, unstack_tree
from diffgames.errors import ConfigError

__all__ = ["train_vectorized", "train_vectorized_or_continue", "resume_vectorized", "StackedGame", "stack_trees", "unstack_tree"]


def train_vectorized(configs: list[RunConfig], quiet: bool = False,
                     resume_from_checkpoint: bool = False) -> list[dict[str, Any]]:
    """Run several seeds of one game/solver as one batched computation.

    ``configs`` may differ only in ``seed``, ``out`` and ``label``. Each seed's summary
    adds ``seeds_vectorized`` (N), and its ``train_time`` is the batched steps' time,
    shared by the N seeds. A seed whose loss or parameters become non-finite ends with
    status ``diverged`` (its last good checkpoint kept) while the others go on. Returns
    the summaries in the order of ``configs``; never raises for a divergence (read the
    statuses), raises :class:`arena.runs.loop.Interrupted` after SIGINT/SIGTERM. With
    ``resume_from_checkpoint`` the seeds continue together from their newest checkpoints,
    which must all be at the same step (see :func:`resume_vectorized`).
    """
    if not configs:
        raise ConfigError("train_vectorized needs at least one config")
    return run_loop(configs, stacked=True, quiet=quiet, resume_from_checkpoint=resume_from_checkpoint)


def train_vectorized_or_continue(configs: list[RunConfig], *, quiet: bool = False,
                                 overwrite: bool = False) -> list[dict[str, Any]]:
    """:func:`train_vectorized` under the one rule of :mod:`arena.runs.directory`: finished seeds are
    kept, seeds stopped early continue together from their checkpoints, the others start
    together; another configuration in a seed's directory is refused unless ``overwrite``."""
    with run_lock(*(c.out for c in configs)):
        actions = [action_for(c, overwrite=overwrite) for c in configs]
        summaries: dict[int, dict[str, Any]] = {
            i: {**read_summary(Path(c.out)), "kept": True} for i, (c, a) in enumerate(zip(configs, actions)) if a == "keep"}
        for how in ("continue", "start"):
            group = [i for i, a in enumerate(actions) if a == how]
            if group:
                done = train_vectorized([configs[i] for i in group], quiet=quiet, resume_from_checkpoint=how == "continue")
                summaries.update(zip(group, done))
        return [summaries[i] for i in range(len(configs))]


def resume_vectorized(root: Path, *, quiet: bool = False, steps: int | None = None,
                      **budgets: Any) -> list[dict[str, Any]]:
    """Continue the seeds in the run directories below ``root`` (``root/seed<k>``, made by
    ``diffgames run --seeds … --vectorize``) together, from their newest checkpoints
    (optionally to a new ``steps``), from the newest step they all share. A seed that
    diverged is kept as it is (its summary returned in its place)."""
    dirs = run_dirs_below(root)
    if not dirs:
        raise ConfigError(f"{root}: no run directories (<dir>/config.toml) inside; is this a run made by `diffgames run`?")
    with run_lock(*dirs):
        kept = {i: read_summary(d) for i, d in enumerate(dirs) if read_summary(d).get("status") == "diverged"}
        configs = []
        for i, d in enumerate(dirs):
            if i in kept:
                continue
            config = RunConfig.load(d / "config.toml")
            config.out = str(d)
            if steps is not None:
                config.steps = steps
            extend_budgets(config, budgets)
            configs.append(config)
        done = iter(train_vectorized(configs, quiet=quiet, resume_from_checkpoint=True) if configs else [])
        return [kept[i] if i in kept else next(done) for i in range(len(dirs))]
