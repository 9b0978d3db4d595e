"""The unrolled surrogate gradient of Metz, Poole, Pfau & Sohl-Dickstein (2016), four ways.

Notation of the paper (Sec. 2.2): the leader (the generator, θ_L) and the followers (the
discriminator, θ_F). With the follower's own base optimizer ``opt_F`` (same
hyperparameters, a copy of its current state) and the step's batch,

* Eq. (11): ``θ_F^0 = θ_F``, ``θ_F^{k+1} = opt_F(∇_{θ_F} f_F(θ_L, θ_F^k), θ_F^k)``;
* Eq. (12): the surrogate loss ``f_K(θ_L, θ_F) = f_L(θ_L, θ_F^K(θ_L, θ_F))``;
* Eq. (13): its gradient ``df_K/dθ_L = ∂f_L/∂θ_L + ∂f_L/∂θ_F^K · dθ_F^K/dθ_L``; the
  first-order variant drops the second term.

:func:`reference_leader_gradient` computes exactly that, line by line, and nothing else.
The solver (:class:`solvers.unrolled.Unrolled`) uses one of three faster paths, chosen
when it is built, and each is tested equal to the reference (float64, 1e-10):

* :func:`unroll_autograd` — eager mode (``backend="func"``): the autograd engine with
  ``create_graph=True`` through this package's functional optimizers, which has far less
  per-operation overhead than nested ``torch.func.grad``. It shares one unroll between
  all leaders, computes the leaders' forward passes once per unroll
  (:meth:`games.base.Game.reusing_forward`), runs elementwise optimizers (SGD, Adam) on
  one flat vector per follower, and takes the followers' own gradients at θ_t from the
  unroll's first step.
* :func:`unroll_func` — the same with nested ``torch.func.grad``, a pure function that
  composes with ``torch.func`` transforms and that ``torch.compile`` captures in one graph
  (the solver's :meth:`~solvers.unrolled.Unrolled.functional_step`).
* :func:`leader_gradient_higher` — ``backend="higher"``: ``higher``'s differentiable
  ``torch.optim`` optimizers (its Adam adds ε before the bias correction, torch.optim.Adam
  after it; the two agree where the update rules are the same).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor
from torch.func import grad as func_grad
# torch.utils._pytree: the pytree flattening torch.func itself uses (no public alias in torch 2.x)
from torch.utils._pytree import tree_flatten, tree_map, tree_unflatten

from diffgames.trees import flatten, unflatten
from games.base import Game, JointParams, checked_losses
from solvers.base import detach_losses, zeros_where_none
from solvers.optim import SGD, Adam, BaseOptimizer

__all__ = ["reference_leader_gradient", "unroll_autograd", "unroll_checkpointed", "unroll_func", "leader_gradient_higher"]

Optimizers = dict[str, BaseOptimizer]


def _leaves(params: Mapping[str, Tensor], requires_grad: bool = True) -> dict[str, Tensor]:
    return {k: v.detach().requires_grad_(requires_grad) for k, v in params.items()}


def _grads(loss: Tensor, leaves: Mapping[str, Tensor], *, create_graph: bool, retain_graph: bool) -> dict[str, Tensor]:
    """``∂ loss / ∂ leaves`` (zeros where the loss does not reach a leaf)."""
    if not loss.requires_grad:
        return zeros_where_none([None] * len(leaves), leaves)
    gs = torch.autograd.grad(loss, list(leaves.values()), create_graph=create_graph,
                             retain_graph=retain_graph or create_graph, allow_unused=True)
    return zeros_where_none(gs, leaves)


# --------------------------------------------------------------------------- the reference
def reference_leader_gradient(game: Game, params: JointParams, state: dict[str, Any], batch: Any, leader: str,
                              followers: list[str], opts: Optimizers, unroll_steps: int,
                              second_order: bool = True, unroll_batches: list | None = None) -> dict[str, Tensor]:
    """``df_K/dθ_L`` of Eq. (13) at ``params``, written to be checked against the paper.

    ``state["opt"][f]`` is follower ``f``'s optimizer state; ``opts`` every player's base
    optimizer. Unrolled step ``k`` uses ``unroll_batches[k]`` when given (a fresh batch
    per step), else ``batch``; the surrogate (Eq. 12) always uses ``batch``. Slow by
    design: no reuse, no flattening, a new forward pass each time.
    """
    with torch.enable_grad():
        theta_leader = _leaves(params[leader])
        theta = {**params, leader: theta_leader, **{f: _leaves(params[f]) for f in followers}}
        opt_states = {f: state["opt"][f] for f in followers}
        for k in range(unroll_steps):  # Eq. (11): K steps of the followers' own optimizers
            losses = checked_losses(game, theta, batch if unroll_batches is None else unroll_batches[k])
            stepped = {}
            for f in followers:
                g = _grads(losses[f], theta[f], create_graph=second_order, retain_graph=True)
                stepped[f], opt_states[f] = opts[f].update(g, opt_states[f], theta[f])
            theta = {**theta, **stepped}
        if not second_order:  # Eq. (13) without its second term: θ_F^K held fixed
            theta = {**theta, **{f: {k: v.detach() for k, v in theta[f].items()} for f in followers}}
        surrogate = checked_losses(game, theta, batch)[leader]  # Eq. (12)
        return {k: g.detach() for k, g in _grads(surrogate, theta_leader, create_graph=False,  # Eq. (13)
                                                 retain_graph=False).items()}


# --------------------------------------------------------------------------- eager, fast
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
        self.like = dict(like)

    @staticmethod
    def applies(optimizer: BaseOptimizer, params: Mapping[str, Tensor]) -> bool:
        values = list(params.values())
        return (type(optimizer) in _ELEMENTWISE and len(values) > 1
                and all(v.dtype == values[0].dtype and v.device == values[0].device for v in values))

    def unflatten(self, vector: Tensor) -> dict[str, Tensor]:
        return unflatten(vector, self.like)

    def flatten_state(self, state: Any) -> Any:
        """The optimizer state with every ``{name: tensor}`` table of this player's
        parameters replaced by ``{"flat": vector}``."""
        if isinstance(state, Mapping):
            if set(state) == set(self.like) and all(isinstance(v, Tensor) for v in state.values()):
                return {"flat": flatten({k: state[k] for k in self.like})}
            return {k: self.flatten_state(v) for k, v in state.items()}
        return state


def unroll_autograd(game: Game, params: JointParams, state: dict[str, Any], batch: Any, leaders: list[str],
                    followers: list[str], opts: Optimizers, unroll_steps: int, second_order: bool,
                    unroll_batches: list | None = None) -> tuple[dict[str, dict[str, Tensor]], dict[str, Tensor]]:
    """One unroll shared by all ``leaders``, differentiated with the autograd engine.

    Returns ``(grads, losses)``: each leader's surrogate gradient (Eq. 13), each
    follower's plain gradient at θ_t (the unroll's first step computes it anyway) and
    every player's detached loss at θ_t, both on the first unrolled step's batch:
    ``unroll_batches[0]`` when given (unrolled step ``k`` then uses ``unroll_batches[k]``
    and only the surrogate uses ``batch``), else ``batch``. Needs ``unroll_steps ≥ 1``.
    """
    if unroll_steps < 1:
        raise ValueError("unroll_autograd needs unroll_steps ≥ 1")
    grads: dict[str, dict[str, Tensor]] = {}
    flats = {f: _Flat(params[f]) for f in followers if _Flat.applies(opts[f], params[f])}

    def leaves_of(f: str, var: Any) -> dict[str, Tensor]:
        return {"flat": var} if f in flats else var

    def as_params(f: str, var: Any) -> dict[str, Tensor]:
        return flats[f].unflatten(var) if f in flats else var

    with torch.enable_grad(), game.reusing_forward(leaders):
        leader_leaves = {p: _leaves(params[p], second_order) for p in leaders}
        # the followers' unrolled variables: a flat vector or a {name: tensor} dict
        var = {f: flatten(params[f]).detach().requires_grad_() if f in flats else _leaves(params[f]) for f in followers}
        states = {f: flats[f].flatten_state(state["opt"][f]) if f in flats else state["opt"][f] for f in followers}
        current: JointParams = {**params, **leader_leaves, **{f: as_params(f, var[f]) for f in followers}}
        for k in range(unroll_steps):
            losses = checked_losses(game, current, batch if unroll_batches is None else unroll_batches[k])
            fgrads = {f: _grads(losses[f], leaves_of(f, var[f]), create_graph=second_order,
                                retain_graph=i < len(followers) - 1) for i, f in enumerate(followers)}
            if k == 0:
                start_losses = detach_losses(losses)
                for f in followers:
                    g0 = as_params(f, fgrads[f]["flat"]) if f in flats else fgrads[f]
                    grads[f] = {n: g.detach() for n, g in g0.items()}
            for f in followers:
                if second_order:
                    new, states[f] = opts[f].update(fgrads[f], states[f], leaves_of(f, var[f]))
                else:
                    with torch.no_grad():
                        new, states[f] = opts[f].update(fgrads[f], states[f], leaves_of(f, var[f]))
                    new = {n: v.requires_grad_() for n, v in new.items()}
                var[f] = new["flat"] if f in flats else new
            current = {**current, **{f: as_params(f, var[f]) for f in followers}}
        if not second_order:  # the leaders' gradient at the unrolled followers, θ_F^K held fixed
            leader_leaves = {p: _leaves(params[p]) for p in leaders}
            current = {**current, **leader_leaves, **{f: {n: v.detach() for n, v in current[f].items()} for f in followers}}
        final = checked_losses(game, current, batch)
        for i, leader in enumerate(leaders):
            grads[leader] = _grads(final[leader], leader_leaves[leader], create_graph=False,
                                   retain_graph=i < len(leaders) - 1)
    return grads, start_losses


def _fresh(carry: Any) -> tuple[Any, list[Tensor]]:
    """A copy of ``carry`` whose floating tensors are new leaves; those leaves, in order."""
    leaves, spec = tree_flatten(carry)
    copied = [v.detach().requires_grad_(v.is_floating_point()) if isinstance(v, Tensor) else v for v in leaves]
    return tree_unflatten(copied, spec), [v for v in copied if isinstance(v, Tensor) and v.requires_grad]


def _floats(carry: Any) -> list[Tensor]:
    """The carry's tensors at the positions :func:`_fresh` makes leaves."""
    return [v for v in tree_flatten(carry)[0] if isinstance(v, Tensor) and v.is_floating_point()]


def unroll_checkpointed(game: Game, params: JointParams, state: dict[str, Any], batch: Any, leaders: list[str],
                        followers: list[str], opts: Optimizers, unroll_steps: int,
                        every: int) -> tuple[dict[str, dict[str, Tensor]], dict[str, Tensor]]:
    """:func:`unroll_autograd` (second order) storing the followers only every ``every``
    steps: the forward unroll keeps no graph, and the backward pass recomputes one segment
    of ``every`` steps at a time, with its graph, to carry the adjoint of the followers'
    parameters and optimizer state back to the segment's start (reverse-mode
    checkpointing, Griewank & Walther 2008, Ch. 12). Peak memory: one segment's graph plus
    ``K / every`` stored follower states — about ``√K`` with ``every ≈ √K`` — for about one
    more forward pass of the unroll. Same values as :func:`unroll_autograd` up to the order
    of the floating-point sums."""
    if unroll_steps < 1 or every < 1:
        raise ValueError("unroll_checkpointed needs unroll_steps ≥ 1 and every ≥ 1")
    flats = {f: _Flat(params[f]) for f in followers if _Flat.applies(opts[f], params[f])}

    def leaves_of(f: str, var: Any) -> dict[str, Tensor]:
        return {"flat": var} if f in flats else var

    def run(leader_leaves: JointParams, var: dict, states: dict, steps: int, graph: bool):
        """``steps`` follower steps from ``(var, states)``; the first step's grads and losses.
        The leaders' forward passes are reused within the segment only, so that no
        segment's graph outlives its backward pass."""
        with game.reusing_forward(leaders):
            return _segment(leader_leaves, var, states, steps, graph)

    def _segment(leader_leaves: JointParams, var: dict, states: dict, steps: int, graph: bool):
        first = None
        for _ in range(steps):
            current = {**params, **leader_leaves, **{f: flats[f].unflatten(var[f]) if f in flats else var[f]
                                                     for f in followers}}
            losses = checked_losses(game, current, batch)
            fgrads = {f: _grads(losses[f], leaves_of(f, var[f]), create_graph=graph, retain_graph=True)
                      for f in followers}
            first = first or (losses, fgrads)
            for f in followers:
                new, states[f] = opts[f].update(fgrads[f], states[f], leaves_of(f, var[f]))
                var[f] = new["flat"] if f in flats else new
            if not graph:  # keep nothing of this step's graph
                var = {f: tree_map(lambda v: v.detach().requires_grad_(), var[f]) for f in followers}
                states = {f: tree_map(lambda v: v.detach() if isinstance(v, Tensor) else v, states[f])
                          for f in followers}
        return var, states, first

    with torch.enable_grad():
        fixed_leaders = {p: _leaves(params[p], False) for p in leaders}
        var = {f: flatten(params[f]).detach().requires_grad_() if f in flats else _leaves(params[f]) for f in followers}
        states = {f: flats[f].flatten_state(state["opt"][f]) if f in flats else state["opt"][f] for f in followers}
        boundaries = []  # the followers and their optimizer states at the start of each segment
        for start in range(0, unroll_steps, every):
            boundaries.append((min(every, unroll_steps - start), (var, states)))
            var, states, first = run(fixed_leaders, dict(var), dict(states), boundaries[-1][0], False)
            if start == 0:
                start_losses = detach_losses(first[0])
                grads = {f: {n: g.detach() for n, g in (flats[f].unflatten(first[1][f]["flat"]) if f in flats
                                                         else first[1][f]).items()} for f in followers}
        for leader in leaders:
            lead = {p: _leaves(params[p], p == leader) for p in leaders}
            (final_var, _), ins = _fresh((var, states))
            current = {**params, **lead, **{f: flats[f].unflatten(final_var[f]) if f in flats else final_var[f]
                                            for f in followers}}
            out = torch.autograd.grad(checked_losses(game, current, batch)[leader], [*lead[leader].values(), *ins],
                                      allow_unused=True)
            n = len(lead[leader])
            total, adjoint = list(zeros_where_none(out[:n], lead[leader]).values()), list(out[n:])
            for steps, carry in reversed(boundaries):  # the adjoint of each segment's start, last segment first
                lead = {p: _leaves(params[p], p == leader) for p in leaders}
                (var_in, states_in), ins = _fresh(carry)
                var_out, states_out, _ = run(lead, dict(var_in), dict(states_in), steps, True)
                pairs = [(o, a) for o, a in zip(_floats((var_out, states_out)), adjoint)
                         if a is not None and o.requires_grad]
                if not pairs:
                    break  # nothing flows further back
                got = torch.autograd.grad([o for o, _ in pairs], [*lead[leader].values(), *ins], [a for _, a in pairs],
                                          allow_unused=True)
                total = [t if g is None else t + g for t, g in zip(total, got[:n])]
                adjoint = list(got[n:])
            grads[leader] = {k: g.detach() for k, g in zip(params[leader], total)}
    return grads, start_losses


# --------------------------------------------------------------------------- torch.func
def unroll_func(game: Game, params: JointParams, state: dict[str, Any], batch: Any, leader: str,
                followers: list[str], opts: Optimizers, unroll_steps: int, second_order: bool,
                ) -> tuple[dict[str, Tensor], dict[str, dict[str, Tensor]], dict[str, Tensor]]:
    """The leader's surrogate gradient as a pure ``torch.func`` computation (nested
    ``torch.func.grad``), with what the unroll computes on the way:
    ``(leader gradient, each follower's plain gradient at θ_t, every loss at θ_t)``.

    As in :func:`unroll_autograd`, the leader's forward pass is computed once per unroll:
    nested ``torch.func.grad`` otherwise runs it ``K + 2`` times, which costs a compiled
    step half of its FLOPs on the MOG GAN.
    """
    follower_states = {f: state["opt"][f] for f in followers}

    def own_gradient(f: str, current: JointParams) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        # the other players' parameters enter by closure, not as arguments: torch.func
        # would wrap them anew in every call, and the forward reuse matches tensors by identity
        def loss_of_own(own: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
            losses = checked_losses(game, {**current, f: own}, batch)
            return losses[f], losses

        return func_grad(loss_of_own, has_aux=True)(current[f])

    def unroll(current: JointParams) -> tuple[JointParams, dict[str, Any], dict[str, Tensor]]:
        states = dict(follower_states)
        first_grads: dict[str, Any] = {}
        first_losses: dict[str, Tensor] = {}
        for k in range(unroll_steps):
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

    if not second_order:
        with game.reusing_forward([leader]):
            unrolled, first_grads, first_losses = unroll(dict(params))
        fixed = {p: ({k: v.detach() for k, v in ps.items()} if p in followers else ps) for p, ps in unrolled.items()}

        def at_unrolled(leader_params: dict[str, Tensor]) -> Tensor:
            return checked_losses(game, {**fixed, leader: leader_params}, batch)[leader]

        return func_grad(at_unrolled)(params[leader]), first_grads, first_losses

    def surrogate(leader_params: dict[str, Tensor]):
        with game.reusing_forward([leader]):
            current, first_grads, first_losses = unroll({**params, leader: leader_params})
            return checked_losses(game, current, batch)[leader], (first_grads, first_losses)

    with torch.enable_grad():
        grad, (first_grads, first_losses) = func_grad(surrogate, has_aux=True)(params[leader])
    return grad, first_grads, first_losses


# --------------------------------------------------------------------------- higher
def leader_gradient_higher(game: Game, params: JointParams, state: dict[str, Any], batch: Any, leader: str,
                           followers: list[str], opts: Optimizers, unroll_steps: int,
                           unroll_batches: list | None = None) -> dict[str, Tensor]:
    """Eq. (13) through ``higher``'s differentiable copies of the followers' ``torch.optim``
    optimizers (second order); ``unroll_batches`` as in :func:`reference_leader_gradient`."""
    import higher  # imported lazily: only this backend needs it

    with torch.enable_grad(), game.reusing_forward([leader]):
        leader_params = _leaves(params[leader])
        current: JointParams = {**params, leader: leader_params}
        diff_opts = {}
        for f in followers:
            start = [v.detach().requires_grad_() for v in params[f].values()]
            torch_opt = opts[f].to_torch(start, state["opt"][f])
            diff_opts[f] = higher.get_diff_optim(torch_opt, start, track_higher_grads=True)
            current[f] = dict(zip(params[f].keys(), start))
        for k in range(unroll_steps):
            stepped = {}
            for f in followers:
                loss = checked_losses(game, current, batch if unroll_batches is None else unroll_batches[k])[f]
                new = diff_opts[f].step(loss, params=list(current[f].values()))
                stepped[f] = dict(zip(current[f].keys(), new))
            current = {**current, **stepped}
        loss = checked_losses(game, current, batch)[leader]
        return _grads(loss, leader_params, create_graph=False, retain_graph=False)
