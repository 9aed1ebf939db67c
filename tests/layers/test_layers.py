"""Shapes, values, gradients, config and .keras round trips of the library's layers."""

from __future__ import annotations

import math
import warnings

import keras
import numpy as np
import pytest

from keras_recipes.layers import (
    GLU,
    ConvBlock,
    DenseBlock,
    GeGLU,
    MinMaxNormalization,
    ResidualBlock,
    SwiGLU,
    Swish,
)

pytestmark = pytest.mark.backend

RNG = np.random.default_rng(0)


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x), dtype="float64")


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


# name -> (factory, input shape (without batch), expected output shape)
LAYERS = {
    "DenseBlock": (lambda: DenseBlock(5), (7,), (5,)),
    "ConvBlock": (lambda: ConvBlock(4, pool_size=2), (8, 8, 3), (4, 4, 4)),
    "ConvBlock1D": (lambda: ConvBlock(4, rank=1, padding="valid"), (10, 2), (8, 4)),
    "ResidualBlockA": (lambda: ResidualBlock(3), (6, 6, 3), (6, 6, 3)),
    "ResidualBlockB": (lambda: ResidualBlock(8, strides=2), (6, 6, 3), (3, 3, 8)),
    "Swish": (lambda: Swish(beta=1.5, per_channel=True), (4,), (4,)),
    "GLU": (lambda: GLU(6), (3,), (6,)),
    "GeGLU": (lambda: GeGLU(6), (3,), (6,)),
    "SwiGLU": (lambda: SwiGLU(6), (3,), (6,)),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_shape_config_and_keras_roundtrip(name, config_roundtrip, model_roundtrip):
    factory, in_shape, out_shape = LAYERS[name]
    layer = factory()
    config_roundtrip(layer)
    inputs = keras.Input(in_shape)
    outputs = layer(inputs)
    assert tuple(outputs.shape[1:]) == out_shape
    model = keras.Model(inputs, outputs)
    x = RNG.normal(size=(2, *in_shape)).astype("float32")
    assert tuple(model(x).shape) == (2, *out_shape)
    model_roundtrip(model, x, atol=1e-5)


def test_dense_block_is_dense_without_bias_bn_relu():
    block = DenseBlock(3)
    x = RNG.normal(size=(16, 4)).astype("float32")
    y = _np(block(x, training=True))
    assert len(block.dense.weights) == 1  # no bias
    h = x.astype("float64") @ _np(block.dense.kernel)
    expected = np.maximum((h - h.mean(0)) / np.sqrt(h.var(0) + 1e-3), 0)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)
    # BN starts as the notes say: gamma=1, beta=0, m=0, s=1
    fresh = DenseBlock(3)
    fresh.build((None, 4))
    np.testing.assert_array_equal(_np(fresh.norm.gamma), 1)
    np.testing.assert_array_equal(_np(fresh.norm.beta), 0)
    np.testing.assert_array_equal(_np(fresh.norm.moving_mean), 0)
    np.testing.assert_array_equal(_np(fresh.norm.moving_variance), 1)


def test_residual_block_variants():
    a = ResidualBlock(3)
    a.build((None, 6, 6, 3))
    assert not a.uses_projection
    b = ResidualBlock(3, projection=True)
    b.build((None, 6, 6, 3))
    assert b.uses_projection
    assert ResidualBlock(5).compute_output_shape((None, 6, 6, 3)) == (None, 6, 6, 5)
    with pytest.raises(ValueError, match="Argument `projection` must be True or None"):
        ResidualBlock(5, projection=False).build((None, 6, 6, 3))
    # identity shortcut: with a zeroed main path the block is relu(x)
    x = RNG.normal(size=(1, 6, 6, 3)).astype("float32")
    a.conv2.kernel.assign(np.zeros(a.conv2.kernel.shape, dtype="float32"))
    np.testing.assert_allclose(_np(a(x, training=False)), np.maximum(x, 0), atol=1e-6)


def test_swish_values_and_gradient():
    x = np.array([[-2.0, -0.5, 0.0, 1.0, 3.0]], dtype="float32")
    layer = Swish(beta=0.7)
    np.testing.assert_allclose(_np(layer(x)), x * _sigmoid(0.7 * x), rtol=1e-6)
    assert len(layer.trainable_weights) == 1
    frozen = Swish(trainable_beta=False)
    frozen.build((None, 5))
    assert frozen.trainable_weights == []
    # d/dbeta sum(x * sigmoid(beta x)) = sum(x**2 s (1 - s)), finite-difference check
    s = _sigmoid(0.7 * x.astype("float64"))
    analytic = np.sum(x**2 * s * (1 - s))
    h = 1e-3
    plus = np.sum(_np(Swish(beta=0.7 + h)(x)))
    minus = np.sum(_np(Swish(beta=0.7 - h)(x)))
    assert (plus - minus) / (2 * h) == pytest.approx(analytic, rel=1e-2)


def test_swish_beta_is_learned():
    model = keras.Sequential([keras.Input((1,)), Swish(beta=1.0)])
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss="mse")
    x = np.linspace(-3, 3, 64, dtype="float32")[:, None]
    y = x * _sigmoid(3.0 * x)
    model.fit(x, y, epochs=40, batch_size=64, verbose=0)
    assert float(_np(model.layers[0].beta)) > 1.5


@pytest.mark.parametrize("cls, act", [
    (GLU, _sigmoid),
    (GeGLU, lambda z: 0.5 * z * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))),  # exact GELU
    (SwiGLU, lambda z: z * _sigmoid(z)),
])
def test_glu_values(cls, act):
    layer = cls(4)
    x = RNG.normal(size=(3, 5)).astype("float32")
    y = _np(layer(x))
    w, b = _np(layer.projection.kernel), _np(layer.projection.bias)
    b = b + 0.1  # non-zero bias to check it is used
    layer.projection.bias.assign(b.astype("float32"))
    y = _np(layer(x))
    z = x.astype("float64") @ w + b
    expected = act(z[:, :4]) * z[:, 4:]
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_glu_gradients_flow_to_both_branches():
    model = keras.Sequential([keras.Input((3,)), SwiGLU(2), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    before = _np(model.layers[0].projection.kernel)
    x = RNG.normal(size=(8, 3)).astype("float32")
    model.fit(x, np.ones((8, 1), "float32"), epochs=1, verbose=0)
    change = np.abs(_np(model.layers[0].projection.kernel) - before)
    assert change[:, :2].sum() > 0 and change[:, 2:].sum() > 0


def test_min_max_normalization(model_roundtrip):
    data = np.array([[0.0, -1.0], [10.0, 1.0], [5.0, 0.0]], dtype="float32")
    layer = MinMaxNormalization()
    layer.adapt(data)
    np.testing.assert_allclose(_np(layer(data)), (data - data.min(0)) / np.ptp(data, 0))
    unseen = np.array([[20.0, 0.0]], dtype="float32")
    assert _np(layer(unseen))[0, 0] == pytest.approx(2.0)
    with pytest.warns(UserWarning, match="outside the range seen by adapt"):
        assert layer.check(unseen) == pytest.approx(0.5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert layer.check(data) == 0.0
    assert not [w for w in caught if "seen by adapt" in str(w.message)]
    clipped = MinMaxNormalization(clip=True)
    clipped.adapt(data)
    assert _np(clipped(unseen))[0, 0] == 1.0
    inputs = keras.Input((2,))
    model = keras.Model(inputs, layer(inputs))
    model_roundtrip(model, unseen)


def test_min_max_global_axis_batches_and_constant_feature():
    layer = MinMaxNormalization(axis=None)
    batches = [np.array([[0.0, 4.0]]), np.array([[2.0, 8.0]])]
    layer.adapt(batches)
    np.testing.assert_allclose(_np(layer(np.array([[4.0, 6.0]], "float32"))), [[0.5, 0.75]])
    const = MinMaxNormalization()
    const.adapt(np.array([[3.0, 1.0], [3.0, 2.0]], dtype="float32"))
    np.testing.assert_allclose(_np(const(np.array([[3.0, 1.5]], "float32"))), [[0.0, 0.5]])
    with pytest.raises(ValueError, match="at least one batch"):
        MinMaxNormalization().adapt([])


@pytest.mark.parametrize("factory, pattern", [
    (lambda: DenseBlock(0), r"Argument `units` must be > 0.*Received: units=0"),
    (lambda: ConvBlock(4, rank=4), r"Argument `rank` must be one of"),
    (lambda: ConvBlock(4, padding="full"), r"Argument `padding` must be one of"),
    (lambda: ResidualBlock(0), r"Argument `filters` must be > 0"),
    (lambda: GLU(-1), r"Argument `units` must be > 0"),
    (lambda: Swish(beta="x"), r"Argument `beta` must be a finite number"),
    (lambda: MinMaxNormalization(axis="last"), r"Argument `axis` must be"),
])
def test_bad_arguments(factory, pattern):
    with pytest.raises(ValueError, match=pattern):
        factory()
