"""``diffgames sample`` and ``diffgames export``: use a run's trained generator.

``sample`` draws ``N`` samples ``G(z)`` from the generator of a run directory at its final
checkpoint (or at ``--step``) and writes them as ``.npy`` or ``.pt``, with a picture for
2-D games (a scatter over the real data) and image games (a grid of images). It takes one
forward pass of the generator per sample under ``torch.no_grad()``: no solver, no
unrolling, so its cost does not depend on how the generator was trained.

``export`` writes one player's module with its trained parameters as a file that plain
PyTorch loads without this toolkit: a ``torch.export`` program (``.pt2``, loaded with
``torch.export.load(path).module()``), or, when ``torch.export`` fails for a module, a
TorchScript trace (``.pt``, loaded with ``torch.jit.load(path)``).

Parameters are read from the run's checkpoints (``checkpoints/``, the newest three) or
its snapshots (``snapshots/``, at the case's ``snapshot_steps``), checked against the game
built from the run's ``config.toml`` as ``diffgames diagnose --at`` checks them.
"""
from __future__ import annotations

import argparse
import copy
import math
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

import games
from arena.runs.checkpoint import CorruptCheckpoint, _read, list_checkpoints
from arena.runs.config import RunConfig, resolve_device
from diffgames.errors import ConfigError
from games.base import Game, JointParams
from games.gan import GANGame

__all__ = ["cmd_sample", "cmd_export", "load_run", "available_steps", "load_params", "draw_samples",
           "write_samples", "picture", "export_player", "example_input", "SAMPLE_SUFFIXES", "EXPORT_SUFFIXES"]

#: ``--out`` of ``sample``: numpy's ``.npy`` or a ``torch.save``d tensor.
SAMPLE_SUFFIXES = (".npy", ".pt")
#: ``--out`` of ``export``: a ``torch.export`` program or a TorchScript module.
EXPORT_SUFFIXES = (".pt2", ".pt")
#: The input each player of a GAN game takes, as the key of ``game.sample()``'s batch.
_GAN_INPUTS = {"generator": "z", "discriminator": "real"}
#: At most this many points in the scatter and images in the grid of ``sample``'s picture.
_MAX_POINTS, _MAX_IMAGES = 20_000, 64


# ---------------------------------------------------------------------- the run's parameters
def load_run(run_dir: Path) -> tuple[RunConfig, Game]:
    """``(config, game)`` of a run directory: its ``config.toml`` and the game built from it."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir}: no such run directory")
    config = RunConfig.load(run_dir / "config.toml")
    return config, games.make(config.game, **config.game_options)


def _step_of(path: Path) -> int:
    return int(path.stem.rsplit("-", 1)[1])


def available_steps(run_dir: Path) -> dict[int, list[Path]]:
    """``{step: files holding the parameters at step}``, a checkpoint before a snapshot."""
    run_dir = Path(run_dir)
    steps: dict[int, list[Path]] = {}
    files = [*list_checkpoints(run_dir / "checkpoints"), *sorted((run_dir / "snapshots").glob("step-*.pt"))]
    for path in files:
        try:
            steps.setdefault(_step_of(path), []).append(path)
        except ValueError:  # a foreign file matching the pattern
            continue
    return dict(sorted(steps.items()))


def _params_in(path: Path) -> Any:
    """The joint parameters stored in a checkpoint or a snapshot file."""
    if path.parent.name == "snapshots":
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise CorruptCheckpoint(f"{path.name}: unreadable or not plain data ({type(exc).__name__})") from None
    payload = _read(path, "cpu")
    if not isinstance(payload, dict) or "params" not in payload:
        raise CorruptCheckpoint(f"{path.name}: holds no player parameters")
    return payload["params"]


def load_params(run_dir: Path, game: Game, step: int | None = None) -> tuple[int, JointParams, Path]:
    """``(step, params on the CPU, file)``: the newest good checkpoint, or the parameters at
    ``step`` (its checkpoint, else its snapshot). A ``ConfigError`` names the available
    steps when there are none at ``step``."""
    from arena.reports.diagnose import _check_params  # the parameter check of `diagnose --at` (imports scipy)

    run_dir = Path(run_dir)
    steps = available_steps(run_dir)
    if step is None:  # the newest step with usable parameters, a checkpoint's or a snapshot's
        if not steps:
            raise ConfigError(f"{run_dir} holds no checkpoint or snapshot; has the run started?")
        problems = []
        for newest in sorted(steps, reverse=True):
            for path in steps[newest]:
                try:
                    return newest, _check_params(game, _params_in(path), str(path)), path
                except CorruptCheckpoint as exc:
                    problems.append(str(exc))
                    warnings.warn(f"skipping {exc}; trying an older step", stacklevel=2)
        raise ConfigError(f"{run_dir}: no usable parameters at any step: {'; '.join(problems[:2])}")
    if step not in steps:
        shown = ", ".join(str(s) for s in steps) or "none"
        raise ConfigError(f"{run_dir} has no checkpoint or snapshot at step {step}; available steps: {shown}")
    problems = []
    for path in steps[step]:
        try:
            return step, _check_params(game, _params_in(path), str(path)), path
        except CorruptCheckpoint as exc:
            problems.append(str(exc))
    raise ConfigError(f"{run_dir}: the parameters at step {step} are unusable: {'; '.join(problems)}")


# ---------------------------------------------------------------------- sample
def _name(game: Game) -> str:
    return getattr(game, "registered_name", type(game).__name__)


def _generator_samples(game: Game) -> Any:
    """The game's ``generator_samples`` method (:class:`games.gan.GANGame`), else a ConfigError."""
    method = getattr(game, "generator_samples", None)
    if method is None:
        raise ConfigError(f"game {_name(game)!r} has no generator to sample from "
                          "(sample works for GAN games, whose players include a generator)")
    return method


def draw_samples(game: Game, params: JointParams, n: int, seed: int, device: torch.device) -> Tensor:
    """``n`` generator samples on ``device``, the noise drawn by a generator on ``device``
    seeded with ``seed`` (the same seed and device give the same samples)."""
    method = _generator_samples(game)
    if n < 1:
        raise ConfigError(f"-n must be a positive number of samples, got {n}")
    game.players["generator"].to(device)  # buffers (if any) where the parameters go
    generator = torch.Generator(device=device).manual_seed(int(seed))
    return method(params, n, generator, device)


def write_samples(samples: Tensor, path: Path) -> None:
    """``samples`` as ``.npy`` (numpy) or ``.pt`` (a ``torch.save``d CPU tensor)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    samples = samples.detach().cpu()
    if path.suffix == ".npy":
        import numpy as np

        np.save(path, samples.numpy())
    else:
        torch.save(samples, path)


def _real_points(game: Game, seed: int, want: int = 2000) -> Tensor | None:
    """About ``want`` real data points of a GAN game (``sample()["real"]``), else None."""
    if not isinstance(game, GANGame):
        return None
    generator = torch.Generator().manual_seed(int(seed))
    batches, count = [], 0
    while count < want and len(batches) < 50:
        real = game.sample(generator, "cpu")["real"]
        batches.append(real)
        count += real.shape[0]
    return torch.cat(batches)[:want].double()


def _as_images(samples: Tensor) -> Tensor | None:
    """``(n, H, W)`` or ``(n, H, W, 3)`` in [0, 1] for a grid, or None when not images."""
    x = samples.detach().double().cpu()
    if x.ndim == 4 and x.shape[1] in (1, 3):
        x = x[:, 0] if x.shape[1] == 1 else x.permute(0, 2, 3, 1)
    elif x.ndim != 3:
        return None
    lo, hi = float(x.min()), float(x.max())
    if lo >= -1 - 1e-6 and hi <= 1 + 1e-6 and lo < 0:
        return ((x + 1) / 2).clamp(0, 1)  # a tanh generator's range, e.g. MNIST's [−1, 1]
    if lo >= 0 and hi <= 1:
        return x
    return (x - lo) / (hi - lo or 1.0)


def picture(samples: Tensor, game: Game, path: Path, title: str, seed: int = 0) -> Path | None:
    """A PNG of the samples: a scatter over the real data for 2-D points, a grid for images;
    ``None`` (nothing written) for samples of another shape."""
    points = samples.ndim == 2 and samples.shape[1] == 2
    images = None if points else _as_images(samples)
    if not points and images is None:
        return None
    import matplotlib

    matplotlib.use("Agg")  # files only
    import matplotlib.pyplot as plt

    if points:
        xy = samples[:_MAX_POINTS].detach().double().cpu()
        real = _real_points(game, seed)
        fig, ax = plt.subplots(figsize=(5, 5))
        ax.scatter(xy[:, 0], xy[:, 1], s=2, alpha=0.3, color="tab:blue", linewidths=0,
                   label=f"generated ({xy.shape[0]:,} shown)")
        extent = float(torch.nanquantile(xy.abs().flatten(), 0.995))  # a few far-off samples do not set the scale
        if real is not None:
            ax.scatter(real[:, 0], real[:, 1], s=12, marker="x", color="red", linewidths=0.6, label="real data")
            extent = max(extent, float(real.abs().max())) if math.isfinite(extent) else float(real.abs().max())
        lim = 1.15 * extent if math.isfinite(extent) and extent > 0 else 1.0
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.legend(loc="upper right", fontsize=7, markerscale=3)
    else:
        shown = images[:_MAX_IMAGES]
        cols = min(8, shown.shape[0])
        rows = -(-shown.shape[0] // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(1.2 * cols, 1.2 * rows + 0.4), squeeze=False)
        for i, ax in enumerate(axes.flat):
            ax.axis("off")
            if i < shown.shape[0]:
                ax.imshow(shown[i].numpy(), cmap="gray", vmin=0, vmax=1)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _suffix(out: str | None, allowed: tuple[str, ...], flag: str) -> None:
    if out is not None and Path(out).suffix not in allowed:
        raise ConfigError(f"{flag} {out}: the file name must end in {' or '.join(allowed)}, "
                          f"not {Path(out).suffix or 'nothing'!r}")


def cmd_sample(args: argparse.Namespace) -> int:
    """``diffgames sample RUN_DIR -n N [--out FILE] [--step S] [--seed K] [--device D]``."""
    _suffix(args.out, SAMPLE_SUFFIXES, "--out")
    run_dir = Path(args.run_dir)
    config, game = load_run(run_dir)
    _generator_samples(game)  # before reading any checkpoint: a game without a generator
    if args.n < 1:
        raise ConfigError(f"-n must be a positive number of samples, got {args.n}")
    device = resolve_device(args.device or config.device)
    step, params, source = load_params(run_dir, game, args.step)
    params = {p: {k: v.to(device) for k, v in ps.items()} for p, ps in params.items()}
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    samples = draw_samples(game, params, args.n, args.seed, device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    out = Path(args.out) if args.out else run_dir / f"samples-{step}.npy"
    write_samples(samples, out)
    title = f"{_name(game)}: {args.n:,} samples, step {step}, seed {args.seed}"
    png = picture(samples, game, out.with_suffix(".png"), title, args.seed)
    print(f"wrote {args.n} samples of shape {tuple(samples.shape[1:])} ({str(samples.dtype).removeprefix('torch.')}) "
          f"from step {step} ({source}) to {out}" + (f" and {png}" if png else ""))
    print(f"  sampling took {seconds:.4f} s on {device}: {args.n / max(seconds, 1e-9):,.0f} samples/s")
    return 0


# ---------------------------------------------------------------------- export
def example_input(game: Game, player: str, dtype: torch.dtype) -> Tensor:
    """An input batch of the shape the game feeds ``player`` (the players of GAN games:
    the generator's noise ``sample()["z"]``, the discriminator's data ``sample()["real"]``)."""
    if player not in game.player_names:
        raise ConfigError(f"game {_name(game)!r} has no player {player!r}; its players are "
                          f"{', '.join(game.player_names)}")
    if not isinstance(game, GANGame) or player not in _GAN_INPUTS:
        raise ConfigError(f"export does not know what input game {_name(game)!r} feeds player {player!r}; "
                          f"it exports the players of GAN games ({', '.join(_GAN_INPUTS)})")
    x = game.sample(torch.Generator().manual_seed(0), "cpu")[_GAN_INPUTS[player]].to(dtype)
    return x[:4] if x.shape[0] >= 2 else torch.cat([x, x])  # ≥ 2 rows: a batch size torch.export keeps symbolic


def _trained_module(game: Game, player: str, params: JointParams) -> nn.Module:
    """A copy of ``player``'s module holding its trained parameters (CPU, no gradients)."""
    module = copy.deepcopy(game.players[player]).cpu()
    weights = params[player]
    module.to(next(iter(weights.values())).dtype)
    module.load_state_dict({**module.state_dict(), **weights})
    module.eval()
    module.requires_grad_(False)
    return module


def export_player(module: nn.Module, example: Tensor, path: Path) -> tuple[Path, str, str | None]:
    """Write ``module`` for plain PyTorch: ``(file, format, why torch.export was not used)``.

    ``path`` ending in ``.pt2``: a ``torch.export`` program with a symbolic batch size
    (checked against the module on a batch of another size); when exporting fails, a
    TorchScript trace written next to it as ``.pt``. ``path`` ending in ``.pt``: the trace.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    bigger = torch.cat([example, example, example[:1]])
    with torch.no_grad():
        expected = module(bigger)
    why = None
    if path.suffix == ".pt2":
        try:
            batch = torch.export.Dim("batch", min=1)
            program = torch.export.export(module, (example,), dynamic_shapes=({0: batch},))
            with torch.no_grad():
                torch.testing.assert_close(program.module()(bigger), expected)
            torch.export.save(program, path)
            return path, "torch.export", None
        except Exception as exc:  # any failure of torch.export: fall back to a trace
            why = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            path = path.with_suffix(".pt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # recent torch deprecates TorchScript in favour of torch.export
        try:
            with torch.no_grad():
                traced = torch.jit.trace(module, (example,))
                torch.testing.assert_close(traced(bigger), expected)
        except Exception as exc:
            raise ConfigError(f"cannot export this module: torch.export failed ({why}) and its TorchScript trace "
                              f"failed too ({type(exc).__name__}: {str(exc).strip().splitlines()[0]})") from None
        torch.jit.save(traced, str(path))
    return path, "torchscript", why


def cmd_export(args: argparse.Namespace) -> int:
    """``diffgames export RUN_DIR [--player P] [--out FILE] [--step S]``."""
    _suffix(args.out, EXPORT_SUFFIXES, "--out")
    run_dir = Path(args.run_dir)
    _, game = load_run(run_dir)
    player = args.player
    example_input(game, player, torch.float32)  # an unknown player or input: say so before reading checkpoints
    step, params, source = load_params(run_dir, game, args.step)
    example = example_input(game, player, next(iter(params[player].values())).dtype)
    module = _trained_module(game, player, params)
    out = Path(args.out) if args.out else run_dir / f"{player}-{step}.pt2"
    path, kind, why = export_player(module, example, out)
    shape = ", ".join(["batch", *(str(d) for d in example.shape[1:])])
    dtype = str(example.dtype).removeprefix("torch.")
    if kind == "torch.export":
        print(f"wrote {path}: player {player} at step {step} ({source}) as a torch.export program; "
              f"input ({shape}) {dtype}")
        load = f"{player} = torch.export.load({str(path)!r}).module()"
    else:
        if why:
            print(f"torch.export failed for this module ({why}); wrote a TorchScript trace instead")
        print(f"wrote {path}: player {player} at step {step} ({source}) as TorchScript (torch.jit.trace); "
              f"input ({shape}) {dtype}")
        load = f"{player} = torch.jit.load({str(path)!r})"
    print(f"load it in plain PyTorch (no diffgames needed):\n    import torch\n    {load}")
    return 0
