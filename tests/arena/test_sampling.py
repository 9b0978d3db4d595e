"""`diffgames sample` and `diffgames export`: samples of a run's trained generator, a player
exported for plain PyTorch, and one-line errors with exit code 2."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import games
from arena.runs.checkpoint import _read
from arena.cli.main import main
from arena.runs.config import RunConfig
from arena.runs.loop import train
from arena.reports.sampling import load_params, load_run

MOG = {"latent_size": 4, "hidden": 8, "batch_size": 32, "eval_samples": 200}
MNIST = {"latent_size": 8, "hidden": 8, "disc_channels": 2, "batch_size": 4, "max_images": 64, "eval_samples": 20,
         "classifier": {"channels": 2, "hidden": 8, "epochs": 1, "max_train": 64}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Short runs: mog (checkpoints at 0, 10, 20), mnist-rnn-cnn (0, 1, 2) and rps."""
    root = tmp_path_factory.mktemp("runs")
    train(RunConfig(game="mog", solver="simultaneous", out=str(root / "mog"), game_options=MOG,
                    steps=20, eval_every=10), quiet=True)
    train(RunConfig(game="mnist-rnn-cnn", solver="simultaneous", out=str(root / "mnist"),
                    game_options={**MNIST, "cache_dir": str(root / "classifiers")}, steps=2, eval_every=1), quiet=True)
    train(RunConfig(game="rps", solver="simultaneous", out=str(root / "rps"), steps=2, eval_every=1), quiet=True)
    return root


def _params_at(run_dir: Path, step: int):
    return _read(run_dir / "checkpoints" / f"checkpoint-{step:09d}.pt", "cpu")["params"]


def test_sample_writes_n_samples_and_a_scatter(runs, capsys):
    run = runs / "mog"
    assert main(["sample", str(run), "-n", "300", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    samples = np.load(run / "samples-20.npy")
    assert samples.shape == (300, 2) and samples.dtype == np.float32 and np.isfinite(samples).all()
    png = run / "samples-20.png"
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 5000
    assert "from step 20" in out and "samples/s" in out
    # the samples are G(z) of the final checkpoint's generator, z ~ N(0, I) from the seed
    game = games.make("mog", **MOG)
    z = torch.randn(300, 4, generator=torch.Generator().manual_seed(1))
    expected = game.call("generator", _params_at(run, 20), z)
    np.testing.assert_allclose(samples, expected.detach().numpy(), rtol=1e-6, atol=1e-6)


def test_same_seed_same_samples_step_picks_an_earlier_checkpoint(runs, tmp_path):
    run = str(runs / "mog")
    for name, extra in (("a", []), ("b", []), ("other-seed", ["--seed", "8"]), ("step10", ["--step", "10"])):
        assert main(["sample", run, "-n", "50", "--seed", "7", *extra, "--out", str(tmp_path / f"{name}.npy")]) == 0
    a, b, other, early = (np.load(tmp_path / f"{n}.npy") for n in ("a", "b", "other-seed", "step10"))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, other)
    assert not np.allclose(a, early)
    game = games.make("mog", **MOG)
    expected = game.generator_samples(_params_at(runs / "mog", 10), 50, torch.Generator().manual_seed(7), "cpu")
    np.testing.assert_array_equal(early, expected.numpy())


def test_pt_output_holds_the_same_samples_as_npy(runs, tmp_path):
    run = str(runs / "mog")
    assert main(["sample", run, "-n", "40", "--out", str(tmp_path / "s.pt")]) == 0
    assert main(["sample", run, "-n", "40", "--out", str(tmp_path / "s.npy")]) == 0
    tensor = torch.load(tmp_path / "s.pt")
    assert isinstance(tensor, torch.Tensor) and tensor.shape == (40, 2) and tensor.device.type == "cpu"
    np.testing.assert_array_equal(tensor.numpy(), np.load(tmp_path / "s.npy"))
    assert (tmp_path / "s.png").exists()


@pytest.mark.parametrize("name, options", [("mog", MOG), ("mnist-rnn-cnn", MNIST)])
def test_generator_samples_draw_the_noise_of_the_games_own_generate(name, options):
    """The GAN base's ``generator_samples`` draws what each bundled GAN's own ``generate``
    (its evaluation samples) draws: N(0, I) noise of the game's latent size."""
    game = games.make(name, **options)
    params = game.init_params(3)
    ours = game.generator_samples(params, 24, torch.Generator().manual_seed(4), "cpu")
    theirs = game.generate(params, 24, torch.Generator().manual_seed(4))
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    assert not ours.requires_grad
    # in chunks: n > chunk gives n samples, the first chunk's the same as a draw of chunk rows
    chunked = game.generator_samples(params, 10, torch.Generator().manual_seed(4), "cpu", chunk=4)
    assert chunked.shape[0] == 10
    torch.testing.assert_close(chunked[:4], game.generator_samples(params, 4, torch.Generator().manual_seed(4), "cpu"))


def test_sample_of_an_image_game_writes_images_and_a_grid(runs, capsys):
    run = runs / "mnist"
    assert main(["sample", str(run), "-n", "12", "--out", str(run / "digits.pt")]) == 0
    images = torch.load(run / "digits.pt")
    assert images.shape == (12, 1, 28, 28)
    assert images.min() >= -1 and images.max() <= 1
    assert (run / "digits.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["sample", str(run), "-n", "12", "--step", "1", "--out", str(run / "early.pt")]) == 0
    assert not torch.equal(torch.load(run / "early.pt"), images)


def _export(run: Path, out: Path, capsys, *extra: str) -> str:
    assert main(["export", str(run), "--out", str(out), *extra]) == 0
    return capsys.readouterr().out


@pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
def test_exported_generator_loads_without_diffgames(runs, tmp_path, capsys, monkeypatch):
    """A ``.pt2`` program and the TorchScript fallback both load in an interpreter that
    cannot import the toolkit, and give the outputs of ``generator_samples`` for the same noise."""
    run = runs / "mog"
    text = _export(run, tmp_path / "g.pt2", capsys)
    assert "torch.export" in text and "torch.export.load(" in text and (tmp_path / "g.pt2").is_file()

    def broken(*args, **kwargs):
        raise RuntimeError("export is unavailable here")

    monkeypatch.setattr(torch.export, "export", broken)
    text = _export(run, tmp_path / "fallback.pt2", capsys)
    monkeypatch.undo()
    assert "torch.export failed" in text and "TorchScript" in text and "torch.jit.load(" in text
    assert (tmp_path / "fallback.pt").is_file() and not (tmp_path / "fallback.pt2").exists()

    n = 37  # not the example batch's size: both files take any batch size
    z = torch.randn(n, MOG["latent_size"], generator=torch.Generator().manual_seed(11))
    torch.save(z, tmp_path / "z.pt")
    # -S: the toolkit's editable install puts it on sys.path through a .pth file of
    # site-packages; only torch's own directory is added, so the toolkit is not importable
    site = str(Path(torch.__file__).resolve().parent.parent)
    code = textwrap.dedent(f"""
        import sys
        sys.path.append({site!r})
        for name in ("games", "diffgames", "arena", "players"):
            try:
                __import__(name)
            except ImportError:
                pass
            else:
                raise SystemExit(f"{{name}} is importable: the check would prove nothing")
        import torch
        z = torch.load("z.pt")
        with torch.no_grad():
            program = torch.export.load("g.pt2").module()(z)
            script = torch.jit.load("fallback.pt")(z)
        torch.save({{"program": program, "script": script}}, "out.pt")
    """)
    done = subprocess.run([sys.executable, "-I", "-S", "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr + done.stdout
    got = torch.load(tmp_path / "out.pt")
    game = games.make("mog", **MOG)
    _, params, _ = load_params(run, game)
    expected = game.generator_samples(params, n, torch.Generator().manual_seed(11), "cpu")
    torch.testing.assert_close(got["program"], expected)
    torch.testing.assert_close(got["script"], expected)


@pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
def test_exported_lstm_generator_and_discriminator(runs, tmp_path, capsys):
    run = runs / "mnist"
    text = _export(run, tmp_path / "g.pt2", capsys)
    assert "as a torch.export program; input (batch, 8) float32" in text
    _, game = load_run(run)
    _, params, _ = load_params(run, game)
    z = torch.randn(5, 8, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        got = torch.export.load(tmp_path / "g.pt2").module()(z)
    torch.testing.assert_close(got, game.generator_samples(params, 5, torch.Generator().manual_seed(2), "cpu"))
    text = _export(run, tmp_path / "d.pt", capsys, "--player", "discriminator", "--step", "1")
    assert "input (batch, 1, 28, 28) float32" in text and "step 1" in text
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    with torch.no_grad():
        expected = game.call("discriminator", _params_at(run, 1), x)
        torch.testing.assert_close(torch.jit.load(str(tmp_path / "d.pt"))(x), expected)


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["sample", "{rps}", "-n", "5"], "game 'rps' has no generator to sample from"),
        (["sample", "{mog}", "-n", "5", "--step", "15"], "no checkpoint or snapshot at step 15; available steps: 0, 10, 20"),
        (["sample", "{mog}", "-n", "5", "--out", "samples.csv"], "must end in .npy or .pt, not '.csv'"),
        (["sample", "{mog}", "-n", "0"], "-n must be a positive number"),
        (["sample", "{missing}", "-n", "5"], "no such run directory"),
        (["export", "{mog}", "--out", "g.onnx"], "must end in .pt2 or .pt"),
        (["export", "{mog}", "--step", "3"], "available steps: 0, 10, 20"),
        (["export", "{mog}", "--player", "critic"], "has no player 'critic'; its players are generator, discriminator"),
        (["export", "{rps}", "--player", "row"], "export does not know what input game 'rps' feeds player 'row'"),
    ],
)
def test_errors_are_one_line_with_exit_code_2(runs, tmp_path, capsys, argv, fragment):
    paths = {"rps": runs / "rps", "mog": runs / "mog", "missing": tmp_path / "nothing-here"}
    argv = [a.format(**paths) if a.startswith("{") else str(tmp_path / a) if a.endswith((".csv", ".onnx")) else a
            for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err, err
    assert err.count("\n") == 1 and err.startswith("diffgames: error:"), err
