"""RAdam: Adam with a rectified (variance-controlled) adaptive learning rate."""

from __future__ import annotations

import math
from typing import Any

from keras import ops

from keras_recipes._export import keras_recipes_export
from keras_recipes._validation import check_positive
from keras_recipes.optimizers._base import SlotOptimizer
from keras_recipes.optimizers._checks import BASE_ARGS_DOC, check_beta, check_epsilon


def _rho_t(step, x, ell: float, rho_inf: float):
    """rho_t = rho_inf - 2 t beta**t / (1 - beta**t), without float32 cancellation.

    With ell = -log(beta) and x = t * ell, 2 t beta**t / (1 - beta**t) = (2 / ell) B(x),
    B(x) = x / (exp(x) - 1) = 1 - x/2 + x**2/12 - x**4/720 + x**6/30240 - x**8/1209600 ...
    so rho_t = K + t - (2 / ell) (x**2/12 - x**4/720 + ...) with the constant
    K = rho_inf - 2 / ell computed in float64 (the series is used for x < 1).
    """
    k = rho_inf - 2.0 / ell
    x2 = x * x
    series = x2 * (1.0 / 12.0 - x2 * (1.0 / 720.0 - x2 * (1.0 / 30240.0 - x2 / 1209600.0)))
    small = k + step - (2.0 / ell) * series
    safe_x = ops.maximum(x, 1.0)
    large = k + (2.0 / ell) * (1.0 - safe_x / ops.expm1(safe_x))
    return ops.where(x < 1.0, small, large)


@keras_recipes_export
class RAdam(SlotOptimizer):
    """Rectified Adam (Liu et al., 2020).

    Use it instead of Adam plus a hand-tuned warm-up: during the first steps the variance
    of Adam's adaptive rate is large, and RAdam takes plain momentum steps until the
    second-moment estimate is reliable, then multiplies the adaptive step by a rectifier.

    With `t` the step (from 1), `rho_inf = 2 / (1 - beta_2) - 1`:

        m <- beta_1 * m + (1 - beta_1) * g
        v <- beta_2 * v + (1 - beta_2) * g**2
        m_hat = m / (1 - beta_1**t)
        rho_t = rho_inf - 2 * t * beta_2**t / (1 - beta_2**t)
        if rho_t > rectify_threshold:
            r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
            theta <- theta - lr * r_t * m_hat * sqrt(1 - beta_2**t) / (sqrt(v) + epsilon)
        else:
            theta <- theta - lr * m_hat

    `epsilon` is added to the uncorrected `sqrt(v)` as in PyTorch's `RAdam`. The paper
    uses the threshold 4; PyTorch and tensorflow-addons use 5, the default here. The
    branch is a `keras.ops.where` on scalars, so the update compiles to one graph.

    Args:
        learning_rate: float >= 0, a `LearningRateSchedule` or a callable.
            Defaults to 0.001.
        beta_1: decay of the first moment, in [0, 1). Defaults to 0.9.
        beta_2: decay of the second moment, in [0, 1). Defaults to 0.999.
        epsilon: constant added to `sqrt(v)`, > 0. Defaults to 1e-7.
        rectify_threshold: `rho_t` above which the adaptive step is used, > 0.
            Defaults to 5.0.
        {base}

    Example:

    >>> import keras, numpy as np
    >>> from keras_recipes.optimizers import RAdam
    >>> w = keras.Variable(np.array([1.0], dtype="float32"))
    >>> opt = RAdam(learning_rate=0.1)
    >>> opt.apply([keras.ops.convert_to_tensor([3.0])], [w])  # first step: SGD + momentum
    >>> np.round(keras.ops.convert_to_numpy(w).astype("float64"), 4).tolist()
    [0.7]

    References:
        - Liu et al., "On the Variance of the Adaptive Learning Rate and Beyond",
          ICLR 2020, https://arxiv.org/abs/1908.03265
    """

    _config_keys = ("beta_1", "beta_2", "epsilon", "rectify_threshold")

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        rectify_threshold: float = 5.0,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str = "radam",
        **kwargs: Any,
    ):
        super().__init__("RAdam", learning_rate, locals(), kwargs)
        self.beta_1 = check_beta("beta_1", beta_1)
        self.beta_2 = check_beta("beta_2", beta_2)
        self.epsilon = check_epsilon(epsilon)
        self.rectify_threshold = float(check_positive("rectify_threshold", rectify_threshold))

    def build(self, var_list):
        """Create the moments `m` and `v` for each variable."""
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(
            var_list, ["momentum", "velocity"]
        )

    def update_step(self, gradient, variable, learning_rate):
        """One RAdam step on `variable`."""
        dtype = variable.dtype
        lr, gradient, index = self._step_inputs(gradient, variable, learning_rate)
        m = self._momentums[index]
        v = self._velocities[index]

        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1.0 - self.beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1.0 - self.beta_2))

        step = ops.cast(self.iterations + 1, dtype)
        # 1 - beta**t as -expm1(t * log(beta)): no cancellation in float32 for small t.
        one_minus_b1t = -ops.expm1(step * math.log(self.beta_1)) if self.beta_1 > 0 else 1.0
        momentum_lr = lr / one_minus_b1t

        rho_inf = 2.0 / (1.0 - self.beta_2) - 1.0
        if rho_inf <= self.rectify_threshold or rho_inf <= 4.0:
            # The variance of the adaptive rate never becomes tractable: momentum only.
            self.assign_sub(variable, ops.multiply(m, momentum_lr))
            return
        ell = -math.log(self.beta_2)
        x = step * ell
        one_minus_b2t = -ops.expm1(-x)
        rho_t = _rho_t(step, x, ell, rho_inf)
        rectified = rho_t > self.rectify_threshold
        safe_rho_t = ops.maximum(rho_t, 4.0 + 1e-3)
        rectifier = ops.sqrt(
            (safe_rho_t - 4.0) * (safe_rho_t - 2.0) * rho_inf
            / ((rho_inf - 4.0) * (rho_inf - 2.0) * safe_rho_t)
        )
        adaptive_lr = momentum_lr * rectifier * ops.sqrt(one_minus_b2t)
        # Scalars only: a where on the coefficients keeps a single element-wise update.
        coef_adaptive = ops.where(rectified, adaptive_lr, ops.zeros_like(adaptive_lr))
        coef_momentum = ops.where(rectified, ops.zeros_like(momentum_lr), momentum_lr)
        denominator = ops.add(ops.sqrt(v), self.epsilon)
        self.assign_sub(
            variable,
            ops.multiply(m, ops.add(ops.divide(coef_adaptive, denominator), coef_momentum)),
        )


RAdam.__doc__ = RAdam.__doc__.replace("{base}", BASE_ARGS_DOC)
