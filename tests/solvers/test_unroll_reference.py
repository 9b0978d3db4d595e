"""Every implementation of the unrolled surrogate gradient (Metz et al. 2016, Eq. 13)
equals :func:`solvers.unroll.reference_leader_gradient`, the line-by-line transcription of
Eqs. 11-13, in float64 to 1e-10 relative: the fast eager path, the ``torch.func`` path, the
``higher`` backend (where its update rule is ours), the compiled step's functional form,
and the vectorized step on stacked seeds."""
from __future__ import annotations

import pytest
import torch

import solvers
from diffgames.errors import ConfigError
from arena.runs.stacked import StackedGame, stack_trees
from solvers import SGD, Adam
from solvers.unroll import leader_gradient_higher, reference_leader_gradient, unroll_autograd, unroll_func

F64 = torch.float64
OPTIMIZERS = {"sgd": SGD(lr=0.1), "momentum": SGD(lr=0.1, momentum=0.9), "nesterov": SGD(lr=0.1, momentum=0.9, nesterov=True),
              "adam": Adam(lr=0.05, betas=(0.5, 0.999))}


def _flat(tree) -> torch.Tensor:
    return torch.cat([v.reshape(-1) for v in tree.values()])


def _rel(a, b) -> float:
    return float((_flat(a) - _flat(b)).norm() / _flat(b).norm())


def _setup(tiny_gan, optimizer, K):
    game = tiny_gan(latent=3, hidden=6, batch_size=12, dtype=F64)
    solver = solvers.make("unrolled", unroll_steps=K, optimizers=optimizer)
    params = game.init_params(1, dtype=F64)
    state = solver.init(game, params)
    generator = torch.Generator().manual_seed(0)
    for _ in range(2):  # a follower optimizer state that is not the initial one
        params, state, _ = solver.step(game, params, state, game.sample(generator))
    return game, solver, params, state, game.sample(generator), solver.optimizers(game)


@pytest.mark.parametrize("second_order", [True, False])
@pytest.mark.parametrize("K", [1, 4])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_eager_and_func_paths_equal_the_reference(tiny_gan, name, K, second_order):
    game, solver, params, state, batch, opts = _setup(tiny_gan, OPTIMIZERS[name], K)
    reference = reference_leader_gradient(game, params, state, batch, "gen", ["disc"], opts, K, second_order)
    assert _flat(reference).norm() > 1e-3
    eager = unroll_autograd(game, params, state, batch, ["gen"], ["disc"], opts, K, second_order)[0]["gen"]
    func = unroll_func(game, params, state, batch, "gen", ["disc"], opts, K, second_order)[0]
    assert _rel(eager, reference) <= 1e-10
    assert _rel(func, reference) <= 1e-10


def test_the_second_term_of_eq_13_is_there(tiny_gan):
    """The reference's first- and second-order gradients differ: the test above compares
    two different quantities, not one twice."""
    game, solver, params, state, batch, opts = _setup(tiny_gan, OPTIMIZERS["adam"], 4)
    first = reference_leader_gradient(game, params, state, batch, "gen", ["disc"], opts, 4, second_order=False)
    second = reference_leader_gradient(game, params, state, batch, "gen", ["disc"], opts, 4, second_order=True)
    assert _rel(first, second) > 1e-3


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov"])
def test_higher_backend_equals_the_reference(tiny_gan, name):
    game, solver, params, state, batch, opts = _setup(tiny_gan, OPTIMIZERS[name], 3)
    reference = reference_leader_gradient(game, params, state, batch, "gen", ["disc"], opts, 3)
    assert _rel(leader_gradient_higher(game, params, state, batch, "gen", ["disc"], opts, 3), reference) <= 1e-10


@pytest.mark.parametrize("backend", ["func", "higher"])
def test_the_solver_step_uses_the_reference_gradient(tiny_gan, backend):
    """One step of the solver = the followers' plain step and the leader's step along the
    reference gradient, with each player's own base optimizer."""
    game, solver, params, state, batch, opts = _setup(tiny_gan, OPTIMIZERS["momentum"], 3)
    solver.backend = backend
    new_params, new_state, _ = solver.step(game, params, state, batch)
    plain = solvers.player_gradients(game, params, batch)[0]
    grads = {"gen": reference_leader_gradient(game, params, state, batch, "gen", ["disc"], opts, 3),
             "disc": plain["disc"]}
    with torch.no_grad():
        expected, expected_state = solver.apply_updates(game, params, state, grads)
    for p in expected:
        assert _rel(new_params[p], expected[p]) <= 1e-10, p
    functional = solver.functional_step(game)
    if functional is not None:
        out = functional(params, state, batch)[0]
        assert all(_rel(out[p], expected[p]) <= 1e-10 for p in expected)


def test_the_stacked_step_uses_each_seeds_reference_gradient(tiny_gan):
    game, solver, params, state, batch, opts = _setup(tiny_gan, OPTIMIZERS["adam"], 3)
    seeds = [game.init_params(s, dtype=F64) for s in range(3)]
    batches = [game.sample(torch.Generator().manual_seed(10 + s)) for s in range(3)]
    stacked = StackedGame(game, 3)
    P = stack_trees(seeds)
    out = solver.step(stacked, P, solver.init(stacked, P), stack_trees(batches))[0]
    for s in range(3):
        single = solver.init(game, seeds[s])
        g = reference_leader_gradient(game, seeds[s], single, batches[s], "gen", ["disc"], opts, 3)
        grads = {"gen": g, "disc": solvers.player_gradients(game, seeds[s], batches[s])[0]["disc"]}
        with torch.no_grad():
            expected = solver.apply_updates(game, seeds[s], single, grads)[0]
        for p in expected:
            moved = {k: expected[p][k] - seeds[s][p][k] for k in expected[p]}
            error = {k: out[p][k][s] - expected[p][k] for k in expected[p]}
            assert float(_flat(error).norm()) <= 1e-10 * float(_flat(moved).norm()), (s, p)


@pytest.mark.parametrize("K, every", [(1, 1), (7, 1), (7, 3), (20, 4), (20, 20)])
@pytest.mark.parametrize("name", ["momentum", "adam"])
def test_checkpointed_unrolling_equals_the_reference(tiny_gan, name, K, every):
    """Storing the followers every few steps and recomputing the rest keeps the gradient."""
    from solvers.unroll import unroll_checkpointed

    game, solver, params, state, batch, opts = _setup(tiny_gan, OPTIMIZERS[name], K)
    reference = reference_leader_gradient(game, params, state, batch, "gen", ["disc"], opts, K)
    grads, losses = unroll_checkpointed(game, params, state, batch, ["gen"], ["disc"], opts, K, every)
    assert _rel(grads["gen"], reference) <= 1e-10
    plain, plain_losses = unroll_autograd(game, params, state, batch, ["gen"], ["disc"], opts, K, True)
    assert all(torch.equal(grads["disc"][k], plain["disc"][k]) for k in plain["disc"])
    assert all(torch.equal(losses[p], plain_losses[p]) for p in losses)


def test_the_checkpointed_solver_steps_like_the_plain_one(tiny_gan):
    game, solver, params, state, batch, opts = _setup(tiny_gan, OPTIMIZERS["adam"], 6)
    checkpointed = solvers.make("unrolled", unroll_steps=6, checkpoint_every=2, optimizers=OPTIMIZERS["adam"])
    a, b = solver.step(game, params, state, batch)[0], checkpointed.step(game, params, state, batch)[0]
    assert all(_rel(a[p], b[p]) <= 1e-10 for p in a)
    with pytest.raises(ConfigError, match="checkpoint_every"):
        solvers.make("unrolled", checkpoint_every=2, second_order=False)
