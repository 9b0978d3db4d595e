"""Hand-written training steps on the mixture-of-Gaussians GAN, the benchmarks' baselines.

They use the game's own networks (copies of its ``generator`` and ``discriminator``
modules, loaded with the same parameters) and its losses written out by hand, the way a
user would write them without this toolkit: ``torch.optim`` optimizers stepping
``nn.Module`` parameters in place, and ``higher.innerloop_ctx`` for unrolling.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from games.mog import MixtureOfGaussians

__all__ = ["TorchOptimAlternating", "HigherUnrolled", "nested_func_leader_gradient", "torch_optimizer", "load_nets"]


def torch_optimizer(spec: Mapping[str, Any], params) -> torch.optim.Optimizer:
    """``torch.optim.Adam`` or ``torch.optim.SGD`` from an optimizer spec (``{"name": …}``)."""
    options = {k: (tuple(v) if isinstance(v, list) else v) for k, v in spec.items() if k != "name"}
    if spec["name"] == "adam":
        return torch.optim.Adam(params, **options)
    if spec["name"] == "sgd":
        return torch.optim.SGD(params, **options)
    raise ValueError(f"no baseline for optimizer {spec['name']!r}")


def load_nets(game: MixtureOfGaussians, params: Mapping[str, Mapping[str, Tensor]]) -> tuple[nn.Module, nn.Module]:
    """Copies of the game's generator and discriminator holding ``params``."""
    nets = []
    for name in ("generator", "discriminator"):
        net = copy.deepcopy(game.players[name])
        first = next(iter(params[name].values()))
        net.to(device=first.device, dtype=first.dtype)
        net.load_state_dict({k: v.detach().clone() for k, v in params[name].items()})
        nets.append(net)
    return nets[0], nets[1]


def _d_loss(D: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
    logits = D(torch.cat([real, fake])).squeeze(-1)
    n = real.shape[0]
    return F.softplus(-logits[:n]).mean() + F.softplus(logits[n:]).mean()


class TorchOptimAlternating:
    """Alternating GAN training with ``torch.optim``: the generator steps, then the
    discriminator at the new generator, on the same batch (the game's player order)."""

    def __init__(self, game: MixtureOfGaussians, params, optimizers: Mapping[str, Mapping[str, Any]]):
        self.G, self.D = load_nets(game, params)
        self.g_opt = torch_optimizer(optimizers["generator"], self.G.parameters())
        self.d_opt = torch_optimizer(optimizers["discriminator"], self.D.parameters())

    def step(self, batch: Mapping[str, Tensor]) -> None:
        z, real = batch["z"], batch["real"]
        self.g_opt.zero_grad(set_to_none=True)
        F.softplus(-self.D(self.G(z)).squeeze(-1)).mean().backward()
        self.g_opt.step()
        self.d_opt.zero_grad(set_to_none=True)
        with torch.no_grad():
            fake = self.G(z)
        _d_loss(self.D, real, fake).backward()
        self.d_opt.step()


class HigherUnrolled:
    """Unrolled GAN step (Metz et al. 2016) with ``higher.innerloop_ctx``.

    The generator's gradient goes through ``K`` differentiable steps of a copy of the
    discriminator's optimizer (``track_higher_grads=True``: second order); the
    discriminator takes a plain step at θ_t on the same fake samples; then both
    ``torch.optim`` optimizers step (simultaneous updates, as the toolkit's solver).
    """

    def __init__(self, game: MixtureOfGaussians, params, optimizers: Mapping[str, Mapping[str, Any]], unroll_steps: int):
        self.G, self.D = load_nets(game, params)
        self.g_opt = torch_optimizer(optimizers["generator"], self.G.parameters())
        self.d_opt = torch_optimizer(optimizers["discriminator"], self.D.parameters())
        self.K = int(unroll_steps)

    def generator_gradient(self, batch: Mapping[str, Tensor]) -> tuple[list[Tensor], Tensor]:
        """``(∇_G f_G(G, D^K(G)), G(z))``: the unrolled generator gradient and the fake samples."""
        import higher

        z, real = batch["z"], batch["real"]
        with higher.innerloop_ctx(self.D, self.d_opt, copy_initial_weights=True) as (fD, diffopt):
            fake = self.G(z)
            for _ in range(self.K):
                diffopt.step(_d_loss(fD, real, fake))
            g_loss = F.softplus(-fD(fake).squeeze(-1)).mean()
            grads = torch.autograd.grad(g_loss, list(self.G.parameters()))
        return list(grads), fake

    def step(self, batch: Mapping[str, Tensor]) -> None:
        grads, fake = self.generator_gradient(batch)
        for p, g in zip(self.G.parameters(), grads):
            p.grad = g
        self.d_opt.zero_grad(set_to_none=True)
        _d_loss(self.D, batch["real"], fake.detach()).backward()
        self.g_opt.step()
        self.d_opt.step()


def nested_func_leader_gradient(game, params, state, batch, leader: str, followers: list[str], opts, unroll_steps: int):
    """The unrolled leader gradient as the toolkit computed it until 2026-11 (kept as a
    reference point): nested ``torch.func.grad``, the other players' parameters passed as
    arguments, no reuse of the leader's forward pass (``G(z)`` runs ``K + 2`` times)."""
    from torch.func import grad as func_grad

    from games.base import checked_losses

    def own_gradient(f: str):
        def loss_of_own(own, current):
            return checked_losses(game, {**current, f: own}, batch)[f]

        g = func_grad(loss_of_own)
        return lambda current: g(current[f], current)

    own = {f: own_gradient(f) for f in followers}

    def surrogate(leader_params):
        current, states = {**params, leader: leader_params}, {f: state["opt"][f] for f in followers}
        for _ in range(unroll_steps):
            fgrads = {f: own[f](current) for f in followers}
            current = dict(current)
            for f in followers:
                current[f], states[f] = opts[f].update(fgrads[f], states[f], current[f])
        return checked_losses(game, current, batch)[leader]

    with torch.enable_grad():
        return func_grad(surrogate)(params[leader])
