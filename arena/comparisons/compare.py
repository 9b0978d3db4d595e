"""Comparisons: every solver × seed of a case, the table with bootstrap CIs, and claims.

``compare`` runs each (solver, seed) in its own directory ``<out>/<label>/seed<k>`` — for a
case with a ``[sweep]``, each (setting, solver, seed) in ``<out>/<setting>/<label>/seed<k>`` —
locally in parallel processes (or as Ray tasks: :mod:`arena.comparisons.ray_executor`),
skipping runs already finished with the same config and resuming interrupted ones.
``aggregate`` turns the finished runs into a markdown and CSV table: per solver, each
metric's mean over seeds and its 95% bootstrap confidence
interval (``scipy.stats.bootstrap``, percentile method, 2,000 resamples, fixed seed),
the number of diverged runs, and the training time per step.
"""
from __future__ import annotations

import contextlib
import csv
import math
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from arena.comparisons.at_compute import At, NotRecorded, read_at
from arena.comparisons.cases import Case, Claim
from arena.runs.config import RunConfig, natural_key, resolve_device
from arena.runs.recorder import BOOKKEEPING_COLUMNS
from arena.runs.loop import Interrupted, read_metrics, read_summary, train_or_continue
from arena.runs.directory import action_for
from arena.runs.lock import run_lock
from arena.comparisons.sweep import setting_sort_key
from arena.text import number
from diffgames.errors import ConfigError, DiffgamesError, DivergenceError

__all__ = ["compare", "aggregate", "verify", "RunResult", "mean_ci", "load_runs", "seeds_change_nothing", "seeds_note",
           "success_shares", "run_name", "run_label"]



@dataclass
class RunResult:
    label: str
    seed: int
    run_dir: Path
    summary: dict[str, Any]
    rows: list[dict[str, Any]]
    setting: str | None = None

    @property
    def status(self) -> str:
        return self.summary.get("status", "missing")


# Set in a worker process once a signal has stopped it: runs the pool hands it afterwards
# (already queued, so the parent cannot cancel them) are not started.
_STOPPED: list[int] = []
# The signal that stopped the comparison in the parent (SIGTERM: exit 143, as a run's).
_PARENT_SIGNAL: list[int] = []


def _run_one(config: dict[str, Any], threads: int) -> dict[str, Any]:
    """Worker: run (or resume) one config quietly; divergence is a result, not a crash."""
    import torch

    cfg = RunConfig(**config)
    if _STOPPED:
        return {"status": "interrupted", "error": "not started (the comparison was stopped)",
                "label": cfg.label, "seed": cfg.seed}
    torch.set_num_threads(threads)
    run_dir = Path(cfg.out)
    try:
        return train_or_continue(cfg, quiet=True)
    except Interrupted as exc:
        _STOPPED.append(exc.signum)
        return read_summary(run_dir)  # status "interrupted", written by the run
    except DivergenceError:
        return read_summary(run_dir)  # status "diverged", written by the run
    except Exception as exc:  # keep the comparison going; report the crash as such
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}", "label": cfg.label, "seed": cfg.seed}


def _worker_init() -> None:
    """Workers note Ctrl-C or SIGTERM between runs and start no further run; inside a
    run, :func:`arena.runs.loop.train` installs its own handler, which checkpoints first.

    Workers spawned under :func:`_sigint_ignored` already start that way; this covers
    ``compare`` called off the main thread, where the parent cannot change signal handlers
    while spawning (a Ctrl-C during a worker's imports may then still print a traceback).
    """
    import signal

    # A signal between runs (or while the worker is idle) stops it from starting more;
    # inside a run, arena.runs.loop.train's own handler checkpoints first.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: _STOPPED.append(signum))
    _stop_with_parent()


def _stop_with_parent() -> None:
    """Have the kernel send this worker SIGTERM when its parent dies (Linux), so that
    workers of a killed ``compare`` checkpoint their runs and stop instead of going on."""
    import ctypes
    import ctypes.util

    parent = os.getppid()
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: workers end with the pool's pipe instead
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


@contextlib.contextmanager
def _sigint_ignored():
    """Ignore Ctrl-C while worker processes are spawned.

    A spawned interpreter that starts with SIGINT ignored never installs
    Python's KeyboardInterrupt handler, so a Ctrl-C that arrives while a worker
    is still importing (before :func:`_worker_init` runs) cannot print a
    traceback from inside its imports.  Once a run starts, :func:`arena.runs.loop.train`
    installs its own handler, which checkpoints first.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be changed from the main thread
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _line(done: int, total: int, cfg: RunConfig, summary: dict[str, Any], metrics: list[str]) -> str:
    status = summary.get("status", "?")
    head = f"[{done}/{total}] {run_name(cfg)}: "
    if status == "done":
        final = summary.get("final_metrics", {})
        shown = " ".join(f"{m}={number(final[m])}" for m in metrics[:4] if m in final)
        return head + f"done, {number(summary.get('time_per_step_ms'), '.1f')} ms/step  {shown}"
    if status == "diverged":
        return head + f"DIVERGED at step {summary.get('diverged_step')} (player {summary.get('diverged_player')!r})"
    return head + f"{status}: {summary.get('error', '')}"


def run_name(cfg: RunConfig) -> str:
    """``label seedK`` (``setting label seedK`` in a sweep), as progress lines name a run."""
    return (f"{cfg.setting} " if cfg.setting else "") + f"{cfg.label} seed{cfg.seed}"


def compare(
    case: Case,
    out: Path,
    *,
    labels: list[str] | None = None,
    seeds: list[int] | None = None,
    jobs: int = 1,
    quiet: bool = False,
    overrides: dict[str, Any] | None = None,
    metric_names: list[str] | None = None,
    vectorize: bool = False,
    threads: int | None = None,
    overwrite: bool = False,
    settings: list[str] | None = None,
    executor: str = "local",
    address: str | None = None,
    gpus_per_run: float | None = None,
) -> list[RunResult]:
    """Run every chosen solver × seed (× setting of the case's sweep) under ``out`` and
    return the results.

    With ``vectorize`` the seeds of each solver run as one batched computation
    (:func:`arena.runs.vectorized.train_vectorized`) instead of one process each; with
    ``executor="ray"`` each run is a Ray task (:func:`arena.comparisons.ray_executor.run_on_ray`,
    joining the cluster at ``address`` when given). Existing run directories follow
    :mod:`arena.runs.directory`: kept, continued, or refused unless ``overwrite``."""
    labels = labels or case.labels()
    seeds = case.seeds if seeds is None else seeds
    for label in labels:
        case.solver(label)  # unknown label → ConfigError before anything runs
    grid = case.settings()
    if settings is not None:
        grid = [case.setting(label) for label in settings]
    configs = [case.run_config(l, s, out / l / f"seed{s}", **(overrides or {})) for l in labels for s in seeds] \
        if not grid else [case.run_config(l, s, out / g.label / l / f"seed{s}", setting=g, **(overrides or {}))
                          for g in grid for l in labels for s in seeds]
    if executor not in ("local", "ray"):
        raise ConfigError(f"executor must be 'local' or 'ray', got {executor!r}")
    if executor == "ray" and vectorize:
        raise ConfigError("--vectorize batches seeds in one process; it does not combine with --executor ray")
    if executor == "local":  # once, before any run starts or any folder is written (Ray's workers check their own)
        for device in sorted({c.device for c in configs}):
            resolve_device(device)
    todo = _not_finished(configs, quiet, overwrite)
    jobs, threads = _processes_and_threads(jobs, threads, len(todo))
    report = Progress(len(todo), metric_names or [], quiet)
    started = time.perf_counter()
    if todo and not quiet:
        where = "as Ray tasks" if executor == "ray" else f"with {jobs} process(es)"
        grid_text = f" ({len(grid)} settings)" if grid else ""
        print(f"running {len(todo)} run(s) of case {case.name!r}{grid_text} {where} → {out}", flush=True)
    if executor == "ray" and todo:
        from arena.comparisons.ray_executor import run_on_ray

        interrupted = run_on_ray(todo, threads, report, address=address, gpus_per_run=gpus_per_run, out=out)
    elif vectorize and todo:
        interrupted = _run_stacked(todo, report)
    elif jobs == 1:
        interrupted = _run_in_turn(todo, threads, report)
    else:
        interrupted = _run_in_pool(todo, jobs, threads, report)
    if interrupted:
        signum = interrupted if isinstance(interrupted, int) and not isinstance(interrupted, bool) else signal.SIGINT
        raise Interrupted(f"comparison interrupted; finished runs are kept and the others were checkpointed. "
                          f"Continue with the same command (diffgames compare {case.path} ...)", int(signum))
    if todo and not quiet:
        print(f"finished in {time.perf_counter() - started:.1f} s", flush=True)
    return [RunResult(c.label, c.seed, Path(c.out), {**read_summary(Path(c.out)), **report.failures.get(c.out, {})},
                      read_metrics(Path(c.out)), c.setting) for c in configs]


def _not_finished(configs: list[RunConfig], quiet: bool, overwrite: bool) -> list[RunConfig]:
    """The configs to run: every directory is checked by the one rule of :mod:`arena.runs.directory`
    before anything runs (finished runs are kept, another configuration is refused unless
    ``overwrite``)."""
    todo = []
    for cfg in configs:
        with run_lock(cfg.out):
            action = action_for(cfg, overwrite=overwrite)
        if action == "keep":
            if not quiet:
                print(f"{run_name(cfg)}: already done, kept")
            continue
        todo.append(cfg)
    return todo


def _processes_and_threads(jobs: int, threads: int | None, runs: int) -> tuple[int, int]:
    if jobs < 1:
        raise ConfigError(f"jobs must be ≥ 1 (parallel processes), got {jobs}")
    jobs = min(jobs, runs or 1)
    if threads is None:  # share the cores: more threads than cores slows torch down a lot
        threads = max(1, (os.cpu_count() or 1) // jobs)
    elif threads < 1:
        raise ConfigError(f"threads must be >= 1, got {threads}")
    return jobs, threads


class Progress:
    """One line per finished run: ``[done/total] label seedK: …``."""

    def __init__(self, total: int, metrics: list[str], quiet: bool):
        self.total, self.metrics, self.quiet, self.done = total, metrics, quiet, 0
        self.failures: dict[str, dict[str, Any]] = {}  # run dir → status and error of a failed run

    def __call__(self, cfg: RunConfig, summary: dict[str, Any]) -> None:
        self.done += 1
        if summary.get("status") == "failed":  # its summary.json may say "running": keep the error
            self.failures[cfg.out] = {"status": "failed", "error": summary.get("error", "")}
        if not self.quiet:
            print(_line(self.done, self.total, cfg, summary, self.metrics), flush=True)


def _run_stacked(todo: list[RunConfig], report: Progress) -> bool:
    """Each label's seeds as one batched run; True when interrupted."""
    from arena.runs.vectorized import train_vectorized_or_continue

    for key in dict.fromkeys((c.setting, c.label) for c in todo):
        group = [c for c in todo if (c.setting, c.label) == key]
        try:  # a group interrupted by an earlier call continues from its checkpoints
            summaries = train_vectorized_or_continue(group, quiet=True)
        except Interrupted:
            return True
        for cfg, summary in zip(group, summaries):
            report(cfg, summary)
    return False


def _run_in_turn(todo: list[RunConfig], threads: int, report: Progress) -> bool:
    """One run after another in this process; True when interrupted."""
    for cfg in todo:
        summary = _run_one(cfg.to_dict(), threads)
        report(cfg, summary)
        if summary.get("status") == "interrupted":
            return _STOPPED[-1] if _STOPPED else signal.SIGINT
    return False


def _run_in_pool(todo: list[RunConfig], jobs: int, threads: int, report: Progress) -> bool:
    """The runs in ``jobs`` spawned processes; True when interrupted."""
    import multiprocessing

    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_worker_init)
    # SIGTERM (a scheduler's stop, `kill`) must stop the comparison like Ctrl-C does: without
    # this the parent dies at once and its workers, orphaned, go on with the queued runs.
    restore = _sigterm_as_keyboard_interrupt()
    try:
        with _sigint_ignored():  # workers are spawned by submit and inherit SIG_IGN
            futures = {pool.submit(_run_one, cfg.to_dict(), threads): cfg for cfg in todo}
        for future in as_completed(futures):
            summary = future.result()
            report(futures[future], summary)
            if summary.get("status") == "interrupted":
                return _PARENT_SIGNAL[-1] if _PARENT_SIGNAL else signal.SIGINT  # running runs checkpoint and stop
    except BrokenProcessPool:
        raise ConfigError("a worker process died (killed, or out of memory); finished runs are kept and the "
                          "others continue from their checkpoints with the same command") from None
    except KeyboardInterrupt:
        # Ctrl-C in a terminal reaches the workers too; a SIGTERM sent to this process
        # alone does not, so pass it on: each worker checkpoints its run and returns
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            with contextlib.suppress(OSError):
                os.kill(process.pid, signal.SIGTERM)
        return _PARENT_SIGNAL[-1] if _PARENT_SIGNAL else signal.SIGINT
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        restore()
    return False


def _sigterm_as_keyboard_interrupt() -> Callable[[], None]:
    """Raise KeyboardInterrupt on SIGTERM in this (main) thread; returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum, frame):
        _PARENT_SIGNAL.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    return lambda: signal.signal(signal.SIGTERM, previous)


def seeds_change_nothing(game: Any) -> bool:
    """Whether every seed runs the same: the game draws no data (``sample`` gives ``None``)
    and starts from the same parameters whatever the seed."""
    import torch

    if game.sample(torch.Generator().manual_seed(0), "cpu") is not None:
        return False
    a, b = game.init_params(0), game.init_params(1)
    return all(torch.equal(a[p][k], b[p][k]) for p in a for k in a[p])


def seeds_note(game: Any, name: str, seeds: list[int]) -> str | None:
    """A line for the output when several seeds of a deterministic game cannot differ."""
    if len(seeds) < 2 or not seeds_change_nothing(game):
        return None
    return (f"note: game {name!r} draws no data and starts from the same parameters for every seed, so the "
            f"{len(seeds)} seeds give identical runs; an option that randomises its start (see "
            f"`diffgames show {name}`) makes them differ")


def load_runs(out: Path) -> list[RunResult]:
    """Every run directory ``<out>/<label>/seed<k>`` and ``<out>/<setting>/<label>/seed<k>``
    (or ``out`` itself when it is a run), in natural order of setting, label, then seed:
    ``unrolled-k5`` before ``unrolled-k10``."""
    out = Path(out)
    dirs = [out] if (out / "config.toml").exists() else [
        p.parent for pattern in ("*/seed*/config.toml", "*/*/seed*/config.toml") for p in out.glob(pattern)]
    results = []
    for d in dirs:
        cfg = RunConfig.load(d / "config.toml")
        results.append(RunResult(cfg.label, cfg.seed, d, read_summary(d), read_metrics(d), cfg.setting))
    return sorted(results, key=lambda r: (setting_sort_key(r.setting), natural_key(r.label), r.seed))




def mean_ci(values: list[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and percentile-bootstrap CI; a single value or identical values give a zero-width CI."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if x.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if x.size < 2 or np.ptp(x) == 0:
        return mean, mean, mean
    from scipy.stats import bootstrap

    res = bootstrap((x,), np.mean, confidence_level=confidence, n_resamples=2000, method="percentile",
                    random_state=np.random.default_rng(0))
    return mean, float(res.confidence_interval.low), float(res.confidence_interval.high)


def _final_value(rows: list[dict[str, Any]], metric: str, step: str | int = "final") -> float | None:
    if not rows:
        return None
    if step == "final":
        return rows[-1].get(metric)
    for row in rows:
        if row["step"] == step:
            return row.get(metric)
    return None


def aggregate(results: list[RunResult], out: Path, metric_names: list[str] | None = None,
              step: int | None = None, case: Case | None = None, at: At | None = None) -> str:
    """Write ``comparison.md`` and ``comparison.csv`` under ``out``; return the markdown.

    One row per solver, or per (setting, solver) for a sweep (a ``setting`` column first).
    With ``step``, the table holds each metric at that evaluated step instead of the final
    one, from every run that reached it (finished or not), written to
    ``comparison-step<step>.md/.csv``. With ``at`` (an amount of work or time,
    :mod:`arena.comparisons.at_compute`), each run is read at its last evaluation at or
    below the amount, written to ``comparison-<at.stem>.md/.csv`` with the step and the
    amount each solver reached; runs that ended before the amount are left out of the
    means, counted (``ended before``) and listed under the table. Failed runs (an error, not a divergence) get a
    ``failed`` column and their errors are listed under the table. A cell of one run
    shows its value alone (n = 1: no spread, no interval).

    The markdown stands alone (:mod:`arena.comparisons.describe`): a header saying what
    was compared (with ``case``: its paper, and every value the command line changed), the
    provenance, the table, the case's claims checked (final tables), and a glossary of the
    columns with each metric's definition from the game's docstring. The CSV holds the
    numbers only."""
    groups = list(dict.fromkeys((r.setting, r.label) for r in results))
    swept = any(setting is not None for setting, _ in groups)
    failed_runs = [r for r in results if r.status == "failed"]
    if metric_names is None:
        keys = [k for r in results for row in r.rows[:1] for k in row]
        metric_names = [k for k in dict.fromkeys(keys) if k not in BOOKKEEPING_COLUMNS]
    readings = {} if at is None else {id(r): read_at(r.rows, at, r.run_dir) for r in results}
    reached = [] if at is None else ["step reached", at.reached_column, "ended before"]
    header = [*(["setting"] if swept else []), "solver", "runs", "diverged", *(["failed"] if failed_runs else []),
              "ms/step", *reached, *metric_names]
    md = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    records = []
    for setting, label in groups:
        runs = [r for r in results if r.label == label and r.setting == setting]
        if at is not None:
            ok = [r for r in runs if readings[id(r)].row is not None]
        elif step is None:
            ok = [r for r in runs if r.status == "done"]
        else:
            ok = [r for r in runs if any(row["step"] == step for row in r.rows)]
        diverged = sum(r.status == "diverged" for r in runs)
        failed = sum(r.status == "failed" for r in runs)
        ms = [r.summary.get("time_per_step_ms", math.nan) for r in ok if r.summary.get("time_per_step_ms")]
        cells = [*([setting or "–"] if swept else []), label,
                 str(len(ok) if step is not None or at is not None else len(runs)),
                 str(diverged), *([str(failed)] if failed_runs else []), f"{np.mean(ms):.1f}" if ms else "–"]
        record: dict[str, Any] = {**({"setting": setting} if swept else {}), "solver": label, "runs": len(runs),
                                  "diverged": diverged, **({"failed": failed} if failed_runs else {}),
                                  "ms_per_step": float(np.mean(ms)) if ms else math.nan}
        if at is not None:
            rows = [readings[id(r)].row for r in ok]
            steps, amounts = [row["step"] for row in rows], [row[at.column] for row in rows]
            ended = sum(readings[id(r)].ended is not None for r in runs)
            cells += [number(float(np.mean(steps)), ".6g") if steps else "–", at.reached_cell(amounts), str(ended)]
            record.update({"runs_read": len(ok), "step_reached": float(np.mean(steps)) if steps else math.nan,
                           at.column + "_reached": float(np.mean(amounts)) if amounts else math.nan,
                           "ended_before": ended})
        for m in metric_names:
            values = ([readings[id(r)].row.get(m) for r in ok] if at is not None
                      else [_final_value(r.rows, m, "final" if step is None else step) for r in ok])
            mean, lo, hi = mean_ci(values)
            finite = [v for v in values if v is not None and math.isfinite(v)]
            std = float(np.std(finite, ddof=1)) if len(finite) > 1 else 0.0
            missing = len(values) - len(finite)  # NaN: the metric's "not computable" (e.g. class_kl, no sample)
            if math.isnan(mean):
                cell = "–"
            elif len(finite) == 1:  # one run: its value; a spread or interval would carry no information
                cell = number(mean)
            else:
                cell = f"{number(mean)} ± {number(std, '.2g')} [{number(lo)}, {number(hi)}]"
            if missing and values:
                cell = "not computable" if not finite else cell + f" ({missing}/{len(values)} not computable)"
            cells.append(cell)
            record.update({m: mean, f"{m}_std": std, f"{m}_ci_low": lo, f"{m}_ci_high": hi})
        md.append("| " + " | ".join(cells) + " |")
        records.append(record)
    where = "Final metrics" if step is None else f"Metrics at step {step} (runs that reached it; 'runs' counts them)"
    if at is not None:
        where = (f"Metrics at {at} (each run at its last evaluation at or before it; runs that ended before it are "
                 f"left out and listed under the table; 'runs' counts the runs read)")
    errors = "".join(f"- failed: {run_label(r)}: {r.summary.get('error') or 'no error recorded'}\n" for r in failed_runs)
    errors += "".join(f"- {run_label(r)}: {readings[id(r)].ended_text(at)}; left out\n"
                      for r in results if at is not None and readings[id(r)].ended is not None)
    counted = "; diverged " + ("and failed " if failed_runs else "") + "runs are counted, not averaged."
    sizes = {len(runs_of) for runs_of in ([r for r in results if (r.setting, r.label) == g] for g in groups)}
    if sizes == {1}:
        how = f"{where} of one seed per {'setting and ' if swept else ''}solver (n = 1): each cell is that run's value"
    else:
        how = (f"{where}: mean ± sample std over seeds [95% bootstrap CI of the mean]"
               + ("; a cell of one run shows its value alone (n = 1)" if 1 in sizes else ""))
    text = (_describe(results, case) + f"## {where.split(' (')[0]}\n\n" + how + counted + "\n\n" + "\n".join(md)
            + "\n" + ("\n" + errors if errors else "") + _claims_section(case, results, step if at is None else at)
            + _glossary(results, metric_names, header))
    out.mkdir(parents=True, exist_ok=True)
    stem = "comparison" if step is None else f"comparison-step{step}"
    stem = stem if at is None else f"comparison-{at.stem}"
    (out / f"{stem}.md").write_text(text)
    with open(out / f"{stem}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(records[0]) if records else ["solver"])
        writer.writeheader()
        writer.writerows(records)
    return text


def _describe(results: list[RunResult], case: Case | None) -> str:
    """The header of ``comparison.md`` and its provenance line (nothing without runs)."""
    from arena.comparisons.describe import comparison_header

    if not results:
        return ""
    made = made_with(results)
    try:
        head = comparison_header(results, case)
    except DiffgamesError:  # runs without a readable config.toml: the table alone
        head = ""
    return head + (made.lstrip("\n") + "\n" if made else "")


def _claims_section(case: Case | None, results: list[RunResult], step: int | At | None) -> str:
    if case is None or step is not None or not case.claims:
        return ""
    ok, table = verify(case, results)
    return ("\n## Claims of the case\n\n" + table + "\n" + ("All claims hold." if ok else "Not every claim holds.")
            + "\n")


def _glossary(results: list[RunResult], metric_names: list[str], header: list[str]) -> str:
    import games
    from arena.comparisons.describe import glossary, run_configs

    try:
        cfg = run_configs(results[:1])[0]
        game = games.make(cfg.game, **cfg.game_options)
    except (DiffgamesError, IndexError):  # no run, or none with a readable config: the columns only
        game = None
    return "\n" + glossary(game, metric_names, header)


def run_label(result: RunResult) -> str:
    """``label seedK`` (``setting label seedK`` in a sweep)."""
    return (f"{result.setting} " if result.setting else "") + f"{result.label} seed{result.seed}"


def made_with(results: list[RunResult]) -> str:
    """The provenance of the runs, stated once (each distinct one when they differ)."""
    from diffgames.machine import provenance_line

    lines = list(dict.fromkeys(provenance_line(r.summary["provenance"]) for r in results if "provenance" in r.summary))
    if not lines:
        return ""
    return "\nMade with: " + lines[0] + "\n" if len(lines) == 1 else "\nMade with (differs between runs):\n" + "".join(
        f"- {line}\n" for line in lines)


def _setting_successes(claim: Claim, results: list[RunResult], label: str) -> list[tuple[int, int]]:
    """Per setting of solver ``label``'s runs: (seeds holding the claim, seeds)."""
    out = []
    for setting in dict.fromkeys(r.setting for r in results if r.label == label):
        runs = [r for r in results if r.label == label and r.setting == setting]
        values = [claim_reading(claim, r)[0] for r in runs]
        out.append((sum(v is not None and claim.holds(v) for v in values), len(runs)))
    return out


def claim_reading(claim: Claim, result: RunResult) -> tuple[float | None, str]:
    """The claim's metric in one run and how to show it: at the claim's step, or at its
    work or training time (:func:`arena.comparisons.at_compute.read_at`; a run that ended
    before it has no value, shown as ``ended at …``). Only finished runs count. A run
    without the work or time column raises :class:`NotRecorded`."""
    if result.status != "done":
        return None, "–"
    at = claim.at
    if at is None:
        value = _final_value(result.rows, claim.metric, claim.step)
        return value, number(value)
    reading = read_at(result.rows, at, result.run_dir)
    if reading.row is None:
        return None, reading.ended_text(at) or "no evaluation"
    return reading.row.get(claim.metric), number(reading.row.get(claim.metric))


def success_shares(claim: Claim, results: list[RunResult], label: str | None = None) -> dict[str, Any]:
    """How often the claim's condition holds across a sweep's settings for solver ``label``
    (default: the claim's).

    Returns ``{"settings", "succeeded", "run_share", "ci_low", "ci_high"}``: the number of
    settings, how many *succeed* (the condition holds in ≥ ``claim.share`` of their seeds),
    and the share of runs in which it holds — the mean over settings of each setting's
    share of seeds — with its 95% bootstrap CI over settings."""
    counts = _setting_successes(claim, results, label or claim.solver)
    succeeded = sum(n > 0 and held / n + 1e-12 >= claim.share for held, n in counts)
    rates = [held / n for held, n in counts if n]
    share, low, high = mean_ci(rates) if rates else (math.nan, math.nan, math.nan)
    return {"settings": len(counts), "succeeded": int(succeeded), "run_share": share, "ci_low": low, "ci_high": high}


def _share_text(found: dict[str, Any]) -> str:
    if not found["settings"]:
        return "no runs"
    return (f"{found['succeeded']}/{found['settings']} settings; runs {found['run_share']:.0%} "
            f"[{found['ci_low']:.0%}, {found['ci_high']:.0%}]")


def _seeds_text(claim: Claim, runs: list[RunResult]) -> str:
    """``label: 3/5 seeds (4, 3, 6, 7, 2)``: one solver's side of a ``than`` claim outside
    a sweep, with each seed's value."""
    read = [claim_reading(claim, r) for r in runs]
    held = sum(v is not None and claim.holds(v) for v, _ in read)
    label = runs[0].label if runs else "?"
    return f"{label}: {held}/{len(runs)} seeds ({', '.join(text for _, text in read) or 'no runs'})"


def verify(case: Case, results: list[RunResult]) -> tuple[bool, str]:
    """Check the case's claims against ``results``; return (all hold, markdown table).

    In a sweep a claim is judged per setting (see :class:`arena.comparisons.cases.Claim`); the table
    gives the settings that succeed and the share of runs in which the condition holds,
    with its 95% bootstrap CI over settings. A ``than`` claim compares those run shares.
    A claim with no runs does not hold: its row says "not run". A claim at an amount of
    work or time whose runs did not record it does not hold either: its row says "not
    recorded" and a line under the table names the run and what to do."""
    swept = any(r.setting is not None for r in results)
    lines = [f"| claim | {'settings' if swept else 'seeds'} holding | needed | verdict |", "|---|---|---|---|"]
    all_hold, notes = True, []
    for claim in case.claims:
        runs = [r for r in results if r.label == claim.solver]
        try:
            row = _claim_row(claim, results, runs, swept)
        except NotRecorded as exc:
            notes.append(f"- not recorded: {exc}")
            all_hold = False
            lines.append(f"| {claim} | – | – | not recorded |")
            continue
        all_hold &= row[0]
        lines.append(row[1])
    if not case.claims:
        lines.append("| (the case states no claims) | | | |")
    return all_hold, "\n".join(lines) + "\n" + ("\n" + "\n".join(notes) + "\n" if notes else "")


def _claim_row(claim: Claim, results: list[RunResult], runs: list[RunResult], swept: bool) -> tuple[bool, str]:
    """Whether ``claim`` holds, and its row of :func:`verify`'s table."""
    if claim.than or swept:
        mine = success_shares(claim, results)
        if claim.than:
            other = success_shares(claim, results, claim.than)
            verdict = bool(mine["settings"] and other["settings"]) and mine["run_share"] > other["run_share"]
            holding = f"{claim.solver}: {_share_text(mine)}; {claim.than}: {_share_text(other)}" if swept else \
                "; ".join(_seeds_text(claim, [r for r in results if r.label == label]) for label in
                          (claim.solver, claim.than))
            needed = f"more than {claim.than}"
        else:
            verdict = bool(mine["settings"]) and mine["succeeded"] / mine["settings"] + 1e-12 >= claim.settings
            holding, needed = _share_text(mine), f"{claim.settings:.0%} of settings"
        shown = ""
    else:
        read = [claim_reading(claim, r) for r in runs]
        held = sum(v is not None and claim.holds(v) for v, _ in read)
        verdict = bool(runs) and held / len(runs) + 1e-12 >= claim.share
        holding, needed = f"{held}/{len(runs)}", f"{claim.share:.0%}"
        shown = " (" + (", ".join(text for _, text in read) or "no runs") + ")"
    word = "not run" if not runs else ("holds" if verdict else "FAILS")
    return verdict, f"| {claim}{shown} | {holding} | {needed} | {word} |"
