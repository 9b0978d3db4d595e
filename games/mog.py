"""A GAN on a 2-D mixture of Gaussians: the mode-collapse toy of Unrolled GANs.

Metz, Poole, Pfau & Sohl-Dickstein (2017), "Unrolled Generative Adversarial Networks",
ICLR, Sec. 3.1 and Fig. 1: a generator MLP maps Gaussian noise to the plane, a
discriminator MLP tells its samples from a mixture of Gaussians on a ring. Without
unrolling the generator hops from mode to mode; with 10 unrolling steps it covers them
all. The ``grid`` layout (25 modes) is the harder benchmark of VEEGAN (Srivastava et al.
2017) and PacGAN (Lin et al. 2018), whose mode-collapse metrics
:func:`diffgames.metrics.modes.mode_metrics` computes.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal

import torch
from torch import Tensor

from games.base import JointParams, OptimizerSpec
from diffgames.checks import finite_number
from diffgames.errors import ConfigError
from games.gan import GANGame, check_generator_loss
from diffgames.metrics.modes import mode_history_metrics, mode_metrics
from players import MLP
from players.mlp import ACTIVATIONS

__all__ = ["MixtureOfGaussians", "ring_centers", "grid_centers", "METRIC_NAMES", "PAPER_NETWORKS", "parse_scale",
           "NOTEBOOK_SETTINGS", "NOTEBOOK_OPTIMIZERS"]

#: The metrics of :meth:`MixtureOfGaussians.evaluate`, in order.
METRIC_NAMES = ("hq_fraction", "modes_covered", "modes_covered_1pct", "reverse_kl", "top_mode_share",
                "modes_visited", "peak_modes_covered_1pct", "top_mode_changes")

#: Layout defaults: ring of Metz et al. (2017, App. A), grid of VEEGAN/PacGAN.
_DEFAULTS = {"ring": {"modes": 8, "radius": 2.0, "std": 0.02}, "grid": {"modes": 25, "radius": 4.0, "std": 0.05}}


def ring_centers(modes: int = 8, radius: float = 2.0, dtype: torch.dtype = torch.float64) -> Tensor:
    """``modes`` centres evenly spaced on a circle, at angles ``2πi/modes``.

    The Unrolled GAN demo notebook (poolio/unrolled_gan) uses ``linspace(0, 2π, 8)``,
    whose first and last angles coincide, so it has only 7 distinct modes; we use 8
    distinct angles, as the paper describes.
    """
    angles = 2 * math.pi * torch.arange(modes, dtype=torch.float64) / modes
    return (radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)).to(dtype)


def grid_centers(modes: int = 25, radius: float = 4.0, dtype: torch.dtype = torch.float64) -> Tensor:
    """A ``k × k`` grid (``modes = k²``) spanning ``[−radius, radius]²``; the default is
    VEEGAN's and PacGAN's ``{−4, −2, 0, 2, 4}²``."""
    k = math.isqrt(modes)
    ticks = torch.linspace(-radius, radius, k, dtype=torch.float64) if k > 1 else torch.zeros(1, dtype=torch.float64)
    xs, ys = torch.meshgrid(ticks, ticks, indexing="ij")
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1).to(dtype)


#: The paper's networks (Metz et al. 2017, App. A), per player: hidden layers, width,
#: activation, orthogonal-initialisation gain and the factor applied to the input.
PAPER_NETWORKS = {
    "generator": {"depth": 2, "hidden": 128, "activation": "relu", "gain": 0.8, "input_scale": 1.0},
    "discriminator": {"depth": 1, "hidden": 128, "activation": "relu", "gain": 0.8, "input_scale": 0.25},
}
_NET_OPTIONS = ("depth", "hidden", "activation", "gain", "input_scale")
#: The settings the game's defaults had until 2026-12-05: the demo notebook's networks
#: (both 2 × 128 tanh, gain 1.4, no input scaling) with the non-saturating generator loss;
#: with :data:`NOTEBOOK_OPTIMIZERS`, what the notebook case and the benchmarks run.
NOTEBOOK_SETTINGS = {"depth": 2, "hidden": 128, "activation": "tanh", "gain": 1.4, "discriminator_input_scale": 1.0,
                     "generator_loss": "non-saturating"}
#: The demo notebook's Adam settings: lr 1e-3 (G) and 1e-4 (D), β = (0.5, 0.999).
NOTEBOOK_OPTIMIZERS = {"generator": {"name": "adam", "lr": 1e-3, "betas": [0.5, 0.999], "eps": 1e-8},
                       "discriminator": {"name": "adam", "lr": 1e-4, "betas": [0.5, 0.999], "eps": 1e-8}}


def parse_scale(value: float | str, name: str) -> float:
    """A positive input factor: a number (``0.25``) or a division written ``"1/4"`` or ``"/4"``."""
    text = value.replace(" ", "") if isinstance(value, str) else None
    try:
        if text is not None and "/" in text:
            top, bottom = text.split("/", 1)
            factor = float(top or 1) / float(bottom)
        else:
            factor = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        factor = float("nan")
    if not (math.isfinite(factor) and factor > 0):
        raise ConfigError(f"{name} must be a positive factor such as 0.25 or '1/4' (divide by 4), got {value!r}")
    return factor


class MixtureOfGaussians(GANGame):
    """GAN on a 2-D mixture of Gaussians (Metz et al. 2017, Sec. 3.1, Fig. 1, App. A).

    Players: ``generator`` (MLP ``z → x``, ``z ~ N(0, I)``) and ``discriminator`` (MLP
    ``x → logit``). The discriminator minimises the sigmoid cross-entropy
    ``−E log D(x) − E log(1 − D(G(z)))`` (Goodfellow et al. 2014, Eq. 1). The generator's
    loss is, with ``generator_loss="saturating"`` (the default, the paper's App. A), the
    minimax value ``E log D(x) + E log(1 − D(G(z)))`` — minus the discriminator's loss —
    or ``−E log D(G(z))`` (``"non-saturating"``). The saturating loss's ``log D(x)`` term
    does not move ``θ_G`` directly but does through the unrolled discriminator
    ``θ_D^K(θ_G)`` (Metz et al., Eq. 12).

    Defaults are the paper's Appendix A: ring of 8 modes, radius 2, std 0.02; ``z`` of
    size 256; generator 256 → 128 → 128 → 2 with ReLU; discriminator: input divided by 4,
    one hidden layer of 128 ReLU units, a linear logit; orthogonal weights with gain 0.8
    for both; the saturating generator loss; Adam with lr 1e-4 and β1 = 0.5 for both
    (β2 = 0.999, ε = 1e-8: torch's defaults, the appendix names neither). The appendix
    does not state the batch size: 512 is the demo notebook's (poolio/unrolled_gan). The
    notebook's own configuration (both nets 2 × 128 tanh, gain 1.4, no input scaling,
    generator lr 1e-3, the non-saturating loss in our runs) is the case
    ``metz2016-mog-ring-notebook``.

    Parameters
    ----------
    layout
        ``"ring"`` (modes on a circle) or ``"grid"`` (a ``k × k`` grid, ``modes = k²``).
    modes
        Number of modes; default 8 (ring) or 25 (grid).
    radius
        Ring radius, or the grid's half-width; default 2 (ring) or 4 (grid).
    std
        Standard deviation of every mode; default 0.02 (ring) or 0.05 (grid).
    latent_size
        Size of the generator's noise ``z``; default 256 (Appendix A).
    hidden
        Hidden width of both networks; unset: each network's own (128 for both, Appendix A).
    depth
        Number of hidden layers of both networks; unset: each network's own (2 and 1).
    activation
        Hidden activation of both networks ('tanh', 'relu', 'leaky_relu' or 'elu'); unset: ReLU.
    gain
        Orthogonal-initialisation gain of both networks; unset: 0.8 (Appendix A).
    generator_hidden
        Hidden width of the generator alone (overrides ``hidden``); default 128.
    generator_depth
        Number of hidden layers of the generator alone (overrides ``depth``); default 2.
    generator_activation
        Hidden activation of the generator alone (overrides ``activation``); default ReLU.
    generator_gain
        Orthogonal-initialisation gain of the generator alone (overrides ``gain``); default 0.8.
    discriminator_hidden
        Hidden width of the discriminator alone (overrides ``hidden``); default 128.
    discriminator_depth
        Number of hidden layers of the discriminator alone (overrides ``depth``); default 1.
    discriminator_activation
        Hidden activation of the discriminator alone (overrides ``activation``); default ReLU.
    discriminator_gain
        Orthogonal-initialisation gain of the discriminator alone (overrides ``gain``); default 0.8.
    discriminator_input_scale
        Factor applied to the discriminator's input, a number or ``"1/4"``; default 0.25 (divided by 4, Appendix A).
    batch_size
        Real samples and noise vectors per batch; default 512 (the notebook's; Appendix A does not say).
    generator_loss
        ``"saturating"`` (the default, Appendix A) or ``"non-saturating"`` (see above); saturating makes the game zero-sum.
    eval_samples
        Generator samples used by :meth:`evaluate` and :meth:`draw` (2,500 in VEEGAN/PacGAN).
    discriminator_weight_decay
        λ ≥ 0 of ``½ λ ‖θ_D‖²`` added to the discriminator's loss (default 0, none): a
        discriminator loss strongly convex near its optimum, as the K → ∞ analysis of
        unrolling (``diffgames limit``) needs.

    Metrics
    -------
    hq_fraction
        Share of the ``eval_samples`` generator samples that are high quality: within
        3 standard deviations of their nearest mode (VEEGAN, PacGAN).
    modes_covered
        Modes nearest to at least one high-quality sample (VEEGAN's "modes captured").
    modes_covered_1pct
        Modes whose high-quality samples make up ≥ 1% of all samples: stricter, a stray
        sample does not count.
    reverse_kl
        ``KL(p ‖ uniform)`` of the high-quality samples' histogram over their nearest
        modes (PacGAN's reverse KL), in ``[0, log m]``; ``log m`` when no sample is high
        quality.
    top_mode
        Index of the mode holding the most high-quality samples (−1 when none).
    top_mode_share
        That mode's high-quality samples as a share of all samples.
    mode_share_<j>
        Mode ``j``'s high-quality samples as a share of all samples (its occupancy).
    modes_visited
        Modes that held ≥ 1% of the samples at one evaluation at least, so far in the run.
    peak_modes_covered_1pct
        The most modes covered (1% count) at any evaluation so far.
    top_mode_changes
        How often the top mode changed between consecutive evaluations so far.

    The per-evaluation metrics are computed by :func:`mode_metrics`, the last three by
    :meth:`history_metrics` from the evaluations so far.
    """

    description = "GAN on a 2-D mixture of Gaussians, ring or grid (Metz et al. 2017, Fig. 1, App. A)"

    def __init__(
        self,
        layout: Literal["ring", "grid"] = "ring",
        modes: int | None = None,
        radius: float | None = None,
        std: float | None = None,
        latent_size: int = 256,
        hidden: int | None = None,
        depth: int | None = None,
        activation: Literal["tanh", "relu", "leaky_relu", "elu"] | None = None,
        gain: float | None = None,
        generator_hidden: int | None = None,
        generator_depth: int | None = None,
        generator_activation: Literal["tanh", "relu", "leaky_relu", "elu"] | None = None,
        generator_gain: float | None = None,
        discriminator_hidden: int | None = None,
        discriminator_depth: int | None = None,
        discriminator_activation: Literal["tanh", "relu", "leaky_relu", "elu"] | None = None,
        discriminator_gain: float | None = None,
        discriminator_input_scale: float | str = 0.25,
        batch_size: int = 512,
        generator_loss: Literal["non-saturating", "saturating"] = "saturating",
        eval_samples: int = 2500,
        discriminator_weight_decay: float = 0.0,
    ):
        if layout not in _DEFAULTS:
            raise ConfigError(f"mog: unknown layout {layout!r}; use layout='ring' or layout='grid'")
        defaults = _DEFAULTS[layout]
        self.layout = layout
        self.modes = int(defaults["modes"] if modes is None else modes)
        self.radius = float(defaults["radius"] if radius is None else radius)
        self.std = float(defaults["std"] if std is None else std)
        if self.modes < 1:
            raise ConfigError(f"mog: modes must be a positive integer, got {modes!r}")
        if layout == "grid" and math.isqrt(self.modes) ** 2 != self.modes:
            k = max(1, round(math.sqrt(self.modes)))
            raise ConfigError(
                f"mog: a grid needs a square number of modes (k × k), got modes={self.modes}; try modes={k * k}"
            )
        if not (math.isfinite(self.radius) and self.radius > 0):
            raise ConfigError(f"mog: radius must be a positive number, got {radius!r}")
        if not (math.isfinite(self.std) and self.std > 0):
            raise ConfigError(f"mog: std must be a positive number (the modes' standard deviation), got {std!r}")
        for name, value in (("latent_size", latent_size), ("batch_size", batch_size), ("eval_samples", eval_samples)):
            if int(value) < 1:
                raise ConfigError(f"mog: {name} must be a positive integer, got {value!r}")
        check_generator_loss("mog", generator_loss)
        self.discriminator_weight_decay = finite_number(discriminator_weight_decay, "mog: discriminator_weight_decay",
                                                        0.0)
        self.latent_size, self.batch_size, self.eval_samples = int(latent_size), int(batch_size), int(eval_samples)
        self.generator_loss = generator_loss
        # the saturating generator loss is minus the discriminator's: a zero-sum game (CGD, LSS read this)
        self.capabilities = dataclasses.replace(type(self).capabilities, zero_sum=generator_loss == "saturating")
        make_centers = ring_centers if layout == "ring" else grid_centers
        self.centers = make_centers(self.modes, self.radius)  # float64 on CPU: the reference copy
        shared = {"depth": depth, "hidden": hidden, "activation": activation, "gain": gain}
        own = {"generator": {"depth": generator_depth, "hidden": generator_hidden,
                             "activation": generator_activation, "gain": generator_gain},
               "discriminator": {"depth": discriminator_depth, "hidden": discriminator_hidden,
                                 "activation": discriminator_activation, "gain": discriminator_gain,
                                 "input_scale": discriminator_input_scale}}
        #: each network's resolved settings: its own option, else the shared one, else App. A's
        self.networks = {p: _resolve_network(p, own[p], shared) for p in ("generator", "discriminator")}
        g, d = self.networks["generator"], self.networks["discriminator"]
        self.players = {
            "generator": MLP([self.latent_size, *[g["hidden"]] * g["depth"], 2], g["activation"], "orthogonal",
                             g["gain"]),
            "discriminator": MLP([2, *[d["hidden"]] * d["depth"], 1], d["activation"], "orthogonal", d["gain"],
                                 input_scale=d["input_scale"]),
        }
        self._center_cache: dict[tuple[torch.device, torch.dtype], Tensor] = {}

    # ------------------------------------------------------------------ data
    def centers_on(self, device: torch.device | str, dtype: torch.dtype = torch.float32) -> Tensor:
        """The ``(modes, 2)`` centres on ``device`` in ``dtype`` (cached: sampled every step)."""
        key = (torch.device(device), dtype)
        if key not in self._center_cache:
            self._center_cache[key] = self.centers.to(device=device, dtype=dtype)
        return self._center_cache[key]

    def sample(
        self, generator: torch.Generator, device: torch.device | str, dtype: torch.dtype = torch.float32
    ) -> dict[str, Tensor]:
        """``{"real": (batch, 2) mixture samples, "z": (batch, latent) N(0, I) noise}``.

        Drawn on the generator's own device (a CPU generator cannot fill a CUDA tensor),
        then moved to ``device``; no copy when the two agree.
        """
        source = generator.device
        idx = torch.randint(self.modes, (self.batch_size,), generator=generator, device=source)
        noise = torch.randn(self.batch_size, 2, generator=generator, device=source, dtype=dtype)
        z = torch.randn(self.batch_size, self.latent_size, generator=generator, device=source, dtype=dtype)
        real = self.centers_on(source, dtype)[idx] + self.std * noise
        return {"real": real.to(device), "z": z.to(device)}

    # ------------------------------------------------------------------ losses
    def default_optimizers(self) -> dict[str, OptimizerSpec]:
        """Adam, lr 1e-4, β1 = 0.5 for both players (App. A); β2 and ε torch's defaults."""
        return {
            "generator": {"name": "adam", "lr": 1e-4, "betas": [0.5, 0.999], "eps": 1e-8},
            "discriminator": {"name": "adam", "lr": 1e-4, "betas": [0.5, 0.999], "eps": 1e-8},
        }

    # ------------------------------------------------------------------ evaluation
    def generate(self, params: JointParams, n: int, generator: torch.Generator) -> Tensor:
        """``n`` generator samples (detached), on the generator parameters' device."""
        weight = next(iter(params["generator"].values()))
        z = torch.randn(n, self.latent_size, generator=generator, device=generator.device, dtype=weight.dtype)
        with torch.no_grad():
            return self.call("generator", params, z.to(weight.device)).detach()

    def evaluate(self, params: JointParams, generator: torch.Generator) -> dict[str, float]:
        """The metrics of :func:`mode_metrics` on ``eval_samples`` generator samples."""
        samples = self.generate(params, self.eval_samples, generator)
        return mode_metrics(samples, self.centers_on(samples.device, samples.dtype), self.std)

    def metric_names(self) -> tuple[str, ...]:
        return METRIC_NAMES

    def history_metrics(self, rows: list[dict[str, Any]]) -> dict[str, float]:
        """``modes_visited``, ``peak_modes_covered_1pct`` and ``top_mode_changes`` of the
        evaluations so far (:func:`mode_history_metrics`): how the generator moved over
        the modes, which one evaluation alone cannot tell."""
        return mode_history_metrics(rows, self.modes)

    def limits(self) -> float:
        """Half-width of the square that :meth:`draw` shows, the same for every snapshot."""
        return 1.25 * float(self.centers.abs().max().clamp_min(0.5)) + 6 * self.std

    def draw(self, params: JointParams, ax: Any, generator: torch.Generator) -> None:
        """Generator samples (blue dots) and the modes (red crosses), as in Metz et al.
        Fig. 1; fixed limits so that a grid of snapshots compares at a glance. Samples
        outside the limits are drawn on the edge as orange triangles, with their count, so
        that every sample is shown."""
        samples = self.generate(params, self.eval_samples, generator).double().cpu().numpy()
        centers = self.centers.numpy()
        lim = self.limits()
        outside = (abs(samples) > lim).any(axis=1)
        inside = samples[~outside]
        ax.scatter(inside[:, 0], inside[:, 1], s=2, alpha=0.3, color="tab:blue", linewidths=0)
        if outside.any():
            edge = samples[outside].clip(-lim, lim)
            ax.scatter(edge[:, 0], edge[:, 1], s=12, marker="^", color="tab:orange", linewidths=0, clip_on=False)
            ax.text(0.02, 0.02, f"{int(outside.sum())} outside (on the edge)", transform=ax.transAxes, fontsize=6,
                    color="tab:orange")
        ax.scatter(centers[:, 0], centers[:, 1], s=25, marker="x", color="red", linewidths=1)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])


def _resolve_network(player: str, own: dict, shared: dict) -> dict:
    """One network's settings: its own option, else the shared one, else the paper's."""
    out = {}
    for key in _NET_OPTIONS:
        value = own.get(key)
        if value is None:
            value = shared.get(key)
        if value is None:
            value = PAPER_NETWORKS[player][key]
        option = f"{player}_{key}" if own.get(key) is not None or key == "input_scale" else key
        if key in ("depth", "hidden"):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or value < 1:
                raise ConfigError(f"mog: {option} must be a positive integer, got {value!r}")
            value = int(value)
        elif key == "activation":
            if value not in ACTIVATIONS:
                raise ConfigError(f"mog: {option} must be one of {sorted(ACTIVATIONS)}, got {value!r}")
        elif key == "gain":
            value = finite_number(value, f"mog: {option}", 0.0)
        else:
            value = parse_scale(value, f"mog: {option}")
        out[key] = value
    return out
