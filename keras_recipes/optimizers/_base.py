"""The base shared by the library's slot optimizers (RAdam, Yogi, NesterovRMSprop)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from keras_recipes import _keras_private
from keras_recipes.optimizers._checks import check_kwargs, check_learning_rate

# The arguments of `keras.optimizers.Optimizer.__init__` that every optimizer here takes
# and passes on unchanged (`learning_rate` is checked first, so it is not in the list).
BASE_ARGUMENTS = (
    "weight_decay",
    "clipnorm",
    "clipvalue",
    "global_clipnorm",
    "use_ema",
    "ema_momentum",
    "ema_overwrite_frequency",
    "loss_scale_factor",
    "gradient_accumulation_steps",
    "name",
)


class SlotOptimizer(keras.optimizers.Optimizer):
    """A Keras optimizer whose own hyperparameters are plain attributes.

    A subclass keeps its full public signature (the Keras base arguments included) and
    calls ``super().__init__(owner, learning_rate, locals(), kwargs)``: the unknown keyword
    arguments are refused, the learning rate is checked and the base arguments named in
    `BASE_ARGUMENTS` go to Keras. It lists its own hyperparameters in ``_config_keys``,
    which `get_config` adds to Keras's base config.
    """

    _config_keys: tuple[str, ...] = ()

    def __init__(
        self,
        owner: str,
        learning_rate: Any,
        arguments: dict[str, Any],
        kwargs: dict[str, Any],
    ):
        check_kwargs(kwargs, owner)
        super().__init__(
            learning_rate=check_learning_rate(learning_rate),
            **{key: arguments[key] for key in BASE_ARGUMENTS},
        )

    def _step_inputs(self, gradient, variable, learning_rate):
        """``(learning_rate, gradient, slot index)`` for `update_step`, in the variable's dtype."""
        dtype = variable.dtype
        return (
            ops.cast(learning_rate, dtype),
            ops.cast(gradient, dtype),
            _keras_private.variable_index(self, variable),
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({key: getattr(self, key) for key in self._config_keys})
        return config
