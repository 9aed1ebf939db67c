"""Items of the course notes that had no pinning test, each against an independent reference.

Each test is named in ``docs/seed_audit.md`` on its item's row. References are NumPy written
from the notes' formulas, hand computations or published values, never the code under test.
"""

from __future__ import annotations

import inspect
import math

import keras
import numpy as np
import pytest

# `slow_elsewhere`: TensorFlow checks these items in `make test`; JAX and torch (where only
# the random draws and the float32 rounding differ) in `make test-all`.
pytestmark = pytest.mark.slow_elsewhere


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x), dtype="float64")


def _fit_steps(x, y, batch_size, epochs=1):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0)
    return int(to_numpy(model.optimizer.iterations))


# --- seed 000: optimisation ------------------------------------------------------------------


@pytest.mark.backend
def test_empirical_risk_minimiser_has_a_higher_true_risk():
    # Item 2: minimising the empirical risk J on a sample, hoping the true risk J* follows.
    # Least squares on 30 noisy examples; J* estimated on 100 000 fresh ones.
    rng = np.random.default_rng(0)
    w_true = rng.normal(size=5)

    def sample(n):
        x = rng.normal(size=(n, 5))
        return x, x @ w_true + 0.5 * rng.normal(size=n)

    x, y = sample(30)
    w = np.linalg.lstsq(x, y, rcond=None)[0]
    empirical = np.mean((x @ w - y) ** 2)
    xt, yt = sample(100_000)
    true_risk = np.mean((xt @ w - yt) ** 2)
    assert empirical < 0.25 < true_risk  # J(θ̂) under the noise variance, J*(θ̂) above it


@pytest.mark.backend
def test_batch_gradient_descent_is_one_update_per_pass_with_the_mean_gradient():
    # Items 6, 7: batch GD, d = ε·(1/N)Σ∇L, one update per pass over the data.
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 3)).astype("float32")
    y = rng.normal(size=(40, 1)).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    w0, b0 = (to_numpy(v) for v in model.get_weights())
    model.fit(x, y, batch_size=40, epochs=1, verbose=0, shuffle=False)
    assert int(to_numpy(model.optimizer.iterations)) == 1
    residual = x @ w0 + b0 - y  # d/dw mean((xw + b − y)²) = (2/N) xᵀ r
    np.testing.assert_allclose(to_numpy(model.get_weights()[0]),
                               w0 - 0.1 * 2 * x.T @ residual / 40, rtol=1e-4, atol=1e-6)


@pytest.mark.backend
def test_rmsprop_first_steps_are_large_because_r_starts_at_zero():
    # Item 25: r is biased towards 0 early. At ρ = 0.99, r₁ = 0.01·g², so the first step is
    # lr·g/√(0.01 g²) = 10·lr whatever g (Adam's bias correction removes this).
    var = keras.Variable(np.zeros(1, dtype="float32"))
    keras.optimizers.RMSprop(1e-3, rho=0.99).apply_gradients(
        [(keras.ops.convert_to_tensor(np.array([0.02], "float32")), var)])
    step = 1e-3 * 0.02 / math.sqrt(0.01 * 0.02**2 + 1e-7)  # Keras: ε under the root
    assert -to_numpy(var)[0] == pytest.approx(step, rel=1e-4)
    assert step == pytest.approx(10 * 1e-3, rel=0.02)


def test_adam_defaults_are_seed_000s():
    # Item 28: ρ₁ = 0.9, ρ₂ = 0.999.
    adam = keras.optimizers.Adam()
    assert (adam.beta_1, adam.beta_2) == (0.9, 0.999)


@pytest.mark.backend
def test_bias_correction_worked_example():
    # Items 20, 29: v₁ = 0.01·y₁, v₂ = 0.0099·y₁ + 0.01·y₂ at ρ = 0.99; corrected,
    # v̂₂ = (0.0099·y₁ + 0.01·y₂)/0.0199 = 0.4975·y₁ + 0.5025·y₂ (the note: 0.497, 0.503).
    from keras_recipes.plotting import smooth

    assert 0.0099 / (1 - 0.99**2) == pytest.approx(0.4975, abs=1e-4)
    for y1, y2 in ((1.0, 0.0), (0.0, 1.0)):
        s = smooth([y1, y2], weight=0.99)
        assert s[0] == pytest.approx(y1)  # v̂₁ = v₁/(1 − 0.99) = y₁
        assert s[1] == pytest.approx((0.0099 * y1 + 0.01 * y2) / 0.0199, rel=1e-12)


@pytest.mark.parametrize("cls, names", [
    (keras.optimizers.SGD, {"learning_rate", "momentum", "nesterov"}),
    (keras.optimizers.Adagrad, {"learning_rate", "epsilon"}),
    (keras.optimizers.RMSprop, {"learning_rate", "rho", "momentum", "epsilon"}),
    (keras.optimizers.Adam, {"learning_rate", "beta_1", "beta_2", "epsilon"}),
])
def test_hyperparameter_column_of_the_table(cls, names):
    # Item 31: each algorithm's hyperparameters (ε → learning_rate, α → momentum,
    # ρ → rho/beta, δ → epsilon) are its Keras constructor's arguments.
    assert names <= set(inspect.signature(cls).parameters)


def test_beta_choices_of_strategy_1():
    # Item 42: β ∈ {0.1, 0.2, 0.5}: from ε₀ = 0.1, reaching 1e-4 takes 3 plateaus at 0.1,
    # 5 at 0.2, 10 at 0.5 (β → 0 fast, β → 1 slow); each is a valid factor.
    from keras_recipes.callbacks import ReduceLROnPlateau

    needed = {b: math.ceil(math.log(1e-4 / 0.1) / math.log(b) - 1e-9) for b in (0.1, 0.2, 0.5)}
    assert needed == {0.1: 3, 0.2: 5, 0.5: 10}
    for beta in needed:
        assert ReduceLROnPlateau(factor=beta).factor == beta


@pytest.mark.backend
def test_inverse_decay_example_of_seed_000():
    # Item 48: ε₀ = 0.1, β = 0.1, ε_t = ε₀/(1 + β t_e): 0.1, 0.0909, 0.05 at t_e = 0, 1, 10.
    sched = keras.optimizers.schedules.InverseTimeDecay(0.1, decay_steps=1, decay_rate=0.1)
    got = [float(to_numpy(sched(t))) for t in (0, 1, 10, 90)]
    np.testing.assert_allclose(got, [0.1 / (1 + 0.1 * t) for t in (0, 1, 10, 90)], rtol=1e-6)
    assert got[2] == pytest.approx(0.05) and got[3] == pytest.approx(0.01)


# --- seed 000: initialisation ---------------------------------------------------------------


@pytest.mark.backend
def test_sigmoid_of_minus_a_million_saturates_with_zero_gradient():
    # Item 60: sigmoid(−10⁶·1) = 0, and σ' = σ(1 − σ) = 0 there: nothing learns.
    s = float(to_numpy(keras.activations.sigmoid(np.array([-1e6], "float32")))[0])
    assert s == 0.0 and s * (1 - s) == 0.0


@pytest.mark.backend
def test_glorot_suits_tanh_and_he_suits_relu():
    # Item 66: through 10 layers of width 256, Glorot (var 1/fan_avg) keeps tanh units
    # mostly unsaturated and He (var 2/fan_in) keeps ReLU's second moment; swapped, ReLU
    # under Glorot halves it at every layer.
    rng = np.random.default_rng(0)

    def run(act, var, layers=10, width=256):
        h = rng.normal(size=(2000, width))
        for _ in range(layers):
            h = act(h @ rng.normal(scale=math.sqrt(var), size=(width, width)))
        return h

    tanh_glorot = run(np.tanh, 1 / 256)
    assert np.mean(np.abs(tanh_glorot) > 0.99) < 0.05 and tanh_glorot.std() > 0.2
    relu = lambda z: np.maximum(z, 0)  # noqa: E731
    assert np.mean(run(relu, 2 / 256) ** 2) == pytest.approx(1.0, rel=0.3)
    assert np.mean(run(relu, 1 / 256) ** 2) < 0.01


@pytest.mark.backend
def test_keras_dense_defaults_are_glorot_uniform_and_zeros():
    # Item 168: TF/Keras defaults, and how to switch.
    layer = keras.layers.Dense(4)
    assert type(layer.kernel_initializer).__name__ == "GlorotUniform"
    assert type(layer.bias_initializer).__name__ == "Zeros"
    he = keras.layers.Dense(4, kernel_initializer="he_normal")
    assert type(he.kernel_initializer).__name__ == "HeNormal"


# --- seed 001 ---------------------------------------------------------------------------------


@pytest.mark.backend
@pytest.mark.parametrize("batch_size, expected", [(1, 45), (8, 6), (45, 1)])
def test_one_epoch_is_ceil_n_over_m_iterations(batch_size, expected):
    # Items 112, 114: X{1}, …, X{T} with T = ⌈n/m⌉; m = 1 is SGD (n updates), m = n
    # classic gradient descent (1 update).
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(45, 2)).astype("float32"), rng.normal(size=(45, 1)).astype("float32")
    assert _fit_steps(x, y, batch_size) == expected == math.ceil(45 / batch_size)


@pytest.mark.backend
def test_ema_with_beta_0_9_averages_about_10_values():
    # Item 120: weights (1 − β)β^k; with β = 0.9 the last 10 values carry 1 − 0.9¹⁰ = 65 %
    # of the weight, and the weights sum to 1 with mean age β/(1 − β) = 9 (≈ 1/(1 − β) = 10).
    beta = 0.9
    weights = (1 - beta) * beta ** np.arange(1000)
    assert weights[:10].sum() == pytest.approx(1 - beta**10)
    assert weights.sum() == pytest.approx(1.0)
    assert (weights * np.arange(1000)).sum() == pytest.approx(beta / (1 - beta))


@pytest.mark.backend
def test_ngs_adam_with_correction_is_keras_adam():
    # Item 122: V ← β₁V + (1 − β₁)dW, S ← β₂S + (1 − β₂)dW², corrected, W ← W −
    # αV^corr/(√S^corr + ε). Keras's ε-hat form equals it up to ε's placement (tiny ε).
    b1, b2, lr, eps = 0.9, 0.999, 0.01, 1e-8
    grads = [0.5, -1.0, 2.0, 0.1]
    w, v, s = 1.0, 0.0, 0.0
    for t, g in enumerate(grads, start=1):
        v, s = b1 * v + (1 - b1) * g, b2 * s + (1 - b2) * g * g
        w -= lr * (v / (1 - b1**t)) / (math.sqrt(s / (1 - b2**t)) + eps)
    var = keras.Variable(np.array([1.0], "float32"))
    opt = keras.optimizers.Adam(lr, epsilon=1e-10)
    for g in grads:
        opt.apply_gradients([(keras.ops.convert_to_tensor(np.array([g], "float32")), var)])
    assert to_numpy(var)[0] == pytest.approx(w, rel=1e-5)


# --- seed 002 ---------------------------------------------------------------------------------


@pytest.mark.backend
def test_keras_mse_averages_over_outputs_too():
    # Item 129: MSE = (1/k)Σᵢ‖ŷᵢ − yᵢ‖². Keras also divides by the output dimension d:
    # its mse is (1/(k·d))Σᵢ‖ŷᵢ − yᵢ‖², the note's divided by d.
    rng = np.random.default_rng(0)
    y, p = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    note = np.sum((p - y) ** 2) / 6
    got = float(to_numpy(keras.losses.MeanSquaredError()(y, p)))
    assert got == pytest.approx(note / 3, rel=1e-5)


@pytest.mark.backend
def test_mse_is_variance_plus_bias_squared_plus_noise():
    # Items 130, 131: E(ŷ − y)² = Var(ŷ) + Biais(ŷ)² + σ² (the note leaves σ² out: it is
    # the expected error against the true function). Ridge-shrunk estimates of a mean.
    rng = np.random.default_rng(0)
    mu, sigma, n = 2.0, 1.0, 10
    estimates = 0.8 * rng.normal(mu, sigma, size=(200_000, n)).mean(1)  # biased: 0.8·x̄
    var = estimates.var()
    bias = estimates.mean() - mu
    mse_truth = np.mean((estimates - mu) ** 2)
    assert mse_truth == pytest.approx(var + bias**2, rel=1e-9)
    assert bias == pytest.approx(-0.2 * mu, abs=0.01) and var == pytest.approx(0.64 / n, rel=0.02)
    y_new = mu + sigma * rng.normal(size=estimates.shape)  # a new noisy target
    assert np.mean((estimates - y_new) ** 2) == pytest.approx(var + bias**2 + sigma**2,
                                                               rel=0.01)


@pytest.mark.backend
def test_gaussian_noise_layer_injects_noise_in_training_only():
    # Item 134: noise injection against overfitting, Keras's GaussianNoise.
    x = np.zeros((2000, 4), "float32")
    layer = keras.layers.GaussianNoise(0.3, seed=0)
    assert to_numpy(layer(x, training=True)).std() == pytest.approx(0.3, rel=0.05)
    np.testing.assert_array_equal(to_numpy(layer(x, training=False)), x)


def test_keras_early_stopping_defaults_are_the_notes():
    # Item 137: the signature the note quotes is Keras's; the library differs only in
    # restore_best_weights (True, documented).
    keras_args = inspect.signature(keras.callbacks.EarlyStopping).parameters
    quoted = {"monitor": "val_loss", "min_delta": 0, "patience": 0, "verbose": 0,
              "mode": "auto", "baseline": None, "restore_best_weights": False}
    assert {k: keras_args[k].default for k in quoted} == quoted
    from keras_recipes.callbacks import EarlyStopping

    ours = inspect.signature(EarlyStopping).parameters
    assert {k: ours[k].default for k in quoted if k != "restore_best_weights"} == \
        {k: v for k, v in quoted.items() if k != "restore_best_weights"}
    assert ours["restore_best_weights"].default is True


def test_steamroller_overfits_first_then_adds_dropout(tmp_path):
    # Item 147: dropout hurts a model that does not overfit: stage 1 has none, stage 2 adds it.
    from keras_recipes.workflows import SteamrollerConfig

    first, second = SteamrollerConfig(out=tmp_path).stages()[:2]
    assert first.dropout == 0 and first.augment == 0
    assert second.dropout > 0


@pytest.mark.backend
def test_replace_head_puts_dropout_in_the_new_head_only():
    # Item 148: the kept layers have no dropout; replace_head(dropout=) adds one in the head.
    from keras_recipes.transfer import replace_head

    keras.utils.set_random_seed(0)
    source = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                               keras.layers.Dense(3, activation="softmax")])
    model = replace_head(source, 4, dropout=0.5)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("Dropout") == 1
    assert kinds.index("Dropout") > kinds.index("Dense")  # after the kept Dense layer
    assert model.output_shape == (None, 4)


@pytest.mark.backend
def test_batchnorm_on_images_is_per_channel_over_n_h_w():
    # Item 156: for (N, H, W, C) inputs, one mean and variance per channel over N·H·W.
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(8, 5, 5, 3)) * [1.0, 2.0, 3.0] + [0.0, 1.0, -2.0]).astype("float32")
    bn = keras.layers.BatchNormalization(epsilon=1e-5)
    out = to_numpy(bn(x, training=True))
    mu, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    np.testing.assert_allclose(out, (x - mu) / np.sqrt(var + 1e-5), rtol=1e-4, atol=1e-4)
    assert bn.moving_mean.shape == (3,)


# --- seed 003 ---------------------------------------------------------------------------------


@pytest.mark.backend
def test_regression_and_classification_losses_are_the_formulas():
    # Items 181, 182: squared error, absolute error, cross-entropy −log ŷ_target, hinge
    # max(0, 1 − y·ŷ) with y ∈ {−1, 1}.
    y = np.array([[1.0], [-2.0]])
    p = np.array([[0.5], [1.0]])
    assert float(to_numpy(keras.losses.mean_squared_error(y, p)).mean()) == \
        pytest.approx(np.mean((y - p) ** 2))
    assert float(to_numpy(keras.losses.mean_absolute_error(y, p)).mean()) == \
        pytest.approx(np.mean(np.abs(y - p)))
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    labels = np.array([0, 2])
    ce = to_numpy(keras.losses.sparse_categorical_crossentropy(labels, probs))
    np.testing.assert_allclose(ce, -np.log(probs[[0, 1], labels]), rtol=1e-5)
    t, s = np.array([[1.0], [-1.0]]), np.array([[0.3], [0.5]])
    np.testing.assert_allclose(to_numpy(keras.losses.hinge(t, s)),
                               np.maximum(0, 1 - t * s)[:, 0], rtol=1e-6)


@pytest.mark.backend
def test_combined_loss_is_the_weighted_sum():
    # Item 183: a classification and a regression output trained together.
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    h = keras.layers.Dense(8, activation="relu")(inputs)
    model = keras.Model(inputs, {"cls": keras.layers.Dense(3, activation="softmax",
                                                           name="cls")(h),
                                 "reg": keras.layers.Dense(1, name="reg")(h)})
    model.compile("sgd", loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"},
                  loss_weights={"cls": 1.0, "reg": 0.5})
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4)).astype("float32")
    yc, yr = rng.integers(0, 3, 16), rng.normal(size=(16, 1)).astype("float32")
    total = model.evaluate(x, {"cls": yc, "reg": yr}, verbose=0, batch_size=16,
                           return_dict=True)["loss"]
    out = model.predict(x, verbose=0)
    ce = -np.log(out["cls"][np.arange(16), yc]).mean()
    mse = np.mean((out["reg"] - yr) ** 2)
    assert total == pytest.approx(ce + 0.5 * mse, rel=1e-4)


@pytest.mark.backend
def test_backprop_chain_rule_matches_finite_differences():
    # Item 185: ∂L/∂W₁ = xᵀ[(δ₂W₂ᵀ) ⊙ σ'(z₁)] for L = ½‖σ(xW₁)W₂ − y‖², by hand vs numerically.
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    w1, w2 = rng.normal(size=(3, 4)), rng.normal(size=(4, 2))

    def loss(w1):
        return 0.5 * np.sum((np.tanh(x @ w1) @ w2 - y) ** 2)

    h = np.tanh(x @ w1)
    delta2 = h @ w2 - y
    grad = x.T @ ((delta2 @ w2.T) * (1 - h**2))
    numeric = np.zeros_like(w1)
    for idx in np.ndindex(w1.shape):
        e = np.zeros_like(w1)
        e[idx] = 1e-6
        numeric[idx] = (loss(w1 + e) - loss(w1 - e)) / 2e-6
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


def _random_labels(n, features, classes):
    """``n`` standard-normal inputs with uniformly random labels (NumPy seed 0); seeds Keras
    with 0 for the model built next."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, features)).astype("float32")
    y = rng.integers(0, classes, n)
    keras.utils.set_random_seed(0)
    return x, y


@pytest.mark.backend
def test_a_network_memorises_random_labels_of_one_minibatch():
    # Item 199 (Zhang et al.): random labels reach (near) zero training loss.
    from keras_recipes.workflows.steamroller.minibatch import overfit_minibatch

    x, y = _random_labels(32, 16, 4)
    net = keras.Sequential([keras.Input((16,)), keras.layers.Dense(64, activation="relu"),
                            keras.layers.Dense(4, activation="softmax")])
    net.compile("adam", "sparse_categorical_crossentropy")
    check = overfit_minibatch(net, x, y, learning_rate=1e-2, batch_size=32, steps=200)
    assert check["passed"] and check["last_loss"] <= 0.01


@pytest.mark.backend
def test_conv2d_is_cross_correlation_with_stride_and_padding():
    # Item 200: Keras Conv2D computes Σ x[i+u, j+v]·k[u, v] (no kernel flip); "same"
    # padding keeps the size at stride 1; stride 2 halves it; K filters give K maps.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 5, 5, 1)).astype("float32")
    k = rng.normal(size=(3, 3, 1, 2)).astype("float32")
    conv = keras.layers.Conv2D(2, 3, use_bias=False)
    conv.build(x.shape)
    conv.set_weights([k])
    out = to_numpy(conv(x))
    ref = np.zeros((3, 3, 2))
    for i in range(3):
        for j in range(3):
            ref[i, j] = np.tensordot(x[0, i:i + 3, j:j + 3, 0], k[:, :, 0, :], axes=2)
    np.testing.assert_allclose(out[0], ref, rtol=1e-5, atol=1e-5)
    assert keras.layers.Conv2D(2, 3, padding="same")(x).shape == (1, 5, 5, 2)
    assert keras.layers.Conv2D(2, 3, strides=2, padding="same")(x).shape == (1, 3, 3, 2)


# --- seed 004: schedules ------------------------------------------------------------------------


@pytest.mark.backend
def test_resnet_step_decay_values():
    # Item 221: ResNet ×0.1 at epochs 30, 60, 90 from 0.1.
    from keras_recipes.schedules import MultiStepDecay

    sched = MultiStepDecay([30, 60, 90], factor=0.1, initial_learning_rate=0.1,
                           steps_per_epoch=10)
    got = [float(to_numpy(sched(e * 10))) for e in (0, 29, 30, 59, 60, 90, 120)]
    np.testing.assert_allclose(got, [0.1, 0.1, 0.01, 0.01, 1e-3, 1e-4, 1e-4], rtol=1e-6)


@pytest.mark.backend
def test_pytorch_step_lr_and_constant_lr_mappings():
    # Item 228: StepLR(step_size, gamma) = Keras ExponentialDecay(staircase=True);
    # MultiStepLR = MultiStepDecay (pinned elsewhere); ConstantLR/LambdaLR: a float rate or a
    # schedule object.
    sched = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=5, decay_rate=0.5,
                                                        staircase=True)
    got = [float(to_numpy(sched(t))) for t in range(12)]
    step_lr = [0.1 * 0.5 ** (t // 5) for t in range(12)]  # PyTorch StepLR's formula
    np.testing.assert_allclose(got, step_lr, rtol=1e-6)


@pytest.mark.backend
def test_deepseek_schedule_with_its_2000_step_warm_up():
    # Item 230: linear warm-up over 2000 steps to the peak, 31.6 % of it at 80 % of the
    # steps, 10 % at 90 % (DeepSeek LLM, 2024).
    from keras_recipes.schedules import MultiStepDecay, Warmup

    total, peak = 10_000, 4.2e-4
    after = MultiStepDecay([int(0.8 * total) - 2000, int(0.9 * total) - 2000],
                           values=[peak, 0.316 * peak, 0.1 * peak])
    sched = Warmup(after, warmup_steps=2000)
    got = {t: float(to_numpy(sched(t))) for t in (0, 1000, 2000, 7999, 8000, 9000, 9999)}
    assert got[0] == 0.0 and got[1000] == pytest.approx(peak / 2, rel=1e-5)
    assert got[2000] == pytest.approx(peak) and got[7999] == pytest.approx(peak)
    assert got[8000] == pytest.approx(0.316 * peak) and got[9000] == pytest.approx(0.1 * peak)


# --- workflows: overfit one minibatch, the staircase, strategy #1 ------------------------------


def _frozen_net(num_classes=2, width=8):
    """A softmax net whose logits are scaled by 1e-3: it can rank the classes (accuracy)
    but its loss cannot leave ln C within a few hundred steps."""
    def build(input_shape, num_classes=num_classes):
        return keras.Sequential([keras.Input(input_shape), keras.layers.Flatten(),
                                 keras.layers.Dense(num_classes),
                                 keras.layers.Rescaling(1e-3),
                                 keras.layers.Softmax()])
    return build


@pytest.mark.backend
def test_overfit_minibatch_restores_the_model_and_fails_a_network_that_cannot_fit():
    # Item 191: "overfit one minibatch to zero training loss". A sound net reaches ≤ 0.01;
    # one whose logits are scaled by 1e-3 stays near ln 2 at every rate tried, and the
    # model is restored exactly after the check.
    from keras_recipes.workflows.steamroller.minibatch import failure_reason, overfit_minibatch

    x, y = _random_labels(40, 6, 2)
    broken = _frozen_net()((6,))
    broken.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    before = [w.copy() for w in broken.get_weights()]
    check = overfit_minibatch(broken, x, y, learning_rate=1e-2, batch_size=16, steps=30)
    assert not check["passed"] and check["examples"] == 16
    assert [a["learning_rate"] for a in check["attempts"]] == pytest.approx([1e-2, 1e-1, 1e-3])
    assert check["last_loss"] == pytest.approx(math.log(2), abs=0.05)
    for a, b in zip(before, broken.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert int(to_numpy(broken.optimizer.iterations)) == 0
    assert "did not fall to near zero (<= 0.01)" in failure_reason(check)
    with pytest.raises(ValueError, match="`steps` must be >= 1"):
        overfit_minibatch(broken, x, y, learning_rate=1e-2, steps=0)


@pytest.mark.slow
def test_steamroller_stage_1_gate_fails_when_one_minibatch_cannot_be_overfitted(tmp_path):
    # Item 191, in the workflow: the accuracy gate passes (bound 0.01) but the minibatch
    # check does not: stage 1 fails with the reason, the finding and the report line.
    import io
    import json

    from keras_recipes.workflows import steamroller

    stream = io.StringIO()
    report = steamroller("digits", _frozen_net(), out=tmp_path / "run", stream=stream,
                         stage1_epochs=2, stage1_min_train_accuracy=0.01, lr_finder_steps=10,
                         grow=False, verbose=1)
    record = report.summary["stages"]["1"]
    assert report.status == "failed" and record["status"] == "failed"
    assert record["gate"]["minibatch"] is False
    assert "did not fall to near zero" in record["gate"]["reason"]
    assert record["minibatch"]["steps_max"] == 100 and len(record["minibatch"]["attempts"]) == 3
    assert record["findings"][0]["code"] == "minibatch_not_overfitted"
    assert any("single batch" in step for step in report.summary["next_steps"])
    assert "Overfit one minibatch" in (tmp_path / "run" / "report.md").read_text()
    saved = json.loads((tmp_path / "run" / "stage1" / "stage.json").read_text())
    assert saved["minibatch"]["passed"] is False
    assert "one minibatch (20 examples)" in stream.getvalue()


def test_staircase_is_a_stage_3_schedule(tmp_path):
    # Item 102: seed 000's horaire by strategy #1 (×β at each plateau) as stage 3's schedule.
    from keras_recipes.callbacks import NaNGuard, ReduceLROnPlateau
    from keras_recipes.workflows import SteamrollerConfig

    config = SteamrollerConfig(out=tmp_path, schedule="staircase", plateau_factor=0.5,
                               plateau_patience=2)
    stage3 = config.stages()[2]
    optimizer, desc = stage3.optimizer(0.01, 100, config)
    assert float(to_numpy(optimizer.learning_rate)) == pytest.approx(0.01)  # constant start
    assert "×0.5 at each plateau" in desc
    callbacks, _ = stage3.make_stopper(config)
    guard, plateau = callbacks
    assert isinstance(guard, NaNGuard) and isinstance(plateau, ReduceLROnPlateau)
    assert (plateau.monitor, plateau.factor, plateau.patience) == ("val_loss", 0.5, 2)
    assert config.recorded()["plateau_factor"] == 0.5  # non-default: recorded
    assert "plateau_factor" not in SteamrollerConfig(out=tmp_path).recorded()
    with pytest.raises(ValueError, match="plateau_factor"):
        SteamrollerConfig(out=tmp_path, plateau_factor=1.0)


@pytest.mark.slow
def test_staircase_stage_3_records_the_plateaus_it_found(tmp_path):
    # Item 102, run: stage 3 with the staircase records the reductions (epoch, step, rate).
    from keras_recipes.data import load_dataset
    from keras_recipes.workflows import STEAMROLLER_STAGES, SteamrollerConfig, plan_stages
    from keras_recipes.workflows.steamroller.report import _staircase_lines
    from keras_recipes.workflows.steamroller.runner import run_stage

    ds = load_dataset("digits")
    config = SteamrollerConfig(out=tmp_path, schedule="staircase", stage3_epochs=6,
                               plateau_patience=0, grow=False, lr_finder_steps=10, verbose=0)
    data = plan_stages(ds.x, ds.y, seed=0)[2]
    record, _, _ = run_stage(STEAMROLLER_STAGES[2], config, data, tmp_path, "stage3")
    staircase = record["lr"]["staircase"]
    assert staircase["factor"] == 0.2 and staircase["patience"] == 0
    rates = [r["learning_rate"] for r in staircase["reductions"]]
    used = record["lr"]["used"]
    np.testing.assert_allclose(rates, [used * 0.2 ** (i + 1) for i in range(len(rates))],
                               rtol=1e-5)
    assert _staircase_lines(staircase)[0].startswith("Staircase (×0.2")


@pytest.mark.backend
@pytest.mark.slow
def test_strategy1_reruns_with_each_plateau_until_a_step_stops_helping():
    # Item 45: add the plateau's step to a fixed schedule, rerun from scratch, stop when
    # the new step no longer lowers the best validation loss. Checked by hand: every kept
    # round improved on the previous one, each round ran the previous boundaries plus one,
    # and rerunning the returned schedule reproduces the kept round's best value.
    from keras_recipes.workflows.strategy1 import strategy1

    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 4)).astype("float32")
    y = (x @ np.ones((4, 1)) + 0.5 * rng.normal(size=(256, 1))).astype("float32")

    def build():
        return keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])

    def sgd(lr):
        return keras.optimizers.SGD(lr)

    found = strategy1(build, x[:192], y[:192], validation_data=(x[192:], y[192:]),
                      learning_rate=0.3, factor=0.1, patience=2, epochs=20, batch_size=32,
                      max_rounds=3, optimizer=sgd, loss="mse")
    rounds = found.rounds
    for previous, current in zip(rounds, rounds[1:], strict=False):
        assert current["boundaries"] == previous["boundaries"] + [previous["plateau_step"]]
    kept = next(r for r in rounds if r["boundaries"] == found.boundaries)
    assert found.rates == pytest.approx([0.3 * 0.1**i for i in range(len(found.boundaries) + 1)])
    assert kept["best"] == min(r["best"] for r in rounds[:rounds.index(kept) + 1])
    assert found.stop_reason
    # Rerun: the fixed schedule alone reproduces the kept round's best value.
    keras.utils.set_random_seed(0)
    model = build()
    model.compile(sgd(found.schedule), "mse")
    history = model.fit(x[:192], y[:192], validation_data=(x[192:], y[192:]),
                        epochs=kept["best_epoch"] + 1, batch_size=32, verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(kept["best"], rel=1e-5)
    with pytest.raises(ValueError, match="`factor`"):
        strategy1(build, x, y, validation_data=(x, y), learning_rate=0.1, factor=1.0)


@pytest.mark.backend
def test_seed_000_training_schedule_example_runs_as_written():
    """Seed 000's "exemple d'horaire": SGD + Nesterov (α = 0.9), learning rate
    0.1 / 0.01 / 0.001 / 0.0001 and weight decay 1e-4 / 5e-4 / 1e-5 / 5e-5 from epochs
    0 / 75 / 125 / 175, 200 epochs; one full-batch step stands for an epoch here.

    Reference: NumPy, in Keras's order for one step (gradient at the current weights, then
    the decoupled decay ``w ← w − wd·lr·w``, then Nesterov's update ``m ← α m − lr g``,
    ``w ← w + α m − lr g``).
    """
    from keras_recipes.callbacks import HyperparameterScheduler
    from keras_recipes.schedules import MultiStepDecay

    epochs, bounds = [0, 75, 125, 175], [75, 125, 175]
    rates, decays = [0.1, 0.01, 0.001, 0.0001], [1e-4, 5e-4, 1e-5, 5e-5]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5]))[:, None].astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, use_bias=False)])
    model.layers[0].set_weights([np.full((3, 1), 0.1, "float32")])
    optimizer = keras.optimizers.SGD(MultiStepDecay(bounds, values=rates), momentum=0.9,
                                     nesterov=True, weight_decay=decays[0])
    model.compile(optimizer=optimizer, loss="mse")
    scheduler = HyperparameterScheduler({"weight_decay": MultiStepDecay(bounds,
                                                                        values=decays)})
    # The full batch ten times per epoch: 20 epochs make the seed's 200 steps.
    model.fit(np.tile(x, (10, 1)), np.tile(y, (10, 1)), batch_size=16, epochs=20,
              shuffle=False, verbose=0, callbacks=[scheduler])

    def at(k, values):  # the value from the last listed epoch <= k
        return values[sum(k >= e for e in epochs) - 1]

    xd, yd = x.astype("float64"), y.astype("float64")
    w, m = np.full((3, 1), 0.1), np.zeros((3, 1))
    for k in range(200):
        lr, wd = at(k, rates), at(k, decays)
        g = 2.0 / len(xd) * xd.T @ (xd @ w - yd)
        w = w - wd * lr * w
        m = 0.9 * m - lr * g
        w = w + 0.9 * m - lr * g
    np.testing.assert_allclose(model.layers[0].get_weights()[0], w, rtol=1e-4, atol=1e-6)
    assert [at(e, rates) for e in epochs] == rates  # the table, column by column
    assert [at(e, decays) for e in epochs] == decays


@pytest.mark.backend
def test_seed_000_weight_decay_column_is_applied_phase_by_phase():
    """The same schedule on inputs of zeros: the loss has no gradient, so only the decoupled
    decay moves the weights, ``w_T = w_0 · Π_k (1 − wd_k · lr_k)``. Keeping ``wd = 1e-4``
    throughout would give a product 2e-4 (relative) away from the seed's column."""
    from keras_recipes.callbacks import HyperparameterScheduler
    from keras_recipes.schedules import MultiStepDecay

    epochs, bounds = [0, 75, 125, 175], [75, 125, 175]
    rates, decays = [0.1, 0.01, 0.001, 0.0001], [1e-4, 5e-4, 1e-5, 5e-5]
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, use_bias=False)])
    model.layers[0].set_weights([np.full((3, 1), 1.0, "float32")])
    model.compile(optimizer=keras.optimizers.SGD(MultiStepDecay(bounds, values=rates),
                                                 momentum=0.9, nesterov=True,
                                                 weight_decay=decays[0]), loss="mse")
    model.fit(np.zeros((40, 3), "float32"), np.zeros((40, 1), "float32"), batch_size=4,
              epochs=20, shuffle=False, verbose=0,
              callbacks=[HyperparameterScheduler({"weight_decay": MultiStepDecay(
                  bounds, values=decays)})])
    spans = np.diff(epochs + [200])  # 75, 50, 50, 25 epochs in each phase
    expected = float(np.prod([(1.0 - wd * lr) ** n for wd, lr, n in zip(decays, rates, spans,
                                                                       strict=True)]))
    constant = float(np.prod([(1.0 - 1e-4 * lr) ** n for lr, n in zip(rates, spans,
                                                                      strict=True)]))
    got = model.layers[0].get_weights()[0]
    np.testing.assert_allclose(got, expected, rtol=2e-5)
    assert abs(expected - constant) > 5 * 2e-5 * expected  # the check can tell them apart


@pytest.mark.slow  # heavy: `make test-all`
@pytest.mark.backend
def test_l1_gives_sparse_weights_at_its_optimum_and_a_band_around_zero_under_sgd():
    """Seed 002: L1 → sparse weights. The LASSO optimum (scikit-learn's coordinate descent,
    an independent solver) zeroes the irrelevant features; full-batch gradient descent on
    ``mse + (λ/N)·Σ|w|`` with the subgradient ends near that optimum, with the zeroed
    weights inside a band of a few ``lr·λ/N`` around 0 (not exactly 0), and far smaller than
    without the penalty. ``mse/2 + α‖w‖₁`` is scikit-learn's objective: ``α = λ/(2N)``."""
    from sklearn.linear_model import Lasso

    from keras_recipes.regularizers import L1

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 10)).astype("float32")
    coef = np.array([2.0, -3.0, 1.5] + [0.0] * 7)
    y = (x @ coef + rng.normal(scale=2.0, size=200)).astype("float32")[:, None]
    lam, n, lr, steps = 19.2, 32, 0.05, 400  # λ/N = 0.6, α = 0.3
    lasso = Lasso(alpha=lam / n / 2, fit_intercept=False, tol=1e-10, max_iter=100_000)
    optimum = lasso.fit(x.astype("float64"), y[:, 0].astype("float64")).coef_
    zeros = optimum == 0.0
    assert zeros[3:].sum() >= 5 and not zeros[:3].any()  # sparse at the optimum

    def train(regularizer):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((10,)), keras.layers.Dense(
            1, use_bias=False, kernel_initializer="zeros", kernel_regularizer=regularizer)])
        model.compile(optimizer=keras.optimizers.SGD(lr), loss="mse")
        # The full batch ten times per epoch: 40 epochs make 400 identical steps.
        model.fit(np.tile(x, (10, 1)), np.tile(y, (10, 1)), batch_size=200,
                  epochs=steps // 10, shuffle=False, verbose=0)
        return model.layers[0].get_weights()[0][:, 0].astype("float64")

    w, plain = train(L1(lam=lam, n=n)), train(None)
    band = lr * lam / n  # one subgradient step of the penalty: 0.03
    assert np.all(np.abs(w[zeros]) <= 2 * band)
    assert np.count_nonzero(w[zeros]) > 0  # the subgradient oscillates, it does not land
    np.testing.assert_allclose(w[~zeros], optimum[~zeros], atol=2 * band)
    assert np.mean(np.abs(plain[zeros])) > 2 * np.mean(np.abs(w[zeros]))
