"""Runs as Ray tasks: ``diffgames compare CASE --executor ray [--address ADDR]``.

Each run is one Ray task declaring ``num_cpus`` = the ``--threads`` value and, on CUDA,
``num_gpus`` = ``--gpus-per-run`` (default 1; a fraction packs several runs on one GPU), so
Ray's scheduler fills a many-core or multi-GPU machine, or a cluster. Without an address a
local Ray instance starts with the command and stops with it; with one, the command joins
that cluster (``ray.init(address=...)``) and leaves it running.

**Where results are written.** A task first looks for a probe file the driver wrote into
the output directory. When it sees it (a local instance, or a cluster whose nodes share
the output directory, e.g. over NFS), it trains straight into the run directory, exactly
as a local run does. When it does not, the driver sends the run directory's current files
with the task (so an interrupted run still continues from its checkpoint), the task
trains in a temporary folder on its node and returns the folder's files, and the driver
writes them into the run directory.

**Faults.** A task whose run raises, or whose worker process dies, is retried by Ray
(``max_retries``/``retry_exceptions``, :data:`RETRIES` times). A retry continues from the
run's newest checkpoint: :func:`arena.runs.loop.train_or_continue` finds it, on a shared file
system, in the run directory; otherwise in the files the driver sent, i.e. from the
driver's copy (a retry after a worker died mid-run on a node without the shared folder
starts from the checkpoint the driver had, which may be step 0). Training is
deterministic, so the final metrics equal an uninterrupted run's. A run that fails every
retry is reported as ``failed`` with its error; the other runs go on.

**Ctrl-C** on the driver cancels the running tasks with ``ray.cancel`` (a
``KeyboardInterrupt`` in each task, which :func:`arena.runs.loop.train` turns into a checkpoint
and a clean stop), waits for them, and says to run the same command again: finished runs
are kept and interrupted ones continue, as with the local executor.
"""
from __future__ import annotations

import io
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from arena.runs.config import RunConfig
from diffgames.errors import ConfigError

__all__ = ["run_on_ray", "RETRIES", "require_ray"]

#: Ray retries of a task that raised or whose worker died, before its run counts as failed.
RETRIES = 2
#: Seconds the driver waits for cancelled tasks to checkpoint after Ctrl-C.
CANCEL_WAIT_S = 120
_PROBE = ".ray-shared-probe"


def require_ray() -> Any:
    """The ``ray`` module, or one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError("--executor ray needs Ray, an optional extra: pip install 'diffgames[ray]' "
                          "(or pip install ray); the local executor needs nothing more") from None
    return ray


def _pack(folder: Path) -> bytes | None:
    """The files of a run directory as a gzipped tar (``None`` when it holds nothing)."""
    if not folder.is_dir() or not any(folder.iterdir()):
        return None
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for item in sorted(folder.iterdir()):
            tar.add(item, arcname=item.name)
    return buffer.getvalue()


def _unpack(data: bytes, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(folder, filter="data")


def _train_task(config: dict[str, Any], threads: int, probe: str, token: str, files: bytes | None) -> dict[str, Any]:
    """One run on a Ray worker (see the module docstring). Errors propagate, so that Ray
    retries the task; a divergence or an interruption is a result."""
    import torch

    from arena.runs.loop import Interrupted, read_summary, train_or_continue
    from diffgames.errors import DivergenceError

    torch.set_num_threads(threads)
    cfg = RunConfig(**config)
    try:
        shared = Path(probe).read_text() == token
    except OSError:
        shared = False
    out = Path(cfg.out)
    if not shared:
        out = Path(tempfile.mkdtemp(prefix="diffgames-ray-")) / "run"
        if files is not None:
            _unpack_run(files, out)
        cfg.out = str(out)
    try:
        summary = train_or_continue(cfg, quiet=True)
    except (DivergenceError, Interrupted):
        summary = read_summary(out)
    return {"summary": summary, "files": None if shared else _pack(out)}


def _unpack_run(data: bytes, folder: Path) -> None:
    """Unpack a run directory's files into ``folder``; its ``config.toml`` then names
    ``folder`` (it named the folder the files came from)."""
    _unpack(data, folder)
    saved = folder / "config.toml"
    if saved.is_file():
        copy = RunConfig.load(saved)
        copy.out = str(folder)
        copy.save(saved)


def _store(cfg: RunConfig, result: dict[str, Any]) -> None:
    """Write a task's returned files into the run directory."""
    if result.get("files") is not None:
        _unpack_run(result["files"], Path(cfg.out))


def _error_text(exc: BaseException) -> str:
    """The last line of a task's error (Ray wraps the worker's traceback)."""
    cause = getattr(exc, "cause", None)
    if cause is not None:
        return f"{type(cause).__name__}: {cause}"
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[-1] if lines else ''}"


def run_on_ray(todo: list[RunConfig], threads: int, report: Callable[[RunConfig, dict[str, Any]], None], *,
               out: Path, address: str | None = None, gpus_per_run: float | None = None) -> bool:
    """Run ``todo`` as Ray tasks; ``report(cfg, summary)`` as each ends. True when interrupted."""
    ray = require_ray()
    if address:
        _check_reachable(address)
    started_here = not ray.is_initialized()
    if started_here:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                     configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the Ray cluster at {address!r}" if address else "a local Ray instance"
            raise ConfigError(f"could not start or join {where}: {exc}") from None
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    token, probe = uuid.uuid4().hex, out / _PROBE
    probe.write_text(token)
    cuda = any(c.device.startswith("cuda") for c in todo)
    gpus = (1.0 if gpus_per_run is None else float(gpus_per_run)) if cuda else 0
    task = ray.remote(_train_task).options(num_cpus=threads, num_gpus=gpus, max_retries=RETRIES,
                                           retry_exceptions=True)
    refs: dict[Any, RunConfig] = {}
    interrupted = False
    try:
        for cfg in todo:
            refs[task.remote(cfg.to_dict(), threads, str(probe.resolve()), token, _pack(Path(cfg.out)))] = cfg
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1, timeout=1.0)
            for ref in done:
                interrupted |= _collect(ray, ref, refs[ref], report)
    except KeyboardInterrupt:
        interrupted = True
        _cancel(ray, [r for r in refs if r not in _finished(ray, list(refs))], refs, report)
    finally:
        probe.unlink(missing_ok=True)
        if started_here:
            ray.shutdown()
    return interrupted


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """A ``host:port`` address must answer within ``timeout_s`` (``ray.init`` would keep
    retrying for minutes); ``auto`` and ``ray://`` addresses are left to Ray."""
    import socket

    if address == "auto" or "://" in address or ":" not in address:
        return
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except (OSError, ValueError) as exc:
        raise ConfigError(f"no Ray cluster answers at {address!r} ({exc}); start one with `ray start --head` and give "
                          "the address it prints (or --address auto on its head node), or leave out --address "
                          "for a local instance") from None


def _collect(ray: Any, ref: Any, cfg: RunConfig, report: Callable[[RunConfig, dict[str, Any]], None]) -> bool:
    """Store and report one finished task; True when its run was interrupted."""
    try:
        result = ray.get(ref)
    except (ray.exceptions.TaskCancelledError, ray.exceptions.RayError) as exc:
        from arena.runs.loop import read_summary

        if isinstance(exc, ray.exceptions.TaskCancelledError):
            summary = {**read_summary(Path(cfg.out)), "status": "interrupted"}
        else:
            summary = {"status": "failed", "error": _error_text(exc), "label": cfg.label, "seed": cfg.seed}
        report(cfg, summary)
        return summary["status"] == "interrupted"
    _store(cfg, result)
    report(cfg, result["summary"])
    return result["summary"].get("status") == "interrupted"


def _finished(ray: Any, refs: list[Any]) -> set[Any]:
    done, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
    return set(done)


def _cancel(ray: Any, running: list[Any], refs: dict[Any, RunConfig],
            report: Callable[[RunConfig, dict[str, Any]], None]) -> None:
    """Ctrl-C: each running task checkpoints and stops; wait for them, then store what they return."""
    print(f"\ninterrupted: stopping {len(running)} running run(s) at their next step (each writes a checkpoint)",
          flush=True)
    for ref in running:
        ray.cancel(ref, force=False)
    deadline = time.monotonic() + CANCEL_WAIT_S
    pending = list(running)
    while pending and time.monotonic() < deadline:
        try:
            done, pending = ray.wait(pending, num_returns=1, timeout=1.0)
        except KeyboardInterrupt:  # a second Ctrl-C: stop waiting
            break
        for ref in done:
            _collect(ray, ref, refs[ref], report)
