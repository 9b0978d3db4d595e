"""Simultaneous, alternating and optimistic gradient descent.

* Rock-paper-scissors with plain SGD (lr 0.2) from the default start shows the textbook
  behaviours: simultaneous GD spirals out, alternating GD cycles, optimistic GD converges.
* On a GAN-shaped game, the solvers equal hand-written ``torch.optim`` training loops.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import games
import solvers
from diffgames.errors import ConfigError
from solvers import SGD, Adam, make_optimizer

STEPS = 3000
EVERY = 10


@pytest.fixture(scope="module")
def rps_runs(run):
    """nash_conv and distance_to_nash every 10 steps of 3000, for each first-order solver."""
    runs = {}
    for name in ("simultaneous", "alternating", "optimistic"):
        game = games.make("rps")
        solver = solvers.make(name, optimizers=SGD(lr=0.2))
        _, history = run(game, solver, STEPS, checkpoints=range(0, STEPS + 1, EVERY))
        runs[name] = {
            m: np.array([history[t][m] for t in sorted(history)]) for m in ("nash_conv", "distance_to_nash")
        }
    return runs


def _at(run, step):
    assert step % EVERY == 0
    return run[step // EVERY]


def _window_maxima(values, windows=6):
    return [w.max() for w in np.array_split(values, windows)]


@pytest.mark.slow  # the shared 3 × 3000-step run takes ~7 s
def test_rps_start_is_not_an_equilibrium(rps_runs):
    for run in rps_runs.values():
        assert _at(run["nash_conv"], 0) == pytest.approx(0.6661, abs=1e-3)


@pytest.mark.slow  # the shared 3 × 3000-step run takes ~7 s
def test_rps_simultaneous_spirals_out(rps_runs):
    run = rps_runs["simultaneous"]
    assert _at(run["nash_conv"], STEPS) > _at(run["nash_conv"], 0)
    # the distance to the equilibrium grows: each window's largest distance exceeds the last
    maxima = _window_maxima(run["distance_to_nash"])
    assert all(b > a for a, b in zip(maxima, maxima[1:])), maxima


@pytest.mark.slow  # the shared 3 × 3000-step run takes ~7 s
def test_rps_alternating_keeps_cycling(rps_runs):
    run = rps_runs["alternating"]
    assert run["nash_conv"].min() > 0.3, run["nash_conv"].min()
    # neither converges nor flies off: the distance to the equilibrium stays in a band
    distance = run["distance_to_nash"]
    assert 0.2 < distance.min() and distance.max() < 0.7, (distance.min(), distance.max())


@pytest.mark.slow  # the shared 3 × 3000-step run takes ~7 s
def test_rps_optimistic_converges(rps_runs):
    run = rps_runs["optimistic"]
    nash_conv = [_at(run["nash_conv"], t) for t in (0, 300, 1000, 2000, 3000)]
    assert nash_conv[-1] < 0.1, nash_conv
    assert all(b < a for a, b in zip(nash_conv, nash_conv[1:])), nash_conv
    maxima = _window_maxima(run["distance_to_nash"])
    assert all(b < a for a, b in zip(maxima, maxima[1:])), maxima


# --------------------------------------------------------------------------- optimistic rule
def _rps_losses(a, b):
    A = torch.tensor(games.matrix.RPS_PAYOFF, dtype=a.dtype)
    x, y = torch.softmax(a, 0), torch.softmax(b, 0)
    return -(x @ A @ y), x @ A @ y


def test_optimistic_sgd_is_ogda_equation():
    """θ_{t+1} = θ_t − η(2g_t − g_{t−1}), g_{−1} := g_0 (Daskalakis et al. 2018, Eq. 2)."""
    lr = 0.2
    game = games.make("rps")
    solver = solvers.make("optimistic", optimizers=SGD(lr=lr))
    params = game.init_params(0, dtype=torch.float64)
    state = solver.init(game, params)
    a, b = params["row"]["logits"].clone(), params["col"]["logits"].clone()
    previous = None
    for _ in range(8):
        params, state, _ = solver.step(game, params, state, None)
        la, lb = (t.clone().requires_grad_() for t in (a, b))
        loss_row, loss_col = _rps_losses(la, lb)
        g = (torch.autograd.grad(loss_row, la)[0], torch.autograd.grad(loss_col, lb)[0])
        previous = g if previous is None else previous
        a, b = a - lr * (2 * g[0] - previous[0]), b - lr * (2 * g[1] - previous[1])
        previous = g
        torch.testing.assert_close(params["row"]["logits"], a, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(params["col"]["logits"], b, rtol=1e-12, atol=1e-14)


def test_optimistic_adam_is_algorithm_1():
    """w_t = w_{t−1} − 2η m̂_t/(√v̂_t+ε) + η m̂_{t−1}/(√v̂_{t−1}+ε) (Daskalakis et al. 2018,
    Alg. 1, with torch.optim.Adam's bias correction), first step a plain Adam step."""
    lr, (beta1, beta2), eps = 0.05, (0.5, 0.9), 1e-8
    game = games.make("rps")
    solver = solvers.make("optimistic", optimizers=Adam(lr=lr, betas=(beta1, beta2), eps=eps))
    params = game.init_params(0, dtype=torch.float64)
    state = solver.init(game, params)
    w = [params["row"]["logits"].clone(), params["col"]["logits"].clone()]
    m, v = [torch.zeros(3, dtype=torch.float64) for _ in w], [torch.zeros(3, dtype=torch.float64) for _ in w]
    previous = None
    for t in range(1, 8):
        params, state, _ = solver.step(game, params, state, None)
        leaves = [x.clone().requires_grad_() for x in w]
        grads = [torch.autograd.grad(loss, leaf)[0] for loss, leaf in zip(_rps_losses(*leaves), leaves)]
        directions = []
        for i, g in enumerate(grads):
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g * g
            m_hat, v_hat = m[i] / (1 - beta1 ** t), v[i] / (1 - beta2 ** t)
            directions.append(m_hat / (v_hat.sqrt() + eps))
        previous = directions if previous is None else previous
        w = [x - 2 * lr * d + lr * p for x, d, p in zip(w, directions, previous)]
        previous = directions
        torch.testing.assert_close(params["row"]["logits"], w[0], rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(params["col"]["logits"], w[1], rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- GAN vs torch.optim
def _modules(game, params):
    """Plain nn.Modules holding ``params`` (for the hand-written reference loops)."""
    out = {}
    for name, module in game.players.items():
        clone = copy.deepcopy(module)
        clone.load_state_dict({k: v.clone() for k, v in params[name].items()})
        out[name] = clone
    return out


def _gan_loss_gen(G, D, batch):
    d_fake = D(G(batch["z"]))
    return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))


def _gan_loss_disc(G, D, batch):
    d_real, d_fake = D(batch["real"]), D(G(batch["z"]).detach())
    return (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
            + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))


GAN_OPTIMIZERS = {"gen": dict(lr=1e-2, betas=(0.5, 0.999)), "disc": dict(lr=3e-2, betas=(0.9, 0.99))}


def _reference_loop(game, params, batches, order, simultaneous=False):
    """Per-player torch.optim.Adam, one shared batch per step."""
    modules = _modules(game, params)
    G, D = modules["gen"], modules["disc"]
    opts = {p: torch.optim.Adam(modules[p].parameters(), **GAN_OPTIMIZERS[p]) for p in modules}
    losses = {"gen": _gan_loss_gen, "disc": _gan_loss_disc}
    trajectory = []
    for batch in batches:
        if simultaneous:
            for p in order:
                opts[p].zero_grad()
                losses[p](G, D, batch).backward()  # both gradients at θ_t ...
            for p in order:
                opts[p].step()  # ... then both players move
        else:
            for p in order:  # each gradient at the latest parameters
                opts[p].zero_grad()
                losses[p](G, D, batch).backward()
                opts[p].step()
        trajectory.append({p: {k: v.detach().clone() for k, v in modules[p].named_parameters()} for p in modules})
    return trajectory


@pytest.mark.parametrize(
    "solver_name, options, order",
    [
        ("alternating", {}, ["gen", "disc"]),
        ("alternating", {"player_order": ["disc", "gen"]}, ["disc", "gen"]),
        ("simultaneous", {}, ["gen", "disc"]),
    ],
    ids=["alternating-gen-first", "alternating-disc-first", "simultaneous"],
)
def test_gan_solver_equals_torch_optim_loop(tiny_gan, solver_name, options, order):
    game = tiny_gan(dtype=torch.float64)
    optimizers = {p: Adam(**kw) for p, kw in GAN_OPTIMIZERS.items()}
    solver = solvers.make(solver_name, optimizers=optimizers, **options)
    params = game.init_params(3, dtype=torch.float64)
    generator = torch.Generator().manual_seed(7)
    batches = [game.sample(generator, "cpu") for _ in range(10)]
    reference = _reference_loop(game, params, batches, order, simultaneous=solver_name == "simultaneous")
    state = solver.init(game, params)
    start = params
    for t, batch in enumerate(batches):
        params, state, info = solver.step(game, params, state, batch)
        for p in params:
            for k in params[p]:
                torch.testing.assert_close(params[p][k], reference[t][p][k], rtol=1e-10, atol=1e-10,
                                           msg=lambda m: f"step {t + 1}, {p}.{k}: {m}")
        assert set(info["losses"]) == {"gen", "disc"}
    # every player actually moved
    assert all(not torch.equal(params[p][k], start[p][k]) for p in params for k in params[p])


def test_alternating_order_matters(tiny_gan):
    game = tiny_gan(dtype=torch.float64)
    params = game.init_params(0, dtype=torch.float64)
    batch = game.sample(torch.Generator().manual_seed(0))
    out = {}
    for order in (["gen", "disc"], ["disc", "gen"]):
        solver = solvers.make("alternating", player_order=order, optimizers=SGD(lr=0.5))
        out[tuple(order)] = solver.step(game, params, solver.init(game, params), batch)[0]
    # the player updated second sees the first one's new parameters
    assert not torch.equal(out[("gen", "disc")]["disc"]["net.0.weight"], out[("disc", "gen")]["disc"]["net.0.weight"])
    assert not torch.equal(out[("gen", "disc")]["gen"]["net.0.weight"], out[("disc", "gen")]["gen"]["net.0.weight"])
    # the player updated first sees the step's start
    simultaneous = solvers.make("simultaneous", optimizers=SGD(lr=0.5))
    sim = simultaneous.step(game, params, simultaneous.init(game, params), batch)[0]
    assert torch.equal(out[("gen", "disc")]["gen"]["net.0.weight"], sim["gen"]["net.0.weight"])
    assert torch.equal(out[("disc", "gen")]["disc"]["net.0.weight"], sim["disc"]["net.0.weight"])


@pytest.mark.parametrize("name", ["simultaneous", "alternating", "optimistic"])
def test_step_does_not_change_its_inputs(tiny_gan, name):
    game = tiny_gan()
    params = game.init_params(0, dtype=torch.float64)
    solver = solvers.make(name, optimizers=Adam(lr=0.1))
    state = solver.init(game, params)
    batch = game.sample(torch.Generator().manual_seed(0))
    snapshot = copy.deepcopy((params, state, batch))
    for _ in range(2):
        new_params, _, _ = solver.step(game, params, state, batch)
    for p in params:
        for k in params[p]:
            assert torch.equal(params[p][k], snapshot[0][p][k])
            assert not torch.equal(new_params[p][k], params[p][k])
    assert torch.equal(batch["z"], snapshot[2]["z"])
    # determinism: the same inputs give the same step
    again, _, _ = solver.step(game, params, state, batch)
    assert all(torch.equal(again[p][k], new_params[p][k]) for p in params for k in params[p])


def test_per_player_optimizers_and_defaults():
    game = games.make("rps")
    solver = solvers.make("simultaneous", optimizers={"row": SGD(lr=0.3)})
    opts = solver.optimizers(game)
    assert opts["row"] == SGD(lr=0.3)
    assert opts["col"] == make_optimizer(game.default_optimizers()["col"])
    shared = solvers.make("simultaneous", optimizers={"name": "adam", "lr": 0.01})
    assert all(o == Adam(lr=0.01) for o in shared.optimizers(game).values())


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda: solvers.make("alternating", player_order=["row", "row"]), ["player_order", "twice"]),
        (lambda: solvers.make("simultaneous", lr=0.1), ["unknown option", "'lr'", "optimizers"]),
        (lambda: solvers.make("simultaneous", optimizers=SGD(lr=0.1), extra=1), ["unknown option", "'extra'"]),
        (lambda: solvers.make("simultaneous", optimizers={"name": "sgd", "lr": 0}), ["lr", "positive"]),
        (lambda: solvers.make("optimistic", optimizers={"row": {"name": "sgdd"}}), ["unknown optimizer", "Did you mean 'sgd'"]),
    ],
    ids=["duplicate-order", "unknown-option", "unknown-option-2", "sgd-lr-0", "optimizer-typo"],
)
def test_bad_solver_options_raise_one_clear_error(make, words):
    with pytest.raises(ConfigError) as info:
        make()
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_errors_that_need_the_game():
    game = games.make("rps")
    params = game.init_params(0)
    solver = solvers.make("alternating", player_order=["row", "column"])
    with pytest.raises(ConfigError, match="player_order.*'row', 'col'"):
        solver.step(game, params, solver.init(game, params), None)
    solver = solvers.make("simultaneous", optimizers={"rower": SGD(lr=0.1)})
    with pytest.raises(ConfigError, match="unknown players.*'rower'"):
        solver.init(game, params)


# --------------------------------------------------------------------------- optimizer cache
def test_optimizers_are_resolved_once_per_game_and_the_solver_still_pickles():
    import pickle

    solver = solvers.make("alternating", optimizers={"discriminator": {"name": "sgd", "lr": 0.3}})
    mog = games.make("mog", hidden=8, batch_size=16, latent_size=2)
    first = solver.optimizers(mog)
    assert solver.optimizers(mog) is first  # cached
    assert first["discriminator"] == SGD(lr=0.3) and first["generator"] == make_optimizer(mog.default_optimizers()["generator"])
    # another game gets its own players' optimizers, not the cached ones
    rps = games.make("rps")
    with pytest.raises(ConfigError, match="unknown players"):
        solver.optimizers(rps)
    plain = solvers.make("alternating")
    assert set(plain.optimizers(mog)) == {"generator", "discriminator"}
    assert set(plain.optimizers(rps)) == {"row", "col"}
    # solvers travel to worker processes: the weakly referenced cache is left behind
    params = mog.init_params(0)
    solver.step(mog, params, solver.init(mog, params), mog.sample(torch.Generator().manual_seed(0), "cpu"))
    copy_ = pickle.loads(pickle.dumps(solver))
    assert copy_.optimizers(mog) == first
