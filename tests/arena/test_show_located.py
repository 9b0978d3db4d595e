"""`show` takes what `run` takes (file.py:Class), shows a run's setup and final metrics and a
game's metric definitions; a game from a file gets a default folder named by its class."""
from __future__ import annotations

import textwrap

import pytest

import games
from arena.cli.main import main

CHICKEN = textwrap.dedent('''
    import torch
    from games import Game
    from players import MixedStrategy


    class Chicken(Game):
        """Chicken: swerve or go straight.

        Metrics
        -------
        p_straight
            The row player's probability of going straight.
        """

        def __init__(self, dare: float = 1.0):
            """Parameters
            ----------
            dare
                Payoff for going straight against a swerver.
            """
            self.players = {"row": MixedStrategy(2), "col": MixedStrategy(2)}

        def losses(self, params, batch=None):
            x, y = self.call("row", params), self.call("col", params)
            return {"row": x[0] * y[0], "col": x[0] * y[0]}

        def evaluate(self, params, generator=None):
            return {"p_straight": float(torch.softmax(params["row"]["logits"], -1)[0])}

        def metric_names(self):
            return ("p_straight",)
''')


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    (tmp_path / "my_games.py").write_text(CHICKEN)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_show_a_game_from_a_file(in_tmp, capsys):
    assert main(["show", "my_games.py:Chicken"]) == 0
    out = capsys.readouterr().out
    assert "Chicken: swerve or go straight." in out
    assert "dare  float = 1.0" in out and "Payoff for going straight" in out
    assert "p_straight: The row player's probability of going straight." in out
    assert main(["show", "my_games.py:Eagle"]) == 2
    assert "Classes defined there: Chicken" in capsys.readouterr().err


def test_a_game_from_a_file_runs_into_a_folder_named_by_its_class(in_tmp, capsys):
    assert main(["run", "--game", "my_games.py:Chicken", "--solver", "simultaneous", "--steps", "4",
                 "--eval-every", "2", "--quiet"]) == 0
    run_dir = in_tmp / "runs" / "Chicken-simultaneous" / "seed0"
    assert (run_dir / "config.toml").is_file()
    assert not any(":" in p.name for p in (in_tmp / "runs").rglob("*"))


def test_show_a_run_directory_gives_its_setup_and_final_metrics(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--game", "rps", "--solver", "unrolled", "--solver-opt", "unroll_steps=2", "--lr", "0.3",
                 "--steps", "4", "--eval-every", "2", "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["show", str(out)]) == 0
    text = capsys.readouterr().out
    assert "solver unrolled: unroll_steps = 2" in text
    assert "optimizers: every player: sgd (lr 0.3)" in text
    assert "final metrics (step 4): " in text and "nash_conv = " in text


def test_show_a_game_prints_its_metric_definitions(capsys):
    assert main(["show", "tandem"]) == 0
    text = capsys.readouterr().out
    tandem = games.make("tandem")
    for metric in tandem.metric_names():
        assert f"  {metric}: {tandem.metric_doc(metric)}" in text


def test_run_help_names_the_file_form(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "my_games.py:Saddle" in capsys.readouterr().out
