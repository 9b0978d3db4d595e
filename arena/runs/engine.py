"""Step engines: the training state of one seed, or of N seeds stacked into one computation.

The run loop (:func:`arena.runs.loop.run_loop`) drives an engine without knowing which it is:

* :class:`SeedEngine` — one seed: ``solver.step`` on the game (or its compiled step);
* :class:`StackedEngine` — N seeds of one game and solver as one batched computation:
  parameters, solver states and batches carry a leading seed axis and the solver steps a
  :class:`arena.runs.stacked.StackedGame`, whose loss for each player is the sum of that
  player's loss over the copies. The copies share no parameters, so the gradient of the
  sum with respect to seed ``s``'s parameters is seed ``s``'s own gradient, and a solver
  whose capability record says ``vectorizable`` (it works per parameter entry) runs every
  seed's own step at once.

Each seed draws its batches from its own generator seeded by its seed, so the two engines
see the same data; their numbers agree to float tolerance (batched and single matrix
products round differently).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor
# torch.utils._pytree: the pytree flattening torch.func itself uses (no public alias in torch 2.x)
from torch.utils._pytree import tree_flatten, tree_unflatten

from arena.runs.config import RunConfig
from arena.runs.stacked import StackedGame, stack_trees, unstack_tree
from arena.runs.work import WorkCounter
from diffgames.errors import ConfigError
from games.base import Game, JointParams
from solvers.base import Solver

__all__ = ["SeedEngine", "StackedEngine", "nonfinite_player"]


def nonfinite_player(*groups: dict[str, Any]) -> str | None:
    """The first player with a non-finite loss or parameter in ``groups``, else None.

    One device synchronisation for the common all-finite case (on a GPU a per-tensor
    check would stall the queue a dozen times per step); the culprit is looked up only
    after that check fails.
    """
    per_player = [(player, list(value.values()) if isinstance(value, dict) else [value])
                  for values in groups for player, value in values.items()]
    flags = [torch.isfinite(t).all() for _, tensors in per_player for t in tensors]
    if not flags or bool(torch.stack([f.to(flags[0].device) for f in flags]).all()):
        return None
    for player, tensors in per_player:
        if not all(bool(torch.isfinite(t).all()) for t in tensors):
            return player
    return None


class SeedEngine:
    """One seed's parameters, solver state and data stream."""

    n = 1

    def __init__(self, game: Game, solver: Solver, config: RunConfig, device: torch.device):
        self.game, self.solver, self.device = game, solver, device
        self.params = game.init_params(config.seed, device, config.torch_dtype)
        self.state = solver.init(game, self.params)
        self.generator = torch.Generator(device=device).manual_seed(config.seed)
        self.compiled = None
        # the solver sees the game through a counter of loss-gradient evaluations; a compiled
        # step cannot run Python hooks, so its work is not counted (None)
        self.counter: WorkCounter | None = WorkCounter(game)
        if config.compile:
            from solvers.compiled import compile_step

            self.compiled, self.counter = compile_step(solver, game), None

    def load(self, checkpoints: list[dict[str, Any]]) -> None:
        (ckpt,) = checkpoints
        self.params, self.state = ckpt["params"], ckpt["solver_state"]
        self.generator.set_state(ckpt["rng"]["data"].cpu())  # generator states live on the CPU
        self.counter = _restored_counter(self.counter, ckpt)

    def work(self, i: int) -> dict[str, int] | None:
        """Seed ``i``'s loss-gradient evaluations per player since step 0 (:mod:`arena.runs.work`),
        or ``None`` where they are not counted (a compiled step, a checkpoint without them)."""
        return None if self.counter is None else dict(self.counter.counts)

    def seed_params(self, i: int) -> JointParams:
        return self.params

    def checkpoint_payload(self, i: int) -> dict[str, Any]:
        return {"params": self.params, "solver_state": self.state, "rng": {"data": self.generator.get_state()},
                **({} if self.counter is None else {"work": dict(self.counter.counts)})}

    def advance(self) -> list[str | None]:
        """One step. Returns ``[None]``, or ``[player]`` when that player's loss or
        parameters became non-finite (the parameters then stay at the last good point)."""
        batch = self.solver.sample_batch(self.game, self.generator, self.device, self.state)
        if self.compiled is not None:
            new_params, new_state, info = self.compiled(self.params, self.state, batch)
        else:
            new_params, new_state, info = self.solver.step(_seen(self.game, self.counter), self.params, self.state, batch)
        bad = nonfinite_player(info["losses"], new_params)
        if bad is None:
            self.params, self.state = new_params, new_state
        return [bad]

    def summary_extra(self) -> dict[str, Any]:
        if self.compiled is None:
            return {}
        return {"compile_seconds": self.compiled.compile_seconds, "compile_fallback": self.compiled.fallback}


class StackedEngine:
    """N seeds of one game and solver, stacked along a leading axis and stepped at once.

    A seed whose loss or parameters become non-finite keeps its last good point (so it
    cannot poison the others) and is reported by :meth:`advance`.
    """

    def __init__(self, game: Game, solver: Solver, configs: list[RunConfig], device: torch.device):
        check_vectorizable(game, solver, configs)
        self.game, self.solver, self.device, self.n = game, solver, device, len(configs)
        self.stacked = StackedGame(game, self.n, record=True)
        # one backward pass through the stacked loss is one gradient evaluation of every seed
        self.counter: WorkCounter | None = WorkCounter(self.stacked)
        first = configs[0]
        self.params = stack_trees([game.init_params(c.seed, device, first.torch_dtype) for c in configs])
        self.state = solver.init(self.stacked, self.params)
        self.mask = _stacked_mask(self.state, solver.init(game, unstack_tree(self.params, 0)), self.n)
        self.generators = [torch.Generator(device=device).manual_seed(c.seed) for c in configs]

    def load(self, checkpoints: list[dict[str, Any]]) -> None:
        self.params = stack_trees([c["params"] for c in checkpoints])
        self.state = _restack([c["solver_state"] for c in checkpoints], self.mask)
        for generator, c in zip(self.generators, checkpoints):
            generator.set_state(c["rng"]["data"].cpu())  # generator states live on the CPU
        self.counter = _restored_counter(self.counter, checkpoints[0])

    def work(self, i: int) -> dict[str, int] | None:
        return None if self.counter is None else dict(self.counter.counts)

    def seed_params(self, i: int) -> JointParams:
        return unstack_tree(self.params, i)

    def checkpoint_payload(self, i: int) -> dict[str, Any]:
        return {"params": self.seed_params(i), "solver_state": unstack_tree(self.state, i, self.mask),
                "rng": {"data": self.generators[i].get_state()},
                **({} if self.counter is None else {"work": dict(self.counter.counts)})}

    def advance(self) -> list[str | None]:
        batch = stack_trees([self.game.sample(g, self.device) for g in self.generators])
        self.stacked.recorded.clear()
        new_params, new_state, _ = self.solver.step(_seen(self.stacked, self.counter), self.params, self.state, batch)
        ok = _per_seed_finite(new_params, self.n)
        for record in self.stacked.recorded:
            ok &= _per_seed_finite(record, self.n)
        if bool(ok.all()):
            self.params, self.state = new_params, new_state
            return [None] * self.n
        culprits = [None if bool(ok[i]) else self._culprit(new_params, i) for i in range(self.n)]
        self.params = _select(ok, new_params, self.params, True)
        self.state = _select(ok, new_state, self.state, self.mask)
        return culprits

    def _culprit(self, params: JointParams, i: int) -> str:
        """The first player of seed ``i`` with a non-finite loss, else with non-finite parameters."""
        players = self.game.player_names
        for p in players:
            if any(not bool(torch.isfinite(r[p][i])) for r in self.stacked.recorded if p in r):
                return p
        for p in players:
            if not all(bool(torch.isfinite(v[i]).all()) for v in params[p].values()):
                return p
        return players[0]

    def summary_extra(self) -> dict[str, Any]:
        return {}


def _seen(game: Game, counter: WorkCounter | None) -> Game | WorkCounter:
    """The game as the solver sees it: through the work counter where work is counted."""
    return game if counter is None else counter


def _restored_counter(counter: WorkCounter | None, ckpt: dict[str, Any]) -> WorkCounter | None:
    """The counter continued from a checkpoint's counts; ``None`` when the checkpoint has
    none (written before work was counted): the count would start wrong, so it stops."""
    if counter is None or not isinstance(ckpt.get("work"), dict):
        return None
    return WorkCounter(counter.game, ckpt["work"])


#: Config fields that may differ between the seeds of one stacked run.
PER_SEED_FIELDS = ("seed", "out", "label")


def check_vectorizable(game: Game, solver: Solver, configs: list[RunConfig]) -> None:
    """Refuse, with one clear message, seeds that cannot run as one batched computation."""
    outs = [str(Path(c.out).resolve()) for c in configs]
    if len(set(outs)) != len(outs):
        raise ConfigError("vectorized seeds need distinct output directories")
    shared = [{k: v for k, v in c.to_dict().items() if k not in PER_SEED_FIELDS} for c in configs]
    for c, s in zip(configs[1:], shared[1:]):
        if s != shared[0]:
            differ = sorted(k for k in set(s) | set(shared[0]) if s.get(k) != shared[0].get(k))
            raise ConfigError(f"vectorized seeds must share everything but {', '.join(PER_SEED_FIELDS)}; "
                              f"seed {c.seed} differs in {differ}")
    if configs[0].compile:
        raise ConfigError("--compile compiles one seed's step; vectorized seeds run the eager batched step. "
                          "Drop --compile or --vectorize")
    if not game.capabilities.vectorizable:
        raise ConfigError(f"game {configs[0].game!r} cannot run under torch.func.vmap (its capability record "
                          "says vectorizable=False); run the seeds separately")
    if not solver.capabilities.vectorizable:
        import solvers

        able = [name for name in solvers.available() if solvers.make(name).capabilities.vectorizable]
        inner = getattr(solver, "inner", None)  # a wrapper is as vectorizable as the solver it wraps
        what = f"{configs[0].solver!r}" + (f" (inner solver {inner.registered_name!r})" if inner is not None else "")
        raise ConfigError(f"solver {what} cannot be vectorized over seeds (it reduces over all "
                          f"parameters, which would mix the seeds); vectorizable: {', '.join(able)}. "
                          "Run the seeds separately.")


def _stacked_mask(stacked_state: Any, single_state: Any, n: int) -> Any:
    """Which leaves of the stacked solver state carry the seed axis (the rest are shared,
    e.g. Adam's step counter)."""
    s_leaves, spec = tree_flatten(stacked_state)
    o_leaves, o_spec = tree_flatten(single_state)
    if spec != o_spec:
        raise ConfigError("the solver's state has a different structure for stacked seeds; it cannot be vectorized")
    mask = []
    for s, o in zip(s_leaves, o_leaves):
        if isinstance(s, Tensor) and tuple(s.shape) == (n, *o.shape):
            mask.append(True)
        elif isinstance(s, Tensor) and s.shape == o.shape:
            mask.append(False)
        else:
            raise ConfigError("the solver's state does not stack over seeds; it cannot be vectorized")
    return tree_unflatten(mask, spec)


def _per_seed_finite(tree: Any, n: int) -> Tensor:
    ok = torch.ones(n, dtype=torch.bool)
    for leaf in tree_flatten(tree)[0]:
        if isinstance(leaf, Tensor) and leaf.ndim >= 1 and leaf.shape[0] == n:
            ok &= torch.isfinite(leaf.reshape(n, -1)).all(dim=1).cpu()
    return ok


def _select(mask: Tensor, new: Any, old: Any, stacked: Any) -> Any:
    """Seeds where ``mask`` is False keep ``old`` (diverged seeds stop moving)."""
    n_leaves, spec = tree_flatten(new)
    o_leaves = tree_flatten(old)[0]
    s_leaves = tree_flatten(stacked)[0] if not isinstance(stacked, bool) else [stacked] * len(n_leaves)
    out = []
    for a, b, s in zip(n_leaves, o_leaves, s_leaves):
        if s:
            m = mask.to(a.device).reshape(-1, *([1] * (a.ndim - 1)))
            out.append(torch.where(m, a, b))
        else:
            out.append(a)
    return tree_unflatten(out, spec)


def _restack(trees: list[Any], stacked: Any) -> Any:
    """:func:`stack_trees` for the leaves ``stacked`` marks; the others (shared by all seeds,
    e.g. Adam's step counter) are taken from the first tree."""
    columns = [tree_flatten(t)[0] for t in trees]
    marks, spec = tree_flatten(stacked)[0], tree_flatten(trees[0])[1]
    return tree_unflatten([torch.stack([c[i] for c in columns]) if mark else columns[0][i]
                           for i, mark in enumerate(marks)], spec)
