"""Lookahead–minmax: a slow/fast-weights wrapper around any solver (Chavdarova et al. 2021)."""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from games.base import Game, JointParams
from diffgames.errors import ConfigError
from solvers.base import OptimizersOption, Solver, SolverCapabilities

__all__ = ["Lookahead"]


class Lookahead(Solver):
    """Lookahead–minmax around an inner solver (joint slow weights of all players).

    Chavdarova, Pagliardini, Stich, Fleuret & Jaggi (2021), "Taming GANs with
    Lookahead-Minmax", Algorithm 1 (after Zhang et al. 2019's Lookahead): the *fast*
    weights θ take the inner solver's steps; every ``k`` steps the *slow* weights φ of all
    players move towards them together and the fast weights restart there:

        ``φ ← φ + α (θ − φ)``,  ``θ ← φ``.

    The inner solver's state (e.g. Adam's moments) is kept across the synchronisation,
    as in the paper's code. The state holds ``inner`` (the inner solver's state),
    ``slow`` (φ) and ``count`` (steps taken, an int64 tensor), so it checkpoints like
    every other state; the synchronisation is branch-free (``torch.where``).
    ``k=1, alpha=1`` is the inner solver exactly.

    ``info``: the inner solver's info plus ``lookahead_sync`` (a bool tensor: this step
    synchronised).

    Parameters
    ----------
    inner
        Name of a registered solver (default ``"simultaneous"``).
    inner_options
        Its options (validated by the registry).
    k
        Synchronisation period, an integer ≥ 1.
    alpha
        Slow-weights step α in (0, 1].
    optimizers
        Passed to the inner solver (same as ``inner_options={"optimizers": ...}``).
    """

    description = "Lookahead-minmax slow/fast weights around any solver (Chavdarova et al. 2021)"

    def __init__(self, *, inner: str = "simultaneous", inner_options: Mapping[str, Any] | None = None,
                 k: int = 5, alpha: float = 0.5, optimizers: OptimizersOption = None):
        import solvers  # here, not at module level: solvers/__init__ imports this module

        super().__init__(optimizers=None)
        if k < 1:
            raise ConfigError(f"lookahead: k (the synchronisation period) must be an integer ≥ 1, got {k!r}")
        if not (math.isfinite(alpha) and 0 < alpha <= 1):
            raise ConfigError(f"lookahead: alpha must be in (0, 1], got {alpha!r}")
        if inner == "lookahead":
            raise ConfigError("lookahead: inner cannot be 'lookahead' itself; pick the solver to wrap, e.g. 'simultaneous'")
        options = dict(inner_options or {})
        if optimizers is not None:
            if "optimizers" in options:
                raise ConfigError("lookahead: give optimizers either as an option or in inner_options, not both")
            options["optimizers"] = optimizers
        self.inner_name, self.inner_options = inner, options
        self.inner = solvers.make(inner, **options)
        self.k, self.alpha = int(k), float(alpha)

    @property
    def capabilities(self) -> SolverCapabilities:  # type: ignore[override]
        """The slow/fast averaging is elementwise: as vectorizable as the inner solver."""
        return SolverCapabilities(players=self.inner.capabilities.players,
                                  vectorizable=self.inner.capabilities.vectorizable)

    def options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {"inner": self.inner_name, "k": self.k, "alpha": self.alpha}
        if self.inner_options:
            opts["inner_options"] = dict(self.inner_options)
        return opts

    def init(self, game: Game, params: JointParams) -> dict[str, Any]:
        any_param = next(iter(next(iter(params.values())).values()))
        return {
            "inner": self.inner.init(game, params),
            "slow": {p: {k: v.detach().clone() for k, v in ps.items()} for p, ps in params.items()},
            "count": torch.zeros((), dtype=torch.int64, device=any_param.device),
        }

    def step(self, game: Game, params: JointParams, state: dict[str, Any], batch: Any):
        fast, inner_state, info = self.inner.step(game, params, state["inner"], batch)
        count = state["count"] + 1
        sync = torch.remainder(count, self.k) == 0
        new_params, slow = {}, {}
        with torch.no_grad():
            for p, ps in fast.items():
                new_params[p], slow[p] = {}, {}
                for name, theta in ps.items():
                    phi = state["slow"][p][name]
                    # lerp with weight 1 returns the end point exactly, so k=1, α=1 is the inner solver
                    moved = torch.lerp(phi, theta, self.alpha)
                    new_params[p][name] = torch.where(sync, moved, theta)
                    slow[p][name] = torch.where(sync, moved, phi)
        new_state = {**state, "inner": inner_state, "slow": slow, "count": count}
        return new_params, new_state, {**info, "lookahead_sync": sync}
