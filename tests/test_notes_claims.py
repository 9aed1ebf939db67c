"""Claims of the course notes, each measured on a small problem with a NumPy reference."""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest

from keras_recipes.initializers import GlorotNormal, HeNormal, SmallNormal
from keras_recipes.layers import DenseBlock

# `slow_elsewhere`: TensorFlow checks these claims in `make test`; JAX and torch (where only
# the random draws and the float32 rounding differ) in `make test-all`.
pytestmark = [pytest.mark.backend, pytest.mark.slow_elsewhere]


def test_ema_spans_about_one_over_one_minus_beta_values():
    # seed 001: v_t = β v_{t−1} + (1 − β) y_t "moyenne les mesures autour de 1/(1 − β)".
    # The EMA under test is Keras's BatchNormalization moving mean (momentum β).
    for beta in (0.9, 0.98, 0.99):
        bn = keras.layers.BatchNormalization(momentum=beta, center=False, scale=False)
        bn.build((None, 1))
        steps = 3 * int(round(1 / (1 - beta)))
        impulse = np.zeros(steps)
        impulse[0] = 1.0  # y_1 = 1, then 0: the moving mean traces the weight of y_1
        weights = []
        for y_t in impulse:
            bn(np.full((4, 1), y_t, dtype="float32"), training=True)
            weights.append(float(keras.ops.convert_to_numpy(bn.moving_mean)[0]))
        weights = np.array(weights)  # weight of the value seen k steps ago, k = 0, 1, ...
        np.testing.assert_allclose(weights, (1 - beta) * beta ** np.arange(steps), rtol=1e-4)
        window = int(round(1 / (1 - beta)))
        # the last 1/(1 − β) values carry 1 − β^{1/(1−β)} ≈ 1 − 1/e ≈ 63 % of the weight
        assert weights[:window].sum() == pytest.approx(1 - np.exp(-1), abs=0.03)
        # and the mean age of what is averaged is β/(1 − β) ≈ 1/(1 − β) − 1 steps
        ages = np.arange(10_000)
        mean_age = np.sum(ages * (1 - beta) * beta**ages)
        assert mean_age == pytest.approx(1 / (1 - beta) - 1, rel=1e-6)
    # the notes' worked numbers for β = 0.99
    v1 = 0.01 * 1.0
    assert 0.99 * v1 + 0.01 * 0.0 == pytest.approx(0.0099)


def test_batchnorm_with_gamma_std_and_beta_mean_gives_back_its_input():
    # seed 002: γ = √Var(x), β = μ recovers the original distribution
    rng = np.random.default_rng(0)
    x = rng.normal(loc=[3.0, -1.0, 0.0], scale=[2.0, 0.5, 4.0], size=(256, 3)).astype("float32")
    bn = keras.layers.BatchNormalization()
    bn.build((None, 3))
    bn.gamma.assign(np.sqrt(x.var(axis=0) + bn.epsilon))
    bn.beta.assign(x.mean(axis=0))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(bn(x, training=True)), x, atol=1e-4)


def test_dropout_draws_one_of_two_to_the_d_sub_networks():
    # seed 002: D droppable units give 2^D sub-networks (the all-dropped mask included:
    # 2^D, not the notes' 2^32 − 1), and the full network at inference averages them.
    keras.utils.set_random_seed(0)
    small = keras.layers.Dropout(0.5, seed=1)
    masks = {tuple(np.asarray(small(np.ones((1, 3)), training=True))[0] > 0)
             for _ in range(400)}
    assert len(masks) == 2**3
    big = keras.layers.Dropout(0.5, seed=2)
    draws = np.asarray(big(np.ones((10_000, 32)), training=True)) > 0
    assert len({row.tobytes() for row in draws}) >= 9_990  # nearly never the same twice
    # the ensemble reading, exactly: a softmax layer after dropout (p = 1/2) at inference is
    # the normalised geometric mean of the 2^D sub-networks' outputs (Baldi & Sadowski 2013)
    rng = np.random.default_rng(3)
    d, k = 8, 4
    w, h = rng.normal(size=(d, k)), rng.normal(size=(5, d))
    inputs = keras.Input((d,))
    dense = keras.layers.Dense(k, activation="softmax", use_bias=False)
    model = keras.Model(inputs, dense(keras.layers.Dropout(0.5)(inputs)))
    dense.set_weights([w])
    log_sum = 0
    for mask in itertools.product([0.0, 2.0], repeat=d):  # inverted dropout: kept × 1/(1−p)
        z = (h * np.array(mask)) @ w
        log_sum = log_sum + (z - np.log(np.exp(z).sum(axis=1, keepdims=True)))
    geo = np.exp(log_sum / 2**d)
    geo /= geo.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.predict(h, verbose=0), geo, rtol=1e-4)


def test_fully_connected_layer_on_a_megapixel_image_needs_4_terabytes():
    # seed 003: a Dense layer from 10^6 inputs to 10^6 outputs holds 10^12 float32 = 4 TB
    for n_in, n_out in [(7, 5), (300, 200)]:
        layer = keras.layers.Dense(n_out)
        layer.build((None, n_in))
        assert layer.count_params() == n_in * n_out + n_out
        assert layer.kernel.dtype == "float32"
    bytes_needed = 4 * (10**6 * 10**6 + 10**6)
    assert bytes_needed / 1e12 == pytest.approx(4.0, rel=1e-5)
    exact = 640 * 480 * 3  # the notes' image, "≈ 10^6"
    assert 4 * exact**2 / 1e12 == pytest.approx(3.4, abs=0.05)
    conv = keras.layers.Conv2D(3, 3)  # the same image through a 3×3 convolution
    conv.build((None, 480, 640, 3))
    assert conv.count_params() == 3 * 3 * 3 * 3 + 3


def _forward_stats(model, x):
    h, stats = keras.ops.convert_to_tensor(x), []
    for layer in model.layers:
        h = layer(h)
        a = keras.ops.convert_to_numpy(h)
        stats.append((float(a.mean()), float(a.var())))
    return stats


def test_selu_keeps_unit_variance_through_30_layers_without_batchnorm():
    # seed 004: SELU "auto-normalisation": with LeCun-normal weights and standardised
    # inputs, mean ≈ 0 and variance ≈ 1 hold layer after layer (fully connected layers;
    # the conditions the notes leave out: LeCun init, AlphaDropout instead of Dropout).
    x = np.random.default_rng(0).normal(size=(1024, 128)).astype("float32")

    def deep(activation):
        return keras.Sequential(
            [keras.Input((128,))]
            + [keras.layers.Dense(128, activation=activation,
                                  kernel_initializer=keras.initializers.LecunNormal(seed=i))
               for i in range(30)])

    selu = _forward_stats(deep("selu"), x)
    relu = _forward_stats(deep("relu"), x)
    assert abs(selu[-1][0]) < 0.2 and 0.7 < selu[-1][1] < 1.3
    assert relu[-1][1] < 1e-3  # ReLU with the same weights halves the variance per layer


def _mlp(depth, init=None, width=32, block=False, activation="relu"):
    layers = [keras.Input((64,))]
    for i in range(depth):
        if block:
            kwargs = {} if init is None else {"kernel_initializer": init(seed=i)}
            layers.append(DenseBlock(width, **kwargs))
        else:
            layers.append(keras.layers.Dense(width, activation=activation,
                                             kernel_initializer=init(seed=i)))
    layers.append(keras.layers.Dense(10, activation="softmax"))
    return keras.Sequential(layers)


def _standardised_digits(digits_flat, n=512):
    x = digits_flat.x[:n]
    return (x - x.mean(0)) / (x.std(0) + 1e-6), digits_flat.y[:n]


def test_30_relu_layers_keep_their_signal_with_he_and_lose_it_with_glorot():
    # seed 002 (He et al. 2015, figure 3): the forward signal of a 30-layer ReLU network.
    # Theory: Var(h_l) = Var(h_{l−1}) · n · Var(w) / 2: ×1 for He, ×1/2 for Glorot (square).
    x = np.random.default_rng(0).normal(size=(512, 256)).astype("float32")
    stats = {}
    for name, init in [("he", HeNormal), ("glorot", GlorotNormal)]:
        model = keras.Sequential([keras.Input((256,))] + [
            keras.layers.Dense(256, activation="relu", kernel_initializer=init(seed=i))
            for i in range(30)])
        stats[name] = _forward_stats(model, x)[-1][1]
    # variance of ReLU outputs after 30 layers: order 1 (He), order 2^-30 (Glorot); the
    # product of 30 random layer gains spreads the He value by a factor of a few
    assert 0.05 < stats["he"] < 20
    assert stats["glorot"] < 1e-6


@pytest.mark.slow
def test_30_layer_relu_network_trains_with_he_not_with_glorot(digits_flat):
    # seed 002 (He et al. 2015): at 30 layers Xavier/Glorot does not converge, He does.
    x, y = _standardised_digits(digits_flat)
    losses = {}
    for name, init in [("he", HeNormal), ("glorot", GlorotNormal)]:
        keras.utils.set_random_seed(0)
        model = _mlp(30, init)
        model.compile(keras.optimizers.SGD(0.02, momentum=0.9),
                      "sparse_categorical_crossentropy")
        losses[name] = model.fit(x, y, epochs=4, batch_size=32, verbose=0).history["loss"]
    # measured: He 2.306 → 1.995 on TensorFlow, → 2.177 on torch (its own initial draws);
    # Glorot 2.304 → 2.303 (chance is ln 10 = 2.303)
    assert losses["he"][-1] < np.log(10) - 0.1
    assert losses["glorot"][-1] > np.log(10) - 0.02


@pytest.mark.slow
def test_batchnorm_trains_where_plain_relu_fails(digits_flat):
    # seeds 000/002/003: BN lets a large ε₀ work (ε₀ = 0.1 and even 1.0), makes the init
    # less critical (a fixed N(0, 0.01) init trains), converges faster, keeps ReLUs alive.
    x, y = _standardised_digits(digits_flat)
    result = {}
    for name, lr, build in [
        ("plain lr=1", 1.0, lambda: _mlp(6, HeNormal)),
        ("bn lr=1", 1.0, lambda: _mlp(6, HeNormal, block=True)),
        ("plain N(0,0.01) lr=0.1", 0.1, lambda: _mlp(6, SmallNormal)),
        ("bn N(0,0.01) lr=0.1", 0.1, lambda: _mlp(6, SmallNormal, block=True)),
        ("plain lr=0.5", 0.5, lambda: _mlp(6, HeNormal)),
        ("bn lr=0.5", 0.5, lambda: _mlp(6, HeNormal, block=True)),
    ]:
        keras.utils.set_random_seed(0)
        model = build()
        model.compile(keras.optimizers.SGD(lr), "sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        hist = model.fit(x, y, epochs=4, batch_size=32, verbose=0).history
        hidden = keras.Model(model.inputs, [layer.output for layer in model.layers[:-1]])
        outs = hidden.predict(x[:256], verbose=0)
        dead = np.mean([np.all(np.asarray(o) <= 0, axis=0).mean() for o in outs])
        result[name] = (hist["loss"], hist["accuracy"][-1], dead)
    # a large rate: the plain network diverges, the BN one trains
    assert not np.isfinite(result["plain lr=1"][0][-1]) or result["plain lr=1"][1] < 0.2
    assert result["bn lr=1"][1] > 0.8
    # a poor init: the plain network stays at chance, the BN one trains
    assert result["plain N(0,0.01) lr=0.1"][0][-1] > np.log(10) - 0.02
    assert result["bn N(0,0.01) lr=0.1"][1] > 0.8
    # faster: lower loss after the first epoch at the same rate
    assert result["bn lr=0.5"][0][0] < result["plain lr=0.5"][0][0]
    # dead ReLUs (zero on all 256 probe examples): some without BN, none with it
    assert result["bn lr=0.5"][2] == 0.0
    assert result["plain lr=0.5"][2] > 0.0
