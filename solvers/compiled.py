"""Compiled solver steps: ``torch.compile`` of a solver's step written with ``torch.func``.

``torch.compile`` cannot capture ``torch.autograd.grad`` (the eager solvers' gradients) in
one graph, and AOT-autograd does not support double backward through
``autograd.grad(create_graph=True)``. A step whose every derivative is a ``torch.func``
transform is a plain forward computation to the compiler, nested ``torch.func.grad``
included, so it compiles in one graph (``fullgraph=True``). :func:`functional_step`
builds that step for the solvers that have one (:data:`FUNCTIONAL`); :func:`compile_step`
compiles it and falls back, with a warning that says why, to the eager
``solver.step`` when a solver has no functional step or compilation fails.

>>> step = compile_step(solver, game)          # doctest: +SKIP
>>> params, state, info = step(params, state, batch)   # the first call compiles
>>> step.compile_seconds, step.fallback        # doctest: +SKIP
"""
from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.func import grad as func_grad

from games.base import Game, JointParams, checked_losses
from solvers.base import Solver
from solvers.simple import Alternating, Simultaneous
from solvers.unrolled import Unrolled

__all__ = ["compile_step", "functional_step", "CompiledStep", "FUNCTIONAL", "StepFn"]

StepFn = Callable[[JointParams, dict, Any], tuple[JointParams, dict, dict]]

#: Solvers with a ``torch.func`` step (Unrolled with ``backend="func"`` only).
FUNCTIONAL = (Simultaneous, Alternating, Unrolled)


def _own_gradient(game: Game, params: JointParams, batch: Any, player: str) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """``(∇_{θ_p} loss_p, every player's detached loss)`` at ``params`` with ``torch.func.grad``."""

    def loss(own: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        losses = checked_losses(game, {**params, player: own}, batch)
        return losses[player], {p: l.detach() for p, l in losses.items()}

    return func_grad(loss, has_aux=True)(params[player])


def functional_step(solver: Solver, game: Game) -> StepFn | None:
    """``solver``'s step on ``game`` as a pure ``torch.func`` function
    ``(params, state, batch) -> (params, state, info)``, or ``None`` when the solver has
    none. It computes what ``solver.step`` computes (same equations, same base optimizers);
    values agree to float rounding."""
    if not isinstance(solver, FUNCTIONAL) or (isinstance(solver, Unrolled) and solver.backend != "func"):
        return None
    opts = solver.optimizers(game)  # resolved once, outside the compiled region
    names = list(game.player_names)

    def update(params: JointParams, state: dict, grads: dict, players: list[str]):
        new_params, new_opt = dict(params), dict(state["opt"])
        for p in players:
            new_params[p], new_opt[p] = opts[p].update(grads[p], state["opt"][p], params[p])
        return new_params, {**state, "opt": new_opt}

    if isinstance(solver, Alternating):
        order = solver.order(game)

        def alternating(params, state, batch):
            params, losses, opt_state = dict(params), {}, dict(state["opt"])
            for p in order:
                g, step_losses = _own_gradient(game, params, batch, p)
                losses[p] = step_losses[p]
                params[p], opt_state[p] = opts[p].update(g, state["opt"][p], params[p])
            return params, {**state, "opt": opt_state}, {"losses": {p: losses[p] for p in names}}

        return alternating

    unroll = isinstance(solver, Unrolled) and solver.unroll_steps > 0
    leaders, followers = solver.roles(game) if unroll else ([], names)

    def simultaneous_or_unrolled(params, state, batch):
        grads, losses = {}, None
        for leader in leaders:
            # the first unroll gives the followers' gradients and the losses at θ_t
            grads[leader], first_grads, first_losses = solver.unroll_func(
                game, params, state, batch, leader, followers, opts)
            if losses is None:
                grads.update(first_grads)
                losses = {p: l.detach() for p, l in first_losses.items()}
        for p in followers:
            if p not in grads:  # no unroll (K = 0): simultaneous gradient descent
                grads[p], step_losses = _own_gradient(game, params, batch, p)
                losses = step_losses if losses is None else losses
        new_params, new_state = update(params, state, grads, names)
        return new_params, new_state, {"losses": losses}

    return simultaneous_or_unrolled


class CompiledStep:
    """A compiled step: call it as ``step(params, state, batch)``.

    Attributes
    ----------
    compile_seconds
        Time of the first call (tracing and compiling included), ``None`` before it.
    fallback
        ``None`` while the compiled step is used, else why the eager ``solver.step`` runs.
    """

    def __init__(self, solver: Solver, game: Game, *, mode: str | None = None, fullgraph: bool = True,
                 backend: str = "inductor"):
        self.solver, self.game = solver, game
        self.compile_seconds: float | None = None
        self.fallback: str | None = None
        self.functional = functional_step(solver, game)
        self.compiled = None
        if self.functional is None:
            self._fall_back(f"{solver!r} has no torch.func step (compilable: Simultaneous, Alternating, "
                            "Unrolled with backend='func')")
        else:
            self.compiled = torch.compile(self.functional, fullgraph=fullgraph, mode=mode, dynamic=False,
                                          backend=backend)

    def _fall_back(self, reason: str) -> None:
        self.fallback = reason
        warnings.warn(f"compile_step: {reason}; running the eager solver step instead", RuntimeWarning, stacklevel=3)

    def __call__(self, params: JointParams, state: dict, batch: Any):
        if self.fallback is not None:
            return self.solver.step(self.game, params, state, batch)
        if self.compile_seconds is None:
            started = time.perf_counter()
            try:
                out = self.compiled(params, state, batch)
            except Exception as exc:  # noqa: BLE001 - any compiler failure falls back
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                self._fall_back(f"torch.compile failed ({type(exc).__name__}: {first[:300]})")
                return self.solver.step(self.game, params, state, batch)
            self.compile_seconds = time.perf_counter() - started
            return out
        return self.compiled(params, state, batch)


def compile_step(solver: Solver, game: Game, *, mode: str | None = None, fullgraph: bool = True,
                 backend: str = "inductor") -> CompiledStep:
    """``torch.compile`` the step of ``solver`` on ``game``.

    Parameters
    ----------
    solver, game
        The solver and the game; the step is specialised to them (and, on its first call,
        to the shapes, dtypes and device of the parameters and the batch).
    mode
        ``torch.compile``'s mode (``None``, ``"reduce-overhead"``, ``"max-autotune"``, …).
    fullgraph
        Require one graph (default); a graph break then falls back instead of running a
        partly compiled step.
    backend
        ``torch.compile``'s backend: ``"inductor"`` (default, generates kernels) or e.g.
        ``"aot_eager"`` (captures the graph without code generation; for tests).

    Returns
    -------
    CompiledStep
        ``step(params, state, batch) -> (params, state, info)`` like ``solver.step``; its
        ``compile_seconds`` says how long the first call took, ``fallback`` why it runs
        eagerly (``None`` when compiled). Compilation happens on the first call.
    """
    return CompiledStep(solver, game, mode=mode, fullgraph=fullgraph, backend=backend)
