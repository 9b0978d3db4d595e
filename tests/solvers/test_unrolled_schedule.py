"""The unrolled solver's schedules and unroll data against a reference written here,
independently of :mod:`solvers.unroll` and :mod:`solvers.optim`: the MOG GAN's losses from
the raw weight matrices, Adam written out, the unroll differentiated with
``torch.autograd.grad(create_graph=True)``; float64, tiny networks, to 1e-10.

The paper's experiments (Metz et al. 2017, App. A) alternate: one step updates the
discriminator, the next the generator through K unrolled discriminator steps.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import games
import solvers
from diffgames.errors import ConfigError
from solvers import Adam

F64 = torch.float64
LR, BETAS, EPS = 0.01, (0.5, 0.999), 1e-8
TINY = {"latent_size": 3, "hidden": 5, "activation": "tanh", "batch_size": 7, "eval_samples": 50}


# --------------------------------------------------------------------------- the reference
def mlp(weights: dict, x, scale: float = 1.0):
    """A tanh MLP from its ``net.<i>.weight/bias`` entries, the output layer linear."""
    layers = sorted({int(k.split(".")[1]) for k in weights})
    h = x * scale
    for n, i in enumerate(layers):
        h = h @ weights[f"net.{i}.weight"].T + weights[f"net.{i}.bias"]
        if n < len(layers) - 1:
            h = torch.tanh(h)
    return h


def gan_losses(g, d, batch, scale, saturating):
    fake = mlp(g, batch["z"].to(F64))
    real_logit = mlp(d, batch["real"].to(F64), scale).squeeze(-1)
    fake_logit = mlp(d, fake, scale).squeeze(-1)
    d_loss = F.softplus(-real_logit).mean() + F.softplus(fake_logit).mean()
    g_loss = -d_loss if saturating else F.softplus(-fake_logit).mean()
    return g_loss, d_loss


class HandAdam:
    """Adam (Kingma & Ba 2015, Alg. 1) with torch.optim.Adam's ε after the bias correction."""

    def __init__(self, params):
        self.m = {k: torch.zeros_like(v) for k, v in params.items()}
        self.v = {k: torch.zeros_like(v) for k, v in params.items()}
        self.t = 0

    def copy(self):
        other = HandAdam({})
        other.m, other.v, other.t = dict(self.m), dict(self.v), self.t
        return other

    def step(self, params, grads):
        self.t += 1
        out = {}
        for k, theta in params.items():
            self.m[k] = BETAS[0] * self.m[k] + (1 - BETAS[0]) * grads[k]
            self.v[k] = BETAS[1] * self.v[k] + (1 - BETAS[1]) * grads[k] ** 2
            m_hat = self.m[k] / (1 - BETAS[0] ** self.t)
            v_hat = self.v[k] / (1 - BETAS[1] ** self.t)
            out[k] = theta - LR * m_hat / (torch.sqrt(v_hat) + EPS)
        return out


def grad(loss, params, create_graph=False):
    keys = list(params)
    return dict(zip(keys, torch.autograd.grad(loss, [params[k] for k in keys], create_graph=create_graph)))


def leaves(params):
    return {k: v.detach().clone().requires_grad_() for k, v in params.items()}


def surrogate_step(leader, params, adams, batch, unroll_batches, K, scale, saturating):
    """The leader's new weights after one surrogate step: K follower steps unrolled (each
    on ``unroll_batches[k]``) from the followers' Adam state, the leader's loss there on
    ``batch``, differentiated through the unroll (Metz et al. 2016, Eqs. 11-13)."""
    follower = "discriminator" if leader == "generator" else "generator"
    own = leaves(params[leader])
    theta = leaves(params[follower])
    adam = adams[follower].copy()
    pick = {"generator": 0, "discriminator": 1}
    for k in range(K):
        both = {leader: own, follower: theta}
        loss = gan_losses(both["generator"], both["discriminator"], unroll_batches[k], scale, saturating)[pick[follower]]
        theta = adam.step(theta, grad(loss, theta, create_graph=True))
    both = {leader: own, follower: theta}
    loss = gan_losses(both["generator"], both["discriminator"], batch, scale, saturating)[pick[leader]]
    return adams[leader].step({k: v.detach() for k, v in own.items()}, {k: v.detach() for k, v in grad(loss, own).items()})


def plain_step(player, params, adams, batch, scale, saturating):
    theta = {p: leaves(ps) for p, ps in params.items()}
    loss = gan_losses(theta["generator"], theta["discriminator"], batch, scale, saturating)[
        0 if player == "generator" else 1]
    return adams[player].step({k: v.detach() for k, v in theta[player].items()},
                              {k: v.detach() for k, v in grad(loss, theta[player]).items()})


# --------------------------------------------------------------------------- helpers
def setup(saturating=True, **options):
    game = games.make("mog", **TINY, generator_loss="saturating" if saturating else "non-saturating")
    opt = Adam(lr=LR, betas=BETAS, eps=EPS)
    solver = solvers.make("unrolled", optimizers=opt, **options)
    params = game.init_params(3, dtype=F64)
    return game, solver, params, solver.init(game, params)


def gap(a, b) -> float:
    a = torch.cat([v.reshape(-1) for v in a.values()])
    b = torch.cat([v.reshape(-1) for v in b.values()])
    return float((a - b).norm() / b.norm())


def run_steps(game, solver, params, state, generator, steps):
    batches = []
    for _ in range(steps):
        batch = solver.sample_batch(game, generator, "cpu", state)
        batches.append(batch)
        params, state, info = solver.step(game, params, state, batch)
    return params, state, batches


# --------------------------------------------------------------------------- the tests
@pytest.mark.parametrize("saturating", [True, False])
@pytest.mark.parametrize("data", ["reuse", "fresh"])
@pytest.mark.parametrize("K", [1, 3])
def test_alternating_pair_equals_the_reference(K, data, saturating):
    """Step 1 updates the discriminator on its batch; step 2 the generator through K
    unrolled discriminator steps (from the discriminator's new weights and Adam state)."""
    game, solver, params, state = setup(saturating, unroll_steps=K, schedule="alternating", unroll_data=data)
    new, state, batches = run_steps(game, solver, params, state, torch.Generator().manual_seed(5), 2)
    assert int(state["updates"]) == 2
    d_batch, g_data = batches
    g_batch, unroll = (g_data["batch"], g_data["unroll"]) if data == "fresh" else (g_data, [g_data] * K)
    assert set(d_batch) == {"real", "z"}  # the discriminator's step: one plain batch
    adams = {p: HandAdam(params[p]) for p in params}
    scale = game.networks["discriminator"]["input_scale"]
    d_new = plain_step("discriminator", params, adams, d_batch, scale, saturating)
    g_new = surrogate_step("generator", {"generator": params["generator"], "discriminator": d_new}, adams,
                           g_batch, unroll, K, scale, saturating)
    assert gap(new["discriminator"], d_new) <= 1e-10
    assert gap(new["generator"], g_new) <= 1e-10
    assert gap(new["generator"], params["generator"]) > 1e-4  # the step moved it: not a trivial match


@pytest.mark.parametrize("K", [1, 3])
def test_fresh_and_reused_unrolls_differ(K):
    """The two data options give different generator steps: the test above compares
    two different computations."""
    out = {}
    for data in ("reuse", "fresh"):
        game, solver, params, state = setup(unroll_steps=K, schedule="alternating", unroll_data=data)
        out[data] = run_steps(game, solver, params, state, torch.Generator().manual_seed(5), 2)[0]
    assert gap(out["reuse"]["generator"], out["fresh"]["generator"]) > 1e-6


def test_maximin_unrolls_the_generator_for_the_discriminator():
    """leaders = discriminator: the generator steps first, then the discriminator through
    K unrolled generator steps (the maximin surrogate of the paper's footnote)."""
    K = 2
    game, solver, params, state = setup(unroll_steps=K, schedule="alternating", leaders="discriminator")
    new, state, (g_batch, d_batch) = run_steps(game, solver, params, state, torch.Generator().manual_seed(8), 2)
    adams = {p: HandAdam(params[p]) for p in params}
    scale = game.networks["discriminator"]["input_scale"]
    g_new = plain_step("generator", params, adams, g_batch, scale, True)
    d_new = surrogate_step("discriminator", {"generator": g_new, "discriminator": params["discriminator"]}, adams,
                           d_batch, [d_batch] * K, K, scale, True)
    assert gap(new["generator"], g_new) <= 1e-10
    assert gap(new["discriminator"], d_new) <= 1e-10


@pytest.mark.parametrize("saturating", [True, False])
def test_simultaneous_fresh_equals_the_reference(saturating):
    """The paper's equations with a fresh batch per unrolled step: the discriminator's plain
    step and the generator's surrogate both at θ_t, the surrogate on the step's batch."""
    K = 2
    game, solver, params, state = setup(saturating, unroll_steps=K, unroll_data="fresh")
    new, state, (data,) = run_steps(game, solver, params, state, torch.Generator().manual_seed(2), 1)
    assert len(data["unroll"]) == K
    adams = {p: HandAdam(params[p]) for p in params}
    scale = game.networks["discriminator"]["input_scale"]
    # the unroll starts from the discriminator's Adam state at θ_t: before its own update
    g_new = surrogate_step("generator", params, adams, data["batch"], data["unroll"], K, scale, saturating)
    d_new = plain_step("discriminator", params, adams, data["batch"], scale, saturating)
    assert gap(new["discriminator"], d_new) <= 1e-10
    assert gap(new["generator"], g_new) <= 1e-10


@pytest.mark.parametrize("saturating", [True, False])
def test_alternating_k0_equals_the_alternating_solver_exactly(saturating):
    game, solver, params, state = setup(saturating, unroll_steps=0, schedule="alternating")
    batch = game.sample(torch.Generator().manual_seed(1), "cpu")
    ours = params
    for _ in range(2):
        ours, state, info = solver.step(game, ours, state, batch)
    reference = solvers.make("alternating", player_order=["discriminator", "generator"],
                             optimizers=Adam(lr=LR, betas=BETAS, eps=EPS))
    theirs, _, their_info = reference.step(game, params, reference.init(game, params), batch)
    for p in params:
        for k in params[p]:
            assert torch.equal(ours[p][k], theirs[p][k]), (p, k)
    assert "generator" in info["losses"]  # the second step moved the generator and reports its loss


def test_fresh_sampling_draws_k_batches_on_the_leaders_steps_only():
    game, solver, params, state = setup(unroll_steps=4, schedule="alternating", unroll_data="fresh")
    gen = torch.Generator().manual_seed(0)
    first = solver.sample_batch(game, gen, "cpu", state)
    assert set(first) == {"real", "z"}
    _, state, _ = solver.step(game, params, state, first)
    second = solver.sample_batch(game, gen, "cpu", state)
    assert set(second) == {"batch", "unroll"} and len(second["unroll"]) == 4


@pytest.mark.parametrize("options, words", [
    ({"schedule": "sideways"}, "'schedule' must be"),
    ({"unroll_data": "new"}, "'unroll_data' must be"),
    ({"unroll_data": "fresh", "checkpoint_every": 2}, "checkpoint_every works with unroll_data='reuse'"),
])
def test_bad_options_are_one_line(options, words):
    with pytest.raises(ConfigError) as err:
        solvers.make("unrolled", unroll_steps=2, **options)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_alternating_is_neither_compiled_nor_stacked():
    solver = solvers.make("unrolled", unroll_steps=2, schedule="alternating")
    assert not solver.capabilities.compilable and not solver.capabilities.vectorizable
    assert solver.functional_step(games.make("mog", **TINY)) is None
