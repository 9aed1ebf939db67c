"""TrainingState / preserved_state: every part of the training state comes back bit for bit."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_recipes._state import TrainingState, capture_state, preserved_state

pytestmark = pytest.mark.backend  # what Keras keeps differs by backend (JAX step state)


def _model(optimizer):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(8),
        keras.layers.BatchNormalization(),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(1),
    ])
    model.compile(optimizer=optimizer, loss="mse", metrics=["mae"])
    return model


def _values(variables):
    return [np.array(v.numpy(), copy=True) for v in variables]


@pytest.fixture
def trained(tiny_regression):
    x, y = tiny_regression
    model = _model(keras.optimizers.Adam(1e-2))
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    return model, x, y


def test_restores_weights_bn_stats_seeds_metrics_optimizer_and_compiled_state(trained):
    model, x, y = trained
    variables, metrics = _values(model.variables), _values(model.metrics_variables)
    opt_values = _values(model.optimizer.variables)
    train_fn, optimizer = model.train_function, model.optimizer
    state = capture_state(model)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)  # moves everything
    model.optimizer.learning_rate = 0.5
    model.train_function = None
    model.stop_training = True
    model.optimizer = keras.optimizers.SGD()
    assert int(optimizer.iterations.numpy()) == 8
    state.restore()
    assert model.optimizer is optimizer and model.train_function is train_fn
    assert model.stop_training is False
    for got, want in zip(_values(model.variables), variables, strict=True):
        assert got.tobytes() == want.tobytes()
    for got, want in zip(_values(model.metrics_variables), metrics, strict=True):
        assert got.tobytes() == want.tobytes()
    for got, want in zip(_values(optimizer.variables), opt_values, strict=True):
        assert got.tobytes() == want.tobytes()
    assert int(optimizer.iterations.numpy()) == 4
    assert float(np.asarray(optimizer.learning_rate)) == pytest.approx(1e-2)


def test_schedule_object_and_learning_rate_variable_come_back():
    schedule = keras.optimizers.schedules.ExponentialDecay(1e-2, 10, 0.5)
    model = _model(keras.optimizers.SGD(schedule))
    state = TrainingState(model)
    model.optimizer.learning_rate = keras.optimizers.schedules.PolynomialDecay(1.0, 5)
    state.restore()
    assert model.optimizer._learning_rate is schedule

    model = _model(keras.optimizers.SGD(0.1))
    lr_var = model.optimizer._learning_rate
    state = TrainingState(model)
    model.optimizer.learning_rate = schedule  # untracks the variable
    assert all(v is not lr_var for v in model.optimizer.variables)
    state.restore()
    assert model.optimizer._learning_rate is lr_var
    assert any(v is lr_var for v in model.optimizer.variables)
    assert float(np.asarray(model.optimizer.learning_rate)) == pytest.approx(0.1)


def test_preserved_state_restores_on_exception_and_reraises():
    model = _model(keras.optimizers.Adam(1e-2))
    variables = _values(model.variables)
    with pytest.raises(RuntimeError, match="mid-run"), preserved_state(model):
        model.layers[0].kernel.assign(np.full((4, 8), np.nan))
        raise RuntimeError("mid-run")
    for got, want in zip(_values(model.variables), variables, strict=True):
        assert got.tobytes() == want.tobytes()


def test_without_compiled_state_and_absent_attributes():
    model = _model(keras.optimizers.Adam(1e-2))
    state = TrainingState(model, include_compiled=False)
    model.train_function = "replaced"
    state.restore()
    assert model.train_function == "replaced"  # left alone
    model.train_function = None
    had = "_jax_state_synced" in vars(model)  # present on JAX only
    captured = vars(model).get("_jax_state_synced")
    state = TrainingState(model)
    model._jax_state_synced = "changed"
    state.restore()
    if had:
        assert model._jax_state_synced is captured
    else:
        assert "_jax_state_synced" not in vars(model)  # absent at capture → removed
    assert "TrainingState(model=" in repr(state)


def test_learning_rate_object_of_a_wrapped_optimizer_comes_back(tiny_regression):
    # Lookahead (like LossScaleOptimizer) keeps the rate in its inner optimizer: replacing
    # the inner rate by a schedule inside the block must be undone, variable object included.
    from keras_recipes.optimizers import Lookahead

    x, y = tiny_regression
    model = _model(Lookahead(keras.optimizers.SGD(0.1, momentum=0.9), sync_period=2))
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    inner = model.optimizer.inner_optimizer
    lr_variable = inner._learning_rate
    values = _values(model.optimizer.variables)
    with preserved_state(model):
        inner.learning_rate = keras.optimizers.schedules.ExponentialDecay(0.5, 10, 0.5)
        model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert inner._learning_rate is lr_variable
    assert float(np.asarray(inner.learning_rate)) == pytest.approx(0.1)
    for got, want in zip(_values(model.optimizer.variables), values, strict=True):
        assert got.tobytes() == want.tobytes()
