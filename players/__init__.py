"""Players: named holders of parameters.

A player is a :class:`torch.nn.Module`. Its parameters travel as a plain dict
``{name: Tensor}`` so that every loss is a pure function of the joint parameters through
:func:`torch.func.functional_call`.
"""
from players.base import Params, Player, init_params, num_parameters
from players.image import ColumnLSTMGenerator, ConvDiscriminator
from players.mixed import MixedStrategy
from players.mlp import MLP

__all__ = ["Params", "Player", "init_params", "num_parameters", "MixedStrategy", "MLP", "ColumnLSTMGenerator", "ConvDiscriminator"]
