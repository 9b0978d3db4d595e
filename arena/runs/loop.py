"""The run loop: one loop drives a step engine over one seed or N stacked seeds.

:func:`run_loop` steps an engine (:mod:`arena.runs.engine`: one seed, or N seeds as one batched
computation), evaluates, checkpoints, snapshots and stops on a divergence or a signal;
every file of a run directory is written by the seed's :class:`arena.runs.recorder.SeedRecorder`.
:func:`train` (one seed), :func:`arena.runs.vectorized.train_vectorized` (N seeds), ``resume``,
``compare`` and ``run --seeds`` all go through it.

Resuming from a checkpoint continues bit-identically on CPU: the checkpoint holds the
parameters, the solver state, the data generator's RNG state, the step and the elapsed
times, and each evaluation draws from its own generator seeded by ``(seed, step)`` so
evaluations never disturb the training stream.
"""
from __future__ import annotations

import signal
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

import games
import solvers
from arena.runs.checkpoint import CorruptCheckpoint, checkpoint_steps, load_checkpoint_at, load_latest_checkpoint
from arena.runs.config import RunConfig, resolve_device, run_dirs_below
from arena.runs.lock import run_lock
from arena.runs.engine import SeedEngine, StackedEngine
from arena.runs.recorder import SeedRecorder, read_metrics, read_summary
from arena.runs.directory import NOT_IDENTITY, _saved_config, action_for, difference
from diffgames.errors import ConfigError, DiffgamesError, DivergenceError
from games.base import Game, JointParams
from solvers.base import Solver

__all__ = ["run_loop", "train", "resume", "train_or_continue", "Interrupted", "build", "eval_generator", "evaluate",
           "read_metrics", "read_summary"]


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


def _load_checkpoints(recorders: list[SeedRecorder], device: torch.device, together: bool) -> list[dict] | None:
    """Each seed's checkpoint to continue from, all at one step — the newest good one of a
    single seed, the newest step all stacked seeds share (a kill between the seeds'
    checkpoint writes leaves them one step apart) — checked against each seed's
    configuration; ``None``: start afresh (one seed with no checkpoint at all)."""
    if not together:
        try:
            loaded = load_latest_checkpoint(recorders[0].checkpoints, map_location=device)
        except CorruptCheckpoint as exc:
            raise ConfigError(f"{recorders[0].out}: no usable checkpoint ({exc}); cannot resume "
                              "(start the run again)") from None
        if loaded is None:
            return None
        ckpts = [loaded[1]]
    else:
        ckpts = _shared_checkpoints(recorders, device)
    for r, c in zip(recorders, ckpts):
        _check_trained_with(r.config, c)
    return ckpts


def _shared_checkpoints(recorders: list[SeedRecorder], device: torch.device) -> list[dict]:
    steps = [set(checkpoint_steps(r.checkpoints)) for r in recorders]
    missing = [str(r.out) for r, got in zip(recorders, steps) if not got]
    if missing:
        raise ConfigError(f"cannot resume: no usable checkpoint in {', '.join(missing)}")
    at = {r.out.name: max(got) for r, got in zip(recorders, steps)}
    shared = sorted(set.intersection(*steps), reverse=True)
    # a seed ahead of the others is taken back to their step only when it was killed mid-run
    # (status "running"); one that went on alone, or finished, is not undone
    ahead = [r for r, got in zip(recorders, steps) if shared and max(got) > shared[0]]
    if not shared or any(read_summary(r.out).get("status") != "running" for r in ahead):
        raise ConfigError(f"cannot resume the seeds together: their checkpoints are at different steps ({at}), "
                          "e.g. after a seed diverged; resume each with `diffgames resume <run dir>`")
    for step in shared:
        try:
            return [load_checkpoint_at(r.checkpoints, step, map_location=device) for r in recorders]
        except CorruptCheckpoint as exc:
            warnings.warn(f"skipping step {step}: {exc}; trying the seeds' previous shared step", stacklevel=3)
    raise ConfigError(f"cannot resume the seeds together: they share no usable checkpoint step (newest: {at}); "
                      "resume each with `diffgames resume <run dir>`")


def _check_trained_with(config: RunConfig, ckpt: dict[str, Any]) -> None:
    """Refuse to continue under a configuration other than the checkpoint's (an edited
    ``config.toml``), naming each difference."""
    saved = ckpt.get("config")
    if not isinstance(saved, dict):
        return  # a checkpoint of an older diffgames records no configuration
    try:
        saved = RunConfig(**saved).to_dict()
    except (TypeError, ConfigError):
        pass
    wanted = config.to_dict()
    changed = difference({k: v for k, v in saved.items() if k not in NOT_IDENTITY},
                         {k: v for k, v in wanted.items() if k not in NOT_IDENTITY})
    if changed:
        raise ConfigError(f"{config.out}: the configuration differs from the one its checkpoint of step "
                          f"{ckpt.get('step')} was trained with ({'; '.join(changed)}); restore config.toml, "
                          "or start a new run elsewhere")


def _resume_command(outs: list[Path]) -> str:
    if len(outs) == 1:
        return f"diffgames resume {outs[0]}"
    parent = outs[0].parent
    if all(out.parent == parent for out in outs) and set(run_dirs_below(parent)) == set(outs):
        return f"diffgames resume {parent}"
    return "diffgames resume <run dir>, for each seed"


class _Run:
    """The state of one run loop: the engine, each seed's recorder, the step and the clocks."""

    def __init__(self, configs: list[RunConfig], stacked: bool, resume_from_checkpoint: bool):
        if not configs:
            raise ConfigError("run_loop needs at least one config")
        if len(configs) > 1 and not stacked:
            raise ConfigError("several configs run one after another (train each) or stacked (stacked=True)")
        first = configs[0]
        self.steps, self.device = first.steps, resolve_device(first.device)
        self.game, solver = build(first)
        self.engine = (StackedEngine(self.game, solver, configs, self.device) if stacked
                       else SeedEngine(self.game, solver, first, self.device))
        self.recorders = [SeedRecorder(c, {"seeds_vectorized": len(configs)} if stacked else {}) for c in configs]
        torch.manual_seed(first.seed)  # only for code that ignores our generators; all ours are explicit
        ckpts = _load_checkpoints(self.recorders, self.device, together=stacked) if resume_from_checkpoint else None
        self.step, self.train_time, wall_time = 0, 0.0, 0.0
        if ckpts is not None:
            self.engine.load(ckpts)
            self.step, self.train_time, wall_time = ckpts[0]["step"], ckpts[0]["train_time"], ckpts[0]["wall_time"]
        check_budgets(self)
        for r in self.recorders:
            r.start(None if ckpts is None else self.step)
        self.started = time.perf_counter() - wall_time

    def active(self) -> list[int]:
        return [i for i, r in enumerate(self.recorders) if r.active]

    def wall_time(self) -> float:
        return time.perf_counter() - self.started

    def advance(self) -> None:
        """One step of every active seed; a seed that went non-finite ends as diverged."""
        t0 = time.perf_counter()
        culprits = self.engine.advance()
        self.train_time += time.perf_counter() - t0
        for i, bad in enumerate(culprits):
            if bad is not None and self.recorders[i].active:
                message = self.recorders[i].divergence_message(self.step + 1, bad)
                self.finish(i, "diverged", error=message, diverged_step=self.step + 1, diverged_player=bad)
        self.step += 1
        for i in self.active():
            evaluated = self.recorders[i].evaluated_at(self.step)
            self.record(i, evaluated, self.recorders[i].checkpoint_due(self.step, evaluated))

    def record(self, i: int, evaluate_now: bool, checkpoint_now: bool) -> None:
        """Seed ``i``'s snapshot, evaluation and checkpoint at the current step, as due."""
        r, params = self.recorders[i], self.engine.seed_params(i)
        r.snapshot(self.step, params)
        if evaluate_now:
            row = {"step": self.step, "wall_time": self.wall_time(), "train_time": self.train_time,
                   **self.work_columns(i), **evaluate(self.game, params, r.config, self.step, self.device)}
            row.update({k: float(v) for k, v in self.game.history_metrics([*r.rows, row]).items()})
            r.log(row)
        if checkpoint_now:
            r.checkpoint(self.step, self.engine.checkpoint_payload(i), self.train_time, self.wall_time())

    def work_columns(self, i: int) -> dict[str, int]:
        """``work`` (every player's loss-gradient evaluations since step 0) and
        ``work_<player>``; empty where the engine does not count them."""
        work = self.engine.work(i)
        if work is None:
            return {}
        return {"work": sum(work.values()), **{f"work_{p}": n for p, n in work.items()}}

    def budget_spent(self, i: int) -> str | None:
        """The budget of seed ``i`` that its work or training time has reached, if any."""
        return self.recorders[i].config.budget_spent(self.work_columns(i).get("work"), self.train_time)

    def stop_on_budget(self) -> None:
        """Finish (status ``done``) every active seed whose budget is spent, evaluated and
        checkpointed at this step."""
        for i in self.active():
            spent = self.budget_spent(i)
            if spent is not None:
                r = self.recorders[i]
                evaluated = bool(r.rows) and r.rows[-1]["step"] == self.step
                # advance() wrote this step's checkpoint when one was due; otherwise write it now
                written = r.checkpoint_due(self.step, r.evaluated_at(self.step))
                self.record(i, evaluate_now=not evaluated, checkpoint_now=not written)
                self.finish(i, "done", stopped_by=spent)

    def finish(self, i: int, status: str, **more: Any) -> None:
        self.recorders[i].finish(status, self.step, self.train_time, self.wall_time(),
                                 **self.work_columns(i), **self.engine.summary_extra(), **more)

    def interrupted(self, signum: int) -> Interrupted:
        """Checkpoint and close every active seed; the exception that says how to continue."""
        active = self.active()
        for i in active:
            self.record(i, evaluate_now=False, checkpoint_now=True)
            self.finish(i, "interrupted")
        saved = "a checkpoint was saved" if len(self.recorders) == 1 else "checkpoints were saved"
        return Interrupted(f"interrupted at step {self.step}/{self.steps}; {saved}.", signum,
                           f"Continue with: {_resume_command([self.recorders[i].out for i in active])}")


def run_loop(configs: list[RunConfig], *, stacked: bool = False, quiet: bool = False,
             resume_from_checkpoint: bool = False) -> list[dict[str, Any]]:
    """Run ``configs`` (one seed, or with ``stacked`` N seeds as one batched computation)
    to their last step; return the summaries (also in each ``summary.json``).

    A seed whose loss or parameters become non-finite ends with status ``diverged`` (its
    last good checkpoint kept) while the others go on; no exception is raised for it.
    Raises :class:`Interrupted` after SIGINT/SIGTERM, after checkpointing every seed.
    With ``resume_from_checkpoint`` the seeds continue from their newest checkpoints.
    """
    with run_lock(*(c.out for c in configs)):
        return _run_loop(configs, stacked, quiet, resume_from_checkpoint)


def _run_loop(configs: list[RunConfig], stacked: bool, quiet: bool, resume_from_checkpoint: bool) -> list[dict[str, Any]]:
    run = _Run(configs, stacked, resume_from_checkpoint)
    bar = _progress_bar(configs[0], len(configs), run.step, stacked, quiet)
    try:
        with _catch_signals() as caught:
            for i, r in enumerate(run.recorders):
                if not r.rows:  # a fresh start: evaluate and checkpoint step 0
                    run.record(i, evaluate_now=True, checkpoint_now=True)
                elif r.rows[-1]["step"] < run.step and r.evaluated_at(run.step):
                    # the evaluation at the checkpoint's step was lost (a line cut by a kill): it
                    # draws from its own generator, so evaluating again gives the same row
                    run.record(i, evaluate_now=True, checkpoint_now=False)
            run.stop_on_budget()  # a continued run whose budget was already spent
            while run.step < run.steps and run.active():
                run.advance()
                run.stop_on_budget()
                _show_progress(bar, run)
                if caught:
                    raise run.interrupted(caught[0])
    except DiffgamesError as exc:
        if not isinstance(exc, Interrupted):
            for i in run.active():
                run.finish(i, "failed")
        raise
    finally:
        if bar is not None:
            bar.close()
        for r in run.recorders:
            r.close()
    for i in run.active():
        run.finish(i, "done")
    return [r.summary for r in run.recorders]


def extend_budgets(config: RunConfig, budgets: dict[str, Any]) -> None:
    """``config`` with the budgets given (``work_budget``, ``time_budget``; ``None``: keep)."""
    unknown = sorted(set(budgets) - {"work_budget", "time_budget"})
    if unknown:
        raise TypeError(f"unknown keyword arguments {unknown}")
    for name, value in budgets.items():
        if value is not None:
            setattr(config, name, value)
    config.__post_init__()  # validates the new values


def check_budgets(run: _Run) -> None:
    """Refuse a work budget where work is not counted, in one line."""
    config = run.recorders[0].config
    if config.work_budget is not None and run.engine.work(0) is None:
        why = ("a compiled step (--compile) runs no Python hooks" if config.compile else
               "its checkpoint was written by a diffgames that did not count work")
        raise ConfigError(f"{config.out}: --work-budget needs the run's loss-gradient evaluations, which are not "
                          f"counted here ({why}); use --time-budget, or start the run afresh without --compile")


def _show_progress(bar: Any, run: _Run) -> None:
    if bar is None:
        return
    bar.update(1)
    rows = run.recorders[0].rows
    if len(run.recorders) == 1 and rows and rows[-1]["step"] == run.step:  # just evaluated: show a few metrics
        bar.set_postfix({k: f"{v:.3g}" for k, v in list(rows[-1].items())[3:7]}, refresh=False)


def _progress_bar(config: RunConfig, n: int, step: int, stacked: bool, quiet: bool):
    if quiet:
        return None
    from tqdm.auto import tqdm

    desc = f"{config.label} {n} seeds (vectorized)" if stacked else f"{config.label} seed{config.seed}"
    return tqdm(total=config.steps, initial=step, desc=desc, leave=True, dynamic_ncols=True)


def train(config: RunConfig, *, quiet: bool = False, resume_from_checkpoint: bool = False) -> dict[str, Any]:
    """Run ``config`` (one seed) to its last step and return the summary (also in
    ``summary.json``).

    Raises :class:`DivergenceError` (summary status ``diverged``) when a loss or a
    parameter becomes non-finite, and :class:`Interrupted` after SIGINT/SIGTERM, each
    after saving what can be saved.
    """
    (summary,) = run_loop([config], quiet=quiet, resume_from_checkpoint=resume_from_checkpoint)
    if summary["status"] == "diverged":
        raise DivergenceError(summary["error"], step=summary["diverged_step"], player=summary["diverged_player"])
    return summary


def train_or_continue(config: RunConfig, *, quiet: bool = False, overwrite: bool = False) -> dict[str, Any]:
    """:func:`train` ``config`` unless its directory already holds it: the one rule of
    :mod:`arena.runs.directory` (keep a finished run, continue one stopped early, refuse another
    configuration unless ``overwrite``). A kept run's summary has ``kept: True``."""
    with run_lock(config.out):
        action = action_for(config, overwrite=overwrite)
        if action == "keep":
            return {**read_summary(Path(config.out)), "kept": True}
        return train(config, quiet=quiet, resume_from_checkpoint=action == "continue")


def set_torch_threads(threads: int | None, recorded_in: Path | None = None) -> str | None:
    """Set torch's thread count to ``threads`` or, when that is ``None``, to the count the
    run in ``recorded_in`` recorded in its provenance; leave it when neither is known.

    Returns a line saying so when ``threads`` differs from the recorded count (the
    continuation's numbers then differ from an uninterrupted run's), else ``None``.
    """
    recorded = None
    if recorded_in is not None:
        recorded = read_summary(Path(recorded_in)).get("provenance", {}).get("torch_threads")
    if threads is not None and threads < 1:
        raise ConfigError(f"--threads must be at least 1, got {threads}")
    chosen = recorded if threads is None else threads
    if chosen is None:
        return None
    torch.set_num_threads(chosen)
    if recorded is not None and threads is not None and threads != recorded:
        return (f"torch threads: {recorded} recorded by the run → {threads} (--threads); the numbers from here on "
                "differ from an uninterrupted run's, and the summary records the change")
    return None


def resume(run_dir: Path, *, quiet: bool = False, steps: int | None = None,
           threads: int | None = None, **budgets: Any) -> dict[str, Any]:
    """Continue the run in ``run_dir`` from its newest good checkpoint (optionally to a new
    ``steps``), with ``threads`` torch threads — by default the number the run recorded, so
    that the continuation is bit-identical to an uninterrupted run on the same machine.
    ``work_budget=`` / ``time_budget=`` give it a new budget (a run stopped by its budget
    continues to the larger one)."""
    run_dir = Path(run_dir)
    with run_lock(run_dir):
        config = RunConfig(**_saved_config(run_dir))  # a damaged config.toml: the checkpoint's record
        note = set_torch_threads(threads, recorded_in=run_dir)
        if note and not quiet:
            print(note)
        config.out = str(run_dir)
        if steps is not None:
            config.steps = steps
        extend_budgets(config, budgets)
        return train(config, quiet=quiet, resume_from_checkpoint=True)
