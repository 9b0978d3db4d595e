"""Atomic, checksummed checkpoints with fallback to the previous good one.

File layout: one line holding the SHA-256 of the payload in hex, then the payload (a
``torch.save`` of a dict of tensors and plain values). Written through
:func:`arena.runs.files.atomic_write_bytes` (unique temporary file, fsync, rename), so a crash
never leaves a half-written file under a checkpoint's name; a damaged file (truncated,
flipped bytes) fails its checksum and the previous checkpoint is used, with a warning.

Checkpoints are data, never code: they are read with ``torch.load(weights_only=True)``,
which builds tensors, numbers, strings and containers only. The checksum guards against
damage, not against a crafted file (it has no key); ``weights_only`` is what keeps a
crafted checkpoint from running anything: one that holds other objects is refused.
"""
from __future__ import annotations

import hashlib
import io
import pickle
import warnings
from pathlib import Path
from typing import Any

import torch

from diffgames.errors import ConfigError
from arena.runs.files import Manifest, atomic_write_bytes

__all__ = ["save_checkpoint", "load_latest_checkpoint", "load_checkpoint_at", "checkpoint_steps", "list_checkpoints",
           "CorruptCheckpoint", "atomic_write_bytes"]

PATTERN = "checkpoint-*.pt"


class CorruptCheckpoint(ConfigError):
    """A checkpoint that cannot be used: damaged, or holding more than plain data."""


def _name(step: int) -> str:
    return f"checkpoint-{step:09d}.pt"


def list_checkpoints(directory: Path) -> list[Path]:
    """Checkpoints in ``directory``, oldest first."""
    return sorted(Path(directory).glob(PATTERN))


def checkpoint_steps(directory: Path) -> list[int]:
    """The steps of the checkpoints in ``directory`` (by file name), oldest first."""
    steps = []
    for path in list_checkpoints(directory):
        digits = path.stem.removeprefix("checkpoint-")
        if digits.isdigit():
            steps.append(int(digits))
    return steps


def save_checkpoint(directory: Path, step: int, payload: dict[str, Any], keep: int = 3,
                    manifest: Manifest | None = None) -> Path:
    """Write ``payload`` as the checkpoint of ``step`` and keep only the newest ``keep``
    (listing the file in ``manifest`` first, when given)."""
    directory = Path(directory)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    body = buffer.getvalue()
    path = directory / _name(step)
    if manifest is not None:
        manifest.add(path)
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
        data = torch.load(io.BytesIO(body), map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        raise CorruptCheckpoint(f"{path.name}: holds objects other than tensors and plain values, which are "
                                "not loaded (files are data, never code); run again to make new checkpoints") from None
    except Exception as exc:  # a valid checksum over an unreadable body: still unusable
        raise CorruptCheckpoint(f"{path.name}: unreadable ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise CorruptCheckpoint(f"{path.name}: not a run checkpoint (a {type(data).__name__}, not a dict)")
    return data


def load_latest_checkpoint(directory: Path, map_location: Any = None,
                           at_most: int | None = None) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint (at step ``at_most`` or before, when given) that passes its
    checksum and loads as plain data, or ``None`` when there is none.

    Damaged newer checkpoints are skipped with a warning naming them; when every
    checkpoint is unusable, :class:`CorruptCheckpoint` says why the newest one is.
    """
    first_error = None
    for path in reversed(list_checkpoints(directory)):
        if at_most is not None and path.stem.removeprefix("checkpoint-").isdigit() \
                and int(path.stem.removeprefix("checkpoint-")) > at_most:
            continue
        try:
            return path, _read(path, map_location)
        except CorruptCheckpoint as exc:
            first_error = first_error or exc
            warnings.warn(f"skipping damaged checkpoint {exc}; falling back to the previous one", stacklevel=2)
    if first_error is not None:
        raise first_error
    return None


def load_checkpoint_at(directory: Path, step: int, map_location: Any = None) -> dict[str, Any]:
    """The checkpoint of ``step``; raises :class:`CorruptCheckpoint` when it is missing or unusable."""
    path = Path(directory) / _name(step)
    if not path.is_file():
        raise CorruptCheckpoint(f"{path}: no checkpoint of step {step}")
    return _read(path, map_location)
