"""Faults while a run writes: a kill at each write, a real SIGKILL, two writers, SIGTERM.

Each trial ends with the run's numbers equal to an uninterrupted run's (``metrics.jsonl``
without its time columns), or with one clear line and nothing lost.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from fault_helpers import MOG, RPS, ROOT, SimulatedKill, cli, count_writes, kill_at_write, one_line, rows, subprocess_cli


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted 20-step rps run and the paths of its writes, in order."""
    out = tmp_path_factory.mktemp("ref") / "run"
    written = count_writes("run", *RPS, "--steps", 20, "--out", out)
    return out, written


def test_a_kill_at_each_write_then_the_same_command_gives_the_uninterrupted_numbers(tmp_path, reference):
    ref, written = reference
    assert len(written) >= 15  # manifest, config, metrics lines, checkpoints, summaries, figures
    for n in range(1, len(written) + 1):
        out = tmp_path / f"kill{n}"
        with kill_at_write(n), pytest.raises(SimulatedKill):
            cli("run", *RPS, "--steps", 20, "--out", out)
        assert not list(out.rglob(".*.tmp")), n  # the write was abandoned, its temporary file removed
        assert cli("run", *RPS, "--steps", 20, "--out", out) == 0, n
        assert rows(out) == rows(ref), f"kill at write {n} ({written[n - 1].name})"
        assert json.loads((out / "summary.json").read_text())["final_step"] == 20


@pytest.mark.parametrize("where", ["metrics.jsonl", "checkpoint-000000010.pt", "summary.json"])
def test_sigkill_of_a_real_process_then_the_same_command(tmp_path, where):
    """A real ``kill -9`` (the write hook kills the process at its n-th write, a temporary
    file may be left behind), on a tiny mog run."""
    ref, out = tmp_path / "ref", tmp_path / "run"
    assert subprocess_cli("run", *MOG, "--steps", 20, "--out", ref).returncode == 0
    written = [line for line in _write_log(ref)]
    n = next(i for i, name in enumerate(written, start=1) if name == where and i > 3)
    killed = subprocess_cli("run", *MOG, "--steps", 20, "--out", out, env={"DIFFGAMES_FAULT_KILL_AT_WRITE": str(n)})
    assert killed.returncode == -signal.SIGKILL
    again = subprocess_cli("run", *MOG, "--steps", 20, "--out", out)
    assert again.returncode == 0, again.stderr
    assert rows(out) == rows(ref)


def _write_log(run_dir):
    """The names of a finished run's writes, in order, recomputed by running it again under the hook."""
    from fault_helpers import count_writes as count

    copy = run_dir.parent / (run_dir.name + "-count")
    return [p.name for p in count("run", *MOG, "--steps", 20, "--out", copy)]


def test_a_second_writer_gets_one_line_naming_the_holder(tmp_path, capsys):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from arena.runs.lock import run_lock\n"
                               f"with run_lock({str(out)!r}):\n print('held', flush=True); time.sleep(60)"],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert cli("run", *RPS, "--steps", 10, "--out", out) == 2
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert one_line(err) and f"process {holder.pid}" in err and "being written by" in err
    assert not (out / "config.toml").exists()
    assert cli("run", *RPS, "--steps", 10, "--out", out) == 0  # its holder died: the lock is taken over


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / ".lock").write_text(json.dumps({"pid": 999999, "host": "elsewhere", "since": "yesterday"}))
    assert cli("run", *RPS, "--steps", 10, "--out", out) == 0
    assert not (out / ".lock").exists()


def test_two_processes_on_one_folder_at_once(tmp_path):
    ref, out = tmp_path / "ref", tmp_path / "run"
    assert cli("run", *RPS, "--steps", 200, "--out", ref) == 0
    cmd = [sys.executable, "-m", "arena.cli.main", "run", *RPS, "--steps", "200", "--out", str(out)]
    first = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    codes = sorted([first.wait(120), second.wait(120)])
    errors = first.stderr.read() + second.stderr.read()
    # one writes; the other either finds the run being written (exit 2, one line) or, started
    # after the first finished, keeps it
    assert codes in ([0, 2], [0, 0]) and "Traceback" not in errors
    if codes == [0, 2]:
        assert "being written by process" in errors
    assert rows(out) == rows(ref)


def test_sigterm_saves_a_checkpoint_and_exits_143(tmp_path):
    out = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "arena.cli.main", "run", *RPS, "--steps", "100000", "--out",
                                str(out)], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not list((out / "checkpoints").glob("*.pt")) and time.time() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == 143
    err = process.stderr.read()
    assert "Continue with: diffgames resume" in err and "Traceback" not in err
    assert json.loads((out / "summary.json").read_text())["status"] == "interrupted"
