"""No run is destroyed without being asked (arena.runs.directory): the same command again keeps a
finished run byte for byte and continues an interrupted one; another configuration is
refused with the difference named, unless --overwrite; a configuration error leaves no
directory behind."""
from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from pathlib import Path

import pytest

import arena.runs.loop
from arena.cli.main import main

RUN = ["run", "--game", "rps", "--solver", "optimistic", "--optimizer", "sgd", "--lr", "0.2", "--steps", "20",
       "--eval-every", "5", "--quiet", "--dtype", "float64"]


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _rows(run_dir: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k not in ("wall_time", "train_time")}
            for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_the_same_command_on_a_finished_run_keeps_it_byte_identical(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*RUN, "--out", str(out)]) == 0
    before = _digest(out)
    capsys.readouterr()
    assert main([*RUN, "--out", str(out)]) == 0
    assert "already done, kept" in capsys.readouterr().out
    assert _digest(out) == before


def test_the_same_command_after_an_interruption_continues(tmp_path, monkeypatch, capsys):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert main([*RUN, "--out", str(whole)]) == 0

    class After(list):
        def __init__(self):
            super().__init__()
            self.asked = 0

        def __bool__(self):
            self.asked += 1
            if self.asked == 12 and not len(self):
                self.append(15)  # SIGTERM after step 12
            return len(self) > 0

    @contextmanager
    def caught():
        yield After()

    with monkeypatch.context() as patch:
        patch.setattr(arena.runs.loop, "_catch_signals", caught)
        assert main([*RUN, "--out", str(parts)]) == 143
    assert "interrupted at step 12/20" in capsys.readouterr().err
    assert (parts / "metrics.png").exists()  # the figure is there at the interruption
    assert main([*RUN, "--out", str(parts)]) == 0
    assert _rows(parts) == _rows(whole)


def test_another_configuration_is_refused_and_the_directory_untouched(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*RUN, "--out", str(out)]) == 0
    before = _digest(out)
    capsys.readouterr()
    assert main([*[a if a != "0.2" else "0.1" for a in RUN], "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "holds a run of another configuration" in err and "lr" in err and "--overwrite" in err
    assert _digest(out) == before
    assert main([*RUN, "--steps", "10", "--out", str(out)]) == 2  # shorter than what it already ran
    assert "already ran to step 20" in capsys.readouterr().err
    assert _digest(out) == before


def test_overwrite_replaces_the_run(tmp_path):
    out = tmp_path / "run"
    assert main([*RUN, "--out", str(out)]) == 0
    (out / "notes.txt").write_text("mine")
    other = [a if a != "0.2" else "0.1" for a in RUN]
    assert main([*other, "--out", str(out), "--overwrite"]) == 0
    assert json.loads((out / "summary.json").read_text())["status"] == "done"
    assert "lr = 0.1" in (out / "config.toml").read_text()
    assert (out / "notes.txt").read_text() == "mine"  # only what a run writes is replaced


def test_a_longer_run_of_the_same_configuration_continues(tmp_path):
    out = tmp_path / "run"
    assert main([*RUN, "--out", str(out)]) == 0
    assert main([*RUN, "--steps", "30", "--out", str(out)]) == 0
    assert _rows(out)[-1]["step"] == 30
    assert main([*RUN, "--steps", "30", "--out", str(tmp_path / "straight")]) == 0
    assert _rows(out) == _rows(tmp_path / "straight")


@pytest.mark.parametrize("bad", [["--solver-opt", "nonsense=1"], ["--game-opt", "payoff=3"]])
def test_a_configuration_error_leaves_no_directory(tmp_path, bad, capsys):
    out = tmp_path / "run"
    command = ["run", "--game", "rps" if "--solver-opt" in bad else "matrix", "--solver", "optimistic", *bad,
               "--steps", "5", "--quiet", "--out", str(out)]
    assert main(command) == 2
    assert "error" in capsys.readouterr().err
    assert not out.exists()


def test_compare_refuses_another_configuration_before_running_anything(tmp_path, capsys):
    out = tmp_path / "cmp"

    def args(steps="20", every="10", *extra):
        return ["compare", "quickstart", "--solvers", "simultaneous,optimistic", "--steps", steps,
                "--eval-every", every, "--quiet", "--out", str(out), *extra]

    assert main(args()) == 0
    capsys.readouterr()
    assert main(args("30")) == 0  # longer: both runs continue
    before = _digest(out)
    assert main(args("30", "5")) == 2  # another evaluation interval: refused, nothing run
    assert "eval_every" in capsys.readouterr().err
    assert _digest(out) == before
    assert main(args("30", "5", "--overwrite")) == 0
    assert '"step": 5,' in (out / "optimistic" / "seed0" / "metrics.jsonl").read_text()  # run again, every 5
