"""One line that says what machine, system and library versions a number came from."""
from __future__ import annotations

import functools
import os
import platform
from pathlib import Path

__all__ = ["machine_description", "provenance", "provenance_line", "SETTINGS_THAT_DECIDE"]

#: Provenance fields that change floating-point results when they change (a run continued
#: under other values is no longer bit-identical to an uninterrupted one).
SETTINGS_THAT_DECIDE = ("torch", "torch_threads", "device", "dtype")


def cpu_model() -> str:
    """The CPU's model name (from ``/proc/cpuinfo`` where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_description(device: str | None = None) -> str:
    """CPU model and count, OS, Python and torch versions, torch's thread count, and the
    GPU when ``device`` is a CUDA device."""
    import torch

    text = (f"{cpu_model()}, {os.cpu_count()} logical CPUs; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}, torch {torch.__version__}, "
            f"{torch.get_num_threads()} torch thread(s)")
    if device is not None and torch.device(device).type == "cuda":
        text += f"; GPU {torch.cuda.get_device_name(torch.device(device))}"
    return text


@functools.lru_cache(maxsize=None)
def _git(*args: str) -> str | None:
    """``git args`` in the source tree this package was imported from, when that tree is a
    git checkout of its own (not, say, a site-packages folder inside another repository)."""
    import subprocess

    here = Path(__file__).resolve().parent.parent
    if args != ("rev-parse", "--show-toplevel") and _git("rev-parse", "--show-toplevel") != str(here):
        return None
    try:
        done = subprocess.run(["git", "-C", str(here), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def provenance(device: str, dtype: str) -> dict[str, object]:
    """What decides a run's numbers besides its configuration: the package version and, in a
    git checkout, the commit and whether the tree had uncommitted changes; the torch, numpy
    and Python versions; the device, dtype and torch's thread count; the platform."""
    import numpy
    import torch

    import diffgames

    record: dict[str, object] = {"diffgames": diffgames.__version__}
    commit = _git("rev-parse", "HEAD")
    if commit:
        record.update(commit=commit, dirty=bool(_git("status", "--porcelain", "--untracked-files=no")))
    record.update(torch=torch.__version__, numpy=numpy.__version__, python=platform.python_version(),
                  device=str(device), dtype=str(dtype), torch_threads=torch.get_num_threads(),
                  platform=platform.platform())
    return record


def provenance_line(record: dict[str, object]) -> str:
    """One line of a provenance record, for tables and ``diffgames show``."""
    code = f"diffgames {record.get('diffgames')}"
    if record.get("commit"):
        code += f" (commit {str(record['commit'])[:10]}{', uncommitted changes' if record.get('dirty') else ''})"
    return (f"{code}; torch {record.get('torch')}, numpy {record.get('numpy')}, Python {record.get('python')}; "
            f"{record.get('device')}, {record.get('dtype')}, {record.get('torch_threads')} torch thread(s); "
            f"{record.get('platform')}")
