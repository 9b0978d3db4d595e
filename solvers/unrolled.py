"""Unrolled optimisation of the followers (Metz, Poole, Pfau & Sohl-Dickstein 2016).

Speed (see ``docs/results/performance.md``): in eager mode the ``func`` backend
differentiates through the unroll with the autograd engine (``create_graph=True``), which
has far less per-operation overhead than nested ``torch.func.grad``. It also

* computes the leaders' forward passes once per unroll (:func:`reuse_calls`: the
  generator's ``G(z)`` of a GAN is the same in all ``K + 1`` evaluations of the losses);
* runs an elementwise base optimizer (SGD, Adam) on one flat vector of each follower's
  parameters, so an update is a few operations instead of a few per parameter;
* takes the followers' plain gradients at θ_t from the unroll's first step, and shares
  one unroll between all leaders.

Inside ``torch.func`` transforms and ``torch.compile`` it uses nested ``torch.func.grad``
(:meth:`Unrolled.unroll_func`), with the same reuse of the leaders' forward passes and of
the first unroll step. All paths give the same values up to rounding.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from torch import Tensor
from torch.func import grad as func_grad

from games.base import Game, JointParams, checked_losses
from diffgames.errors import ConfigError
from solvers.base import OptimizersOption, Solver, detach_losses, player_gradients
from solvers.call_reuse import reuse_calls
from solvers.optim import SGD, Adam, BaseOptimizer

__all__ = ["Unrolled"]


def _transforms_active() -> bool:
    """True inside ``torch.func`` transforms (grad, vmap, …) or while ``torch.compile`` traces."""
    if torch._C._functorch.peek_interpreter_stack() is not None:
        return True
    return bool(torch.compiler.is_compiling())


def _grads(loss: Tensor, leaves: Mapping[str, Tensor], *, create_graph: bool, retain_graph: bool) -> dict[str, Tensor]:
    """``∂ loss / ∂ leaves`` (zeros where the loss does not reach a leaf)."""
    tensors = list(leaves.values())
    if loss.requires_grad:
        gs = torch.autograd.grad(loss, tensors, create_graph=create_graph,
                                 retain_graph=retain_graph or create_graph, allow_unused=True)
    else:
        gs = (None,) * len(tensors)
    return {k: torch.zeros_like(t) if g is None else g for (k, t), g in zip(leaves.items(), gs)}


#: Base optimizers whose update treats every parameter entry alike (no per-tensor norms),
#: so that an unroll may run them on all of a follower's parameters as one flat vector.
_ELEMENTWISE = (SGD, Adam)


class _Flat:
    """A follower's parameters as one flat vector during the unroll.

    An elementwise optimizer then updates one tensor instead of one per parameter (18
    operations per Adam update instead of 18 per parameter, and as many fewer in the
    backward pass); the game still sees its parameter dict, as views of the vector.
    """

    def __init__(self, like: Mapping[str, Tensor]):
        self.names = list(like)
        self.shapes = [v.shape for v in like.values()]
        self.sizes = [v.numel() for v in like.values()]

    @staticmethod
    def applies(optimizer: BaseOptimizer, params: Mapping[str, Tensor]) -> bool:
        values = list(params.values())
        return (type(optimizer) in _ELEMENTWISE and len(values) > 1
                and all(v.dtype == values[0].dtype and v.device == values[0].device for v in values))

    def flatten(self, tree: Mapping[str, Tensor]) -> Tensor:
        return torch.cat([tree[k].reshape(-1) for k in self.names])

    def unflatten(self, flat: Tensor) -> dict[str, Tensor]:
        return {k: p.view(shape) for k, p, shape in zip(self.names, flat.split(self.sizes), self.shapes)}

    def flatten_state(self, state: Any) -> Any:
        """The optimizer state with every ``{name: tensor}`` table of this player's
        parameters replaced by ``{"flat": vector}``."""
        if isinstance(state, Mapping):
            if set(state) == set(self.names) and all(isinstance(v, Tensor) for v in state.values()):
                return {"flat": self.flatten(state)}
            return {k: self.flatten_state(v) for k, v in state.items()}
        return state


class Unrolled(Solver):
    """Unrolled lookahead (Metz et al. 2016, "Unrolled Generative Adversarial Networks").

    Each leader ``L`` (default: the first player, the generator) descends the surrogate
    loss of Eq. (12), ``f_L(θ_L, θ_F^K(θ_L, θ_F))``, where ``θ_F^K`` is ``K`` steps of the
    followers' *own* base optimizers (same hyperparameters, a copy of their current
    optimizer state, the step's batch) on the followers' own losses, Eq. (11). Its gradient
    is Eq. (13): ``∂f/∂θ_L + ∂f/∂θ_F^K · dθ_F^K/dθ_L``; ``second_order=False`` drops the second
    term. Followers take a plain step at θ_t, and all players update simultaneously, as in
    the paper's equations. ``unroll_steps=0`` is exactly simultaneous gradient descent.

    Parameters
    ----------
    unroll_steps
        K ≥ 0, the number of follower steps unrolled.
    second_order
        Keep the term through ``dθ_F^K/dθ_L`` (the paper's method) or drop it.
    backend
        ``"func"``: differentiate through this package's functional optimizers — with the
        autograd engine (``create_graph=True``) in eager mode, with nested
        ``torch.func.grad`` inside ``torch.func`` transforms and ``torch.compile``; the
        two give the same values. ``"higher"``: ``higher``'s differentiable
        ``torch.optim`` optimizers (note: its Adam adds ε before the bias correction,
        torch.optim.Adam after).
    leaders
        The players that look ahead; every other player is a follower.
    """

    description = "unrolled lookahead of the followers' optimizer (Metz et al. 2016)"

    def __init__(
        self,
        *,
        unroll_steps: int = 5,
        second_order: bool = True,
        backend: Literal["func", "higher"] = "func",
        leaders: Sequence[str] | str | None = None,
        optimizers: OptimizersOption = None,
    ):
        super().__init__(optimizers=optimizers)
        if unroll_steps < 0:
            raise ConfigError(f"unrolled: unroll_steps must be an integer ≥ 0, got {unroll_steps}")
        if backend not in ("func", "higher"):
            raise ConfigError(f"unrolled: backend must be 'func' or 'higher', got {backend!r}")
        self.unroll_steps = int(unroll_steps)
        self.second_order = bool(second_order)
        self.backend = backend
        self.leaders = [leaders] if isinstance(leaders, str) else (None if leaders is None else list(leaders))

    def options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {"unroll_steps": self.unroll_steps, "second_order": self.second_order, "backend": self.backend}
        if self.leaders is not None:
            opts["leaders"] = self.leaders
        return opts

    def roles(self, game: Game) -> tuple[list[str], list[str]]:
        leaders = self.leaders or [game.player_names[0]]
        unknown = [p for p in leaders if p not in game.player_names]
        if unknown:
            raise ConfigError(f"unrolled: leaders {unknown} are not players of the game {list(game.player_names)}")
        followers = [p for p in game.player_names if p not in leaders]
        if not followers:
            raise ConfigError("unrolled: every player is a leader; leave at least one follower to unroll")
        return list(leaders), followers

    def step(self, game: Game, params: JointParams, state: dict[str, Any], batch: Any):
        opts = self.optimizers(game)
        if self.unroll_steps > 0 and self.backend == "func" and not _transforms_active():
            grads, losses = self.unroll_autograd(game, params, state, batch, *self.roles(game), opts)
        else:
            grads, losses = player_gradients(game, params, batch)
            if self.unroll_steps > 0:
                leaders, followers = self.roles(game)
                for leader in leaders:
                    grads[leader] = self.leader_gradient(game, params, state, batch, leader, followers, opts)
        new_params, new_opt = {}, {}
        with torch.no_grad():
            for p in game.player_names:
                new_params[p], new_opt[p] = opts[p].update(grads[p], state["opt"][p], params[p])
        return new_params, {**state, "opt": new_opt}, {"losses": losses}

    # ------------------------------------------------------------------ the surrogate gradient
    def leader_gradient(
        self,
        game: Game,
        params: JointParams,
        state: dict[str, Any],
        batch: Any,
        leader: str,
        followers: list[str],
        opts: dict[str, BaseOptimizer],
    ) -> dict[str, Tensor]:
        """∇_{θ_L} f_L(θ_L, θ_F^K) at ``params`` (Eq. 13, or its first term only)."""
        if self.backend == "higher" and self.second_order:
            return self._leader_gradient_higher(game, params, state, batch, leader, followers, opts)
        if self.backend == "higher" or not _transforms_active():
            return self.unroll_autograd(game, params, state, batch, [leader], followers, opts)[0][leader]
        return self.leader_gradient_func(game, params, state, batch, leader, followers, opts)

    def unroll_autograd(
        self,
        game: Game,
        params: JointParams,
        state: dict[str, Any],
        batch: Any,
        leaders: list[str],
        followers: list[str],
        opts: dict[str, BaseOptimizer],
    ) -> tuple[dict[str, dict[str, Tensor]], dict[str, Tensor]]:
        """One unroll shared by all ``leaders``, differentiated with the autograd engine.

        Returns ``(grads, losses)``: each leader's surrogate gradient (Eq. 13), each
        follower's plain gradient at θ_t (the unroll's first step computes it anyway) and
        every player's detached loss at θ_t. Needs ``unroll_steps ≥ 1``.
        """
        if self.unroll_steps < 1:
            raise ValueError("unroll_autograd needs unroll_steps ≥ 1")
        second = self.second_order
        grads: dict[str, dict[str, Tensor]] = {}
        flats = {f: _Flat(params[f]) for f in followers if _Flat.applies(opts[f], params[f])}
        with torch.enable_grad(), reuse_calls(game, leaders):
            leader_leaves = {p: {k: v.detach().requires_grad_(second) for k, v in params[p].items()} for p in leaders}
            current: JointParams = {**params, **leader_leaves}
            # the followers' unrolled variables: a flat vector or a {name: tensor} dict
            var: dict[str, Any] = {}
            states: dict[str, Any] = {}
            for f in followers:
                if f in flats:
                    var[f] = flats[f].flatten(params[f]).detach().requires_grad_()
                    states[f] = flats[f].flatten_state(state["opt"][f])
                    current[f] = flats[f].unflatten(var[f])
                else:
                    var[f] = current[f] = {k: v.detach().requires_grad_() for k, v in params[f].items()}
                    states[f] = state["opt"][f]
            for k in range(self.unroll_steps):
                losses = checked_losses(game, current, batch)
                fgrads = {}
                for i, f in enumerate(followers):
                    leaves = {"flat": var[f]} if f in flats else var[f]
                    fgrads[f] = _grads(losses[f], leaves, create_graph=second, retain_graph=i < len(followers) - 1)
                if k == 0:
                    start_losses = detach_losses(losses)
                    for f in followers:
                        g0 = flats[f].unflatten(fgrads[f]["flat"]) if f in flats else fgrads[f]
                        grads[f] = {n: g.detach() for n, g in g0.items()}
                for f in followers:
                    leaves = {"flat": var[f]} if f in flats else var[f]
                    if second:
                        new, states[f] = opts[f].update(fgrads[f], states[f], leaves)
                    else:
                        with torch.no_grad():
                            new, states[f] = opts[f].update(fgrads[f], states[f], leaves)
                        new = {n: v.requires_grad_() for n, v in new.items()}
                    var[f] = new["flat"] if f in flats else new
                current = {**current, **{f: flats[f].unflatten(var[f]) if f in flats else var[f] for f in followers}}
            if not second:  # the leaders' gradient at the unrolled followers, θ_F^K held fixed
                leader_leaves = {p: {k: v.detach().requires_grad_() for k, v in params[p].items()} for p in leaders}
                current = {**current, **leader_leaves,
                           **{f: {n: v.detach() for n, v in current[f].items()} for f in followers}}
            final = checked_losses(game, current, batch)
            for i, leader in enumerate(leaders):
                grads[leader] = _grads(final[leader], leader_leaves[leader], create_graph=False,
                                       retain_graph=i < len(leaders) - 1)
        return grads, start_losses

    def leader_gradient_func(
        self,
        game: Game,
        params: JointParams,
        state: dict[str, Any],
        batch: Any,
        leader: str,
        followers: list[str],
        opts: dict[str, BaseOptimizer],
    ) -> dict[str, Tensor]:
        """The leader's gradient as a pure ``torch.func`` computation (nested
        ``torch.func.grad``): composes with ``vmap`` and ``torch.compile``."""
        return self.unroll_func(game, params, state, batch, leader, followers, opts)[0]

    def unroll_func(
        self,
        game: Game,
        params: JointParams,
        state: dict[str, Any],
        batch: Any,
        leader: str,
        followers: list[str],
        opts: dict[str, BaseOptimizer],
    ) -> tuple[dict[str, Tensor], dict[str, dict[str, Tensor]], dict[str, Tensor]]:
        """:meth:`leader_gradient_func` with what the unroll computes on the way:
        ``(leader gradient, each follower's plain gradient at θ_t, every loss at θ_t)``.

        The unroll's first step takes the followers' gradients at θ_t, so a step needs no
        separate pass for them; and, as in the eager path, the leader's forward pass is
        computed once (:func:`reuse_calls`): nested ``torch.func.grad`` otherwise runs it
        ``K + 2`` times, which costs the compiled step half of its FLOPs on the MOG GAN.
        """
        follower_states = {f: state["opt"][f] for f in followers}

        def own_gradient(f: str, current: JointParams) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
            # the other players' parameters enter by closure, not as arguments: torch.func
            # would wrap them anew in every call, and reuse_calls matches tensors by identity
            def loss_of_own(own: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
                losses = checked_losses(game, {**current, f: own}, batch)
                return losses[f], losses

            return func_grad(loss_of_own, has_aux=True)(current[f])

        def unroll(current: JointParams) -> tuple[JointParams, dict[str, Any], dict[str, Tensor]]:
            states = dict(follower_states)
            first_grads: dict[str, Any] = {}
            first_losses: dict[str, Tensor] = {}
            for k in range(self.unroll_steps):
                fgrads = {}
                for f in followers:
                    fgrads[f], losses = own_gradient(f, current)
                    if k == 0:
                        first_losses = first_losses or losses
                current = dict(current)
                for f in followers:
                    current[f], states[f] = opts[f].update(fgrads[f], states[f], current[f])
                if k == 0:
                    first_grads = fgrads
            return current, first_grads, first_losses

        if not self.second_order:
            with reuse_calls(game, [leader]):
                unrolled, first_grads, first_losses = unroll(dict(params))
            fixed = {p: ({k: v.detach() for k, v in ps.items()} if p in followers else ps) for p, ps in unrolled.items()}

            def at_unrolled(leader_params: dict[str, Tensor]) -> Tensor:
                return checked_losses(game, {**fixed, leader: leader_params}, batch)[leader]

            return func_grad(at_unrolled)(params[leader]), first_grads, first_losses

        def surrogate(leader_params: dict[str, Tensor]):
            with reuse_calls(game, [leader]):
                current, first_grads, first_losses = unroll({**params, leader: leader_params})
                return checked_losses(game, current, batch)[leader], (first_grads, first_losses)

        with torch.enable_grad():
            grad, (first_grads, first_losses) = func_grad(surrogate, has_aux=True)(params[leader])
        return grad, first_grads, first_losses

    def _leader_gradient_higher(self, game, params, state, batch, leader, followers, opts) -> dict[str, Tensor]:
        import higher  # imported lazily: only this backend needs it

        with torch.enable_grad(), reuse_calls(game, [leader]):
            leader_params = {k: v.detach().requires_grad_() for k, v in params[leader].items()}
            current: JointParams = {**params, leader: leader_params}
            diff_opts = {}
            for f in followers:
                start = [v.detach().requires_grad_() for v in params[f].values()]
                torch_opt = opts[f].to_torch(start, state["opt"][f])
                diff_opts[f] = higher.get_diff_optim(torch_opt, start, track_higher_grads=True)
                current[f] = dict(zip(params[f].keys(), start))
            for _ in range(self.unroll_steps):
                stepped = {}
                for f in followers:
                    loss = checked_losses(game, current, batch)[f]
                    new = diff_opts[f].step(loss, params=list(current[f].values()))
                    stepped[f] = dict(zip(current[f].keys(), new))
                current = {**current, **stepped}
            loss = checked_losses(game, current, batch)[leader]
            tensors = list(leader_params.values())
            gs = torch.autograd.grad(loss, tensors, allow_unused=True)
        return {k: torch.zeros_like(t) if g is None else g for (k, t), g in zip(leader_params.items(), gs)}
