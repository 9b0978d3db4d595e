"""Reading a comparison at an amount of work or training time instead of a step:
``diffgames table --at-work/--at-time``, ``plot --x``, claims ``at_work``/``at_time``.

The runs here are fake folders whose rows carry known ``work`` and ``train_time``: solver
``cheap`` costs 2 loss-gradient evaluations a step and 0.01 s of training, ``dear`` 6 and
0.05 s; both evaluate every 10 steps, ``cheap`` for 100 steps, ``dear`` for 60. Each row's
``nash_conv`` is ``step / 1000`` (+ ``seed / 10000``), so the row read is visible in the value.
"""
from __future__ import annotations

import csv
import json
import textwrap
from pathlib import Path

import pytest

from arena.cli.main import main
from arena.comparisons.at_compute import NotRecorded, at_time, at_work, parse_time, parse_work, read_at
from arena.comparisons.cases import load_case
from arena.runs.config import RunConfig
from diffgames.errors import ConfigError

COST = {"cheap": (2, 0.01, "optimistic", 100), "dear": (6, 0.05, "unrolled", 60)}  # work/step, s/step, solver, steps

CASE = """
name = "costs"
[game]
name = "rps"
[run]
steps = 100
eval_every = 10
seeds = [0, 1]
[[solvers]]
label = "cheap"
name = "optimistic"
[[solvers]]
label = "dear"
name = "unrolled"
"""


def rows_of(label: str, seed: int = 0, work: bool = True) -> list[dict]:
    per_work, per_time, _, steps = COST[label]
    return [{"step": s, "wall_time": 2 * s * per_time + 0.5, "train_time": s * per_time,
             **({"work": s * per_work, "work_row": s * per_work // 2, "work_col": s * per_work // 2} if work else {}),
             "nash_conv": s / 1000 + seed / 10000} for s in range(0, steps + 1, 10)]


def fake_comparison(root: Path, case_path: Path | None = None, work: bool = True) -> Path:
    """``root/<label>/seed<k>``: config.toml, summary.json (done) and metrics.jsonl."""
    for label, (_, _, solver, steps) in COST.items():
        for seed in (0, 1):
            run = root / label / f"seed{seed}"
            run.mkdir(parents=True)
            RunConfig(game="rps", solver=solver, label=label, seed=seed, steps=steps, eval_every=10, out=str(run),
                      case=str(case_path) if case_path else "").save(run / "config.toml")
            (run / "summary.json").write_text(json.dumps({"status": "done", "final_step": steps}))
            (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows_of(label, seed, work)))
    return root


def write_case(tmp_path: Path, claims: str = "", name: str = "costs.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(CASE) + textwrap.dedent(claims))
    return path


# -- parsing ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, seconds, shown", [("90s", 90.0, "90s"), ("10m", 600.0, "10m"), ("1.5h", 5400.0, "1.5h"),
                                                  ("600", 600.0, "600 s"), (600, 600.0, "600 s"), ("0.3", 0.3, "0.3 s")])
def test_durations_parse(text, seconds, shown):
    assert parse_time(text) == (pytest.approx(seconds), shown)


@pytest.mark.parametrize("text", ["bad", "10x", "", "-5", "m", "1.5.2h", "inf", True])
def test_a_bad_duration_is_one_line(text):
    with pytest.raises(ConfigError) as info:
        parse_time(text)
    assert "90s, 10m, 1.5h" in str(info.value) and "\n" not in str(info.value)


def test_work_amounts_parse():
    assert parse_work("180,000") == parse_work("180_000") == parse_work(180000) == parse_work("1.8e5") == 180000
    for bad in ("lots", -1, 1.5, "12.5", True):
        with pytest.raises(ConfigError, match="whole number of loss-gradient evaluations"):
            parse_work(bad)


# -- the reading rule ------------------------------------------------------------------

def test_the_row_read_is_the_last_at_or_below_the_amount():
    rows = rows_of("dear")  # work 0, 60, ..., 360 at steps 0, 10, ..., 60
    assert read_at(rows, at_work(180)).row["step"] == 30  # exactly at an evaluation
    assert read_at(rows, at_work(239)).row["step"] == 30  # between two: the one before
    assert read_at(rows, at_work(240)).row["step"] == 40
    assert read_at(rows, at_work(0)).row["step"] == 0
    assert read_at(rows, at_time("1.2")).row["step"] == 20  # train_time 0.05 s a step
    assert read_at(rows, at_time("1.2", clock="wall")).row["step"] == 0  # wall_time = 2 train_time + 0.5
    assert read_at(rows, at_time("3.5", clock="wall")).row["step"] == 30


def test_a_run_that_ended_before_the_amount_is_flagged_not_read():
    rows = rows_of("dear")  # ends at work 360, 3 s of training
    reading = read_at(rows, at_work(400))
    assert reading.row is None and reading.ended["step"] == 60
    assert reading.ended_text(at_work(400)) == "ended at work 360 < 400 (step 60)"
    assert read_at(rows, at_work(360)).row["step"] == 60  # its last evaluation is the amount: read
    assert read_at(rows, at_time("1m")).ended_text(at_time("1m")) == "ended at 3 s of training < 1m (step 60)"


def test_rows_without_work_are_not_recorded_naming_the_run():
    with pytest.raises(NotRecorded) as info:
        read_at(rows_of("dear", work=False), at_work(100), "runs/x/dear/seed0")
    text = str(info.value)
    assert text.startswith("runs/x/dear/seed0: no work recorded") and "without --compile" in text and "\n" not in text


# -- diffgames table -------------------------------------------------------------------

def table_csv(path: Path) -> dict[str, dict[str, str]]:
    return {row["solver"]: row for row in csv.DictReader(open(path))}


def test_table_at_work_reads_each_solver_at_equal_work(tmp_path, capsys):
    out = fake_comparison(tmp_path / "cmp")
    assert main(["table", str(out), "--at-work", "180"]) == 0
    text = capsys.readouterr().out
    assert "## Metrics at work 180\n" in text and "its last evaluation at or before it" in text
    assert "| step reached | work reached | ended before |" in text
    rows = table_csv(out / "comparison-work180.csv")
    # cheap makes 2 evaluations a step: step 90; dear makes 6: step 30
    assert float(rows["cheap"]["step_reached"]) == 90 and float(rows["dear"]["step_reached"]) == 30
    assert float(rows["cheap"]["work_reached"]) == float(rows["dear"]["work_reached"]) == 180
    assert float(rows["cheap"]["nash_conv"]) == pytest.approx(0.09 + 0.5 / 10000)  # mean over seeds 0 and 1
    assert float(rows["dear"]["nash_conv"]) == pytest.approx(0.03 + 0.5 / 10000)


def test_table_flags_runs_that_ended_before_the_amount(tmp_path, capsys):
    out = fake_comparison(tmp_path / "cmp")
    assert main(["table", str(out), "--at-work", "300"]) == 0
    text = capsys.readouterr().out
    rows = table_csv(out / "comparison-work300.csv")
    # cheap ends at work 200 < 300: not read at its final row, but left out and listed
    assert rows["cheap"]["ended_before"] == "2" and rows["cheap"]["runs_read"] == "0"
    assert rows["cheap"]["nash_conv"] == "nan"
    assert "- cheap seed0: ended at work 200 < 300 (step 100); left out" in text
    assert "- cheap seed1: ended at work 200 < 300 (step 100); left out" in text
    assert rows["dear"]["ended_before"] == "0" and float(rows["dear"]["step_reached"]) == 50


def test_table_at_time_uses_training_time_or_the_wall_clock(tmp_path, capsys):
    out = fake_comparison(tmp_path / "cmp")
    assert main(["table", str(out), "--at-time", "0.5"]) == 0
    assert "## Metrics at 0.5 s of training" in capsys.readouterr().out
    rows = table_csv(out / "comparison-time0.5s.csv")
    assert float(rows["cheap"]["step_reached"]) == 50 and float(rows["dear"]["step_reached"]) == 10
    assert float(rows["cheap"]["train_time_reached"]) == pytest.approx(0.5)
    assert main(["table", str(out), "--at-time", "1.5", "--clock", "wall"]) == 0
    assert "## Metrics at 1.5 s of wall time" in capsys.readouterr().out
    rows = table_csv(out / "comparison-walltime1.5s.csv")
    assert float(rows["cheap"]["step_reached"]) == 50 and float(rows["dear"]["step_reached"]) == 10


@pytest.mark.parametrize("argv, fragment", [
    (["--at-time", "10x"], "--at-time must be a positive duration such as 90s, 10m, 1.5h"),
    (["--at-work", "many"], "--at-work expects a whole number"),
    (["--clock", "wall"], "--clock goes with --at-time"),
])
def test_table_mistakes_are_one_line(tmp_path, capsys, argv, fragment):
    out = fake_comparison(tmp_path / "cmp")
    assert main(["table", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1, err


def test_step_and_work_are_mutually_exclusive(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["table", str(tmp_path), "--step", "10", "--at-work", "5"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_table_at_work_of_runs_without_work_is_one_line_naming_the_run(tmp_path, capsys):
    out = fake_comparison(tmp_path / "old", work=False)
    assert main(["table", str(out), "--at-work", "100"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cheap/seed0: no work recorded" in err and "without --compile" in err, err
    assert main(["table", str(out), "--at-time", "1"]) == 0  # training time is there


# -- claims at work or time ------------------------------------------------------------

CLAIMS = """
[[claims]]
solver = "dear"
metric = "nash_conv"
op = "<"
value = 0.035
at_work = 180
[[claims]]
solver = "cheap"
metric = "nash_conv"
op = ">="
value = 0.09
at_time = "0.9"
"""


def test_claims_at_work_and_time_hold_and_fail(tmp_path, capsys):
    case_path = write_case(tmp_path, CLAIMS)
    case = load_case(case_path)
    assert str(case.claims[0]) == "dear: nash_conv < 0.035 at work 180 in ≥ 100% of seeds"
    assert str(case.claims[1]) == "cheap: nash_conv >= 0.09 at 0.9 s of training in ≥ 100% of seeds"
    out = fake_comparison(tmp_path / "cmp", case_path)
    assert main(["verify", str(out)]) == 0  # dear at step 30 (0.03 < 0.035), cheap at step 90 (0.09)
    assert "all claims hold" in capsys.readouterr().out
    # at work 240 dear is at step 40 (0.04): fails; at 10m cheap has ended (1 s of training): fails
    failing = write_case(tmp_path, CLAIMS.replace("at_work = 180", "at_work = 240").replace('"0.9"', '"10m"'),
                         name="failing.toml")
    assert main(["verify", str(failing), "--runs", str(out)]) == 1
    text = capsys.readouterr().out
    assert text.count("| FAILS |") == 2 and "(0.04, 0.0401)" in text
    assert "ended at 1 s of training < 10m (step 100)" in text and "at 10m of training" in text


def test_a_description_says_where_the_claim_is_read(tmp_path):
    case = load_case(write_case(tmp_path, CLAIMS.replace("at_work = 180", 'at_work = 180000\ndescription = "K=5 wins"')))
    assert str(case.claims[0]) == "K=5 wins [at work 180,000]"


@pytest.mark.parametrize("edit, fragment", [
    (("at_work = 180", "at_work = 180\nstep = 10"), "give one of step, at_work or at_time, not step and at_work"),
    (('at_time = "0.9"', 'at_time = "0.9"\nat_work = 5'), "not at_work and at_time"),
    (('at_time = "0.9"', 'at_time = "bad"'), "[[claims]] #2: at_time must be a positive duration such as 90s, 10m, 1.5h"),
    (("at_work = 180", "at_work = -3"), "[[claims]] #1: at_work expects a whole number"),
    (("at_work = 180", "at_work = true"), "at_work"),
])
def test_claim_point_mistakes_are_one_line(tmp_path, edit, fragment):
    with pytest.raises(ConfigError) as info:
        load_case(write_case(tmp_path, CLAIMS.replace(*edit)))
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_a_claim_at_work_on_runs_without_work_is_not_recorded(tmp_path, capsys):
    case_path = write_case(tmp_path, CLAIMS)
    out = fake_comparison(tmp_path / "old", case_path, work=False)
    assert main(["verify", str(out)]) == 1
    text = capsys.readouterr().out
    assert "| not recorded |" in text and "dear/seed0: no work recorded" in text and "without --compile" in text
    assert "1 claim(s) not recorded" in text
    assert "| cheap: nash_conv >= 0.09 at 0.9 s of training in ≥ 100% of seeds (0.09, 0.0901) | 2/2 |" in text


def test_comparison_md_states_the_claims_point(tmp_path, capsys):
    case_path = write_case(tmp_path, CLAIMS)
    out = fake_comparison(tmp_path / "cmp", case_path)
    assert main(["table", str(out)]) == 0
    md = (out / "comparison.md").read_text()
    claims = md.split("## Claims of the case", 1)[1]
    assert "dear: nash_conv < 0.035 at work 180 in ≥ 100% of seeds (0.03, 0.0301) | 2/2 | 100% | holds" in claims
    assert "at 0.9 s of training" in claims
    assert main(["table", str(out), "--at-work", "180"]) == 0
    assert "`work reached`: the work (loss-gradient evaluations" in (out / "comparison-work180.md").read_text()


# -- diffgames plot --x ----------------------------------------------------------------

def test_plot_against_work_and_time_labels_the_unit(tmp_path, monkeypatch, capsys):
    import arena.reports.plots as plots

    out = fake_comparison(tmp_path / "cmp")
    labels: dict[str, list[str]] = {}
    real = plots.save_figure

    def record(fig, path, **options):
        labels[Path(path).name] = [ax.get_xlabel() for ax in fig.axes]
        real(fig, path, **options)

    monkeypatch.setattr(plots, "save_figure", record)
    assert main(["plot", str(out), "--x", "work"]) == 0
    assert labels["nash_conv-by-work.png"] == ["loss-gradient evaluations", "wall time (s)"]
    assert (out / "plots" / "nash_conv-by-work.png").stat().st_size > 0
    assert main(["plot", str(out / "dear" / "seed0"), "--x", "time"]) == 0
    assert labels["metrics-by-time.png"][0] == "training time (s)"
    assert main(["plot", str(out)]) == 0
    assert labels["nash_conv.png"][0] == "step"
    capsys.readouterr()


def test_plot_against_work_without_work_is_one_line(tmp_path, capsys):
    out = fake_comparison(tmp_path / "old", work=False)
    assert main(["plot", str(out), "--x", "work"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no work recorded" in err and "without --compile" in err, err


def test_claims_at_a_step_or_the_end_read_as_before(tmp_path, capsys):
    case_path = write_case(tmp_path, """
        [[claims]]
        solver = "dear"
        metric = "nash_conv"
        op = "<"
        value = 0.045
        step = 40
        [[claims]]
        solver = "cheap"
        metric = "nash_conv"
        op = ">="
        value = 0.1
        """)
    out = fake_comparison(tmp_path / "cmp", case_path)
    assert main(["verify", str(out)]) == 0
    text = capsys.readouterr().out
    assert "dear: nash_conv < 0.045 at step 40 in ≥ 100% of seeds (0.04, 0.0401) | 2/2 |" in text
    assert "cheap: nash_conv >= 0.1 at step final in ≥ 100% of seeds (0.1, 0.1001) | 2/2 |" in text


def test_commas_only_separate_thousands():
    from arena.parsing import parse_work as shared

    assert shared is parse_work and parse_work("1,234,567") == 1234567
    for bad in ("1,0", "18,0000", ",180"):
        with pytest.raises(ConfigError, match="whole number of loss-gradient evaluations"):
            parse_work(bad)
