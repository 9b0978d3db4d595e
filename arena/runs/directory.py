"""What a command does with a run directory that already exists: one rule for all of them.

``run``, ``run --seeds``, ``compare`` and ``resume`` never destroy a run without being asked:

* no run there (no ``config.toml``): **start** it;
* the same configuration, finished (``done`` or ``diverged``) at the asked length (its
  ``steps``, or a ``work_budget``/``time_budget`` it has spent): **keep** it ("already
  done, kept");
* the same configuration but for its length, stopped early (interrupted, or a process that
  died while ``running``) or shorter than asked (more steps, a larger budget), with a checkpoint: **continue** it from
  its newest good checkpoint — so the same command again after Ctrl-C carries on;
* anything else — another configuration, or a run already longer than asked — is
  **refused** with one line naming the difference, unless ``overwrite`` is given, which
  removes what the old run wrote (the files its ``manifest.json`` lists, nothing else)
  and starts afresh.

A folder without ``config.toml`` holding files with a run's names that no manifest lists
(someone's own files) is refused, even with ``overwrite``. A damaged ``config.toml`` is
read from the newest good checkpoint, which records its run's configuration. The
folder's path is not part of the comparison: ``p1``, ``./p1/`` and ``/abs/p1`` (or the
folder after a move) are the same run.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from arena.runs.checkpoint import load_latest_checkpoint
from arena.runs.config import RunConfig
from arena.runs.files import Manifest
from arena.runs.recorder import read_summary
from diffgames.errors import ConfigError

__all__ = ["Action", "action_for", "difference", "clear_run"]

Action = Literal["start", "keep", "continue"]

#: Fields that do not make a run another run: its length (continued or refused by its own
#: rule) and where its folder is (however the path is spelled, or after a move).
NOT_IDENTITY = ("steps", "out", "work_budget", "time_budget")  # how long, not what: a longer run continues


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
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: a file is in the way (a run folder must be a folder)")
    if not (out / "config.toml").is_file():
        Manifest(out).check_fresh()  # a run killed before its config.toml is listed in its manifest
        return "start"
    if overwrite:
        clear_run(out)
        return "start"
    try:
        saved = _saved_config(out)
    except ConfigError as exc:
        raise ConfigError(f"{out} holds a config.toml that cannot be read ({exc}); move it away or choose "
                          "another --out (--overwrite removes only a run's listed files)") from None
    wanted = config.to_dict()
    changed = difference({k: v for k, v in saved.items() if k not in NOT_IDENTITY},
                         {k: v for k, v in wanted.items() if k not in NOT_IDENTITY})
    summary = read_summary(out)
    reached = summary.get("final_step", 0)
    has_checkpoint = any((out / "checkpoints").glob("*.pt"))
    if not changed and reached > config.steps:
        changed = [f"steps: it already ran to step {reached}, more than the {config.steps} asked"]
    if changed:
        raise ConfigError(f"{out} holds a run of another configuration ({'; '.join(changed)}); "
                          "pass --overwrite to replace it, or choose another --out")
    status = summary.get("status")
    if status == "diverged" or (status == "done" and (reached == config.steps or config.budget_spent(
            summary.get("work"), summary.get("train_time", 0.0)) is not None)):
        return "keep"
    if has_checkpoint:
        return "continue"
    return "start"  # the same configuration, but nothing to continue from (it stopped before step 0's checkpoint)


def _saved_config(out: Path) -> dict[str, Any]:
    """The run's ``config.toml``; when that is damaged, the configuration its newest good
    checkpoint was trained with (``config.toml`` is rewritten when the run continues)."""
    try:
        return RunConfig.load(out / "config.toml").to_dict()
    except ConfigError:
        try:
            loaded = load_latest_checkpoint(out / "checkpoints")
        except ConfigError:
            loaded = None
        if loaded is None or not isinstance(loaded[1].get("config"), dict):
            raise
        return RunConfig(**loaded[1]["config"]).to_dict()


def clear_run(out: Path) -> None:
    """Remove what a run wrote into ``out``: the files its manifest lists, nothing else.

    A run of an older diffgames (a readable ``config.toml``, no manifest) first gets one
    listing the files that carry a run's names (``config.toml``, ``metrics.jsonl``,
    ``checkpoints/checkpoint-*.pt``, …; never other files or folders). Raises
    :class:`ConfigError`, removing nothing, when there is no manifest and ``config.toml``
    is not a run configuration.
    """
    manifest = Manifest(out)
    if not manifest.exists:
        try:
            RunConfig.load(out / "config.toml")
        except ConfigError:
            raise ConfigError(f"{out} holds a config.toml that is not a run's and no manifest.json, so --overwrite "
                              "does not know which files are a run's: move them away or choose another --out") from None
        manifest.adopt()
    manifest.clear()
