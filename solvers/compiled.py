"""Compiled solver steps: ``torch.compile`` of a solver's step written with ``torch.func``.

``torch.compile`` cannot capture ``torch.autograd.grad`` (the eager solvers' gradients) in
one graph, and AOT-autograd does not support double backward through
``autograd.grad(create_graph=True)``. A step whose every derivative is a ``torch.func``
transform is a plain forward computation to the compiler, nested ``torch.func.grad``
included, so it compiles in one graph (``fullgraph=True``). Solvers whose capability record
says ``compilable`` give that step (:meth:`solvers.base.Solver.functional_step`);
:func:`compile_step` compiles it and falls back, with a warning that says why, to the
eager ``solver.step`` when a solver has none or compilation fails.

>>> step = compile_step(solver, game)          # doctest: +SKIP
>>> params, state, info = step(params, state, batch)   # the first call compiles
>>> step.compile_seconds, step.fallback        # doctest: +SKIP
"""
from __future__ import annotations

import time
import warnings
from typing import Any

import torch

from games.base import Game, JointParams
from solvers.base import Solver, StepFn

__all__ = ["compile_step", "functional_step", "CompiledStep", "StepFn"]


def functional_step(solver: Solver, game: Game) -> StepFn | None:
    """``solver``'s step on ``game`` as a pure ``torch.func`` function, or ``None`` when
    its capability record does not say ``compilable``."""
    if not solver.capabilities.compilable:
        return None
    return solver.functional_step(game)


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
            self._fall_back(f"{solver!r} has no torch.func step (its capability record says compilable=False)")
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
