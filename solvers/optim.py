"""Functional, differentiable base optimizers (optax-style ``init``/``update``).

Every player owns one base optimizer. ``update`` is a pure function of tensors, built from
out-of-place operations only, so a solver can differentiate through it (unrolling) and a
checkpoint can store its state as plain tensors.

* :class:`SGD` — ``buf ← μ·buf + g``; ``θ ← θ − η·buf`` (``torch.optim.SGD`` with
  momentum μ, dampening 0; ``nesterov`` uses ``g + μ·buf``).
* :class:`Adam` — Kingma & Ba (2015), Algorithm 1, in the exact operation order of
  ``torch.optim.Adam``: ``ε`` is added *after* the bias correction of ``√v``. Its square
  root is guarded with ``torch.where`` so that its derivative at ``v = 0`` (a gradient
  entry that is exactly 0, e.g. a dead ReLU) is 0 instead of ``inf·0 = NaN``.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor

from diffgames.errors import ConfigError
from diffgames.registry import check_options, suggest

__all__ = ["BaseOptimizer", "SGD", "Adam", "make_optimizer", "OPTIMIZERS", "safe_sqrt"]

Params = dict[str, Tensor]
State = dict[str, Any]


def _plain_step(*groups: Mapping[str, Tensor]) -> bool:
    """True when an update needs no autograd graph and no transform sees its tensors: then
    it may run as a few ``torch._foreach_*`` operations over all of a player's tensors
    instead of ~10 per tensor (the Python and dispatch overhead of a small network's step).
    Compiled and ``torch.func`` code keeps the per-tensor path, which they trace."""
    if torch.is_grad_enabled() or torch.compiler.is_compiling():
        return False
    for group in groups:
        for t in group.values():
            if _is_wrapped(t):
                return False
            break  # functorch wraps all of a call's tensors alike: the first one tells
    return True


def _is_wrapped(t: Tensor) -> bool:
    return torch._C._functorch.is_functorch_wrapped_tensor(t)


def safe_sqrt(x: Tensor) -> Tensor:
    """``sqrt(x)`` whose derivative at ``x = 0`` is 0 (not ``inf``), for ``x ≥ 0``."""
    positive = x > 0
    return torch.where(positive, torch.sqrt(torch.where(positive, x, torch.ones_like(x))), torch.zeros_like(x))


class BaseOptimizer:
    """Interface: ``init(params) -> state``; ``update(grads, state, params) -> (params, state)``."""

    name: str = ""

    def init(self, params: Params) -> State:
        raise NotImplementedError

    def update(self, grads: Params, state: State, params: Params) -> tuple[Params, State]:
        raise NotImplementedError

    def spec(self) -> dict[str, Any]:
        """This optimizer as plain data (for configs and checkpoints)."""
        data = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}  # type: ignore[call-overload]
        return {"name": self.name, **data}

    def to_torch(self, params: Sequence[Tensor], state: State | None = None) -> torch.optim.Optimizer:
        """The equivalent ``torch.optim`` optimizer over ``params`` with ``state`` loaded
        (used by the ``higher`` backend and by the equivalence tests)."""
        raise NotImplementedError


@dataclass(frozen=True)
class SGD(BaseOptimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum.

    Parameters
    ----------
    lr : float
        Step size η > 0.
    momentum : float
        μ in [0, 1). 0 is plain gradient descent (no state).
    nesterov : bool
        Nesterov's variant, as ``torch.optim.SGD(nesterov=True)``.
    """

    lr: float = 0.1
    momentum: float = 0.0
    nesterov: bool = False
    name = "sgd"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"sgd: lr must be a positive number, got {self.lr!r}")
        if not 0.0 <= self.momentum < 1.0:
            raise ConfigError(f"sgd: momentum must be in [0, 1), got {self.momentum!r}")
        if self.nesterov and self.momentum == 0:
            raise ConfigError("sgd: nesterov=True needs momentum > 0")

    def init(self, params: Params) -> State:
        if self.momentum == 0:
            return {}
        return {"momentum": {k: torch.zeros_like(v) for k, v in params.items()}}

    def update(self, grads: Params, state: State, params: Params) -> tuple[Params, State]:
        if _plain_step(params, grads):
            return self._update_foreach(grads, state, params)
        if self.momentum == 0:
            return {k: params[k] - self.lr * grads[k] for k in params}, state
        # a zero buffer makes the first step buf = g, as torch.optim.SGD's first step
        buf = {k: self.momentum * state["momentum"][k] + grads[k] for k in params}
        direction = {k: grads[k] + self.momentum * buf[k] for k in params} if self.nesterov else buf
        return {k: params[k] - self.lr * direction[k] for k in params}, {"momentum": buf}

    def _update_foreach(self, grads: Params, state: State, params: Params) -> tuple[Params, State]:
        # the operations of the per-tensor path, in its order: the results are bit-identical
        keys = list(params)
        g = [grads[k] for k in keys]
        if self.momentum == 0:
            direction, new_state = g, state
        else:
            buf = torch._foreach_mul([state["momentum"][k] for k in keys], self.momentum)
            torch._foreach_add_(buf, g)
            if self.nesterov:
                direction = torch._foreach_add(g, torch._foreach_mul(buf, self.momentum))
            else:
                direction = buf
            new_state = {"momentum": dict(zip(keys, buf))}
        new = torch._foreach_sub([params[k] for k in keys], torch._foreach_mul(direction, self.lr))
        return dict(zip(keys, new)), new_state

    def to_torch(self, params: Sequence[Tensor], state: State | None = None) -> torch.optim.Optimizer:
        opt = torch.optim.SGD(list(params), lr=self.lr, momentum=self.momentum, nesterov=self.nesterov)
        if state and self.momentum:
            for p, buf in zip(opt.param_groups[0]["params"], state["momentum"].values()):
                opt.state[p]["momentum_buffer"] = buf.detach().clone()
        return opt


@dataclass(frozen=True)
class Adam(BaseOptimizer):
    """Adam (Kingma & Ba 2015, Alg. 1) exactly as ``torch.optim.Adam`` computes it.

    ``m ← β₁m + (1−β₁)g``, ``v ← β₂v + (1−β₂)g²``,
    ``θ ← θ − (η / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε)``.

    Parameters
    ----------
    lr : float
        Step size η > 0.
    betas : (float, float)
        (β₁, β₂), each in [0, 1). GANs often use β₁ = 0.5.
    eps : float
        ε ≥ 0, added after the bias correction (torch.optim's placement; ``higher``'s
        differentiable Adam adds it before, which changes results slightly).
    """

    lr: float = 1e-3
    betas: tuple[float, float] = field(default=(0.9, 0.999))
    eps: float = 1e-8
    name = "adam"

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"adam: lr must be a positive number, got {self.lr!r}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ConfigError(f"adam: betas must be two numbers in [0, 1), got {self.betas!r}")
        if not self.eps >= 0:
            raise ConfigError(f"adam: eps must be ≥ 0, got {self.eps!r}")

    def init(self, params: Params) -> State:
        any_param = next(iter(params.values()))
        return {
            "step": torch.zeros((), dtype=torch.float64, device=any_param.device),
            "exp_avg": {k: torch.zeros_like(v) for k, v in params.items()},
            "exp_avg_sq": {k: torch.zeros_like(v) for k, v in params.items()},
        }

    def update(self, grads: Params, state: State, params: Params) -> tuple[Params, State]:
        beta1, beta2 = self.betas
        step = state["step"] + 1
        bias_correction1 = 1 - torch.pow(beta1, step)  # float64, like torch's python floats
        bias_correction2_sqrt = torch.sqrt(1 - torch.pow(beta2, step))
        step_size = self.lr / bias_correction1
        if _plain_step(params, grads):
            return self._update_foreach(grads, state, params, step, step_size, bias_correction2_sqrt)
        new_params, exp_avg, exp_avg_sq = {}, {}, {}
        for k, p in params.items():
            g = grads[k]
            m = torch.lerp(state["exp_avg"][k], g, 1 - beta1)
            v = state["exp_avg_sq"][k] * beta2 + (1 - beta2) * g * g
            denom = safe_sqrt(v) / bias_correction2_sqrt.to(v.dtype) + self.eps
            new_params[k] = p - step_size.to(p.dtype) * (m / denom)
            exp_avg[k], exp_avg_sq[k] = m, v
        return new_params, {"step": step, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}

    def _update_foreach(
        self, grads: Params, state: State, params: Params, step: Tensor, step_size: Tensor, bias_correction2_sqrt: Tensor
    ) -> tuple[Params, State]:
        # the operations of the per-tensor path, in its order: the results are bit-identical
        # (the square root needs no guard without a derivative)
        beta1, beta2 = self.betas
        keys = list(params)
        p, g = [params[k] for k in keys], [grads[k] for k in keys]
        dtype = p[0].dtype
        m = torch._foreach_lerp([state["exp_avg"][k] for k in keys], g, 1 - beta1)
        v = torch._foreach_mul([state["exp_avg_sq"][k] for k in keys], beta2)
        g_sq = torch._foreach_mul(g, 1 - beta2)
        torch._foreach_mul_(g_sq, g)
        torch._foreach_add_(v, g_sq)
        denom = torch._foreach_sqrt(v)
        torch._foreach_div_(denom, bias_correction2_sqrt.to(dtype))
        torch._foreach_add_(denom, self.eps)
        ratio = torch._foreach_div(m, denom)
        torch._foreach_mul_(ratio, step_size.to(dtype))
        new = torch._foreach_sub(p, ratio)
        state = {"step": step, "exp_avg": dict(zip(keys, m)), "exp_avg_sq": dict(zip(keys, v))}
        return dict(zip(keys, new)), state

    def to_torch(self, params: Sequence[Tensor], state: State | None = None) -> torch.optim.Optimizer:
        opt = torch.optim.Adam(list(params), lr=self.lr, betas=self.betas, eps=self.eps)
        if state and float(state["step"]) > 0:
            for p, m, v in zip(opt.param_groups[0]["params"], state["exp_avg"].values(), state["exp_avg_sq"].values()):
                opt.state[p] = {
                    "step": torch.tensor(float(state["step"]), dtype=torch.float64),  # float64: higher computes β^step with this tensor
                    "exp_avg": m.detach().clone(),
                    "exp_avg_sq": v.detach().clone(),
                }
        return opt


OPTIMIZERS: dict[str, type[BaseOptimizer]] = {"sgd": SGD, "adam": Adam}


def make_optimizer(spec: BaseOptimizer | Mapping[str, Any]) -> BaseOptimizer:
    """Build a base optimizer from ``{"name": "adam", "lr": 1e-3, ...}`` (or pass one through)."""
    if isinstance(spec, BaseOptimizer):
        return spec
    if not isinstance(spec, Mapping) or "name" not in spec:
        raise ConfigError(f"an optimizer is a table with a 'name' ({' or '.join(OPTIMIZERS)}) and options, got {spec!r}")
    options = {k: v for k, v in spec.items() if k != "name"}
    name = spec["name"]
    if name not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {name!r}.{suggest(str(name), list(OPTIMIZERS))} Available: {', '.join(OPTIMIZERS)}.")
    cls = OPTIMIZERS[name]
    check_options(cls, options, f"optimizer {name!r}")
    if "betas" in options:
        options["betas"] = tuple(options["betas"])
    return cls(**options)
