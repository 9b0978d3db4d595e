"""Sweeps in case files: the grid, how a setting changes a run, validation, and the
setting as a dimension of compare's directories, table, claims and figures."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from arena.comparisons.cases import load_case
from arena.cli.main import main
from arena.comparisons.compare import compare, load_runs, verify
from arena.runs.config import RunConfig
from arena.comparisons.sweep import parse_label, setting_sort_key
from diffgames.errors import ConfigError

CASE = '''
name = "tiny-sweep"
[game]
name = "rps"
[run]
steps = 20
eval_every = 10
seeds = [0, 1]
[sweep]
{sweep}
[[solvers]]
label = "alternating"
name = "alternating"
optimizers = {{ name = "sgd", lr = 0.1 }}
[[solvers]]
label = "unrolled"
name = "unrolled"
[[solvers]]
label = "cgd"
name = "cgd"
{claims}
'''

SWEEP = '''"optimizer.lr" = [0.05, 0.2]
"solver.unroll_steps" = [1, 3]'''


def write_case(tmp_path: Path, sweep: str = SWEEP, claims: str = "") -> Path:
    path = tmp_path / "case.toml"
    path.write_text(CASE.format(sweep=sweep, claims=claims))
    return path


def test_grid_is_the_product_with_the_last_key_fastest(tmp_path):
    case = load_case(write_case(tmp_path))
    labels = [s.label for s in case.settings()]
    assert labels == ["lr=0.05,unroll_steps=1", "lr=0.05,unroll_steps=3", "lr=0.2,unroll_steps=1",
                      "lr=0.2,unroll_steps=3"]
    assert parse_label(labels[1]) == {"lr": "0.05", "unroll_steps": "3"}


def test_a_setting_changes_options_only_where_they_apply(tmp_path):
    case = load_case(write_case(tmp_path))
    setting = case.setting("lr=0.2,unroll_steps=3")
    unrolled = case.run_config("unrolled", 0, tmp_path / "u", setting=setting)
    assert unrolled.solver_options["unroll_steps"] == 3
    assert unrolled.optimizers == {"row": {"name": "sgd", "lr": 0.2}, "col": {"name": "sgd", "lr": 0.2}}
    assert unrolled.setting == "lr=0.2,unroll_steps=3"
    alternating = case.run_config("alternating", 0, tmp_path / "a", setting=setting)
    assert "unroll_steps" not in alternating.solver_options  # alternating has no such option
    assert alternating.optimizers == {"row": {"name": "sgd", "lr": 0.2}, "col": {"name": "sgd", "lr": 0.2}}
    cgd = case.run_config("cgd", 0, tmp_path / "c", setting=setting)
    assert cgd.optimizers is None and "lr" not in cgd.solver_options  # its own step size: untouched


def test_one_players_hyperparameter_after_every_players(tmp_path):
    sweep = '"optimizer.lr" = [0.05]\n"optimizer.col.lr" = [0.3, 0.4]'
    case = load_case(write_case(tmp_path, sweep))
    cfg = case.run_config("alternating", 0, tmp_path / "a", setting=case.settings()[1])
    assert cfg.optimizers == {"row": {"name": "sgd", "lr": 0.05}, "col": {"name": "sgd", "lr": 0.4}}
    assert case.settings()[1].label == "lr=0.05,lr.col=0.4"


def test_a_case_without_sweep_writes_no_setting(tmp_path):
    path = tmp_path / "plain.toml"
    path.write_text(CASE.replace("[sweep]\n{sweep}\n", "").format(claims=""))
    case = load_case(path)
    assert case.settings() == []
    cfg = case.run_config("unrolled", 0, tmp_path / "run")
    assert "setting" not in cfg.to_dict()


@pytest.mark.parametrize("sweep, message", [
    ('"gme.hidden" = [1]', 'a sweep key is "game.<option>"'),
    ('"game.colour" = [1, 2]', "unknown option 'colour'"),
    ('"solver.unroll_steps" = []', "must be a non-empty list"),
    ('"solver.unroll_steps" = 3', "must be a non-empty list"),
    ('"solver.unroll_steps" = [1, 1]', "lists a value twice"),
    ('"solver.unroll_steps" = ["many"]', "unroll_steps"),
    ('"solver.damping" = [0.1]', "no solver of the case has an option 'damping'"),
    ('"optimizer.goalie.lr" = [0.1]', "unknown player 'goalie'"),
    ('"optimizer.colour" = [0.9]', "unknown option 'colour'"),
    ('"optimizer.a.b.c" = [0.9]', "optimizer.<player>.<hyperparameter>"),
])
def test_sweep_mistakes_are_one_line_naming_the_key(tmp_path, sweep, message):
    with pytest.raises(ConfigError, match="sweep") as info:
        load_case(write_case(tmp_path, sweep))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_claim_fields_are_checked(tmp_path):
    bad_than = '[[claims]]\nsolver = "unrolled"\nmetric = "nash_conv"\nop = "<"\nvalue = 1\nthan = "nobody"'
    with pytest.raises(ConfigError, match="than names an unknown solver label 'nobody'"):
        load_case(write_case(tmp_path, claims=bad_than))
    bad_share = '[[claims]]\nsolver = "unrolled"\nmetric = "nash_conv"\nop = "<"\nvalue = 1\nsettings = 1.5'
    with pytest.raises(ConfigError, match=r"settings .* must be in \(0, 1\]"):
        load_case(write_case(tmp_path, claims=bad_share))


CLAIMS = '''
[[claims]]
solver = "unrolled"
metric = "nash_conv"
op = "<"
value = {threshold}
settings = 0.5
[[claims]]
solver = "unrolled"
than = "alternating"
metric = "nash_conv"
op = "<"
value = {threshold}
'''


def test_compare_runs_settings_solvers_seeds_and_verifies_per_setting(tmp_path, capsys):
    case = load_case(write_case(tmp_path))
    results = compare(case, tmp_path / "out", labels=["alternating", "unrolled"], quiet=True, threads=1)
    assert len(results) == 4 * 2 * 2
    for r in results:
        assert r.run_dir == tmp_path / "out" / r.setting / r.label / f"seed{r.seed}"
        assert RunConfig.load(r.run_dir / "config.toml").setting == r.setting
    loaded = load_runs(tmp_path / "out")
    assert sorted((r.setting, r.label, r.seed) for r in loaded) == sorted((r.setting, r.label, r.seed) for r in results)

    # a threshold between the runs' values: the claim then holds in some settings only
    finals = {(r.setting, r.label): r.rows[-1]["nash_conv"] for r in results}
    unrolled = sorted(v for (s, l), v in finals.items() if l == "unrolled")
    threshold = (unrolled[1] + unrolled[2]) / 2  # two of four settings below it
    case = load_case(write_case(tmp_path, claims=CLAIMS.format(threshold=threshold)))
    ok, table = verify(case, results)
    assert "2/4 settings" in table
    below = sum(v < threshold for (s, l), v in finals.items() if l == "alternating")
    assert ("holds" in table.splitlines()[3]) == (below < 2)  # the `than` row compares the two shares
    assert "settings holding" in table.splitlines()[0]


def test_cli_compare_table_show_and_heat_map(tmp_path, capsys):
    path = write_case(tmp_path, claims=CLAIMS.format(threshold=0.7))
    out = tmp_path / "out"
    assert main(["compare", str(path), "--solvers", "alternating,unrolled", "--threads", "1", "--quiet",
                 "--out", str(out)]) == 0
    with open(out / "comparison.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 8 and rows[0]["setting"] and {r["solver"] for r in rows} == {"alternating", "unrolled"}
    assert "| setting | solver | runs |" in (out / "comparison.md").read_text()
    assert (out / "plots" / "sweep-nash_conv-lt0.7.png").stat().st_size > 1000
    capsys.readouterr()

    assert main(["plot", str(out), "--sweep", "distance_to_nash<0.5"]) == 0
    assert (out / "plots" / "sweep-distance_to_nash-lt0.5.png").is_file()
    assert main(["plot", str(out), "--sweep", "no_such_metric"]) == 2
    assert "log no metric 'no_such_metric'" in capsys.readouterr().err

    # the same command again keeps every finished run
    assert main(["compare", str(path), "--solvers", "alternating,unrolled", "--threads", "1", "--out", str(out)]) == 0
    assert capsys.readouterr().out.count("already done, kept") == 16

    assert main(["compare", str(path), "--solvers", "unrolled", "--settings", "lr=0.2,unroll_steps=3", "--quiet",
                 "--threads", "1", "--out", str(tmp_path / "one")]) == 0
    assert [r.setting for r in load_runs(tmp_path / "one")] == ["lr=0.2,unroll_steps=3"] * 2
    capsys.readouterr()
    assert main(["compare", str(path), "--settings", "lr=9", "--out", str(tmp_path / "none")]) == 2
    assert "no setting 'lr=9'" in capsys.readouterr().err

    assert main(["show", str(path)]) == 0
    shown = capsys.readouterr().out
    assert "sweep: 2 × 2 = 4 settings; runs: 4 settings × 3 solver(s) × 2 seed(s) = 24" in shown


def test_setting_sort_key_orders_numbers_numerically():
    labels = ["lr=0.0001", "lr=3e-05", "lr=0.001"]
    assert sorted(labels, key=setting_sort_key) == ["lr=3e-05", "lr=0.0001", "lr=0.001"]


def test_the_bundled_sensitivity_cases_span_their_grids():
    from arena.comparisons.cases import find_case

    notebook = load_case(find_case("metz2016-mog-sensitivity-notebook"))
    assert len(notebook.settings()) == 24 and len(notebook.seeds) >= 2
    assert {s.label for s in notebook.solvers} == {"unrolled-k0", "unrolled-k5"}
    paper = load_case(find_case("metz2016-mog-sensitivity"))
    assert len(paper.settings()) >= 12 and len(paper.seeds) >= 2 and paper.run["steps"] == 30000
    assert {s.label for s in paper.solvers} == {"unrolled-k0", "unrolled-k10"}
    assert {c.than for c in paper.claims} - {None, ""} == {"unrolled-k0"}


def test_a_metric_that_cannot_be_computed_and_a_claim_with_no_runs_say_so(tmp_path):
    from arena.comparisons.compare import RunResult, aggregate

    def result(seed, kl):
        return RunResult("k0", seed, tmp_path, {"status": "done"}, [{"step": 10, "class_kl": kl, "digits": 1.0}])

    table = aggregate([result(0, float("nan")), result(1, 0.5)], tmp_path / "a", ["class_kl", "digits"])
    assert "(1/2 not computable)" in table
    table = aggregate([result(0, float("nan"))], tmp_path / "b", ["class_kl"])
    assert "| not computable |" in table
    claims = '[[claims]]\nsolver = "cgd"\nmetric = "nash_conv"\nop = "<"\nvalue = 1'
    path = tmp_path / "plain.toml"
    path.write_text(CASE.replace("[sweep]\n{sweep}\n", "").format(claims=claims))
    ok, text = verify(load_case(path), [])
    assert not ok and "| not run |" in text and "FAILS" not in text


def test_verify_says_which_claims_fail_and_which_were_not_run(tmp_path, capsys):
    claims = ('[[claims]]\nsolver = "alternating"\nmetric = "nash_conv"\nop = "<"\nvalue = -1\n'
              '[[claims]]\nsolver = "cgd"\nmetric = "nash_conv"\nop = "<"\nvalue = 1')
    path = tmp_path / "plain.toml"
    path.write_text(CASE.replace("[sweep]\n{sweep}\n", "").format(claims=claims))
    out = tmp_path / "runs"
    assert main(["compare", str(path), "--solvers", "alternating", "--seeds", "0", "--quiet", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["verify", str(out)]) == 1
    assert capsys.readouterr().out.strip().endswith("1 claim(s) FAIL, 1 claim(s) not run (no runs of their solver)")
