"""``diffgames show NAME``: options from the signature and docstring, the capability
record, and for a case its solvers, seeds and claims."""
from __future__ import annotations

import re

from arena.cli.main import main
from arena.cli.show import option_rows
from games.mog import MixtureOfGaussians


def _show(name, capsys) -> str:
    assert main(["show", name]) == 0
    return capsys.readouterr().out


def test_show_a_game(capsys):
    text = _show("mog", capsys)
    assert "game mog:" in text and "players: generator, discriminator" in text
    assert re.search(r"layout +'ring' \| 'grid' = 'ring'", text)
    assert "Number of modes; default 8 (ring) or 25 (grid)." in text
    # the saturating generator loss (the default, App. A) makes the GAN zero-sum
    assert "vectorizable: True" in text and "zero_sum: True" in text
    assert "discriminator_input_scale" in text and "divided by 4" in text


def test_show_a_zero_sum_game_states_the_sign_convention_and_the_seed_note(capsys):
    text = _show("rps", capsys)
    assert "zero_sum: True" in text and "a matrix game's `payoff` is what the row player maximises" in text
    assert "every seed runs the same" in text
    assert "every seed runs the same" not in _show("bilinear", capsys)


def test_show_a_solver(capsys):
    text = _show("unrolled", capsys)
    assert re.search(r"unroll_steps +int = 5", text) and "the number of follower steps unrolled" in text
    assert "compilable: True" in text and "players: any" in text
    assert "players: 2" in _show("cgd", capsys) and "own_step_size: True" in _show("cgd", capsys)


def test_show_a_case(capsys):
    text = _show("quickstart", capsys)
    assert "game: rps" in text and "seeds: 0" in text
    assert "unrolled-k5: unrolled (unroll_steps=5)" in text
    assert "claims (4):" in text and "optimistic GD: nash_conv < 0.1 after 3000 steps" in text


def test_show_an_unknown_name(capsys):
    assert main(["show", "mgo"]) == 2
    assert "Did you mean 'mog'?" in capsys.readouterr().err


def test_list_points_to_show(capsys):
    assert main(["list"]) == 0
    assert "diffgames show NAME" in capsys.readouterr().out


def test_option_rows_read_the_signature_and_the_docstring():
    rows = {name: (kind, default, meaning) for name, kind, default, meaning in option_rows(MixtureOfGaussians)}
    assert rows["batch_size"][:2] == ("int", "512")
    assert rows["hidden"][2].startswith("Hidden width of both networks")
    assert rows["generator_hidden"][2].startswith("Hidden width of the generator alone")  # each option its own entry
    from games.mnist import MnistRnnCnn

    mnist = {name: meaning for name, _, _, meaning in option_rows(MnistRnnCnn)}
    assert mnist["hidden"] == mnist["disc_channels"] != ""  # an entry naming several options serves each
