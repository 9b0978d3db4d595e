"""benchmarks/cost_vs_k.py measures what it says: the work of the alternating unrolled
schedule is (K + 2) / 2 loss-gradient evaluations per step, the memory saved for backward
grows with K, its straight-line fit recovers known lines, and the page and figure it writes
carry their provenance (App. A MOG, K in {0, 2}, a few steps)."""
from __future__ import annotations

import re

import pytest
import torch

import games
from benchmarks.cost_vs_k import Trainer, fit_line, main, measure, pretrained


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def small():
    """K = 0 and K = 2, 4 steps into training, 2 warm-up steps, 1 round of 4 steps."""
    return measure([0, 2], repeats=1, block=4, train_steps=4, warmup=2, rounds_warmup=1)


def test_work_per_step_is_k_plus_2_over_2(small):
    for K in (0, 2):
        r = small.result(K)
        assert r.work_steps == 8  # 1 warm-up round + 1 round, 4 steps each: whole pairs
        assert r.work_per_step == (K + 2) / 2
        # per pair: the discriminator's own step and its K unrolled steps, the generator's one step
        assert r.work == {"discriminator": (K + 1) * 4, "generator": 4}


def test_work_counts_each_step_of_a_pair():
    game = games.make("mog", layout="ring")
    params, state, gen = pretrained(game, 0, 2, torch.device("cpu"))
    trainer = Trainer(game, 3, params, state, gen, torch.device("cpu"))
    assert not trainer.generators_turn()
    trainer.step()  # the discriminator's step
    assert trainer.counter.counts == {"generator": 0, "discriminator": 1}
    trainer.step()  # the generator's, through 3 unrolled discriminator steps
    assert trainer.counter.counts == {"generator": 1, "discriminator": 4}
    assert trainer.counter.total / 2 == (3 + 2) / 2


def test_saved_memory_grows_with_k(small):
    k0, k2 = small.result(0), small.result(2)
    assert k2.saved_mib > k0.saved_mib > 0
    # the unroll lives in the generator's step; the discriminator's step does not depend on K
    assert k2.saved[1] > k2.saved[0]
    assert k2.saved[0] == k0.saved[0]


def test_time_is_measured_for_every_k(small):
    for K in (0, 2):
        r = small.result(K)
        assert len(r.samples.wall) == len(r.samples.cpu) == 1
        assert r.ms("cpu") > 0 and r.ms("wall") > 0
    assert set(small.fits) == {"ms_cpu", "ms_wall", "work", "saved"}
    assert small.fits["work"].slope == pytest.approx(0.5)
    assert small.fits["work"].intercept == pytest.approx(1.0)


def test_a_second_time_line_leaves_k0_out():
    m = measure([0, 1, 2, 3], repeats=1, block=2, train_steps=2, warmup=0, rounds_warmup=0)
    fit = m.fits["ms_cpu_unrolled"]
    assert fit.xs == [1.0, 2.0, 3.0]
    assert fit.slope > 0
    assert [r.work_per_step for r in m.results] == [1.0, 1.5, 2.0, 2.5]


def test_fit_recovers_a_known_line():
    ks = [0, 1, 2, 5, 10, 20]
    fit = fit_line(ks, [3.1 * k + 6.4 for k in ks])
    assert fit.slope == pytest.approx(3.1, rel=1e-12)
    assert fit.intercept == pytest.approx(6.4, rel=1e-12)
    assert fit.r2 == pytest.approx(1.0, abs=1e-12)
    assert fit.max_residual < 1e-12 and fit.linear
    # a known least-squares answer: (0, 1), (1, 3), (2, 2) → y = 0.5 x + 1.5, R² = 0.25
    fit = fit_line([0, 1, 2], [1, 3, 2])
    assert (fit.slope, fit.intercept, fit.r2) == pytest.approx((0.5, 1.5, 0.25))
    assert fit.residuals == pytest.approx([-0.5, 1 / 3, -0.25])
    assert fit.worst_x == 0 and not fit.linear


def test_fit_calls_a_quadratic_not_linear():
    ks = [0, 1, 2, 5, 10, 20]
    fit = fit_line(ks, [1 + k * k for k in ks])
    assert fit.r2 < 0.99 or fit.max_residual > 0.1
    assert not fit.linear


def test_page_and_figure_carry_their_provenance(tmp_path, one_thread):
    out = tmp_path / "results"
    args = ["--ks", "0,2", "--repeats", "1", "--block", "2", "--train-steps", "2", "--warmup", "2",
            "--out", str(out)]
    assert main(args) == 0
    assert torch.get_num_threads() == 1
    page = (out / "cost-vs-k.md").read_text(encoding="utf-8")
    assert f"`python -m benchmarks.cost_vs_k {' '.join(args)}`" in page
    assert re.search(r"\*\*Commit\*\*: [0-9a-f]{7,} \((clean tree|with uncommitted changes in the tree)\)", page)
    assert re.search(r"\*\*Date\*\*: \d{4}-\d\d-\d\d \d\d:\d\d UTC", page)
    assert "logical CPUs" in page and f"torch {torch.__version__}" in page
    assert "**1 torch thread(s)**" in page
    assert re.search(r"1-minute load average \d+\.\d\d at the start", page)
    rows = [line for line in page.splitlines() if re.match(r"\| \d+ \|", line)]
    assert [row.split("|")[1].strip() for row in rows] == ["0", "2"]
    assert [row.split("|")[5].strip() for row in rows] == ["1.00", "2.00"]  # work/step
    assert "![time, work and memory per step against K](figures/cost-vs-k.png)" in page
    figure = out / "figures" / "cost-vs-k.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and figure.stat().st_size > 20_000


def test_bad_arguments_end_in_one_message(tmp_path, one_thread, capsys):
    with pytest.raises(SystemExit) as e:
        main(["--ks", "0,2", "--block", "3", "--out", str(tmp_path)])
    assert e.value.code == 2
    assert "--block must be an even number" in capsys.readouterr().err
