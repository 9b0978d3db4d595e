"""``diffgames diagnose``: the local dynamics of a game at a point, in words and one figure.

At the joint parameters θ (a seed's initial point, or a run's checkpoint) this prints the
simultaneous gradient ``ξ`` and the Hamiltonian ``½‖ξ‖²`` (Balduzzi et al. 2018, "The
Mechanics of n-Player Differentiable Games", Eq. 1 and Sec. 3.2), the eigenvalues of the
game Jacobian ``J = ∇ξ`` (their Eq. 2) and the norms of its symmetric (potential) and
antisymmetric (Hamiltonian) parts (their Eq. 5), then says what they mean for gradient
dynamics (Mescheder, Nowozin & Geiger 2017, "The Numerics of GANs", Sec. 3): at a fixed
point, simultaneous gradient *flow* is locally attracted when every eigenvalue has a
positive real part, and simultaneous gradient *descent* with step η when additionally
``|1 − ηλ| < 1`` for every eigenvalue, i.e. ``η < 2 Re λ / |λ|²``.

The numbers come from :func:`analysis.jacobian.diagnose`, evaluated in float64 (the
parameters and any floating-point tensors of the batch are cast), so that "purely
imaginary" is not blurred by float32 rounding. The eigenvalue plot is
:func:`analysis.jacobian.plot_eigenvalues`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

import games
from arena.runs.checkpoint import CorruptCheckpoint, _read, list_checkpoints, load_latest_checkpoint
from arena.parsing import parse_kv
from arena.runs.config import RunConfig
from games.base import Game, JointParams
from analysis.jacobian import DENSE_PARAM_CAP, diagnose, plot_eigenvalues
from analysis.jacobian import DIAGNOSE_ITERS as ITERS
from analysis.jacobian import DIAGNOSE_PROBES as PROBES
from diffgames.errors import ConfigError


__all__ = ["run_diagnose", "load_point", "format_report", "FIXED_POINT_TOL", "AXIS_RTOL"]

#: ``‖ξ‖`` at or below this (float64) counts as a fixed point.
FIXED_POINT_TOL = 1e-6
#: An eigenvalue with ``|Re λ| ≤ AXIS_RTOL · max(1, ρ(J))`` counts as on the imaginary axis.
AXIS_RTOL = 1e-9


def _to_float64(tree: Any) -> Any:
    """Cast every floating-point tensor in a (nested dict/list/tuple) batch to float64."""
    if isinstance(tree, torch.Tensor):
        return tree.double() if tree.is_floating_point() else tree
    if isinstance(tree, dict):
        return {k: _to_float64(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_to_float64(v) for v in tree)
    return tree


def _read_checkpoint(at: Path) -> tuple[Path, dict[str, Any], Path | None]:
    """``(checkpoint file, payload, run directory or None)`` for ``--at``: a run directory,
    its ``checkpoints/`` directory, or one checkpoint file."""
    if at.is_file():
        try:
            payload = _read(at, "cpu")
        except CorruptCheckpoint as exc:
            raise ConfigError(f"--at {at}: not a usable checkpoint ({exc})") from None
        run_dir = at.parent.parent if (at.parent.parent / "config.toml").exists() else None
        return at, payload, run_dir
    if not at.is_dir():
        raise ConfigError(f"--at {at}: no such run directory or checkpoint file")
    if (at / "config.toml").exists():
        run_dir, ckpt_dir = at, at / "checkpoints"
    elif list_checkpoints(at):
        run_dir, ckpt_dir = (at.parent if (at.parent / "config.toml").exists() else None), at
    else:
        raise ConfigError(f"--at {at}: neither a run directory (no config.toml) nor a folder of checkpoints")
    try:
        loaded = load_latest_checkpoint(ckpt_dir, map_location="cpu")
        why = "it holds no checkpoints"
    except CorruptCheckpoint as exc:
        loaded, why = None, f"every checkpoint there is damaged (the newest: {exc})"
    if loaded is None:
        raise ConfigError(f"--at {at}: cannot take parameters from {ckpt_dir}: {why}")
    return loaded[0], loaded[1], run_dir


def _check_params(game: Game, params: Any, source: str) -> JointParams:
    like = game.init_params(0)
    if not isinstance(params, dict) or sorted(params) != sorted(like):
        found = sorted(params) if isinstance(params, dict) else type(params).__name__
        raise ConfigError(f"{source}: its players {found} are not the game's {sorted(like)}")
    for p, ps in like.items():
        for k, v in ps.items():
            got = params[p].get(k) if isinstance(params[p], dict) else None
            if not isinstance(got, torch.Tensor) or got.shape != v.shape:
                shape = None if got is None else tuple(getattr(got, "shape", ()))
                raise ConfigError(f"{source}: parameter {p}.{k} has shape {shape}, the game expects {tuple(v.shape)} "
                                  "(were the game options different?)")
    return {p: {k: params[p][k].detach().cpu() for k in like[p]} for p in like}


def load_point(game_name: str, game_options: dict[str, Any], at: str | Path | None, seed: int
               ) -> tuple[Game, JointParams, str, dict[str, Any]]:
    """``(game, params, description of the point, resolved game options)``.

    Without ``at``: the game built from ``game_options`` at its initial point for
    ``seed``. With ``at``: the parameters of the newest good checkpoint; the game options
    are the run's (from ``config.toml``, or the checkpoint's own copy of the config),
    updated by ``game_options``.
    """
    if at is None:
        game = games.make(game_name, **game_options)
        return game, game.init_params(seed), f"the initial point of seed {seed}", dict(game_options)
    path, payload, run_dir = _read_checkpoint(Path(at))
    if not isinstance(payload, dict) or "params" not in payload:
        raise ConfigError(f"--at {at}: {path.name} holds no player parameters; is it a diffgames checkpoint?")
    config: dict[str, Any] = {}
    if run_dir is not None:
        config = RunConfig.load(run_dir / "config.toml").to_dict()
    elif isinstance(payload.get("config"), dict):
        config = payload["config"]
    if config.get("game") and config["game"] != game_name:
        raise ConfigError(f"--at {at} is a run of game {config['game']!r}, not {game_name!r}; "
                          f"use --game {config['game']}")
    options = {**config.get("game_options", {}), **game_options}
    game = games.make(game_name, **options)
    params = _check_params(game, payload["params"], f"--at {path}")
    return game, params, f"{path} (step {payload.get('step', '?')})", options


def _fmt(x: float) -> str:
    return f"{x + 0.0:.6g}"  # + 0.0 turns -0.0 into 0.0


def format_report(game: Game, where: str, result: dict[str, Any]) -> str:
    """The human-readable report of one :func:`analysis.jacobian.diagnose` result."""
    lines = [f"diagnose: game {getattr(game, 'registered_name', type(game).__name__)} "
             f"(players {', '.join(game.player_names)}) at {where}",
             f"  parameters                  {result['n_params']}",
             f"  ‖ξ‖ (simultaneous gradient)  {_fmt(result['grad_norm'])}",
             f"  Hamiltonian ½‖ξ‖²            {_fmt(result['hamiltonian'])}"]
    fixed = result["grad_norm"] <= FIXED_POINT_TOL
    lines.append(f"  fixed point                 {'yes' if fixed else 'no'} (‖ξ‖ {'≤' if fixed else '>'} {FIXED_POINT_TOL:g})")
    n = result["n_params"]
    if result["method"] == "dense":
        eigs = result["eigenvalues"]
        tol = AXIS_RTOL * max(1.0, result["spectral_radius"])
        right, left = int((eigs.real > tol).sum()), int((eigs.real < -tol).sum())
        axis = eigs[np.abs(eigs.real) <= tol]
        rotating, zero = int((np.abs(axis.imag) > tol).sum()), int((np.abs(axis.imag) <= tol).sum())
        lines += [f"game Jacobian J = ∇ξ (dense, {n} × {n}), eigenvalues λ:",
                  f"  count                       {eigs.size}: {right} with Re λ > 0, {left} with Re λ < 0, "
                  f"{axis.size} on the imaginary axis ({rotating} nonzero, {zero} zero)",
                  f"  max Re λ                    {_fmt(result['max_real_part'])}",
                  f"  min Re λ                    {_fmt(result['min_real_part'])}",
                  f"  max |Im λ|                  {_fmt(result['max_abs_imag_part'])}",
                  f"  spectral radius max|λ|      {_fmt(result['spectral_radius'])}",
                  f"  spectral norm σ_max(J)      {_fmt(result['spectral_norm'])}"]
        if axis.size == eigs.size and rotating == eigs.size:
            lines.append("  eigenvalues: purely imaginary (every λ on the imaginary axis, none zero): pure rotation")
        elif axis.size == eigs.size:
            lines.append("  eigenvalues: all on the imaginary axis (some zero)")
        elif left == 0 and axis.size == 0:
            lines.append("  eigenvalues: all in the open right half-plane")
        if zero:
            lines.append(f"  {zero} zero eigenvalue(s): directions along which ξ does not change to first order "
                         "(e.g. adding a constant to softmax logits)")
    else:
        lines += [f"game Jacobian J = ∇ξ ({n} parameters, above the dense cap: matrix-free estimates, no eigenvalues)",
                  f"  spectral norm σ_max(J)      {_fmt(result['spectral_norm'])} (power iteration; bounds max|λ|)"]
    lines += [f"  ‖S‖_F, S = (J + Jᵀ)/2        {_fmt(result['symmetric_norm'])} (potential part)",
              f"  ‖A‖_F, A = (J − Jᵀ)/2        {_fmt(result['antisymmetric_norm'])} (Hamiltonian part)",
              f"  antisymmetric share          {result['antisymmetric_share']:.4f} "
              "(‖A‖²/(‖S‖² + ‖A‖²): 0 potential game, 1 purely rotational)"]
    lines += ["stability:"] + ["  " + s for s in _stability(result, fixed)]
    return "\n".join(lines)


def _stability(result: dict[str, Any], fixed: bool) -> list[str]:
    meaning = ("'stable' means: at a fixed point every eigenvalue of J has Re λ > 0, so simultaneous\n"
               "  gradient flow is locally attracted (Mescheder et al. 2017, Sec. 3); simultaneous GD with\n"
               "  step η is attracted when also η < 2 Re λ/|λ|² for every λ.")
    if result["method"] != "dense":
        return [meaning, "not decided here: the matrix-free path gives no eigenvalues."]
    eigs = result["eigenvalues"]
    tol = AXIS_RTOL * max(1.0, result["spectral_radius"])
    if not fixed:
        return [meaning, "this point is not a fixed point (ξ ≠ 0), so stability does not apply; the eigenvalues "
                "describe the linearised dynamics around it."]
    if (eigs.real > tol).all():
        eta = float(np.min(2 * eigs.real / np.abs(eigs) ** 2))
        return [meaning, f"stable: every Re λ > 0; simultaneous GD converges locally for η < {eta:.4g}."]
    if (eigs.real < -tol).any():
        return [meaning, "unstable: some Re λ < 0, a direction gradient dynamics move away from."]
    return [meaning, "not stable, not repelling: eigenvalues on the imaginary axis (Re λ = 0) are rotations; "
            "gradient flow circles there and simultaneous GD (|1 − ηλ| > 1) spirals outwards for every η > 0."]


def run_diagnose(args: argparse.Namespace) -> int:
    """Body of ``diffgames diagnose`` (arguments: ``game``, ``game_opt``, ``at``, ``seed``, ``out``)."""
    game_options = parse_kv(args.game_opt, "--game-opt")
    game, params, where, _ = load_point(args.game, game_options, args.at, args.seed)
    params = _to_float64(params)
    batch = _to_float64(game.sample(torch.Generator().manual_seed(args.seed), "cpu"))
    n_params = sum(t.numel() for ps in params.values() for t in ps.values())
    bar = None
    if n_params > DENSE_PARAM_CAP and not getattr(args, "quiet", False):
        from tqdm import tqdm

        # minutes for a network game (each step is a few Hessian-vector products in float64)
        bar = tqdm(total=PROBES + ITERS, desc=f"matrix-free estimates ({n_params} parameters)", unit="product",
                   leave=False, file=sys.stderr)
    try:
        result = diagnose(game, params, batch, max_params=DENSE_PARAM_CAP, probes=PROBES, iters=ITERS,
                          progress=None if bar is None else bar.update)
    except (RuntimeError, TypeError) as exc:  # e.g. an op torch.func cannot differentiate twice
        raise ConfigError(f"cannot diagnose {game!r} at {where}: {type(exc).__name__}: {exc}") from None
    finally:
        if bar is not None:
            bar.close()
    print(format_report(game, where, result))
    if result["eigenvalues"] is None:
        print("plot: none (no eigenvalues in the matrix-free path)")
        return 0
    out = Path(args.out or f"diagnose-{args.game}.png")
    if not out.suffix:  # matplotlib would add ".png" itself; say the name it writes
        out = out.with_name(out.name + ".png")
    title = f"{args.game}: eigenvalues of J ({result['eigenvalues'].size})"
    written = plot_eigenvalues(result["eigenvalues"], out, title=title)
    print(f"plot: {written}")
    return 0
