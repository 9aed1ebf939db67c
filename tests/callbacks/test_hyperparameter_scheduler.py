"""HyperparameterScheduler: the scheduled value reaches the update, without retracing.

Each result is checked against a NumPy replay of the optimizer's update with the
scheduled values, or against Keras's own optimizer given the same values as floats.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_recipes.callbacks import HyperparameterScheduler
from keras_recipes.schedules import CyclicLR, OneCycle

pytestmark = pytest.mark.backend

N, D, STEPS = 16, 3, 8


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, D)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5]))[:, None].astype("float32")
    return x, y


def _model(optimizer):
    model = keras.Sequential([keras.Input((D,)), keras.layers.Dense(1, use_bias=False)])
    model.layers[0].set_weights([np.full((D, 1), 0.1, "float32")])
    model.compile(optimizer=optimizer, loss="mse")
    return model


def _fit(model, callbacks, steps=STEPS):
    """`steps` full-batch steps (one per epoch); the weights as float64."""
    x, y = _data()
    model.fit(x, y, batch_size=N, epochs=steps, shuffle=False, verbose=0, callbacks=callbacks)
    return model.layers[0].get_weights()[0].astype("float64")


def _grad(w, x, y):
    """Gradient of mean((x w − y)²) (full batch)."""
    return 2.0 / len(x) * x.T @ (x @ w - y)


def _momentum(k):
    """Reference momentum schedule: 0.9 for two steps, then alternating 0.0 / 0.5."""
    return 0.9 if k < 2 else (0.0 if k % 2 else 0.5)


def _keras_momentum(step):
    k = keras.ops.cast(step, "float32")
    alternating = keras.ops.where(keras.ops.mod(k, 2.0) > 0, 0.0, 0.5)
    return keras.ops.where(k < 2, 0.9, alternating)


class _Counting:
    """A callable schedule that counts how often Python runs it."""

    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, step):
        self.calls += 1
        return self.fn(step)


def _sgd_reference(momentum, steps, lr=0.05, nesterov=False, w=None, m=None, first=0):
    """NumPy Keras SGD: m = μ m − lr g ; w += m (Nesterov: w += μ m − lr g), full batch."""
    x, y = (a.astype("float64") for a in _data())
    w = np.full((D, 1), 0.1) if w is None else w
    m = np.zeros((D, 1)) if m is None else m
    for k in range(first, first + steps):
        g = _grad(w, x, y)
        m = momentum(k) * m - lr * g
        w = w + (momentum(k) * m - lr * g if nesterov else m)
    return w, m


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_schedule_reaches_every_step(nesterov):
    counted = _Counting(_keras_momentum)
    w = _fit(_model(keras.optimizers.SGD(0.05, momentum=0.9, nesterov=nesterov)),
             [HyperparameterScheduler({"momentum": counted})])
    ref, _ = _sgd_reference(_momentum, STEPS, nesterov=nesterov)
    np.testing.assert_allclose(w, ref, rtol=1e-5, atol=1e-6)
    # A constant momentum of 0.9 gives another result: the schedule is really used.
    plain, _ = _sgd_reference(lambda k: 0.9, STEPS, nesterov=nesterov)
    assert np.abs(plain - w).max() > 1e-3
    if keras.backend.backend() != "torch":  # compiled: traced a few times, not per step
        assert 1 <= counted.calls < STEPS


def _adam_reference(beta_1, wd, steps=STEPS, lr=0.01, beta_2=0.999, eps=1e-7, state=None,
                    first=0):
    """NumPy Keras Adam(W) with scheduled β1 and weight decay: ``(w, m, v)`` after ``steps``."""
    x, y = (a.astype("float64") for a in _data())
    if state is None:
        state = np.full((D, 1), 0.1), np.zeros((D, 1)), np.zeros((D, 1))
    w, m, v = state
    for k in range(first, first + steps):
        g = _grad(w, x, y)
        b1 = beta_1(k)
        w = w - w * wd(k) * lr  # decoupled decay, multiplied by the learning rate
        t = k + 1
        alpha = lr * np.sqrt(1 - beta_2**t) / (1 - b1**t)
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - beta_2)
        w = w - m * alpha / (np.sqrt(v) + eps)
    return w, m, v


def _np_cyclic(k, base=0.5, top=0.9, s=3):
    cycle = np.floor(1 + k / (2 * s))
    return base + (top - base) * max(0.0, 1 - abs(k / s - 2 * cycle + 1))


def test_adam_beta_1_schedule():
    w = _fit(_model(keras.optimizers.Adam(0.01)),
             [HyperparameterScheduler({"beta_1": CyclicLR(0.5, 0.9, 3)})])
    ref, _, _ = _adam_reference(_np_cyclic, lambda k: 0.0)
    np.testing.assert_allclose(w, ref, rtol=1e-4, atol=1e-6)


def test_adamw_weight_decay_and_beta_1_schedules():
    decay = keras.optimizers.schedules.PiecewiseConstantDecay([3], [0.5, 2.0])
    w = _fit(_model(keras.optimizers.AdamW(0.01, weight_decay=0.1)),
             [HyperparameterScheduler({"weight_decay": decay, "beta_1": CyclicLR(0.5, 0.9, 3)})])
    ref, _, _ = _adam_reference(_np_cyclic, lambda k: 0.5 if k <= 3 else 2.0)
    np.testing.assert_allclose(w, ref, rtol=1e-4, atol=1e-6)


def test_scheduler_added_mid_training_changes_the_very_next_step():
    """Three plain steps compile the step with the floats; the next fit's first step
    already uses the schedule's value at iteration 3."""
    model = _model(keras.optimizers.SGD(0.05, momentum=0.9))
    _fit(model, [], 3)
    w = _fit(model, [HyperparameterScheduler({"momentum": _keras_momentum})], 1)
    w0, m0 = _sgd_reference(lambda k: 0.9, 3)
    ref, _ = _sgd_reference(_momentum, 1, w=w0, m=m0, first=3)  # momentum 0.0 at k = 3
    np.testing.assert_allclose(w, ref, rtol=1e-5, atol=1e-6)
    assert np.abs(_sgd_reference(lambda k: 0.9, 4)[0] - w).max() > 1e-4

    model = _model(keras.optimizers.Adam(0.01))
    _fit(model, [], 3)
    w = _fit(model, [HyperparameterScheduler({"beta_1": CyclicLR(0.5, 0.9, 3)})], 2)
    state = _adam_reference(lambda k: 0.9, lambda k: 0.0, steps=3)
    ref, _, _ = _adam_reference(_np_cyclic, lambda k: 0.0, steps=2, state=state, first=3)
    np.testing.assert_allclose(w, ref, rtol=1e-4, atol=1e-6)


class PlainMomentum(keras.optimizers.Optimizer):
    """A minimal custom optimizer that reads `self.rho` like Keras's own optimizers, and
    says so."""

    schedulable_hyperparameters = ("rho",)

    def __init__(self, learning_rate=0.05, rho=0.9, name="plain_momentum", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.rho = rho

    def build(self, var_list):
        super().build(var_list)
        self.buffers = self.add_optimizer_variables(var_list, "buffer")

    def update_step(self, gradient, variable, learning_rate):
        buf = self.buffers[self._get_variable_index(variable)]
        rho = keras.ops.cast(self.rho, variable.dtype)
        self.assign(buf, rho * buf + gradient)
        self.assign_sub(variable, keras.ops.cast(learning_rate, variable.dtype) * buf)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho}


def test_custom_optimizer_that_opts_in():
    w = _fit(_model(PlainMomentum()), [HyperparameterScheduler({"rho": _keras_momentum})])
    x, y = (a.astype("float64") for a in _data())
    ref, buf = np.full((D, 1), 0.1), np.zeros((D, 1))
    for k in range(STEPS):
        buf = _momentum(k) * buf + _grad(ref, x, y)
        ref = ref - 0.05 * buf
    np.testing.assert_allclose(w, ref, rtol=1e-5, atol=1e-6)


def test_one_cycle_momentum_trains_and_saves(model_roundtrip):
    lr = OneCycle(0.05, total_steps=STEPS)
    model = _model(keras.optimizers.SGD(lr, momentum=0.95))
    cb = HyperparameterScheduler({"momentum": lr.momentum_schedule()})
    _fit(model, [cb])
    x, _ = _data()
    assert type(model.optimizer.momentum) is float  # floats again after training
    assert model.optimizer.get_config()["momentum"] == 0.95
    # Nothing was added to the optimizer's state: the iteration count and the buffer.
    assert len(model.optimizer.variables) == 2
    assert cb.values()["momentum"] == pytest.approx(0.95, abs=1e-6)  # end of the cycle
    loaded = model_roundtrip(model, x[:8])
    assert loaded.optimizer.get_config()["momentum"] == 0.95
    assert isinstance(loaded.optimizer.get_config()["learning_rate"], dict)  # the OneCycle


def test_plain_optimizer_after_training():
    model = _model(keras.optimizers.SGD(0.05, momentum=0.9))
    _fit(model, [HyperparameterScheduler({"momentum": _keras_momentum})])
    again = _fit(model, [])  # a second fit without the callback uses momentum 0.9 again
    w0, m0 = _sgd_reference(_momentum, STEPS)
    ref, _ = _sgd_reference(lambda k: 0.9, STEPS, w=w0, m=m0, first=STEPS)
    np.testing.assert_allclose(again, ref, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------- a fit that raises midway
class _Boom(keras.callbacks.Callback):
    """Another callback that raises after `at` batches: Keras then skips `on_train_end`."""

    def __init__(self, at=3):
        super().__init__()
        self.at, self.seen = at, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.at:
            raise RuntimeError("boom")


def _crash(model, scheduler):
    x, y = _data()
    model.fit(x, y, batch_size=N, epochs=STEPS, shuffle=False, verbose=0,
              callbacks=[scheduler, _Boom()])


def _state(model):
    """Weights and SGD momentum buffer, as float64."""
    w = model.layers[0].get_weights()[0].astype("float64")
    m = keras.ops.convert_to_numpy(model.optimizer.momentums[0]).astype("float64")
    return w, m


def test_restoring_after_a_failed_fit_gives_back_the_plain_optimizer():
    model = _model(keras.optimizers.SGD(0.05, momentum=0.9))
    scheduler = HyperparameterScheduler({"momentum": 0.1})
    with pytest.raises(RuntimeError, match="boom"), scheduler.restoring():
        _crash(model, scheduler)
    optimizer = model.optimizer
    assert type(optimizer.momentum) is float and optimizer.momentum == 0.9
    assert HyperparameterScheduler.restore(model) is False  # nothing left to remove
    w0, m0 = _state(model)
    w = _fit(model, [], 3)  # without the callback: the constant 0.9, not 0.1
    np.testing.assert_allclose(w, _sgd_reference(lambda k: 0.9, 3, w=w0, m=m0)[0],
                               rtol=1e-5, atol=1e-6)
    assert np.abs(w - _sgd_reference(lambda k: 0.1, 3, w=w0, m=m0)[0]).max() > 1e-4


def test_new_scheduler_after_a_failed_fit():
    model = _model(keras.optimizers.SGD(0.05, momentum=0.9))
    with pytest.raises(RuntimeError, match="boom"):
        _crash(model, HyperparameterScheduler({"momentum": 0.1}))  # no cleanup at all
    w0, m0 = _state(model)
    # A new scheduler replaces the leftover variable and its compiled step: 0.5 is used.
    w = _fit(model, [HyperparameterScheduler({"momentum": 0.5})], 3)
    np.testing.assert_allclose(w, _sgd_reference(lambda k: 0.5, 3, w=w0, m=m0)[0],
                               rtol=1e-5, atol=1e-6)
    assert type(model.optimizer.momentum) is float  # and its own fit ended cleanly


def test_leftover_is_inert_in_another_fit_then_restore_removes_it():
    model = _model(keras.optimizers.SGD(0.05, momentum=0.9))
    with pytest.raises(RuntimeError, match="boom"):
        _crash(model, HyperparameterScheduler({"momentum": 0.1}))
    # Any retrace in a later fit (here a forced one) reads the created momentum.
    model.make_train_function(force=True)
    w0, m0 = _state(model)
    w = _fit(model, [], 2)
    np.testing.assert_allclose(w, _sgd_reference(lambda k: 0.9, 2, w=w0, m=m0)[0],
                               rtol=1e-5, atol=1e-6)
    assert HyperparameterScheduler.restore(model) is True
    assert type(model.optimizer.momentum) is float


def test_refuses_a_whole_model_checkpoint_and_accepts_weights_only(tmp_path):
    momentum = HyperparameterScheduler({"momentum": lambda step: 0.9})
    model = _model(keras.optimizers.SGD(0.05, momentum=0.5))
    before = [w.copy() for w in model.get_weights()]
    whole = keras.callbacks.ModelCheckpoint(str(tmp_path / "m.keras"))
    with pytest.raises(ValueError, match="save_weights_only=True"):
        _fit(model, [momentum, whole])
    for w, b in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(w, b)  # refused before any step
    HyperparameterScheduler.restore(model)
    weights_only = keras.callbacks.ModelCheckpoint(str(tmp_path / "m.weights.h5"),
                                                   save_weights_only=True)
    _fit(model, [momentum, weights_only])
    assert (tmp_path / "m.weights.h5").exists()
