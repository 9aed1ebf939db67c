"""Weight initializers of the course notes, and LSUV."""

from keras_recipes.initializers.glorot_normal import GlorotNormal
from keras_recipes.initializers.glorot_uniform import GlorotUniform
from keras_recipes.initializers.he_normal import HeNormal
from keras_recipes.initializers.he_uniform import HeUniform
from keras_recipes.initializers.lsuv import lsuv
from keras_recipes.initializers.torch_default import TorchDefault

__all__ = ["GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform", "TorchDefault", "lsuv"]
