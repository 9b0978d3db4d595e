"""Every run records what decides its numbers besides its configuration (summary.json's
``provenance``); a run continued under another torch thread count says so; ``show`` and
``compare``'s table state it."""
from __future__ import annotations

import json

import torch

from arena.cli.main import main
from diffgames.machine import provenance

RUN = ["run", "--game", "rps", "--solver", "optimistic", "--steps", "10", "--eval-every", "5", "--quiet"]


def _summary(run_dir):
    return json.loads((run_dir / "summary.json").read_text())


def test_a_run_records_its_provenance(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*RUN, "--out", str(out)]) == 0
    record = _summary(out)["provenance"]
    assert record["torch"] == torch.__version__ and record["torch_threads"] == torch.get_num_threads()
    assert record["device"] == "cpu" and record["dtype"] == "float32" and record["python"]
    assert "commit" in record  # the tests run in a git checkout
    assert "continued_under" not in _summary(out)
    capsys.readouterr()
    assert main(["show", str(out)]) == 0
    text = capsys.readouterr().out
    assert "status: done at step 10 of 10" in text and f"torch {torch.__version__}" in text


def test_a_run_continued_under_another_thread_count_says_so(tmp_path, capsys):
    out = tmp_path / "run"
    threads = torch.get_num_threads()
    assert main([*RUN, "--out", str(out)]) == 0
    try:  # resume keeps the recorded count unless told another
        assert main(["resume", str(out), "--steps", "20", "--quiet", "--threads", str(threads + 1)]) == 0
    finally:
        torch.set_num_threads(threads)
    summary = _summary(out)
    assert summary["continued_under"]["changed"] == [f"torch_threads: {threads} → {threads + 1}"]
    capsys.readouterr()
    assert main(["show", str(out)]) == 0
    assert "not bit-identical to one uninterrupted run" in capsys.readouterr().out


def test_run_threads_sets_and_records_the_thread_count(tmp_path, capsys):
    threads = torch.get_num_threads()
    try:
        assert main([*RUN, "--out", str(tmp_path / "run"), "--threads", str(threads + 1)]) == 0
        assert _summary(tmp_path / "run")["provenance"]["torch_threads"] == threads + 1
    finally:
        torch.set_num_threads(threads)
    assert main([*RUN, "--out", str(tmp_path / "bad"), "--threads", "0"]) == 2
    assert "--threads must be at least 1" in capsys.readouterr().err


def test_the_comparison_table_states_the_provenance_once(tmp_path, capsys):
    assert main(["compare", "quickstart", "--solvers", "simultaneous,optimistic", "--steps", "10",
                 "--eval-every", "5", "--quiet", "--out", str(tmp_path / "cmp")]) == 0
    text = (tmp_path / "cmp" / "comparison.md").read_text()
    assert text.count("Made with: diffgames") == 1 and torch.__version__ in text
    assert provenance("cpu", "float32")["torch"] == torch.__version__
