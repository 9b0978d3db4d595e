"""Behaviour of the game solvers on the classic games, their options, and the wrappers.

The bilinear game ``min_x max_y xᵀAy`` (equilibrium 0): simultaneous GD spirals out,
alternating GD circles, and the game-aware methods converge (Gidel et al. 2019;
Daskalakis et al. 2018; Mescheder et al. 2017; Balduzzi et al. 2018; Schäfer &
Anandkumar 2019). The random matrix uses seed 144: σ(A) ∈ [0.85, 2.11], so every method
converges within a few hundred steps at one fixed step size (the rates scale with
σ_min/σ_max).
"""
from __future__ import annotations

import pytest
import torch

import games
import solvers
from diffgames.errors import ConfigError

BILINEAR = [dict(matrix="identity", dim=4), dict(matrix="random", dim=4, seed=144)]


def distance(params) -> float:
    return float(torch.sqrt(sum((v**2).sum() for ps in params.values() for v in ps.values())))


def trajectory(game, solver, steps, seed=0, until=None):
    """Distances to 0 after each step (stops early once below ``until``)."""
    params = game.init_params(seed, dtype=torch.float64)
    state = solver.init(game, params)
    out = [distance(params)]
    for _ in range(steps):
        params, state, info = solver.step(game, params, state, None)
        out.append(distance(params))
        if until is not None and out[-1] < until:
            break
    return out


def sgd(lr):
    return {"name": "sgd", "lr": lr}


# --------------------------------------------------------------------------- bilinear
@pytest.mark.parametrize("options", BILINEAR, ids=["identity", "random"])
def test_bilinear_simultaneous_diverges(options):
    d = trajectory(games.make("bilinear", **options), solvers.make("simultaneous", optimizers=sgd(0.1)), 200)
    assert d[-1] > 2 * d[0]
    assert all(b > a for a, b in zip(d, d[1:]))  # every step moves out: |1 + iησ| > 1


@pytest.mark.parametrize("options", BILINEAR, ids=["identity", "random"])
def test_bilinear_alternating_stays_bounded_without_converging(options):
    d = trajectory(games.make("bilinear", **options), solvers.make("alternating", optimizers=sgd(0.1)), 500)
    assert max(d) < 1.5 * d[0] and min(d) > 0.5 * d[0]


CONVERGING = [  # (solver, options, steps bound); measured: identity / random steps to 1e-6
    ("extragradient", dict(optimizers=sgd(0.4)), 300),  # 209 / 256
    # with SGD, extrapolation from the past is optimistic GD (Gidel et al. 2019, Sec. 3)
    ("extragradient", dict(variant="past", optimizers=sgd(0.25)), 700),  # 434 / 567
    ("optimistic", dict(optimizers=sgd(0.25)), 700),  # 436 / 569
    ("consensus", dict(gamma=1.0, optimizers=sgd(0.2)), 150),  # 78 / 101
    ("sga", dict(lam=1.0, optimizers=sgd(0.2)), 150),  # 78 / 101
    ("cgd", dict(lr=1.0), 80),  # 44 / 51
]


@pytest.mark.parametrize("options", BILINEAR, ids=["identity", "random"])
@pytest.mark.parametrize("name,solver_options,bound", CONVERGING, ids=lambda v: v if isinstance(v, str) else None)
def test_bilinear_converges(options, name, solver_options, bound):
    d = trajectory(games.make("bilinear", **options), solvers.make(name, **solver_options), bound, until=1e-6)
    assert d[-1] < 1e-6, f"{name}: distance {d[-1]:.3g} after {len(d) - 1} steps"


# --------------------------------------------------------------------------- extragradient
def _gradients(game, params):
    grads, _ = solvers.player_gradients(game, params, None)
    return grads


def test_extragradient_standard_matches_hand_written_sgd():
    game = games.make("bilinear", matrix="random", dim=3, seed=1)
    params = game.init_params(0, dtype=torch.float64)
    solver = solvers.make("extragradient", optimizers=sgd(0.2))
    state = solver.init(game, params)
    theta = params
    for _ in range(4):
        params, state, _ = solver.step(game, params, state, None)
        g = _gradients(game, theta)
        half = {p: {"value": theta[p]["value"] - 0.2 * g[p]["value"]} for p in theta}
        g_half = _gradients(game, half)
        theta = {p: {"value": theta[p]["value"] - 0.2 * g_half[p]["value"]} for p in theta}
        for p in theta:
            torch.testing.assert_close(params[p]["value"], theta[p]["value"], rtol=1e-12, atol=1e-12)


def test_extragradient_past_matches_hand_written_sgd():
    """θ_{t+½} = θ_t − η F(θ_{t−½}), θ_{t+1} = θ_t − η F(θ_{t+½}), F(θ_{−½}) := F(θ_0)."""
    game = games.make("bilinear", matrix="random", dim=3, seed=1)
    params = game.init_params(0, dtype=torch.float64)
    solver = solvers.make("extragradient", variant="past", optimizers=sgd(0.2))
    state = solver.init(game, params)
    theta, past = params, _gradients(game, params)
    evaluations = 0
    for _ in range(5):
        params, state, _ = solver.step(game, params, state, None)
        half = {p: {"value": theta[p]["value"] - 0.2 * past[p]["value"]} for p in theta}
        past = _gradients(game, half)
        theta = {p: {"value": theta[p]["value"] - 0.2 * past[p]["value"]} for p in theta}
        for p in theta:
            torch.testing.assert_close(params[p]["value"], theta[p]["value"], rtol=1e-12, atol=1e-12)
        evaluations += 1
    # and it is not the standard method
    standard = solvers.make("extragradient", optimizers=sgd(0.2))
    p0 = game.init_params(0, dtype=torch.float64)
    s0 = standard.init(game, p0)
    for _ in range(5):
        p0, s0, _ = standard.step(game, p0, s0, None)
    assert not torch.allclose(p0["x"]["value"], params["x"]["value"])


def test_extra_adam_matches_torch_adam_reference():
    """ExtraAdam as Gidel et al.'s code does it with torch.optim.Adam: extrapolate with an
    Adam step, then restore θ_t and take a second Adam step (moments advance twice)."""
    game = games.make("bilinear", matrix="random", dim=3, seed=2)
    adam = {"name": "adam", "lr": 0.05, "betas": [0.5, 0.9]}
    params = game.init_params(0, dtype=torch.float64)
    solver = solvers.make("extragradient", optimizers=adam)
    state = solver.init(game, params)
    leaves = {p: params[p]["value"].clone().requires_grad_() for p in params}
    opts = {p: torch.optim.Adam([leaves[p]], lr=0.05, betas=(0.5, 0.9)) for p in leaves}

    def set_grads():
        losses = game.losses({p: {"value": leaves[p]} for p in leaves}, None)
        for p in leaves:
            leaves[p].grad = torch.autograd.grad(losses[p], leaves[p], retain_graph=True)[0]

    for _ in range(6):
        params, state, info = solver.step(game, params, state, None)
        copies = {p: leaves[p].detach().clone() for p in leaves}
        set_grads()
        for o in opts.values():
            o.step()
        set_grads()
        with torch.no_grad():
            for p in leaves:
                leaves[p].copy_(copies[p])
        for o in opts.values():
            o.step()
        for p in leaves:
            torch.testing.assert_close(params[p]["value"], leaves[p].detach(), rtol=1e-12, atol=1e-12)
    assert float(state["opt"]["x"]["step"]) == 12


def test_extra_adam_runs_on_a_gan(tiny_gan):
    game = tiny_gan()
    solver = solvers.make("extragradient", variant="past", optimizers={"name": "adam", "lr": 1e-3, "betas": [0.5, 0.999]})
    params = game.init_params(0, dtype=torch.float64)
    state = solver.init(game, params)
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        params, state, info = solver.step(game, params, state, game.sample(g, "cpu"))
    assert all(torch.isfinite(l) for l in info["losses"].values())
    assert all(torch.isfinite(v).all() for ps in params.values() for v in ps.values())


# --------------------------------------------------------------------------- lookahead
def _all_tensors(tree) -> bool:
    if isinstance(tree, dict):
        return all(_all_tensors(v) for v in tree.values())
    return isinstance(tree, torch.Tensor)


@pytest.mark.parametrize("inner,inner_options", [
    ("simultaneous", {"optimizers": {"name": "adam", "lr": 1e-2}}),
    ("extragradient", {"optimizers": sgd(0.1)}),
    ("consensus", {"gamma": 0.5}),
])
def test_lookahead_k1_alpha1_is_its_inner_solver(tiny_gan, inner, inner_options):
    game = tiny_gan()
    wrapped = solvers.make("lookahead", inner=inner, inner_options=inner_options, k=1, alpha=1.0)
    plain = solvers.make(inner, **inner_options)
    p1 = p2 = game.init_params(0, dtype=torch.float64)
    s1, s2 = wrapped.init(game, p1), plain.init(game, p2)
    g = torch.Generator().manual_seed(0)
    for _ in range(4):
        batch = game.sample(g, "cpu")
        p1, s1, _ = wrapped.step(game, p1, s1, batch)
        p2, s2, _ = plain.step(game, p2, s2, batch)
    for p in p1:
        for k in p1[p]:
            assert torch.equal(p1[p][k], p2[p][k])
    assert _all_tensors(s1)


def test_lookahead_k5_matches_hand_written_reference():
    game = games.make("bilinear", matrix="random", dim=3, seed=3)
    solver = solvers.make("lookahead", k=5, alpha=0.5, inner_options={"optimizers": sgd(0.1)})
    params = game.init_params(0, dtype=torch.float64)
    state = solver.init(game, params)
    fast = {p: params[p]["value"].clone() for p in params}
    slow = {p: v.clone() for p, v in fast.items()}
    for t in range(1, 13):
        params, state, info = solver.step(game, params, state, None)
        g = _gradients(game, {p: {"value": v} for p, v in fast.items()})
        fast = {p: fast[p] - 0.1 * g[p]["value"] for p in fast}
        if t % 5 == 0:
            slow = {p: slow[p] + 0.5 * (fast[p] - slow[p]) for p in slow}
            fast = {p: v.clone() for p, v in slow.items()}
        assert bool(info["lookahead_sync"]) == (t % 5 == 0)
        for p in fast:
            torch.testing.assert_close(params[p]["value"], fast[p], rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(state["slow"][p]["value"], slow[p], rtol=1e-12, atol=1e-12)
    assert int(state["count"]) == 12 and _all_tensors(state)


def test_lookahead_state_round_trips_through_torch_save(tmp_path):
    game = games.make("bilinear", dim=4)
    solver = solvers.make("lookahead", inner="optimistic", k=3, alpha=0.5)
    params = game.init_params(0, dtype=torch.float64)
    state = solver.init(game, params)
    for _ in range(4):
        params, state, _ = solver.step(game, params, state, None)
    torch.save({"params": params, "state": state}, tmp_path / "ckpt.pt")
    loaded = torch.load(tmp_path / "ckpt.pt")
    a, _, _ = solver.step(game, params, state, None)
    b, _, _ = solver.step(game, loaded["params"], loaded["state"], None)
    assert torch.equal(a["x"]["value"], b["x"]["value"])


# --------------------------------------------------------------------------- CGD
def test_cgd_reports_iterations_and_warm_starts_from_the_previous_solution():
    """Re-solving at the same point: warm-started CG starts at the solution (0 iterations)."""
    game = games.make("bilinear", matrix="random", dim=20, seed=0)
    params = game.init_params(0, dtype=torch.float64)
    iterations = {}
    for warm in (True, False):
        solver = solvers.make("cgd", lr=0.3, tol=1e-8, max_iter=200, warm_start=warm)
        state = solver.init(game, params)
        first, state, info = solver.step(game, params, state, None)
        assert float(info["cg_residual"]) <= 1e-8
        again, _, info_again = solver.step(game, params, state, None)  # same point, later step
        iterations[warm] = (info["cg_iterations"], info_again["cg_iterations"])
        torch.testing.assert_close(again["x"]["value"], first["x"]["value"], rtol=1e-7, atol=1e-9)
    assert iterations[True][0] == iterations[False][0] >= 10  # nothing to warm-start from yet
    assert iterations[True][1] == 0 and iterations[False][1] == iterations[False][0]


def test_cgd_warm_start_saves_iterations_along_a_slow_trajectory(tiny_gan):
    """On a GAN-shaped zero-sum game with a small step the linear systems of consecutive
    steps are close: measured 2+1×7 = 9 warm vs 2×8 = 16 cold CG iterations."""
    import torch.nn.functional as F

    class ZeroSumGAN(tiny_gan):
        def losses(self, params, batch):
            fake = self.call("gen", params, batch["z"])
            v = (F.softplus(-self.call("disc", params, batch["real"])).mean()
                 + F.softplus(self.call("disc", params, fake)).mean())
            return {"gen": -v, "disc": v}

    game = ZeroSumGAN(hidden=16, batch_size=64)
    batch = game.sample(torch.Generator().manual_seed(0), "cpu")
    total = {}
    for warm in (True, False):
        solver = solvers.make("cgd", lr=0.05, tol=1e-4, warm_start=warm)
        params = game.init_params(0, dtype=torch.float64)
        state = solver.init(game, params)
        total[warm] = 0
        for _ in range(8):
            params, state, info = solver.step(game, params, state, batch)
            total[warm] += info["cg_iterations"]
        assert info["zero_sum"] is True
    assert total[True] < total[False], total


def test_cgd_detects_zero_sum_and_general_sum():
    class Negated(games.Game):  # zero-sum, but not declared as such
        def __init__(self):
            self.players = games.make("bilinear", dim=2).players

        def losses(self, params, batch=None):
            v = params["x"]["value"] @ params["y"]["value"]
            return {"x": v, "y": -v}

    for game, expected in ((Negated(), 1), (games.make("ipd"), 0)):
        solver = solvers.make("cgd", lr=0.1)
        params = game.init_params(0, dtype=torch.float64)
        state = solver.init(game, params)
        assert int(state["zero_sum"]) == -1
        params, state, info = solver.step(game, params, state, None)
        assert int(state["zero_sum"]) == expected and info["zero_sum"] is bool(expected)
    assert int(solvers.make("cgd").init(games.make("bilinear"), games.make("bilinear").init_params(0))["zero_sum"]) == 1


def test_cgd_needs_two_players():
    game = games.make("cyclic-pennies")
    solver = solvers.make("cgd")
    with pytest.raises(ConfigError, match="two players"):
        solver.init(game, game.init_params(0))


# --------------------------------------------------------------------------- options
BAD_OPTIONS = [
    ("consensus", dict(gamma=-1.0), "gamma"),
    ("consensus", dict(gama=1.0), "unknown option 'gama'"),
    ("sga", dict(lam=0.0), "lam"),
    ("sga", dict(align="yes"), "align"),
    ("lookahead-opponent", dict(alpha=-0.1), "alpha"),
    ("lola", dict(alpha=float("nan")), "alpha"),
    ("lola", dict(lr=1.0), "unknown option 'lr'"),
    ("extragradient", dict(variant="future"), "variant"),
    ("cgd", dict(lr=0.0), "lr"),
    ("cgd", dict(tol=2.0), "tol"),
    ("cgd", dict(max_iter=0), "max_iter"),
    ("cgd", dict(optimizers={"name": "sgd", "lr": 0.1}), "own step size"),
    ("lookahead", dict(k=0), "k"),
    ("lookahead", dict(alpha=2.0), "alpha"),
    ("lookahead", dict(alpha=0.0), "alpha"),
    ("lookahead", dict(inner="simultanous"), "Did you mean 'simultaneous'"),
    ("lookahead", dict(inner_options={"gamma": 1.0}), "unknown option 'gamma'"),
    ("lookahead", dict(inner="lookahead"), "inner"),
]


@pytest.mark.parametrize("name,options,message", BAD_OPTIONS)
def test_bad_options_are_config_errors(name, options, message):
    with pytest.raises(ConfigError, match=message):
        solvers.make(name, **options)


def test_new_solvers_are_registered_and_describe_themselves():
    for name in ("extragradient", "consensus", "sga", "lookahead-opponent", "lola", "cgd", "lookahead"):
        assert name in solvers.available() and solvers.describe()[name]
        solver = solvers.make(name)
        assert name in repr(solver)


@pytest.mark.parametrize("name", ["consensus", "sga", "lookahead-opponent", "lola", "extragradient"])
def test_n_player_solvers_run_on_three_players(name):
    game = games.make("cyclic-pennies")
    solver = solvers.make(name)
    params = game.init_params(0, dtype=torch.float64)
    state = solver.init(game, params)
    for _ in range(3):
        params, state, info = solver.step(game, params, state, None)
    assert set(info["losses"]) == set(game.player_names)


NEW_SOLVERS = ["extragradient", "consensus", "sga", "lookahead-opponent", "lola", "cgd", "lookahead"]


@pytest.mark.parametrize("name", NEW_SOLVERS)
def test_solvers_run_on_a_float32_gan(tiny_gan, name):
    """GAN losses are general-sum (CGD takes its GMRES path); dtype and finiteness kept."""
    game = tiny_gan(dtype=torch.float32)
    solver = solvers.make(name)
    params = game.init_params(0)
    state = solver.init(game, params)
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        params, state, info = solver.step(game, params, state, game.sample(g, "cpu"))
    assert all(v.dtype == torch.float32 and torch.isfinite(v).all() for ps in params.values() for v in ps.values())
    assert set(info["losses"]) == {"gen", "disc"}


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", NEW_SOLVERS)
def test_solvers_keep_parameters_on_the_device(name):
    game = games.make("bilinear", dim=4)
    solver = solvers.make(name)
    params = game.init_params(0, device="cuda")
    state = solver.init(game, params)
    for _ in range(3):
        params, state, _ = solver.step(game, params, state, None)
    assert all(v.is_cuda for ps in params.values() for v in ps.values())


# --------------------------------------------------------------------------- IPD (LOLA paper)
def test_lola_cooperates_in_the_ipd_where_naive_learners_defect():
    """Foerster et al. (2018), Sec. 4.1 / Fig. 3 (exact values): two LOLA learners reach
    mutual cooperation (average reward near −1), two naive learners mutual defection (−2)."""
    game = games.make("ipd")

    def average_reward(name, seed, **options):
        solver = solvers.make(name, **options)
        params = game.init_params(seed, dtype=torch.float64)
        state = solver.init(game, params)
        for _ in range(150):
            params, state, _ = solver.step(game, params, state, None)
        m = game.evaluate(params)
        return (m["average_reward_1"] + m["average_reward_2"]) / 2

    seeds = range(3)
    naive = sum(average_reward("simultaneous", s) for s in seeds) / len(seeds)
    lola = sum(average_reward("lola", s, alpha=1.0) for s in seeds) / len(seeds)
    assert naive < -1.9 and lola > -1.3 and lola > naive + 0.6, (naive, lola)
