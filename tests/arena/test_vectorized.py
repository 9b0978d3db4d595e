"""Many seeds at once (arena.runs.vectorized): each seed's run directory must match running
that seed alone with arena.runs.loop.train, to float tolerance."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

import games
import games.matrix
import solvers
from arena.runs.checkpoint import load_latest_checkpoint
from arena.runs.config import RunConfig
from arena.runs.loop import Interrupted, resume, train
from arena.runs.vectorized import StackedGame, resume_vectorized, stack_trees, train_vectorized, unstack_tree
from diffgames.errors import ConfigError, DivergenceError

TIMES = {"step", "wall_time", "train_time"}
TINY_MOG = {"latent_size": 4, "hidden": 8, "batch_size": 32, "eval_samples": 200}

if "test-rps-random-init" not in games.available():  # rps from a random, seed-dependent start
    games.register("test-rps-random-init", "rps with random initial logits")(
        lambda: games.matrix.ZeroSumMatrixGame(games.matrix.RPS_PAYOFF, None, None))


def _configs(tmp_path: Path, tag: str, seeds, **kw) -> list[RunConfig]:
    return [RunConfig(out=str(tmp_path / tag / f"seed{s}"), seed=s, **kw) for s in seeds]


def _rows(run_dir) -> list[dict]:
    return [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]


def _assert_same_runs(alone: list[RunConfig], vectorized: list[RunConfig], rtol: float) -> None:
    for a, v in zip(alone, vectorized):
        rows_a, rows_v = _rows(a.out), _rows(v.out)
        assert [r["step"] for r in rows_a] == [r["step"] for r in rows_v]
        for ra, rv in zip(rows_a, rows_v):
            assert set(ra) == set(rv)
            for k in set(ra) - TIMES:
                assert rv[k] == pytest.approx(ra[k], rel=rtol, abs=rtol), (a.seed, ra["step"], k)
        ca = load_latest_checkpoint(Path(a.out) / "checkpoints")[1]
        cv = load_latest_checkpoint(Path(v.out) / "checkpoints")[1]
        assert ca["step"] == cv["step"]
        torch.testing.assert_close(cv["params"], ca["params"], rtol=rtol, atol=rtol)
        torch.testing.assert_close(cv["solver_state"], ca["solver_state"], rtol=rtol, atol=rtol)
        assert torch.equal(ca["rng"]["data"], cv["rng"]["data"])  # same data stream, same position
        sa = json.loads((Path(a.out) / "summary.json").read_text())
        sv = json.loads((Path(v.out) / "summary.json").read_text())
        assert sv["status"] == sa["status"] == "done" and sv["final_step"] == sa["final_step"]
        assert sv["seeds_vectorized"] == len(vectorized)
        assert (Path(v.out) / "config.toml").read_text() == (Path(a.out) / "config.toml").read_text().replace(
            "/alone/", "/vectorized/")


@pytest.mark.parametrize("solver, options", [("alternating", {}), ("unrolled", {"unroll_steps": 3})])
def test_tiny_mog_seeds_match_separate_runs(tmp_path, solver, options):
    kw = dict(game="mog", game_options=TINY_MOG, solver=solver, solver_options=options, steps=12,
              eval_every=4, snapshot_steps=[0, 8, 50])
    alone = _configs(tmp_path, "alone", [0, 1, 2], **kw)
    vectorized = _configs(tmp_path, "vectorized", [0, 1, 2], **kw)
    for c in alone:
        train(c, quiet=True)
    summaries = train_vectorized(vectorized, quiet=True)
    assert [s["seed"] for s in summaries] == [0, 1, 2]
    _assert_same_runs(alone, vectorized, rtol=1e-5)
    for c in alone + vectorized:  # the listed steps within the run, and the final step
        assert sorted(p.name for p in (Path(c.out) / "snapshots").iterdir()) == [
            "step-000000000.pt", "step-000000008.pt", "step-000000012.pt"]
    # the seeds really differ, so matching them is not trivial
    finals = [_rows(c.out)[-1]["loss_generator"] for c in vectorized]
    assert len(set(finals)) == 3


@pytest.mark.parametrize("solver, options, optimizers", [
    ("simultaneous", {}, {"name": "sgd", "lr": 0.2}),
    ("optimistic", {}, {"name": "adam", "lr": 0.05}),
    ("unrolled", {"unroll_steps": 4}, {"name": "sgd", "lr": 0.2, "momentum": 0.5}),
    ("lola", {}, {"name": "sgd", "lr": 0.2}),
    ("lookahead", {"inner": "extragradient"}, {"name": "sgd", "lr": 0.2}),
])
@pytest.mark.parametrize("game", ["rps", "test-rps-random-init"])
def test_rps_seeds_match_separate_runs(tmp_path, game, solver, options, optimizers):
    kw = dict(game=game, solver=solver, solver_options=options, optimizers=optimizers, steps=30,
              eval_every=10, dtype="float64")
    alone = _configs(tmp_path, "alone", [3, 4], **kw)
    vectorized = _configs(tmp_path, "vectorized", [3, 4], **kw)
    for c in alone:
        train(c, quiet=True)
    train_vectorized(vectorized, quiet=True)
    _assert_same_runs(alone, vectorized, rtol=1e-12)


def test_stacked_game_losses_are_the_sum_of_each_seeds_loss():
    game = games.make("mog", **TINY_MOG)
    params = [game.init_params(s) for s in range(3)]
    batches = [game.sample(torch.Generator().manual_seed(s), "cpu") for s in range(3)]
    stacked = StackedGame(game, 3)
    per_seed = stacked.per_seed_losses(stack_trees(params), stack_trees(batches))
    for s in range(3):
        alone = game.losses(params[s], batches[s])
        for p in alone:
            torch.testing.assert_close(per_seed[p][s], alone[p])
    total = stacked.losses(stack_trees(params), stack_trees(batches))
    torch.testing.assert_close(total["generator"], per_seed["generator"].sum())
    assert torch.equal(unstack_tree(stack_trees(params), 1)["generator"]["net.0.weight"],
                       params[1]["generator"]["net.0.weight"])


def test_stacked_game_passes_a_generator_only_request_to_the_game():
    # the non-saturating loss, whose generator step needs the fake rows only
    game = games.make("mog", **TINY_MOG, generator_loss="non-saturating")
    params = stack_trees([game.init_params(s) for s in range(3)])
    batches = stack_trees([game.sample(torch.Generator().manual_seed(s), "cpu") for s in range(3)])
    stacked = StackedGame(game, 3, record=True)
    rows = []
    handle = game.players["discriminator"].register_forward_hook(lambda m, a, out: rows.append(a[0].shape[-2]))
    try:
        alone = stacked.losses_of(params, batches, ("generator",))
    finally:
        handle.remove()
    assert rows == [TINY_MOG["batch_size"]]  # the fake rows only (vmap shows one copy's shape)
    torch.testing.assert_close(alone["generator"], stacked.losses(params, batches)["generator"])
    assert set(stacked.recorded[0]) == {"generator"} and stacked.recorded[0]["generator"].shape == (3,)


@pytest.mark.parametrize("second_order, generator_calls", [(True, 1), (False, 2)])
def test_stacked_unrolled_step_reuses_the_generator_pass_and_equals_each_seed(monkeypatch, second_order,
                                                                           generator_calls):
    """Under vmap the unrolled solver's reuse of the leader's forward pass still works
    (keyed by the stacked tensors), and the stacked step is each seed's step (float64)."""
    game = games.make("mog", latent_size=6, hidden=12, batch_size=24)
    solver = solvers.make("unrolled", unroll_steps=4, second_order=second_order,
                          optimizers={"name": "adam", "lr": 0.01})
    params = [game.init_params(s, dtype=torch.float64) for s in range(3)]
    batches = [{k: v.double() for k, v in game.sample(torch.Generator().manual_seed(s), "cpu").items()}
               for s in range(3)]
    stacked = StackedGame(game, 3)
    calls = []
    original = type(game).forward
    monkeypatch.setattr(type(game), "forward", lambda self, p, *a, **k: calls.append(p) or original(self, p, *a, **k))
    P = stack_trees(params)
    out = solver.step(stacked, P, solver.init(stacked, P), stack_trees(batches))[0]
    assert calls.count("generator") == generator_calls  # 6 = K + 2 without the reuse
    assert game.__dict__.get("_forward_reuse") is None
    for s in range(3):
        alone = solver.step(game, params[s], solver.init(game, params[s]), batches[s])[0]
        for p in alone:
            for k in alone[p]:
                update = (alone[p][k] - params[s][p][k]).norm()
                assert float((out[p][k][s] - alone[p][k]).norm()) <= 1e-12 * float(update), (s, p, k)


def test_a_diverging_seed_ends_like_train_and_the_others_go_on(tmp_path):
    import tests_arena_helpers  # noqa: F401  (registers test-nan-at-random-step)

    kw = dict(game="test-nan-at-random-step", solver="simultaneous", steps=9, eval_every=2)
    seeds = [0, 1, 2, 3, 4, 5]
    alone = _configs(tmp_path, "alone", seeds, **kw)
    expected = []
    for c in alone:
        try:
            train(c, quiet=True)
        except DivergenceError:
            pass
        expected.append(json.loads((Path(c.out) / "summary.json").read_text()))
    statuses = {e["status"] for e in expected}
    assert statuses == {"done", "diverged"}, expected  # the premise: some seeds diverge, others not
    assert len({e.get("diverged_step") for e in expected}) > 2  # at different steps
    vectorized = _configs(tmp_path, "vectorized", seeds, **kw)
    summaries = train_vectorized(vectorized, quiet=True)
    for s, e, a, v in zip(summaries, expected, alone, vectorized):
        assert (s["status"], s.get("diverged_step"), s.get("diverged_player"), s["final_step"]) == (
            e["status"], e.get("diverged_step"), e.get("diverged_player"), e["final_step"])
        if e["status"] == "diverged":
            untimed = lambda text: re.sub(r"(wall|train)_time=[^,]*, ", "", text)  # noqa: E731
            assert untimed(s["error"]) == untimed(e["error"]).replace("/alone/", "/vectorized/")
        assert _rows(v.out) == [{**r, "wall_time": rv["wall_time"], "train_time": rv["train_time"]}
                                for r, rv in zip(_rows(a.out), _rows(v.out))]
        ca = load_latest_checkpoint(Path(a.out) / "checkpoints")[1]
        cv = load_latest_checkpoint(Path(v.out) / "checkpoints")[1]
        assert ca["step"] == cv["step"]
        torch.testing.assert_close(cv["params"], ca["params"], rtol=0, atol=0)


class _SignalAfter(list):
    """The run loop's list of caught signals, holding SIGTERM once it has been asked
    ``steps`` times (once per step): an interruption at a chosen step, without a process."""

    def __init__(self, steps: int):
        super().__init__()
        self.steps = steps

    def __bool__(self) -> bool:
        self.steps -= 1
        if self.steps <= 0 and not len(self):
            import signal

            self.append(signal.SIGTERM)
        return len(self) > 0


def _interrupt_after(monkeypatch, steps: int) -> None:
    from contextlib import contextmanager

    import arena.runs.loop

    @contextmanager
    def caught_after():
        yield _SignalAfter(steps)

    monkeypatch.setattr(arena.runs.loop, "_catch_signals", caught_after)


@pytest.mark.parametrize("solver, options", [("alternating", {}), ("optimistic", {})])
def test_interrupted_vectorized_seeds_resume_together_bit_identically(tmp_path, monkeypatch, solver, options):
    kw = dict(game="mog", game_options=TINY_MOG, solver=solver, solver_options=options, steps=12, eval_every=4,
              optimizers={"name": "adam", "lr": 1e-3})
    whole = _configs(tmp_path, "whole", [0, 1, 2], **kw)
    train_vectorized(whole, quiet=True)
    parts = _configs(tmp_path, "parts", [0, 1, 2], **kw)
    with monkeypatch.context() as patch:
        _interrupt_after(patch, 6)  # after step 6: between evaluations, past the checkpoint at 4
        with pytest.raises(Interrupted, match=f"at step 6/12; checkpoints were saved. Continue with: diffgames resume {tmp_path / 'parts'}"):
            train_vectorized(parts, quiet=True)
    assert [json.loads((Path(c.out) / "summary.json").read_text())["status"] for c in parts] == ["interrupted"] * 3
    summaries = resume_vectorized(tmp_path / "parts", quiet=True)
    assert [s["status"] for s in summaries] == ["done"] * 3 and summaries[0]["final_step"] == 12
    for w, p in zip(whole, parts):
        untimed = lambda rows: [{k: v for k, v in r.items() if k not in TIMES - {"step"}} for r in rows]  # noqa: E731
        assert untimed(_rows(p.out)) == untimed(_rows(w.out))
        cw = load_latest_checkpoint(Path(w.out) / "checkpoints")[1]
        cp = load_latest_checkpoint(Path(p.out) / "checkpoints")[1]
        torch.testing.assert_close(cp["params"], cw["params"], rtol=0, atol=0)
        torch.testing.assert_close(cp["solver_state"], cw["solver_state"], rtol=0, atol=0)
        assert torch.equal(cp["rng"]["data"], cw["rng"]["data"])


def test_interrupted_seeds_continue_with_resume_or_the_same_command(tmp_path, monkeypatch, capsys):
    from arena.cli.main import main

    common = ["run", "--game", "rps", "--solver", "optimistic", "--optimizer", "sgd", "--lr", "0.2", "--steps", "20",
              "--eval-every", "5", "--seeds", "0-1", "--quiet", "--dtype", "float64"]
    untimed = lambda rows: [{k: v for k, v in r.items() if k not in TIMES - {"step"}} for r in rows]  # noqa: E731
    for tag, extra in (("vec", ["--vectorize"]), ("seq", [])):
        whole = main([*common, *extra, "--out", str(tmp_path / f"{tag}-whole")])
        assert whole == 0
        for how in ("resume", "again") if extra else ("again",):  # unstarted seeds need the command
            out = tmp_path / f"{tag}-{how}"
            with monkeypatch.context() as patch:
                if extra:
                    _interrupt_after(patch, 7)
                else:  # the sequential seeds run through arena.runs.loop.train
                    import arena.runs.loop

                    patch.setattr(arena.runs.loop, "_catch_signals", lambda: _yield(_SignalAfter(7)))
                assert main([*common, *extra, "--out", str(out)]) == 143  # 128 + SIGTERM
            err = capsys.readouterr().err
            assert "interrupted at step 7/20" in err
            assert (f"Continue with the same command (or: diffgames resume {out})" if extra
                    else "Continue with the same command.") in err
            logged = _rows(out / "seed0")
            if how == "resume":
                assert main(["resume", str(out), "--quiet"]) == 0
                together = " together (vectorized)" if extra else ""
                assert f"2 seeds in {out} resumed{together}; 0 diverged" in capsys.readouterr().out
            else:
                assert main([*common, *extra, "--out", str(out)]) == 0
            # continued, not started again: the rows up to the checkpoint (step 5) are kept
            assert _rows(out / "seed0")[:2] == [r for r in logged if r["step"] <= 5]
            for seed in (0, 1):
                assert untimed(_rows(out / f"seed{seed}")) == untimed(_rows(tmp_path / f"{tag}-whole" / f"seed{seed}"))
    assert main([*common, "--out", str(tmp_path / "seq-again")]) == 0  # all done: nothing runs again
    assert capsys.readouterr().out.count("already done, kept") == 2
    # seeds that ran one by one are resumed one by one (here: lengthened)
    assert main(["resume", str(tmp_path / "seq-again"), "--steps", "30", "--quiet"]) == 0
    assert f"2 seeds in {tmp_path / 'seq-again'} resumed; 0 diverged" in capsys.readouterr().out
    assert _rows(tmp_path / "seq-again" / "seed1")[-1]["step"] == 30


def _yield(value):
    from contextlib import contextmanager

    @contextmanager
    def context():
        yield value

    return context()


def test_vectorized_seeds_at_different_steps_do_not_resume_together(tmp_path):
    kw = dict(game="rps", solver="simultaneous", steps=10, eval_every=5, dtype="float64")
    configs = _configs(tmp_path, "vec", [0, 1], **kw)
    train_vectorized(configs, quiet=True)
    resume(Path(configs[1].out), quiet=True, steps=15)  # seed 1 alone moves on to step 15
    with pytest.raises(ConfigError, match=r"different steps \(\{'seed0': 10, 'seed1': 15\}\)"):
        resume_vectorized(tmp_path / "vec", quiet=True, steps=20)


def test_a_vectorized_seed_resumes_alone(tmp_path):
    kw = dict(game="mog", game_options=TINY_MOG, solver="alternating", eval_every=5)
    vectorized = _configs(tmp_path, "vectorized", [0, 1], steps=5, **kw)
    train_vectorized(vectorized, quiet=True)
    resumed = resume(Path(vectorized[1].out), quiet=True, steps=10)
    alone = _configs(tmp_path, "alone", [1], steps=10, **kw)[0]
    train(alone, quiet=True)
    assert resumed["status"] == "done" and resumed["final_step"] == 10
    last_r, last_a = _rows(vectorized[1].out)[-1], _rows(alone.out)[-1]
    assert last_r["step"] == last_a["step"] == 10
    assert last_r["loss_generator"] == pytest.approx(last_a["loss_generator"], rel=1e-5)


@pytest.mark.parametrize("change, words", [
    ({"solver": "sga"}, "'sga' cannot be vectorized"),
    ({"solver": "cgd"}, "'cgd' cannot be vectorized"),
    ({"solver": "lookahead", "solver_options": {"inner": "sga"}}, "'lookahead' (inner solver 'sga') cannot be vectorized"),
    ({"steps": 7}, "differs in ['steps']"),
])
def test_configs_that_cannot_be_vectorized_raise_one_clear_error(tmp_path, change, words):
    base = dict(game="rps", solver="simultaneous", steps=5)
    first = RunConfig(out=str(tmp_path / "a"), seed=0, **{**base, **change})
    second = RunConfig(out=str(tmp_path / "b"), seed=1, **{**base, **(change if "solver" in change else {})})
    with pytest.raises(ConfigError, match=re.escape(words)):
        train_vectorized([first, second], quiet=True)
    with pytest.raises(ConfigError, match="distinct output"):
        train_vectorized([RunConfig(out=str(tmp_path / "a"), seed=s, **base) for s in (0, 1)], quiet=True)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_vectorized_seeds_on_cuda_match_separate_runs(tmp_path):
    kw = dict(game="mog", game_options=TINY_MOG, solver="unrolled", solver_options={"unroll_steps": 3},
              steps=8, eval_every=4, device="cuda")
    alone = _configs(tmp_path, "alone", [0, 1, 2], **kw)
    vectorized = _configs(tmp_path, "vectorized", [0, 1, 2], **kw)
    for c in alone:
        train(c, quiet=True)
    train_vectorized(vectorized, quiet=True)
    _assert_same_runs(alone, vectorized, rtol=1e-4)


def test_an_interrupted_vectorized_compare_continues_with_the_same_command(tmp_path, monkeypatch):
    from arena.comparisons.cases import find_case, load_case
    from arena.comparisons.compare import compare

    case = load_case(find_case("quickstart"))
    kw = dict(labels=["optimistic", "alternating"], seeds=[0, 1], quiet=True, vectorize=True,
              overrides={"steps": 300})
    compare(case, tmp_path / "whole", **kw)
    with monkeypatch.context() as patch:
        _interrupt_after(patch, 120)
        with pytest.raises(Interrupted, match="comparison interrupted"):
            compare(case, tmp_path / "parts", **kw)
    statuses = {d.parent.name + "/" + d.name: json.loads((d / "summary.json").read_text())["status"]
                for d in (tmp_path / "parts").glob("*/seed*")}
    assert statuses == {"optimistic/seed0": "interrupted", "optimistic/seed1": "interrupted"}
    before = _rows(tmp_path / "parts" / "optimistic" / "seed0")
    compare(case, tmp_path / "parts", **kw)  # the same call again: continues the interrupted group
    # continued, not started again: the rows up to the checkpoint (step 100) are kept as logged
    kept = [r for r in before if r["step"] <= 100]
    assert len(kept) == 3 and _rows(tmp_path / "parts" / "optimistic" / "seed0")[:3] == kept
    for label in ("optimistic", "alternating"):
        for seed in (0, 1):
            whole, parts = (tmp_path / t / label / f"seed{seed}" for t in ("whole", "parts"))
            untimed = lambda rows: [{k: v for k, v in r.items() if k not in TIMES - {"step"}} for r in rows]  # noqa: E731
            assert untimed(_rows(parts)) == untimed(_rows(whole)), (label, seed)
            assert json.loads((parts / "summary.json").read_text())["status"] == "done"
