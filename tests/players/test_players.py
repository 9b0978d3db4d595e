"""Players: MixedStrategy (softmax of logits) and MLP (initialisations, sizes, errors)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from diffgames.errors import ConfigError
from players import MLP, MixedStrategy, Player, init_params, num_parameters


# --------------------------------------------------------------------------- MixedStrategy
def test_mixed_strategy_default_is_uniform():
    s = MixedStrategy(4)
    params = init_params(s, torch.Generator().manual_seed(0), dtype=torch.float64)
    assert list(params) == ["logits"]
    assert torch.equal(params["logits"], torch.zeros(4, dtype=torch.float64))
    torch.testing.assert_close(s(), torch.full((4,), 0.25, dtype=torch.float64))


def test_mixed_strategy_init_logits_and_softmax():
    logits = [1.0, 0.0, -0.5]
    s = MixedStrategy(3, init_logits=logits)
    params = init_params(s, torch.Generator().manual_seed(123), dtype=torch.float64)
    assert params["logits"].tolist() == logits  # whatever the seed
    expected = np.exp(logits) / np.exp(logits).sum()
    np.testing.assert_allclose(torch.func.functional_call(s, params, ()).numpy(), expected, rtol=1e-12)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-30, 30), min_size=1, max_size=8))
def test_mixed_strategy_is_a_probability_vector(logits):
    s = MixedStrategy(len(logits), init_logits=logits)
    init_params(s, torch.Generator(), dtype=torch.float64)
    p = s().detach().numpy()
    assert (p >= 0).all() and p.sum() == pytest.approx(1.0, abs=1e-12)
    shifted = np.exp(np.array(logits) - max(logits))
    np.testing.assert_allclose(p, shifted / shifted.sum(), rtol=1e-10, atol=1e-300)


@pytest.mark.parametrize(
    "n, logits, words",
    [(3, [0.0, 1.0], ["init_logits has 2 entries", "3 actions"]), (2, [0, 0, 0], ["3 entries", "2 actions"]),
     (0, None, ["at least one action", "n_actions=0"])],
)
def test_mixed_strategy_bad_input(n, logits, words):
    with pytest.raises(ConfigError) as info:
        MixedStrategy(n, init_logits=logits)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


# --------------------------------------------------------------------------- MLP
def _weights(params):
    return [v for k, v in params.items() if k.endswith("weight")]


@pytest.mark.parametrize("gain", [1.0, 1.4])
@pytest.mark.parametrize("sizes", [(3, 16, 8, 2), (32, 4, 1)])
def test_mlp_orthogonal_init(sizes, gain):
    mlp = MLP(sizes, init="orthogonal", gain=gain)
    params = init_params(mlp, torch.Generator().manual_seed(0), dtype=torch.float64)
    weights = _weights(params)
    assert [tuple(w.shape) for w in weights] == [(b, a) for a, b in zip(sizes[:-1], sizes[1:])]
    for w in weights:
        out_dim, in_dim = w.shape
        # the smaller Gram matrix is gain² · I (rows or columns orthonormal, scaled by gain)
        gram = w.T @ w if out_dim >= in_dim else w @ w.T
        torch.testing.assert_close(gram, gain ** 2 * torch.eye(gram.shape[0], dtype=torch.float64), rtol=0, atol=1e-10)
    for k, v in params.items():
        if k.endswith("bias"):
            assert torch.equal(v, torch.zeros_like(v))


@pytest.mark.parametrize("init", ["orthogonal", "xavier", "kaiming", "default"])
def test_mlp_init_is_deterministic_from_the_generator(init):
    def draw(seed):
        return init_params(MLP((4, 8, 2), init=init), torch.Generator().manual_seed(seed))

    a, b, c = draw(7), draw(7), draw(8)
    assert list(a) == ["net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["net.0.weight"], c["net.0.weight"])
    # initialising does not touch the global RNG (only the module's construction does)
    mlp = MLP((4, 8, 2), init=init)
    torch.manual_seed(0)
    before = torch.random.get_rng_state()
    d = init_params(mlp, torch.Generator().manual_seed(7))
    assert torch.equal(before, torch.random.get_rng_state())
    assert all(torch.equal(a[k], d[k]) for k in a)


def test_mlp_default_init_follows_nn_linear_bounds():
    params = init_params(MLP((50, 20, 3), init="default"), torch.Generator().manual_seed(0))
    for layer, fan_in in (("net.0", 50), ("net.2", 20)):
        bound = 1 / math.sqrt(fan_in)  # nn.Linear: kaiming_uniform(a=√5) gives the same bound for W
        assert params[f"{layer}.weight"].abs().max() <= bound
        assert params[f"{layer}.bias"].abs().max() <= bound
        assert params[f"{layer}.bias"].abs().max() > 0
        assert params[f"{layer}.weight"].std() > bound / 4


def test_mlp_structure_and_forward():
    mlp = MLP((3, 5, 4, 2), activation="relu")
    linear = [m for m in mlp.net if isinstance(m, nn.Linear)]
    assert len(linear) == 3
    assert [type(m) for m in mlp.net] == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]  # no output activation
    params = init_params(mlp, torch.Generator().manual_seed(0))
    assert num_parameters(params) == 3 * 5 + 5 + 5 * 4 + 4 + 4 * 2 + 2
    x = torch.randn(7, 3, generator=torch.Generator().manual_seed(1))
    out = torch.func.functional_call(mlp, params, (x,))
    assert out.shape == (7, 2)
    # the same computation by hand
    h = torch.relu(x @ params["net.0.weight"].T + params["net.0.bias"])
    h = torch.relu(h @ params["net.2.weight"].T + params["net.2.bias"])
    torch.testing.assert_close(out, h @ params["net.4.weight"].T + params["net.4.bias"])
    assert isinstance(mlp, Player)


def test_init_params_dtype_and_copies():
    mlp = MLP((2, 3, 1))
    params = init_params(mlp, torch.Generator().manual_seed(0), dtype=torch.float64)
    assert all(v.dtype == torch.float64 and not v.requires_grad for v in params.values())
    assert all(p.dtype == torch.float64 for p in mlp.parameters())  # the module follows
    params["net.0.weight"].add_(1.0)
    assert not torch.equal(mlp.net[0].weight.detach(), params["net.0.weight"])
    # float32 and float64 draws agree (the seed means the same in both)
    p32 = init_params(MLP((2, 3, 1)), torch.Generator().manual_seed(0), dtype=torch.float32)
    p64 = init_params(MLP((2, 3, 1)), torch.Generator().manual_seed(0), dtype=torch.float64)
    torch.testing.assert_close(p32["net.0.weight"].double(), p64["net.0.weight"], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(sizes=[3]), ["sizes", "[3]"]),
        (dict(sizes=[]), ["sizes"]),
        (dict(sizes=[3, 0, 2]), ["sizes", "positive", "[3, 0, 2]"]),
        (dict(sizes=[3, -4, 2]), ["sizes", "positive"]),
        (dict(sizes=[3, 2], activation="sigmoid"), ["unknown activation 'sigmoid'", "tanh"]),
        (dict(sizes=[3, 2], init="he"), ["unknown init 'he'", "orthogonal"]),
    ],
)
def test_mlp_bad_input(kwargs, words):
    with pytest.raises(ConfigError) as info:
        MLP(**kwargs)
    for word in words:
        assert word in str(info.value), (word, str(info.value))
