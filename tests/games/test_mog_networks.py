"""The MOG game's per-player networks: the paper's App. A defaults (Metz et al. 2017),
options for each network, the shared options meaning "both", the discriminator's input
scale, and one-line errors."""
from __future__ import annotations

import pytest
import torch

import games
from diffgames.errors import ConfigError
from games.mog import parse_scale


def shapes(game, player):
    return {k: tuple(v.shape) for k, v in game.init_params(0)[player].items()}


def test_defaults_are_the_appendix():
    game = games.make("mog")
    assert shapes(game, "generator") == {"net.0.weight": (128, 256), "net.0.bias": (128,), "net.2.weight": (128, 128),
                                         "net.2.bias": (128,), "net.4.weight": (2, 128), "net.4.bias": (2,)}
    assert shapes(game, "discriminator") == {"net.0.weight": (128, 2), "net.0.bias": (128,),
                                             "net.2.weight": (1, 128), "net.2.bias": (1,)}
    assert game.networks["generator"]["activation"] == "relu" == game.networks["discriminator"]["activation"]
    assert game.networks["discriminator"]["input_scale"] == 0.25
    assert game.generator_loss == "saturating"
    opts = game.default_optimizers()
    assert opts["generator"]["lr"] == opts["discriminator"]["lr"] == 1e-4
    assert opts["generator"]["betas"][0] == 0.5
    assert isinstance(game.players["generator"].net[1], torch.nn.ReLU)


@pytest.mark.parametrize("player, gain", [("generator", 0.8), ("discriminator", 0.8)])
def test_orthogonal_gain(player, gain):
    """An orthogonal (rows ≤ columns) weight with gain g has W Wᵀ = g² I."""
    w = games.make("mog").init_params(1, dtype=torch.float64)[player]["net.2.weight" if player == "generator"
                                                                       else "net.0.weight"]
    small = w if w.shape[0] <= w.shape[1] else w.T
    assert torch.allclose(small @ small.T, gain ** 2 * torch.eye(small.shape[0], dtype=torch.float64), atol=1e-10)


def test_per_player_options_override_the_shared_ones():
    game = games.make("mog", latent_size=4, hidden=8, depth=2, activation="tanh", gain=1.4,
                      discriminator_depth=3, discriminator_hidden=6, generator_gain=0.5, generator_activation="elu")
    assert game.networks["generator"] == {"depth": 2, "hidden": 8, "activation": "elu", "gain": 0.5, "input_scale": 1.0}
    assert game.networks["discriminator"] == {"depth": 3, "hidden": 6, "activation": "tanh", "gain": 1.4,
                                              "input_scale": 0.25}
    assert len(shapes(game, "discriminator")) == 2 * 4
    assert shapes(game, "generator")["net.0.weight"] == (8, 4)


def test_shared_options_mean_both_networks():
    """The notebook's configuration by the shared options alone: both nets 2 × 128 tanh."""
    game = games.make("mog", hidden=128, depth=2, activation="tanh", gain=1.4, discriminator_input_scale=1)
    assert game.networks["generator"]["depth"] == game.networks["discriminator"]["depth"] == 2
    assert shapes(game, "discriminator")["net.2.weight"] == (128, 128)


@pytest.mark.parametrize("scale", [0.25, "1/4", "/4"])
def test_input_scale_divides_the_discriminators_input(scale):
    scaled = games.make("mog", latent_size=3, hidden=5, discriminator_input_scale=scale)
    plain = games.make("mog", latent_size=3, hidden=5, discriminator_input_scale=1.0)
    params = scaled.init_params(0, dtype=torch.float64)
    x = torch.randn(9, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(scaled.call("discriminator", params, x), plain.call("discriminator", params, x / 4),
                          rtol=0, atol=1e-14)
    assert not torch.allclose(plain.call("discriminator", params, x), scaled.call("discriminator", params, x))


@pytest.mark.parametrize("options, words", [
    ({"discriminator_input_scale": 0}, "discriminator_input_scale must be a positive factor"),
    ({"discriminator_input_scale": "a/4"}, "discriminator_input_scale must be a positive factor"),
    ({"generator_depth": 0}, "generator_depth must be a positive integer"),
    ({"depth": -1}, "depth must be a positive integer"),
    ({"discriminator_activation": "sigmoid"}, "'discriminator_activation' must be 'tanh'"),
    ({"generator_gain": float("nan")}, "generator_gain must be a finite number"),
])
def test_bad_network_options_are_one_line(options, words):
    with pytest.raises(ConfigError) as err:
        games.make("mog", **options)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_parse_scale():
    assert parse_scale("1/4", "x") == 0.25 and parse_scale(0.5, "x") == 0.5 and parse_scale("2", "x") == 2.0
