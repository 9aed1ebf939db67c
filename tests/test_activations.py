"""Seed 004's activations: Keras's functions against the notes' formulas and derivatives.

Each derivative is checked three ways: the notes' closed form, central finite differences of
the Keras function in float64, and the backend's autodiff.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

pytestmark = pytest.mark.backend

BACKEND = keras.backend.backend()
# JAX (without jax_enable_x64) computes float64 inputs in float32: looser tolerances there
X64 = keras.ops.convert_to_tensor(np.zeros(1, dtype="float64")).dtype == "float64"
RTOL = 1e-6 if X64 else 2e-5
H = 1e-6 if X64 else 1e-2

# the notes' constants (seed 004, SELU slide)
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_LAMBDA = 1.0507009873554804934193349852946


def autodiff(f, x: np.ndarray) -> np.ndarray:
    """d f(x)_i / d x_i of an elementwise Keras function, by the backend's autodiff."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        t = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(t)
            y = tf.reduce_sum(f(t))
        return tape.gradient(y, t).numpy()
    if BACKEND == "jax":
        import jax

        return np.asarray(jax.grad(lambda t: f(t).sum())(x))
    if BACKEND == "torch":
        import torch

        t = torch.tensor(x, requires_grad=True)
        f(t).sum().backward()
        return t.grad.numpy()
    pytest.skip(f"no autodiff helper for {BACKEND}")


def finite_difference(f, x: np.ndarray, h: float = H) -> np.ndarray:
    value = lambda t: keras.ops.convert_to_numpy(f(keras.ops.convert_to_tensor(t)))  # noqa: E731
    return (value(x + h) - value(x - h)) / (2 * h)


def np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


# name -> (Keras function, notes' formula, notes' derivative)
ACTIVATIONS = {
    "sigmoid": (keras.activations.sigmoid, np_sigmoid,
                lambda x: np_sigmoid(x) * (1 - np_sigmoid(x))),
    "tanh": (keras.activations.tanh,
             lambda x: (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x)),
             lambda x: 1 - np.tanh(x) ** 2),
    "relu": (keras.activations.relu, lambda x: np.maximum(0, x),
             lambda x: (x > 0).astype(float)),
    "leaky_relu(0.1)": (lambda x: keras.activations.leaky_relu(x, negative_slope=0.1),
                        lambda x: np.maximum(0.1 * x, x),
                        lambda x: np.where(x > 0, 1.0, 0.1)),
    "elu(1.0)": (keras.activations.elu, lambda x: np.where(x > 0, x, np.exp(x) - 1),
                 lambda x: np.where(x > 0, 1.0, np.exp(x))),
    "elu(0.5)": (lambda x: keras.activations.elu(x, alpha=0.5),
                 lambda x: np.where(x > 0, x, 0.5 * (np.exp(x) - 1)),
                 lambda x: np.where(x > 0, 1.0, 0.5 * np.exp(x))),
    "selu": (keras.activations.selu,
             lambda x: np.where(x > 0, SELU_LAMBDA * x, SELU_LAMBDA * SELU_ALPHA * (np.exp(x) - 1)),
             lambda x: np.where(x > 0, SELU_LAMBDA, SELU_LAMBDA * SELU_ALPHA * np.exp(x))),
}

# away from 0, where ReLU-like derivatives are undefined (the notes say so for ReLU)
X = np.concatenate([np.linspace(-6, -0.01, 60), np.linspace(0.01, 6, 60)]).astype("float64")


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_keras_function_is_the_notes_formula(name):
    f, formula, _ = ACTIVATIONS[name]
    got = keras.ops.convert_to_numpy(f(keras.ops.convert_to_tensor(X)))
    np.testing.assert_allclose(got, formula(X), rtol=RTOL, atol=RTOL / 10)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_derivative_formula_autodiff_and_finite_differences_agree(name):
    f, _, derivative = ACTIVATIONS[name]
    expected = derivative(X)
    fd_rtol = 1e-5 if X64 else 5e-3  # central differences: O(h²) and float32 rounding
    np.testing.assert_allclose(finite_difference(f, X), expected, rtol=fd_rtol, atol=fd_rtol)
    np.testing.assert_allclose(autodiff(f, X), expected, rtol=RTOL, atol=RTOL / 10)


def test_sigmoid_derivative_peaks_at_a_quarter():
    # seed 002/004: σ' = σ(1 − σ) ≤ 1/4, reached at 0, so L sigmoid layers scale a gradient
    # by at most (1/4)**L
    grid = np.linspace(-8, 8, 1601)
    d = autodiff(keras.activations.sigmoid, grid)
    assert d.max() == pytest.approx(0.25, abs=1e-7)
    assert grid[d.argmax()] == pytest.approx(0.0, abs=1e-9)


def test_tanh_is_a_rescaled_sigmoid():
    # seed 002: tanh(z) = 2σ(2z) − 1
    z = np.linspace(-5, 5, 101)
    tanh = keras.ops.convert_to_numpy(keras.activations.tanh(z))
    rescaled = keras.ops.convert_to_numpy(2 * keras.activations.sigmoid(2 * z) - 1)
    np.testing.assert_allclose(tanh, rescaled, atol=1e-12 if X64 else 1e-6)


def test_selu_constants_are_the_notes():
    # Keras's selu uses the notes' α and λ: λ at x = 1, λ·α·(e^x − 1) → −λα as x → −∞
    one = float(keras.activations.selu(np.array([1.0]))[0])
    far = float(keras.activations.selu(np.array([-60.0]))[0])
    rel = 1e-15 if X64 else 1e-7  # the float32 rounding of the constants
    assert one == pytest.approx(SELU_LAMBDA, rel=rel)
    assert -far == pytest.approx(SELU_LAMBDA * SELU_ALPHA, rel=rel)


def test_prelu_is_leaky_relu_with_a_learned_slope():
    # keras.layers.PReLU: max(0, x) + α·min(0, x), one α per channel, initialised to 0
    # (a ReLU) by default; α = 0.1 reproduces the notes' usual Leaky ReLU.
    x = np.array([[-2.0, -0.5, 0.5, 3.0]], dtype="float32")
    layer = keras.layers.PReLU(alpha_initializer=keras.initializers.Constant(0.1))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), np.maximum(0.1 * x, x),
                               rtol=1e-6)
    assert tuple(layer.alpha.shape) == (4,)
    assert np.all(keras.ops.convert_to_numpy(keras.layers.PReLU()(x)) == np.maximum(0, x))
    # the notes' derivative in x: α if x < 0, 1 if x > 0
    f = lambda t: layer(t)  # noqa: E731
    np.testing.assert_allclose(autodiff(f, x), np.where(x > 0, 1.0, 0.1), rtol=1e-6)
    # α is learned: one SGD step on L = Σ y moves α by −lr · ∂L/∂α = −lr · min(0, x)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    prelu = keras.layers.PReLU(alpha_initializer=keras.initializers.Constant(0.1))
    model = keras.Model(inputs, prelu(inputs))
    model.compile(keras.optimizers.SGD(0.5), loss=lambda y_true, y_pred: keras.ops.sum(y_pred))
    model.train_on_batch(x, np.zeros_like(x))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(prelu.alpha),
                               0.1 - 0.5 * np.minimum(0.0, x[0]), rtol=1e-6)


def test_positive_inputs_give_one_gradient_sign_per_neuron():
    # seed 004: after a positive activation σ, ∂L/∂w_ij = σ(h_j) · ∂L/∂h_i, so all the
    # weights of neuron i move in the same direction for a given example.
    rng = np.random.default_rng(0)
    dense = keras.layers.Dense(5, use_bias=False)
    dense.build((None, 8))
    dense.kernel.assign(rng.normal(size=(8, 5)))
    target = rng.normal(size=(1, 5))

    def kernel_gradient(h):
        # the weight gradient of a squared error for the input row h: outer(h, δ) by hand,
        # δ = 2 (h W − t); checked against the autodiff of W ↦ L through the layer
        w = keras.ops.convert_to_numpy(dense.kernel)
        delta = 2 * (h @ w - target)
        by_hand = h.T @ delta
        t = keras.ops.convert_to_tensor(target)
        loss_of_w = lambda k: keras.ops.sum((keras.ops.matmul(h, k) - t) ** 2)  # noqa: E731
        np.testing.assert_allclose(_autodiff_matrix(loss_of_w, w), by_hand, rtol=1e-5)
        return by_hand

    for _ in range(20):
        h = rng.normal(size=(1, 8))
        g_pos = kernel_gradient(np_sigmoid(h))      # sigmoid outputs: all positive
        g_centred = kernel_gradient(np.tanh(h))     # tanh outputs: zero-centred
        assert np.all(np.abs(np.sign(g_pos).sum(axis=0)) == 8)  # one sign per column
        assert np.any(np.abs(np.sign(g_centred).sum(axis=0)) < 8)


def _autodiff_matrix(f, w: np.ndarray) -> np.ndarray:
    if BACKEND == "tensorflow":
        import tensorflow as tf

        t = tf.constant(w)
        with tf.GradientTape() as tape:
            tape.watch(t)
            y = f(t)
        return tape.gradient(y, t).numpy()
    if BACKEND == "jax":
        import jax

        return np.asarray(jax.grad(f)(w))
    if BACKEND == "torch":
        import torch

        t = torch.tensor(w, requires_grad=True)
        f(t).backward()
        return t.grad.numpy()
    pytest.skip(f"no autodiff helper for {BACKEND}")


def test_positive_inputs_zigzag_towards_a_mixed_sign_optimum():
    # One linear neuron, inputs in (0, 1), target weights (1, −1): every SGD update moves
    # both weights the same way (Δw1·Δw2 ≥ 0), so the path zig-zags; with zero-centred
    # inputs a good share of the updates point straight at the optimum (mixed signs).
    rng = np.random.default_rng(1)
    w_star = np.array([1.0, -1.0])

    def run(x):
        w, moves = np.zeros(2), []
        for xi in x:
            grad = 2 * (xi @ w - xi @ w_star) * xi  # squared error of one example
            step = -0.1 * grad
            moves.append(step)
            w = w + step
        return np.array(moves), w

    positive, w_pos = run(rng.uniform(0, 1, size=(300, 2)))
    centred, w_cen = run(rng.uniform(-1, 1, size=(300, 2)))
    assert np.all(positive[:, 0] * positive[:, 1] >= 0)
    assert np.mean(centred[:, 0] * centred[:, 1] < 0) > 0.3
    # both reach the optimum eventually; the positive one only by alternating directions
    np.testing.assert_allclose(w_pos, w_star, atol=0.05)
    np.testing.assert_allclose(w_cen, w_star, atol=0.05)
    signs = np.sign(positive[:, 0])
    assert np.mean(signs[1:] != signs[:-1]) > 0.2  # the direction keeps flipping
