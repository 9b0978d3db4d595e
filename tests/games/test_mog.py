"""Tests of the mixture-of-Gaussians GAN (games/mog.py) and its mode-collapse metrics."""
from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import games
import solvers
from games.base import Game
from diffgames.metrics.modes import mode_metrics
from games.mog import METRIC_NAMES, MixtureOfGaussians, grid_centers, ring_centers

TINY = dict(hidden=16, batch_size=64, latent_size=4)
CASES = Path(__file__).resolve().parents[2] / "cases"


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def mixture_samples(centers: torch.Tensor, std: float, n: int, seed: int) -> torch.Tensor:
    """Exact draws of the mixture, independent of the game's own sampler; equal counts
    per mode (n divisible by the number of modes) so the histogram is exactly uniform."""
    m = centers.shape[0]
    idx = torch.arange(n) % m
    return centers[idx] + std * torch.randn(n, 2, generator=gen(seed), dtype=centers.dtype)


# ---------------------------------------------------------------- layouts
def test_ring_has_distinct_centers_at_radius_2():
    game = games.make("mog", layout="ring")
    c = game.centers
    assert c.shape == (8, 2)
    torch.testing.assert_close(c.norm(dim=1), torch.full((8,), 2.0, dtype=c.dtype))
    gaps = torch.cdist(c, c) + torch.eye(8, dtype=c.dtype) * 100
    # neighbours on a radius-2 octagon are 2·2·sin(π/8) ≈ 1.53 apart; no two coincide
    assert gaps.min() == pytest.approx(4 * math.sin(math.pi / 8), rel=1e-9)
    assert game.std == 0.02


def test_grid_has_the_25_centres():
    game = games.make("mog", layout="grid")
    expected = {(float(x), float(y)) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)}
    got = {(float(x), float(y)) for x, y in game.centers.tolist()}
    assert got == expected and game.centers.shape == (25, 2)
    assert game.std == 0.05


def test_settable_modes_radius_std():
    game = games.make("mog", modes=5, radius=3.0, std=0.1)
    assert game.centers.shape == (5, 2) and game.std == 0.1
    torch.testing.assert_close(game.centers.norm(dim=1), torch.full((5,), 3.0, dtype=torch.float64))
    assert grid_centers(9, 1.0).abs().max() == 1.0 and grid_centers(9, 1.0).shape == (9, 2)


@pytest.mark.parametrize(
    "options, words",
    [
        (dict(layout="square"), ["layout", "ring", "grid"]),
        (dict(std=-1), ["std", "positive"]),
        (dict(modes=0), ["modes", "positive"]),
        (dict(layout="grid", modes=24), ["square", "modes=25"]),
        (dict(radius=0.0), ["radius", "positive"]),
        (dict(generator_loss="wasserstein"), ["generator_loss", "saturating"]),
        (dict(hiden=8), ["hidden"]),
    ],
)
def test_bad_options_raise_config_error(options, words):
    with pytest.raises(games.ConfigError) as info:
        games.make("mog", **options)
    for word in words:
        assert word in str(info.value)


# ---------------------------------------------------------------- metrics
def test_samples_on_three_modes_cover_three():
    centers = ring_centers(8, 2.0)
    samples = mixture_samples(centers[[0, 3, 5]], 0.02, 300, seed=0)
    m = mode_metrics(samples, centers, 0.02)
    assert m["modes_covered"] == 3 and m["modes_covered_1pct"] == 3
    assert m["hq_fraction"] > 0.95
    assert m["reverse_kl"] == pytest.approx(math.log(8 / 3), abs=0.02)


def test_uniform_noise_is_low_quality():
    centers = grid_centers(25, 4.0)
    samples = (torch.rand(2500, 2, generator=gen(1), dtype=torch.float64) - 0.5) * 20
    m = mode_metrics(samples, centers, 0.05)
    # the 25 discs of radius 0.15 cover ~1.8 of the 400 square units: ~0.4% of the samples
    assert m["hq_fraction"] < 0.01


@pytest.mark.parametrize("layout, modes", [("ring", 8), ("grid", 25)])
def test_exact_mixture_samples_cover_all_modes(layout, modes):
    game = games.make("mog", layout=layout)
    samples = mixture_samples(game.centers, game.std, 2500 - 2500 % modes, seed=2)
    m = mode_metrics(samples, game.centers, game.std)
    assert m["modes_covered"] == modes and m["modes_covered_1pct"] == modes
    assert m["hq_fraction"] > 0.98  # a 2-D Gaussian puts 98.9% of its mass within 3σ
    assert m["reverse_kl"] < 0.01


def test_game_sampler_draws_the_mixture():
    game = games.make("mog", layout="grid", batch_size=2500, latent_size=2)
    real = game.sample(gen(3), "cpu")["real"]
    m = mode_metrics(real, game.centers, game.std)
    assert m["modes_covered"] == 25 and m["hq_fraction"] > 0.98 and m["reverse_kl"] < 0.03


def test_no_high_quality_samples_gives_log_m():
    samples = torch.full((10, 2), 50.0)
    m = mode_metrics(samples, ring_centers(8, 2.0), 0.02)
    assert m == {"hq_fraction": 0.0, "modes_covered": 0, "modes_covered_1pct": 0, "reverse_kl": math.log(8),
                 "top_mode": -1, "top_mode_share": 0.0, **{f"mode_share_{j}": 0.0 for j in range(8)}}


def test_one_percent_rule_ignores_stray_samples():
    centers = ring_centers(8, 2.0)
    samples = torch.cat([centers[[0]].repeat(995, 1), centers[[1, 2, 3, 4, 5]]])  # 5 strays
    m = mode_metrics(samples, centers, 0.02)
    assert m["modes_covered"] == 6 and m["modes_covered_1pct"] == 1


@settings(max_examples=40, deadline=None)
@given(
    subset=st.sets(st.integers(0, 24), min_size=1, max_size=25),
    per_mode=st.integers(1, 20),
    outliers=st.integers(0, 30),
)
def test_metrics_of_equal_mass_on_a_subset(subset, per_mode, outliers):
    """k modes holding c exact samples each plus far outliers: covered = k,
    reverse KL = log(25/k), hq share = kc/(kc + outliers)."""
    centers = grid_centers(25, 4.0)
    chosen = torch.tensor(sorted(subset))
    on_modes = centers[chosen].repeat_interleave(per_mode, dim=0)
    far = torch.full((outliers, 2), 1.0)  # 1.0 is ≥ 1 from every grid node: > 3σ = 0.15
    samples = torch.cat([on_modes, far])
    m = mode_metrics(samples, centers, 0.05)
    k, n = len(subset), len(subset) * per_mode + outliers
    assert m["modes_covered"] == k
    assert m["hq_fraction"] == pytest.approx(k * per_mode / n)
    assert m["reverse_kl"] == pytest.approx(math.log(25 / k), abs=1e-9)
    assert m["modes_covered_1pct"] == (k if per_mode >= 0.01 * n else 0)


# ---------------------------------------------------------------- sampling and losses
def test_sample_is_deterministic_and_on_device_dtype():
    game = games.make("mog", **TINY)
    a, b = game.sample(gen(7), "cpu"), game.sample(gen(7), "cpu")
    c = game.sample(gen(8), "cpu")
    assert set(a) == {"real", "z"}
    assert a["real"].shape == (64, 2) and a["z"].shape == (64, 4)
    for key in a:
        assert torch.equal(a[key], b[key]) and not torch.equal(a[key], c[key])
        assert a[key].device.type == "cpu" and a[key].dtype == torch.float32
    d = game.sample(gen(7), torch.device("cpu"), dtype=torch.float64)
    assert d["z"].dtype == d["real"].dtype == torch.float64
    assert torch.equal(d["real"], game.sample(gen(7), "cpu", dtype=torch.float64)["real"])


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_sample_and_losses_on_cuda():
    game = games.make("mog", **TINY)
    params = game.init_params(0, device="cuda")
    batch = game.sample(gen(0), "cuda")
    assert all(v.device.type == "cuda" for v in batch.values())
    losses = game.losses(params, batch)
    assert all(l.device.type == "cuda" and torch.isfinite(l) for l in losses.values())
    assert set(game.evaluate(params, torch.Generator(device="cuda").manual_seed(0))) == set(METRIC_NAMES)


def test_losses_are_finite_scalars_and_match_two_pass_reference():
    game = games.make("mog", generator_loss="non-saturating", **TINY)
    params, batch = game.init_params(0), game.sample(gen(0), "cpu")
    losses = game.losses(params, batch)
    assert set(losses) == {"generator", "discriminator"}
    assert all(l.ndim == 0 and torch.isfinite(l) for l in losses.values())
    # the single discriminator pass on cat(real, fake) equals two separate passes
    fake = game.call("generator", params, batch["z"])
    d_real, d_fake = (torch.sigmoid(game.call("discriminator", params, x)) for x in (batch["real"], fake))
    d_ref = -(torch.log(d_real).mean() + torch.log(1 - d_fake).mean())
    torch.testing.assert_close(losses["discriminator"], d_ref)
    torch.testing.assert_close(losses["generator"], -torch.log(d_fake).mean())


def test_losses_run_the_discriminator_once():
    game = games.make("mog", **TINY)
    calls = []
    handle = game.players["discriminator"].register_forward_hook(lambda m, a, out: calls.append(a[0].shape[0]))
    try:
        game.losses(game.init_params(0), game.sample(gen(0), "cpu"))
    finally:
        handle.remove()
    assert calls == [2 * 64]  # one pass over cat(real, fake), not two


@pytest.mark.parametrize("generator_loss, d_rows", [("non-saturating", [64]), ("saturating", [2 * 64])])
def test_generator_loss_alone_equals_the_full_losses(generator_loss, d_rows):
    # alternating descent's generator step asks for the generator's loss only: the
    # non-saturating one needs the discriminator on the 64 fake rows, not on real + fake
    game = games.make("mog", generator_loss=generator_loss, **TINY)
    params, batch = game.init_params(0, dtype=torch.float64), game.sample(gen(0), "cpu")
    calls = []
    handle = game.players["discriminator"].register_forward_hook(lambda m, a, out: calls.append(a[0].shape[0]))
    try:
        alone = game.losses_of(params, batch, ("generator",))
    finally:
        handle.remove()
    assert calls == d_rows
    torch.testing.assert_close(alone["generator"], game.losses(params, batch)["generator"], rtol=1e-12, atol=0)


def test_alternating_step_equals_the_one_through_full_losses():
    """The generator-only loss changes the work, not the step (float64)."""
    game = games.make("mog", **TINY)
    params, batch = game.init_params(3, dtype=torch.float64), game.sample(gen(3), "cpu")

    class FullLossesOnly(type(game)):
        def losses_of(self, params, batch, players):
            return self.losses(params, batch)

    full = games.make("mog", **TINY)
    full.__class__ = FullLossesOnly
    solver = solvers.make("alternating", optimizers=solvers.Adam(lr=1e-2))
    fast, _, fast_info = solver.step(game, params, solver.init(game, params), batch)
    slow, _, slow_info = solver.step(full, params, solver.init(full, params), batch)
    for p in fast:
        for k in fast[p]:
            torch.testing.assert_close(fast[p][k], slow[p][k], rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(fast_info["losses"]["generator"], slow_info["losses"]["generator"], rtol=1e-12, atol=0)


def test_saturating_generator_loss_differs():
    ns = games.make("mog", generator_loss="non-saturating", **TINY)
    sat = games.make("mog", **TINY)  # the paper's default
    params, batch = ns.init_params(0), ns.sample(gen(0), "cpu")
    l_ns, l_sat = ns.losses(params, batch), sat.losses(params, batch)
    torch.testing.assert_close(l_ns["discriminator"], l_sat["discriminator"])
    assert not torch.allclose(l_ns["generator"], l_sat["generator"])
    torch.testing.assert_close(l_sat["generator"], -l_sat["discriminator"])  # the minimax value
    assert l_sat["generator"] < 0 < l_ns["generator"]


def test_discriminator_loss_decreases_under_adam():
    game = games.make("mog", **TINY)
    params = game.init_params(0)
    batch = game.sample(gen(0), "cpu")
    disc = {k: v.clone().requires_grad_() for k, v in params["discriminator"].items()}
    opt = torch.optim.Adam(disc.values(), lr=1e-2)
    first = None
    for _ in range(30):
        loss = game.losses({**params, "discriminator": disc}, batch)["discriminator"]
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    last = game.losses({**params, "discriminator": disc}, batch)["discriminator"].item()
    assert last < first - 0.1


def test_interaction_graph_matches_derived_one():
    game = games.make("mog", **TINY)
    assert sorted(game.interaction_graph().edges) == sorted(Game.interaction_graph(game).edges)


def test_default_optimizers_follow_reference():
    opts = games.make("mog", **TINY).default_optimizers()
    assert opts["generator"]["lr"] == 1e-4 and opts["discriminator"]["lr"] == 1e-4  # App. A
    assert all(o["name"] == "adam" and list(o["betas"]) == [0.5, 0.999] for o in opts.values())
    ref = MixtureOfGaussians()
    assert (ref.batch_size, ref.latent_size, ref.players["generator"].sizes) == (512, 256, [256, 128, 128, 2])
    assert ref.players["discriminator"].sizes == [2, 128, 1] and ref.players["discriminator"].gain == 0.8


# ---------------------------------------------------------------- solvers, evaluate, draw
SOLVER_OPTIONS = {"unrolled": {"unroll_steps": 2}}


@pytest.mark.parametrize("name", solvers.available())
def test_short_run_of_every_solver(name):
    game = games.make("mog", **TINY)
    solver = solvers.make(name, **SOLVER_OPTIONS.get(name, {}))
    params = game.init_params(0)
    state = solver.init(game, params)
    g = gen(0)
    for _ in range(20):
        params, state, info = solver.step(game, params, state, game.sample(g, "cpu"))
        assert all(torch.isfinite(l) for l in info["losses"].values())
    metrics = game.evaluate(params, gen(1))
    assert game.metric_names() == METRIC_NAMES
    assert set(METRIC_NAMES) <= set(metrics) | set(game.history_metrics([metrics]))
    assert all(isinstance(v, (int, float)) and math.isfinite(v) for v in metrics.values())
    assert 0.0 <= metrics["hq_fraction"] <= 1.0 and 0 <= metrics["modes_covered"] <= 8


def test_evaluate_is_deterministic_given_the_generator():
    game = games.make("mog", **TINY)
    params = game.init_params(0)
    assert game.evaluate(params, gen(5)) == game.evaluate(params, gen(5))


def test_float64_params_run():
    game = games.make("mog", **TINY)
    params = game.init_params(0, dtype=torch.float64)
    losses = game.losses(params, game.sample(gen(0), "cpu", dtype=torch.float64))
    assert all(l.dtype == torch.float64 for l in losses.values())
    metrics = game.evaluate(params, gen(0))
    assert set(metrics) | set(game.history_metrics([metrics])) == {*METRIC_NAMES, "top_mode",
                                                                     *(f"mode_share_{j}" for j in range(8))}


def test_draw_marks_modes_with_fixed_limits():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    game = games.make("mog", layout="grid", **TINY)
    fig, ax = plt.subplots()
    try:
        game.draw(game.init_params(0), ax, gen(0))
        samples, modes = ax.collections
        assert len(samples.get_offsets()) == game.eval_samples and len(modes.get_offsets()) == 25
        lo, hi = ax.get_xlim()
        assert lo == -hi and hi > 4 and ax.get_ylim() == (lo, hi)
    finally:
        plt.close(fig)


# ---------------------------------------------------------------- case files
@pytest.mark.parametrize("name, steps, labels", [
    ("metz2016-mog-ring", 30000, ["unrolled-k0", "unrolled-k1", "unrolled-k5", "unrolled-k10", "maximin-k5"]),
    ("metz2016-mog-ring-notebook", 25000, ["unrolled-k0", "unrolled-k1", "unrolled-k5", "unrolled-k10"]),
    ("metz2016-mog-grid", 25000, ["unrolled-k0", "unrolled-k1", "unrolled-k5", "unrolled-k10"]),
])
def test_case_files_are_consistent(name, steps, labels):
    path = CASES / f"{name}.toml"
    case = tomllib.loads(path.read_text())
    assert case["name"] == path.stem
    assert case["game"]["name"] == "mog"
    game = games.make("mog", **case["game"]["options"])
    assert [s["label"] for s in case["solvers"]] == labels
    for s in case["solvers"]:
        solver = solvers.make(s["name"], **s["options"])
        prefix = "maximin" if solver.leaders == ["discriminator"] else "unrolled"
        assert s["label"] == f"{prefix}-k{solver.unroll_steps}" and solver.second_order
        # the paper's case alternates (App. A); the notebook's cases update both players at once
        assert solver.schedule == ("alternating" if name == "metz2016-mog-ring" else "simultaneous")
    run = case["run"]
    assert run["steps"] == steps and run["seeds"] == [0, 1, 2, 3, 4]
    assert run["snapshot_steps"][0] == 0 and run["snapshot_steps"][-1] == run["steps"]
    for claim in case["claims"]:
        assert claim["solver"] in labels and claim["metric"] in game.metric_names()
        assert claim["op"] in (">=", ">", "<=", "<", "==")
        if "than" in claim:  # a comparison claim: the other solver's share, not a fixed one
            assert claim["than"] in labels and "share" not in claim
        else:
            assert 0 < claim["share"] <= 1
        assert claim["description"].startswith(("strict:", "lenient:", "rotation:", "quality:"))
    # the strict count leads
    assert case["claims"][0]["metric"] == "modes_covered_1pct"


def test_draw_shows_samples_outside_the_limits_on_the_edge():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    game = games.make("mog", **TINY)
    params = game.init_params(0)
    params["generator"] = {k: v.clone() for k, v in params["generator"].items()}
    last_bias = [k for k in params["generator"] if k.endswith("bias")][-1]
    params["generator"][last_bias] += torch.tensor([50.0, 0.0])  # every sample far right of the limits
    fig, ax = plt.subplots()
    try:
        game.draw(params, ax, gen(0))
        inside, edge, modes = ax.collections
        assert len(inside.get_offsets()) + len(edge.get_offsets()) == game.eval_samples
        assert len(edge.get_offsets()) > 0 and (abs(edge.get_offsets()) <= game.limits() + 1e-9).all()
        assert any("outside" in t.get_text() for t in ax.texts)
    finally:
        plt.close(fig)
