"""One line that says what machine, system and library versions a number came from."""
from __future__ import annotations

import os
import platform
from pathlib import Path

__all__ = ["machine_description"]


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
