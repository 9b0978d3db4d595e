"""The fast paths of the unrolled solver and the compiled steps (solvers.compiled).

* the ``torch.func`` step of :func:`functional_step` computes what ``solver.step`` does;
* the eager unroll (autograd engine, reused leader forward passes, flat follower vector)
  and the nested ``torch.func.grad`` unroll give the same leader gradient;
* :func:`compile_step` compiles in one graph and falls back, with a warning, otherwise.
"""
from __future__ import annotations

import pytest
import torch

import games
import solvers
import solvers.unroll as unroll_module
from solvers import SGD, Adam
from solvers.compiled import compile_step, functional_step
from solvers.unroll import unroll_autograd, unroll_func

F64 = torch.float64


def _flat(tree) -> torch.Tensor:
    if isinstance(tree, torch.Tensor):
        return tree.reshape(-1)
    parts = [_flat(v) for v in tree.values()]
    return torch.cat(parts) if parts else torch.zeros(0, dtype=F64)


def _rel(a, b) -> float:
    return float((_flat(a) - _flat(b)).norm() / _flat(b).norm())


def _setup(tiny_gan, optimizer, K=3, warm=2):
    game = tiny_gan(latent=3, hidden=6, batch_size=12, dtype=F64)
    solver = solvers.make("unrolled", unroll_steps=K, optimizers=optimizer)
    params = game.init_params(1, dtype=F64)
    state = solver.init(game, params)
    generator = torch.Generator().manual_seed(0)
    for _ in range(warm):  # nonzero momentum / Adam state
        params, state, _ = solver.step(game, params, state, game.sample(generator))
    return game, solver, params, state, game.sample(generator)


OPTIMIZERS = {"sgd": SGD(lr=0.1), "momentum": SGD(lr=0.1, momentum=0.9), "adam": Adam(lr=0.05, betas=(0.5, 0.999))}


# --------------------------------------------------------------------------- eager vs torch.func unroll
@pytest.mark.parametrize("second_order", [True, False])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_eager_unroll_equals_nested_func_grad(tiny_gan, name, second_order):
    game, solver, params, state, batch = _setup(tiny_gan, OPTIMIZERS[name])
    solver.second_order = second_order
    opts = solver.optimizers(game)
    eager = solver.leader_gradient(game, params, state, batch, "gen", ["disc"], opts)
    func = unroll_func(game, params, state, batch, "gen", ["disc"], opts, solver.unroll_steps, second_order)[0]
    assert _flat(func).norm() > 1e-3
    assert _rel(eager, func) <= 1e-12, _rel(eager, func)


@pytest.mark.parametrize("name", ["momentum", "adam"])
def test_flat_follower_vector_changes_nothing(tiny_gan, name, monkeypatch):
    """The unroll runs an elementwise optimizer on one flat vector of the follower's
    parameters; per-parameter updates give the same gradients (the follower's own, bit
    for bit)."""
    game, solver, params, state, batch = _setup(tiny_gan, OPTIMIZERS[name])
    opts = solver.optimizers(game)
    args = (game, params, state, batch, ["gen"], ["disc"], opts, solver.unroll_steps, True)
    flat_grads, flat_losses = unroll_autograd(*args)
    monkeypatch.setattr(unroll_module, "_ELEMENTWISE", ())
    grads, losses = unroll_autograd(*args)
    assert _rel(flat_grads["gen"], grads["gen"]) <= 1e-13
    for k in grads["disc"]:
        assert torch.equal(flat_grads["disc"][k], grads["disc"][k])
    assert all(torch.equal(flat_losses[p], losses[p]) for p in losses)


class _CountingCalls:
    """Counts the forward passes a game computes (``Game.forward``; ``Game.call`` may reuse)."""

    def __init__(self, game, monkeypatch):
        self.calls: list[str] = []
        original = type(game).forward

        def counted(this, player, params, *args, **kwargs):
            self.calls.append(player)
            return original(this, player, params, *args, **kwargs)

        monkeypatch.setattr(type(game), "forward", counted)


@pytest.mark.parametrize("second_order, generator_calls", [(True, 1), (False, 2)])
def test_the_leader_forward_pass_runs_once_per_unroll(tiny_gan, monkeypatch, second_order, generator_calls):
    game, solver, params, state, batch = _setup(tiny_gan, OPTIMIZERS["adam"], K=4)
    solver.second_order = second_order
    counter = _CountingCalls(game, monkeypatch)
    solver.step(game, params, state, batch)
    assert counter.calls.count("gen") == generator_calls  # K + 2 = 6 without the reuse
    assert counter.calls.count("disc") == 2 * (4 + 1)  # real and fake each step
    assert game.__dict__.get("_forward_reuse") is None  # the reuse block is closed after the step


def test_forward_reuse_matches_identity_only_and_closes_with_the_block(tiny_gan):
    game = tiny_gan(dtype=F64)
    params = game.init_params(0, dtype=F64)
    z = torch.randn(5, 3, dtype=F64)
    assert game.call("gen", params, z) is not game.call("gen", params, z)  # no reuse outside the block
    with game.reusing_forward(["gen"]):
        a = game.call("gen", params, z)
        assert game.call("gen", params, z) is a
        assert game.call("gen", params, z.clone()) is not a  # equal values, other tensor: recomputed
        assert game.call("gen", {"gen": dict(params["gen"])}, z) is a  # same parameter tensors
        x = torch.randn(5, 2, dtype=F64)
        assert game.call("disc", params, x) is not game.call("disc", params, x)  # not a reused player
    assert game.call("gen", params, z) is not game.call("gen", params, z)
    with pytest.raises(RuntimeError, match="inside"):
        with game.reusing_forward(["gen"]):
            raise RuntimeError("inside")
    assert game.__dict__.get("_forward_reuse") is None


# --------------------------------------------------------------------------- functional steps
STEP_CASES = [
    ("simultaneous", {}, "momentum"),
    ("alternating", {}, "adam"),
    ("unrolled", {"unroll_steps": 3}, "momentum"),
    ("unrolled", {"unroll_steps": 3}, "adam"),
    ("unrolled", {"unroll_steps": 2, "second_order": False}, "adam"),
    ("unrolled", {"unroll_steps": 0}, "sgd"),
]


@pytest.mark.parametrize("name, options, optimizer", STEP_CASES)
def test_functional_step_equals_the_eager_step(tiny_gan, name, options, optimizer):
    game = tiny_gan(latent=3, hidden=6, batch_size=12, dtype=F64)
    solver = solvers.make(name, optimizers=OPTIMIZERS[optimizer], **options)
    params = game.init_params(0, dtype=F64)
    eager_state = func_state = solver.init(game, params)
    eager, func = params, params
    step = functional_step(solver, game)
    generator = torch.Generator().manual_seed(3)
    for _ in range(3):
        batch = game.sample(generator)
        eager, eager_state, eager_info = solver.step(game, eager, eager_state, batch)
        func, func_state, func_info = step(func, func_state, batch)
    assert _rel(func, eager) <= 1e-12
    torch.testing.assert_close(func_state["opt"], eager_state["opt"], rtol=1e-12, atol=1e-15)
    for p in eager_info["losses"]:
        torch.testing.assert_close(func_info["losses"][p], eager_info["losses"][p], rtol=1e-12, atol=0)
    assert _rel(eager, params) > 1e-3


def test_functional_step_on_rps():
    game = games.make("rps")
    solver = solvers.make("unrolled", unroll_steps=3, optimizers=SGD(lr=0.2))
    params = game.init_params(0, dtype=F64)
    state = solver.init(game, params)
    eager = solver.step(game, params, state, None)[0]
    func = functional_step(solver, game)(params, state, None)[0]
    assert _rel(func, eager) <= 1e-14


def test_solvers_without_a_functional_step():
    game = games.make("rps")
    assert functional_step(solvers.make("sga"), game) is None
    assert functional_step(solvers.make("unrolled", backend="higher"), game) is None


# --------------------------------------------------------------------------- compile_step
def test_compile_step_captures_the_unrolled_step_in_one_graph(tiny_gan):
    """aot_eager: dynamo captures the whole step (fullgraph) and AOT-autograd traces it,
    nested torch.func.grad included, without generating code (fast)."""
    game, solver, params, state, batch = _setup(tiny_gan, OPTIMIZERS["adam"], K=1, warm=1)
    step = compile_step(solver, game, backend="aot_eager")
    out = step(params, state, batch)
    assert step.fallback is None and step.compile_seconds > 0
    eager = solver.step(game, params, state, batch)
    assert _rel(out[0], eager[0]) <= 1e-12
    again = step(out[0], out[1], batch)  # no recompilation needed; still the same values
    assert _rel(again[0], solver.step(game, out[0], out[1], batch)[0]) <= 1e-12


def test_compile_step_falls_back_with_a_warning(tiny_gan, monkeypatch):
    game = games.make("rps")
    params = game.init_params(0, dtype=F64)
    solver = solvers.make("sga", optimizers=SGD(lr=0.1))
    state = solver.init(game, params)
    with pytest.warns(RuntimeWarning, match="no torch.func step"):
        step = compile_step(solver, game)
    assert torch.equal(_flat(step(params, state, None)[0]), _flat(solver.step(game, params, state, None)[0]))

    def broken(fn, **kwargs):
        def fails(*args):
            raise RuntimeError("double backward is not supported\nmore details")
        return fails

    monkeypatch.setattr(torch, "compile", broken)
    solver = solvers.make("unrolled", unroll_steps=2, optimizers=SGD(lr=0.1))
    state = solver.init(game, params)
    step = compile_step(solver, game)
    with pytest.warns(RuntimeWarning, match=r"torch.compile failed \(RuntimeError: double backward is not supported\)"):
        out = step(params, state, None)
    assert step.fallback is not None and step.compile_seconds is None
    assert torch.equal(_flat(out[0]), _flat(solver.step(game, params, state, None)[0]))


@pytest.mark.slow
def test_inductor_compiles_the_second_order_unrolled_step(tiny_gan):
    """The real thing (inductor generates C++/Triton kernels): a minute or more on a CPU."""
    game, solver, params, state, batch = _setup(tiny_gan, OPTIMIZERS["adam"], K=1, warm=1)
    step = compile_step(solver, game)
    out = step(params, state, batch)
    assert step.fallback is None, step.fallback
    assert _rel(out[0], solver.step(game, params, state, batch)[0]) <= 1e-10


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_eager_and_compiled_unrolled_steps_on_cuda():
    """The fast eager unroll and the compiled step on the GPU agree with the CPU's."""
    game = games.make("mog", latent_size=8, hidden=16, batch_size=64, eval_samples=100)
    solver = solvers.make("unrolled", unroll_steps=3)
    out = {}
    for device in ("cpu", "cuda"):
        params = game.init_params(0, device=device)
        batch = {k: v.to(device) for k, v in game.sample(torch.Generator().manual_seed(0), "cpu").items()}
        state = solver.init(game, params)
        out[device] = solver.step(game, params, state, batch)[0]
        if device == "cuda":
            step = compile_step(solver, game)
            compiled = step(params, state, batch)[0]
            assert step.fallback is None, step.fallback
            assert all(v.is_cuda for ps in compiled.values() for v in ps.values())
            assert _rel(compiled, out["cuda"]) <= 1e-4
    assert all(v.is_cuda for ps in out["cuda"].values() for v in ps.values())
    assert _rel({p: {k: v.cpu() for k, v in ps.items()} for p, ps in out["cuda"].items()}, out["cpu"]) <= 1e-4


@pytest.mark.parametrize("second_order, generator_calls", [(True, 1), (False, 2)])
def test_the_functional_step_runs_the_leader_forward_once_and_the_followers_gradient_in_the_unroll(
        tiny_gan, monkeypatch, second_order, generator_calls):
    # nested torch.func.grad would run G(z) K + 2 times and take the follower's gradient
    # at θ_t in a separate pass; the unroll's first step already computes it
    game, solver, params, state, batch = _setup(tiny_gan, OPTIMIZERS["adam"], K=4)
    solver.second_order = second_order
    eager = solver.step(game, params, state, batch)
    counter = _CountingCalls(game, monkeypatch)
    out = functional_step(solver, game)(params, state, batch)
    assert counter.calls.count("gen") == generator_calls
    assert counter.calls.count("disc") == 2 * (4 + 1)  # as the eager step: no extra pass at θ_t
    assert _rel(out[0], eager[0]) <= 1e-12 and _rel(out[1]["opt"], eager[1]["opt"]) <= 1e-12
    for p in eager[2]["losses"]:
        torch.testing.assert_close(out[2]["losses"][p], eager[2]["losses"][p], rtol=1e-13, atol=0)
    assert game.__dict__.get("_forward_reuse") is None


def test_the_functional_step_reuses_the_generator_forward_on_the_bundled_gans(monkeypatch):
    # the bundled GANs cast the batch to the parameters' dtype: a cast that returned a new
    # wrapper inside torch.func would defeat the reuse (G(z) K + 2 times)
    for game in (games.make("mog", hidden=8, batch_size=16, latent_size=4),
                 games.make("mnist-rnn-cnn", hidden=8, disc_channels=2, batch_size=4, max_images=16)):
        params = game.init_params(0)
        solver = solvers.make("unrolled", unroll_steps=3)
        state = solver.init(game, params)
        batch = game.sample(torch.Generator().manual_seed(0), "cpu")
        counter = _CountingCalls(game, monkeypatch)
        functional_step(solver, game)(params, state, batch)
        assert counter.calls.count("generator") == 1, game
        monkeypatch.undo()
