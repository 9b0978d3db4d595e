"""Shared pieces of the fault-injection tests: tiny runs, a simulated kill, metric comparison."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from arena.cli.main import main
from arena.runs import files

ROOT = Path(__file__).resolve().parents[2]
TIME_COLUMNS = ("wall_time", "train_time")
RPS = ["--game", "rps", "--solver", "optimistic", "--optimizer", "sgd", "--lr", "0.2", "--eval-every", "5",
       "--threads", "1", "--quiet"]
MOG = ["--game", "mog", "--game-opt", "latent_size=4", "--game-opt", "hidden=8", "--game-opt", "batch_size=16",
       "--game-opt", "eval_samples=50", "--solver", "alternating", "--eval-every", "5", "--threads", "1", "--quiet"]


class SimulatedKill(BaseException):
    """Raised by the write hook in place of SIGKILL (no ``except Exception`` catches it)."""


def rows(run_dir: Path) -> list[dict]:
    """``metrics.jsonl`` without its time columns (which differ between any two runs)."""
    text = (Path(run_dir) / "metrics.jsonl").read_text()
    return [{k: v for k, v in json.loads(line).items() if k not in TIME_COLUMNS} for line in text.splitlines()]


def cli(*argv: str) -> int:
    return main([str(a) for a in argv])


@contextmanager
def kill_at_write(n: int | None = None, match: str | None = None):
    """Raise :class:`SimulatedKill` at the ``n``-th write of a run file (or at the first write
    whose path contains ``match``); yields the list of the paths written so far."""
    written: list[Path] = []

    def hook(path: Path) -> None:
        written.append(path)
        if (n is not None and len(written) == n) or (match is not None and match in str(path)):
            raise SimulatedKill(str(path))

    files.fault_hook = hook
    try:
        yield written
    finally:
        files.fault_hook = None


def count_writes(*argv: str) -> list[Path]:
    with kill_at_write() as written:
        assert cli(*argv) == 0
    return list(written)


def subprocess_cli(*argv: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """``diffgames ARGV`` in a fresh interpreter (for real kills and signals)."""
    return subprocess.run([sys.executable, "-m", "arena.cli.main", *map(str, argv)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=ROOT, timeout=timeout)


def one_line(text: str) -> bool:
    """A user's error: one ``diffgames:`` line on stderr (warnings about skipped files aside), no traceback."""
    lines = [line for line in text.strip().splitlines() if line.startswith("diffgames:")]
    return len(lines) == 1 and "Traceback" not in text
