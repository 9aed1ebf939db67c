"""Seed 000/002 claims measured on the playground, against NumPy recurrences and formulas."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_recipes.optimizers import Yogi
from keras_recipes.playground import (
    double_well,
    effective_learning_rates,
    minibatch_gradient_noise,
    noisy_descent,
    quadratic_ravine,
    trajectories,
)

# `slow_elsewhere`: TensorFlow checks these claims in `make test`; JAX and torch (where only
# the random draws and the float32 rounding differ) in `make test-all`.
pytestmark = [pytest.mark.backend, pytest.mark.slow_elsewhere]


def test_double_well_minima_by_hand():
    f = double_well(0.25)
    for x0 in (f.start[0], f.minimum[0]):  # f'(x) = 4x³ − 4x + tilt = 0, f'' > 0
        assert 4 * x0**3 - 4 * x0 + 0.25 == pytest.approx(0, abs=1e-9)
        assert 12 * x0**2 - 4 > 0
    assert f.value(f.minimum[0], 0.0) < f.value(f.start[0], 0.0) < f.value(0.0, 0.0)
    with pytest.raises(ValueError, match=r"Argument `tilt`"):
        double_well(2.0)


def test_sgd_noise_escapes_the_local_minimum():
    # seed 000 §2 advantage 1: the noisy gradient helps leave a local minimum
    f = double_well()
    sgd = keras.optimizers.SGD(0.05)
    still = noisy_descent(sgd, f, noise=0.0, runs=200, steps=400, seed=0)
    noisy = noisy_descent(sgd, f, noise=4.0, runs=200, steps=400, seed=0)
    assert (still["x"] > 0).all()  # gradient descent stays in the well it started in
    np.testing.assert_allclose(still["x"], f.start[0], atol=1e-4)
    escaped = float((noisy["x"] < 0).mean())
    assert escaped > 0.5  # measured 0.76
    # and the drawback: the noisy iterates keep fluctuating around the minima
    assert noisy["y"].std() > 0.1


def test_noisy_descent_is_the_noiseless_recurrence_without_noise():
    f = quadratic_ravine(1.0, 20.0)
    ends = noisy_descent(keras.optimizers.SGD(0.01), f, noise=0.0, runs=3, steps=20)
    np.testing.assert_allclose(ends["x"], -4.0 * 0.99**20, rtol=1e-5)
    np.testing.assert_allclose(ends["y"], 0.8**20, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match=r"Argument `noise` must be >= 0"):
        noisy_descent(keras.optimizers.SGD(), f, noise=-1)
    with pytest.raises(ValueError, match="Argument `optimizer` must be a Keras optimizer"):
        noisy_descent("sgd", f)


def _heavy_ball(x0, lr, momentum, curvature, steps):
    """Seed 000 §3 by hand: v ← αv − ε f'(θ), θ ← θ + v, on f = curvature·θ²/2."""
    theta, v, path = x0, 0.0, [x0]
    for _ in range(steps):
        v = momentum * v - lr * curvature * theta
        theta = theta + v
        path.append(theta)
    return np.array(path)


def test_momentum_overshoots_the_minimum():
    # seed 000 §3 drawback: momentum "peut dépasser le min global"
    df = trajectories({"sgd": keras.optimizers.SGD(0.01),
                       "momentum": keras.optimizers.SGD(0.01, momentum=0.9)},
                      quadratic_ravine(), steps=100)
    sgd = df[df["optimizer"] == "sgd"]["x"].to_numpy()
    mom = df[df["optimizer"] == "momentum"]["x"].to_numpy()
    np.testing.assert_allclose(mom, _heavy_ball(-4.0, 0.01, 0.9, 1.0, 100), rtol=1e-4,
                               atol=1e-5)
    assert sgd.max() < 0  # plain SGD approaches x = 0 from one side
    assert mom.max() > 0.5  # momentum passes the minimum by more than 12 % of the start


def test_momentum_flies_over_a_local_minimum():
    # seed 000 §3: momentum "peut survoler les min locaux"
    f = double_well()
    df = trajectories({"sgd": keras.optimizers.SGD(0.05),
                       "momentum": keras.optimizers.SGD(0.05, momentum=0.9)},
                      f, steps=200, start=(1.9, 0.5))
    end = df[df["step"] == 200].set_index("optimizer")["x"]
    assert end["sgd"] == pytest.approx(f.start[0], abs=1e-3)  # stuck in the local well
    assert end["momentum"] == pytest.approx(f.minimum[0], abs=1e-2)  # reaches the global one


def _adam_yogi_ratio(g, lr, b1, b2, eps, yogi):
    """NumPy Adam (Keras ε-hat form) or Yogi (Zaheer et al., Algorithm 2): update / g."""
    s, r = 0.0, (1e-6 if yogi else 0.0)  # Yogi's initial_accumulator_value
    out = []
    for t, gt in enumerate(g, start=1):
        s = b1 * s + (1 - b1) * gt
        if yogi:
            r = r - (1 - b2) * np.sign(r - gt * gt) * gt * gt
        else:
            r = b2 * r + (1 - b2) * gt * gt
        s_hat, r_hat = s / (1 - b1**t), r / (1 - b2**t)
        out.append(lr * s_hat / (np.sqrt(r_hat) + eps) / gt)
    return np.array(out)


def test_adam_effective_rate_jumps_when_r_dominates_and_yogi_holds_it():
    # seed 000: Adam's drawback ("augmentation rapide du taux d'apprentissage effectif" when
    # the previous second moment is much larger than g²) and Yogi's fix
    g = np.r_[np.full(100, 1.0), np.full(400, 0.01)]
    df = effective_learning_rates({
        "adam": keras.optimizers.Adam(0.01, beta_2=0.99, epsilon=1e-8),
        "yogi": Yogi(0.01, beta_2=0.99, epsilon=1e-3),
    }, g)
    adam = df[df["optimizer"] == "adam"]["ratio"].to_numpy()
    yogi = df[df["optimizer"] == "yogi"]["ratio"].to_numpy()
    np.testing.assert_allclose(adam, _adam_yogi_ratio(g, 0.01, 0.9, 0.99, 1e-8, False),
                               rtol=2e-3)
    np.testing.assert_allclose(yogi, _adam_yogi_ratio(g, 0.01, 0.9, 0.99, 1e-3, True),
                               rtol=2e-3)
    before = slice(80, 100)
    assert adam[-1] > 5 * adam[before].mean()  # measured ×9.3 after 400 small gradients
    assert yogi[-1] < 1.3 * yogi[before].mean()  # measured ×1.2


def test_effective_learning_rates_bad_input():
    with pytest.raises(ValueError, match="non-empty mapping"):
        effective_learning_rates({}, [1.0])
    with pytest.raises(ValueError, match="Argument `gradients`"):
        effective_learning_rates(keras.optimizers.SGD(), [])


def _softmax_regression(seed=0):
    rng = np.random.default_rng(seed)
    n, d, k = 400, 6, 3
    x = rng.normal(size=(n, d)).astype("float32")
    y = rng.integers(0, k, size=n)
    w = rng.normal(scale=0.5, size=(d, k)).astype("float32")
    model = keras.Sequential([keras.Input((d,)), keras.layers.Dense(k, activation="softmax")])
    model.layers[0].set_weights([w, np.zeros(k, dtype="float32")])
    return model, x, y, w


def test_minibatch_gradient_is_unbiased_and_its_error_falls_as_one_over_sqrt_m():
    # seed 000 §2 advantage 2 and seed 002's "∇L ≃ ∇L_tot + ε": per-example gradients of
    # softmax regression by hand, x_i (p_i − y_i)ᵀ, give σ² and the exact expected error.
    model, x, y, w = _softmax_regression()
    z = x.astype("float64") @ w
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    err = p - np.eye(3)[y]
    per_example = np.concatenate([np.einsum("nd,nk->ndk", x, err).reshape(len(x), -1), err],
                                 axis=1)
    full = per_example.mean(axis=0)
    sigma2 = np.sum(per_example.var(axis=0))
    n = len(x)
    sizes = (1, 4, 16, 64)
    table = minibatch_gradient_noise(model, x, y, "sparse_categorical_crossentropy",
                                     batch_sizes=sizes, draws=200, seed=0)
    for m in sizes:
        expected = np.sqrt(sigma2 / m * (n - m) / (n - 1))
        assert table.loc[m, "std_error"] == pytest.approx(expected, rel=0.15)
        # unbiased: the mean of the draws is within a few standard errors of ∇J
        assert table.loc[m, "bias"] < 4 * expected / np.sqrt(200)
    slope = np.polyfit(np.log(sizes), np.log(table["std_error"].to_numpy()), 1)[0]
    assert slope == pytest.approx(-0.5, abs=0.08)
    # the model itself is untouched
    np.testing.assert_array_equal(model.layers[0].get_weights()[0], w)
    full_by_keras = minibatch_gradient_noise(model, x, y, "sparse_categorical_crossentropy",
                                             batch_sizes=(n,), draws=2)
    assert full_by_keras.loc[n, "std_error"] < 1e-5 * np.linalg.norm(full)


def test_minibatch_gradient_noise_bad_input():
    model, x, y, _ = _softmax_regression()
    with pytest.raises(ValueError, match=r"Argument `batch_sizes` must be"):
        minibatch_gradient_noise(model, x, y, "mse", batch_sizes=(0,))
    with pytest.raises(ValueError, match=r"same number"):
        minibatch_gradient_noise(model, x, y[:-1], "mse")
    with pytest.raises(ValueError, match=r"Argument `model` must be a keras.Model"):
        minibatch_gradient_noise("m", x, y, "mse")
