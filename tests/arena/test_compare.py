"""compare's process handling: Ctrl-C while workers start, thread counts."""
import pytest

def _sigint_disposition(queue) -> None:
    import signal

    queue.put(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)


def test_workers_spawned_under_sigint_ignored_start_without_a_keyboardinterrupt_handler():
    # A worker still importing when Ctrl-C arrives must not print a traceback: it can
    # only be safe if the interpreter starts with SIGINT ignored.
    import multiprocessing

    from arena.comparisons.compare import _sigint_ignored

    import signal

    context = multiprocessing.get_context("spawn")
    results = []
    # pytest itself may run with SIGINT ignored (started in the background by a
    # non-interactive shell), which every child would inherit: start from Python's
    # normal Ctrl-C handler so that the unguarded case tests something.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        for guarded in (True, False):
            queue = context.Queue()
            process = context.Process(target=_sigint_disposition, args=(queue,))
            if guarded:
                with _sigint_ignored():
                    process.start()
            else:
                process.start()
            results.append(queue.get(timeout=60))
            process.join(timeout=60)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert results == [True, False]


def test_compare_rejects_a_thread_count_below_one(tmp_path):
    from arena.comparisons.cases import find_case, load_case
    from arena.comparisons.compare import compare
    from diffgames.errors import ConfigError

    case = load_case(find_case("quickstart"))
    with pytest.raises(ConfigError, match="threads must be >= 1"):
        compare(case, tmp_path / "out", labels=[case.solvers[0].label], seeds=[0], threads=0, quiet=True)


def test_runs_load_in_natural_label_order_then_seed(tmp_path):
    # plots and tables list unrolled-k5 before unrolled-k10, as a reader expects
    from arena.comparisons.compare import load_runs
    from arena.runs.config import RunConfig

    for label in ("unrolled-k20", "unrolled-k5", "unrolled-k0", "unrolled-k10"):
        for seed in (10, 2):
            run = tmp_path / label / f"seed{seed}"
            run.mkdir(parents=True)
            RunConfig(game="rps", solver="simultaneous", label=label, seed=seed, out=str(run)).save(run / "config.toml")
    order = [(r.label, r.seed) for r in load_runs(tmp_path)]
    assert order == [(f"unrolled-k{k}", s) for k in (0, 5, 10, 20) for s in (2, 10)]
