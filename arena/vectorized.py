"""Many seeds at once: several seeds of one game/solver as one batched computation.

The seeds' parameters, solver states and batches are stacked along a new leading axis,
and :class:`StackedGame` evaluates the N copies of the game with one
``torch.func.vmap`` of :meth:`Game.losses`. Its loss for each player is the *sum* of that
player's loss over the copies: the copies share no parameters, so the gradient of the sum
with respect to seed ``s``'s parameters is exactly seed ``s``'s own gradient, and a
solver that works per parameter entry (gradients, Hessian-vector products, elementwise
base optimizers) runs every seed's step at once, unchanged. Solvers that reduce over all
parameters (norms, signs, conjugate gradients) would mix the seeds; they are refused
(:data:`VECTORIZABLE`). Each seed draws its batches from its own generator, seeded as in
:func:`arena.run.train`, and writes its own run directory exactly as ``train`` does
(``config.toml``, ``metrics.jsonl``, checkpoints, snapshots, ``summary.json``), so results
agree with running each seed alone to float tolerance (batched and single matrix
products round differently).
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils._pytree import tree_flatten, tree_unflatten

from arena.checkpoint import load_latest_checkpoint, save_checkpoint
from arena.config import RunConfig, resolve_device, run_dirs_below, same_config
from arena.run import Interrupted, _catch_signals, _write_json, build, evaluate, read_metrics, read_summary
from arena.stacked import StackedGame, stack_trees, unstack_tree
from games.base import JointParams
from diffgames.errors import ConfigError

__all__ = ["train_vectorized", "resume_vectorized", "interrupted_together", "StackedGame", "VECTORIZABLE", "stack_trees", "unstack_tree"]

#: Solvers whose step on a :class:`StackedGame` is every seed's own step (checked by
#: ``tests/arena/test_vectorized.py``). The others reduce over all parameters.
VECTORIZABLE = ("simultaneous", "alternating", "optimistic", "unrolled", "extragradient", "consensus",
                "lookahead-opponent", "lola", "lookahead")

#: Config fields that may differ between the seeds of one vectorized run.
PER_SEED_FIELDS = ("seed", "out", "label")


def _check_configs(configs: list[RunConfig]) -> None:
    if not configs:
        raise ConfigError("train_vectorized needs at least one config")
    shared = [{k: v for k, v in c.to_dict().items() if k not in PER_SEED_FIELDS} for c in configs]
    for c, s in zip(configs[1:], shared[1:]):
        if s != shared[0]:
            differ = sorted(k for k in set(s) | set(shared[0]) if s.get(k) != shared[0].get(k))
            raise ConfigError(f"vectorized seeds must share everything but {', '.join(PER_SEED_FIELDS)}; "
                              f"seed {c.seed} differs in {differ}")
    outs = [str(Path(c.out).resolve()) for c in configs]
    if len(set(outs)) != len(outs):
        raise ConfigError("vectorized seeds need distinct output directories")
    names = [configs[0].solver]
    if names[0] == "lookahead":  # a wrapper: its inner solver must be vectorizable too
        names.append(str(configs[0].solver_options.get("inner", "simultaneous")))
    bad = [name for name in names if name not in VECTORIZABLE]
    if bad:
        raise ConfigError(f"solver {bad[0]!r} cannot be vectorized over seeds (it reduces over all "
                          f"parameters, which would mix the seeds); vectorizable: {', '.join(VECTORIZABLE)}. "
                          "Run the seeds separately.")


def _stacked_mask(stacked_state: Any, single_state: Any, n: int) -> Any:
    """Which leaves of the stacked solver state carry the seed axis (the rest are shared,
    e.g. Adam's step counter)."""
    s_leaves, spec = tree_flatten(stacked_state)
    o_leaves, o_spec = tree_flatten(single_state)
    if spec != o_spec:
        raise ConfigError("the solver's state has a different structure for stacked seeds; it cannot be vectorized")
    mask = []
    for s, o in zip(s_leaves, o_leaves):
        if isinstance(s, Tensor) and tuple(s.shape) == (n, *o.shape):
            mask.append(True)
        elif isinstance(s, Tensor) and s.shape == o.shape:
            mask.append(False)
        else:
            raise ConfigError("the solver's state does not stack over seeds; it cannot be vectorized")
    return tree_unflatten(mask, spec)


def _per_seed_finite(tree: Any, n: int) -> Tensor:
    ok = torch.ones(n, dtype=torch.bool)
    for leaf in tree_flatten(tree)[0]:
        if isinstance(leaf, Tensor) and leaf.ndim >= 1 and leaf.shape[0] == n:
            ok &= torch.isfinite(leaf.reshape(n, -1)).all(dim=1).cpu()
    return ok


def _bad_player(players: tuple[str, ...], recorded: list[dict[str, Tensor]], params: JointParams, i: int) -> str:
    """The first player of seed ``i`` with a non-finite loss, else with non-finite parameters."""
    for p in players:
        if any(not bool(torch.isfinite(r[p][i])) for r in recorded if p in r):
            return p
    for p in players:
        if not all(bool(torch.isfinite(v[i]).all()) for v in params[p].values()):
            return p
    return players[0]


def _select(mask: Tensor, new: Any, old: Any, stacked: Any) -> Any:
    """Seeds where ``mask`` is False keep ``old`` (diverged seeds stop moving)."""
    n_leaves, spec = tree_flatten(new)
    o_leaves = tree_flatten(old)[0]
    s_leaves = tree_flatten(stacked)[0] if not isinstance(stacked, bool) else [stacked] * len(n_leaves)
    out = []
    for a, b, s in zip(n_leaves, o_leaves, s_leaves):
        if s:
            m = mask.to(a.device).reshape(-1, *([1] * (a.ndim - 1)))
            out.append(torch.where(m, a, b))
        else:
            out.append(a)
    return tree_unflatten(out, spec)


def train_vectorized(configs: list[RunConfig], quiet: bool = False,
                     resume_from_checkpoint: bool = False) -> list[dict[str, Any]]:
    """Run several seeds of one game/solver as one batched computation.

    ``configs`` may differ only in ``seed``, ``out`` and ``label``. Each seed's directory
    gets what :func:`arena.run.train` writes, from the same data and evaluation streams;
    its summary adds ``seeds_vectorized`` (N), and its ``train_time`` is the batched
    steps' time, shared by the N seeds. A seed whose loss or parameters become non-finite
    ends with status ``diverged`` (its last good checkpoint kept) while the others go on.
    Returns the summaries in the order of ``configs``; never raises for a divergence
    (read the statuses), raises :class:`arena.run.Interrupted` after SIGINT/SIGTERM.
    With ``resume_from_checkpoint`` the seeds continue together from their newest
    checkpoints, which must all be at the same step (see :func:`resume_vectorized`).
    """
    _check_configs(configs)
    n, first = len(configs), configs[0]
    device = resolve_device(first.device)
    game, solver = build(first)
    stacked_game = StackedGame(game, n, record=True)
    outs = [Path(c.out) for c in configs]
    params = stack_trees([game.init_params(c.seed, device, first.torch_dtype) for c in configs])
    state = solver.init(stacked_game, params)
    mask = _stacked_mask(state, solver.init(game, unstack_tree(params, 0)), n)
    generators = [torch.Generator(device=device).manual_seed(c.seed) for c in configs]
    torch.manual_seed(first.seed)
    step, train_time, wall_time = 0, 0.0, 0.0
    rows: list[list[dict[str, Any]]] = [[] for _ in configs]
    if resume_from_checkpoint:
        ckpts = _same_step_checkpoints(outs, device)
        params = stack_trees([c["params"] for c in ckpts])
        state = _restack([c["solver_state"] for c in ckpts], mask)
        for generator, c in zip(generators, ckpts):
            generator.set_state(c["rng"]["data"].cpu())  # generator states live on the CPU
        step, train_time, wall_time = ckpts[0]["step"], ckpts[0]["train_time"], ckpts[0]["wall_time"]
    for i, (c, out) in enumerate(zip(configs, outs)):
        out.mkdir(parents=True, exist_ok=True)
        # a resumed seed drops evaluations logged after its checkpoint by the interrupted process
        rows[i] = [r for r in read_metrics(out) if r["step"] <= step] if resume_from_checkpoint else []
        (out / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[i]))
        if not resume_from_checkpoint:
            for old in (out / "checkpoints").glob("*.pt"):
                old.unlink()
        c.save(out / "config.toml")
    active = [True] * n
    summaries: list[dict[str, Any]] = [
        {"status": "running", "label": c.label, "seed": c.seed, "game": c.game, "solver": c.solver,
         "steps": c.steps, "seeds_vectorized": n} for c in configs]
    started = time.perf_counter() - wall_time
    bar = None
    if not quiet:
        from tqdm.auto import tqdm

        bar = tqdm(total=first.steps, initial=step, desc=f"{first.label} {n} seeds (vectorized)", dynamic_ncols=True)

    def seed_params(i: int) -> JointParams:
        return unstack_tree(params, i)

    def checkpoint(i: int) -> None:
        save_checkpoint(outs[i] / "checkpoints", step, {
            "params": seed_params(i), "solver_state": unstack_tree(state, i, mask), "step": step,
            "rng": {"data": generators[i].get_state()}, "train_time": train_time,
            "wall_time": time.perf_counter() - started, "config": configs[i].to_dict()})

    def log(i: int, row: dict[str, Any]) -> None:
        rows[i].append(row)
        with open(outs[i] / "metrics.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")

    def snapshot(i: int) -> None:
        if configs[i].snapshot_at(step):
            (outs[i] / "snapshots").mkdir(exist_ok=True)
            torch.save(seed_params(i), outs[i] / "snapshots" / f"step-{step:09d}.pt")

    def finish(i: int, status: str, **extra: Any) -> None:
        active[i] = False
        summaries[i].update(status=status, final_step=step, train_time=train_time,
                            wall_time=time.perf_counter() - started,
                            time_per_step_ms=1000 * train_time / step if step else math.nan,
                            final_metrics=rows[i][-1] if rows[i] else {}, **extra)
        _write_json(outs[i] / "summary.json", summaries[i])

    try:
        with _catch_signals() as caught:
            for i in range(n if step == 0 else 0):
                log(i, {"step": 0, "wall_time": 0.0, "train_time": 0.0,
                        **evaluate(game, seed_params(i), configs[i], 0, device)})
                snapshot(i)
                checkpoint(i)
            while step < first.steps and any(active):
                t0 = time.perf_counter()
                batch = stack_trees([game.sample(g, device) for g in generators])
                stacked_game.recorded.clear()
                new_params, new_state, _ = solver.step(stacked_game, params, state, batch)
                ok = _per_seed_finite(new_params, n)
                for record in stacked_game.recorded:
                    ok &= _per_seed_finite(record, n)
                train_time += time.perf_counter() - t0
                for i in range(n):
                    if active[i] and not bool(ok[i]):
                        bad = _bad_player(game.player_names, stacked_game.recorded, new_params, i)
                        last = rows[i][-1] if rows[i] else {}
                        shown = ", ".join(f"{k}={v:.4g}" for k, v in last.items() if isinstance(v, float))
                        message = (f"run diverged at step {step + 1}: player {bad!r} has a non-finite loss or "
                                   f"parameters. Last evaluation (step {last.get('step')}): {shown}. "
                                   f"The last good checkpoint is kept in {outs[i] / 'checkpoints'}.")
                        finish(i, "diverged", error=message, diverged_step=step + 1, diverged_player=bad)
                if bool(ok.all()):
                    params, state = new_params, new_state
                else:  # diverged seeds keep their last good point, so they cannot poison anything
                    params = _select(ok, new_params, params, True)
                    state = _select(ok, new_state, state, mask)
                step += 1
                wall_time = time.perf_counter() - started
                for i in (i for i in range(n) if active[i]):
                    snapshot(i)
                    c = configs[i]
                    evaluated = step % c.eval_every == 0 or step == c.steps
                    if evaluated:
                        log(i, {"step": step, "wall_time": wall_time, "train_time": train_time,
                                **evaluate(game, seed_params(i), c, step, device)})
                    if (c.checkpoint_every and step % c.checkpoint_every == 0) or step == c.steps or (
                            not c.checkpoint_every and evaluated):
                        checkpoint(i)
                if bar is not None:
                    bar.update(1)
                if caught:
                    for i in (i for i in range(n) if active[i]):
                        checkpoint(i)
                        finish(i, "interrupted")
                    raise Interrupted(f"interrupted at step {step}/{first.steps}; checkpoints were saved.",
                                      caught[0], f"Continue with: {_resume_command(outs)}")
    finally:
        if bar is not None:
            bar.close()
    for i in (i for i in range(n) if active[i]):
        finish(i, "done")
    return summaries


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


def _same_step_checkpoints(outs: list[Path], device: torch.device) -> list[dict[str, Any]]:
    loaded = [load_latest_checkpoint(out / "checkpoints", map_location=device) for out in outs]
    missing = [str(out) for out, got in zip(outs, loaded) if got is None]
    if missing:
        raise ConfigError(f"cannot resume: no usable checkpoint in {', '.join(missing)}")
    ckpts = [got[1] for got in loaded]  # type: ignore[index]
    at = {str(out.name): c["step"] for out, c in zip(outs, ckpts)}
    if len(set(at.values())) > 1:
        raise ConfigError(f"cannot resume the seeds together: their checkpoints are at different steps ({at}), "
                          "e.g. after a seed diverged; resume each with `diffgames resume <run dir>`")
    return ckpts


def _restack(trees: list[Any], stacked: Any) -> Any:
    """:func:`stack_trees` for the leaves ``stacked`` marks; the others (shared by all seeds,
    e.g. Adam's step counter) are taken from the first tree."""
    columns = [tree_flatten(t)[0] for t in trees]
    marks, spec = tree_flatten(stacked)[0], tree_flatten(trees[0])[1]
    return tree_unflatten([torch.stack([c[i] for c in columns]) if mark else columns[0][i]
                           for i, mark in enumerate(marks)], spec)


def _resume_command(outs: list[Path]) -> str:
    parent = outs[0].parent
    if all(out.parent == parent for out in outs) and set(run_dirs_below(parent)) == set(outs):
        return f"diffgames resume {parent}"
    return "diffgames resume <run dir>, for each seed"
