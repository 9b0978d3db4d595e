"""``diffgames limit``: the unrolled gradient of Metz et al. (2016, Eq. 13) against the
number of unrolling steps K, beside the plain and the Stackelberg (implicit) gradients.

For each game given (``--game NAME``, its ``--game-opt K=V`` and ``--vary K=V1,V2`` apply to
the ``--game`` before them; ``--vary`` makes one line per value), at the game's initial
point for ``--seed`` and the batch that seed draws, the follower (the second player, a
GAN's discriminator) unrolls K steps of SGD with step ``--lr``; the numbers are
:func:`analysis.unrolling_limit.unrolling_limit`'s: the second term's norm relative to the
first's, and the relative distance of the second-order unrolled gradient from the
Stackelberg gradient at the follower's optimum. It prints the table and writes
``unrolling-limit.csv``, ``unrolling-limit.md`` and ``unrolling-limit.png`` to ``--out``.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any

import torch

import games
from arena.parsing import parse_kv
from diffgames.errors import ConfigError
from diffgames.registry import parse_option_value

__all__ = ["cmd_limit", "parse_game_specs", "plot_limit", "COLUMNS"]

#: The table's columns, in order.
COLUMNS = ("game", "k", "first_norm", "second_norm", "second_ratio", "stackelberg_distance", "plain_distance",
           "follower_distance")


def parse_game_specs(items: list[tuple[str, str]] | None) -> list[tuple[str, dict[str, Any], str]]:
    """``[("game", name) | ("opt", "k=v") | ("vary", "k=v1,v2"), ...]`` in command-line order →
    ``[(name, options, label), ...]``, one per game and value of its ``--vary``."""
    entries: list[dict[str, Any]] = []
    for kind, text in items or []:
        if kind == "game":
            entries.append({"name": text, "opts": [], "vary": None})
            continue
        if not entries:
            raise ConfigError(f"limit: {'--game-opt' if kind == 'opt' else '--vary'} {text} comes before any --game")
        if kind == "opt":
            entries[-1]["opts"].append(text)
        else:
            key, sep, values = text.partition("=")
            if not sep or not key or not values:
                raise ConfigError(f"limit: --vary expects key=value1,value2, got {text!r}")
            if entries[-1]["vary"] is not None:
                raise ConfigError(f"limit: one --vary per --game ({entries[-1]['name']})")
            entries[-1]["vary"] = (key.strip(), [parse_option_value(v.strip()) for v in values.split(",")])
    if not entries:
        raise ConfigError("limit: give at least one --game")
    specs = []
    for entry in entries:
        opts = parse_kv(entry["opts"], "--game-opt")
        short = entry["name"].rpartition(":")[2]
        base = " ".join([short, *(f"{k}={v}" for k, v in opts.items())])
        if entry["vary"] is None:
            specs.append((entry["name"], opts, base))
        else:
            key, values = entry["vary"]
            for value in values:
                specs.append((entry["name"], {**opts, key: value}, f"{base} {key}={value}"))
    return specs


def _parse_ks(text: str) -> list[int]:
    try:
        ks = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"limit: --ks must be comma-separated integers ≥ 0, got {text!r}") from None
    if not ks or any(k < 0 for k in ks):
        raise ConfigError(f"limit: --ks must be comma-separated integers ≥ 0, got {text!r}")
    return ks


def plot_limit(rows: list[dict[str, Any]], path: Path) -> None:
    """Two panels against K (log y): the second term relative to the first, and the distance
    of the unrolled gradient from the Stackelberg gradient; one line per game."""
    from arena.reports.plots import plt  # matplotlib with the Agg backend

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    labels = list(dict.fromkeys(r["game"] for r in rows))
    for label in labels:
        mine = [r for r in rows if r["game"] == label]
        for ax, key in zip(axes, ("second_ratio", "stackelberg_distance")):
            pts = [(r["k"], r[key]) for r in mine if r[key] > 0]  # log scale: zeros are left out
            if pts:
                ax.plot(*zip(*pts), marker="o", ms=3, label=label)
    axes[0].set_title("second term / first term of Eq. 13")
    axes[1].set_title("‖unrolled − Stackelberg‖ / ‖Stackelberg‖")
    for ax in axes:
        ax.set_yscale("log")
        ax.set_xlabel("unrolling steps K")
        ax.grid(True, which="both", alpha=0.3)
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _markdown(rows: list[dict[str, Any]], infos: list[dict[str, Any]]) -> str:
    lines = ["| game | K | ‖first‖ | ‖second‖/‖first‖ | unrolled vs Stackelberg | unrolled vs plain |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['game']} | {r['k']} | {r['first_norm']:.4g} | {r['second_ratio']:.3g} | "
                     f"{r['stackelberg_distance']:.3g} | {r['plain_distance']:.3g} |")
    lines += ["", "| game | follower steps to θ_F* | ‖Stackelberg − plain‖/‖plain‖ |", "|---|---:|---:|"]
    for info in infos:
        lines.append(f"| {info['game']} | {info['optimum_steps']} | {info['stackelberg_vs_plain']:.3g} |")
    return "\n".join(lines) + "\n"


def cmd_limit(args: argparse.Namespace) -> int:
    from analysis.unrolling_limit import unrolling_limit
    from solvers.optim import SGD

    specs = parse_game_specs(args.limit_spec)
    ks = _parse_ks(args.ks)
    if not (args.lr > 0):
        raise ConfigError(f"limit: --lr must be > 0, got {args.lr}")
    if args.optimum_steps < 1:
        raise ConfigError(f"limit: --optimum-steps must be ≥ 1, got {args.optimum_steps}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    infos: list[dict[str, Any]] = []
    for name, opts, label in specs:
        game = games.make(name, **opts)
        params = game.init_params(args.seed, dtype=torch.float64)
        batch = game.sample(torch.Generator().manual_seed(args.seed), "cpu")
        optimizers = {p: SGD(lr=args.lr) for p in game.player_names}
        found, info = unrolling_limit(game, params, batch, optimizers, ks, start=args.start, damping=args.damping,
                                      optimum_max_steps=args.optimum_steps)
        infos.append({"game": label, **info})
        rows += [{"game": label, **r.as_dict()} for r in found]
    with open(out / "unrolling-limit.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(COLUMNS))
        writer.writeheader()
        for r in rows:
            writer.writerow({k: r[k] for k in COLUMNS})
    table = _markdown(rows, infos)
    (out / "unrolling-limit.md").write_text(table)
    plot_limit(rows, out / "unrolling-limit.png")
    print(f"unrolled gradient vs K (follower: SGD lr {args.lr:g}, start {args.start}, seed {args.seed}, float64)")
    print(table)
    print(f"wrote {out / 'unrolling-limit.csv'}, {out / 'unrolling-limit.md'}, {out / 'unrolling-limit.png'}")
    return 0
