"""``--executor ray``: the same numbers as local runs, retries that continue from the
checkpoint, failures reported while the others complete, and results returned to the
driver when the workers cannot see the output directory."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from arena.comparisons.cases import load_case
from arena.cli.main import main
from arena.comparisons.compare import aggregate, compare
from arena.runs.config import RunConfig
from arena.comparisons.ray_executor import _store, _train_task, require_ray
from diffgames.errors import ConfigError

ray = pytest.importorskip("ray", reason="the Ray executor's tests need the optional extra: pip install 'diffgames[ray]'")

GAMES = Path(__file__).with_name("ray_games.py")


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance for the module (the executor leaves an instance it did not start)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


def _case(tmp_path: Path, options: str, steps: int = 60) -> Path:
    path = tmp_path / "faulty.toml"
    path.write_text(f'''
name = "faulty"
[game]
name = "{GAMES}:FaultyRPS"
options = {{ {options} }}
[run]
steps = {steps}
eval_every = 10
seeds = [0]
[[solvers]]
label = "optimistic"
name = "optimistic"
optimizers = {{ name = "sgd", lr = 0.1 }}
''')
    return path


def _metrics(run_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if "time" not in k} for r in rows]


SWEEP_CASE = """
name = "tiny-sweep"
[game]
name = "rps"
[run]
steps = 30
eval_every = 10
seeds = [0, 1]
[sweep]
"optimizer.lr" = [0.05, 0.2]
[[solvers]]
label = "alternating"
name = "alternating"
[[solvers]]
label = "optimistic"
name = "optimistic"
"""


def test_a_sweep_on_ray_equals_the_local_pool_and_is_kept_when_run_again(tmp_path, local_ray, capsys):
    path = tmp_path / "sweep.toml"
    path.write_text(SWEEP_CASE)
    case = load_case(path)
    local = compare(case, tmp_path / "local", quiet=True, threads=1, jobs=2)
    remote = compare(case, tmp_path / "ray", quiet=True, threads=1, executor="ray")
    assert len(remote) == 2 * 2 * 2 and all(r.status == "done" for r in remote)
    for a, b in zip(local, remote):
        assert (a.setting, a.label, a.seed) == (b.setting, b.label, b.seed)
        assert _metrics(a.run_dir) == _metrics(b.run_dir)
    compare(case, tmp_path / "ray", threads=1, executor="ray")
    assert capsys.readouterr().out.count("already done, kept") == 8


def test_a_worker_that_dies_is_retried_and_continues_from_its_checkpoint(tmp_path, local_ray):
    log = tmp_path / "evaluations.log"
    options = f'fault = "die", marker = "{tmp_path / "died"}", at = 3, log = "{log}"'
    case = load_case(_case(tmp_path, options))
    [result] = compare(case, tmp_path / "ray", quiet=True, threads=1, executor="ray")
    assert result.status == "done" and (tmp_path / "died").exists()
    per_process: dict[str, int] = {}
    for line in log.read_text().split("\n"):
        if line:
            pid = line.split()[0]
            per_process[pid] = per_process.get(pid, 0) + 1
    # the first process evaluated steps 0 and 10 and died at its third evaluation (step 20);
    # the retry continued from the step-10 checkpoint: steps 20..60, five evaluations, not seven
    assert list(per_process.values()) == [3, 5]
    [uninterrupted] = compare(load_case(_case(tmp_path, 'fault = "none"')), tmp_path / "plain", quiet=True, threads=1)
    assert _metrics(result.run_dir) == _metrics(uninterrupted.run_dir)
    assert [r["step"] for r in _metrics(result.run_dir)] == list(range(0, 61, 10))


def test_a_run_that_keeps_failing_is_reported_and_the_others_complete(tmp_path, local_ray):
    good = load_case(_case(tmp_path, 'fault = "none"'))
    bad = load_case(_case(tmp_path / "bad" if (tmp_path / "bad").mkdir() is None else tmp_path, 'fault = "raise"'))
    ok = compare(good, tmp_path / "runs" / "good", quiet=True, threads=1, executor="ray")
    failed = compare(bad, tmp_path / "runs" / "bad", quiet=True, threads=1, executor="ray")
    assert ok[0].status == "done"
    assert failed[0].status == "failed" and "this run fails on purpose" in failed[0].summary["error"]
    table = aggregate(ok + failed, tmp_path / "table")
    assert "| failed |" in table and "this run fails on purpose" in table


def test_run_seeds_on_ray(tmp_path, capsys, local_ray):
    out = tmp_path / "seeds"
    assert main(["run", "--game", "rps", "--solver", "optimistic", "--steps", "20", "--eval-every", "10",
                 "--seeds", "0-1", "--executor", "ray", "--quiet", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["seed0", "seed1"]
    assert "2 seeds in" in capsys.readouterr().out


def test_without_a_shared_folder_the_driver_writes_what_the_task_returns(tmp_path):
    """The task trains in a folder of its own and returns the files (no Ray needed)."""
    cfg = RunConfig(game="rps", solver="optimistic", out=str(tmp_path / "driver" / "seed0"), steps=20, eval_every=10,
                    optimizers={"name": "sgd", "lr": 0.1})
    result = _train_task(cfg.to_dict(), 1, str(tmp_path / "no-probe-here"), "token", None)
    assert result["files"] and not (tmp_path / "driver").exists()
    _store(cfg, result)
    saved = RunConfig.load(tmp_path / "driver" / "seed0" / "config.toml")
    assert saved.out == cfg.out and saved.steps == 20
    # continuing: the driver sends the run's files back; the task carries on from them
    longer = RunConfig(**{**cfg.to_dict(), "steps": 40})
    from arena.comparisons.ray_executor import _pack

    again = _train_task(longer.to_dict(), 1, str(tmp_path / "no-probe-here"), "token", _pack(Path(cfg.out)))
    _store(longer, again)
    rows = _metrics(Path(cfg.out))
    assert [r["step"] for r in rows] == [0, 10, 20, 30, 40]
    assert again["summary"]["status"] == "done"


def test_asking_for_ray_without_it_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ConfigError, match=r"pip install 'diffgames\[ray\]'"):
        require_ray()


def test_an_address_with_no_cluster_is_one_line(tmp_path, capsys):
    assert main(["compare", "quickstart", "--executor", "ray", "--address", "127.0.0.1:1", "--out", str(tmp_path)]) == 2
    assert "no Ray cluster answers at '127.0.0.1:1'" in capsys.readouterr().err


def test_executor_options_are_checked(tmp_path, capsys):
    assert main(["compare", "quickstart", "--address", "ray://nowhere:1", "--out", str(tmp_path)]) == 2
    assert "--address and --gpus-per-run go with --executor ray" in capsys.readouterr().err
    assert main(["compare", "quickstart", "--executor", "ray", "--vectorize", "--out", str(tmp_path)]) == 2
    assert "does not combine with --executor ray" in capsys.readouterr().err
