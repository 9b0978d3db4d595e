"""`diffgames diagnose`: the report, the eigenvalue plot, --at a run, and one-line errors."""
from __future__ import annotations

import re

import pytest

from arena.runs.checkpoint import list_checkpoints
from arena.cli.main import main


def _value(text: str, label: str) -> float:
    match = re.search(rf"^\s*{re.escape(label)}\s+(\S+)", text, re.MULTILINE)
    assert match, f"{label!r} not in the report:\n{text}"
    return float(match.group(1).rstrip(":"))


def test_bilinear_report_is_purely_imaginary_and_plot_is_written(tmp_path, capsys):
    out = tmp_path / "e.png"
    assert main(["diagnose", "--game", "bilinear", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "eigenvalues: purely imaginary" in text
    assert "8: 0 with Re λ > 0, 0 with Re λ < 0, 8 on the imaginary axis (8 nonzero, 0 zero)" in text
    assert _value(text, "parameters") == 8
    assert _value(text, "max Re λ") == 0.0 and _value(text, "min Re λ") == 0.0
    # identity A: eigenvalues ±i, so max|Im λ| = spectral radius = 1, and J is antisymmetric
    assert _value(text, "max |Im λ|") == pytest.approx(1.0)
    assert _value(text, "spectral radius max|λ|") == pytest.approx(1.0)
    assert _value(text, "‖S‖_F, S = (J + Jᵀ)/2") == 0.0
    assert _value(text, "antisymmetric share") == pytest.approx(1.0)
    assert "fixed point                 no" in text  # a random start, not the origin
    assert out.exists() and out.stat().st_size > 1000 and out.read_bytes()[:4] == b"\x89PNG"


def test_plot_path_without_suffix_is_reported_as_written(tmp_path, capsys):
    assert main(["diagnose", "--game", "bilinear", "--out", str(tmp_path / "eigs")]) == 0
    text = capsys.readouterr().out
    written = tmp_path / "eigs.png"
    assert f"plot: {written}" in text and written.exists()
    assert not (tmp_path / "eigs").exists()


def test_matrix_free_diagnose_shows_a_progress_bar_unless_quiet(tmp_path, capsys, monkeypatch):
    import arena.reports.diagnose as cli_diagnose

    # a cap of 4 parameters sends the 8-parameter bilinear game down the matrix-free path
    monkeypatch.setattr(cli_diagnose, "DENSE_PARAM_CAP", 4)
    monkeypatch.setattr(cli_diagnose, "ITERS", 20)
    assert main(["diagnose", "--game", "bilinear", "--out", str(tmp_path / "e.png")]) == 0
    captured = capsys.readouterr()
    assert "matrix-free estimates (8 parameters)" in captured.err
    assert "matrix-free estimates, no eigenvalues" in captured.out and not (tmp_path / "e.png").exists()
    assert main(["diagnose", "--game", "bilinear", "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_hamiltonian_matches_gradient_norm(capsys, tmp_path):
    assert main(["diagnose", "--game", "letcher", "--out", str(tmp_path / "l.png")]) == 0
    text = capsys.readouterr().out
    # letcher at (1, 1): ξ = (y − x + x³, −x + y − y³)... = (1, −1), so ‖ξ‖ = √2 and ℋ = 1
    assert _value(text, "‖ξ‖ (simultaneous gradient)") == pytest.approx(2**0.5, rel=1e-5)
    assert _value(text, "Hamiltonian ½‖ξ‖²") == pytest.approx(1.0, rel=1e-5)


def test_fixed_point_stability_verdicts(tmp_path, capsys):
    # R1-regularised Dirac-GAN at its equilibrium: stable (Mescheder et al. 2018, Thm. 4.1)
    assert main(["diagnose", "--game", "dirac-gan", "--game-opt", "theta_init=0", "--game-opt", "psi_init=0",
                 "--game-opt", "r1=1", "--out", str(tmp_path / "d.png")]) == 0
    text = capsys.readouterr().out
    assert "fixed point                 yes" in text and "stable: every Re λ > 0" in text
    # the unregularised one: rotation only, not stable
    assert main(["diagnose", "--game", "dirac-gan", "--game-opt", "theta_init=0", "--game-opt", "psi_init=0",
                 "--out", str(tmp_path / "d0.png")]) == 0
    text = capsys.readouterr().out
    assert "fixed point                 yes" in text and "not stable, not repelling" in text
    assert "eigenvalues: purely imaginary" in text


def test_at_run_directory_and_checkpoint_file(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["run", "--game", "bilinear", "--solver", "simultaneous", "--steps", "20", "--eval-every", "10",
                 "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["diagnose", "--game", "bilinear", "--at", str(run), "--out", str(tmp_path / "a.png")]) == 0
    text = capsys.readouterr().out
    assert "checkpoint-000000020.pt (step 20)" in text  # the newest checkpoint
    grown = _value(text, "‖ξ‖ (simultaneous gradient)")
    assert main(["diagnose", "--game", "bilinear", "--out", str(tmp_path / "b.png")]) == 0
    start = _value(capsys.readouterr().out, "‖ξ‖ (simultaneous gradient)")
    assert grown > start  # simultaneous GD spirals out: the checkpoint is not the initial point
    first = list_checkpoints(run / "checkpoints")[0]  # kept: the newest 3 are steps 0, 10, 20
    assert first.name == "checkpoint-000000000.pt"
    assert main(["diagnose", "--game", "bilinear", "--at", str(first), "--out", str(tmp_path / "c.png")]) == 0
    text = capsys.readouterr().out
    assert f"{first.name} (step 0)" in text
    assert _value(text, "‖ξ‖ (simultaneous gradient)") == pytest.approx(start)  # the seed-0 start again
    assert (tmp_path / "a.png").exists() and (tmp_path / "c.png").exists()


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--game", "bilinar"], "Did you mean 'bilinear'"),
        (["--game", "bilinear", "--game-opt", "dim=0"], "dim must be"),
        (["--game", "bilinear", "--at", "no/such/run"], "no such run directory"),
    ],
)
def test_user_errors_are_one_line_exit_2(argv, fragment, tmp_path, capsys):
    assert main(["diagnose", *argv, "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "x.png").exists()


def test_bad_checkpoints_and_wrong_game_exit_2(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["run", "--game", "bilinear", "--solver", "simultaneous", "--steps", "10", "--eval-every", "10",
                 "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["diagnose", "--game", "rps", "--at", str(run)]) == 2
    assert "is a run of game 'bilinear'" in capsys.readouterr().err
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(b"0" * 64 + b"\nnot a checkpoint")
    assert main(["diagnose", "--game", "bilinear", "--at", str(damaged)]) == 2
    assert "not a usable checkpoint" in capsys.readouterr().err
    for path in list_checkpoints(run / "checkpoints"):
        path.write_bytes(path.read_bytes()[:-10])  # truncate every checkpoint
    with pytest.warns(UserWarning, match="damaged"):
        assert main(["diagnose", "--game", "bilinear", "--at", str(run)]) == 2
    assert "every checkpoint there is damaged" in capsys.readouterr().err
    # other game options change the players' shapes: refused with a clear message
    (tmp_path / "run2").mkdir()
    assert main(["run", "--game", "bilinear", "--solver", "simultaneous", "--steps", "10", "--eval-every", "10",
                 "--out", str(tmp_path / "run2"), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["diagnose", "--game", "bilinear", "--game-opt", "dim=3", "--at", str(tmp_path / "run2")]) == 2
    assert "has shape (4,), the game expects (3,)" in capsys.readouterr().err
