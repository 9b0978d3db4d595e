"""Every file a run writes goes through here: atomically, and listed in the run's manifest.

:func:`atomic_write_bytes` writes a file under a unique temporary name in the same folder,
fsyncs it, renames it over the target and fsyncs the folder, so that a process killed at
any moment leaves either the old file or the new one, never half of one. Two processes
never share a temporary name. ``metrics.jsonl`` grows by :func:`append_line` (one
``write`` of a whole line, fsynced); a line cut by a kill is dropped when the run continues.

A run folder's ``manifest.json`` lists the files the run wrote (paths relative to the
folder); a name is added before its file is first written, so every file a run ever
wrote is listed, even after a kill. ``--overwrite`` removes only listed files
(:meth:`Manifest.clear`), and a fresh run refuses a folder holding run files that no
manifest lists (:meth:`Manifest.check_fresh`).

Test hook: :data:`fault_hook`, when set, is called with the target path before each write
takes effect (after the temporary file is complete, before the rename; before an
appended line). The environment variable ``DIFFGAMES_FAULT_KILL_AT_WRITE=N`` installs a
hook that kills the process with SIGKILL at its N-th write (the fault-injection tests).
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from diffgames.errors import ConfigError

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_torch_save", "atomic_savefig", "save_figure", "append_line",
           "Manifest", "RunFileError", "fault_hook", "MANIFEST", "RUN_FILE_NAMES"]

MANIFEST = "manifest.json"

#: Names a run writes: a folder holding any of them but no manifest was not made by a run.
RUN_FILE_NAMES = ("config.toml", "metrics.jsonl", "summary.json", "metrics.png", "samples.png")
_RUN_GLOBS = ("checkpoints/checkpoint-*.pt", "snapshots/step-*.pt", "tensorboard/events.out.tfevents.*")

fault_hook: Callable[[Path], None] | None = None

_UMASK = os.umask(0)
os.umask(_UMASK)


class RunFileError(ConfigError):
    """A run's file could not be written (full disk, read-only file system, a file where a
    folder should be): one line naming the file and the reason."""


def _kill_at_write(n: int) -> Callable[[Path], None]:
    count = [0]

    def hook(path: Path) -> None:
        count[0] += 1
        if count[0] == n:
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


if os.environ.get("DIFFGAMES_FAULT_KILL_AT_WRITE", "").isdigit():
    fault_hook = _kill_at_write(int(os.environ["DIFFGAMES_FAULT_KILL_AT_WRITE"]))


def _failed(path: Path, exc: OSError) -> RunFileError:
    return RunFileError(f"cannot write {path}: {exc.strerror or exc}")


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (unique temporary name, fsync, rename).

    Raises :class:`RunFileError` (one line) when the file system refuses.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _failed(path, exc) from None
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # the permissions of an ordinary file, not mkstemp's 0600
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if fault_hook is not None:
            fault_hook(path)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _failed(path, exc) from None
        raise
    _fsync_folder(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save(obj)`` into ``path`` atomically."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def atomic_savefig(fig: Any, path: Path, **options: Any) -> None:
    """``fig.savefig(path)`` atomically (the format from the file's suffix)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format=Path(path).suffix.lstrip(".") or "png", **options)
    atomic_write_bytes(path, buffer.getvalue())


def save_figure(fig: Any, path: Path, **options: Any) -> None:
    """:func:`atomic_savefig`, listing the file first in the manifest of the folder it goes
    into when that folder is a run's (holds ``manifest.json``)."""
    path = Path(path)
    if (path.parent / MANIFEST).is_file():
        Manifest(path.parent).add(path)
    atomic_savefig(fig, path, **options)


def append_line(path: Path, line: str) -> None:
    """Append ``line`` (a newline added) in one write, fsynced."""
    if fault_hook is not None:
        fault_hook(Path(path))
    try:
        with open(path, "a") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise _failed(Path(path), exc) from None


class Manifest:
    """The list of files a run wrote into its folder (``manifest.json``).

    Parameters
    ----------
    folder
        The run folder.
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.path = self.folder / MANIFEST
        self.damaged = False
        self.files: list[str] = self._read()

    def _read(self) -> list[str]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        except (OSError, ValueError):
            data = None
        files = data.get("files") if isinstance(data, dict) else None
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            self.damaged = True
            return []
        return files

    def _refuse_if_damaged(self) -> None:
        if self.damaged:
            raise ConfigError(f"{self.path} is damaged; it lists what the run wrote, so nothing is removed: "
                              "move the folder away or choose another --out")

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    def add(self, path: Path) -> None:
        """List ``path`` (inside the folder) before it is first written."""
        self._refuse_if_damaged()
        rel = Path(path).relative_to(self.folder).as_posix()
        if rel in self.files and self.exists:
            return
        present = [f for f in self.files  # drop the checkpoints pruned since
                   if not f.startswith("checkpoints/") or (self.folder / f).exists()]
        self.files = sorted({*present, rel})
        atomic_write_text(self.path, json.dumps({"files": self.files}, indent=1) + "\n")

    def adopt(self) -> None:
        """List the run files of a folder written by an older diffgames (no manifest yet), or
        of a run continuing with a damaged manifest."""
        if not self.exists or self.damaged:
            self.damaged = False
            self.files = sorted(f.relative_to(self.folder).as_posix() for f in self._run_files())
            atomic_write_text(self.path, json.dumps({"files": self.files}, indent=1) + "\n")

    def _run_files(self) -> list[Path]:
        found = [self.folder / n for n in RUN_FILE_NAMES if (self.folder / n).is_file()]
        for pattern in _RUN_GLOBS:
            found.extend(p for p in self.folder.glob(pattern) if p.is_file())
        return found

    def check_fresh(self) -> None:
        """Raise :class:`ConfigError` when the folder holds run files no manifest lists."""
        self._refuse_if_damaged()
        listed = {self.folder / f for f in self.files}
        foreign = [p for p in self._run_files() if p not in listed]
        if foreign:
            shown = ", ".join(str(p.relative_to(self.folder)) for p in foreign[:3]) + (", …" if len(foreign) > 3 else "")
            raise ConfigError(f"{self.folder} holds files that no run's manifest.json lists ({shown}); "
                              "they are not overwritten: move them away or choose another --out")

    def clear(self) -> None:
        """Remove the listed files (and the manifest), then the run's folders left empty."""
        self._refuse_if_damaged()
        if not self.exists:
            self.check_fresh()
            return
        for rel in self.files:
            target = (self.folder / rel)
            if target.parent.resolve().is_relative_to(self.folder.resolve()) and target.is_file():
                target.unlink()
            if target.parent.is_dir():  # temporary files a killed write left
                for tmp in target.parent.glob(f".{target.name}.*.tmp"):
                    tmp.unlink(missing_ok=True)
        for sub in ("checkpoints", "snapshots", "tensorboard"):
            with contextlib.suppress(OSError):
                (self.folder / sub).rmdir()  # only when empty: another file there is not the run's
        self.path.unlink(missing_ok=True)
        self.files = []
