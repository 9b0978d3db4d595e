"""The run loop: steps, evaluations, checkpoints, snapshots, resume and divergence.

A run directory holds ``config.toml``, ``metrics.jsonl`` (one JSON object per evaluation:
``step``, ``wall_time``, ``train_time``, ``loss_<player>`` and every game metric),
``checkpoints/``, ``snapshots/`` (parameters at ``snapshot_steps``, for sample figures)
and ``summary.json``. Resuming from a checkpoint continues bit-identically on CPU: the
checkpoint holds the parameters, the solver state, the data generator's RNG state, the
step and the elapsed times, and each evaluation draws from its own generator seeded by
``(seed, step)`` so evaluations never disturb the training stream.
"""
from __future__ import annotations

import json
import math
import signal
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

import games
import solvers
from arena.checkpoint import atomic_write_bytes, load_latest_checkpoint, save_checkpoint
from arena.config import RunConfig, resolve_device, same_config
from games.base import Game, JointParams
from diffgames.errors import ConfigError, DiffgamesError, DivergenceError
from solvers.base import Solver

__all__ = ["train", "resume", "train_or_continue", "finished_already", "stopped_early", "Interrupted", "build", "eval_generator", "read_metrics"]


class Interrupted(DiffgamesError):
    """The run got SIGINT/SIGTERM; a checkpoint was written first.

    ``what`` says where it stopped, ``next_step`` how to continue; a caller that knows a
    better way (e.g. a command that also starts seeds not yet begun) re-raises with
    :meth:`continue_with`.
    """

    def __init__(self, what: str, signum: int, next_step: str | None = None):
        super().__init__(what if next_step is None else f"{what} {next_step}")
        self.what, self.signum, self.next_step = what, signum, next_step

    def continue_with(self, next_step: str) -> Interrupted:
        return Interrupted(self.what, self.signum, next_step)


def build(config: RunConfig) -> tuple[Game, Solver]:
    game = games.make(config.game, **config.game_options)
    solver = solvers.make(config.solver, optimizers=config.optimizers, **config.solver_options)
    return game, solver


def eval_generator(seed: int, step: int, device: torch.device) -> torch.Generator:
    """The generator of the evaluation at ``step``: independent of the training stream."""
    return torch.Generator(device=device).manual_seed(1_000_003 * (seed + 1) + step)


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut by a crash: the checkpoint logic rewrites it
            break
    return rows


def read_summary(run_dir: Path) -> dict[str, Any]:
    """A run directory's ``summary.json`` (``{}`` when there is none or it cannot be read)."""
    try:
        return json.loads((Path(run_dir) / "summary.json").read_text())
    except (OSError, ValueError):
        return {}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=2, allow_nan=True) + "\n").encode())


def _nonfinite_player(*groups: dict[str, Any]) -> str | None:
    """The first player with a non-finite loss or parameter in ``groups``, else None.

    One device synchronisation for the common all-finite case (on a GPU a per-tensor
    check would stall the queue a dozen times per step); the culprit is looked up only
    after that check fails.
    """
    per_player = [(player, list(value.values()) if isinstance(value, dict) else [value])
                  for values in groups for player, value in values.items()]
    flags = [torch.isfinite(t).all() for _, tensors in per_player for t in tensors]
    if not flags or bool(torch.stack([f.to(flags[0].device) for f in flags]).all()):
        return None
    for player, tensors in per_player:
        if not all(bool(torch.isfinite(t).all()) for t in tensors):
            return player
    return None


@contextmanager
def _catch_signals():
    """Turn SIGINT/SIGTERM into a flag checked between steps (so a checkpoint can be written)."""
    caught: list[int] = []

    def handler(signum, frame):
        caught.append(signum)

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread (e.g. a worker thread): leave signals alone
            pass
    try:
        yield caught
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def evaluate(game: Game, params: JointParams, config: RunConfig, step: int, device: torch.device) -> dict[str, float]:
    """Losses on a fresh evaluation batch plus the game's metrics."""
    generator = eval_generator(config.seed, step, device)
    with torch.no_grad():
        batch = game.sample(generator, device)
        losses = games.checked_losses(game, params, batch)
        row = {f"loss_{p}": float(l) for p, l in losses.items()}
    row.update({k: float(v) for k, v in game.evaluate(params, generator).items()})
    return row


def train(
    config: RunConfig,
    *,
    quiet: bool = False,
    resume_from_checkpoint: bool = False,
    on_eval: Callable[[dict[str, Any]], None] | None = None,
    position: int | None = None,
) -> dict[str, Any]:
    """Run ``config`` to its last step and return the summary (also in ``summary.json``).

    Raises :class:`DivergenceError` (summary status ``diverged``) when a loss or a
    parameter becomes non-finite, and :class:`Interrupted` after SIGINT/SIGTERM, each
    after saving what can be saved.
    """
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(config.device)
    game, solver = build(config)
    ckpt_dir, snap_dir = out / "checkpoints", out / "snapshots"
    torch.manual_seed(config.seed)  # only for code that ignores our generators; all ours are explicit

    loaded = load_latest_checkpoint(ckpt_dir, map_location=device) if resume_from_checkpoint else None
    data_generator = torch.Generator(device=device)
    if loaded is None:
        if resume_from_checkpoint and any(ckpt_dir.glob("*.pt")):
            raise ConfigError(f"{out}: every checkpoint is damaged; cannot resume (start the run again)")
        params = game.init_params(config.seed, device, config.torch_dtype)
        state = solver.init(game, params)
        data_generator.manual_seed(config.seed)
        step, train_time, wall_time, rows = 0, 0.0, 0.0, []
        (out / "metrics.jsonl").write_text("")
        for old in ckpt_dir.glob("*.pt"):
            old.unlink()
    else:
        path, ckpt = loaded
        params, state = ckpt["params"], ckpt["solver_state"]
        data_generator.set_state(ckpt["rng"]["data"].cpu())  # generator states live on the CPU
        step, train_time, wall_time = ckpt["step"], ckpt["train_time"], ckpt["wall_time"]
        # drop evaluations logged after this checkpoint by the interrupted process
        rows = [r for r in read_metrics(out) if r["step"] <= step]
        (out / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config.save(out / "config.toml")

    summary: dict[str, Any] = {"status": "running", "label": config.label, "seed": config.seed,
                               "game": config.game, "solver": config.solver, "steps": config.steps}

    def checkpoint() -> None:
        save_checkpoint(ckpt_dir, step, {
            "params": params, "solver_state": state, "step": step,
            "rng": {"data": data_generator.get_state()},
            "train_time": train_time, "wall_time": wall_time, "config": config.to_dict(),
        })

    def log(row: dict[str, Any]) -> None:
        rows.append(row)
        with open(out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        if writer is not None:
            for k, v in row.items():
                if k != "step" and isinstance(v, (int, float)):
                    writer.add_scalar(k, v, row["step"])
        if on_eval is not None:
            on_eval(row)

    if config.compile:
        from solvers.compiled import compile_step

        step_fn = compile_step(solver, game)
    else:
        step_fn = lambda p, s, b: solver.step(game, p, s, b)  # noqa: E731
    writer = _tensorboard_writer(out) if config.tensorboard else None
    bar = None
    if not quiet:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.steps, initial=step, desc=f"{config.label} seed{config.seed}",
                   position=position, leave=True, dynamic_ncols=True)
    started = time.perf_counter() - wall_time

    def snapshot() -> None:
        if config.snapshot_at(step):
            snap_dir.mkdir(exist_ok=True)
            buffer_path = snap_dir / f"step-{step:09d}.pt"
            torch.save(params, buffer_path)

    def finish(status: str, **extra: Any) -> dict[str, Any]:
        if config.compile:
            summary.update(compile_seconds=getattr(step_fn, "compile_seconds", None),
                           compile_fallback=getattr(step_fn, "fallback", None))
        summary.update(status=status, final_step=step, train_time=train_time,
                       wall_time=time.perf_counter() - started,
                       time_per_step_ms=1000 * train_time / step if step else math.nan,
                       final_metrics=rows[-1] if rows else {}, **extra)
        _write_json(out / "summary.json", summary)
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.close()
        return summary

    try:
        with _catch_signals() as caught:
            if not rows:
                log({"step": 0, "wall_time": 0.0, "train_time": 0.0, **evaluate(game, params, config, 0, device)})
                snapshot()
                checkpoint()
            while step < config.steps:
                t0 = time.perf_counter()
                batch = game.sample(data_generator, device)
                new_params, new_state, info = step_fn(params, state, batch)
                bad = _nonfinite_player(info["losses"], new_params)
                train_time += time.perf_counter() - t0
                if bad is not None:
                    last = rows[-1] if rows else {}
                    shown = ", ".join(f"{k}={v:.4g}" for k, v in last.items() if isinstance(v, float))
                    message = (f"run diverged at step {step + 1}: player {bad!r} has a non-finite loss or "
                               f"parameters. Last evaluation (step {last.get('step')}): {shown}. "
                               f"The last good checkpoint is kept in {ckpt_dir}.")
                    finish("diverged", error=message, diverged_step=step + 1, diverged_player=bad)
                    raise DivergenceError(message, step=step + 1, player=bad)
                params, state, step = new_params, new_state, step + 1
                wall_time = time.perf_counter() - started
                snapshot()
                evaluated = step % config.eval_every == 0 or step == config.steps
                if evaluated:
                    row = {"step": step, "wall_time": wall_time, "train_time": train_time,
                           **evaluate(game, params, config, step, device)}
                    log(row)
                    if bar is not None:
                        bar.set_postfix({k: f"{v:.3g}" for k, v in list(row.items())[3:7]}, refresh=False)
                if (config.checkpoint_every and step % config.checkpoint_every == 0) or step == config.steps or (
                    not config.checkpoint_every and evaluated
                ):
                    checkpoint()
                if bar is not None:
                    bar.update(1)
                if caught:
                    checkpoint()
                    finish("interrupted")
                    raise Interrupted(f"interrupted at step {step}/{config.steps}; a checkpoint was saved.",
                                      caught[0], f"Continue with: diffgames resume {out}")
    except (DivergenceError, Interrupted):
        raise
    except DiffgamesError:
        finish("failed")
        raise
    return finish("done")


def finished_already(config: RunConfig) -> bool:
    """Whether ``config.out`` holds a finished run of exactly ``config`` (keep it)."""
    return read_summary(Path(config.out)).get("status") == "done" and same_config(Path(config.out), config)


def stopped_early(config: RunConfig) -> bool:
    """Whether ``config.out`` holds an interrupted (or crashed) run of ``config`` — the same
    config but perhaps for its length — with checkpoints to continue from."""
    run_dir = Path(config.out)
    return (read_summary(run_dir).get("status") in ("interrupted", "running")
            and any((run_dir / "checkpoints").glob("*.pt")) and same_config(run_dir, config, ignore=("steps",)))


def train_or_continue(config: RunConfig, *, quiet: bool = False) -> dict[str, Any]:
    """:func:`train` ``config``, continuing from its checkpoint when :func:`stopped_early`."""
    return train(config, quiet=quiet, resume_from_checkpoint=stopped_early(config))


def resume(run_dir: Path, *, quiet: bool = False, steps: int | None = None) -> dict[str, Any]:
    """Continue the run in ``run_dir`` from its newest good checkpoint (optionally to a new
    ``steps``)."""
    run_dir = Path(run_dir)
    config = RunConfig.load(run_dir / "config.toml")
    config.out = str(run_dir)
    if steps is not None:
        config.steps = steps
    return train(config, quiet=quiet, resume_from_checkpoint=True)


def _tensorboard_writer(out: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError("--tensorboard needs the tensorboard package: pip install tensorboard") from None
    return SummaryWriter(log_dir=str(out / "tensorboard"))
