"""Atomic, checksummed checkpoints with fallback to the previous good one.

File layout: one line holding the SHA-256 of the payload in hex, then the payload (a
``torch.save`` of a dict). Written to a temporary file, fsynced, then renamed, so a crash
never leaves a half-written file under a checkpoint's name; a damaged file (truncated,
flipped bytes) fails its checksum and the previous checkpoint is used, with a warning.
"""
from __future__ import annotations

import hashlib
import io
import os
import warnings
from pathlib import Path
from typing import Any

import torch

__all__ = ["save_checkpoint", "load_latest_checkpoint", "list_checkpoints", "CorruptCheckpoint"]

PATTERN = "checkpoint-*.pt"


class CorruptCheckpoint(Exception):
    pass


def _name(step: int) -> str:
    return f"checkpoint-{step:09d}.pt"


def list_checkpoints(directory: Path) -> list[Path]:
    """Checkpoints in ``directory``, oldest first."""
    return sorted(Path(directory).glob(PATTERN))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_checkpoint(directory: Path, step: int, payload: dict[str, Any], keep: int = 3) -> Path:
    """Write ``payload`` as the checkpoint of ``step`` and keep only the newest ``keep``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    body = buffer.getvalue()
    path = directory / _name(step)
    atomic_write_bytes(path, hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
    for old in list_checkpoints(directory)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def _read(path: Path, map_location: Any) -> dict[str, Any]:
    raw = path.read_bytes()
    digest, sep, body = raw.partition(b"\n")
    if not sep or hashlib.sha256(body).hexdigest().encode() != digest:
        raise CorruptCheckpoint(f"{path.name}: checksum mismatch (truncated or damaged file)")
    try:
        return torch.load(io.BytesIO(body), map_location=map_location, weights_only=False)
    except Exception as exc:  # a valid checksum over an unreadable body: still unusable
        raise CorruptCheckpoint(f"{path.name}: unreadable ({exc})") from None


def load_latest_checkpoint(directory: Path, map_location: Any = None) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint that passes its checksum, or ``None`` when there is none.

    Damaged newer checkpoints are skipped with a warning naming them.
    """
    for path in reversed(list_checkpoints(directory)):
        try:
            return path, _read(path, map_location)
        except CorruptCheckpoint as exc:
            warnings.warn(f"skipping damaged checkpoint {exc}; falling back to the previous one", stacklevel=2)
    return None
