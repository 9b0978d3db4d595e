"""The benchmarks' hand-written baselines must compute what the toolkit computes, or the
ratios in docs/results/performance.md compare different work (float64, tiny MOG)."""
from __future__ import annotations

import torch

import games
import solvers
from games.mog import NOTEBOOK_SETTINGS
from benchmarks.baselines import HigherUnrolled, TorchOptimAlternating, nested_func_leader_gradient

# the benchmarks' configuration: the notebook's networks and its non-saturating generator loss
TINY = dict(NOTEBOOK_SETTINGS, hidden=8, batch_size=16, latent_size=4)
SGD_D = {"generator": {"name": "adam", "lr": 1e-3, "betas": [0.5, 0.999]}, "discriminator": {"name": "sgd", "lr": 0.1}}


def _setup():
    game = games.make("mog", **TINY)
    params = game.init_params(0, dtype=torch.float64)
    batch = {k: v.double() for k, v in game.sample(torch.Generator().manual_seed(0), "cpu").items()}
    return game, params, batch


def _rel(a, b) -> float:
    a, b = torch.cat([t.reshape(-1) for t in a]), torch.cat([t.reshape(-1) for t in b])
    return float((a - b).norm() / b.norm())


def test_the_three_unrolled_generator_gradients_agree():
    game, params, batch = _setup()
    solver = solvers.make("unrolled", unroll_steps=3, optimizers=SGD_D)
    state, opts = solver.init(game, params), solver.optimizers(game)
    toolkit = solver.leader_gradient(game, params, state, batch, "generator", ["discriminator"], opts)
    previous = nested_func_leader_gradient(game, params, state, batch, "generator", ["discriminator"], opts, 3)
    hand = HigherUnrolled(game, params, SGD_D, 3).generator_gradient(batch)[0]
    assert _rel(list(previous.values()), list(toolkit.values())) <= 1e-12
    assert _rel(hand, list(toolkit.values())) <= 1e-10


def test_the_hand_written_alternating_loop_takes_the_toolkits_steps():
    game, params, batch = _setup()
    solver = solvers.make("alternating")
    state = solver.init(game, params)
    hand = TorchOptimAlternating(game, params, game.default_optimizers())
    for _ in range(3):
        params, state, _ = solver.step(game, params, state, batch)
        hand.step(batch)
    assert _rel(list(hand.G.parameters()), list(params["generator"].values())) <= 1e-12
    assert _rel(list(hand.D.parameters()), list(params["discriminator"].values())) <= 1e-12


def test_the_hand_written_appendix_loop_takes_the_toolkits_steps():
    """The paper's App. A configuration (alternating, saturating loss), K = 0 and K = 2: the
    hand-written loop of benchmarks/paper_mog.py and the toolkit take the same four steps
    (SGD discriminator: higher's Adam puts ε elsewhere)."""
    from benchmarks.paper_mog import HandWrittenAppendix

    game = games.make("mog", hidden=8, batch_size=16, latent_size=4)
    params0 = game.init_params(0, dtype=torch.float64)
    gen = torch.Generator().manual_seed(1)
    batches = [{k: v.double() for k, v in game.sample(gen, "cpu").items()} for _ in range(4)]
    for K in (0, 2):
        solver = solvers.make("unrolled", unroll_steps=K, schedule="alternating", optimizers=SGD_D)
        params, state = params0, solver.init(game, params0)
        hand = HandWrittenAppendix(game, params0, SGD_D, K)
        for batch in batches:
            params, state, _ = solver.step(game, params, state, batch)
            hand.step(batch)
        for player, theirs in hand.params().items():
            assert _rel(list(params[player].values()), list(theirs.values())) <= 1e-10, (K, player)
        assert _rel(list(params["generator"].values()), list(params0["generator"].values())) > 1e-4
