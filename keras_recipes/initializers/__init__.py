"""Weight initializers of the course notes, and LSUV.

``GlorotUniform`` and ``HeUniform`` are Keras's own classes, re-exported (see
:mod:`keras_recipes.initializers.keras_initializers`).
"""

from keras_recipes.initializers.centered_uniform import CenteredUniform
from keras_recipes.initializers.glorot_normal import GlorotNormal
from keras_recipes.initializers.he_normal import HeNormal
from keras_recipes.initializers.kaiming_bias import KaimingBias
from keras_recipes.initializers.keras_initializers import GlorotUniform, HeUniform
from keras_recipes.initializers.lsuv import lsuv
from keras_recipes.initializers.small_normal import SmallNormal
from keras_recipes.initializers.torch_default import TorchDefault
from keras_recipes.initializers.unit_uniform import UnitUniform

__all__ = [
    "CenteredUniform",
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "KaimingBias",
    "SmallNormal",
    "TorchDefault",
    "UnitUniform",
    "lsuv",
]
