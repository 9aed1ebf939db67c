"""The notes' Glorot and He *uniform* initialisers are Keras's own classes.

``keras_recipes.initializers.GlorotUniform`` is ``keras.initializers.GlorotUniform`` and
``keras_recipes.initializers.HeUniform`` is ``keras.initializers.HeUniform``: same formula,
same defaults, so a model that uses them saves under Keras's names and reloads without
keras_recipes.

- Glorot/Xavier uniform (sigmoid, tanh): ``w ~ U(-a, a)``, ``a = sqrt(6 / (n_i + n_o))``.
- He/Kaiming uniform (ReLU): ``w ~ U(-a, a)``, ``a = sqrt(6 / n_i)``.

Fans: a Dense kernel ``(n_i, n_o)``; a ConvND kernel ``(k1, ..., kN, C_in, C_out)`` gives
``n_i = k1...kN * C_in`` and ``n_o = k1...kN * C_out`` (seed 002's ``k**2 * d``, with d the
number of filters, is a slip: the fan-in uses the input channels).

The *normal* variants differ from Keras's (the notes sample a plain normal, Keras a
truncated one) and stay this library's own: :class:`~keras_recipes.initializers.GlorotNormal`,
:class:`~keras_recipes.initializers.HeNormal`.

Models saved by earlier versions of keras_recipes name these two initialisers
``"keras_recipes>GlorotUniform"`` and ``"keras_recipes>HeUniform"``; importing this module
maps those names to Keras's classes in Keras's registry of custom objects, so such files
still load (the mapping is one-way: Keras's classes keep saving under their own names).

Example:

>>> import keras
>>> from keras_recipes.initializers import GlorotUniform
>>> GlorotUniform is keras.initializers.GlorotUniform
True
>>> w = keras.ops.convert_to_numpy(GlorotUniform(seed=0)((300, 100)))
>>> bool(abs(float(w.max()) - (6 / 400) ** 0.5) < 1e-3)
True

References:
    - Glorot & Bengio, "Understanding the difficulty of training deep feedforward neural
      networks", AISTATS 2010, https://proceedings.mlr.press/v9/glorot10a.html
    - He et al., "Delving Deep into Rectifiers", ICCV 2015, https://arxiv.org/abs/1502.01852
"""

from __future__ import annotations

import keras

from keras_recipes._export import PACKAGE

GlorotUniform = keras.initializers.GlorotUniform
HeUniform = keras.initializers.HeUniform

#: Names under which earlier versions registered their own copies of Keras's classes.
FORMER_NAMES = {
    f"{PACKAGE}>GlorotUniform": GlorotUniform,
    f"{PACKAGE}>HeUniform": HeUniform,
}

# Forward lookup only (name -> class), so that Keras's classes keep their own names when
# saved: `keras.saving.register_keras_serializable` would rename them.
keras.saving.get_custom_objects().update(FORMER_NAMES)
