"""Layers of the course notes' basic structure, and activations missing from Keras."""

from keras_recipes.layers.conv_block import ConvBlock
from keras_recipes.layers.dense_block import DenseBlock
from keras_recipes.layers.glu import GLU, GeGLU, SwiGLU
from keras_recipes.layers.min_max_normalization import MinMaxNormalization
from keras_recipes.layers.residual_block import ResidualBlock
from keras_recipes.layers.swish import Swish

__all__ = ["GLU", "ConvBlock", "DenseBlock", "GeGLU", "MinMaxNormalization", "ResidualBlock",
           "SwiGLU", "Swish"]
