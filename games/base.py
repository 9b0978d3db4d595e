"""The Game contract.

A game declares its players (ordered names and modules) and gives every player a loss at
the joint parameters ``params = {player: {name: Tensor}}``. Losses are pure functions:
no in-place changes and no hidden randomness (all noise comes in through ``batch``).

Sign convention, everywhere in the toolkit: a **loss** is what its player minimises, a
**payoff** what its player maximises (its loss is −payoff). A zero-sum game declares either
the first player's loss (:meth:`ZeroSumGame.value`) or its payoff
(:meth:`ZeroSumGame.payoff`, the convention of matrix games: ``games.make("matrix",
payoff=A)`` is the game whose ``payoff`` is ``xᵀAy``).
"""
from __future__ import annotations

import abc
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import networkx as nx
import torch
from torch import Tensor, nn
from torch.func import functional_call

from diffgames.errors import GameContractError
from games.forward_reuse import ForwardReuse
from players.base import Params, init_params

__all__ = ["Game", "ZeroSumGame", "JointParams", "checked_losses", "OptimizerSpec", "complete_interaction_graph",
           "GameCapabilities", "Verdict", "doc_section"]

JointParams = dict[str, Params]
#: A per-player optimizer as plain data, e.g. ``{"name": "adam", "lr": 1e-3, "betas": [0.5, 0.999]}``.
#: Games cannot import solvers, so they recommend optimizers in this form.
OptimizerSpec = dict[str, Any]


@dataclass(frozen=True)
class Verdict:
    """How ``diffgames report`` judges a solver's run on a game (plain data; the arena's
    :mod:`arena.reports.solver_table` applies it).

    ``kind="distance"``: ``metric`` measures the distance to an equilibrium; a run
    *converged* when its last value is ≤ ``tol``, *diverged* when it is non-finite or
    moved away and stayed away, *cycled* otherwise. ``kind="settled"``: the game has no
    equilibrium to measure a distance to; the run *converged* when the value (the mean of
    the metrics in ``metric``) varies by ≤ ``tol`` over the last quarter of the evaluations,
    and ``outcomes`` name ranges of its final value.

    Attributes
    ----------
    metric
        A metric of :meth:`Game.evaluate`, or several whose mean is the judged value.
    tol
        The tolerance of "converged".
    what
        What the value is, in words (the report's header says it).
    kind
        ``"distance"`` or ``"settled"``.
    symbol
        The value's symbol in the report (``d``, ``r``).
    outcomes
        ``(name, low, high)``: the final value's outcome is the first ``name`` with
        ``low ≤ value ≤ high`` (``None``: unbounded), else ``"mixed"``.
    goal
        ``kind="settled"``: the report shows the first step with the value ≥ ``goal``.
    also
        Further metrics whose final values the report shows.
    """

    metric: str | tuple[str, ...]
    tol: float
    what: str
    kind: Literal["distance", "settled"] = "distance"
    symbol: str = "d"
    outcomes: tuple[tuple[str, float | None, float | None], ...] = ()
    goal: float | None = None
    also: tuple[str, ...] = ()

    def value(self, row: Mapping[str, Any]) -> float | None:
        """The judged value in one evaluation row (``None`` when the row lacks it)."""
        names = (self.metric,) if isinstance(self.metric, str) else self.metric
        if not all(n in row for n in names):
            return None
        return sum(row[n] for n in names) / len(names)


@dataclass(frozen=True)
class GameCapabilities:
    """What a game is and supports, declared on its class (``capabilities``) next to its
    code; the arena, the solvers and the tests read it, never a table of game names.

    Attributes
    ----------
    players
        The number of players, or ``None`` when it depends on the game's options.
    zero_sum
        The players' losses sum to zero, or to a constant (a game may set an instance's
        record when this depends on its options, e.g. a matrix game's payoffs).
    vectorizable
        Its losses run under ``torch.func.vmap``, so ``--vectorize`` can stack seeds.
    verdict
        How ``diffgames report`` judges a solver's run on it (``None``: not judged).
    """

    players: int | None = None
    zero_sum: bool = False
    vectorizable: bool = True
    verdict: Verdict | None = None


class Game(abc.ABC):
    """Base class of every game.

    Subclasses set ``self.players`` (an ordered ``{name: nn.Module}``) in ``__init__`` and
    implement :meth:`losses`. Everything else has a sensible default. ``capabilities``
    states what the game is and supports (:class:`GameCapabilities`).
    """

    description: ClassVar[str] = ""
    capabilities: GameCapabilities = GameCapabilities()
    players: dict[str, nn.Module]

    # ------------------------------------------------------------------ players
    @property
    def player_names(self) -> tuple[str, ...]:
        return tuple(self.players)

    def init_params(
        self, seed: int, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
    ) -> JointParams:
        """Initial joint parameters, fixed by ``seed`` alone (drawn on the CPU)."""
        generator = torch.Generator().manual_seed(int(seed))
        return {name: init_params(m, generator, device, dtype) for name, m in self.players.items()}

    def call(self, player: str, params: JointParams, *args: Any, **kwargs: Any) -> Any:
        """Run ``player``'s module with its parameters taken from ``params``.

        Inside :meth:`reusing_forward` a repeated call of a listed player with the same
        parameter tensors and arguments returns the first call's output.
        """
        reuse = self.__dict__.get("_forward_reuse")
        if reuse is None:
            return self.forward(player, params, *args, **kwargs)
        return reuse.call(player, params[player], args, kwargs, lambda: self.forward(player, params, *args, **kwargs))

    def forward(self, player: str, params: JointParams, *args: Any, **kwargs: Any) -> Any:
        """``player``'s module on ``args`` with the parameters ``params[player]`` (always
        computed; games call :meth:`call`, which may reuse an earlier output)."""
        return functional_call(self.players[player], params[player], args, kwargs)

    @contextmanager
    def reusing_forward(self, players: Iterable[str]) -> Iterator[None]:
        """Within the block, :meth:`call` computes each forward pass of ``players`` once
        per set of parameter tensors and arguments (:mod:`games.forward_reuse`). Solvers
        open it while some players' parameters stay fixed (the leaders during an unroll)."""
        previous = self.__dict__.get("_forward_reuse")
        self._forward_reuse = ForwardReuse(players)
        try:
            yield
        finally:
            self._forward_reuse = previous

    # ------------------------------------------------------------------ contract
    @abc.abstractmethod
    def losses(self, params: JointParams, batch: Any) -> dict[str, Tensor]:
        """Every player's scalar loss at the joint parameters."""

    def losses_of(self, params: JointParams, batch: Any, players: tuple[str, ...]) -> dict[str, Tensor]:
        """The losses of ``players`` only (a dict holding at least those players).

        Optional: solvers that need some players' losses (alternating descent updates one
        player at a time) call this. The default computes every loss; a game overrides it
        when some losses need less work, e.g. a GAN's generator loss needs no
        discriminator pass over the real data. It must give the same values as
        :meth:`losses` (up to floating-point rounding).
        """
        return self.losses(params, batch)

    def sample(self, generator: torch.Generator, device: torch.device | str) -> Any:
        """Data and noise for one step; ``None`` for deterministic games."""
        return None

    def evaluate(self, params: JointParams, generator: torch.Generator) -> dict[str, float]:
        """Game-specific metrics (plain floats, snake_case names)."""
        return {}

    def metric_names(self) -> tuple[str, ...]:
        """Names of the metrics :meth:`evaluate` returns (used to validate cases)."""
        return ()

    def metric_docs(self) -> dict[str, str]:
        """``{metric: its definition}`` from the ``Metrics`` section of the game's class
        docstring (the nearest class in the MRO that has one).

        The section is written like numpy's ``Parameters``: a line naming one metric, or
        several (``a, b``), or a family (``mode_share_<j>``), then its definition indented.
        ``diffgames show`` and the glossary of ``comparison.md`` print these entries, so a
        game's metrics are defined once, next to the code that computes them.
        """
        for cls in type(self).__mro__:
            entries = doc_section(cls.__dict__.get("__doc__"), "Metrics")
            if entries:
                return entries
        return {}

    def metric_doc(self, name: str) -> str | None:
        """The definition of metric ``name`` (a family entry ``mode_share_<j>`` matches
        ``mode_share_3``), or ``None`` when the game documents none."""
        docs = self.metric_docs()
        if name in docs:
            return docs[name]
        for key, text in docs.items():
            if "<" in key and re.fullmatch(re.sub(r"<[^>]*>", r"\\w+", re.escape(key)), name):
                return text
        return None

    def history_metrics(self, rows: list[dict[str, Any]]) -> dict[str, float]:
        """Metrics of a run's evaluations so far (``rows``, oldest first, the newest last),
        added to the newest row: what no single evaluation can tell (e.g. how many modes a
        GAN's generator has visited). None by default."""
        return {}

    def default_optimizers(self) -> dict[str, OptimizerSpec]:
        """Recommended per-player optimizers; plain SGD with lr 0.1 unless a game says."""
        return {name: {"name": "sgd", "lr": 0.1} for name in self.player_names}

    def interaction_graph(self) -> nx.DiGraph:
        """Edge ``j → i`` when player ``i``'s loss depends on player ``j``'s parameters.

        Derived from the autograd graph of :meth:`losses` at seed 0: a dependence exists
        when ``∂ loss_i / ∂ θ_j`` is connected (even if it happens to be zero there).
        """
        params = self.init_params(0)
        leaves = {p: {k: v.requires_grad_() for k, v in ps.items()} for p, ps in params.items()}
        batch = self.sample(torch.Generator().manual_seed(0), "cpu")
        losses = checked_losses(self, leaves, batch)
        graph = nx.DiGraph()
        graph.add_nodes_from(self.player_names)
        for i in self.player_names:
            for j in self.player_names:
                tensors = list(leaves[j].values())
                if not tensors or not losses[i].requires_grad:
                    continue
                grads = torch.autograd.grad(losses[i], tensors, retain_graph=True, allow_unused=True)
                if any(g is not None for g in grads):
                    graph.add_edge(j, i)
        return graph

    def draw(self, params: JointParams, ax: Any, generator: torch.Generator) -> None:
        """Optional: draw the players' state on a matplotlib ``Axes`` (e.g. generator
        samples with the real modes marked). The arena's sample figures call it for each
        saved snapshot; games without a picture leave it unimplemented."""
        raise NotImplementedError(f"{self!r} has no draw()")

    def equilibrium(self) -> JointParams | None:
        """A known equilibrium in parameter space, when the game has one."""
        return None

    def __repr__(self) -> str:
        name = getattr(self, "registered_name", type(self).__name__)  # set by games.make
        return f"<game {name}: players {', '.join(self.player_names)}>"


class ZeroSumGame(Game):
    """Two-player zero-sum game declared by one function: :meth:`value` or :meth:`payoff`.

    ``value`` is the first player's **loss**: the first player minimises it, the second
    maximises it (``min_x max_y value``; the second player's loss is ``−value``). ``payoff``
    is the first player's **payoff**, which it maximises (its loss is ``−payoff``): a
    subclass whose ``payoff`` is ``xᵀAy`` is the game ``games.make("matrix", payoff=A)``.
    Define one of the two.
    """

    capabilities = GameCapabilities(players=2, zero_sum=True)

    def value(self, params: JointParams, batch: Any) -> Tensor:
        """The first player's loss (``−payoff`` when the game defines :meth:`payoff`)."""
        if type(self).payoff is ZeroSumGame.payoff:
            raise GameContractError(f"{type(self).__name__} defines neither value (the first player's loss) "
                                    "nor payoff (the first player's payoff); a ZeroSumGame defines one of them")
        return -self.payoff(params, batch)

    def payoff(self, params: JointParams, batch: Any) -> Tensor:
        """The first player's payoff (``−value`` when the game defines :meth:`value`)."""
        return -self.value(params, batch)

    def losses(self, params: JointParams, batch: Any) -> dict[str, Tensor]:
        v = self.value(params, batch)
        first, second = self.player_names
        return {first: v, second: -v}


_NAMES = re.compile(r"`*[\w<>]+`*(\s*,\s*`*[\w<>]+`*)*")


def doc_section(doc: str | None, heading: str) -> dict[str, str]:
    """The entries of a numpy-style docstring section ``heading`` as ``{name: text}``.

    An entry is a line at the section's indentation naming one or several (``a, b``)
    names, followed by its indented text; the text's lines are joined, ````x```` becomes
    ```x``` and ``:func:`f``` becomes ``f``. The section ends at the next heading or at an
    unindented line that names nothing (a closing paragraph).
    """
    import inspect

    lines = inspect.cleandoc(doc or "").splitlines() + ["", ""]
    try:
        start = next(i for i, line in enumerate(lines[:-1])
                     if line.strip() == heading and re.fullmatch(r"-{3,}", lines[i + 1].strip())) + 2
    except StopIteration:
        return {}
    entries: list[tuple[list[str], list[str]]] = []
    for i in range(start, len(lines) - 1):
        line = lines[i]
        if line and not line.startswith(" "):
            if re.fullmatch(r"-{3,}", lines[i + 1].strip()) or not _NAMES.fullmatch(line.strip()):
                break  # the next section's heading, or a closing paragraph
            entries.append(([n.strip().strip("`") for n in line.split(",") if n.strip()], []))
        elif line.strip() and entries:
            entries[-1][1].append(line.strip())
    out = {}
    for names, text in entries:
        plain = re.sub(r":\w+:`~?([^`]*)`", r"\1", re.sub(r"``([^`]*)``", r"`\1`", " ".join(text)))
        for name in names:
            out[name] = plain
    return out


def checked_losses(
    game: Game, params: JointParams, batch: Any, players: tuple[str, ...] | None = None
) -> dict[str, Tensor]:
    """Call ``game.losses`` and check it returned one scalar tensor per player.

    With ``players`` (a subset of the game's players), call ``game.losses_of`` instead and
    return only those players' losses.
    """
    subset = players is not None and set(players) != set(game.player_names)
    method = "losses_of" if subset else "losses"
    losses = game.losses_of(params, batch, tuple(players)) if subset else game.losses(params, batch)
    if not isinstance(losses, Mapping):
        raise GameContractError(
            f"{game!r}: {method}() must return a dict {{player: scalar tensor}}, got {type(losses).__name__}"
        )
    if subset:
        missing = sorted(set(players) - set(losses))
        if missing:
            raise GameContractError(f"{game!r}: losses_of() was asked for {sorted(players)} but returned no loss for {missing}")
        losses = {p: losses[p] for p in players}
    expected = set(game.player_names if not subset else players)
    if set(losses) != expected:
        missing, extra = sorted(expected - set(losses)), sorted(set(losses) - expected)
        raise GameContractError(
            f"{game!r}: {method}() must return exactly one loss per player "
            f"{sorted(expected)}; missing {missing}, unexpected {extra}"
        )
    for name, loss in losses.items():
        if not isinstance(loss, Tensor) or loss.ndim != 0:
            shape = tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
            raise GameContractError(
                f"{game!r}: the loss of player {name!r} must be a scalar tensor, got {shape} "
                "(reduce it with .mean() or .sum())"
            )
    return dict(losses)


def complete_interaction_graph(players: tuple[str, ...]) -> nx.DiGraph:
    """Every player's loss depends on every player (self-loops included): the declared
    graph of games such as GANs and matrix games, which need not derive it from the losses."""
    graph = nx.DiGraph()
    graph.add_edges_from((j, i) for i in players for j in players)
    return graph
