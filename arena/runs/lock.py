"""One writer per run folder: a lock file naming its holder.

Every command that writes a run folder holds ``<folder>/.lock`` while it decides what to do
with the folder and while it runs. The lock is an ``fcntl.flock`` on that file, which the
operating system releases when its process dies, so a lock left by a killed process is
free at once (taken over, its file rewritten with the new holder); the file holds the
holder's process id, host and start time, and a second writer is refused with one line
naming them. The lock is re-entrant within a process (``run`` → the run loop).
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from diffgames.errors import ConfigError

__all__ = ["run_lock", "RunLocked", "LOCK_NAME"]

LOCK_NAME = ".lock"

_held: dict[Path, tuple[int, int, bool]] = {}  # resolved folder -> (fd, depth, whether the lock made the folder)


class RunLocked(ConfigError):
    """Another process writes the run folder."""


def _holder(path: Path, tries: int = 20) -> str:
    """Who holds the lock. The holder writes its record just after taking the lock, so a
    reader that comes in between waits for it briefly (up to ``tries`` × 10 ms)."""
    for attempt in range(tries):
        try:
            info = json.loads(path.read_text())
            return f"process {info['pid']} on {info['host']} (since {info['since']})"
        except (OSError, ValueError, KeyError, TypeError):
            if attempt < tries - 1:
                time.sleep(0.01)
    return "process that has not recorded its id yet"


def _acquire(folder: Path) -> int:
    path = folder / LOCK_NAME
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ConfigError(f"cannot write {folder}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunLocked(f"{folder} is being written by {_holder(path)}; wait for it to finish "
                            "or stop it (one command writes a run folder at a time)") from None
        try:  # the holder before us may have removed the file after we opened it: lock the file at the path
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
    return fd


@contextlib.contextmanager
def run_lock(*folders: str | Path) -> Iterator[None]:
    """Hold the lock of each folder (created when missing) for the ``with`` block.

    Raises :class:`RunLocked` (one line naming the holder) when another process holds one;
    the locks taken before it are released.
    """
    taken: list[Path] = []
    try:
        for folder in folders:
            folder = Path(folder)
            key = folder.resolve()
            if key in _held:
                fd, depth, made = _held[key]
                _held[key] = (fd, depth + 1, made)
            else:
                made = not folder.exists()
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                except (FileExistsError, NotADirectoryError):
                    raise ConfigError(f"--out {folder}: a file is in the way (a run folder must be a folder)") from None
                except OSError as exc:
                    raise ConfigError(f"cannot create {folder}: {exc.strerror or exc}") from None
                _held[key] = (_acquire(folder), 1, made)
            taken.append(key)
        yield
    finally:
        for key in reversed(taken):
            fd, depth, made = _held[key]
            if depth > 1:
                _held[key] = (fd, depth - 1, made)
                continue
            del _held[key]
            with contextlib.suppress(OSError):
                os.unlink(key / LOCK_NAME)  # unlinked while still locked: see the inode check above
            os.close(fd)
            if made:  # a folder made only for the lock (e.g. a run refused at once) is not left behind
                with contextlib.suppress(OSError):
                    key.rmdir()
