"""Where the course notes and Keras (or the notes and the correct maths) differ, pinned.

Each test is named in ``docs/notes_vs_keras.md``. Reference values come from NumPy written
from the formulas (the notes' as written, and the corrected one), never from the code under
test.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x), dtype="float64")


# --- Dropout (seed 002) --------------------------------------------------------------------


def test_dropout_is_inverted_at_p_half():
    # Seed 002, test phase: keep the outputs in training, multiply them by (1 − p) at test.
    # Keras (and the notes' "inverted dropout" remark): multiply by 1/(1 − p) in training,
    # identity at inference. Same expectation, different values.
    x = np.full((4000,), 3.0, dtype="float32")
    layer = keras.layers.Dropout(0.5, seed=0)
    train = to_numpy(layer(x, training=True))
    assert set(np.unique(train)) == {0.0, 6.0}  # 0 or x/(1 − p) = 2x
    assert abs(np.mean(train == 0.0) - 0.5) < 0.03
    np.testing.assert_array_equal(to_numpy(layer(x, training=False)), x)  # not (1 − p)·x
    assert abs(train.mean() - 3.0) < 0.2  # same expectation as the untouched input


def test_spatial_dropout_drops_whole_feature_maps():
    x = np.ones((8, 5, 5, 32), dtype="float32")
    out = to_numpy(keras.layers.SpatialDropout2D(0.5, seed=1)(x, training=True))
    per_map = out.reshape(8, 25, 32)
    assert np.all(per_map.min(axis=1) == per_map.max(axis=1))  # one value per feature map
    assert set(np.unique(per_map)) == {0.0, 2.0}


# --- BatchNormalization (seeds 000, 002) ---------------------------------------------------


def test_batchnorm_inference_uses_moving_statistics():
    # Keras: m ← 0.99·m + 0.01·μ_B, s ← 0.99·s + 0.01·σ²_B (biased), ε = 1e-3. Seed 002's
    # formula with its "moment ≈ 0.1" would give m ← 0.1·m + 0.9·μ_B; 0.1 is PyTorch's
    # momentum, the weight of the new batch (PyTorch 0.1 = Keras 0.9).
    rng = np.random.default_rng(0)
    x = rng.normal(loc=3.0, scale=2.0, size=(64, 4)).astype("float32")
    bn = keras.layers.BatchNormalization()
    assert (bn.momentum, bn.epsilon) == (0.99, 1e-3)  # notes: ε ≈ 1e-5
    train_out = to_numpy(bn(x, training=True))
    mu, var = x.astype("float64").mean(0), x.astype("float64").var(0)
    np.testing.assert_allclose(train_out, (x - mu) / np.sqrt(var + 1e-3), rtol=1e-4, atol=1e-4)
    m, s = 0.01 * mu, 0.99 * 1.0 + 0.01 * var  # from m = 0, s = 1
    np.testing.assert_allclose(to_numpy(bn.moving_mean), m, rtol=1e-5)
    np.testing.assert_allclose(to_numpy(bn.moving_variance), s, rtol=1e-5)
    test_out = to_numpy(bn(x, training=False))
    np.testing.assert_allclose(test_out, (x - m) / np.sqrt(s + 1e-3), rtol=1e-4, atol=1e-4)
    assert not np.allclose(test_out, train_out, atol=0.1)  # not the batch statistics


# --- Momentum (seeds 001, 003) -------------------------------------------------------------


def test_momentum_average_form_equals_keras_sgd_with_scaled_lr():
    # Seeds 001/003: m ← β·m + (1 − β)·g, θ ← θ − α·m. Keras: v ← β·v − lr·g, θ ← θ + v.
    # With lr = α·(1 − β), v = −α·m at every step: the same iterates.
    rng = np.random.default_rng(1)
    alpha, beta, steps = 0.1, 0.9, 25
    h = rng.uniform(0.5, 3.0, size=6)  # diagonal quadratic: g = h·θ
    theta0 = rng.normal(size=6)
    theta, m = theta0.copy(), np.zeros(6)
    for _ in range(steps):
        m = beta * m + (1 - beta) * h * theta
        theta = theta - alpha * m

    def keras_run(lr):
        var = keras.Variable(theta0.astype("float32"))
        opt = keras.optimizers.SGD(lr, momentum=beta)
        for _ in range(steps):
            opt.apply_gradients([(keras.ops.convert_to_tensor(
                (h * to_numpy(var)).astype("float32")), var)])
        return to_numpy(var)

    np.testing.assert_allclose(keras_run(alpha * (1 - beta)), theta, rtol=1e-4, atol=1e-6)
    # The same α in Keras takes a 10× larger first step.
    first = keras.Variable(theta0.astype("float32"))
    keras.optimizers.SGD(alpha, momentum=beta).apply_gradients(
        [(keras.ops.convert_to_tensor((h * theta0).astype("float32")), first)])
    np.testing.assert_allclose(theta0 - to_numpy(first), alpha * h * theta0, rtol=1e-5)
    np.testing.assert_allclose((theta0 - to_numpy(first)) * (1 - beta),
                               alpha * (1 - beta) * h * theta0, rtol=1e-5)


# --- RMSprop and Adam (seeds 000, 002, 003) ------------------------------------------------


def test_rmsprop_seed_002_sign_slip_and_ms0():
    # Seed 002: MS(0) = 1, MS(t) = β·MS(t−1) − (1 − β)·g². Correct: MS(0) = 0 and "+".
    beta, lr = 0.9, 0.01
    g = np.array([0.5, 4.0])
    notes_ms = beta * 1.0 - (1 - beta) * g**2
    assert notes_ms[1] < 0  # 0.9 − 1.6: the notes' mean square goes negative
    with np.errstate(invalid="ignore"):
        assert np.isnan(np.sqrt(notes_ms[1]))
    var = keras.Variable(np.zeros(2, dtype="float32"))
    opt = keras.optimizers.RMSprop(lr, rho=beta)
    opt.build([var])
    assert all(np.all(to_numpy(v) == 0) for v in opt.variables if "velocity" in v.path)
    opt.apply_gradients([(keras.ops.convert_to_tensor(g.astype("float32")), var)])
    ms = (1 - beta) * g**2  # MS(0) = 0, plus sign
    np.testing.assert_allclose(-to_numpy(var), lr * g / np.sqrt(ms + 1e-7), rtol=1e-5)
    # First step ≈ lr/√(1 − β) = 3.16·lr whatever g; with MS(0) = 1 it would be about lr·g.
    np.testing.assert_allclose(-to_numpy(var), lr / math.sqrt(1 - beta), rtol=1e-4)


def test_rmsprop_rho_default_is_not_seed_000():
    # Seed 000 suggests ρ = 0.99 (memory 1/(1 − ρ) = 100 steps); Keras's default is 0.9 (10).
    assert keras.optimizers.RMSprop().rho == pytest.approx(0.9)
    assert keras.optimizers.RMSprop(rho=0.99).rho == pytest.approx(0.99)


def test_adam_seed_002_sign_slip_climbs():
    # Seed 002: m ← β1·m − (1 − β1)·g, r ← β2·r − (1 − β2)·g². Step 1 with g > 0:
    b1, b2, lr, g = 0.9, 0.999, 0.01, 2.0
    m_hat = (-(1 - b1) * g) / (1 - b1)  # = −g: the update θ − lr·m̂/… climbs the gradient
    r_hat = (-(1 - b2) * g**2) / (1 - b2)  # = −g²: its square root is not real
    assert m_hat < 0 and r_hat < 0
    var = keras.Variable(np.array([1.0], dtype="float32"))
    keras.optimizers.Adam(lr).apply_gradients([(keras.ops.convert_to_tensor([g]), var)])
    # Kingma & Ba, step 1: m̂ = g, r̂ = g², θ ← θ − lr·g/(|g| + ε̂) ≈ θ − lr: a descent step.
    assert to_numpy(var)[0] == pytest.approx(1.0 - lr, rel=1e-5)


def test_adam_seed_003_bias_correction_at_k0():
    # Seed 003: m_{k+1} = (β1·m_k + (1 − β1)·g_k)/(1 − β1^k), from k = 0: divides by 1 − 1 = 0,
    # and feeds the corrected value back into the recursion. Kingma & Ba count t from 1 and
    # keep the correction out of the recursion; Keras does the same (t = iterations + 1).
    b1, b2, lr = 0.9, 0.999, 0.01
    with np.errstate(divide="ignore"):
        assert np.isinf(np.float64(1.0) / (1 - b1**0))
    grads = [1.0, -0.5, 2.0]
    theta, m, v = 1.0, 0.0, 0.0
    for t, g in enumerate(grads, start=1):  # Kingma & Ba, with Keras's ε-hat
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        theta -= lr * math.sqrt(1 - b2**t) / (1 - b1**t) * m / (math.sqrt(v) + 1e-7)
    var = keras.Variable(np.array([1.0], dtype="float32"))
    opt = keras.optimizers.Adam(lr)
    for g in grads:
        opt.apply_gradients([(keras.ops.convert_to_tensor([g]), var)])
    assert to_numpy(var)[0] == pytest.approx(theta, rel=1e-5)
    # Seed 003's recursion started at k = 1 (to avoid the zero) is another algorithm:
    th, m, v = 1.0, 0.0, 0.0
    for k, g in enumerate(grads, start=1):
        m = (b1 * m + (1 - b1) * g) / (1 - b1**k)
        v = (b2 * v + (1 - b2) * g * g) / (1 - b2**k)
        th -= lr * m / (math.sqrt(v) + 1e-7)
    assert abs(th - theta) > 1e-3


# --- Standardisation and keras.layers.Normalization (seeds 000, 002) ----------------------


def test_standardisation_divides_by_sigma_not_variance():
    rng = np.random.default_rng(2)
    x = rng.normal(loc=5.0, scale=4.0, size=(5000, 1))
    notes = (x - x.mean()) / x.var()  # seed 002 divides by σ²
    assert notes.std() == pytest.approx(1 / x.std(), rel=1e-6)  # std 1/σ = 0.25, not 1
    layer = keras.layers.Normalization()
    layer.adapt(x.astype("float32"))
    out = to_numpy(layer(x.astype("float32")))
    assert out.mean() == pytest.approx(0.0, abs=1e-4)
    assert out.std() == pytest.approx(1.0, rel=1e-4)


def test_normalization_layer_divides_by_max_sqrt_var_epsilon():
    # Keras: (x − μ)/max(√σ², ε), ε = keras.config.epsilon() = 1e-7. Seed 000: (x − μ)/√(σ² + δ).
    data = np.array([[1.0, 0.0], [1.0, 2.0], [1.0, 4.0]], dtype="float32")
    layer = keras.layers.Normalization()
    layer.adapt(data)
    out = to_numpy(layer(np.array([[2.0, 4.0]], dtype="float32")))[0]
    eps = keras.config.epsilon()
    assert out[0] == pytest.approx(1.0 / eps, rel=1e-5)  # constant feature: 1/ε = 1e7
    assert out[1] == pytest.approx((4.0 - 2.0) / math.sqrt(8 / 3), rel=1e-5)  # exactly /σ
    assert out[0] != pytest.approx(1.0 / math.sqrt(0.0 + 1e-3))  # not 1/√(σ² + δ)


# --- Keras 3 API (seed 002's snippets) ------------------------------------------------------


def test_keras3_rejects_lr_and_rmsprop_spelling():
    with pytest.raises(ValueError, match="lr"):
        keras.optimizers.SGD(lr=0.001, momentum=0.9)
    assert not hasattr(keras.optimizers, "RMSProp")
    opt = keras.optimizers.RMSprop(learning_rate=0.001, rho=0.9)  # the Keras 3 spelling
    assert float(to_numpy(opt.learning_rate)) == pytest.approx(0.001)


def test_seed_003_sums_the_minibatch_gradient_keras_averages_it():
    # Seed 003: θ ← θ − α·Σ_{i∈Ω} ∂l/∂θ. Keras losses default to "sum_over_batch_size" (the
    # mean): the same α takes an N× smaller step; reduction="sum" gives the notes' step.
    n = 16
    x = np.ones((n, 1), dtype="float32")
    y = np.zeros((n, 1), dtype="float32")

    def step(loss):
        model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(
            1, use_bias=False, kernel_initializer="ones")])
        model.compile(optimizer=keras.optimizers.SGD(0.001), loss=loss)
        model.train_on_batch(x, y)
        return 1.0 - float(to_numpy(model.layers[0].kernel)[0, 0])

    assert keras.losses.MeanSquaredError().reduction == "sum_over_batch_size"
    mean_step = step(keras.losses.MeanSquaredError())
    sum_step = step(keras.losses.MeanSquaredError(reduction="sum"))
    assert mean_step == pytest.approx(0.001 * 2.0, rel=1e-4)  # α·(1/N)·Σ 2·(w·1 − 0)
    assert sum_step == pytest.approx(0.001 * 2.0 * n, rel=1e-4)  # α·Σ 2·(w·1 − 0)


# --- Activations (seed 004) -----------------------------------------------------------------


def test_leaky_relu_default_slope():
    # Seed 004: α "usually 0.1". Keras 3: layer default 0.3, function default 0.2.
    x = np.array([-1.0, 2.0], dtype="float32")
    np.testing.assert_allclose(to_numpy(keras.layers.LeakyReLU()(x)), [-0.3, 2.0], rtol=1e-6)
    np.testing.assert_allclose(to_numpy(keras.activations.leaky_relu(x)), [-0.2, 2.0],
                               rtol=1e-6)
    np.testing.assert_allclose(to_numpy(keras.layers.LeakyReLU(negative_slope=0.1)(x)),
                               [-0.1, 2.0], rtol=1e-6)


def test_gelu_exact_and_approximations():
    # GELU(x) = x·Φ(x). Seed 004 approximates it by x·σ(1.702x); Keras computes the exact
    # form by default and the tanh form with approximate=True.
    x = np.linspace(-6.0, 6.0, 2001)
    exact = x * 0.5 * (1 + np.array([math.erf(v / math.sqrt(2)) for v in x]))
    keras_exact = to_numpy(keras.activations.gelu(x.astype("float32")))
    keras_tanh = to_numpy(keras.activations.gelu(x.astype("float32"), approximate=True))
    tanh_form = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    sigmoid_form = x / (1 + np.exp(-1.702 * x))
    np.testing.assert_allclose(keras_exact, exact, atol=2e-6)
    np.testing.assert_allclose(keras_tanh, tanh_form, atol=2e-6)
    assert np.max(np.abs(tanh_form - exact)) < 1e-3  # 4.7e-4
    assert 0.015 < np.max(np.abs(sigmoid_form - exact)) < 0.025  # 0.020, near |x| = 2.3


# --- Initialisation (seed 002) and the baseline CNN -----------------------------------------


def test_keras_he_normal_is_truncated_baseline_cnn_is_plain():
    # Seed 002: He normal is N(0, 2/fan_in). Keras's "he_normal" draws a truncated normal
    # (|w| ≤ 2·σ', σ' = √(2/fan_in)/0.87962566); the library's HeNormal is the plain one.
    from keras_recipes.initializers import HeNormal
    from keras_recipes.models import baseline_cnn

    shape, fan_in = (3, 3, 64, 256), 3 * 3 * 64
    bound = 2 * math.sqrt(2 / fan_in) / 0.87962566
    truncated = to_numpy(keras.initializers.HeNormal(seed=0)(shape))
    plain = to_numpy(HeNormal(seed=0)(shape))
    assert np.abs(truncated).max() <= bound * (1 + 1e-6)
    assert np.mean(np.abs(plain) > bound) > 0.015  # P(|z| > 2.27) ≈ 0.023 for a plain normal
    assert plain.std() == pytest.approx(math.sqrt(2 / fan_in), rel=0.02)
    model = baseline_cnn((8, 8, 1), 10, filters=(256,))
    conv = model.get_layer("conv_0")
    assert isinstance(conv.kernel_initializer, HeNormal)
