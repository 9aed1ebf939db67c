"""Lookahead: slow weights that follow any Keras optimizer's fast weights."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from keras_recipes import _keras_private
from keras_recipes._export import keras_recipes_export
from keras_recipes._validation import (
    check_number,
    check_positive,
    fail,
    reject_unknown_kwargs,
)
from keras_recipes.optimizers._base import BASE_ARGUMENTS

# Base arguments that would act twice (or, for `use_ema`, race at finalisation) when set on
# both the wrapper and the inner optimizer.
_EXCLUSIVE_ARGS = (
    "weight_decay",
    "clipnorm",
    "clipvalue",
    "global_clipnorm",
    "use_ema",
    "loss_scale_factor",
    "gradient_accumulation_steps",
)

_PARAMETERS = ("inner", "sync_period", "slow_step_size", *_EXCLUSIVE_ARGS, "ema_momentum",
               "ema_overwrite_frequency", "name")


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
    `ReduceLROnPlateau` act on the inner optimizer).

    The base Keras arguments of `Lookahead` act as on any Keras optimizer, around the
    whole Lookahead step. One call to `apply(grads)` does, in this order:

    1. `g <- g / loss_scale_factor` (and `scale_loss` multiplies by the wrapper's factor,
       then by the inner optimizer's, so a factor set on either side is undone exactly);
    2. with `gradient_accumulation_steps = s`: add `g` to an accumulator; only every s-th
       call goes on, with the mean `g = (g_1 + ... + g_s) / s`, and the other calls leave
       the weights, the slow weights and the inner optimizer untouched (so its counter,
       schedule and the sync period count accumulated steps);
    3. clipping of `g` by `clipnorm` (each tensor), `global_clipnorm` or `clipvalue`;
    4. decoupled weight decay of the fast weights, `theta <- theta - wd * lr * theta`, with
       `lr` the inner optimizer's current learning rate (what AdamW does), honouring
       `exclude_from_weight_decay`;
    5. one step of the inner optimizer on `g` (its own clipping, weight decay, EMA, ...
       apply inside it), then the synchronisation above;
    6. with `use_ema`: `avg <- m * avg + (1 - m) * theta` on the model weights after the
       synchronisation (`avg <- theta` at the first step), written into the model every
       `ema_overwrite_frequency` steps and by `finalize_variable_values` (which
       `model.fit` calls at the end of training).

    Setting the same one of `weight_decay`, `clipnorm`, `clipvalue`, `global_clipnorm`,
    `use_ema`, `loss_scale_factor` or `gradient_accumulation_steps` on both `Lookahead`
    and its inner optimizer raises a `ValueError`: it would act twice (or, for two EMAs,
    leave it unclear which average the model ends with). Note that `keras.optimizers.AdamW`
    has `weight_decay=0.004` by default. Different arguments compose, e.g.
    `Lookahead(SGD(clipvalue=1.0), global_clipnorm=5.0)` clips globally, then by value.

    `get_config` serializes the inner optimizer, so a model compiled with `Lookahead`
    saves to `.keras` and reloads with all state (inner slots, slow weights, EMA and
    gradient accumulators) and resumes training identically.

    Args:
        inner: the inner `keras.optimizers.Optimizer` (a Keras built-in or one of this
            library's), or its serialized config.
        sync_period: number of inner steps `k` between synchronisations, integer >= 1.
            Defaults to 6.
        slow_step_size: `alpha`, in [0, 1]. Defaults to 0.5.
        weight_decay: decoupled weight decay `wd >= 0` of the fast weights, scaled by the
            inner learning rate, or None for none. Defaults to None.
        clipnorm: clip each gradient tensor to this L2 norm (> 0), or None. Defaults to None.
        clipvalue: clip each gradient element to [-clipvalue, clipvalue] (> 0), or None.
            Defaults to None.
        global_clipnorm: clip all gradients together to this global L2 norm (> 0), or None.
            At most one of the three clipping arguments may be set. Defaults to None.
        use_ema: keep an exponential moving average of the model weights. Defaults to False.
        ema_momentum: `m` of the moving average, in [0, 1]. Defaults to 0.99.
        ema_overwrite_frequency: overwrite the model weights with their average every this
            many steps (integer >= 1), or None to do it only at `finalize_variable_values`.
            Defaults to None.
        loss_scale_factor: factor (> 0) by which `scale_loss` multiplies the loss and by
            which the gradients are divided, or None. Defaults to None.
        gradient_accumulation_steps: number of calls (integer >= 2) whose mean gradient
            makes one Lookahead step, or None. Defaults to None.
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
    >>> v = keras.Variable(np.array([0.0, 0.0], dtype="float32"))
    >>> opt = Lookahead(keras.optimizers.SGD(0.1), clipnorm=1.0)  # |g| = 5 clipped to 1
    >>> opt.apply([keras.ops.convert_to_tensor([3.0, 4.0])], [v])
    >>> np.round(keras.ops.convert_to_numpy(v).astype("float64"), 6).tolist()
    [-0.06, -0.08]

    References:
        - Zhang, Lucas, Hinton, Ba, "Lookahead Optimizer: k steps forward, 1 step back",
          NeurIPS 2019, https://arxiv.org/abs/1907.08610
    """

    def __init__(
        self,
        inner: keras.optimizers.Optimizer | dict | str | None = None,
        sync_period: int = 6,
        slow_step_size: float = 0.5,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str = "lookahead",
        **kwargs: Any,
    ):
        # `learning_rate` is accepted (and ignored) for configs written by other tools:
        # the learning rate is the inner optimizer's.
        kwargs.pop("learning_rate", None)
        # `optimizer=` is the name used by tensorflow-addons' Lookahead; accepted as an alias.
        if "optimizer" in kwargs:
            if inner is not None:
                raise ValueError(
                    "Pass the inner optimizer once, as `inner` (or its alias `optimizer`). "
                    f"Received: inner={inner!r}, optimizer={kwargs['optimizer']!r}"
                )
            inner = kwargs.pop("optimizer")
        reject_unknown_kwargs(kwargs, _PARAMETERS, owner="Lookahead")
        optimizer = inner
        if isinstance(optimizer, (dict, str)):
            optimizer = keras.optimizers.get(optimizer)
        if not isinstance(optimizer, keras.optimizers.Optimizer):
            raise ValueError(
                "Argument `inner` must be a keras.optimizers.Optimizer instance. "
                f"Received: inner={optimizer!r}"
            )
        check_number("sync_period", sync_period, low=1, integer=True)
        check_number("slow_step_size", slow_step_size, low=0, high=1)
        if weight_decay is not None:
            check_number("weight_decay", weight_decay, low=0)
        for key, value in (("clipnorm", clipnorm), ("clipvalue", clipvalue),
                           ("global_clipnorm", global_clipnorm),
                           ("loss_scale_factor", loss_scale_factor)):
            if value is not None:
                check_positive(key, value)
        if not isinstance(use_ema, bool):
            fail("use_ema", "a bool", use_ema)
        check_number("ema_momentum", ema_momentum, low=0, high=1)
        if ema_overwrite_frequency is not None:
            check_number("ema_overwrite_frequency", ema_overwrite_frequency, low=1,
                         integer=True)
            ema_overwrite_frequency = int(ema_overwrite_frequency)
        if gradient_accumulation_steps is not None:
            check_number("gradient_accumulation_steps", gradient_accumulation_steps, low=2,
                         integer=True)
            gradient_accumulation_steps = int(gradient_accumulation_steps)
        arguments = locals()
        base = {key: arguments[key] for key in BASE_ARGUMENTS if key != "name"}
        for key in _EXCLUSIVE_ARGS:
            inner_value = getattr(optimizer, key, None)
            if base[key] and inner_value:
                raise ValueError(
                    f"Argument `{key}` is set on both Lookahead and its inner optimizer "
                    f"{type(optimizer).__name__}; it would act twice. Set it on one of them. "
                    f"Received: {key}={base[key]} (Lookahead), {key}={inner_value} (inner)"
                )
        super().__init__(learning_rate=0.0, name=name, **base)
        self.inner_optimizer = optimizer
        self.sync_period = int(sync_period)
        self.slow_step_size = float(slow_step_size)

    def build(self, var_list):
        """Build the inner optimizer, the base slots (EMA, accumulators) and slow copies."""
        if self.built:
            return
        self.inner_optimizer.build(var_list)
        super().build(var_list)
        self._slow_variables = self.add_optimizer_variables(var_list, "slow")

    @property
    def variables(self):
        """The wrapper's variables followed by the inner optimizer's."""
        return super().variables + self.inner_optimizer.variables

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        self.inner_optimizer.learning_rate = learning_rate

    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    def scale_loss(self, loss):
        """Multiply the loss by the wrapper's, then the inner optimizer's, scale factor."""
        return self.inner_optimizer.scale_loss(super().scale_loss(loss))

    def apply(self, grads, trainable_variables=None):
        """One Lookahead step: unscale, accumulate, clip, decay, inner step, sync, EMA."""
        grads = list(grads)
        if not grads:
            return
        if trainable_variables is not None:
            trainable_variables = list(trainable_variables)
            if not self.built:
                self.build(trainable_variables)
        elif not self.built:
            raise ValueError(
                "Lookahead must be built before `apply` is called without variables. "
                "Call `optimizer.build(trainable_variables)` first."
            )
        all_variables = trainable_variables or _keras_private.built_variables(self)
        pairs = [(g, v) for g, v in zip(grads, all_variables, strict=True) if g is not None]
        if not pairs:
            raise ValueError("No gradients provided for any variable.")
        grads = [g for g, _ in pairs]
        variables = [v for _, v in pairs]
        if self.loss_scale_factor is not None:
            grads = [ops.divide(g, self.loss_scale_factor) for g in grads]

        first = ops.equal(self.inner_optimizer.iterations, 0)
        for variable in all_variables:
            slow = self._slow_for(variable)
            if slow is not None:
                slow.assign(ops.where(first, ops.cast(variable.value, slow.dtype), slow.value))

        steps = self.gradient_accumulation_steps
        if steps:
            # Every call runs the step; on the s-1 calls that only accumulate, `where`
            # restores the previous state (branch-free, so it also runs under JAX's jit).
            update = ops.equal(ops.mod(_keras_private.iteration_counter(self) + 1, steps), 0)
            accumulated = _keras_private.gradient_accumulators(self)
            accumulators = [accumulated[_keras_private.variable_index(self, v)]
                            for v in variables]
            totals = [ops.add(ops.cast(g, a.dtype), a.value)
                      for g, a in zip(grads, accumulators, strict=True)]
            state = list(all_variables) + [
                s for s in (self._slow_for(v) for v in all_variables) if s is not None
            ] + self.inner_optimizer.variables
            before = [ops.copy(v.value) for v in state]  # a snapshot, not a handle
            self._lookahead_step([ops.divide(t, steps) for t in totals], variables,
                                 all_variables)
            for variable, old in zip(state, before, strict=True):
                variable.assign(ops.where(update, variable.value, old))
            for accumulator, total in zip(accumulators, totals, strict=True):
                accumulator.assign(ops.where(update, ops.zeros_like(total), total))
        else:
            self._lookahead_step(grads, variables, all_variables)

        if self.use_ema:
            self._update_average()
        _keras_private.iteration_counter(self).assign_add(1)

    def _slow_for(self, variable):
        return self._slow_variables[_keras_private.variable_index(self, variable)]

    def _lookahead_step(self, grads, variables, all_variables):
        """Clip, decay the fast weights, run the inner step, then synchronise."""
        grads = _keras_private.clip_gradients(self, grads)
        _keras_private.apply_weight_decay(self, variables)
        self.inner_optimizer.apply(grads, variables)

        sync = ops.equal(ops.mod(self.inner_optimizer.iterations, self.sync_period), 0)
        for variable in all_variables:
            slow = self._slow_for(variable)
            if slow is None:
                continue
            old_slow = slow.value
            fast = ops.cast(variable.value, slow.dtype)
            step = ops.multiply(ops.subtract(fast, old_slow), self.slow_step_size)
            new_slow = ops.where(sync, ops.add(old_slow, step), old_slow)
            slow.assign(new_slow)
            variable.assign(ops.where(sync, ops.cast(new_slow, variable.dtype), variable.value))

    def _update_average(self):
        """EMA of the model weights, counted in (accumulated) steps as Keras does."""
        step = _keras_private.iteration_counter(self).value
        if self.gradient_accumulation_steps:
            step = ops.floor_divide(step, self.gradient_accumulation_steps)
        pairs = [(v, a) for v, a in zip(_keras_private.built_variables(self),
                                        _keras_private.ema_averages(self), strict=True)
                 if a is not None]
        for variable, average in pairs:
            momentum = ops.multiply(ops.cast(ops.not_equal(step, 0), average.dtype),
                                    self.ema_momentum)
            value = ops.cast(variable.value, average.dtype)
            average.assign(ops.add(ops.multiply(momentum, average.value),
                                   ops.multiply(ops.subtract(1.0, momentum), value)))
        if self.ema_overwrite_frequency:
            overwrite = ops.equal(ops.mod(step + 1, self.ema_overwrite_frequency), 0)
            for variable, average in pairs:
                variable.assign(ops.where(overwrite, ops.cast(average.value, variable.dtype),
                                          variable.value))

    def update_step(self, gradient, variable, learning_rate):
        """Not used: `apply` delegates the step to the inner optimizer."""
        self.inner_optimizer.update_step(gradient, variable, learning_rate)

    def finalize_variable_values(self, var_list):
        """Write the EMA values (the inner optimizer's or the wrapper's) into `var_list`."""
        self.inner_optimizer.finalize_variable_values(var_list)
        if not self.use_ema:
            return
        averages = _keras_private.ema_averages(self)
        if len(var_list) != len(averages):
            raise ValueError(
                f"Argument `var_list` must hold the {len(averages)} variables the optimizer "
                f"was built with. Received: {len(var_list)} variables"
            )
        for variable, average in zip(var_list, averages, strict=True):
            if average is not None:
                # A copy: on JAX, sharing one buffer between the model variable and its
                # average makes the next donated train step fail.
                variable.assign(ops.copy(ops.cast(average.value, variable.dtype)))

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "inner": keras.saving.serialize_keras_object(self.inner_optimizer),
            "sync_period": self.sync_period,
            "slow_step_size": self.slow_step_size,
            **{key: getattr(self, key) for key in BASE_ARGUMENTS if key != "name"},
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        # Configs written before the argument was named `inner` hold it as "optimizer".
        key = "inner" if "inner" in config else "optimizer"
        inner = keras.saving.deserialize_keras_object(
            config.pop(key), custom_objects=custom_objects
        )
        return cls(inner, **config)
