"""What a command does with a run directory that already exists: one rule for all of them.

``run``, ``run --seeds``, ``compare`` and ``resume`` never destroy a run without being asked:

* no run there (no ``config.toml``): **start** it;
* the same configuration, finished (``done`` or ``diverged``) at the asked length: **keep**
  it ("already done, kept");
* the same configuration but for its length, stopped early (interrupted, or a process that
  died while ``running``) or shorter than asked, with a checkpoint: **continue** it from
  its newest good checkpoint — so the same command again after Ctrl-C carries on;
* anything else — another configuration, or a run already longer than asked — is
  **refused** with one line naming the difference, unless ``overwrite`` is given, which
  removes what the old run wrote and starts afresh.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Literal

from arena.runs.config import RunConfig
from arena.runs.recorder import read_summary
from diffgames.errors import ConfigError

__all__ = ["Action", "action_for", "difference", "clear_run"]

Action = Literal["start", "keep", "continue"]

#: What a run writes into its directory (and ``--overwrite`` removes); nothing else is touched.
RUN_FILES = ("config.toml", "metrics.jsonl", "summary.json", "metrics.png", "samples.png")
RUN_FOLDERS = ("checkpoints", "snapshots", "tensorboard", "plots")


_UNSET = object()


def _shown(value: Any) -> str:
    if value is _UNSET:
        return "(not set)"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _leaves(value: Any, prefix: str) -> dict[str, Any]:
    """``{"a.b.c": leaf}`` of nested dicts (a dict is never a leaf: an empty one has none)."""
    if isinstance(value, dict):
        return {path: leaf for k, v in value.items() for path, leaf in _leaves(v, f"{prefix}.{k}").items()}
    return {prefix: value}


def difference(saved: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """``key: old → new`` for every leaf where the two configurations differ, nested
    tables key by key (``optimizers.row.lr: 0.2 → 0.1``); a key one side lacks shows as
    ``(not set)`` (the default)."""
    old = {p: v for k, v in saved.items() for p, v in _leaves(v, k).items()}
    new = {p: v for k, v in wanted.items() for p, v in _leaves(v, k).items()}
    keys = sorted(set(old) | set(new))
    return [f"{k}: {_shown(old.get(k, _UNSET))} → {_shown(new.get(k, _UNSET))}"
            for k in keys if old.get(k, _UNSET) != new.get(k, _UNSET)]


def action_for(config: RunConfig, *, overwrite: bool = False) -> Action:
    """What to do with ``config.out`` (see the module docstring); raises :class:`ConfigError`
    when the directory holds a run that must not be replaced without ``overwrite``."""
    out = Path(config.out)
    if not (out / "config.toml").is_file():
        return "start"
    if overwrite:
        clear_run(out)
        return "start"
    try:
        saved = RunConfig.load(out / "config.toml").to_dict()
    except ConfigError:
        raise ConfigError(f"{out} holds a config.toml that cannot be read; pass --overwrite to replace the run "
                          "or choose another --out") from None
    wanted = config.to_dict()
    changed = difference({k: v for k, v in saved.items() if k != "steps"}, {k: v for k, v in wanted.items() if k != "steps"})
    summary = read_summary(out)
    reached = summary.get("final_step", 0)
    has_checkpoint = any((out / "checkpoints").glob("*.pt"))
    if not changed and reached > config.steps:
        changed = [f"steps: it already ran to step {reached}, more than the {config.steps} asked"]
    if changed:
        raise ConfigError(f"{out} holds a run of another configuration ({'; '.join(changed)}); "
                          "pass --overwrite to replace it, or choose another --out")
    status = summary.get("status")
    if status == "diverged" or (status == "done" and reached == config.steps):
        return "keep"
    if has_checkpoint:
        return "continue"
    return "start"  # the same configuration, but nothing to continue from (it stopped before step 0's checkpoint)


def clear_run(out: Path) -> None:
    """Remove what a run wrote into ``out`` (and nothing else)."""
    for name in RUN_FILES:
        (out / name).unlink(missing_ok=True)
    for name in RUN_FOLDERS:
        if (out / name).is_dir():
            shutil.rmtree(out / name)
