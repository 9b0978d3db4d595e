"""Unrolled lookahead (Metz et al. 2016): convergence on RPS, K=0 ≡ simultaneous, and the
leader's gradient checked three ways — the ``func`` and ``higher`` backends against each
other, and both against central finite differences of f(θ_L, θ_F^K(θ_L))."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import games
import solvers
import solvers.optim
from diffgames.errors import ConfigError
from solvers import SGD, Adam

F64 = torch.float64


# --------------------------------------------------------------------------- RPS
@pytest.mark.slow
def test_rps_unrolled_converges_to_uniform(run):
    game = games.make("rps")
    solver = solvers.make("unrolled", unroll_steps=5, optimizers=SGD(lr=0.2))
    params, history = run(game, solver, 1000, checkpoints=(0, 300, 1000))
    assert history[0]["nash_conv"] > 0.6
    assert history[1000]["nash_conv"] < 1e-3, history[1000]
    assert history[1000]["nash_conv"] < history[300]["nash_conv"] < history[0]["nash_conv"]
    x, y = game.strategies(params)
    np.testing.assert_allclose(x.detach().numpy(), [1 / 3] * 3, atol=2e-3)
    np.testing.assert_allclose(y.detach().numpy(), [1 / 3] * 3, atol=2e-3)


# --------------------------------------------------------------------------- K = 0
def _run_steps(game, solver, params, steps, seed=0):
    state = solver.init(game, params)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        params, state, _ = solver.step(game, params, state, game.sample(generator, "cpu"))
    return params, state


@pytest.mark.parametrize("second_order", [True, False])
@pytest.mark.parametrize(
    "game_kind, optimizer",
    [("rps", SGD(lr=0.2)), ("gan", Adam(lr=1e-2, betas=(0.5, 0.999))), ("gan", SGD(lr=0.1, momentum=0.9))],
    ids=["rps-sgd", "gan-adam", "gan-momentum"],
)
def test_zero_unroll_steps_is_simultaneous_exactly(tiny_gan, game_kind, optimizer, second_order):
    game = games.make("rps") if game_kind == "rps" else tiny_gan(dtype=torch.float32)
    start = game.init_params(2)
    unrolled = solvers.make("unrolled", unroll_steps=0, second_order=second_order, optimizers=optimizer)
    simultaneous = solvers.make("simultaneous", optimizers=optimizer)
    a, state_a = _run_steps(game, unrolled, start, 6)
    b, state_b = _run_steps(game, simultaneous, start, 6)
    for p in start:
        for k in start[p]:
            assert torch.equal(a[p][k], b[p][k]), (p, k)
            assert not torch.equal(a[p][k], start[p][k])


def test_unrolling_changes_only_the_leader_step(tiny_gan):
    """K > 0 changes the leader's update; followers take the same plain step as in
    simultaneous GD."""
    game = tiny_gan()
    params = game.init_params(0, dtype=F64)
    batch = game.sample(torch.Generator().manual_seed(0))
    out = {}
    for name, opts in [("simultaneous", {}), ("unrolled", {"unroll_steps": 3})]:
        solver = solvers.make(name, optimizers=SGD(lr=0.1), **opts)
        out[name] = solver.step(game, params, solver.init(game, params), batch)[0]
    for k in params["disc"]:
        assert torch.equal(out["unrolled"]["disc"][k], out["simultaneous"]["disc"][k])
    assert not torch.equal(out["unrolled"]["gen"]["net.0.weight"], out["simultaneous"]["gen"]["net.0.weight"])


# --------------------------------------------------------------------------- leader gradients
def _flat(d):
    return torch.cat([v.reshape(-1) for v in d.values()])


def _rel(a, b):
    return float((_flat(a) - _flat(b)).norm() / _flat(b).norm())  # relative error of a w.r.t. b


def _setup(tiny_gan, optimizer, K=3, warm=3, activation="tanh"):
    """A small general-sum GAN-shaped game in float64, after ``warm`` unrolled steps
    (so momentum/Adam state is nonzero), and the next batch."""
    game = tiny_gan(latent=2, hidden=4, batch_size=8, dtype=F64, activation=activation)
    solver = solvers.make("unrolled", unroll_steps=K, optimizers=optimizer)
    params = game.init_params(1, dtype=F64)
    state = solver.init(game, params)
    generator = torch.Generator().manual_seed(0)
    for _ in range(warm):
        params, state, _ = solver.step(game, params, state, game.sample(generator))
    return game, solver, params, state, game.sample(generator)


def _leader_gradient(solver, game, params, state, batch, backend="func", second_order=True):
    solver.backend, solver.second_order = backend, second_order
    return solver.leader_gradient(game, params, state, batch, "gen", ["disc"], solver.optimizers(game))


def _reference_surrogate(game, solver, params, state, batch):
    """θ_L ↦ f_gen(θ_L, θ_disc^K(θ_L)), the follower unrolled with torch.optim (no autograd
    through the unroll)."""
    optimizer = solver.optimizers(game)["disc"]

    def f(theta_gen):
        joint = {**params, "gen": theta_gen}
        follower = [v.clone().requires_grad_() for v in params["disc"].values()]
        torch_opt = optimizer.to_torch(follower, state["opt"]["disc"])
        for _ in range(solver.unroll_steps):
            torch_opt.zero_grad()
            game.losses({**joint, "disc": dict(zip(params["disc"], follower))}, batch)["disc"].backward()
            torch_opt.step()
        with torch.no_grad():
            return game.losses({**joint, "disc": dict(zip(params["disc"], follower))}, batch)["gen"].item()

    return f


def _directions(theta, n=8, seed=0):
    """``n`` random unit directions in the leader's parameter space."""
    generator = torch.Generator().manual_seed(seed)
    size = sum(v.numel() for v in theta.values())
    u = torch.randn(n, size, generator=generator, dtype=F64)
    return u / u.norm(dim=1, keepdim=True)


def _directional_differences(f, theta, directions, h=1e-5):
    """Central differences ``(f(θ + hu) − f(θ − hu)) / 2h`` along each direction ``u``."""

    def shifted(u, sign):
        out, offset = {}, 0
        for k, v in theta.items():
            out[k] = v + sign * h * u[offset:offset + v.numel()].reshape(v.shape)
            offset += v.numel()
        return out

    return torch.tensor([(f(shifted(u, 1)) - f(shifted(u, -1))) / (2 * h) for u in directions], dtype=F64)


FOLLOWERS = {
    "sgd": SGD(lr=0.1),
    "momentum": SGD(lr=0.1, momentum=0.9),
    "nesterov": SGD(lr=0.1, momentum=0.5, nesterov=True),
}


@pytest.mark.parametrize("name", list(FOLLOWERS))
def test_func_and_higher_backends_agree_for_sgd_followers(tiny_gan, name):
    game, solver, params, state, batch = _setup(tiny_gan, FOLLOWERS[name])
    if name != "sgd":  # the unroll starts from nonzero momentum
        assert all(buf.abs().max() > 0 for buf in state["opt"]["disc"]["momentum"].values())
    func = _leader_gradient(solver, game, params, state, batch, "func")
    higher = _leader_gradient(solver, game, params, state, batch, "higher")
    assert _flat(func).norm() > 1e-3
    assert _rel(higher, func) <= 1e-10, _rel(higher, func)


def test_higher_backend_full_step_matches_func(tiny_gan):
    game, _, params, state, batch = _setup(tiny_gan, SGD(lr=0.1, momentum=0.9))
    out = {}
    for backend in ("func", "higher"):
        solver = solvers.make("unrolled", unroll_steps=3, backend=backend, optimizers=SGD(lr=0.1, momentum=0.9))
        out[backend] = solver.step(game, params, state, batch)[0]
    for p in params:
        for k in params[p]:
            torch.testing.assert_close(out["higher"][p][k], out["func"][p][k], rtol=1e-10, atol=1e-12)


def test_adam_backends_differ_only_by_eps_placement(tiny_gan):
    """higher's differentiable Adam adds ε before the bias correction of √v, torch.optim.Adam
    (and ours) after it: the leader gradients differ by an amount that vanishes with ε."""
    differences = {}
    for eps in (1e-8, 1e-10, 0.0):
        game, solver, params, state, batch = _setup(tiny_gan, Adam(lr=0.05, betas=(0.5, 0.999), eps=eps))
        if eps == 0.0:  # eps = 0 is well defined only away from zero gradients
            leaves = {k: v.clone().requires_grad_() for k, v in params["disc"].items()}
            grads = torch.autograd.grad(game.losses({**params, "disc": leaves}, batch)["disc"], list(leaves.values()))
            assert all((g != 0).all() for g in grads)
        func = _leader_gradient(solver, game, params, state, batch, "func")
        higher = _leader_gradient(solver, game, params, state, batch, "higher")
        differences[eps] = _rel(higher, func)
    print("relative func/higher differences by eps:", differences)
    assert 1e-12 < differences[1e-8] < 1e-3, differences  # small but real
    assert differences[1e-10] < differences[1e-8] / 10, differences  # shrinks with ε
    assert differences[0.0] <= 1e-10, differences  # and is gone at ε = 0


@pytest.mark.parametrize(
    "optimizer",
    [SGD(lr=0.1), Adam(lr=0.05, betas=(0.5, 0.999))],
    ids=["sgd", "adam"],
)
def test_second_order_leader_gradient_matches_finite_differences(tiny_gan, optimizer):
    """Eq. (13) of Metz et al.: ∇_{θ_L} f(θ_L, θ_F^K(θ_L)) with K = 3, float64."""
    game, solver, params, state, batch = _setup(tiny_gan, optimizer, K=3)
    f = _reference_surrogate(game, solver, params, state, batch)
    directions = _directions(params["gen"])
    finite = _directional_differences(f, params["gen"], directions)
    second = directions @ _flat(_leader_gradient(solver, game, params, state, batch, "func", second_order=True))
    first = directions @ _flat(_leader_gradient(solver, game, params, state, batch, "func", second_order=False))
    error = float((second - finite).norm() / finite.norm())
    assert error < 1e-6, error
    # dropping the dθ_F^K/dθ_L term changes the gradient a lot here
    assert float((first - finite).norm() / finite.norm()) > 1e-2


def test_first_order_gradient_is_partial_derivative_at_unrolled_follower(tiny_gan):
    """second_order=False: ∂f/∂θ_L at (θ_L, θ_F^K) with θ_F^K held fixed (Eq. 13, first term)."""
    game, solver, params, state, batch = _setup(tiny_gan, Adam(lr=0.05, betas=(0.5, 0.999)), K=3)
    follower = [v.clone().requires_grad_() for v in params["disc"].values()]
    torch_opt = solver.optimizers(game)["disc"].to_torch(follower, state["opt"]["disc"])
    for _ in range(3):
        torch_opt.zero_grad()
        game.losses({**params, "disc": dict(zip(params["disc"], follower))}, batch)["disc"].backward()
        torch_opt.step()
    leader = {k: v.clone().requires_grad_() for k, v in params["gen"].items()}
    unrolled = {"gen": leader, "disc": {k: v.detach() for k, v in zip(params["disc"], follower)}}
    expected = dict(zip(leader, torch.autograd.grad(game.losses(unrolled, batch)["gen"], list(leader.values()))))
    first = _leader_gradient(solver, game, params, state, batch, "func", second_order=False)
    assert _rel(first, expected) < 1e-10


def _dead_relu_setup(tiny_gan):
    game, solver, params, state, batch = _setup(tiny_gan, Adam(lr=0.05, betas=(0.5, 0.999)), K=2, warm=0,
                                                activation="relu")
    params = {p: dict(ps) for p, ps in params.items()}
    bias = params["disc"]["net.0.bias"].clone()
    bias[0] = -100.0  # hidden unit 0 of the discriminator never fires
    params["disc"]["net.0.bias"] = bias
    return game, solver, params, solver.init(game, params), batch


def test_adam_follower_with_exact_zero_gradients_gives_finite_leader_gradient(tiny_gan):
    game, solver, params, state, batch = _dead_relu_setup(tiny_gan)
    leaves = {k: v.clone().requires_grad_() for k, v in params["disc"].items()}
    grads = torch.autograd.grad(game.losses({**params, "disc": leaves}, batch)["disc"], list(leaves.values()))
    assert any((g == 0).any() for g in grads)  # the premise: exact zeros in the follower's gradient
    gradient = _leader_gradient(solver, game, params, state, batch, "func")
    assert all(torch.isfinite(g).all() for g in gradient.values())
    assert _flat(gradient).norm() > 0


def test_dead_relu_case_needs_the_guarded_sqrt(tiny_gan, monkeypatch):
    """The previous test would fail with a plain sqrt in Adam: its derivative at v = 0 is
    inf, and inf·0 gives NaN in the leader's gradient."""
    game, solver, params, state, batch = _dead_relu_setup(tiny_gan)
    monkeypatch.setattr(solvers.optim, "safe_sqrt", torch.sqrt)
    gradient = _leader_gradient(solver, game, params, state, batch, "func")
    assert any(torch.isnan(g).any() for g in gradient.values())


# --------------------------------------------------------------------------- options
@pytest.mark.parametrize(
    "options, words",
    [
        ({"unroll_steps": -1}, ["unroll_steps", "≥ 0", "-1"]),
        ({"unroll_steps": "five"}, ["unroll_steps", "int", "'five'"]),
        ({"unroll_steps": 2.5}, ["unroll_steps", "int"]),
        ({"backend": "jax"}, ["backend", "'jax'"]),
        ({"second_order": "yes"}, ["second_order", "bool"]),
        ({"unrol_steps": 5}, ["unknown option", "Did you mean 'unroll_steps'"]),
        ({"optimizers": SGD(lr=0.1), "lr": 0.1}, ["unknown option", "'lr'"]),
    ],
)
def test_bad_unrolled_options_raise_one_clear_error(options, words):
    with pytest.raises(ConfigError) as info:
        solvers.make("unrolled", **options)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_bad_leaders_raise_at_step():
    game = games.make("rps")
    params = game.init_params(0)
    for leaders, words in [(["colum"], "not players"), (["row", "col"], "every player is a leader")]:
        solver = solvers.make("unrolled", leaders=leaders)
        with pytest.raises(ConfigError, match=words):
            solver.step(game, params, solver.init(game, params), None)


def test_leaders_option_picks_the_unrolling_player():
    game = games.make("rps")
    params = game.init_params(0, dtype=F64)
    base = solvers.make("simultaneous", optimizers=SGD(lr=0.2))
    sim = base.step(game, params, base.init(game, params), None)[0]
    solver = solvers.make("unrolled", leaders="col", unroll_steps=3, optimizers=SGD(lr=0.2))
    out = solver.step(game, params, solver.init(game, params), None)[0]
    assert torch.equal(out["row"]["logits"], sim["row"]["logits"])
    assert not torch.equal(out["col"]["logits"], sim["col"]["logits"])
