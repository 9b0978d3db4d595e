"""Pinned numbers: the final metrics of a few short runs, to the last bit on CPU with one
thread. A change in numerics fails this test; whoever makes such a change on purpose
regenerates the pins and the affected results pages in the same commit:

    python tests/test_pinned_numbers.py --update      # rewrites tests/pinned_numbers.json

Floating-point kernels differ between CPU families and torch builds, so the pins are kept per
platform (torch version, CPU model, architecture). On a platform with pins the comparison
is exact; on one without, the test compares with the pins of another platform to a
relative 1e-4 — it still catches a change in the algorithm, though not in the last bits —
and says so in its output (record the platform's pins with ``--update``).
"""
from __future__ import annotations

import json
import math
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PINS = Path(__file__).with_name("pinned_numbers.json")
# the mog game's settings before its defaults became the paper's App. A (2026-12-05), stated
# so that these pins keep their values: both nets 2 x 32 tanh, gain 1.4, no input scaling
MOG = {"latent_size": 16, "hidden": 32, "batch_size": 128, "eval_samples": 1000, "depth": 2, "activation": "tanh",
       "gain": 1.4, "discriminator_input_scale": 1.0, "generator_loss": "non-saturating"}
MOG_ADAM = {"generator": {"name": "adam", "lr": 1e-3, "betas": [0.5, 0.999], "eps": 1e-8},
            "discriminator": {"name": "adam", "lr": 1e-4, "betas": [0.5, 0.999], "eps": 1e-8}}
MNIST = {"latent_size": 8, "hidden": 16, "disc_channels": 4, "batch_size": 8, "max_images": 200,
         "eval_samples": 64}

#: name → (game, game options, solver, solver options, optimizers, steps)
RUNS = {
    "mog-unrolled-k2": ("mog", MOG, "unrolled", {"unroll_steps": 2}, MOG_ADAM, 300),
    "mog-alternating": ("mog", MOG, "alternating", {}, MOG_ADAM, 300),
    "mog-optimistic": ("mog", MOG, "optimistic", {}, MOG_ADAM, 300),
    **{f"rps-{name}": ("rps", {}, name, {}, {"name": "sgd", "lr": 0.1}, 300)
       for name in ("simultaneous", "alternating", "optimistic", "extragradient", "consensus", "sga", "lola")},
    "rps-unrolled-k5": ("rps", {}, "unrolled", {"unroll_steps": 5}, {"name": "sgd", "lr": 0.1}, 300),
    "rps-cgd": ("rps", {}, "cgd", {"lr": 0.1}, None, 300),
    "mnist-unrolled-k1": ("mnist-rnn-cnn", MNIST, "unrolled", {"unroll_steps": 1}, None, 4),
}

SCRIPT = """
import json, sys, torch
torch.set_num_threads(1)
from arena.runs.config import RunConfig
from arena.runs.loop import train
runs = json.loads(sys.argv[1])
found = {}
for name, (game, game_options, solver, solver_options, optimizers, steps) in runs.items():
    summary = train(RunConfig(game=game, game_options=game_options, solver=solver, solver_options=solver_options,
                              optimizers=optimizers, steps=steps, eval_every=steps, seed=0,
                              out=sys.argv[2] + "/" + name), quiet=True)
    found[name] = {k: v for k, v in summary["final_metrics"].items() if "time" not in k}
print(json.dumps(found))
"""


def platform_key() -> str:
    import torch

    from diffgames.machine import cpu_model

    return f"torch {torch.__version__} | {cpu_model()} | {platform.machine()}"


def measure(out: Path) -> dict[str, dict[str, float]]:
    """Every pinned run's final metrics, in a fresh process with one torch thread."""
    done = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(RUNS), str(out)], cwd=ROOT, check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _differences(found: dict, pinned: dict, rel: float) -> list[str]:
    out = []
    for run, metrics in pinned.items():
        for metric, value in metrics.items():
            got = found.get(run, {}).get(metric)
            same = got == value or (got is not None and math.isnan(got) and math.isnan(value))
            if not same and not (rel and got is not None and math.isclose(got, value, rel_tol=rel, abs_tol=1e-12)):
                out.append(f"{run}.{metric}: pinned {value!r}, now {got!r}")
    return out


def test_final_metrics_equal_the_pins(tmp_path, capsys):
    pins = json.loads(PINS.read_text())
    assert pins, "no pins recorded"
    found = measure(tmp_path)
    key = platform_key()
    exact = key in pins
    pinned = pins[key] if exact else next(iter(pins.values()))
    assert set(found) == set(RUNS) and set(pinned) == set(RUNS), "the pinned runs changed: regenerate the pins"
    wrong = _differences(found, pinned, 0.0 if exact else 1e-4)
    if not exact:
        with capsys.disabled():
            print(f"\nno pins for {key!r}: compared to {next(iter(pins))!r} to a relative 1e-4")
    assert not wrong, ("numerics changed (regenerate with `python tests/test_pinned_numbers.py --update` "
                       "if on purpose, and the affected results pages):\n" + "\n".join(wrong))


def test_the_comparison_can_fail():
    pinned = {"run": {"metric": 1.0}}
    assert _differences({"run": {"metric": 1.0 + 1e-15}}, pinned, 0.0)
    assert not _differences({"run": {"metric": 1.0 + 1e-15}}, pinned, 1e-4)
    assert _differences({"run": {"metric": 1.001}}, pinned, 1e-4)
    assert _differences({}, pinned, 1e-4)


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python tests/test_pinned_numbers.py --update")
    import tempfile

    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as folder:
        measured = measure(Path(folder))
    pins = json.loads(PINS.read_text()) if PINS.exists() else {}
    pins[platform_key()] = measured
    PINS.write_text(json.dumps(pins, indent=1, sort_keys=True) + "\n")
    print(f"pinned {len(measured)} runs for {platform_key()!r} in {PINS}")
