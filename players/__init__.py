"""Players: named holders of parameters.

A player is a :class:`torch.nn.Module`. Its parameters travel as a plain dict
``{name: Tensor}`` so that every loss is a pure function of the joint parameters through
:func:`torch.func.functional_call`.

* :mod:`players.base` — the Player contract, parameter dicts and their initialisation;
* :mod:`players.mixed` — :class:`MixedStrategy`, a softmax over a finite action set;
* :mod:`players.vector` — :class:`Vector`, one plain parameter vector;
* :mod:`players.mlp` — :class:`MLP`, a multilayer perceptron;
* :mod:`players.image` — the LSTM generator and the CNN discriminator of image GANs.
* :mod:`players.dcgan` — DCGAN-style convolutional generator and discriminator (batch-statistics batch norm).

``players`` may import only the base layer :mod:`diffgames` (errors), never the games,
solvers, analysis or arena built on top of it.
"""
from players.base import Params, Player, init_params, num_parameters
from players.dcgan import DCGANDiscriminator, DCGANGenerator
from players.image import ColumnLSTMGenerator, ConvDiscriminator
from players.mixed import MixedStrategy
from players.mlp import MLP
from players.vector import Vector

__all__ = ["Params", "Player", "init_params", "num_parameters", "MixedStrategy", "Vector", "MLP", "ColumnLSTMGenerator", "ConvDiscriminator", "DCGANGenerator", "DCGANDiscriminator"]
