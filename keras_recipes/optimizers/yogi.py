"""Yogi: Adam with an additive, sign-controlled second-moment update."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from keras_recipes._export import keras_recipes_export
from keras_recipes._validation import check_non_negative
from keras_recipes.optimizers._base import SlotOptimizer
from keras_recipes.optimizers._checks import BASE_ARGS_DOC, check_beta, check_epsilon


@keras_recipes_export
class Yogi(SlotOptimizer):
    """Yogi optimizer (Zaheer et al., 2018), as written in the course notes.

    Use it where Adam's effective learning rate grows too fast: when the previous
    second moment is much larger than the current squared gradient, Adam's multiplicative
    decay of `r` shrinks it quickly and the step explodes; Yogi moves `r` by at most
    `(1 - beta_2) * g**2` per step.

    Update, with `t` the step number (starting at 1):

        s_t = beta_1 * s_{t-1} + (1 - beta_1) * g
        r_t = r_{t-1} - (1 - beta_2) * sign(r_{t-1} - g**2) * g**2
        s_hat = s_t / (1 - beta_1**t)          (bias correction, the default)
        r_hat = r_t / (1 - beta_2**t)
        theta <- theta - lr * s_hat / (sqrt(r_hat) + epsilon)

    `r_0 = initial_accumulator_value`, `s_0 = 0`. With `bias_correction=False` the update
    is `theta <- theta - lr * s_t / (sqrt(r_t) + epsilon)`, which is the algorithm of the
    paper and of `optax.yogi`. tensorflow-addons' `Yogi` bias-corrected with Keras's
    "epsilon hat" convention (`epsilon` added to the uncorrected `sqrt(r_t)`); here epsilon
    is added to `sqrt(r_hat)` as in the course notes.

    Args:
        learning_rate: float >= 0, a `LearningRateSchedule` or a callable.
            Defaults to 0.01.
        beta_1: decay of the first moment, in [0, 1). Defaults to 0.9.
        beta_2: decay of the second moment, in [0, 1). Defaults to 0.999.
        epsilon: constant added to `sqrt(r_hat)`, > 0. Defaults to 1e-3.
        initial_accumulator_value: starting value of `r`, >= 0. Defaults to 1e-6.
        bias_correction: divide the moments by `1 - beta**t`. Defaults to True.
        {base}

    Example:

    >>> import keras, numpy as np
    >>> from keras_recipes.optimizers import Yogi
    >>> w = keras.Variable(np.array([1.0, -2.0], dtype="float32"))
    >>> opt = Yogi(learning_rate=0.1)
    >>> opt.apply([keras.ops.convert_to_tensor([0.5, -0.5])], [w])
    >>> np.round(keras.ops.convert_to_numpy(w).astype("float64"), 3).tolist()
    [0.9, -1.9]

    References:
        - Zaheer et al., "Adaptive Methods for Nonconvex Optimization", NeurIPS 2018,
          https://papers.nips.cc/paper/8186-adaptive-methods-for-nonconvex-optimization
    """

    _config_keys = ("beta_1", "beta_2", "epsilon", "initial_accumulator_value", "bias_correction")

    def __init__(
        self,
        learning_rate: Any = 0.01,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-3,
        initial_accumulator_value: float = 1e-6,
        bias_correction: bool = True,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str = "yogi",
        **kwargs: Any,
    ):
        super().__init__("Yogi", learning_rate, locals(), kwargs)
        self.beta_1 = check_beta("beta_1", beta_1)
        self.beta_2 = check_beta("beta_2", beta_2)
        self.epsilon = check_epsilon(epsilon)
        self.initial_accumulator_value = float(
            check_non_negative("initial_accumulator_value", initial_accumulator_value)
        )
        self.bias_correction = bool(bias_correction)

    def build(self, var_list):
        """Create the first moment `s` and the second moment `r` for each variable."""
        if self.built:
            return
        super().build(var_list)
        self._momentums = self.add_optimizer_variables(var_list, "momentum")
        self._velocities = self.add_optimizer_variables(
            var_list,
            "velocity",
            initializer=keras.initializers.Constant(self.initial_accumulator_value),
        )

    def update_step(self, gradient, variable, learning_rate):
        """One Yogi step on `variable`."""
        dtype = variable.dtype
        lr, gradient, index = self._step_inputs(gradient, variable, learning_rate)
        m = self._momentums[index]
        v = self._velocities[index]

        g2 = ops.square(gradient)
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1.0 - self.beta_1))
        self.assign_sub(
            v, ops.multiply(ops.sign(ops.subtract(v, g2)), ops.multiply(g2, 1.0 - self.beta_2))
        )
        if self.bias_correction:
            step = ops.cast(self.iterations + 1, dtype)
            c1 = 1.0 - ops.power(ops.cast(self.beta_1, dtype), step)
            c2 = ops.sqrt(1.0 - ops.power(ops.cast(self.beta_2, dtype), step))
            # lr * (m / c1) / (sqrt(v) / c2 + eps) == (lr * c2 / c1) * m / (sqrt(v) + eps * c2)
            alpha = lr * c2 / c1
            denominator = ops.add(ops.sqrt(v), self.epsilon * c2)
        else:
            alpha = lr
            denominator = ops.add(ops.sqrt(v), self.epsilon)
        self.assign_sub(variable, ops.divide(ops.multiply(m, alpha), denominator))


Yogi.__doc__ = Yogi.__doc__.replace("{base}", BASE_ARGS_DOC)
