"""Runs of the unrolled solver's alternating schedule (the paper's App. A): a run extended
from its checkpoint equals an uninterrupted run, with a fresh batch per unrolled step (the
solver draws them from the run's data stream), and the history metrics are logged."""
from __future__ import annotations

import json

import pytest

from arena.runs.config import RunConfig
from arena.runs.loop import resume, train

TINY = {"latent_size": 4, "hidden": 8, "batch_size": 16, "eval_samples": 100}


def _config(out, steps, data):
    return RunConfig(game="mog", game_options=TINY, solver="unrolled",
                     solver_options={"unroll_steps": 2, "schedule": "alternating", "unroll_data": data},
                     steps=steps, eval_every=5, checkpoint_every=5, seed=3, out=str(out))


def _metrics(out):
    return [{k: v for k, v in json.loads(line).items() if "time" not in k}
            for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("data", ["reuse", "fresh"])
def test_extended_run_equals_an_uninterrupted_one(tmp_path, data):
    train(_config(tmp_path / "short", 15, data), quiet=True)
    resume(tmp_path / "short", quiet=True, steps=30)
    train(_config(tmp_path / "straight", 30, data), quiet=True)
    assert _metrics(tmp_path / "short") == _metrics(tmp_path / "straight")
    rows = _metrics(tmp_path / "straight")
    assert rows[-1]["step"] == 30
    assert {"modes_visited", "peak_modes_covered_1pct", "top_mode", "mode_share_7"} <= set(rows[-1])
    assert rows[-1]["peak_modes_covered_1pct"] == max(r["modes_covered_1pct"] for r in rows)


def test_fresh_and_reused_runs_differ(tmp_path):
    """The fresh option draws more data: the runs part ways after the first generator step."""
    for data in ("reuse", "fresh"):
        train(_config(tmp_path / data, 10, data), quiet=True)
    assert _metrics(tmp_path / "reuse")[0] == _metrics(tmp_path / "fresh")[0]  # step 0: the same start
    assert _metrics(tmp_path / "reuse")[-1] != _metrics(tmp_path / "fresh")[-1]
