"""The Game contract.

A game declares its players (ordered names and modules) and gives every player a loss at
the joint parameters ``params = {player: {name: Tensor}}``. Losses are pure functions:
no in-place changes and no hidden randomness (all noise comes in through ``batch``).
"""
from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any, ClassVar

import networkx as nx
import torch
from torch import Tensor, nn
from torch.func import functional_call

from diffgames.errors import GameContractError
from players.base import Params, init_params

__all__ = ["Game", "ZeroSumGame", "JointParams", "checked_losses", "OptimizerSpec", "complete_interaction_graph"]

JointParams = dict[str, Params]
#: A per-player optimizer as plain data, e.g. ``{"name": "adam", "lr": 1e-3, "betas": [0.5, 0.999]}``.
#: Games cannot import solvers, so they recommend optimizers in this form.
OptimizerSpec = dict[str, Any]


class Game(abc.ABC):
    """Base class of every game.

    Subclasses set ``self.players`` (an ordered ``{name: nn.Module}``) in ``__init__`` and
    implement :meth:`losses`. Everything else has a sensible default.
    """

    description: ClassVar[str] = ""
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
        """Run ``player``'s module with its parameters taken from ``params``."""
        return functional_call(self.players[player], params[player], args, kwargs)

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
    """Two-player zero-sum game declared by one value function.

    The first player minimises :meth:`value`, the second maximises it (its loss is the
    negative).
    """

    @abc.abstractmethod
    def value(self, params: JointParams, batch: Any) -> Tensor:
        """The first player's loss."""

    def losses(self, params: JointParams, batch: Any) -> dict[str, Tensor]:
        v = self.value(params, batch)
        first, second = self.player_names
        return {first: v, second: -v}


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
