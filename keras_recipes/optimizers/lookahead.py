"""Lookahead: slow weights that follow any Keras optimizer's fast weights."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from keras_recipes._export import keras_recipes_export
from keras_recipes._validation import check_number

_BASE_ARGS = (
    "weight_decay",
    "clipnorm",
    "clipvalue",
    "global_clipnorm",
    "use_ema",
    "ema_momentum",
    "ema_overwrite_frequency",
    "loss_scale_factor",
    "gradient_accumulation_steps",
)
_BASE_DEFAULTS = {"use_ema": False, "ema_momentum": 0.99}


@keras_recipes_export
class Lookahead(keras.optimizers.Optimizer):
    """Lookahead (Zhang et al., 2019) around any Keras optimizer.

    Use it to make an optimizer less sensitive to its learning rate and to reduce the
    variance of late training: the inner ("fast") optimizer takes `sync_period` steps,
    then the slow weights move a fraction `slow_step_size` towards the fast weights and
    the fast weights restart from there.

    Every `k = sync_period` inner steps (at iterations k, 2k, ...):

        phi <- phi + alpha * (theta - phi)      (slow weights, alpha = slow_step_size)
        theta <- phi                            (fast weights = the model's variables)

    The slow weights start as a copy of the variables at the first step. The inner
    optimizer keeps its own state, iteration counter and learning rate (`learning_rate`
    and `iterations` of the wrapper are the inner ones, so schedules and callbacks such as
    `ReduceLROnPlateau` act on the inner optimizer). The base Keras arguments (clipnorm,
    weight_decay, use_ema, ...) belong to the inner optimizer: pass them there.
    `get_config` serializes the inner optimizer, so a model compiled with `Lookahead`
    saves to `.keras` and reloads with all state (inner slots and slow weights).

    Args:
        optimizer: the inner `keras.optimizers.Optimizer` (a Keras built-in or one of this
            library's), or its serialized config.
        sync_period: number of inner steps `k` between synchronisations, integer >= 1.
            Defaults to 6.
        slow_step_size: `alpha`, in [0, 1]. Defaults to 0.5.
        name: name of the wrapper. Defaults to "lookahead".

    Example:

    >>> import keras, numpy as np
    >>> from keras_recipes.optimizers import Lookahead
    >>> w = keras.Variable(np.array([0.0], dtype="float32"))
    >>> opt = Lookahead(keras.optimizers.SGD(1.0), sync_period=2, slow_step_size=0.5)
    >>> for _ in range(2):
    ...     opt.apply([keras.ops.convert_to_tensor([-1.0])], [w])
    >>> keras.ops.convert_to_numpy(w).tolist()  # fast weights reached 2, slow go half-way
    [1.0]

    References:
        - Zhang, Lucas, Hinton, Ba, "Lookahead Optimizer: k steps forward, 1 step back",
          NeurIPS 2019, https://arxiv.org/abs/1907.08610
    """

    def __init__(
        self,
        optimizer: keras.optimizers.Optimizer | dict | str,
        sync_period: int = 6,
        slow_step_size: float = 0.5,
        name: str = "lookahead",
        **kwargs: Any,
    ):
        for key in _BASE_ARGS:
            if key in kwargs:
                value = kwargs.pop(key)
                if value is not None and value != _BASE_DEFAULTS.get(key):
                    raise ValueError(
                        f"Argument `{key}` must be set on the inner optimizer, not on "
                        f"Lookahead. Received: {key}={value}"
                    )
        kwargs.pop("learning_rate", None)
        if kwargs:
            raise ValueError(
                f"Unknown keyword argument(s) for Lookahead: {sorted(kwargs)}. "
                "Allowed: ['name', 'optimizer', 'slow_step_size', 'sync_period']."
            )
        if isinstance(optimizer, (dict, str)):
            optimizer = keras.optimizers.get(optimizer)
        if not isinstance(optimizer, keras.optimizers.Optimizer):
            raise ValueError(
                "Argument `optimizer` must be a keras.optimizers.Optimizer instance. "
                f"Received: optimizer={optimizer!r}"
            )
        check_number("sync_period", sync_period, low=1, integer=True)
        check_number("slow_step_size", slow_step_size, low=0, high=1)
        super().__init__(learning_rate=0.0, name=name)
        self.inner_optimizer = optimizer
        self.sync_period = int(sync_period)
        self.slow_step_size = float(slow_step_size)

    def build(self, var_list):
        """Build the inner optimizer and one slow copy per variable."""
        if self.built:
            return
        self.inner_optimizer.build(var_list)
        super().build(var_list)
        self._slow_variables = self.add_optimizer_variables(var_list, "slow")

    @property
    def variables(self):
        """The wrapper's variables followed by the inner optimizer's."""
        return self._variables[:] + self.inner_optimizer.variables

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        self.inner_optimizer.learning_rate = learning_rate

    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    def apply(self, grads, trainable_variables=None):
        """Apply one inner step, then synchronise the slow weights every `sync_period`."""
        if trainable_variables is not None:
            trainable_variables = list(trainable_variables)
            if not self.built:
                self.build(trainable_variables)
        elif not self.built:
            raise ValueError(
                "Lookahead must be built before `apply` is called without variables. "
                "Call `optimizer.build(trainable_variables)` first."
            )
        variables = trainable_variables or self._trainable_variables
        first = ops.equal(self.inner_optimizer.iterations, 0)
        for variable in variables:
            slow = self._slow_variables[self._get_variable_index(variable)]
            slow.assign(ops.where(first, ops.cast(variable.value, slow.dtype), slow.value))

        self.inner_optimizer.apply(grads, trainable_variables)

        sync = ops.equal(ops.mod(self.inner_optimizer.iterations, self.sync_period), 0)
        for variable in variables:
            slow = self._slow_variables[self._get_variable_index(variable)]
            old_slow = slow.value
            fast = ops.cast(variable.value, slow.dtype)
            step = ops.multiply(ops.subtract(fast, old_slow), self.slow_step_size)
            moved = ops.add(old_slow, step)
            new_slow = ops.where(sync, moved, old_slow)
            slow.assign(new_slow)
            variable.assign(ops.where(sync, ops.cast(new_slow, variable.dtype), variable.value))

    def update_step(self, gradient, variable, learning_rate):
        """Not used: `apply` delegates the step to the inner optimizer."""
        self.inner_optimizer.update_step(gradient, variable, learning_rate)

    def finalize_variable_values(self, var_list):
        """Let the inner optimizer write its EMA values, if it keeps any."""
        self.inner_optimizer.finalize_variable_values(var_list)

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "optimizer": keras.saving.serialize_keras_object(self.inner_optimizer),
            "sync_period": self.sync_period,
            "slow_step_size": self.slow_step_size,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        inner = keras.saving.deserialize_keras_object(
            config.pop("optimizer"), custom_objects=custom_objects
        )
        return cls(inner, **config)
