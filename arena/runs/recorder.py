"""What one seed's run leaves on disk, written in one place for every step engine.

A run directory holds ``config.toml``, ``metrics.jsonl`` (one JSON object per evaluation:
``step``, ``wall_time``, ``train_time``, ``work`` and ``work_<player>`` (loss-gradient
evaluations since step 0, :mod:`arena.runs.work`), ``loss_<player>`` and every game metric),
``checkpoints/``, ``snapshots/`` (parameters at ``snapshot_steps``, for sample figures),
``summary.json`` and, with ``tensorboard``, ``tensorboard/``. :class:`SeedRecorder` writes
all of them; the run loop (:func:`arena.runs.loop.run_loop`) tells it when.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from arena.runs.checkpoint import save_checkpoint
from arena.runs.files import Manifest, append_line, atomic_torch_save, atomic_write_bytes, atomic_write_text
from arena.runs.config import RunConfig
from diffgames.errors import ConfigError
from diffgames.machine import SETTINGS_THAT_DECIDE, provenance
from games.base import JointParams

__all__ = ["SeedRecorder", "read_metrics", "read_summary", "write_json", "load_snapshot", "BOOKKEEPING_COLUMNS"]

class _Bookkeeping:
    """``column in BOOKKEEPING_COLUMNS``: whether a column of ``metrics.jsonl`` says when an
    evaluation was made (its step, clocks and work: ``work`` and ``work_<player>``), not what
    it found."""

    NAMES = frozenset({"step", "wall_time", "train_time", "work"})

    def __contains__(self, column: object) -> bool:
        return column in self.NAMES or (isinstance(column, str) and column.startswith("work_"))


BOOKKEEPING_COLUMNS = _Bookkeeping()


#: Set to 1 to skip damaged lines of ``metrics.jsonl`` (with a warning) instead of stopping.
SKIP_DAMAGED_ENV = "DIFFGAMES_SKIP_DAMAGED_LINES"


def read_metrics(run_dir: Path, *, skip_damaged: bool | None = None, cut_tail_ok: bool = False) -> list[dict[str, Any]]:
    """The evaluations logged in ``run_dir/metrics.jsonl`` (``[]`` when there are none).

    A line that is not a JSON object with a ``step`` raises :class:`ConfigError` naming the
    file and the line number, unless ``skip_damaged`` (default: the environment variable
    ``DIFFGAMES_SKIP_DAMAGED_LINES=1``), which skips it with a warning. With
    ``cut_tail_ok`` a last line without its newline (a write cut by a kill, which a
    continued run rewrites) is dropped silently.
    """
    import warnings

    path = Path(run_dir) / "metrics.jsonl"
    if skip_damaged is None:
        skip_damaged = os.environ.get(SKIP_DAMAGED_ENV, "") == "1"
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    lines = text.split("\n")
    tail_cut = lines[-1] != ""  # the last write did not end its line
    rows = []
    for number, line in enumerate(lines if tail_cut else lines[:-1], start=1):
        try:
            row = json.loads(line)
            if not isinstance(row, dict) or not isinstance(row.get("step"), int):
                raise ValueError
        except ValueError:
            if cut_tail_ok and tail_cut and number == len(lines):
                break
            message = f"{path}: line {number} is damaged (not a JSON object with a step)"
            if not skip_damaged:
                raise ConfigError(f"{message}; set {SKIP_DAMAGED_ENV}=1 to skip damaged lines") from None
            warnings.warn(f"{message}; skipped", stacklevel=2)
            continue
        rows.append(row)
    return rows


def read_summary(run_dir: Path) -> dict[str, Any]:
    """A run directory's ``summary.json`` (``{}`` when there is none or it cannot be read)."""
    try:
        return json.loads((Path(run_dir) / "summary.json").read_text())
    except (OSError, ValueError):
        return {}


def load_snapshot(path: Path, device: Any = "cpu") -> Any:
    """The parameters in a snapshot file, read as data only (``torch.load(weights_only=True)``);
    one line of :class:`ConfigError` when the file is damaged or holds anything else."""
    import pickle

    import torch

    try:
        return torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError:
        raise ConfigError(f"{path}: holds objects other than tensors and plain values, which are not loaded "
                          "(files are data, never code)") from None
    except Exception as exc:
        raise ConfigError(f"{path}: not a readable snapshot ({type(exc).__name__})") from None


def write_json(path: Path, data: dict[str, Any]) -> None:
    """``data`` as indented JSON in ``path``, written atomically."""
    atomic_write_bytes(path, (json.dumps(data, indent=2, allow_nan=True) + "\n").encode())


class SeedRecorder:
    """The run directory of one seed: its metrics, checkpoints, snapshots and summary.

    Parameters
    ----------
    config
        The seed's run configuration (``config.out`` is the directory).
    summary_extra
        Keys every summary of this seed carries (e.g. ``seeds_vectorized``).
    """

    def __init__(self, config: RunConfig, summary_extra: dict[str, Any] | None = None):
        self.config = config
        self.out = Path(config.out)
        self.checkpoints = self.out / "checkpoints"
        self.rows: list[dict[str, Any]] = []
        self.active = True
        self.summary: dict[str, Any] = {"status": "running", "label": config.label, "seed": config.seed,
                                        "game": config.game, "solver": config.solver, "steps": config.steps,
                                        **(summary_extra or {})}
        self.out.mkdir(parents=True, exist_ok=True)
        self.manifest = Manifest(self.out)
        self._writer = None

    # ------------------------------------------------------------------ start
    def start(self, from_step: int | None) -> None:
        """Prepare the directory: a fresh run (``from_step=None``) empties the metrics and
        removes old checkpoints; a continued one drops the evaluations logged after its
        checkpoint by the interrupted process."""
        now = provenance(self.config.device, self.config.dtype)
        if from_step is None:
            self.rows = []
            self.manifest.clear()  # what an earlier start of this run wrote (only what its manifest lists)
        else:
            self.manifest.adopt()  # a run folder of an older diffgames: list its files
            self.rows = [r for r in read_metrics(self.out, cut_tail_ok=True) if r["step"] <= from_step]
            before = read_summary(self.out).get("provenance", {})
            changed = [f"{k}: {before.get(k)} → {now[k]}" for k in SETTINGS_THAT_DECIDE if before and before.get(k) != now[k]]
            if changed:  # floating-point reductions differ: no longer bit-identical to one uninterrupted run
                self.summary["continued_under"] = {"from_step": from_step, "changed": changed, "before": before}
        self.summary["provenance"] = now
        for name in ("config.toml", "metrics.jsonl", "summary.json"):
            self.manifest.add(self.out / name)
        atomic_write_text(self.out / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in self.rows))
        self.config.save(self.out / "config.toml")
        self.progress(from_step or 0)
        if self.config.tensorboard:
            self._writer = _tensorboard_writer(self.out)

    def progress(self, step: int) -> None:
        """Rewrite ``summary.json`` while running: status ``running`` at ``step`` (the newest
        checkpoint), so that the run's length on disk is always the true one."""
        write_json(self.out / "summary.json", {**self.summary, "final_step": step,
                                               "final_metrics": self.rows[-1] if self.rows else {}})

    # ------------------------------------------------------------------ during the run
    def log(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        append_line(self.out / "metrics.jsonl", json.dumps(row))
        if self._writer is not None:
            for k, v in row.items():
                if k != "step" and isinstance(v, (int, float)):
                    self._writer.add_scalar(k, v, row["step"])

    def evaluated_at(self, step: int) -> bool:
        return step % self.config.eval_every == 0 or step == self.config.steps

    def checkpoint_due(self, step: int, evaluated: bool) -> bool:
        every = self.config.checkpoint_every
        return (every and step % every == 0) or step == self.config.steps or (not every and evaluated)

    def checkpoint(self, step: int, payload: dict[str, Any], train_time: float, wall_time: float) -> None:
        """``payload``: the seed's ``params``, ``solver_state`` and ``rng`` states."""
        save_checkpoint(self.checkpoints, step, {**payload, "step": step, "train_time": train_time,
                                                 "wall_time": wall_time, "config": self.config.to_dict()},
                        manifest=self.manifest)
        if step != self.config.steps:  # the final step's summary follows at once
            self.progress(step)

    def snapshot(self, step: int, params: JointParams) -> None:
        if self.config.snapshot_at(step):
            path = self.out / "snapshots" / f"step-{step:09d}.pt"
            self.manifest.add(path)
            atomic_torch_save(params, path)

    def divergence_message(self, step: int, player: str) -> str:
        last = self.rows[-1] if self.rows else {}
        shown = ", ".join(f"{k}={v:.4g}" for k, v in last.items() if isinstance(v, float))
        return (f"run diverged at step {step}: player {player!r} has a non-finite loss or parameters. "
                f"Last evaluation (step {last.get('step')}): {shown}. "
                f"The last good checkpoint is kept in {self.checkpoints}.")

    # ------------------------------------------------------------------ end
    def finish(self, status: str, step: int, train_time: float, wall_time: float, **extra: Any) -> dict[str, Any]:
        """Write ``summary.json`` with ``status`` and stop recording this seed."""
        self.active = False
        self.summary.update(status=status, final_step=step, train_time=train_time, wall_time=wall_time,
                            time_per_step_ms=1000 * train_time / step if step else math.nan,
                            final_metrics=self.rows[-1] if self.rows else {}, **extra)
        write_json(self.out / "summary.json", self.summary)
        self.close()
        return self.summary

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            for path in sorted((self.out / "tensorboard").rglob("*")):
                if path.is_file():
                    self.manifest.add(path)


def _tensorboard_writer(out: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError("--tensorboard needs the tensorboard package: pip install tensorboard") from None
    return SummaryWriter(log_dir=str(out / "tensorboard"))
