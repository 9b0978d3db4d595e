"""Checkpoints: SIGTERM mid-run then resume equals an uninterrupted run exactly; damaged
checkpoints fall back to the previous good one."""
from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time
import warnings

import pytest
import torch

from arena.runs.checkpoint import list_checkpoints, load_latest_checkpoint, save_checkpoint
from arena.runs.config import RunConfig
from arena.runs.loop import resume, train

STEPS = 3000


def _config(out, **kw):
    base = dict(game="rps", solver="optimistic", optimizers={"name": "adam", "lr": 0.05}, steps=STEPS,
                eval_every=100, checkpoint_every=50, seed=7, out=str(out))
    return RunConfig(**{**base, **kw})


def _metrics(out):
    return [{k: v for k, v in json.loads(l).items() if "time" not in k}
            for l in (out / "metrics.jsonl").read_text().splitlines()]


def test_sigterm_then_resume_equals_uninterrupted(tmp_path):
    interrupted = tmp_path / "interrupted"
    cmd = [sys.executable, "-m", "arena.cli.main", "run", "--game", "rps", "--solver", "optimistic",
           "--optimizer", "adam", "--lr", "0.05", "--steps", str(STEPS),
           "--eval-every", "100", "--checkpoint-every", "50", "--seed", "7", "--out", str(interrupted), "--quiet"]
    process = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until the run is well under way
        metrics = interrupted / "metrics.jsonl"
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 3:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, err
    assert "diffgames resume" in err and "Traceback" not in err
    summary = json.loads((interrupted / "summary.json").read_text())
    assert summary["status"] == "interrupted" and 0 < summary["final_step"] < STEPS

    resume(interrupted, quiet=True)
    straight = tmp_path / "straight"
    config = _config(straight)
    train(config, quiet=True)

    assert _metrics(interrupted) == _metrics(straight)
    _, a = load_latest_checkpoint(interrupted / "checkpoints")
    _, b = load_latest_checkpoint(straight / "checkpoints")
    for player in a["params"]:
        for name in a["params"][player]:
            assert torch.equal(a["params"][player][name], b["params"][player][name])
    assert torch.equal(a["solver_state"]["opt"]["row"]["exp_avg"]["logits"], b["solver_state"]["opt"]["row"]["exp_avg"]["logits"])


def test_resume_continues_the_data_stream(tmp_path):
    # a game with a batch: interrupting at step 30 of 60 (by running 30 then extending) equals 60 straight
    from arena.cli.main import main

    a, b = tmp_path / "a", tmp_path / "b"
    common = ["--game", "mog", "--game-opt", "hidden=8", "--game-opt", "batch_size=16", "--game-opt", "latent_size=3",
              "--game-opt", "eval_samples=100", "--solver", "alternating", "--eval-every", "10", "--quiet"]
    assert main(["run", *common, "--steps", "30", "--out", str(a)]) == 0
    assert main(["resume", str(a), "--steps", "60", "--quiet"]) == 0
    assert main(["run", *common, "--steps", "60", "--out", str(b)]) == 0
    assert _metrics(a) == _metrics(b)


def test_corrupted_newest_checkpoint_falls_back(tmp_path):
    directory = tmp_path / "ckpt"
    for step in (10, 20, 30):
        save_checkpoint(directory, step, {"step": step, "x": torch.full((3,), float(step))})
    newest = list_checkpoints(directory)[-1]
    newest.write_bytes(newest.read_bytes()[:-7])  # truncated, as by a crash mid-copy
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path, payload = load_latest_checkpoint(directory)
    assert payload["step"] == 20 and torch.equal(payload["x"], torch.full((3,), 20.0))
    assert any("checksum" in str(w.message) for w in caught)

    flipped = list_checkpoints(directory)[-2]
    data = bytearray(flipped.read_bytes())
    data[-20] ^= 0xFF
    flipped.write_bytes(bytes(data))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert load_latest_checkpoint(directory)[1]["step"] == 10


def test_resume_after_damaged_checkpoint_still_matches(tmp_path):
    out = tmp_path / "run"
    config = _config(out, steps=300, checkpoint_every=100, eval_every=100)
    train(config, quiet=True)
    reference = _metrics(out)
    newest = list_checkpoints(out / "checkpoints")[-1]
    newest.write_bytes(b"garbage")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        resume(out, quiet=True)  # falls back to step 200 and recomputes the last 100 steps
    assert _metrics(out) == reference


def test_checkpoint_writes_are_atomic(tmp_path):
    directory = tmp_path / "ckpt"
    save_checkpoint(directory, 1, {"a": 1})
    assert not [p for p in os.listdir(directory) if p.endswith(".tmp")]
    for step in range(2, 7):
        save_checkpoint(directory, step, {"a": step}, keep=3)
    assert [p.name for p in list_checkpoints(directory)] == [f"checkpoint-{s:09d}.pt" for s in (4, 5, 6)]


def test_ctrl_c_on_compare_checkpoints_and_rerun_completes(tmp_path):
    case, out, process = _start_parallel_compare(tmp_path, steps=3000, seeds=[0, 1], started=[0])
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "Continue with the same command" in err
    assert json.loads((out / "ogda" / "seed0" / "summary.json").read_text())["status"] == "interrupted"

    from arena.cli.main import main

    assert main(["compare", str(case), "--out", str(out), "--quiet"]) == 0
    straight = tmp_path / "straight"
    train(_config(straight, steps=3000, seed=0, checkpoint_every=50), quiet=True)
    assert _metrics(out / "ogda" / "seed0") == _metrics(straight)


@pytest.mark.parametrize("to_group", [False, True], ids=["kill-parent", "kill-group"])
def test_sigterm_on_a_parallel_compare_stops_every_worker(tmp_path, to_group):
    # SIGTERM (a scheduler's stop, `kill PID`) used to kill the parent alone: its workers,
    # orphaned, went on with the queued runs, writing where a rerun would write too.
    _, out, process = _start_parallel_compare(tmp_path, steps=20000, seeds=[0, 1, 2, 3], started=[0, 1])
    if to_group:
        os.killpg(process.pid, signal.SIGTERM)
    else:
        os.kill(process.pid, signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode in (130, 143), err
    assert "Traceback" not in err and "Continue with the same command" in err
    for seed in (0, 1):
        assert json.loads((out / "ogda" / f"seed{seed}" / "summary.json").read_text())["status"] == "interrupted"
    deadline = time.time() + 10  # no worker left running in the session (zombies are dead)
    while time.time() < deadline and _live_processes_in_group(process.pid):
        time.sleep(0.2)
    assert not _live_processes_in_group(process.pid)
    for seed in (2, 3):  # queued runs were not started
        assert not (out / "ogda" / f"seed{seed}" / "summary.json").exists()


def _live_processes_in_group(pgid):
    """PIDs of the processes of group ``pgid`` that are not zombies (Linux /proc)."""
    live = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = open(stat).read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited while we looked
        if int(fields[2]) == pgid and fields[0] != "Z":
            live.append(int(stat.split("/")[2]))
    return live


def test_resume_continues_with_the_thread_count_the_run_recorded(tmp_path):
    # A fresh process's default thread count (the cores) need not be the run's; resuming
    # with another one would change the continued numbers.
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        train(_config(tmp_path, steps=100, eval_every=50), quiet=True)
        torch.set_num_threads(2)
        summary = resume(tmp_path, steps=200, quiet=True)
        assert torch.get_num_threads() == 1
        assert summary["provenance"]["torch_threads"] == 1 and "continued_under" not in summary
        summary = resume(tmp_path, steps=300, quiet=True, threads=2)  # asked for: recorded as a change
        assert summary["continued_under"]["changed"] == ["torch_threads: 1 → 2"]
    finally:
        torch.set_num_threads(before)


def _start_parallel_compare(tmp_path, steps, seeds, started):
    """`diffgames compare --jobs 2` of optimistic GD on rps in its own session, returned once
    the ``started`` seeds have logged three evaluations."""
    case = tmp_path / "c.toml"
    case.write_text(
        f'name = "c"\n[game]\nname = "rps"\n[run]\nsteps = {steps}\neval_every = 100\ncheckpoint_every = 50\n'
        f'seeds = {seeds}\n[[solvers]]\nlabel = "ogda"\nname = "optimistic"\noptimizers = {{ name = "adam", lr = 0.05 }}\n'
    )
    out = tmp_path / "runs"
    process = subprocess.Popen([sys.executable, "-m", "arena.cli.main", "compare", str(case), "--out", str(out), "--jobs", "2", "--quiet"],
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    logs = [out / "ogda" / f"seed{s}" / "metrics.jsonl" for s in started]
    deadline = time.time() + 120
    while time.time() < deadline and not all(m.exists() and len(m.read_text().splitlines()) >= 3 for m in logs):
        time.sleep(0.05)
    return case, out, process
