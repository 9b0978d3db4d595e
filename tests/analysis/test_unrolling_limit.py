"""analysis.unrolling_limit and `diffgames limit`: the unrolled gradient (Metz et al. 2016,
Eq. 13) as K grows — the second term vanishes in a zero-sum game, the gradient becomes the
Stackelberg one otherwise."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

import games
from analysis.unrolling_limit import QuadraticLeaderFollower, follower_optimum, unrolling_limit
from arena.cli.main import main
from diffgames.errors import ConfigError
from solvers.optim import SGD

KS = [0, 1, 5, 20, 50, 100, 200]


def _limit(game, ks=KS, **kw):
    params = game.init_params(0, dtype=torch.float64)
    opts = {p: SGD(lr=0.1) for p in game.player_names}
    return unrolling_limit(game, params, None, opts, ks, **kw), params


def _tail_decreases(values, down_to):
    """From K = 20 on, every value is below the one before, and the last is below ``down_to``."""
    tail = values[KS.index(20):]
    return all(b < a for a, b in zip(tail, tail[1:])) and tail[-1] < down_to


def test_quadratic_zero_sum_second_term_vanishes():
    (rows, info), _ = _limit(QuadraticLeaderFollower(leader_loss="zero-sum"))
    ratios = [r.second_ratio for r in rows]
    assert ratios[0] == 0.0  # K = 0: no second term
    assert ratios[1] > 1e-2  # but it is there for small K
    assert _tail_decreases(ratios, 1e-9)
    assert info["stackelberg_vs_plain"] < 1e-10  # zero-sum: the implicit gradient is the plain one
    assert rows[-1].plain_distance < 1e-10


def test_quadratic_general_sum_tends_to_stackelberg_not_plain():
    game = QuadraticLeaderFollower(leader_loss="general-sum")
    (rows, info), params = _limit(game)
    distances = [r.stackelberg_distance for r in rows]
    assert _tail_decreases(distances, 1e-8)
    # the second term does not vanish, and the limit is not the plain gradient
    assert rows[-1].second_ratio > 0.1 and rows[-1].plain_distance > 0.1
    assert info["stackelberg_vs_plain"] == pytest.approx(rows[-1].plain_distance, rel=1e-6)
    # the Stackelberg gradient the analysis used is the closed form's
    closed = game.closed_form(params["x"]["value"])
    assert info["stackelberg_norm"] == pytest.approx(np.linalg.norm(closed["stackelberg"]), rel=1e-9)
    assert info["plain_norm"] == pytest.approx(np.linalg.norm(closed["plain"]), rel=1e-9)


def test_start_at_optimum_follower_stays_and_limit_is_stackelberg():
    (rows, _), _ = _limit(QuadraticLeaderFollower(leader_loss="general-sum"), start="optimum")
    assert max(r.follower_distance for r in rows) < 1e-10
    assert rows[0].plain_distance < 1e-10  # K = 0 at the optimum: the plain gradient
    assert rows[-1].stackelberg_distance < 1e-8


@pytest.mark.parametrize("loss,limit", [("zero-sum", "plain"), ("non-saturating", "stackelberg"),
                                        ("saturating", "stackelberg")])
def test_dirac_gan_with_r1(loss, limit):
    (rows, info), _ = _limit(games.make("dirac-gan", r1=1.0, generator_loss=loss))
    last = rows[-1]
    assert last.stackelberg_distance < 1e-8
    if limit == "plain":
        assert last.second_ratio < 1e-9 and last.plain_distance < 1e-9
    else:  # the penalty is the discriminator's alone: not zero-sum even for "saturating"
        assert last.second_ratio > 0.1 and info["stackelberg_vs_plain"] > 0.1


def test_dirac_gan_generator_loss_option_defaults_unchanged():
    params = {"generator": {"value": torch.tensor([0.7])}, "discriminator": {"value": torch.tensor([-0.4])}}
    default, zero_sum = games.make("dirac-gan", r1=2.0), games.make("dirac-gan", r1=2.0, generator_loss="zero-sum")
    a, b = default.losses(params), zero_sum.losses(params)
    assert torch.equal(a["discriminator"], b["discriminator"])
    assert torch.allclose(b["generator"], -b["discriminator"])
    assert torch.allclose(a["generator"], b["generator"] + 0.5 * 2.0 * 0.4**2)
    ns = games.make("dirac-gan", generator_loss="non-saturating").losses(params)["generator"]
    assert torch.allclose(ns, torch.nn.functional.softplus(torch.tensor(0.7 * -0.4)))
    with pytest.raises(ConfigError, match="generator_loss"):
        games.make("dirac-gan", generator_loss="minimax")


def test_follower_without_optimum_is_a_config_error():
    game = games.make("dirac-gan", r1=0.0)  # no penalty: the discriminator's loss has no minimum
    params = game.init_params(0, dtype=torch.float64)
    with pytest.raises(ConfigError, match="did not reach its optimum"):
        follower_optimum(game, params, None, "discriminator", SGD(lr=0.1), max_steps=500)


def test_cli_limit_writes_table_and_figure(tmp_path, capsys):
    out = tmp_path / "limit"
    code = main(["limit", "--game", "analysis.unrolling_limit:QuadraticLeaderFollower",
                 "--vary", "leader_loss=zero-sum,general-sum", "--game", "dirac-gan", "--game-opt", "r1=1",
                 "--ks", "0,1,10,100", "--out", str(out)])
    assert code == 0
    with open(out / "unrolling-limit.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3 * 4
    assert {r["game"] for r in rows} == {"QuadraticLeaderFollower leader_loss=zero-sum",
                                         "QuadraticLeaderFollower leader_loss=general-sum", "dirac-gan r1=1"}
    zero_sum = [float(r["second_ratio"]) for r in rows if r["game"].endswith("=zero-sum")]
    assert zero_sum[-1] < 1e-4
    assert (out / "unrolling-limit.png").stat().st_size > 0
    assert "| K |" in (out / "unrolling-limit.md").read_text()
    assert "dirac-gan r1=1" in capsys.readouterr().out


def test_cli_limit_errors(tmp_path, capsys):
    assert main(["limit", "--game", "dirac-gan", "--ks", "0,-1", "--out", str(tmp_path)]) == 2
    assert "--ks" in capsys.readouterr().err
    assert main(["limit", "--game", "dirac-gan", "--ks", "1", "--optimum-steps", "300",  # r1 = 0: no optimum
                 "--out", str(tmp_path)]) == 2
    assert "optimum" in capsys.readouterr().err


# ---------------------------------------------------------------- a neural discriminator
def _small_mog(generator_loss: str, weight_decay: float = 0.1):
    # the settings these checks were written for (tanh, gain 1.4, no input scaling), stated
    # since the game's defaults became the paper's App. A
    return games.make("mog", hidden=4, depth=1, latent_size=2, batch_size=16, activation="tanh", gain=1.4,
                      discriminator_input_scale=1.0, discriminator_weight_decay=weight_decay,
                      generator_loss=generator_loss)


def test_mog_weight_decay_is_in_the_discriminator_loss_and_zero_sum_when_saturating():
    plain, decayed = _small_mog("saturating", 0.0), _small_mog("saturating", 0.5)
    params = plain.init_params(0, dtype=torch.float64)
    batch = plain.sample(torch.Generator().manual_seed(0), "cpu")
    base, with_decay = plain.losses(params, batch), decayed.losses(params, batch)
    squares = sum(float(w.pow(2).sum()) for w in params["discriminator"].values())
    assert float(with_decay["discriminator"] - base["discriminator"]) == pytest.approx(0.25 * squares, rel=1e-12)
    assert float(with_decay["generator"]) == -float(with_decay["discriminator"])  # penalty included: zero-sum
    nonsat = _small_mog("non-saturating", 0.5).losses(params, batch)
    assert float(nonsat["generator"]) == float(_small_mog("non-saturating", 0.0).losses(params, batch)["generator"])
    with pytest.raises(ConfigError, match="discriminator_weight_decay"):
        _small_mog("saturating", -1.0)


@pytest.mark.parametrize("loss", ["saturating", "non-saturating"])
def test_mog_discriminator_with_weight_decay_limit(loss):
    """A neural follower at its (local) optimum: the zero-sum loss has no second term at any
    K; the non-saturating loss's unrolled gradient tends to the Stackelberg one, far from plain."""
    game = _small_mog(loss)
    params = game.init_params(0, dtype=torch.float64)
    batch = game.sample(torch.Generator().manual_seed(0), "cpu")
    rows, info = unrolling_limit(game, params, batch, {p: SGD(lr=1.0) for p in game.player_names}, [0, 50, 400],
                                 start="optimum", optimum_tol=1e-11)
    if loss == "saturating":
        assert info["stackelberg_vs_plain"] < 1e-12
        assert all(r.second_ratio < 1e-12 for r in rows)
    else:
        assert info["stackelberg_vs_plain"] > 0.5
        distances = [r.stackelberg_distance for r in rows]
        assert distances[0] > 0.5 and distances[1] < 0.1 and distances[2] < 1e-3
        assert rows[-1].second_ratio > 1.0
