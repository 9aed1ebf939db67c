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

# `slow_elsewhere`: TensorFlow checks these claims in `make test`; JAX and torch (where only
# the random draws and the float32 rounding differ) in `make test-all`.
pytestmark = [pytest.mark.backend, pytest.mark.slow_elsewhere]


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
    outside = np.mean(np.abs(truncated) > bound * (1 + 1e-6))
    if keras.backend.backend() == "torch":
        # Keras's torch sampler draws 4 normals per weight and keeps the first inside ±2σ';
        # when none is (probability 0.0455**4 ≈ 4.3e-6) it keeps the first draw as it is.
        assert outside < 1e-4
    else:
        assert outside == 0
    assert np.mean(np.abs(plain) > bound) > 0.015  # P(|z| > 2.27) ≈ 0.023 for a plain normal
    assert plain.std() == pytest.approx(math.sqrt(2 / fan_in), rel=0.02)
    model = baseline_cnn((8, 8, 1), 10, filters=(256,))
    conv = model.get_layer("conv_0")
    assert isinstance(conv.kernel_initializer, HeNormal)


# --- Slips with content (seeds 001-004), rows 27-41 of docs/notes_vs_keras.md ---------------


def _keras_steps(optimizer, theta0, grad, steps):
    """Run ``optimizer`` on one variable for ``steps`` steps of ``grad(theta)``."""
    var = keras.Variable(np.asarray(theta0, dtype="float32"))
    path = []
    for _ in range(steps):
        g = grad(to_numpy(var)).astype("float32")
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(g), var)])
        path.append(to_numpy(var).copy())
    return np.array(path)


def test_adam_seed_003_uses_the_previous_gradient_g_k():
    # Seed 003 defines g_{k+1} as the gradient at θ_k, then updates m_{k+1} and v_{k+1}
    # with g_k: the gradient of the previous iterate (and, at k = 0, a g_0 that does not
    # exist). Kingma & Ba, and Keras, use the gradient at the current iterate.
    b1, b2, lr, eps = 0.9, 0.999, 0.1, 1e-7
    grad = lambda th: th  # f(θ) = ½θ²  # noqa: E731
    theta0, steps = np.array([1.0]), 5

    def numpy_adam(lagged):
        th, m, v, previous = theta0.copy(), 0.0, 0.0, np.zeros(1)  # g_0 := 0
        path = []
        for t in range(1, steps + 1):
            g = previous if lagged else grad(th)
            previous = grad(th)
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            th = th - lr * math.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(v) + eps)
            path.append(th.copy())
        return np.array(path)

    keras_path = _keras_steps(keras.optimizers.Adam(lr), theta0, grad, steps)
    np.testing.assert_allclose(keras_path, numpy_adam(lagged=False), rtol=1e-5)
    lagged = numpy_adam(lagged=True)
    assert lagged[0, 0] == theta0[0]  # the note's first step does not move (g_0 = 0)
    assert np.max(np.abs(lagged - keras_path)) > 0.05


def test_standardised_features_are_95_percent_in_minus_2_2_only_when_gaussian():
    # Seed 002: after standardisation "95 % des valeurs seront comprises dans [−2, 2]".
    # True for a Gaussian feature (95.45 %); Chebyshev only guarantees ≥ 75 %, and a
    # three-valued feature gets close to that bound.
    rng = np.random.default_rng(0)
    n = 20_000
    gauss = rng.normal(size=n)
    uniform = rng.uniform(size=n)
    three = rng.choice([-1.0, 0.0, 1.0], size=n, p=[0.12, 0.76, 0.12])
    x = np.stack([gauss, uniform, three], axis=1).astype("float32")
    layer = keras.layers.Normalization()
    layer.adapt(x)
    z = to_numpy(layer(x))
    inside = np.mean(np.abs(z) <= 2.0, axis=0)
    assert inside[0] == pytest.approx(0.9545, abs=0.01)  # Gaussian: the note's 95 %
    assert inside[1] == 1.0  # uniform: |z| ≤ √3 always
    assert 0.75 <= inside[2] < 0.78  # three values: Chebyshev's 75 %, not 95 %


def test_bias_variance_trade_off_is_over_complexity_and_training_time_lowers_bias():
    # Seed 002: "si la variance baisse au cours du temps, le biais lui augmente". The
    # trade-off is over model complexity; along gradient-descent training of one model the
    # bias falls and the variance rises (early stopping regularises). NumPy, many data sets.
    rng = np.random.default_rng(0)
    x = np.linspace(-1, 1, 20)
    truth = np.sin(3 * x)
    feats = np.stack([x**k for k in range(10)], axis=1)
    ys = truth[:, None] + rng.normal(scale=0.3, size=(len(x), 400))  # 400 data sets
    w = np.zeros((10, ys.shape[1]))
    bias2, variance = [], []
    for step in range(1, 3001):  # gradient descent on every data set at once, lr 0.2
        w -= 0.2 * feats.T @ (feats @ w - ys) / len(x)
        if step in (10, 100, 1000, 3000):
            preds = feats @ w
            bias2.append(np.mean((preds.mean(1) - truth) ** 2))
            variance.append(np.mean(preds.var(1)))
    assert all(a > b for a, b in zip(bias2, bias2[1:], strict=False))  # bias falls
    assert all(a < b for a, b in zip(variance, variance[1:], strict=False))  # variance rises
    # The trade-off itself: least squares of degree 1, 3, 9 on the same data sets.
    by_degree = []
    for degree in (1, 3, 9):
        coef = np.linalg.lstsq(feats[:, :degree + 1], ys, rcond=None)[0]
        preds = feats[:, :degree + 1] @ coef
        by_degree.append((np.mean((preds.mean(1) - truth) ** 2), np.mean(preds.var(1))))
    assert by_degree[0][0] > by_degree[1][0] > by_degree[2][0]  # bias falls with degree
    assert by_degree[0][1] < by_degree[1][1] < by_degree[2][1]  # variance rises


def test_dropout_masks_of_d_units_are_2_to_the_d_including_the_empty_one():
    # Seed 002: "2^D sous-réseaux", then "2^32 − 1" for a 32-unit layer. Dropout can drop
    # every unit of the layer (probability p^D), so Keras samples all 2^D masks; 2^32 − 1
    # leaves out the empty network, which the 2^D count includes.
    d, rate = 4, 0.5
    x = np.ones((4000, d), dtype="float32")
    masks = to_numpy(keras.layers.Dropout(rate, seed=3)(x, training=True)) > 0
    patterns = {tuple(row) for row in masks.astype(int)}
    assert len(patterns) == 2**d
    assert (0,) * d in patterns  # the empty sub-network happens
    assert 2**32 - 1 == 4294967295 and 2**32 - (2**32 - 1) == 1


def test_nesterov_gradient_is_taken_at_theta_plus_alpha_previous_step():
    # Seed 002's prose evaluates the gradient "à ϑ + αΔw(t)", its formula at
    # ϑ + αΔw(t − 1). Only the formula is explicit, and it is what Keras's SGD(nesterov)
    # does; the prose, read literally, is an implicit equation in Δw(t), solved here for
    # f(θ) = ½hθ²: Δ = (αΔ_prev − ηhθ)/(1 + ηhα), another trajectory.
    eta, alpha, h, steps = 0.1, 0.9, 4.0, 6
    grad = lambda th: h * th  # noqa: E731
    theta0 = np.array([1.0])

    def numpy_nesterov(implicit):
        th, delta, path = theta0.copy(), np.zeros(1), []
        for _ in range(steps):
            if implicit:
                delta = (alpha * delta - eta * h * th) / (1 + eta * h * alpha)
            else:
                delta = alpha * delta - eta * grad(th + alpha * delta)
            th = th + delta
            path.append(th + alpha * delta)  # Keras stores the look-ahead point θ + αΔ
        return np.array(path)

    keras_path = _keras_steps(keras.optimizers.SGD(eta, momentum=alpha, nesterov=True),
                              theta0, grad, steps)
    np.testing.assert_allclose(keras_path, numpy_nesterov(implicit=False), rtol=1e-5,
                               atol=1e-6)
    assert np.max(np.abs(numpy_nesterov(implicit=True) - keras_path)) > 0.05


def test_dropout_can_be_added_inside_a_pretrained_network():
    # Seed 002: "il n'est pas possible de rajouter des couches de dropout dans la partie
    # entraînée" of a pretrained model. It is possible: the trained layers are reused as
    # they are; at inference the network is unchanged, in training the pretrained features
    # are now dropped (which is why one usually keeps dropout to the new head).
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(16, activation="relu", name="pretrained")(inputs)
    source = keras.Model(inputs, keras.layers.Dense(3, name="head")(hidden))
    x = np.random.default_rng(0).normal(size=(32, 6)).astype("float32")
    inputs2 = keras.Input((6,))
    h2 = source.get_layer("pretrained")(inputs2)
    h2 = keras.layers.Dropout(0.5, seed=1)(h2)  # inside the pretrained part
    with_dropout = keras.Model(inputs2, source.get_layer("head")(h2))
    np.testing.assert_allclose(to_numpy(with_dropout(x, training=False)),
                               to_numpy(source(x, training=False)), rtol=1e-6)
    assert not np.allclose(to_numpy(with_dropout(x, training=True)), to_numpy(source(x)))


def test_seed_003_bias_init_is_pytorchs_not_zero():
    # Seed 003: b_0 = (1/√n_in)·U[−1, 1] (PyTorch's default Linear bias); seeds 000 and 002
    # initialise biases to 0, as Keras's Dense does. Both are valid choices; they differ.
    n_in, n_out = 64, 20_000
    layer = keras.layers.Dense(n_out)
    layer.build((None, n_in))
    assert np.all(to_numpy(layer.bias) == 0.0)  # Keras, seeds 000/002
    bound = 1 / math.sqrt(n_in)
    torch_bias = keras.initializers.RandomUniform(-bound, bound, seed=0)((n_out,))
    b = to_numpy(torch_bias)
    assert np.abs(b).max() <= bound
    assert b.std() == pytest.approx(bound / math.sqrt(3), rel=0.03)  # std of U[−a, a]


def test_selu_self_normalises_only_with_lecun_init_and_alpha_dropout():
    # Seed 004: SELU "peut remplacer BatchNorm". Klambauer et al.'s fixed point (mean 0,
    # variance 1) needs LeCun-normal weights and standardised inputs in a fully connected
    # net, and AlphaDropout instead of Dropout. Measured on a 32-layer SELU MLP.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 128)).astype("float32")

    def last_activation(init, dropout=None):
        keras.utils.set_random_seed(1)
        h = keras.ops.convert_to_tensor(x)
        for _ in range(32):
            h = keras.layers.Dense(128, activation="selu", kernel_initializer=init)(h)
            if dropout is not None:
                h = dropout(h, training=True)
        return to_numpy(h)

    lecun = last_activation("lecun_normal")
    assert abs(lecun.mean()) < 0.1 and abs(lecun.var() - 1) < 0.15
    he = last_activation("he_normal")
    assert he.var() > 2.0  # the fixed point is lost
    alpha = last_activation("lecun_normal", keras.layers.AlphaDropout(0.1, seed=2))
    plain = last_activation("lecun_normal", keras.layers.Dropout(0.1, seed=2))
    assert abs(alpha.var() - 1) < abs(plain.var() - 1)
    assert abs(alpha.var() - 1) < 0.25


# --- Smaller slips (docs/notes_vs_keras.md, "Smaller slips") -------------------------------


def test_adam_seed_001_single_beta_without_bias_correction():
    # Seed 001's Adam slide: one β for both moments, no bias correction. Its first step is
    # lr·(1 − β)g/(√(1 − β)·|g| + ε) = lr·√(1 − β)·sign(g) (≈ 0.32·lr at β = 0.9); Keras's
    # corrected Adam (here with β1 = β2 = β) steps by lr·sign(g).
    beta, lr, g = 0.9, 0.1, 2.0
    note_step = lr * (1 - beta) * g / (math.sqrt((1 - beta) * g * g) + 1e-7)
    assert note_step == pytest.approx(lr * math.sqrt(1 - beta), rel=1e-5)
    path = _keras_steps(keras.optimizers.Adam(lr, beta_1=beta, beta_2=beta), np.array([0.0]),
                        lambda th: np.array([g]), 1)
    assert -path[0, 0] == pytest.approx(lr, rel=1e-4)


def test_adagrad_accumulates_squared_gradients():
    # Seed 000's prose: "somme des gradients"; its formula (r ← r + g⊙g) and Keras: squares.
    opt = keras.optimizers.Adagrad(0.1, initial_accumulator_value=0.0)
    var = keras.Variable(np.zeros(2, dtype="float32"))
    grads = [np.array([1.0, -2.0]), np.array([-3.0, 0.5])]
    for g in grads:
        opt.apply_gradients([(keras.ops.convert_to_tensor(g.astype("float32")), var)])
    accumulator = next(to_numpy(v) for v in opt.variables if v.shape == (2,))
    np.testing.assert_allclose(accumulator, sum(g * g for g in grads), rtol=1e-6)
    assert not np.allclose(accumulator, sum(grads))


def test_rmsprop_rule_has_a_delta_even_if_the_table_omits_it():
    # Seed 000's hyperparameter table lists δ for Adagrad and Adam, not RMSprop, whose rule
    # divides by δ + √r. Keras's RMSprop has it (epsilon, under the root).
    import inspect

    for cls in (keras.optimizers.Adagrad, keras.optimizers.RMSprop, keras.optimizers.Adam):
        assert "epsilon" in inspect.signature(cls).parameters


def test_rmsprop_momentum_without_delta_divides_zero_by_zero():
    # Seed 000 §7-8: v ← αv − ε/√r ⊙ g, no δ. A parameter whose gradient is 0 at the first
    # step has r = 0: the note's step is 0/0 = NaN; Keras keeps ε under the root.
    g = np.array([1.0, 0.0])
    r = (1 - 0.9) * g * g
    with np.errstate(divide="ignore", invalid="ignore"):
        note = -0.01 / np.sqrt(r) * g
    assert np.isnan(note[1])
    path = _keras_steps(keras.optimizers.RMSprop(0.01, rho=0.9, momentum=0.9),
                        np.zeros(2), lambda th: g, 2)
    assert np.all(np.isfinite(path)) and path[-1, 1] == 0.0


def test_rmsprop_rho_1_freezes_r_at_zero():
    # Seed 000: ρ ∈ [0, 1]. At ρ = 1, r ← 1·r + 0·g² stays 0: the step is lr·g/√ε in
    # Keras (≈ 3162·lr·g at ε = 1e-7), lr·g/δ with the note's δ, and g/0 without one.
    lr, g = 1e-3, 0.5
    path = _keras_steps(keras.optimizers.RMSprop(lr, rho=1.0), np.zeros(1),
                        lambda th: np.array([g]), 1)
    assert -path[0, 0] == pytest.approx(lr * g / math.sqrt(1e-7), rel=1e-3)


def test_l2_lambda_is_not_learnable():
    # Seed 002: "λ est un hyperparamètre apprenable". Descending J + λ‖w‖² in λ too: the
    # gradient in λ is ‖w‖² ≥ 0, so λ only falls, through 0 and below (no regularisation).
    w, lam = np.array([1.0, -2.0]), 0.1
    for _ in range(10):
        lam -= 0.05 * float(w @ w)
    assert lam < 0


def test_constant_init_gives_identical_gradients_to_twin_units():
    # Seed 000's derivation "−∂J/w11 = ..." (stray minus, missing ∂): what it shows, pinned
    # with Keras's gradient: two hidden units with the same weights get the same gradient.
    x = np.array([[1.0, 2.0], [0.5, -1.0]], dtype="float32")
    w1 = np.full((2, 2), 0.3)
    w2 = np.full((2, 1), 0.7)
    h = np.tanh(x @ w1)
    out = h @ w2
    dout = 2 * (out - 1.0) / len(x)  # d mean((out − 1)²)
    dw1 = x.T @ ((dout @ w2.T) * (1 - h**2))
    np.testing.assert_allclose(dw1[:, 0], dw1[:, 1])  # columns = the two units


def test_an_8_bit_rgb_image_has_256_levels_per_value_not_2():
    # Seed 000: "I ∈ {0, 255}³" (two levels); an 8-bit image is in {0, …, 255}^(H×W×3),
    # and min-max scaling maps it to [0, 1].
    image = np.arange(256, dtype="uint8").reshape(16, 16, 1).repeat(3, axis=2)
    assert len(np.unique(image)) == 256
    scaled = (image - 0.0) / 255.0
    assert scaled.min() == 0.0 and scaled.max() == 1.0 and len(np.unique(scaled)) == 256


def test_gradient_has_the_dimension_of_theta():
    # Seed 000 writes ∇J ∈ ℝ^d next to θ ∈ ℝ^D: they have the same dimension D.
    var = keras.Variable(np.ones((3, 4), dtype="float32"))
    opt = keras.optimizers.SGD(1.0)
    grad = np.arange(12, dtype="float32").reshape(3, 4)
    opt.apply_gradients([(keras.ops.convert_to_tensor(grad), var)])  # needs the same shape
    np.testing.assert_allclose(to_numpy(var), 1.0 - grad)


def test_minibatch_gradient_standard_error_falls_as_one_over_sqrt_m():
    # Seed 000: a batch of m "réduit l'incertitude du gradient de O(√m)". The standard error
    # of a mean of m per-example gradients is σ/√m: ×4 examples halve it.
    rng = np.random.default_rng(0)
    per_example = rng.normal(loc=1.0, scale=2.0, size=(4000, 64))
    se16 = per_example[:, :16].mean(1).std()
    se64 = per_example.mean(1).std()
    assert se16 == pytest.approx(2.0 / 4.0, rel=0.05)
    assert se16 / se64 == pytest.approx(2.0, rel=0.07)


def test_gradient_descent_leaves_a_maximum():
    # Seed 000: GD is "trop sensible au minimum / maximum locaux". Near a maximum of
    # f(θ) = −θ² the gradient step θ ← θ − ε·(−2θ) moves away from it.
    theta = 1e-3
    path = _keras_steps(keras.optimizers.SGD(0.1), np.array([theta]),
                        lambda th: -2 * th, 10)
    assert abs(path[-1, 0]) > 5 * theta


def test_he_init_is_derived_for_relu_not_for_convolutions():
    # Seed 002: He init is "spécialisée pour les CNN". He et al. derive √(2/fan_in) for
    # ReLU: the second moment of the activations stays put through dense ReLU layers too.
    rng = np.random.default_rng(0)

    def second_moment(std, layers=5, width=512):
        h = rng.normal(size=(2000, width))
        for _ in range(layers):
            h = np.maximum(h @ rng.normal(scale=std, size=(width, width)), 0.0)
        return np.mean(h**2)

    # Var(z) = fan_in·(2/fan_in)·E[h²] = 2·E[h²] and E[relu(z)²] = Var(z)/2: E[h²] is kept
    # (1 at the input); Glorot's 1/fan_avg halves it at every ReLU layer.
    assert second_moment(math.sqrt(2 / 512)) == pytest.approx(1.0, rel=0.25)
    assert second_moment(math.sqrt(1 / 512)) == pytest.approx(0.5**5, rel=0.25)


def test_heavy_ball_momentum_0_999_is_a_1000x_step():
    # Seed 002: "0.9 ≤ α ≤ 0.999". At α = 0.999 heavy ball's long-run step is lr/(1 − α),
    # 1000·lr (10·lr at 0.9): the same lr that converges at 0.9 oscillates for long at 0.999.
    # Heavy ball as seed 002 writes it (Keras's SGD(momentum), pinned by
    # tests/optimizers/test_reference.py): Δ ← αΔ − η·f'(θ), θ ← θ + Δ, f(θ) = θ².
    def final_theta(alpha, steps=200, eta=0.05):
        theta, delta = 1.0, 0.0
        for _ in range(steps):
            delta = alpha * delta - eta * 2.0 * theta
            theta += delta
        return theta

    assert abs(final_theta(0.9)) < 1e-3 and abs(final_theta(0.999)) > 0.1


def test_choi_inclusion_needs_tuning_and_says_nothing_about_speed():
    # Seed 002 (Choi et al.): the most general optimizer "ne peut jamais être la plus
    # mauvaise", also in speed. Only with its hyperparameters tuned: on f(θ) = ½θ², SGD at
    # lr = 1 lands on the minimum in one step while Adam at the same lr is still far after
    # 10; and Adam keeps 3 numbers per parameter where SGD keeps 1.
    grad = lambda th: th  # noqa: E731
    sgd = _keras_steps(keras.optimizers.SGD(1.0), np.array([1.0]), grad, 10)
    adam = _keras_steps(keras.optimizers.Adam(1.0), np.array([1.0]), grad, 10)
    assert abs(sgd[-1, 0]) < 1e-6 < abs(adam[-1, 0])

    def slots(optimizer):
        var = keras.Variable(np.zeros(1000, dtype="float32"))
        optimizer.build([var])
        return sum(int(np.prod(v.shape)) for v in optimizer.variables if v.shape == (1000,))

    assert slots(keras.optimizers.SGD(0.1, momentum=0.9)) == 1000
    assert slots(keras.optimizers.Adam()) == 2000  # plus the parameters: 3D against 2D


def test_sigmoid_is_in_the_open_interval_but_float32_reaches_1():
    # Seed 004: sigmoid "dans l'intervalle [0, 1]". Mathematically (0, 1); in float32 it
    # rounds to exactly 1.0 from x ≈ 17 on, which is why losses clip probabilities.
    assert 0.0 < 1 / (1 + math.exp(-30)) < 1.0
    out = to_numpy(keras.activations.sigmoid(np.array([20.0], dtype="float32")))
    assert out[0] == 1.0


def test_relu_also_suits_non_negative_outputs():
    # Seed 004: ReLU "utilisable uniquement dans les couches cachées". As an output it gives
    # non-negative predictions (counts, prices); it represents y = |x| exactly.
    keras.utils.set_random_seed(0)
    x = np.linspace(-2, 2, 41, dtype="float32")[:, None]
    inputs = keras.Input((1,))
    hidden = keras.layers.Dense(2, activation="relu", use_bias=False)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="relu", use_bias=False)(hidden))
    model.layers[1].set_weights([np.array([[1.0, -1.0]], "float32")])
    model.layers[2].set_weights([np.array([[1.0], [1.0]], "float32")])
    np.testing.assert_allclose(to_numpy(model(x)), np.abs(x), atol=1e-6)


def test_leaky_relu_slope_0_01_is_the_common_default():
    # Seed 004: "α vaut généralement 0.1". Maas et al. (2013) and PyTorch use 0.01; Keras's
    # layer 0.3, its function 0.2. Pass the slope explicitly.
    x = np.array([-2.0, 3.0], dtype="float32")
    out = to_numpy(keras.layers.LeakyReLU(negative_slope=0.01)(x))
    np.testing.assert_allclose(out, np.maximum(0.01 * x, x), rtol=1e-6)
    assert keras.layers.LeakyReLU().negative_slope == pytest.approx(0.3)


DOC = __import__("pathlib").Path(__file__).resolve().parents[1] / "docs" / "notes_vs_keras.md"


@pytest.mark.parametrize("slip, correct", [
    ("S12", "Adam: A Method for Stochastic Optimization"),
    ("S18", "β₁"),
    ("S20", "five"),
    ("S28", "duplicate"),
    ("S36", "1805.11604"),
])
def test_wording_slips_are_stated_with_the_correct_text(slip, correct):
    # Slips of wording only (a title, a count, a date, notation): no formula to compute;
    # the page states each with the correct text.
    rows = [line for line in DOC.read_text().splitlines() if f"| {slip} |" in line]
    assert len(rows) == 1 and correct in rows[0]
