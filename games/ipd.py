"""The iterated prisoner's dilemma with exact discounted values (Foerster et al. 2018).

Foerster, Chen, Al-Shedivat, Whiteson, Abbeel & Mordatch (2018), "Learning with
Opponent-Learning Awareness", AAMAS, Sec. 4.1 and Appendix A: each agent's policy is five
sigmoid logits — the probability of cooperating on the first move and after each of the
four outcomes of the previous round — so a policy pair defines a Markov chain over the
outcomes and its discounted value has a closed form.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from games.base import Game, GameCapabilities, JointParams, OptimizerSpec, Verdict
from diffgames.checks import finite_number
from diffgames.errors import ConfigError
from players import Vector

__all__ = ["IteratedPrisonersDilemma", "IPD_REWARDS", "STATES", "ipd"]

#: The outcomes ``(player 1's action, player 2's action)`` in the order used everywhere.
STATES = ("CC", "CD", "DC", "DD")
#: Per-round rewards ``(r₁, r₂)`` of each outcome in :data:`STATES` (LOLA, Sec. 4.1).
IPD_REWARDS = ((-1.0, -1.0), (-3.0, 0.0), (0.0, -3.0), (-2.0, -2.0))
#: Player 2 sees outcome ``(a₁, a₂)`` as ``(own, other) = (a₂, a₁)``: CD and DC swap.
_P2_VIEW = [0, 2, 1, 3]


class IteratedPrisonersDilemma(Game):
    """Iterated prisoner's dilemma with the exact discounted value (LOLA, Appendix A).

    Each player ``p1``, ``p2`` holds five logits ``θ = (θ₀, θ_CC, θ_CD, θ_DC, θ_DD)``:
    ``σ(θ₀)`` is its probability of cooperating on the first move and ``σ(θ_s)`` after
    outcome ``s``, written from the player's *own* perspective (own action first), so
    that ``p2``'s ``θ_CD`` is used after joint outcome DC. With ``p₀`` the distribution of
    the first outcome and ``P`` the transition matrix over ``(CC, CD, DC, DD)``, player
    ``i``'s discounted return is

        ``V_i = Σ_t γ^t p₀ᵀ P^t r_i = p₀ᵀ (I − γP)⁻¹ r_i``,   γ = 0.96,

    with per-round rewards ``r₁ = (−1, −3, 0, −2)`` and ``r₂ = (−1, 0, −3, −2)``.
    The losses are ``−V_i`` (unnormalised, as in the LOLA reference implementation,
    whose exact-value learners ascend ``V`` with step 1); ``normalize=True`` uses
    ``−(1 − γ)V_i`` instead, the average reward per round.

    Initial logits: ``N(0, init_scale²)`` from the seed (LOLA's random initialisation),
    or ``p1_init`` / ``p2_init``. Recommended optimizers: SGD with lr 1 (the reference
    implementation's step), or ``1/(1 − γ) = 25`` when ``normalize`` — the same dynamics.

    Metrics
    -------
    average_reward_1, average_reward_2
        Each player's average reward per round, ``(1 − γ)V_i``: mutual cooperation gives
        −1, mutual defection −2.
    p_cooperate_1, p_cooperate_2
        Each player's cooperation probability averaged over its five logits (LOLA's Fig. 3
        plots the individual ones).
    mutual_cooperation
        The discounted frequency ``(1 − γ) p₀ᵀ(I − γP)⁻¹ e_CC`` of the outcome CC.
    """

    description = "iterated prisoner's dilemma, exact discounted value (LOLA)"
    #: no equilibrium to measure a distance to: a run is judged by whether the players'
    #: mean average reward r settles, and by where (Foerster et al. 2018, Fig. 3)
    capabilities = GameCapabilities(players=2, verdict=Verdict(
        ("average_reward_1", "average_reward_2"), 0.01, "mean reward", kind="settled", symbol="r",
        outcomes=(("cooperation", -1.1, None), ("defection", None, -1.9)), goal=-1.1, also=("mutual_cooperation",)))

    def __init__(
        self,
        gamma: float = 0.96,
        normalize: bool = False,
        init_scale: float = 1.0,
        p1_init: Sequence[float] | None = None,
        p2_init: Sequence[float] | None = None,
    ):
        gamma = finite_number(gamma, "ipd: gamma")
        if not 0.0 <= gamma < 1.0:
            raise ConfigError(f"ipd: gamma must lie in [0, 1) for the discounted value to exist, got {gamma}")
        self.gamma = gamma
        self.normalize = bool(normalize)
        for name, init in (("p1_init", p1_init), ("p2_init", p2_init)):
            if init is not None and len(init) != 5:
                raise ConfigError(
                    f"ipd: {name} must hold 5 logits (first move, CC, CD, DC, DD), got {len(init)}"
                )
        init_scale = finite_number(init_scale, "ipd: init_scale", 0.0)
        self.players = {"p1": Vector(5, p1_init, init_scale), "p2": Vector(5, p2_init, init_scale)}

    # ------------------------------------------------------------------ the Markov chain
    def chain(self, params: JointParams) -> tuple[Tensor, Tensor]:
        """``(p₀, P)``: the first outcome's distribution and the transition matrix, both
        over ``(CC, CD, DC, DD)`` in joint (player 1 first) order."""
        q1 = torch.sigmoid(self.call("p1", params))
        q2 = torch.sigmoid(self.call("p2", params))
        c1, c2 = q1[1:], q2[1:][_P2_VIEW]  # cooperation probabilities per joint outcome

        def outcomes(a: Tensor, b: Tensor) -> Tensor:
            return torch.stack([a * b, a * (1 - b), (1 - a) * b, (1 - a) * (1 - b)], dim=-1)

        return outcomes(q1[0], q2[0]), outcomes(c1, c2)

    def occupancy(self, params: JointParams) -> Tensor:
        """Discounted visit counts ``p₀ᵀ(I − γP)⁻¹`` of the four outcomes (sum ``1/(1−γ)``)."""
        p0, P = self.chain(params)
        eye = torch.eye(4, dtype=P.dtype, device=P.device)
        # solve (I − γP)ᵀ d = p₀ rather than inverting: stabler and differentiable
        return torch.linalg.solve((eye - self.gamma * P).T, p0)

    def values(self, params: JointParams) -> tuple[Tensor, Tensor]:
        """The exact discounted returns ``(V₁, V₂)``."""
        d = self.occupancy(params)
        r = torch.tensor(IPD_REWARDS, dtype=d.dtype, device=d.device)
        v = d @ r
        return v[0], v[1]

    # ------------------------------------------------------------------ contract
    def losses(self, params: JointParams, batch: Any = None) -> dict[str, Tensor]:
        v1, v2 = self.values(params)
        scale = (1.0 - self.gamma) if self.normalize else 1.0
        return {"p1": -scale * v1, "p2": -scale * v2}

    def evaluate(self, params: JointParams, generator: torch.Generator | None = None) -> dict[str, float]:
        params = {p: {k: v.detach().double().cpu() for k, v in ps.items()} for p, ps in params.items()}
        d = self.occupancy(params)
        r = torch.tensor(IPD_REWARDS, dtype=torch.float64)
        avg = (1.0 - self.gamma) * (d @ r)
        q1, q2 = (torch.sigmoid(params[p]["value"]) for p in ("p1", "p2"))
        return {
            "average_reward_1": float(avg[0]),
            "average_reward_2": float(avg[1]),
            "p_cooperate_1": float(q1.mean()),
            "p_cooperate_2": float(q2.mean()),
            "mutual_cooperation": float((1.0 - self.gamma) * d[0]),
        }

    def metric_names(self) -> tuple[str, ...]:
        return ("average_reward_1", "average_reward_2", "p_cooperate_1", "p_cooperate_2", "mutual_cooperation")

    def default_optimizers(self) -> dict[str, OptimizerSpec]:
        lr = 1.0 / (1.0 - self.gamma) if self.normalize else 1.0
        return {"p1": {"name": "sgd", "lr": lr}, "p2": {"name": "sgd", "lr": lr}}

    def simulate(self, params: JointParams, episodes: int, steps: int, generator: torch.Generator) -> Tensor:
        """Monte-Carlo discounted returns ``(episodes, 2)`` of ``steps``-round games (a check
        of :meth:`values`; the truncation error is at most ``3γ^steps/(1 − γ)``)."""
        params = {p: {k: v.detach().double().cpu() for k, v in ps.items()} for p, ps in params.items()}
        q1, q2 = (torch.sigmoid(params[p]["value"]) for p in ("p1", "p2"))
        r = torch.tensor(IPD_REWARDS, dtype=torch.float64)
        returns = torch.zeros(episodes, 2, dtype=torch.float64)
        own1 = torch.zeros(episodes, dtype=torch.long)  # index into the logits: 0 = first move
        own2 = torch.zeros(episodes, dtype=torch.long)
        for t in range(steps):
            a1 = torch.rand(episodes, generator=generator, dtype=torch.float64) >= q1[own1]  # True = defect
            a2 = torch.rand(episodes, generator=generator, dtype=torch.float64) >= q2[own2]
            state = 2 * a1.long() + a2.long()  # joint index in STATES
            returns += self.gamma**t * r[state]
            own1 = 1 + state
            own2 = 1 + 2 * a2.long() + a1.long()  # player 2's own-first view of the outcome
        return returns


# The factory of ``ipd``, registered by import path in games/__init__.py.
def ipd(
    gamma: float = 0.96,
    normalize: bool = False,
    init_scale: float = 1.0,
    p1_init: list | None = None,
    p2_init: list | None = None,
) -> IteratedPrisonersDilemma:
    """IPD; ``p1_init``/``p2_init`` are 5 logits (first move, CC, CD, DC, DD)."""
    return IteratedPrisonersDilemma(gamma, normalize, init_scale, p1_init, p2_init)

