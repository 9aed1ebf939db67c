"""TorchDefault initializer."""

from __future__ import annotations

from keras_recipes._export import keras_recipes_export
from keras_recipes.initializers._preset import _Preset


@keras_recipes_export
class TorchDefault(_Preset):
    """PyTorch's default for `nn.Linear`/`nn.ConvNd` weights: `U(-a, a)`, `a = 1 / sqrt(n_i)`.

    Use it to reproduce a PyTorch model's initialisation in Keras. PyTorch gets this bound
    from `kaiming_uniform_(a=sqrt(5))`: `sqrt(6 / ((1 + 5) n_i)) = 1 / sqrt(n_i)`. PyTorch
    draws biases from the same interval; Keras layers keep their own bias initializer.

    Args:
        seed: integer seed or None. Defaults to None.

    Example:

    >>> import keras
    >>> from keras_recipes.initializers import TorchDefault
    >>> w = TorchDefault(seed=0)((100, 10))
    >>> bool(float(abs(keras.ops.convert_to_numpy(w)).max()) <= 0.1)
    True

    References:
        - PyTorch `nn.Linear.reset_parameters`,
          https://github.com/pytorch/pytorch/blob/main/torch/nn/modules/linear.py
    """

    _scale, _mode, _distribution = 1.0 / 3.0, "fan_in", "uniform"
