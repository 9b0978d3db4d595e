"""A refused run names each changed leaf of its configuration, and a comparison asked for a
device this machine lacks stops in one line before anything is written."""
from __future__ import annotations

import pytest
import torch

from arena.cli.main import main
from arena.runs.directory import difference


def test_difference_names_the_changed_leaf():
    saved = {"game": "rps", "optimizers": {"row": {"name": "sgd", "lr": 0.2}, "col": {"name": "sgd", "lr": 0.2}}}
    wanted = {"game": "rps", "optimizers": {"row": {"name": "sgd", "lr": 0.1}, "col": {"name": "sgd", "lr": 0.2}}}
    assert difference(saved, wanted) == ["optimizers.row.lr: 0.2 → 0.1"]
    # the game's default (no optimizers key) against explicit ones: every leaf, none cut off
    lines = difference({"game": "rps"}, {"game": "rps", "optimizers": {"row": {"name": "sgd", "lr": 0.1}}})
    assert lines == ["optimizers.row.lr: (not set) → 0.1", "optimizers.row.name: (not set) → 'sgd'"]
    assert difference({"solver_options": {"unroll_steps": 5}}, {"solver_options": {}}) == [
        "solver_options.unroll_steps: 5 → (not set)"]


def test_a_refused_run_says_which_learning_rate_changed(tmp_path, capsys):
    out = str(tmp_path / "run")
    base = ["run", "--game", "rps", "--solver", "simultaneous", "--steps", "2", "--eval-every", "1",
            "--out", out, "--quiet"]
    assert main([*base, "--lr", "0.2"]) == 0
    capsys.readouterr()
    assert main([*base, "--lr", "0.1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "optimizers.col.lr: 0.2 → 0.1; optimizers.row.lr: 0.2 → 0.1" in err and "..." not in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without CUDA")
def test_compare_on_a_missing_device_stops_before_writing(tmp_path, capsys):
    out = tmp_path / "qs"
    assert main(["compare", "quickstart", "--device", "cuda", "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "no CUDA device" in captured.err
    assert "running" not in captured.out
    assert not out.exists()
