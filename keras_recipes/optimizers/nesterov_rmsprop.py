"""RMSprop with Nesterov momentum (algorithm 8 of the course notes)."""

from __future__ import annotations

from typing import Any

from keras import ops

from keras_recipes._export import keras_recipes_export
from keras_recipes.optimizers._base import SlotOptimizer
from keras_recipes.optimizers._checks import BASE_ARGS_DOC, check_beta, check_epsilon


@keras_recipes_export
class NesterovRMSprop(SlotOptimizer):
    """RMSprop + Nesterov momentum, the course notes' algorithm 8.

    Use it where RMSprop with momentum works and you want the look-ahead correction of
    Nesterov (Keras's `RMSprop` only has heavy-ball momentum).

    The notes evaluate the gradient at the interim point `theta + alpha * v`:

        g_bar = grad J(theta + alpha * v)
        r <- rho * r + (1 - rho) * g_bar**2
        v <- alpha * v - lr * g_bar / sqrt(r + epsilon)
        theta <- theta + v

    A Keras optimizer only sees the gradient at the model's variable, so, like Keras's
    `SGD(nesterov=True)`, the variable stores the interim point `phi = theta + alpha * v`
    and the update is rewritten as

        phi <- phi + alpha * v_new - lr * g_bar / sqrt(r + epsilon)

    The iterates are the same (`phi_t = theta_t + alpha * v_t`, tested against a NumPy
    version of the notes' algorithm). `epsilon` sits inside the square root as in Keras's
    `RMSprop` (the notes write `lr / sqrt(r)` without it). With `centered=True` the
    denominator is `sqrt(r - mean_g**2 + epsilon)` with `mean_g` the moving average of the
    gradient, as in Keras. `momentum=0` gives plain RMSprop.

    Args:
        learning_rate: float >= 0, a `LearningRateSchedule` or a callable.
            Defaults to 0.001.
        rho: decay of the moving average of squared gradients, in [0, 1). Defaults to 0.9.
        momentum: Nesterov momentum `alpha`, in [0, 1). Defaults to 0.9.
        epsilon: constant added under the square root, > 0. Defaults to 1e-7.
        centered: normalise by an estimate of the variance instead of the second moment.
            Defaults to False.
        {base}

    Example:

    >>> import keras, numpy as np
    >>> from keras_recipes.optimizers import NesterovRMSprop
    >>> w = keras.Variable(np.array([1.0], dtype="float32"))
    >>> opt = NesterovRMSprop(learning_rate=0.01, rho=0.0, momentum=0.5)
    >>> opt.apply([keras.ops.convert_to_tensor([2.0])], [w])
    >>> # 1 - 0.5 * 0.01 - 0.01
    >>> np.round(keras.ops.convert_to_numpy(w).astype("float64"), 4).tolist()
    [0.985]

    References:
        - Hinton, Srivastava, Swersky, "Neural Networks for Machine Learning", lecture 6e
          (RMSprop), https://www.cs.toronto.edu/~tijmen/csc321/slides/lecture_slides_lec6.pdf
        - Sutskever et al., "On the importance of initialization and momentum in deep
          learning", ICML 2013, https://proceedings.mlr.press/v28/sutskever13.html
        - Dozat, "Incorporating Nesterov Momentum into Adam", ICLR 2016 workshop,
          https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ
    """

    _config_keys = ("rho", "momentum", "epsilon", "centered")

    def __init__(
        self,
        learning_rate: Any = 0.001,
        rho: float = 0.9,
        momentum: float = 0.9,
        epsilon: float = 1e-7,
        centered: bool = False,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str = "nesterov_rmsprop",
        **kwargs: Any,
    ):
        super().__init__("NesterovRMSprop", learning_rate, locals(), kwargs)
        self.rho = check_beta("rho", rho)
        self.momentum = check_beta("momentum", momentum)
        self.epsilon = check_epsilon(epsilon)
        self.centered = bool(centered)

    def build(self, var_list):
        """Create `r`, the velocity `v` and (if centered) the mean gradient per variable."""
        if self.built:
            return
        super().build(var_list)
        self._velocities = self.add_optimizer_variables(var_list, "velocity")
        self._momentums = []
        if self.momentum > 0:
            self._momentums = self.add_optimizer_variables(var_list, "momentum")
        self._average_gradients = []
        if self.centered:
            self._average_gradients = self.add_optimizer_variables(var_list, "average_gradient")

    def update_step(self, gradient, variable, learning_rate):
        """One RMSprop + Nesterov step on `variable` (the interim point)."""
        lr, gradient, index = self._step_inputs(gradient, variable, learning_rate)
        r = self._velocities[index]
        rho = self.rho

        self.assign_add(r, ops.multiply(ops.subtract(ops.square(gradient), r), 1.0 - rho))
        if self.centered:
            mean_g = self._average_gradients[index]
            self.assign_add(mean_g, ops.multiply(ops.subtract(gradient, mean_g), 1.0 - rho))
            denominator = ops.add(ops.subtract(r, ops.square(mean_g)), self.epsilon)
        else:
            denominator = ops.add(r, self.epsilon)
        increment = ops.divide(ops.multiply(lr, gradient), ops.sqrt(denominator))
        if self.momentum > 0:
            v = self._momentums[index]
            self.assign(v, ops.subtract(ops.multiply(v, self.momentum), increment))
            self.assign_add(variable, ops.subtract(ops.multiply(v, self.momentum), increment))
        else:
            self.assign_sub(variable, increment)


NesterovRMSprop.__doc__ = NesterovRMSprop.__doc__.replace("{base}", BASE_ARGS_DOC)
