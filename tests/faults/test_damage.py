"""Damaged and edited files of each kind, killed vectorized and extended runs, and folders a
run did not write. Each trial ends with the uninterrupted run's numbers, or one clear line
(exit 2) and nothing lost."""
from __future__ import annotations

import json
import shutil

import pytest

from arena.runs.checkpoint import list_checkpoints
from fault_helpers import RPS, SimulatedKill, cli, kill_at_write, one_line, rows

MOG = ["--game", "mog", "--game-opt", "latent_size=4", "--game-opt", "hidden=8", "--game-opt", "batch_size=16",
       "--game-opt", "eval_samples=50", "--solver", "simultaneous", "--eval-every", "5", "--threads", "1", "--quiet"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished 20-step rps run (to copy and damage)."""
    out = tmp_path_factory.mktemp("finished") / "run"
    assert cli("run", *RPS, "--steps", 20, "--out", out) == 0
    return out


def _copy(finished, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    return out


def _truncate(path, keep=0.5):
    path.write_bytes(path.read_bytes()[:int(len(path.read_bytes()) * keep)])


# what is damaged, and whether `resume --steps 30` then still gives the uninterrupted numbers
# (True) or stops with one line (False)
DAMAGE = {
    "newest checkpoint truncated": (lambda out: _truncate(list_checkpoints(out / "checkpoints")[-1]), True),
    "newest checkpoint flipped byte": (lambda out: _flip(list_checkpoints(out / "checkpoints")[-1]), True),
    "every checkpoint truncated": (lambda out: [_truncate(p) for p in list_checkpoints(out / "checkpoints")], False),
    "config.toml emptied": (lambda out: (out / "config.toml").write_text(""), True),
    "config.toml truncated": (lambda out: _truncate(out / "config.toml"), True),
    "summary.json garbage": (lambda out: (out / "summary.json").write_text("{not json"), True),
    "metrics.jsonl last line cut": (lambda out: _truncate(out / "metrics.jsonl", 0.97), True),
    "metrics.jsonl middle line damaged": (lambda out: _damage_line(out / "metrics.jsonl", 2), False),
    "manifest.json garbage": (lambda out: (out / "manifest.json").write_text("]"), True),
}


def _flip(path):
    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF
    path.write_bytes(bytes(data))


def _damage_line(path, number):
    lines = path.read_text().splitlines()
    lines[number - 1] = lines[number - 1][:20]  # cut inside the line, as by a bad copy
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("what", list(DAMAGE))
def test_a_damaged_file_then_resume(finished, tmp_path, capsys, what):
    reference = tmp_path / "reference"
    assert cli("run", *RPS, "--steps", 30, "--out", reference) == 0
    out = _copy(finished, tmp_path)
    damage, recovers = DAMAGE[what]
    damage(out)
    kept = {p.name: p.read_bytes() for p in list_checkpoints(out / "checkpoints")}
    capsys.readouterr()
    with pytest.warns() if "checkpoint" in what and recovers else _nothing():
        code = cli("resume", out, "--steps", 30, "--quiet")
    if recovers:
        assert code == 0 and rows(out) == rows(reference), what
    else:
        err = capsys.readouterr().err
        assert code == 2 and one_line(err), (what, err)
        assert {p.name: p.read_bytes() for p in list_checkpoints(out / "checkpoints")} == kept  # nothing lost


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_a_damaged_metrics_line_is_named_by_table_and_can_be_skipped(finished, tmp_path, capsys, monkeypatch):
    out = tmp_path / "comparison" / "optimistic" / "seed0"
    shutil.copytree(finished, out)
    _damage_line(out / "metrics.jsonl", 3)
    assert cli("table", out.parent.parent) == 2
    err = capsys.readouterr().err
    assert one_line(err) and "line 3 is damaged" in err
    monkeypatch.setenv("DIFFGAMES_SKIP_DAMAGED_LINES", "1")
    with pytest.warns(UserWarning, match="line 3"):
        assert cli("table", out.parent.parent) == 0


def test_a_killed_vectorized_run_continues_vectorized_to_the_same_numbers(tmp_path):
    seeds = ["--seeds", "0-3", "--vectorize", "--steps", 20]
    assert cli("run", *MOG, *seeds, "--out", tmp_path / "ref") == 0
    # killed between the seeds' checkpoint writes of step 15: seeds 0-1 have it, seeds 2-3 do not
    with kill_at_write(match="seed2/checkpoints/checkpoint-000000015"), pytest.raises(SimulatedKill):
        cli("run", *MOG, *seeds, "--out", tmp_path / "run")
    assert cli("run", *MOG, *seeds, "--out", tmp_path / "run") == 0
    for k in range(4):
        assert rows(tmp_path / "run" / f"seed{k}") == rows(tmp_path / "ref" / f"seed{k}"), k
        assert json.loads((tmp_path / "run" / f"seed{k}" / "summary.json").read_text())["seeds_vectorized"] == 4


def test_an_extended_then_killed_run_says_its_true_length(finished, tmp_path, capsys):
    out = _copy(finished, tmp_path)
    with kill_at_write(match="checkpoint-000000030"), pytest.raises(SimulatedKill):
        cli("resume", out, "--steps", 40, "--quiet")
    assert json.loads((out / "summary.json").read_text())["final_step"] == 25  # not the old run's 20
    capsys.readouterr()
    assert cli("run", *RPS, "--steps", 20, "--out", out) == 2  # not "already done, kept"
    err = capsys.readouterr().err
    assert one_line(err) and "it already ran to step 25" in err
    assert cli("resume", out, "--steps", 40, "--quiet") == 0
    assert cli("run", *RPS, "--steps", 40, "--out", tmp_path / "straight") == 0
    assert rows(out) == rows(tmp_path / "straight")


def test_resume_refuses_an_edited_config_naming_each_difference(finished, tmp_path, capsys):
    out = _copy(finished, tmp_path)
    text = (out / "config.toml").read_text()
    (out / "config.toml").write_text(text.replace("lr = 0.2", "lr = 0.5").replace("eval_every = 5", "eval_every = 2"))
    before = (out / "metrics.jsonl").read_bytes()
    capsys.readouterr()
    assert cli("resume", out, "--steps", 30, "--quiet") == 2
    err = capsys.readouterr().err
    assert one_line(err) and "lr" in err and "eval_every" in err and "trained with" in err
    assert (out / "metrics.jsonl").read_bytes() == before


@pytest.mark.parametrize("spelling", ["plain", "dot-slash", "trailing-slash", "absolute", "moved"])
def test_a_run_folder_is_the_same_however_its_path_is_spelled(finished, tmp_path, monkeypatch, capsys, spelling):
    out = _copy(finished, tmp_path)
    monkeypatch.chdir(tmp_path)
    if spelling == "moved":
        out = out.rename(tmp_path / "elsewhere")
    given = {"plain": out.name, "dot-slash": f"./{out.name}", "trailing-slash": f"{out.name}/",
             "absolute": str(out), "moved": out.name}[spelling]
    assert cli("run", *RPS, "--steps", 20, "--out", given) == 0
    assert "already done, kept" in capsys.readouterr().out


def test_a_folder_of_someone_elses_files_is_refused_even_with_overwrite(tmp_path, capsys):
    out = tmp_path / "theirs"
    (out / "checkpoints").mkdir(parents=True)
    (out / "plots").mkdir()
    mine = {out / "checkpoints" / "checkpoint-000000001.pt": b"their model", out / "metrics.jsonl": b"their log\n",
            out / "plots" / "figure.png": b"their figure"}
    for path, data in mine.items():
        path.write_bytes(data)
    for extra in ([], ["--overwrite"]):
        assert cli("run", *RPS, "--steps", 10, "--out", out, *extra) == 2
        assert one_line(capsys.readouterr().err)
    (out / "config.toml").write_text('owner = "someone else"\n')
    assert cli("run", *RPS, "--steps", 10, "--out", out, "--overwrite") == 2
    assert one_line(capsys.readouterr().err)
    assert all(path.read_bytes() == data for path, data in mine.items())


def test_overwrite_removes_only_what_the_run_wrote(finished, tmp_path):
    out = _copy(finished, tmp_path)
    (out / "notes.txt").write_text("mine")
    (out / "plots").mkdir()
    (out / "plots" / "mine.png").write_bytes(b"mine")
    assert cli("run", *RPS, "--lr", "0.1", "--steps", 10, "--out", out, "--overwrite") == 0
    assert (out / "notes.txt").read_text() == "mine" and (out / "plots" / "mine.png").read_bytes() == b"mine"
    assert rows(out)[-1]["step"] == 10
