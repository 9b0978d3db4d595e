"""The determinism contract: the same seed, code, torch version, device and thread count give
the same numbers, bit for bit on CPU — metrics, checkpoints and the data stream — whichever
process runs them."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

from arena.runs.checkpoint import load_latest_checkpoint

SCRIPT = """
import sys, torch
torch.set_num_threads(int(sys.argv[2]))
from arena.runs.config import RunConfig
from arena.runs.loop import train
train(RunConfig(game="mog", solver="unrolled", solver_options={"unroll_steps": 2}, steps=30, eval_every=10,
                game_options={"latent_size": 8, "hidden": 16, "batch_size": 64, "eval_samples": 500},
                seed=3, out=sys.argv[1]), quiet=True)
"""


def _run(out: Path, threads: int) -> tuple[list[dict], dict]:
    subprocess.run([sys.executable, "-c", SCRIPT, str(out), str(threads)], check=True, cwd=Path(__file__).parents[2])
    rows = [{k: v for k, v in json.loads(line).items() if k not in ("wall_time", "train_time")}
            for line in (out / "metrics.jsonl").read_text().splitlines()]
    return rows, load_latest_checkpoint(out / "checkpoints")[1]


def test_same_seed_same_threads_is_bit_identical_across_processes(tmp_path):
    rows_a, ckpt_a = _run(tmp_path / "a", 1)
    rows_b, ckpt_b = _run(tmp_path / "b", 1)
    assert rows_a == rows_b and len(rows_a) == 4
    for p in ckpt_a["params"]:
        for k in ckpt_a["params"][p]:
            assert torch.equal(ckpt_a["params"][p][k], ckpt_b["params"][p][k]), (p, k)
    assert torch.equal(ckpt_a["rng"]["data"], ckpt_b["rng"]["data"])
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["provenance"]["torch_threads"] == 1  # the setting the contract depends on is recorded
