"""Run configuration: everything that determines a run, as plain data (TOML round trip)."""
from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import tomli_w
import torch

from diffgames.errors import ConfigError

__all__ = ["RunConfig", "DTYPES", "resolve_device", "natural_key", "run_dirs_below"]

DTYPES = {"float32": torch.float32, "float64": torch.float64}
MAX_STEPS = 10**12  # a run's length; more is a typo (a million steps a second would take 30 years)
MAX_SEED = 2**32 - 1  # seeds feed torch generators with offsets added (arena.runs.loop.eval_generator)


@dataclass
class RunConfig:
    """One solver on one game with one seed.

    ``optimizers`` is ``None`` (the game's recommendation), one optimizer spec for every
    player (``{"name": "sgd", "lr": 0.2}``) or ``{player: spec}``.
    """

    game: str
    solver: str
    out: str
    game_options: dict[str, Any] = field(default_factory=dict)
    solver_options: dict[str, Any] = field(default_factory=dict)
    optimizers: dict[str, Any] | None = None
    steps: int = 1000
    eval_every: int = 100
    checkpoint_every: int = 0  # 0: at evaluations only
    snapshot_steps: list[int] = field(default_factory=list)
    seed: int = 0
    device: str = "cpu"
    dtype: str = "float32"
    label: str = ""
    case: str = ""
    tensorboard: bool = False
    compile: bool = False  # torch.compile the solver's step (solvers.compiled.compile_step)
    setting: str | None = None  # the label of a case sweep's setting (None: not in a sweep)
    # budgets (None: none): stop at the first step whose loss-gradient evaluations (all
    # players, arena.runs.work) reach work_budget, or whose training time in seconds reaches
    # time_budget; ``steps`` stays the most steps the run may take
    work_budget: int | None = None
    time_budget: float | None = None

    def __post_init__(self) -> None:
        for name in ("steps", "eval_every", "checkpoint_every", "seed"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(f"{name} must be an integer, got {value!r}")
        if not 0 <= self.steps <= MAX_STEPS:
            raise ConfigError(f"steps must be between 0 and {MAX_STEPS:.0e}, got {self.steps}")
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"seed must be between 0 and 2**32 - 1, got {self.seed}")
        if self.eval_every < 1:
            raise ConfigError(f"eval_every must be ≥ 1, got {self.eval_every}")
        if self.checkpoint_every < 0:
            raise ConfigError(f"checkpoint_every must be ≥ 0, got {self.checkpoint_every}")
        if self.work_budget is not None and (not isinstance(self.work_budget, int) or isinstance(self.work_budget, bool)
                                             or self.work_budget < 1):
            raise ConfigError(f"work_budget must be a positive integer (loss-gradient evaluations), got {self.work_budget!r}")
        if self.time_budget is not None:
            if isinstance(self.time_budget, bool) or not isinstance(self.time_budget, (int, float)) or not self.time_budget > 0:
                raise ConfigError(f"time_budget must be a positive number of seconds, got {self.time_budget!r}")
            self.time_budget = float(self.time_budget)
        if self.dtype not in DTYPES:
            raise ConfigError(f"dtype must be one of {sorted(DTYPES)}, got {self.dtype!r}")
        for name in ("game", "solver", "out", "label", "device", "case"):
            if not isinstance(getattr(self, name), str):
                raise ConfigError(f"{name} must be a string, got {getattr(self, name)!r}")
        if not isinstance(self.snapshot_steps, (list, tuple)) or not all(
                isinstance(s, int) and not isinstance(s, bool) for s in self.snapshot_steps):
            raise ConfigError(f"snapshot_steps must be a list of integers (steps), got {self.snapshot_steps!r}")
        self.snapshot_steps = sorted({int(s) for s in self.snapshot_steps})
        if not self.label:
            self.label = self.solver

    def budget_spent(self, work: int | None, train_time: float) -> str | None:
        """Which budget ``work`` and ``train_time`` have reached (``"work_budget"`` or
        ``"time_budget"``), else ``None``."""
        if self.work_budget is not None and work is not None and work >= self.work_budget:
            return "work_budget"
        if self.time_budget is not None and train_time >= self.time_budget:
            return "time_budget"
        return None

    def snapshot_at(self, step: int) -> bool:
        """Whether to save the parameters at ``step``: a listed step, or the final step when
        any are listed (a run shortened with ``--steps`` still shows where it ended)."""
        return step in self.snapshot_steps or (bool(self.snapshot_steps) and step == self.steps)

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    def to_dict(self) -> dict[str, Any]:
        return _drop_none(asdict(self))

    def save(self, path: Path) -> None:
        """Write the configuration to ``path`` atomically (:mod:`arena.runs.files`)."""
        from arena.runs.files import atomic_write_text

        atomic_write_text(path, tomli_w.dumps(self.to_dict()))

    @classmethod
    def load(cls, path: Path) -> "RunConfig":
        try:
            data = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such file; is this a run directory made by `diffgames run`?") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc})") from None
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{path}: unknown keys {unknown}")
        missing = sorted(f.name for f in fields(cls) if f.name in ("game", "solver", "out") and f.name not in data)
        if missing:
            raise ConfigError(f"{path}: missing keys {missing} (an emptied or damaged file?)")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ConfigError(f"{path}: {exc}") from None


def _drop_none(value: Any) -> Any:
    """TOML has no null: options left at ``None`` are simply not written (they mean the default)."""
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    return value


def resolve_device(name: str) -> torch.device:
    """``torch.device(name)``, with a clear error when CUDA is asked for but absent."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; use 'cpu' or 'cuda' (or 'cuda:N')") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for, but no CUDA device is available here; use --device cpu")
    return device


def natural_key(text: str) -> list[tuple[int, int | str]]:
    """Sort key in which digits compare as numbers: ``seed2`` before ``seed10``,
    ``unrolled-k5`` before ``unrolled-k10``."""
    # the leading 0/1 keeps ints and strings from meeting
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", text) if part]


def run_dirs_below(root: Path) -> list[Path]:
    """The run directories (holding ``config.toml``) directly inside ``root``, in natural order."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted((d for d in root.iterdir() if (d / "config.toml").is_file()), key=lambda d: natural_key(d.name))
