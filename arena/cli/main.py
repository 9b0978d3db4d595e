"""The ``diffgames`` command line: list, show, run, resume, compare, verify, report, table, plot,
diagnose, sample, export, limit.

Every error a user can cause ends in one line on stderr and exit code 2 (no traceback);
an interrupted run exits 130 after saving a checkpoint and says how to resume.
"""
from __future__ import annotations

import argparse
import sys

from diffgames import __version__

__all__ = ["main"]

EXAMPLES = {
    "run": """examples:
  diffgames run --game rps --solver optimistic --optimizer sgd --lr 0.2 --steps 3000 --eval-every 100 --seed 0 --out runs/rps-ogda
  diffgames run --game mog --solver unrolled --solver-opt unroll_steps=5 --steps 2000 --out runs/mog-k5
  diffgames run cases/metz2016-mog-ring.toml --solver unrolled-k5 --seed 0
  diffgames run quickstart                       # every solver x seed of a bundled case
  diffgames run --game mog --solver unrolled --seeds 0-15 --vectorize --steps 500 --out runs/mog16
  diffgames run --game my_games.py:Saddle --solver optimistic --steps 500   # a game class in a file (→ runs/Saddle-optimistic/seed0)""",
    "compare": """examples:
  diffgames compare quickstart
  diffgames compare cases/metz2016-mog-ring.toml --solvers unrolled-k0,unrolled-k5 --seeds 0-2 --jobs 2
  diffgames compare metz2016-mog-ring --steps 2000 --out runs/mog-short   # a shorter version
  diffgames compare metz2016-mog-sensitivity --executor ray --threads 1   # a sweep, one Ray task per run
  diffgames compare metz2016-mog-sensitivity --executor ray --address ray://head:10001 --device cuda --gpus-per-run 0.25""",
    "resume": "example:\n  diffgames resume runs/metz2016-mog-ring/unrolled-k5/seed0",
    "verify": "examples:\n  diffgames verify quickstart\n  diffgames verify runs/metz2016-mog-ring\n\n"
              "A claim stated at_work = N or at_time = \"10m\" reads each run at its last evaluation at or before\n"
              "that work or training time; a run that ended before it counts as not holding.",
    "plot": "examples:\n  diffgames plot runs/quickstart            # a comparison directory\n  diffgames plot runs/quickstart/optimistic/seed0\n"
            "  diffgames plot runs/metz2016-mog-sensitivity --sweep 'modes_covered_1pct>=8'   # heat map of a sweep\n"
            "  diffgames plot runs/metz2016-mog-ring --solvers unrolled-k0,unrolled-k10 --out fig1   # Fig. 1's rows\n"
            "  diffgames plot runs/metz2016-mog-ring --x work   # the curves against loss-gradient evaluations",
    "diagnose": "examples:\n  diffgames diagnose --game bilinear\n  diffgames diagnose --game rps --at runs/quickstart/simultaneous/seed0",
}


_FORMAT = argparse.RawDescriptionHelpFormatter


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="diffgames", description="Define differentiable games, compare solvers, reproduce GAN experiments.")
    parser.add_argument("--version", action="version", version=f"diffgames {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("list", help="list games, solvers and bundled cases")
    show = sub.add_parser("show", help="a game's, solver's or case's options, capabilities and claims",
                          epilog="examples:\n  diffgames show mog\n  diffgames show unrolled\n  diffgames show quickstart",
                          formatter_class=_FORMAT)
    show.add_argument("name", help="a game, solver or case name, a case file, a run directory, or a game or "
                      "solver defined in a file (my_games.py:Chicken)")
    _add_run(sub)
    _add_resume_and_compare(sub)
    _add_reporting(sub)
    _add_sample_export(sub)
    _add_limit(sub)
    return parser


BUDGET_HELP = ("stop each run at the first step whose loss-gradient evaluations (all players, counted by the "
               "engine) reach N; --steps stays the most steps a run may take (for `run` without a case: no limit)", "stop each run at "
               "the first step whose training time reaches T (90s, 10m, 1.5h); not reproducible bit for bit")


def _add_budgets(parser) -> None:
    parser.add_argument("--work-budget", metavar="N", help=BUDGET_HELP[0])
    parser.add_argument("--time-budget", metavar="T", help=BUDGET_HELP[1])


def _add_run(sub) -> None:
    run = sub.add_parser("run", help="run one solver on one game (or a case)", epilog=EXAMPLES["run"], formatter_class=_FORMAT)
    run.add_argument("case", nargs="?", help="a case file or bundled case name (instead of --game/--solver)")
    run.add_argument("--game", help="registered game name (see `diffgames list`), or one defined in a file or "
                     "module: my_games.py:Saddle, my_package.games:Saddle")
    run.add_argument("--solver", help="solver name (or file.py:Class, module:Class), or with a case: the solver "
                     "label to run (default: all)")
    run.add_argument("--game-opt", action="append", metavar="K=V", help="game option (repeatable)")
    run.add_argument("--solver-opt", action="append", metavar="K=V", help="solver option (repeatable)")
    run.add_argument("--optimizer", choices=["sgd", "adam"], help="base optimizer for every player (default: the game's)")
    run.add_argument("--lr", type=float, help="learning rate of every player's base optimizer")
    run.add_argument("--steps", type=int, help="number of steps (default 1000, or the case's); a step is one "
                     "solver step: every player updates once, except with the unrolled solver's "
                     "schedule=alternating, where one side updates per step")
    _add_budgets(run)
    run.add_argument("--eval-every", type=int, help="evaluate every M steps (default 100, or the case's)")
    run.add_argument("--checkpoint-every", type=int, help="checkpoint every N steps (default: at evaluations)")
    run.add_argument("--seed", type=int, help="seed (default 0, or all of the case's)")
    run.add_argument("--seeds", help="several seeds, e.g. 0-15 (runs <out>/seed<k>; with --vectorize as one batch)")
    run.add_argument("--vectorize", action="store_true", help="run the seeds as one batched (vmapped) computation")
    _add_executor(run)
    run.add_argument("--compile", action="store_true", help="torch.compile the solver's step (compile time is reported)")
    run.add_argument("--out", help="output directory (default runs/<game>-<solver>/seed<S>, a game or solver "
                     "from a file by its class name; with a case runs/<case>/<label>/seed<S>)")
    run.add_argument("--overwrite", action="store_true",
                     help="replace a run of another configuration in --out (otherwise refused; the same "
                          "configuration is kept when finished and continued when interrupted)")
    run.add_argument("--device", default=None, help="cpu (default) or cuda")
    run.add_argument("--threads", type=int, help="torch threads (default: torch's, usually the cores); "
                     "recorded in the run's provenance")
    run.add_argument("--dtype", choices=["float32", "float64"], default=None)
    run.add_argument("--tensorboard", action="store_true", help="also log to TensorBoard (needs tensorboard)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_resume_and_compare(sub) -> None:
    resume = sub.add_parser("resume", help="continue an interrupted run from its last good checkpoint", epilog=EXAMPLES["resume"], formatter_class=_FORMAT)
    resume.add_argument("run_dir")
    resume.add_argument("--steps", type=int, help="continue to this many steps instead of the configured number")
    resume.add_argument("--work-budget", metavar="N", help="continue to this work budget (a larger one "
                        "than the run stopped at)")
    resume.add_argument("--time-budget", metavar="T", help="continue to this training-time budget (90s, 10m, 1.5h)")
    resume.add_argument("--threads", type=int, help="torch threads; default: the number the run was started with "
                        "(another number changes floating-point reductions, so the continued numbers)")
    resume.add_argument("--quiet", action="store_true")

    compare = sub.add_parser("compare", help="run every solver x seed of a case; table with CIs and plots", epilog=EXAMPLES["compare"], formatter_class=_FORMAT)
    compare.add_argument("case")
    compare.add_argument("--solvers", help="comma-separated solver labels (default: all of the case's)")
    compare.add_argument("--seeds", help="e.g. 0-4 or 0,2 (default: the case's)")
    compare.add_argument("--jobs", type=int, default=1, help="parallel processes (default 1)")
    compare.add_argument("--threads", type=int, help="torch threads per process (default: cores // jobs); "
                         "use 1 when other work shares the machine")
    compare.add_argument("--steps", type=int, help="override the case's step count (a shorter run)")
    _add_budgets(compare)
    compare.add_argument("--eval-every", type=int, help="override the case's evaluation interval")
    compare.add_argument("--device", default=None)
    compare.add_argument("--vectorize", action="store_true", help="run each solver's seeds as one batched computation")
    compare.add_argument("--compile", action="store_true", help="torch.compile each solver's step")
    compare.add_argument("--out", help="output directory (default runs/<case>)")
    compare.add_argument("--overwrite", action="store_true", help="replace runs of another configuration under --out")
    compare.add_argument("--settings", help="only these settings of the case's [sweep], separated by ';' "
                         "(labels as `diffgames show CASE` lists them)")
    _add_executor(compare)
    compare.add_argument("--quiet", action="store_true")


def _add_executor(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--executor", choices=("local", "ray"), default="local",
                        help="local processes (default) or one Ray task per run (pip install 'diffgames[ray]')")
    parser.add_argument("--address", help="with --executor ray: join this Ray cluster (default: start a local one)")
    parser.add_argument("--gpus-per-run", type=float,
                        help="with --executor ray and --device cuda: GPUs each run declares (default 1; a fraction "
                             "such as 0.25 packs four runs on one GPU)")


def _add_reporting(sub) -> None:
    """verify, report, table, plot and diagnose: commands that read runs or games."""
    verify = sub.add_parser("verify", help="check a case's claims against its runs (exit 1 if one fails)", epilog=EXAMPLES["verify"], formatter_class=_FORMAT)
    verify.add_argument("target", help="a case (file or name) or a comparison directory")
    verify.add_argument("--runs", help="where the case's runs are (default runs/<case>)")

    report = sub.add_parser("report", help="converged / cycled / diverged tables of solver comparisons",
                            epilog="example:\n  diffgames report runs/solvers-bilinear runs/solvers-rps --figures docs/results/figures",
                            formatter_class=_FORMAT)
    report.add_argument("directories", nargs="+", help="comparison directories made by `diffgames compare`")
    report.add_argument("--figures", help="also save each comparison's verdict-metric plot in this folder")

    table = sub.add_parser("table", help="the comparison table of a comparison directory (at the end, at a step, "
                           "or at an amount of work or training time)",
                           epilog="examples:\n  diffgames table runs/metz2016-mog-ring\n  diffgames table runs/metz2016-mog-ring --step 10000\n"
                                  "  diffgames table runs/metz2016-mog-ring --at-work 180000\n"
                                  "  diffgames table runs/metz2016-mog-ring --at-time 10m            # 10 minutes of training\n"
                                  "  diffgames table runs/metz2016-mog-ring --at-time 1.5h --clock wall\n\n"
                                  "At an amount of work or time each run is read at its last evaluation at or before it;\n"
                                  "a run that ended before it is left out and listed. Work (loss-gradient evaluations)\n"
                                  "does not depend on the machine: the fair unit on a shared, noisy machine. Training\n"
                                  "time also counts what work leaves out: the fair unit on a dedicated machine.",
                           formatter_class=_FORMAT)
    table.add_argument("target", help="a comparison directory")
    where = table.add_mutually_exclusive_group()
    where.add_argument("--step", type=int, help="tabulate this evaluated step instead of the final one")
    where.add_argument("--at-work", metavar="N", help="tabulate each run at N loss-gradient evaluations (all players, "
                       "since step 0): machine-independent, the fair unit on a shared, noisy machine")
    where.add_argument("--at-time", metavar="T", help="tabulate each run at T of training time: 90s, 10m, 1.5h or "
                       "plain seconds; the fair unit on a dedicated machine")
    table.add_argument("--clock", choices=("train", "wall"), help="with --at-time: train (default: time in training "
                       "steps, evaluations excluded) or wall (time since the run started, evaluations included)")

    plot = sub.add_parser("plot", help="draw the figures of a run or comparison directory", epilog=EXAMPLES["plot"], formatter_class=_FORMAT)
    plot.add_argument("target")
    plot.add_argument("--solvers", help="only these solver labels, comma-separated, in this order (rows of the sample grid)")
    plot.add_argument("--seed", type=int, help="the seed whose samples and mode occupancy are drawn (default: the lowest)")
    plot.add_argument("--out", help="folder for the figures of a comparison (default: the comparison's own)")
    plot.add_argument("--x", choices=("step", "work", "time"), default="step",
                      help="the metric curves' x-axis: step (default), work (loss-gradient evaluations, machine-"
                           "independent) or time (training time in seconds, evaluations excluded); work and time "
                           "figures are written beside the step ones (metrics-by-work.png, plots/<metric>-by-work.png)")
    plot.add_argument("--sweep", metavar="METRIC[OP VALUE]",
                      help="a heat map of a sweep's settings per solver: the final METRIC's mean over seeds, or "
                           "with a criterion such as 'modes_covered_1pct>=8' the share of seeds meeting it")

    diagnose = sub.add_parser("diagnose", help="game Jacobian eigenvalues, Hamiltonian, spectral radius", epilog=EXAMPLES["diagnose"], formatter_class=_FORMAT)
    diagnose.add_argument("--game", required=True)
    diagnose.add_argument("--game-opt", action="append", metavar="K=V")
    diagnose.add_argument("--at", help="a run directory or checkpoint file to take the parameters from")
    diagnose.add_argument("--seed", type=int, default=0)
    diagnose.add_argument("--out", help="where to save the eigenvalue plot (default diagnose-<game>.png)")
    diagnose.add_argument("--quiet", action="store_true", help="no progress bar (large games take minutes)")


def _add_sample_export(sub) -> None:
    """sample and export: commands that use a run's trained generator (arena/reports/sampling.py)."""
    sample = sub.add_parser(
        "sample", help="draw samples from a run's trained generator (.npy or .pt, and a PNG)",
        epilog="examples:\n  diffgames sample runs/mog-k5 -n 10000\n"
               "  diffgames sample runs/mog-k5 -n 500 --step 1000 --seed 3 --out early.pt",
        formatter_class=_FORMAT)
    sample.add_argument("run_dir", help="a run directory (made by `diffgames run`)")
    sample.add_argument("-n", type=int, required=True, help="number of samples")
    sample.add_argument("--out", help="a .npy or .pt file (default RUN_DIR/samples-<step>.npy); the PNG goes next to it")
    sample.add_argument("--step", type=int, help="use the checkpoint (or snapshot) at this step (default: the final one)")
    sample.add_argument("--seed", type=int, default=0, help="seed of the noise (default 0)")
    sample.add_argument("--device", default=None, help="cpu or cuda (default: the run's device)")

    export = sub.add_parser(
        "export", help="write a trained player as a file plain PyTorch loads (torch.export .pt2, or TorchScript .pt)",
        epilog="examples:\n  diffgames export runs/mog-k5\n"
               "  diffgames export runs/mog-k5 --player discriminator --step 1000 --out disc.pt2",
        formatter_class=_FORMAT)
    export.add_argument("run_dir", help="a run directory (made by `diffgames run`)")
    export.add_argument("--player", default="generator", help="the player to export (default generator)")
    export.add_argument("--out", help="a .pt2 (torch.export) or .pt (TorchScript) file (default RUN_DIR/<player>-<step>.pt2)")
    export.add_argument("--step", type=int, help="use the checkpoint (or snapshot) at this step (default: the final one)")


def _add_limit(sub) -> None:
    """limit: the unrolled gradient against K beside the Stackelberg one (arena/reports/limit.py)."""
    limit = sub.add_parser(
        "limit", help="unrolled gradient (Metz et al. Eq. 13) vs K: second term, distance to the Stackelberg gradient",
        epilog="examples:\n  diffgames limit --game dirac-gan --game-opt r1=1 "
               "--vary generator_loss=zero-sum,non-saturating --ks 0,1,5,20,100\n"
               "  diffgames limit --game analysis.unrolling_limit:QuadraticLeaderFollower "
               "--vary leader_loss=zero-sum,general-sum --out runs/limit",
        formatter_class=_FORMAT)
    spec = {"dest": "limit_spec", "action": "append"}
    limit.add_argument("--game", metavar="NAME", type=lambda s: ("game", s), required=True, **spec,
                       help="a two-player game with a strongly convex follower (repeatable)")
    limit.add_argument("--game-opt", metavar="K=V", type=lambda s: ("opt", s), **spec,
                       help="an option of the --game before it")
    limit.add_argument("--vary", metavar="K=V1,V2", type=lambda s: ("vary", s), **spec,
                       help="one line per value of this option of the --game before it")
    limit.add_argument("--ks", default="0,1,2,5,10,20,50,100", help="unrolling lengths K (default 0,1,2,5,10,20,50,100)")
    limit.add_argument("--lr", type=float, default=0.1, help="the follower's SGD step (default 0.1)")
    limit.add_argument("--seed", type=int, default=0, help="the initial point and the batch (default 0)")
    limit.add_argument("--start", choices=("point", "optimum"), default="point",
                       help="unroll from the initial follower (default) or from its optimum")
    limit.add_argument("--damping", type=float, default=0.0, help="λ of the Stackelberg solve (default 0)")
    limit.add_argument("--optimum-steps", type=int, default=200_000,
                       help="most follower steps to reach its optimum (default 200000)")
    limit.add_argument("--out", default="limit", help="folder for the CSV, markdown table and figure (default ./limit)")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        # heavy imports (torch, scipy) only once the arguments parse, and inside the
        # try so that Ctrl-C while starting up ends with one line, not a traceback
        from arena.cli import commands
        from arena.runs.loop import Interrupted
        from diffgames.errors import DiffgamesError, DivergenceError
    except KeyboardInterrupt:
        print("\ndiffgames: interrupted while starting; nothing was run", file=sys.stderr)
        return 130

    try:
        return getattr(commands, f"cmd_{args.command}")(args) or 0
    except DivergenceError as exc:
        print(f"diffgames: {exc}", file=sys.stderr)
        return 2
    except DiffgamesError as exc:
        if isinstance(exc, Interrupted):
            print(f"\ndiffgames: {exc}", file=sys.stderr)
            return 128 + exc.signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM
        print(f"diffgames: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ndiffgames: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `diffgames list | head`: the reader left, nothing to report
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
