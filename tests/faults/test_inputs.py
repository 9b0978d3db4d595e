"""Files that would run code if loaded as code, and inputs a user can get wrong: each is one
line on stderr, exit 2, nothing left behind (and no marker file created)."""
from __future__ import annotations

import errno
import hashlib
import io
import shutil
import warnings
from pathlib import Path

import pytest
import torch

from arena.runs import files
from arena.runs.checkpoint import list_checkpoints
from fault_helpers import MOG, RPS, cli, one_line

CASE = """name = "{name}"
[game]
name = "{game}"
[run]
steps = {steps}
eval_every = 5
seeds = {seeds}
snapshot_steps = {snapshots}
[[solvers]]
label = "{label}"
name = "{solver}"
optimizers = {{ name = "sgd", lr = 0.2 }}
"""
GOOD = dict(name="tiny", game="rps", steps=10, seeds="[0]", snapshots="[]", label="ogda", solver="optimistic")


class Touch:
    """Pickles to a call of ``Path.touch(marker)``: what a crafted file would run."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("finished") / "cmp" / "ogda" / "seed0"
    assert cli("run", *RPS, "--steps", 10, "--out", out) == 0
    return out


def _copy(finished, tmp_path):
    out = tmp_path / "cmp" / "ogda" / "seed0"
    shutil.copytree(finished, out)
    return out


def _crafted_checkpoint(path: Path, marker: Path) -> None:
    buffer = io.BytesIO()
    torch.save({"params": Touch(marker), "solver_state": {}, "rng": {}, "step": 99}, buffer)
    body = buffer.getvalue()
    path.write_bytes(hashlib.sha256(body).hexdigest().encode() + b"\n" + body)  # a valid checksum


@pytest.mark.parametrize("command", ["resume", "diagnose"])
def test_a_crafted_checkpoint_runs_nothing(finished, tmp_path, capsys, command):
    out, marker = _copy(finished, tmp_path), tmp_path / "marker"
    for path in list_checkpoints(out / "checkpoints"):
        _crafted_checkpoint(path, marker)
    argv = {"resume": ["resume", out, "--steps", 20], "diagnose": ["diagnose", "--game", "rps", "--at", out]}[command]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the skipped checkpoints are named in warnings
        assert cli(*argv) == 2
    assert one_line(capsys.readouterr().err) and not marker.exists()


def test_a_crafted_snapshot_runs_nothing(tmp_path, capsys):
    out, marker = tmp_path / "mog", tmp_path / "marker"
    assert cli("run", *MOG, "--steps", 5, "--out", out) == 0  # mog draws its snapshots
    (out / "snapshots").mkdir(exist_ok=True)
    torch.save(Touch(marker), out / "snapshots" / "step-000000005.pt")
    capsys.readouterr()
    assert cli("plot", out) == 2
    assert one_line(capsys.readouterr().err) and not marker.exists()


@pytest.mark.parametrize("command", ["resume", "plot", "show", "table", "sample"])
def test_a_config_naming_a_function_runs_nothing(finished, tmp_path, capsys, command):
    out, marker = _copy(finished, tmp_path), tmp_path / "marker"
    (out / "config.toml").write_text(f'game = "os:system"\nsolver = "optimistic"\nout = "x"\n'
                                     f'[game_options]\ncommand = "touch {marker}"\n')
    argv = {"resume": ["resume", out], "plot": ["plot", out], "show": ["show", out], "table": ["table", out.parent.parent],
            "sample": ["sample", out, "-n", 5, "--out", tmp_path / "s.npy"]}[command]
    code = cli(*argv)
    err = capsys.readouterr().err
    assert (code == 2 and one_line(err)) or command == "show"  # show prints the configuration, building nothing
    assert not marker.exists() and "Traceback" not in err


@pytest.mark.parametrize("command", ["show", "run", "compare", "verify"])
@pytest.mark.parametrize("where", ["game", "solver"])
def test_a_case_naming_a_function_runs_nothing(tmp_path, capsys, command, where):
    marker = tmp_path / "marker"
    case = tmp_path / "evil.toml"
    fields = {**GOOD, where: "os:system"}
    case.write_text(CASE.format(**fields))
    argv = {"show": ["show", case], "run": ["run", case, "--out", tmp_path / "o"],
            "compare": ["compare", case, "--out", tmp_path / "o"], "verify": ["verify", case]}[command]
    assert cli(*argv) == 2
    assert one_line(capsys.readouterr().err) and not marker.exists() and not (tmp_path / "o").exists()


BAD_CASES = {
    "label with ..": dict(label="../../escaped"),
    "absolute label": dict(label="/tmp/escaped-diffgames"),
    "label with a slash": dict(label="a/b"),
    "case name ..": dict(name=".."),
    "snapshot steps not numbers": dict(snapshots='["a"]'),
    "huge seed": dict(seeds=f"[{2**63 - 1}]"),
    "huge steps": dict(steps="1e29"),
}


@pytest.mark.parametrize("what", list(BAD_CASES))
def test_a_bad_case_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch, what):
    monkeypatch.chdir(tmp_path)
    case = tmp_path / "case.toml"
    case.write_text(CASE.format(**{**GOOD, **BAD_CASES[what]}))
    before = set(Path("/tmp").iterdir())
    assert cli("compare", case, "--out", tmp_path / "o", "--quiet") == 2
    assert one_line(capsys.readouterr().err), what
    assert not (tmp_path / "o").exists() and set(Path("/tmp").iterdir()) <= before


@pytest.mark.parametrize("what", ["binary case file", "case path is a folder", "out is a file", "out under a file"])
def test_bad_paths_are_one_line(tmp_path, capsys, what):
    (tmp_path / "file").write_text("x")
    (tmp_path / "binary.toml").write_bytes(bytes(range(256)))
    argv = {"binary case file": ["run", tmp_path / "binary.toml"], "case path is a folder": ["run", tmp_path],
            "out is a file": ["run", *RPS, "--out", tmp_path / "file"],
            "out under a file": ["run", *RPS, "--out", tmp_path / "file" / "run"]}[what]
    assert cli(*argv) == 2
    assert one_line(capsys.readouterr().err), what
    assert (tmp_path / "file").read_text() == "x"


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_a_full_or_read_only_disk_is_one_line_and_keeps_the_last_checkpoint(finished, tmp_path, capsys, code):
    out = _copy(finished, tmp_path)
    kept = {p.name: p.read_bytes() for p in list_checkpoints(out / "checkpoints")}

    def refuse(path):
        raise OSError(code, __import__("os").strerror(code))

    files.fault_hook = refuse
    try:
        assert cli("resume", out, "--steps", 20) == 2
    finally:
        files.fault_hook = None
    err = capsys.readouterr().err
    assert one_line(err) and __import__("os").strerror(code) in err
    assert {p.name: p.read_bytes() for p in list_checkpoints(out / "checkpoints")} == kept
    assert cli("resume", out, "--steps", 20) == 0  # space again: it continues
