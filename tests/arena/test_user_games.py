"""A user's own game or solver from outside the repository: named as file.py:Class (in the
CLI relative to the working directory, in a case file relative to the case), as
package.module:Class, or through an installed package's entry point."""
from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import pytest

import games
import solvers
from arena.cli.main import main

GAME = '''
from games import ZeroSumGame
from players import Vector


class Saddle(ZeroSumGame):
    """f(x, y) = x·y + x²/2 − y²/2, a user's game."""

    def __init__(self, start: float = 1.0):
        self.players = {"x": Vector(1, init=[start]), "y": Vector(1, init=[-start])}

    def value(self, params, batch):
        x, y = params["x"]["value"], params["y"]["value"]
        return (x * y + 0.5 * x * x - 0.5 * y * y).sum()

    def evaluate(self, params, generator):
        return {"distance": float((params["x"]["value"] ** 2 + params["y"]["value"] ** 2).sum().sqrt())}

    def metric_names(self):
        return ("distance",)


class NotAGame:
    pass
'''

SOLVER = '''
import torch
from solvers.base import Solver, SolverCapabilities, player_gradients


class PlainGD(Solver):
    """Simultaneous gradient descent, a user's solver."""

    capabilities = SolverCapabilities(vectorizable=True)

    def step(self, game, params, state, batch):
        grads, losses = player_gradients(game, params, batch)
        with torch.no_grad():
            new_params, new_state = self.apply_updates(game, params, state, grads)
        return new_params, new_state, {"losses": losses}
'''


@pytest.fixture
def user_files(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "my_game.py").write_text(GAME)
    (tmp_path / "mine" / "my_solver.py").write_text(SOLVER)
    return tmp_path / "mine"


def _final(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())["final_metrics"]


def test_a_game_and_a_solver_from_files_on_the_command_line(user_files, tmp_path, monkeypatch):
    monkeypatch.chdir(user_files)
    out = tmp_path / "run"
    assert main(["run", "--game", "my_game.py:Saddle", "--solver", "my_solver.py:PlainGD", "--steps", "40",
                 "--eval-every", "20", "--quiet", "--out", str(out)]) == 0
    assert _final(out)["distance"] < 1.0
    assert f'game = "{user_files / "my_game.py"}:Saddle"' in (out / "config.toml").read_text()
    monkeypatch.chdir(tmp_path)  # the recorded absolute path works from anywhere
    assert main(["resume", str(out), "--steps", "60", "--quiet"]) == 0
    assert _final(out)["step"] == 60


def test_a_game_from_a_file_next_to_a_case(user_files, tmp_path, monkeypatch):
    (user_files / "case.toml").write_text('name = "user-saddle"\ndescription = "a user\'s game"\n'
                                          '[game]\nname = "my_game.py:Saddle"\n[run]\nsteps = 30\neval_every = 10\n'
                                          '[[solvers]]\nname = "optimistic"\n[[solvers]]\nname = "my_solver.py:PlainGD"\n'
                                          'label = "mine"\n')
    monkeypatch.chdir(tmp_path)
    assert main(["compare", str(user_files / "case.toml"), "--out", str(tmp_path / "cmp"), "--quiet"]) == 0
    assert (tmp_path / "cmp" / "mine" / "seed0" / "summary.json").exists()


def test_a_game_from_an_importable_module(user_files, monkeypatch):
    monkeypatch.syspath_prepend(str(user_files))
    game = games.make("my_game:Saddle", start=2.0)
    assert game.player_names == ("x", "y") and float(game.init_params(0)["x"]["value"]) == 2.0


def test_a_game_and_a_solver_from_installed_entry_points(user_files, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(user_files))
    points = {"diffgames.games": [importlib.metadata.EntryPoint("user-saddle", "my_game:Saddle", "diffgames.games")],
              "diffgames.solvers": [importlib.metadata.EntryPoint("user-gd", "my_solver:PlainGD", "diffgames.solvers")]}
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group=None: points.get(group, []))
    for registry in (games._REGISTRY, solvers._REGISTRY):
        monkeypatch.setattr(registry, "_entry_points_read", False)
        monkeypatch.setattr(registry, "_factories", dict(registry._factories))
        monkeypatch.setattr(registry, "_descriptions", dict(registry._descriptions))
    assert "user-saddle" in games.available() and "user-gd" in solvers.available()
    assert main(["list"]) == 0
    assert "user-saddle" in capsys.readouterr().out
    assert type(games.make("user-saddle")).__name__ == "Saddle"
    assert solvers.make("user-gd").capabilities.vectorizable


@pytest.mark.parametrize("name, words", [
    ("nothing_here.py:Saddle", "there is no file"),
    ("my_game.py:Sadle", "has no 'Sadle'. Did you mean 'Saddle'? Classes defined there: NotAGame, Saddle"),
    ("my_game.py:NotAGame", "is not a subclass of games.base.Game"),
    ("no_such_package.games:Saddle", "cannot import 'no_such_package.games'"),
])
def test_clear_errors_for_a_game_that_cannot_be_found(user_files, monkeypatch, capsys, name, words):
    monkeypatch.chdir(user_files)
    assert main(["run", "--game", name, "--solver", "simultaneous", "--quiet", "--out", "x"]) == 2
    assert words in capsys.readouterr().err
    assert not (user_files / "x").exists()
