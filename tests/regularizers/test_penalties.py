"""L2/L1 with seed 002's λ/N scaling, and apply_penalty on built models (NumPy references)."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest

from keras_recipes.layers import DenseBlock
from keras_recipes.regularizers import L1, L2, apply_penalty

pytestmark = pytest.mark.backend

W = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.5]], dtype="float32")


@pytest.mark.parametrize(
    ("cls", "reference", "keras_cls", "keras_arg"),
    [
        (L2, lambda w, c: c * np.sum(w**2), keras.regularizers.L2, "l2"),
        (L1, lambda w, c: c * np.sum(np.abs(w)), keras.regularizers.L1, "l1"),
    ],
)
def test_value_is_lambda_over_n_times_the_norm(cls, reference, keras_cls, keras_arg):
    reg = cls(lam=0.3, n=16)
    expected = reference(W.astype("float64"), 0.3 / 16)  # seed 002: (λ/N)·‖W‖
    assert float(reg(W)) == pytest.approx(expected, rel=1e-6)
    assert float(keras_cls(**{keras_arg: 0.3 / 16})(W)) == pytest.approx(expected, rel=1e-6)
    assert reg.coefficient == pytest.approx(0.3 / 16)


@pytest.mark.parametrize("cls", [L2, L1])
def test_config_roundtrip_and_registration(cls, config_roundtrip):
    rebuilt = config_roundtrip(cls(lam=0.25, n=8))
    assert (rebuilt.lam, rebuilt.n) == (0.25, 8)
    assert keras.saving.get_registered_name(cls) == f"keras_recipes>{cls.__name__}"


@pytest.mark.parametrize("cls", [L2, L1])
def test_saved_and_loaded_with_the_model(cls, model_roundtrip):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((2,)),
        keras.layers.Dense(3, kernel_regularizer=cls(lam=0.5, n=4)),
        keras.layers.Dense(1),
    ])
    x = np.ones((4, 2), dtype="float32")
    loaded = model_roundtrip(model, x)
    reg = loaded.layers[0].kernel_regularizer
    assert isinstance(reg, cls) and (reg.lam, reg.n) == (0.5, 4)
    assert float(sum(loaded.losses)) == pytest.approx(float(sum(model.losses)), rel=1e-6)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"lam": -1.0}, "`lam` must be >= 0"),
    ({"lam": float("nan")}, "`lam` must be a finite number"),
    ({"n": 0}, "`n` must be > 0"),
    ({"n": "32"}, "`n` must be a finite number"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        L2(**kwargs)


def _linear_model(w0):
    model = keras.Sequential([keras.Input((w0.shape[0],)),
                              keras.layers.Dense(w0.shape[1], use_bias=False)])
    model.layers[0].kernel.assign(w0)
    return model


def test_sgd_momentum_steps_follow_the_notes_formula():
    # Seed 002: Δw(t) = αΔw(t−1) − η·∂/∂w[(1/N)Σ L + (λ/N)‖W‖²], w(t+1) = w(t) + Δw(t).
    # Linear model, MSE: ∂/∂W = 2/(N·k)·xᵀ(xW − y) + 2λ/N·W (written here by hand).
    rng = np.random.default_rng(0)
    n, lam, lr, alpha = 8, 0.7, 0.05, 0.9
    x = rng.normal(size=(n, 3))
    y = rng.normal(size=(n, 2))
    w0 = rng.normal(size=(3, 2))
    model = _linear_model(w0.astype("float32"))
    model.compile(optimizer=keras.optimizers.SGD(lr, momentum=alpha), loss="mse")
    apply_penalty(model, L2(lam=lam, n=n))

    w, delta = w0.copy(), np.zeros_like(w0)
    for _ in range(3):  # from the second step on the momentum carries the penalty's gradient
        expected_loss = np.mean((x @ w - y) ** 2) + lam / n * np.sum(w**2)
        grad = 2 / (n * 2) * x.T @ (x @ w - y) + 2 * lam / n * w
        delta = alpha * delta - lr * grad
        w = w + delta
        loss = model.train_on_batch(x.astype("float32"), y.astype("float32"))
        assert loss == pytest.approx(expected_loss, rel=1e-5)  # the reported loss holds it
        np.testing.assert_allclose(keras.ops.convert_to_numpy(model.layers[0].kernel), w,
                                   rtol=1e-5, atol=1e-6)


def test_l1_step_uses_the_sign_of_the_weights():
    w0 = np.array([[1.0, -2.0], [0.5, -0.25]])
    model = _linear_model(w0.astype("float32"))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    apply_penalty(model, L1(lam=2.0, n=4))
    x, y = np.zeros((4, 2), "float32"), np.zeros((4, 2), "float32")  # no data gradient
    model.train_on_batch(x, y)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.layers[0].kernel),
                               w0 - 0.1 * 2.0 / 4 * np.sign(w0), rtol=1e-6)


def test_apply_penalty_acts_in_fit_of_an_already_trained_model(tiny_digits):
    x, y = tiny_digits
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=200, epochs=1, verbose=0)  # traces the train step once
    plain = model.evaluate(x, y, batch_size=200, verbose=0)
    paths = apply_penalty(model, L2(lam=3.0, n=200))
    kernels = [model.layers[0].kernel, model.layers[1].kernel]
    assert paths == [k.path for k in kernels]  # kernels only, no bias
    assert all(layer.bias.regularizer is None for layer in model.layers)
    penalty = 3.0 / 200 * sum(np.sum(keras.ops.convert_to_numpy(k) ** 2) for k in kernels)
    history = model.fit(x, y, batch_size=200, epochs=1, verbose=0)  # lr 0: weights stay
    assert history.history["loss"][0] == pytest.approx(plain + penalty, rel=1e-5)
    assert model.evaluate(x, y, batch_size=200, verbose=0) == pytest.approx(plain + penalty,
                                                                            rel=1e-5)


def test_apply_penalty_is_saved_with_the_model(model_roundtrip):
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(3, name="hidden")(inputs)
    outputs = keras.Sequential([keras.layers.Dense(2, name="inner")], name="head")(hidden)
    model = keras.Model(inputs, outputs)
    apply_penalty(model, L2(lam=0.2, n=10))
    loaded = model_roundtrip(model, np.ones((2, 4), "float32"))
    assert isinstance(loaded.get_layer("hidden").kernel_regularizer, L2)
    assert isinstance(loaded.get_layer("head").layers[0].kernel_regularizer, L2)
    assert float(sum(loaded.losses)) == pytest.approx(float(sum(model.losses)), rel=1e-6)


def test_kernels_inside_custom_layers_are_penalised_with_a_warning():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(DenseBlock(3)(inputs)))
    with pytest.warns(UserWarning, match=r"not saved with the model"):
        paths = apply_penalty(model, L2(lam=1.0, n=1))
    assert len(paths) == 2 and any("dense_block" in p for p in paths)
    total = sum(np.sum(keras.ops.convert_to_numpy(v) ** 2)
                for v in model.trainable_variables if v.name == "kernel")
    assert float(sum(model.losses)) == pytest.approx(total, rel=1e-6)


def test_existing_regularizer_needs_overwrite_and_nothing_changes_before():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2),
                              keras.layers.Dense(1, kernel_regularizer="l1")])
    with pytest.raises(ValueError, match="already have a regularizer"):
        apply_penalty(model, L2())
    assert model.layers[0].kernel.regularizer is None  # checked before any change
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        apply_penalty(model, L2(), overwrite=True)
    assert isinstance(model.layers[1].kernel.regularizer, L2)


def test_apply_penalty_bad_input():
    with pytest.raises(ValueError, match="must be built"):
        apply_penalty(keras.Sequential([keras.layers.Dense(1)]), L2())
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="Argument `penalty`"):
        apply_penalty(model, "no_such_penalty")
    with pytest.raises(ValueError, match="Argument `model`"):
        apply_penalty("model", L2())
