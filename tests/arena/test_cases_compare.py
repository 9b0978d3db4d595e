"""Case validation (one clear error per kind of mistake), compare's table and plots, verify."""
from __future__ import annotations

import csv
import textwrap

import pytest

from arena.comparisons.cases import bundled_cases, load_case
from arena.cli.main import main
from diffgames.errors import ConfigError

TINY = """
name = "tiny"
description = "two solvers on rps"
[reference]
paper = "test"
[game]
name = "rps"
[run]
steps = 40
eval_every = 20
seeds = [0, 1, 2]
[[solvers]]
label = "ogda"
name = "optimistic"
optimizers = { name = "sgd", lr = 0.2 }
[[solvers]]
label = "sim"
name = "simultaneous"
options = {}
[solvers.optimizers.row]
name = "sgd"
lr = 0.3
[[claims]]
solver = "ogda"
metric = "nash_conv"
op = "<"
value = 10.0
[[claims]]
solver = "sim"
metric = "nash_conv"
op = "<"
value = 1e-9
share = 0.5
"""


def write(tmp_path, text, name="tiny.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_tiny_case_loads(tmp_path):
    case = load_case(write(tmp_path, TINY))
    assert case.labels() == ["ogda", "sim"] and case.seeds == [0, 1, 2]
    config = case.run_config("sim", 2, tmp_path / "x")
    assert config.optimizers == {"row": {"name": "sgd", "lr": 0.3}} and config.seed == 2 and config.steps == 40


@pytest.mark.parametrize(
    "old, new, fragment",
    [
        ('[run]\nsteps = 40', '[run]\nstep = 40', "unknown key 'step'. Did you mean 'steps'?"),
        ('description = "two solvers on rps"', 'descripton = "x"', "Did you mean 'description'?"),
        ("steps = 40", 'steps = "forty"', "[run].steps must be int"),
        ("steps = 40", "steps = -5", "out of range"),
        ("seeds = [0, 1, 2]", "seeds = []", "seeds must be a non-empty list"),
        ('name = "rps"', 'name = "rsp"', "unknown game 'rsp'. Did you mean 'rps'?"),
        ('label = "ogda"\nname = "optimistic"', 'label = "ogda"\nname = "optimist"', "Did you mean 'optimistic'?"),
        ("options = {}", "options = { gamma = 1.0 }", "unknown option 'gamma'"),
        ('optimizers = { name = "sgd", lr = 0.2 }', 'optimizers = { name = "sgd", lr = 0.0 }', "lr must be a positive"),
        ('metric = "nash_conv"\nop = "<"\nvalue = 10.0', 'metric = "nash_conf"\nop = "<"\nvalue = 10.0', "Did you mean 'nash_conv'?"),
        ('op = "<"\nvalue = 10.0', 'op = "=<"\nvalue = 10.0', "op must be one of"),
        ("share = 0.5", "share = 1.5", "share must be in (0, 1]"),
        ('solver = "ogda"', 'solver = "ogd"', "unknown solver label 'ogd'"),
        ('label = "sim"', 'label = "ogda"', "used twice"),
        ("[solvers.optimizers.row]", "[solvers.optimizers.rows]", "unknown players ['rows']"),
        ('name = "tiny"', 'name = "tiny"\n[game.options]\nrow_init_logits = "x"', "row_init_logits"),
    ],
)
def test_case_mistakes_name_file_and_key(tmp_path, old, new, fragment):
    assert old in TINY, old
    path = write(tmp_path, TINY.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_case(path)
    message = str(info.value)
    assert fragment in message and str(path) in message


def test_invalid_toml_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_case(write(tmp_path, "name = [unclosed"))


def test_every_bundled_case_is_valid():
    paths = bundled_cases()
    assert any(p.stem == "quickstart" for p in paths)
    for path in paths:
        load_case(path)


def test_compare_writes_table_with_cis_and_plots_and_verify(tmp_path, capsys):
    case = write(tmp_path, TINY)
    out = tmp_path / "cmp"
    assert main(["compare", str(case), "--out", str(out), "--quiet"]) == 0
    table = (out / "comparison.md").read_text()
    assert "| ogda | 3 | 0 |" in table and "| sim | 3 | 0 |" in table and "[" in table
    rows = list(csv.DictReader(open(out / "comparison.csv")))
    assert [r["solver"] for r in rows] == ["ogda", "sim"]
    low, mean, high = (float(rows[0][k]) for k in ("nash_conv_ci_low", "nash_conv", "nash_conv_ci_high"))
    assert low <= mean <= high
    assert (out / "plots" / "nash_conv.png").stat().st_size > 0
    for seed in (0, 1, 2):
        assert (out / "ogda" / f"seed{seed}" / "summary.json").exists()
    capsys.readouterr()
    # the second claim (sim reaches nash_conv < 1e-9) fails; dropping it makes verify pass
    assert main(["verify", str(out)]) == 1
    assert main(["verify", str(case), "--runs", str(out)]) == 1
    assert "FAILS" in capsys.readouterr().out
    passing = write(tmp_path, TINY.split("[[claims]]\nsolver = \"sim\"")[0], name="tiny.toml")
    assert main(["verify", str(passing), "--runs", str(out)]) == 0
    assert "all claims hold" in capsys.readouterr().out


def test_compare_skips_finished_runs_and_reports_divergence(tmp_path, capsys):
    import tests_arena_helpers  # noqa: F401  (registers test-nan-at-step)

    case = write(tmp_path, """
        name = "nan"
        [game]
        name = "test-nan-at-step"
        options = { k = 3 }
        [run]
        steps = 10
        eval_every = 2
        seeds = [0, 1]
        [[solvers]]
        label = "sim"
        name = "simultaneous"
        """, name="nan.toml")
    out = tmp_path / "nan-runs"
    assert main(["compare", str(case), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.count("DIVERGED at step 4") == 2
    assert "| sim | 2 | 2 |" in (out / "comparison.md").read_text()


def test_compare_resumes_nothing_twice(tmp_path, capsys):
    case = write(tmp_path, TINY)
    out = tmp_path / "again"
    main(["compare", str(case), "--out", str(out), "--solvers", "ogda", "--seeds", "0", "--quiet"])
    capsys.readouterr()
    main(["compare", str(case), "--out", str(out), "--solvers", "ogda", "--seeds", "0"])
    assert "already done, kept" in capsys.readouterr().out


def test_compare_in_parallel_processes_matches_serial(tmp_path):
    case = write(tmp_path, TINY)
    main(["compare", str(case), "--out", str(tmp_path / "serial"), "--solvers", "sim", "--seeds", "0-1", "--quiet"])
    main(["compare", str(case), "--out", str(tmp_path / "parallel"), "--solvers", "sim", "--seeds", "0-1", "--jobs", "2", "--quiet"])
    for seed in (0, 1):
        a = (tmp_path / "serial" / "sim" / f"seed{seed}" / "metrics.jsonl").read_text().splitlines()
        b = (tmp_path / "parallel" / "sim" / f"seed{seed}" / "metrics.jsonl").read_text().splitlines()
        strip = lambda lines: [l.split('"loss_row"')[1] for l in lines]  # drop the timing fields
        assert strip(a) == strip(b)


def test_table_at_a_step_uses_that_evaluation(tmp_path, capsys):
    case = write(tmp_path, TINY)
    out = tmp_path / "tbl"
    main(["compare", str(case), "--out", str(out), "--solvers", "ogda", "--seeds", "0", "--quiet"])
    capsys.readouterr()
    assert main(["table", str(out), "--step", "20"]) == 0
    rows = list(csv.DictReader(open(out / "comparison-step20.csv")))
    import json

    at20 = [json.loads(l) for l in (out / "ogda" / "seed0" / "metrics.jsonl").read_text().splitlines()][1]
    assert at20["step"] == 20 and float(rows[0]["nash_conv"]) == pytest.approx(at20["nash_conv"])
    assert main(["table", str(tmp_path / "nothing")]) == 2
    capsys.readouterr()
    assert main(["table", str(out), "--step", "7"]) == 2  # no evaluation there: say where they are
    err = capsys.readouterr().err
    assert f"no run in {out} was evaluated at step 7; evaluations are at steps 0, 20, 40" in err, err


def test_a_than_claim_outside_a_sweep_shows_each_seed_of_both_solvers(tmp_path):
    from arena.comparisons.compare import RunResult, verify

    text = TINY.split("[[claims]]")[0] + textwrap.dedent('''
        [[claims]]
        solver = "ogda"
        than = "sim"
        metric = "nash_conv"
        op = "<"
        value = 0.5
        ''')
    case = load_case(write(tmp_path, text))
    finals = {"ogda": [0.1, 0.7, 0.2], "sim": [0.9, 0.4, 0.8]}
    results = [RunResult(label, seed, tmp_path, {"status": "done"}, [{"step": 40, "nash_conv": value}])
               for label, values in finals.items() for seed, value in enumerate(values)]
    ok, table = verify(case, results)
    assert ok and "seeds holding" in table
    assert "ogda: 2/3 seeds (0.1, 0.7, 0.2); sim: 1/3 seeds (0.9, 0.4, 0.8)" in table
