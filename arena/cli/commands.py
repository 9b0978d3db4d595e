"""The bodies of the CLI's commands (argument parsing lives in :mod:`arena.cli.main`)."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import games
import solvers
from arena.comparisons.cases import Case, bundled_cases, case_description, find_case, load_case
from arena.parsing import parse_criterion, parse_duration, parse_kv, parse_seeds, parse_work
from arena.comparisons.compare import aggregate, compare, load_runs, seeds_note, verify
from arena.runs.config import MAX_STEPS, RunConfig, run_dirs_below
from arena.reports.occupancy import plot_occupancy
from arena.reports.plots import plot_comparison, plot_run, plot_samples, plot_sweep, sweep_figure_name
from arena.runs.recorder import BOOKKEEPING_COLUMNS
from arena.runs.loop import Interrupted, read_metrics, read_summary, resume, set_torch_threads, train_or_continue
from arena.cli.show import cmd_show  # noqa: F401  (the CLI dispatches cmd_<command>)
from arena.text import number
from diffgames.registry import absolute_location
from arena.reports.sampling import cmd_export, cmd_sample  # noqa: F401  (the CLI dispatches cmd_<command>)
from arena.reports.limit import cmd_limit  # noqa: F401  (the CLI dispatches cmd_<command>)
from diffgames.errors import ConfigError, DiffgamesError, DivergenceError

__all__ = ["cmd_list", "cmd_run", "cmd_resume", "cmd_compare", "cmd_verify", "cmd_plot", "cmd_table", "cmd_report", "cmd_diagnose"]


def cmd_list(args: argparse.Namespace) -> int:
    print("games:")
    for name, text in games.describe().items():
        print(f"  {name:<20} {text}")
    print("solvers:")
    for name, text in solvers.describe().items():
        print(f"  {name:<20} {text}")
    print("cases:")
    for path in bundled_cases():
        try:
            text = case_description(path)
        except ConfigError as exc:
            text = f"(invalid: {exc})"
        print(f"  {path.stem:<28} {text}")
    print("details of any of these (options, capabilities, claims): diffgames show NAME")
    return 0


def _solver_and_optimizers(args: argparse.Namespace, game_options: dict) -> tuple[dict, dict | None]:
    """``(solver options, optimizers)`` from ``--solver-opt``, ``--optimizer`` and ``--lr``.

    ``--lr`` sets every player's base-optimizer learning rate, or, for a solver that takes
    its own step size (capability ``own_step_size``, e.g. CGD), its option ``lr``.
    """
    solver_options = parse_kv(args.solver_opt, "--solver-opt")
    if solvers.make(args.solver, **solver_options).capabilities.own_step_size:
        if args.optimizer is not None:
            raise ConfigError(f"solver {args.solver!r} takes its own step size and no base optimizer; "
                              "drop --optimizer and give --lr (or --solver-opt lr=...)")
        return {**solver_options, **({"lr": args.lr} if args.lr is not None else {})}, None
    if args.optimizer is None and args.lr is None:
        return solver_options, None
    if args.optimizer is not None:
        return solver_options, {"name": args.optimizer, **({"lr": args.lr} if args.lr is not None else {})}
    # --lr alone: the game's recommended optimizers with that learning rate
    defaults = games.make(args.game, **game_options).default_optimizers()
    return solver_options, {p: {**spec, "lr": args.lr} for p, spec in defaults.items()}


def _train_one(config: RunConfig, quiet: bool, overwrite: bool) -> dict:
    """Run (or keep, or continue: :mod:`arena.runs.directory`) one seed; an interrupted run still
    gets its ``metrics.png`` before the interruption is reported."""
    try:
        summary = train_or_continue(config, quiet=quiet, overwrite=overwrite)
    except Interrupted:
        plot_run(Path(config.out), read_metrics(Path(config.out)))
        raise
    if summary.get("kept"):
        print(f"{config.out}: already done, kept (pass --overwrite to run it again)")
    return summary


def _finish_run(config: RunConfig, summary: dict) -> None:
    if summary.get("kept"):
        return  # a kept run's directory stays as it was, byte for byte
    out = Path(config.out)
    plot_run(out, read_metrics(out))
    game = games.make(config.game, **config.game_options)
    samples = plot_samples(out / "samples.png", game, {config.label: out}, config.seed, config.device)
    final = summary.get("final_metrics", {})
    shown = "  ".join(f"{k}={number(v)}" for k, v in final.items() if k not in BOOKKEEPING_COLUMNS)
    speed = f", {summary['time_per_step_ms']:.2f} ms/step" if summary["final_step"] else " (nothing to train)"
    work = f", {summary['work']:,} loss-gradient evaluations" if "work" in summary else ""
    budget = ""
    if summary.get("stopped_by") == "work_budget":
        budget = f" (its work budget, {config.work_budget:,}, is spent)"
    elif summary.get("stopped_by") == "time_budget":
        budget = f" (its time budget, {config.time_budget:g} s of training, is spent)"
    print(f"done: {config.label} seed{config.seed}, {summary['final_step']} steps{speed}{work}{budget}\n  final: {shown}\n"
          f"  results: {out}/metrics.jsonl, {out}/metrics.png" + (f", {samples}" if samples else ""))


def cmd_run(args: argparse.Namespace) -> int:
    set_torch_threads(args.threads)
    if args.case:
        return _run_case(args)
    if not args.game or not args.solver:
        raise ConfigError("give a case (diffgames run CASE) or both --game NAME and --solver NAME; see diffgames list")
    # a game or solver named by its file (file.py:Class) is kept with an absolute path, so
    # that `resume` and `compare` workers find it from any directory
    args.game, args.solver = absolute_location(args.game, Path.cwd()), absolute_location(args.solver, Path.cwd())
    game_options = parse_kv(args.game_opt, "--game-opt")
    seed = 0 if args.seed is None else args.seed
    if args.seeds and args.seed is not None:
        raise ConfigError("give --seed S or --seeds A-B, not both")
    seeds = parse_seeds(args.seeds) if args.seeds else [seed]
    if args.vectorize and not args.seeds:
        raise ConfigError("--vectorize runs several seeds at once; give them with --seeds, e.g. --seeds 0-15")
    solver_options, optimizers = _solver_and_optimizers(args, game_options)
    config = RunConfig(
        game=args.game, solver=args.solver, game_options=game_options,
        solver_options=solver_options, optimizers=optimizers,
        steps=(1000 if _budgets(args) == {} else MAX_STEPS) if args.steps is None else args.steps, **_budgets(args),
        eval_every=100 if args.eval_every is None else args.eval_every,
        checkpoint_every=0 if args.checkpoint_every is None else args.checkpoint_every, seed=seed, device=args.device or "cpu",
        dtype=args.dtype or "float32", out=args.out or f"runs/{_folder_name(args.game, args.solver)}/seed{seed}",
        tensorboard=args.tensorboard, compile=args.compile,
    )
    if len(seeds) == 1:
        _finish_run(config, _train_one(config, args.quiet, args.overwrite))
        return 0
    root = Path(args.out or f"runs/{_folder_name(args.game, args.solver)}")
    configs = [RunConfig(**{**config.to_dict(), "seed": s, "out": str(root / f"seed{s}")}) for s in seeds]
    return _run_seeds(configs, root, args.vectorize, args.quiet, args.overwrite, _executor_options(args))


def _folder_name(game: str, solver: str) -> str:
    """``<game>-<solver>`` for the default run folder; a game or solver named by its place
    (``/abs/my_games.py:Saddle``, ``package.module:Saddle``) contributes its class name."""
    return "-".join(name.rpartition(":")[2] for name in (game, solver))


def _run_case(args: argparse.Namespace) -> int:
    """``diffgames run CASE``: one solver and seed of the case, or several as ``compare``."""
    if args.game or args.game_opt or args.solver_opt or args.optimizer or args.lr:
        raise ConfigError("with a case, give only --solver LABEL, --seed, --steps, --eval-every, --out, --device; "
                          "the game and solver options come from the case file")
    case = load_case(find_case(args.case))
    overrides = {"steps": args.steps, "eval_every": args.eval_every, "checkpoint_every": args.checkpoint_every,
                 "device": args.device, "dtype": args.dtype, "tensorboard": args.tensorboard or None,
                 "compile": args.compile or None, **_budgets(args)}
    labels = [args.solver] if args.solver else case.labels()
    seeds = [args.seed] if args.seed is not None else (parse_seeds(args.seeds) if args.seeds else case.seeds)
    root = Path(args.out or f"runs/{case.name}")
    if len(labels) * len(seeds) == 1:
        config = case.run_config(labels[0], seeds[0], root / labels[0] / f"seed{seeds[0]}", **overrides)
        _finish_run(config, _train_one(config, args.quiet, args.overwrite))
        return 0
    return _compare_and_report(case, root, labels, seeds, 1, args.quiet, overrides, args.vectorize,
                               overwrite=args.overwrite, executor=_executor_options(args))


def _run_seeds(configs: list[RunConfig], root: Path, vectorize: bool, quiet: bool, overwrite: bool,
               executor: dict | None = None) -> int:
    """``run --seeds``: as ``compare``, the same command again keeps finished seeds and
    continues interrupted ones (:mod:`arena.runs.directory`)."""
    from arena.runs.directory import action_for

    actions = [action_for(cfg, overwrite=overwrite) for cfg in configs]  # every seed's, before any runs
    if executor and executor.get("executor") == "ray":
        if vectorize:
            raise ConfigError("--vectorize batches seeds in one process; it does not combine with --executor ray")
        from arena.comparisons.compare import Progress
        from arena.comparisons.ray_executor import run_on_ray

        todo = [c for c, a in zip(configs, actions) if a != "keep"]
        report = Progress(len(todo), [], quiet)
        threads = 1 if not todo else max(1, (os.cpu_count() or 1) // len(todo))
        if todo and run_on_ray(todo, threads, report, out=root, address=executor.get("address"),
                               gpus_per_run=executor.get("gpus_per_run")):
            raise Interrupted("interrupted; finished seeds are kept and the others were checkpointed. "
                              "Continue with the same command.", 2)
        summaries = [{**read_summary(Path(c.out)), **report.failures.get(c.out, {})} for c in configs]
        return _report_seeds(configs, summaries, f"{len(configs)} seeds in {root} (Ray tasks)")
    note = seeds_note(games.make(configs[0].game, **configs[0].game_options), configs[0].game,
                      [c.seed for c in configs])
    if note:
        print(note)
    try:
        if vectorize:
            from arena.runs.vectorized import train_vectorized_or_continue

            summaries = train_vectorized_or_continue(configs, quiet=quiet)
        else:
            summaries = []
            for cfg in configs:
                try:
                    summaries.append(train_or_continue(cfg, quiet=quiet))
                except DivergenceError as exc:
                    print(f"seed {cfg.seed}: {exc}")
                    summaries.append({"status": "diverged"})
                if summaries[-1].get("kept"):
                    print(f"seed {cfg.seed}: already done, kept")
    except Interrupted as exc:
        for cfg in configs:  # each started seed's figure, as at the end of a run
            if read_metrics(Path(cfg.out)):
                plot_run(Path(cfg.out), read_metrics(Path(cfg.out)))
        # `resume ROOT` continues the seeds that started; only the same command knows the rest
        raise exc.continue_with("Continue with the same command"
                                + (f" (or: diffgames resume {root})" if vectorize else "."))
    return _report_seeds(configs, summaries, f"{len(configs)} seeds in {root}")


def cmd_resume(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    seed_dirs = run_dirs_below(run_dir)
    if (run_dir / "config.toml").is_file() or not seed_dirs:
        summary = resume(run_dir, quiet=args.quiet, steps=args.steps, threads=args.threads, **_budgets(args))
        _finish_run(RunConfig.load(run_dir / "config.toml"), summary)
        return 0
    # the seeds of `diffgames run --seeds A-B [--vectorize]`: continue them all, together
    # when they ran as one batched computation
    vectorized = all("seeds_vectorized" in read_summary(d) for d in seed_dirs)
    if vectorized:
        from arena.runs.vectorized import resume_vectorized

        note = set_torch_threads(args.threads, recorded_in=seed_dirs[0])  # as the seeds were started
        if note:
            print(note)
        summaries = resume_vectorized(run_dir, quiet=args.quiet, steps=args.steps, **_budgets(args))
    else:
        summaries = []
        for d in seed_dirs:
            try:
                summaries.append(resume(d, quiet=args.quiet, steps=args.steps, threads=args.threads, **_budgets(args)))
            except DivergenceError as exc:
                print(f"{d.name}: {exc}")
                summaries.append({"status": "diverged"})
    configs = [RunConfig.load(d / "config.toml") for d in seed_dirs]
    return _report_seeds(configs, summaries,
                         f"{len(seed_dirs)} seeds in {run_dir} resumed{' together (vectorized)' if vectorized else ''}")


def _report_seeds(configs: list[RunConfig], summaries: list[dict], headline: str) -> int:
    """Each finished seed's result, then ``headline`` with the number of diverged seeds."""
    for cfg, summary in zip(configs, summaries):
        if summary.get("status") == "done":
            _finish_run(cfg, summary)
    diverged = sum(s.get("status") == "diverged" for s in summaries)
    print(f"{headline}; {diverged} diverged")
    return 2 if diverged else 0



def _metric_names(case: Case) -> list[str]:
    game = games.make(case.game, **case.game_options)
    return list(game.metric_names()) or None  # type: ignore[return-value]


def _compare_and_report(case: Case, out: Path, labels, seeds, jobs: int, quiet: bool, overrides: dict,
                        vectorize: bool = False, threads: int | None = None, overwrite: bool = False,
                        executor: dict | None = None) -> int:
    metrics = _metric_names(case)
    note = seeds_note(games.make(case.game, **case.game_options), case.game, seeds or case.seeds)
    if note and not quiet:
        print(note)
    results = compare(case, out, labels=labels, seeds=seeds, jobs=jobs, quiet=quiet, overrides=overrides,
                      metric_names=metrics, vectorize=vectorize, threads=threads, overwrite=overwrite,
                      **(executor or {}))
    table = aggregate(results, out, metrics, case=case)
    figures = _plot_comparison_dir(out, case, results)
    print("\n" + _without_glossary(table))
    print(f"table: {out}/comparison.md (and .csv, and the metrics' definitions); "
          f"figures: {', '.join(str(p) for p in figures[:3])}"
          + (f" and {len(figures) - 3} more" if len(figures) > 3 else ""))
    failed = [r for r in results if r.status == "failed"]
    if failed:  # the comparison is written, but it is not what was asked: say so in the exit code
        print(f"diffgames: {len(failed)} of {len(results)} runs failed (their errors are listed under the table)",
              file=sys.stderr)
        return 1
    return 0


def _without_glossary(markdown: str) -> str:
    """``comparison.md`` as the terminal shows it: all but the closing glossary."""
    return markdown.split("\n## What the columns mean", 1)[0].rstrip("\n") + "\n"


def _case_of(cfg: RunConfig) -> Case | None:
    """The case a run was made from, when it still loads (for the header of its table)."""
    if not cfg.case:
        return None
    try:
        return load_case(find_case(cfg.case))
    except DiffgamesError:
        return None


def cmd_compare(args: argparse.Namespace) -> int:
    case = load_case(find_case(args.case))
    labels = args.solvers.split(",") if args.solvers else None
    seeds = parse_seeds(args.seeds) if args.seeds else None
    out = Path(args.out or f"runs/{case.name}")
    overrides = {"steps": args.steps, "eval_every": args.eval_every, "device": args.device,
                 "compile": args.compile or None, **_budgets(args)}
    executor = _executor_options(args)
    if args.settings:
        executor["settings"] = [s.strip() for s in args.settings.split(";") if s.strip()]
    return _compare_and_report(case, out, labels, seeds, args.jobs, args.quiet, overrides, args.vectorize,
                               args.threads, overwrite=args.overwrite, executor=executor)


def _budgets(args: argparse.Namespace) -> dict[str, Any]:
    """``--work-budget`` and ``--time-budget`` as config fields (only those given)."""
    budgets: dict[str, Any] = {}
    if getattr(args, "work_budget", None) is not None:
        work = parse_work(args.work_budget, "--work-budget")
        if work < 1:
            raise ConfigError(f"--work-budget must be a positive number of loss-gradient evaluations, got {args.work_budget}")
        budgets["work_budget"] = work
    if getattr(args, "time_budget", None) is not None:
        budgets["time_budget"] = parse_duration(args.time_budget, "--time-budget")
    return budgets


def _executor_options(args: argparse.Namespace) -> dict:
    """``--executor``, ``--address`` and ``--gpus-per-run`` as keyword arguments of ``compare``."""
    if args.executor != "ray" and (args.address or args.gpus_per_run is not None):
        raise ConfigError("--address and --gpus-per-run go with --executor ray")
    if args.gpus_per_run is not None and not (0 < args.gpus_per_run):
        raise ConfigError(f"--gpus-per-run must be > 0 (a fraction of a GPU is allowed), got {args.gpus_per_run}")
    return {"executor": args.executor, "address": args.address, "gpus_per_run": args.gpus_per_run}


def _step_label(results) -> str:
    """The step axis's label: what one step is, when every run's solver says the same."""
    labels = set()
    for r in results:
        cfg = RunConfig.load(r.run_dir / "config.toml")
        try:
            labels.add(solvers.make(cfg.solver, **cfg.solver_options).step_label())
        except DiffgamesError:  # a solver that cannot be built here: say nothing it cannot back
            labels.add("step")
    return labels.pop() if len(labels) == 1 else "step (see each solver: one step is not the same update)"


def _plot_comparison_dir(out: Path, case: Case | None, results, seed: int | None = None,
                         x: str = "step") -> list[Path]:
    """Metric curves per solver (in a sweep, one curve per solver and setting, named
    ``label · setting``) against ``x`` (``step``, ``work`` or training ``time``); the sample
    grid and the mode occupancy of the lowest seed (or ``seed``); for a sweep, one heat map
    per claim (its criterion per setting)."""
    groups: dict[str, list] = {}
    for r in results:
        if r.status in ("done", "interrupted", "diverged") and r.rows:
            groups.setdefault(f"{r.label} · {r.setting}" if r.setting else r.label, []).append(r.rows)
    step_label = _step_label(results) if results else "step"
    figures = plot_comparison(out, groups, step_label, x=x)
    if any(r.setting for r in results):
        claims = case.claims if case is not None else []
        for claim in {(c.metric, c.op, float(c.value)): c for c in claims}.values():
            criterion = (claim.op, float(claim.value))
            path = out / "plots" / sweep_figure_name(claim.metric, criterion)
            figures.insert(0, plot_sweep(path, results, claim.metric, criterion))
        return figures  # a sample grid of one setting would say little about a sweep
    if results:
        cfg = RunConfig.load(results[0].run_dir / "config.toml")
        seed = min(r.seed for r in results) if seed is None else seed
        rows = {r.label: r.run_dir for r in results if r.seed == seed}
        occupancy = plot_occupancy(out / "occupancy.png", {r.label: r.rows for r in results if r.seed == seed},
                                   f"mode occupancy, seed {seed}: share of the samples on each mode (rows: modes)",
                                   step_label)
        if occupancy:
            figures.insert(0, occupancy)
        game = games.make(cfg.game, **cfg.game_options)
        samples = plot_samples(out / "samples.png", game, rows, seed, cfg.device)
        if samples:
            figures.insert(0, samples)
    return figures


def cmd_verify(args: argparse.Namespace) -> int:
    target = Path(args.target)
    if target.is_dir():
        results = load_runs(target)
        if not results:
            raise ConfigError(f"{target} holds no runs (expected <label>/seed<k>/config.toml inside)")
        case_name = RunConfig.load(results[0].run_dir / "config.toml").case
        if not case_name:
            raise ConfigError(f"the runs in {target} were not made from a case; there are no claims to verify")
        case = load_case(find_case(case_name))
    else:
        case = load_case(find_case(args.target))
        runs = Path(args.runs or f"runs/{case.name}")
        results = load_runs(runs) if runs.exists() else []
        if not results:
            raise ConfigError(f"no runs of case {case.name!r} in {runs}; run `diffgames compare {args.target}` first")
    ok, table = verify(case, results)
    print(f"case {case.name}: {len(results)} runs\n" + table)
    failing, not_run = table.count("| FAILS |"), table.count("| not run |")
    unrecorded = table.count("| not recorded |")
    if ok:
        print("all claims hold")
    else:
        print(", ".join(part for part in (f"{failing} claim(s) FAIL" if failing else "",
                                          f"{not_run} claim(s) not run (no runs of their solver)" if not_run else "",
                                          f"{unrecorded} claim(s) not recorded (their runs lack the work or time "
                                          "they are read at; see above)" if unrecorded else "")
                        if part))
    return 0 if ok else 1


def cmd_plot(args: argparse.Namespace) -> int:
    target = Path(args.target)
    if not target.is_dir():
        raise ConfigError(f"{target} is not a directory; give a run or comparison directory")
    results = load_runs(target)
    if not results:
        raise ConfigError(f"{target} holds no runs (no config.toml found)")
    if args.sweep:
        metric, criterion = parse_criterion(args.sweep)
        known = {k for r in results for row in r.rows[:1] for k in row}
        if metric not in known:
            raise ConfigError(f"the runs in {target} log no metric {metric!r}; they log: {', '.join(sorted(known))}")
        path = plot_sweep(target / "plots" / sweep_figure_name(metric, criterion), results, metric, criterion)
        if path is None:
            raise ConfigError(f"{target} holds no sweep (no <setting>/<solver>/seed<k> runs); --sweep needs one")
        print(f"wrote {path}")
        return 0
    if args.solvers:
        wanted = [label.strip() for label in args.solvers.split(",") if label.strip()]
        unknown = sorted(set(wanted) - {r.label for r in results})
        if unknown:
            raise ConfigError(f"--solvers: {target} has no runs labelled {', '.join(unknown)}; "
                              f"it has {', '.join(sorted({r.label for r in results}))}")
        results = sorted((r for r in results if r.label in wanted), key=lambda r: (wanted.index(r.label), r.seed))
    if args.seed is not None and args.seed not in {r.seed for r in results}:
        raise ConfigError(f"--seed: {target} has no runs of seed {args.seed}; it has seeds "
                          f"{', '.join(str(s) for s in sorted({r.seed for r in results}))}")
    if args.x != "step":
        from arena.comparisons.at_compute import X_AXES, require_column

        for r in results:  # one line naming the first run that did not record the axis
            require_column(r.rows, X_AXES[args.x][0], r.run_dir)
    if len(results) == 1 and results[0].run_dir == target:
        cfg = RunConfig.load(target / "config.toml")
        paths = plot_run(target, results[0].rows, x=args.x)
        samples = plot_samples(target / "samples.png", games.make(cfg.game, **cfg.game_options), {cfg.label: target}, cfg.seed, cfg.device)
        paths += [samples] if samples else []
    else:
        out = Path(args.out) if args.out else target
        out.mkdir(parents=True, exist_ok=True)
        paths = _plot_comparison_dir(out, None, results, args.seed, x=args.x)
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def cmd_table(args: argparse.Namespace) -> int:
    target = Path(args.target)
    results = load_runs(target) if target.is_dir() else []
    if not results:
        raise ConfigError(f"{target} holds no runs (expected <label>/seed<k>/config.toml inside)")
    cfg = RunConfig.load(results[0].run_dir / "config.toml")
    metrics = list(games.make(cfg.game, **cfg.game_options).metric_names()) or None
    from arena.comparisons.at_compute import at_time, at_work, require_column

    if args.clock is not None and args.at_time is None:
        raise ConfigError("--clock goes with --at-time (work and steps need no clock)")
    at = None
    if args.at_work is not None:
        at = at_work(args.at_work)
    elif args.at_time is not None:
        at = at_time(args.at_time, args.clock or "train")
    if at is not None:
        for r in results:  # one line naming the first run that cannot be read there
            require_column(r.rows, at.column, r.run_dir)
    if args.step is not None:
        evaluated = sorted({row["step"] for r in results for row in r.rows})
        if args.step not in evaluated:
            raise ConfigError(f"no run in {target} was evaluated at step {args.step}; "
                              f"evaluations are at steps {_summarise_steps(evaluated)}")
    print(_without_glossary(aggregate(results, target, metrics, step=args.step, case=_case_of(cfg), at=at)))
    return 0


def _summarise_steps(steps: list[int]) -> str:
    """``0, 50, 100, …, 3000`` for a regular schedule; the list itself when short."""
    if len(steps) <= 8:
        return ", ".join(map(str, steps)) or "none"
    return f"{steps[0]}, {steps[1]}, {steps[2]}, …, {steps[-1]}"


def cmd_report(args: argparse.Namespace) -> int:
    from arena.reports.solver_table import main as solver_table_main

    return solver_table_main([*args.directories, *(["--figures", args.figures] if args.figures else [])])


def cmd_diagnose(args: argparse.Namespace) -> int:
    from arena.reports.diagnose import run_diagnose

    return run_diagnose(args)
