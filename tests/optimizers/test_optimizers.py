"""The library's optimizers as Keras objects: arguments, config, .keras save and resume."""

from __future__ import annotations

import os

import keras
import numpy as np
import pytest

from keras_recipes.optimizers import Lookahead, NesterovRMSprop, RAdam, Yogi

pytestmark = pytest.mark.backend

FACTORIES = {
    "Yogi": lambda: Yogi(0.01),
    "NesterovRMSprop": lambda: NesterovRMSprop(0.01, centered=True),
    "RAdam": lambda: RAdam(0.01),
    "Lookahead(Adam)": lambda: Lookahead(keras.optimizers.Adam(0.01), sync_period=3),
    "Lookahead(Yogi)": lambda: Lookahead(Yogi(0.01), sync_period=2, slow_step_size=0.8),
}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_config_roundtrip(name, config_roundtrip):
    config_roundtrip(FACTORIES[name]())


def test_yogi_defaults_are_the_papers():
    opt = Yogi()
    assert float(opt.learning_rate) == pytest.approx(0.01)
    assert (opt.beta_1, opt.beta_2, opt.epsilon, opt.initial_accumulator_value) == (
        0.9, 0.999, 1e-3, 1e-6)
    assert opt.bias_correction is True


@pytest.mark.parametrize("cls", [Yogi, RAdam])
@pytest.mark.parametrize("arg, value, pattern", [
    ("beta_1", 1.0, "beta_1"), ("beta_2", -0.1, "beta_2"), ("epsilon", 0.0, "epsilon"),
    ("learning_rate", -1.0, "learning_rate"),
])
def test_bad_hyperparameters(cls, arg, value, pattern):
    with pytest.raises(ValueError, match=rf"Argument `{pattern}` must be .*Received: "
                                         rf"{pattern}={value}"):
        cls(**{arg: value})


@pytest.mark.parametrize("arg, value", [("rho", 1.0), ("momentum", 1.5), ("epsilon", -1e-7),
                                        ("learning_rate", -0.1)])
def test_nesterov_rmsprop_bad_hyperparameters(arg, value):
    with pytest.raises(ValueError, match=rf"Argument `{arg}` must be .*Received: {arg}="):
        NesterovRMSprop(**{arg: value})


@pytest.mark.parametrize("cls", [Yogi, NesterovRMSprop, RAdam])
def test_unknown_kwargs_rejected(cls):
    with pytest.raises(ValueError, match=r"Unknown keyword argument.*'betta'"):
        cls(betta=0.5)


def test_lookahead_bad_arguments():
    with pytest.raises(ValueError, match=r"Argument `sync_period` must be .*Received: "
                                         r"sync_period=0"):
        Lookahead(keras.optimizers.SGD(), sync_period=0)
    with pytest.raises(ValueError, match=r"Argument `slow_step_size` .*slow_step_size=1.5"):
        Lookahead(keras.optimizers.SGD(), slow_step_size=1.5)
    with pytest.raises(ValueError, match=r"Argument `inner` must be .*Received: inner=42"):
        Lookahead(42)
    with pytest.raises(ValueError, match=r"Pass the inner optimizer once"):
        Lookahead(keras.optimizers.SGD(), optimizer=keras.optimizers.Adam())
    with pytest.raises(ValueError, match=r"`clipnorm` is set on both Lookahead and its inner"):
        Lookahead(keras.optimizers.SGD(clipnorm=2.0), clipnorm=1.0)
    with pytest.raises(ValueError, match=r"Unknown keyword argument.*'k'"):
        Lookahead(keras.optimizers.SGD(), k=5)


def test_lookahead_exposes_inner_learning_rate_and_iterations():
    inner = keras.optimizers.Adam(0.003)
    opt = Lookahead(inner)
    assert float(keras.ops.convert_to_numpy(opt.learning_rate)) == pytest.approx(0.003)
    opt.learning_rate = 0.001
    assert float(keras.ops.convert_to_numpy(inner.learning_rate)) == pytest.approx(0.001)
    var = keras.Variable(np.ones(3, dtype="float32"))
    opt.apply([keras.ops.ones((3,))], [var])
    assert int(keras.ops.convert_to_numpy(opt.iterations)) == 1


@pytest.mark.parametrize("kwargs", [
    {"weight_decay": 0.1}, {"clipnorm": 0.5}, {"clipvalue": 0.1}, {"global_clipnorm": 0.5},
    {"use_ema": True, "ema_momentum": 0.9}, {"gradient_accumulation_steps": 2},
    {"loss_scale_factor": 4.0},
])
@pytest.mark.parametrize("cls", [Yogi, NesterovRMSprop, RAdam])
def test_base_keras_arguments(cls, kwargs):
    opt = cls(learning_rate=0.01, **kwargs)
    config = opt.get_config()
    for key, value in kwargs.items():
        assert config[key] == value
    var = keras.Variable(np.ones(4, dtype="float32"))
    for _ in range(2):
        opt.apply([keras.ops.convert_to_tensor(np.full(4, 3.0, dtype="float32"))], [var])
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(var)))
    assert np.all(keras.ops.convert_to_numpy(var) < 1.0)


def test_clipnorm_changes_the_step_as_in_keras():
    # Yogi with clipnorm sees the clipped gradient: same as Yogi on the clipped gradient.
    g = np.array([3.0, 4.0], dtype="float32")
    a, b = keras.Variable(np.zeros(2, "float32")), keras.Variable(np.zeros(2, "float32"))
    Yogi(0.1, clipnorm=1.0).apply([keras.ops.convert_to_tensor(g)], [a])
    Yogi(0.1).apply([keras.ops.convert_to_tensor(g / 5.0)], [b])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b),
                               rtol=1e-6)


def _model(optimizer, weights=None):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh"),
                              keras.layers.Dense(1)])
    if weights is not None:
        model.set_weights(weights)
    model.compile(optimizer=optimizer, loss="mse")
    return model


# Lookahead's own base arguments, whose state (a partial gradient sum after 4 calls with
# 3-call accumulation, EMA averages) must survive the save as well.
RESUME = {
    **FACTORIES,
    "Lookahead(Adam, accumulation+ema+clipnorm)": lambda: Lookahead(
        keras.optimizers.Adam(0.01), sync_period=2, gradient_accumulation_steps=3,
        use_ema=True, ema_momentum=0.5, clipnorm=1.0),
    "Lookahead(SGD, wd+ema-overwrite+loss-scale)": lambda: Lookahead(
        keras.optimizers.SGD(0.05, momentum=0.9), sync_period=3, weight_decay=0.1,
        use_ema=True, ema_overwrite_frequency=3, loss_scale_factor=16.0, global_clipnorm=2.0),
}
FAST_RESUME = {"Lookahead(Yogi)", "Lookahead(Adam, accumulation+ema+clipnorm)",
               "Lookahead(SGD, wd+ema-overwrite+loss-scale)"}


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=() if n in FAST_RESUME else pytest.mark.slow) for n in sorted(RESUME)
])
def test_save_reload_and_resume_identically(name, tiny_regression, tmp_path, seed):
    """Train N calls, save .keras, reload, train M more == N + M calls uninterrupted."""
    x, y = tiny_regression
    fit = dict(batch_size=32, epochs=1, shuffle=False, verbose=0)  # 4 calls per epoch
    reference = _model(RESUME[name]())
    weights = reference.get_weights()
    reference.fit(x, y, **fit)
    reference.fit(x, y, **fit)

    first = _model(RESUME[name](), weights)
    first.fit(x, y, **fit)
    path = os.path.join(str(tmp_path), "m.keras")
    first.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.optimizer) is type(first.optimizer)
    assert loaded.optimizer.get_config() == first.optimizer.get_config()
    assert int(keras.ops.convert_to_numpy(loaded.optimizer.iterations)) == int(
        keras.ops.convert_to_numpy(first.optimizer.iterations)) > 0
    for saved, restored in zip(first.optimizer.variables, loaded.optimizer.variables, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(saved),
                                      keras.ops.convert_to_numpy(restored))
    loaded.fit(x, y, **fit)
    for expected, got in zip(reference.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_lookahead_inner_keyword_and_optimizer_alias():
    by_keyword = Lookahead(inner=keras.optimizers.Adam(0.01), sync_period=3)
    by_alias = Lookahead(optimizer=keras.optimizers.Adam(0.01), sync_period=3)
    assert isinstance(by_keyword.inner_optimizer, keras.optimizers.Adam)
    assert isinstance(by_alias.inner_optimizer, keras.optimizers.Adam)
    config = by_keyword.get_config()
    assert "inner" in config and "optimizer" not in config
    # A config that names the inner optimizer "optimizer" still loads.
    legacy = dict(config)
    legacy["optimizer"] = legacy.pop("inner")
    rebuilt = Lookahead.from_config(legacy)
    assert rebuilt.sync_period == 3
    assert isinstance(rebuilt.inner_optimizer, keras.optimizers.Adam)
