"""The functional base optimizers against torch.optim (torchopt-style equivalence tests).

Our SGD/Adam are out-of-place re-implementations; torch.optim's in-place kernels round
differently (fused multiply-adds, ``addcdiv``), so "equal" means equal up to a few ulps:
float64 within 1e-12 relative, float32 within 1e-5 after 20 steps.
"""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from diffgames.errors import ConfigError
from solvers.optim import SGD, Adam, make_optimizer, safe_sqrt

TOL = {torch.float32: dict(rtol=1e-5, atol=1e-6), torch.float64: dict(rtol=1e-12, atol=1e-13)}


def _start(dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "weight": torch.randn(5, 4, generator=g, dtype=dtype),
        "bias": torch.randn(4, generator=g, dtype=dtype),
    }


def _loss(weight, bias, step):
    """A smooth, non-quadratic loss whose gradient changes along the trajectory."""
    x = torch.linspace(-1.0, 1.0, 5, dtype=weight.dtype)
    h = torch.tanh(x @ weight + bias)
    return ((h - 0.3 * math.sin(step)) ** 2).sum() + 0.05 * (weight ** 4).sum()


def _compare_with_torch(ours, torch_cls, torch_kwargs, dtype, steps=20):
    """Run ``ours`` and ``torch_cls`` on :func:`_loss` from the same start; return the
    per-step parameter pairs."""
    start = _start(dtype)
    params, state = dict(start), ours.init(start)
    reference = [v.clone().requires_grad_() for v in start.values()]
    torch_opt = torch_cls(reference, **torch_kwargs)
    pairs = []
    for t in range(steps):
        leaves = {k: v.detach().requires_grad_() for k, v in params.items()}
        grads = dict(zip(leaves, torch.autograd.grad(_loss(*leaves.values(), t), list(leaves.values()))))
        params, state = ours.update(grads, state, params)
        torch_opt.zero_grad()
        _loss(*reference, t).backward()
        torch_opt.step()
        pairs.append(({k: v.detach().clone() for k, v in params.items()},
                      {k: v.detach().clone() for k, v in zip(start, reference)}))
    return pairs


def _assert_pairs_close(pairs, dtype):
    for t, (ours, ref) in enumerate(pairs):
        for k in ours:
            assert ours[k].dtype == dtype
            torch.testing.assert_close(ours[k], ref[k], **TOL[dtype], msg=lambda m: f"step {t + 1}, {k}: {m}")


# --------------------------------------------------------------------------- equivalence
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    "betas, eps, lr",
    [((0.9, 0.999), 1e-8, 1e-2), ((0.5, 0.999), 1e-6, 5e-3), ((0.0, 0.9), 1e-3, 2e-2), ((0.3, 0.0), 1e-1, 1e-2)],
)
def test_adam_equals_torch_adam(dtype, betas, eps, lr):
    pairs = _compare_with_torch(Adam(lr=lr, betas=betas, eps=eps), torch.optim.Adam,
                                dict(lr=lr, betas=betas, eps=eps), dtype)
    _assert_pairs_close(pairs, dtype)
    # the run moved: a no-op optimizer would not pass by accident
    first, last = pairs[0][0]["weight"], pairs[-1][0]["weight"]
    assert (first - last).abs().max() > 10 * lr


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    "kwargs",
    [dict(lr=0.05), dict(lr=0.02, momentum=0.9), dict(lr=0.02, momentum=0.5, nesterov=True)],
    ids=["plain", "momentum", "nesterov"],
)
def test_sgd_equals_torch_sgd(dtype, kwargs):
    pairs = _compare_with_torch(SGD(**kwargs), torch.optim.SGD, kwargs, dtype)
    _assert_pairs_close(pairs, dtype)


@settings(max_examples=25, deadline=None)
@given(
    lr=st.floats(1e-4, 0.5),
    beta1=st.floats(0.0, 0.99),
    beta2=st.floats(0.0, 0.9999),
    eps=st.floats(1e-10, 1.0),
    seed=st.integers(0, 2**31 - 1),
)
def test_adam_matches_torch_for_random_hyperparameters(lr, beta1, beta2, eps, seed):
    """Random gradients and hyperparameters, float64, 8 steps."""
    g = torch.Generator().manual_seed(seed)
    start = {"p": torch.randn(6, generator=g, dtype=torch.float64)}
    ours = Adam(lr=lr, betas=(beta1, beta2), eps=eps)
    params, state = dict(start), ours.init(start)
    ref = start["p"].clone().requires_grad_()
    torch_opt = torch.optim.Adam([ref], lr=lr, betas=(beta1, beta2), eps=eps)
    for _ in range(8):
        grad = torch.randn(6, generator=g, dtype=torch.float64)
        params, state = ours.update({"p": grad}, state, params)
        ref.grad = grad.clone()
        torch_opt.step()
        torch.testing.assert_close(params["p"], ref.detach(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("optimizer", [SGD(lr=0.05, momentum=0.9), Adam(lr=1e-2, betas=(0.5, 0.99))], ids=["sgd", "adam"])
def test_to_torch_continues_from_our_state(optimizer):
    """After 5 of our steps, ``to_torch(params, state)`` continues exactly like we do
    (the ``higher`` backend relies on it)."""
    dtype = torch.float64
    params = _start(dtype)
    state = optimizer.init(params)
    for t in range(5):
        leaves = {k: v.detach().requires_grad_() for k, v in params.items()}
        grads = dict(zip(leaves, torch.autograd.grad(_loss(*leaves.values(), t), list(leaves.values()))))
        params, state = optimizer.update(grads, state, params)
    reference = [v.clone().requires_grad_() for v in params.values()]
    torch_opt = optimizer.to_torch(reference, state)
    for t in range(5, 10):
        leaves = {k: v.detach().requires_grad_() for k, v in params.items()}
        grads = dict(zip(leaves, torch.autograd.grad(_loss(*leaves.values(), t), list(leaves.values()))))
        params, state = optimizer.update(grads, state, params)
        torch_opt.zero_grad()
        _loss(*reference, t).backward()
        torch_opt.step()
        for ours, ref in zip(params.values(), reference):
            torch.testing.assert_close(ours, ref.detach(), rtol=1e-12, atol=1e-13)


def test_update_is_pure():
    params = _start(torch.float64)
    before = {k: v.clone() for k, v in params.items()}
    for opt in (SGD(lr=0.1, momentum=0.9), Adam(lr=0.1)):
        state = opt.init(params)
        state_before = {k: (v.clone() if torch.is_tensor(v) else {a: b.clone() for a, b in v.items()}) for k, v in state.items()}
        grads = {k: torch.ones_like(v) for k, v in params.items()}
        new, _ = opt.update(grads, state, params)
        for k in params:
            assert torch.equal(params[k], before[k])
            assert not torch.equal(new[k], before[k])
        for k, v in state.items():
            if torch.is_tensor(v):
                assert torch.equal(v, state_before[k])
            else:
                assert all(torch.equal(v[a], state_before[k][a]) for a in v)


OPTIMIZERS = [
    SGD(lr=0.1), SGD(lr=0.1, momentum=0.9), SGD(lr=0.05, momentum=0.5, nesterov=True),
    Adam(lr=1e-3, betas=(0.5, 0.999)), Adam(lr=0.1, betas=(0.0, 0.9), eps=1e-3),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=repr)
def test_update_without_autograd_is_bit_identical_to_the_differentiable_one(optimizer, dtype):
    """Under ``no_grad`` the update runs as ``torch._foreach_*`` operations; it must give
    exactly the numbers of the per-tensor path (so runs reproduce whichever path ran)."""
    g = torch.Generator().manual_seed(1)
    shapes = {"w1": (16, 8), "b1": (16,), "w2": (3, 16), "b2": (3,)}
    fast = slow = {k: torch.randn(s, generator=g, dtype=dtype) for k, s in shapes.items()}
    fast_state = slow_state = optimizer.init(fast)
    for _ in range(6):
        # exact zeros: Adam's guarded square root must agree at v = 0 too
        grads = {k: torch.randn(s, generator=g, dtype=dtype) * (torch.rand(s, generator=g) > 0.3)
                 for k, s in shapes.items()}
        with torch.no_grad():
            fast, fast_state = optimizer.update(grads, fast_state, fast)
        with torch.enable_grad():
            slow, slow_state = optimizer.update(grads, slow_state, slow)
        for k in shapes:
            assert torch.equal(fast[k], slow[k]), k
        flat = lambda state: [v for x in state.values() for v in (x.values() if isinstance(x, dict) else [x])]
        assert all(torch.equal(a, b) for a, b in zip(flat(fast_state), flat(slow_state)))


@settings(max_examples=40, deadline=None)
@given(
    lr=st.floats(1e-5, 1.0), beta1=st.floats(0.0, 0.99), beta2=st.floats(0.0, 0.9999), eps=st.floats(1e-12, 1e-2),
    momentum=st.floats(0.0, 0.99), nesterov=st.booleans(), seed=st.integers(0, 2**16),
)
def test_foreach_and_per_tensor_updates_agree_bit_for_bit(lr, beta1, beta2, eps, momentum, nesterov, seed):
    sgd = SGD(lr=lr, momentum=momentum, nesterov=nesterov and momentum > 0)
    for optimizer in (sgd, Adam(lr=lr, betas=(beta1, beta2), eps=eps)):
        g = torch.Generator().manual_seed(seed)
        fast = slow = {"w": torch.randn(7, 5, generator=g), "b": torch.randn(5, generator=g)}
        fast_state = slow_state = optimizer.init(fast)
        for _ in range(3):
            grads = {k: torch.randn(v.shape, generator=g) for k, v in fast.items()}
            with torch.no_grad():
                fast, fast_state = optimizer.update(grads, fast_state, fast)
            slow, slow_state = optimizer.update(grads, slow_state, slow)
            assert all(torch.equal(fast[k], slow[k]) for k in fast), optimizer


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=repr)
def test_update_without_autograd_is_pure(optimizer):
    params = _start(torch.float64)
    state = optimizer.init(params)
    for _ in range(2):  # the second step reads a non-empty state
        before = ({k: v.clone() for k, v in params.items()},
                  {k: (v.clone() if torch.is_tensor(v) else {a: b.clone() for a, b in v.items()}) for k, v in state.items()})
        with torch.no_grad():
            new, new_state = optimizer.update({k: torch.ones_like(v) for k, v in params.items()}, state, params)
        assert all(torch.equal(params[k], before[0][k]) for k in params)
        for k, v in state.items():
            assert torch.equal(v, before[1][k]) if torch.is_tensor(v) else all(torch.equal(v[a], before[1][k][a]) for a in v)
        params, state = new, new_state


# --------------------------------------------------------------------------- derivatives
def test_safe_sqrt_value_and_derivative():
    x = torch.tensor([0.0, 1e-300, 0.25, 4.0], dtype=torch.float64, requires_grad=True)
    y = safe_sqrt(x)
    torch.testing.assert_close(y, torch.sqrt(x.detach()))
    (d,) = torch.autograd.grad(y.sum(), x)
    assert d[0] == 0.0  # torch.sqrt would give inf here
    torch.testing.assert_close(d[2:], 0.5 / torch.sqrt(x.detach()[2:]))


@pytest.mark.parametrize("use_func", [True, False], ids=["torch.func", "autograd"])
def test_adam_derivative_wrt_gradient_is_finite_at_exact_zero(use_func):
    """At the first step ``θ' = θ − η·g/(|g| + ε)`` elementwise, so ``∂θ'_i/∂g_i`` is
    ``−η/ε`` at ``g_i = 0`` and ``−η·ε/(|g_i| + ε)²`` elsewhere."""
    lr, eps = 0.1, 1e-3
    opt = Adam(lr=lr, betas=(0.5, 0.9), eps=eps)
    params = {"w": torch.zeros(4, dtype=torch.float64)}
    state = opt.init(params)
    g0 = torch.tensor([0.0, 0.5, -2.0, 0.0], dtype=torch.float64)

    def moved(g):
        return opt.update({"w": g}, state, params)[0]["w"].sum()

    if use_func:
        d = torch.func.grad(moved)(g0)
    else:
        g = g0.clone().requires_grad_()
        (d,) = torch.autograd.grad(moved(g), g)
    assert torch.isfinite(d).all(), d
    expected = -lr * eps / (g0.abs() + eps) ** 2
    torch.testing.assert_close(d, expected, rtol=1e-10, atol=0)
    assert d[0] == pytest.approx(-lr / eps)


def test_adam_derivative_with_nonzero_state_matches_finite_differences():
    """With nonzero moments (after a few steps) the derivative w.r.t. the gradient agrees
    with central differences, including at an entry whose gradient is exactly 0."""
    opt = Adam(lr=0.05, betas=(0.9, 0.99), eps=1e-8)
    params = {"w": torch.tensor([0.3, -0.2, 1.0], dtype=torch.float64)}
    state = opt.init(params)
    for k in range(3):
        params, state = opt.update({"w": torch.tensor([0.5, -1.0 + k, 0.2], dtype=torch.float64)}, state, params)
    g0 = torch.tensor([0.0, 0.7, -0.4], dtype=torch.float64)
    weights = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)

    def f(g):
        return (opt.update({"w": g}, state, params)[0]["w"] * weights).sum()

    d = torch.func.grad(f)(g0)
    h = 1e-6
    fd = torch.stack([(f(g0 + h * e) - f(g0 - h * e)) / (2 * h) for e in torch.eye(3, dtype=torch.float64)])
    torch.testing.assert_close(d, fd, rtol=1e-6, atol=1e-9)


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "spec, words",
    [
        ({"name": "sgd", "lr": 0}, ["lr", "positive"]),
        ({"name": "sgd", "lr": -0.1}, ["lr", "positive"]),
        ({"name": "sgd", "lr": float("nan")}, ["lr"]),
        ({"name": "sgd", "lr": 0.1, "momentum": 1.0}, ["momentum"]),
        ({"name": "sgd", "lr": 0.1, "nesterov": True}, ["nesterov", "momentum"]),
        ({"name": "sgd", "lr": "fast"}, ["lr", "float", "'fast'"]),
        ({"name": "sgd", "learning_rate": 0.1}, ["unknown option", "learning_rate", "lr"]),
        ({"name": "adam", "betas": [0.9, 1.0]}, ["betas"]),
        ({"name": "adam", "betas": [0.9]}, ["betas"]),
        ({"name": "adam", "eps": -1e-8}, ["eps"]),
        ({"name": "adamw"}, ["unknown optimizer", "'adamw'", "Did you mean 'adam'", "sgd"]),
        ({"lr": 0.1}, ["name"]),
        ("sgd", ["name"]),
    ],
)
def test_bad_optimizer_spec_gives_one_clear_error(spec, words):
    with pytest.raises(ConfigError) as info:
        make_optimizer(spec)
    message = str(info.value)
    for word in words:
        assert word in message, (word, message)


def test_bad_direct_construction_raises():
    with pytest.raises(ConfigError, match="lr"):
        SGD(lr=0)
    with pytest.raises(ConfigError, match="lr"):
        Adam(lr=0.0)


@pytest.mark.parametrize("optimizer", [SGD(lr=0.3, momentum=0.5, nesterov=True), Adam(lr=2e-4, betas=(0.5, 0.999), eps=1e-7)])
def test_spec_round_trips(optimizer):
    spec = optimizer.spec()
    assert spec["name"] == optimizer.name
    assert make_optimizer(spec) == optimizer
    assert make_optimizer(optimizer) is optimizer
