"""Keras's built-ins and this library's optimizers against the course notes' formulas.

Every seed-000 algorithm (SGD, momentum, Nesterov, Adagrad, RMSprop, RMSprop + momentum,
RMSprop + Nesterov, Adam, Yogi) runs 60 steps on noisy gradients of a quadratic, in Keras
(float32) and in an independent NumPy version (float64), compared at rtol 1e-5. Where
Keras follows another convention, a test pins the difference.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_recipes.optimizers import Lookahead, NesterovRMSprop, RAdam, Yogi
from tests.optimizers import numpy_reference as ref

pytestmark = pytest.mark.backend

STEPS = 60
DIM = 12
RTOL = 1e-5
ATOL = 1e-6


def make_problem(seed=0):
    rng = np.random.default_rng(seed)
    theta0 = rng.normal(size=DIM)
    curvature = rng.uniform(0.5, 2.0, size=DIM)
    noise = rng.normal(size=(STEPS + 1, DIM))

    def grad(t, point):
        return curvature * point + noise[t]

    return theta0, grad


def run_keras(optimizer, theta0, grad, steps=STEPS):
    """Apply ``optimizer`` on one variable; the gradient is taken at the variable."""
    var = keras.Variable(np.asarray(theta0, dtype="float32"))
    out = []
    for t in range(1, steps + 1):
        point = keras.ops.convert_to_numpy(var).astype("float64")
        g = keras.ops.convert_to_tensor(grad(t, point).astype("float32"))
        optimizer.apply([g], [var])
        out.append(keras.ops.convert_to_numpy(var).astype("float64"))
    return np.array(out)


def close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)


# --- the nine algorithms: (name, Keras object, NumPy iterates the Keras variable follows) --

def _nesterov_point(thetas_vs, alpha):
    thetas, vs = thetas_vs
    return thetas + alpha * vs


CASES = {
    "1 SGD": (
        lambda: keras.optimizers.SGD(0.05),
        lambda th, g: ref.sgd(th, g, STEPS, lr=0.05),
    ),
    "2 SGD + momentum": (
        lambda: keras.optimizers.SGD(0.05, momentum=0.9),
        lambda th, g: ref.momentum(th, g, STEPS, lr=0.05, alpha=0.9),
    ),
    # Keras stores the interim point theta + alpha * v (Sutskever's reformulation).
    "3 SGD + Nesterov": (
        lambda: keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
        lambda th, g: _nesterov_point(ref.nesterov(th, g, STEPS, lr=0.05, alpha=0.9), 0.9),
    ),
    # Keras's Adagrad starts r at 0.1 by default; with 0 and eps = delta**2 under the
    # root it is the notes' rule (the two denominators differ by at most delta).
    "4 Adagrad": (
        lambda: keras.optimizers.Adagrad(0.1, initial_accumulator_value=0.0, epsilon=1e-14),
        lambda th, g: ref.adagrad(th, g, STEPS, lr=0.1, delta=1e-7),
    ),
    # Keras puts epsilon under the root: sqrt(r + eps) instead of delta + sqrt(r).
    "5 RMSprop": (
        lambda: keras.optimizers.RMSprop(0.01, rho=0.99, epsilon=1e-14),
        lambda th, g: ref.rmsprop(th, g, STEPS, lr=0.01, rho=0.99, delta=1e-7),
    ),
    # Keras's momentum slot is -v (it subtracts it); the notes have no delta here.
    "6 RMSprop + momentum": (
        lambda: keras.optimizers.RMSprop(0.01, rho=0.9, momentum=0.9, epsilon=1e-14),
        lambda th, g: ref.rmsprop_momentum(th, g, STEPS, lr=0.01, rho=0.9, alpha=0.9),
    ),
    "7 RMSprop + Nesterov": (
        lambda: NesterovRMSprop(0.01, rho=0.9, momentum=0.9, epsilon=1e-14),
        lambda th, g: _nesterov_point(
            ref.rmsprop_nesterov(th, g, STEPS, lr=0.01, rho=0.9, alpha=0.9), 0.9
        ),
    ),
    # Keras adds epsilon to sqrt(r_hat) scaled by 1/sqrt(1 - rho2**t) ("epsilon hat"),
    # the notes add delta under the root: they agree when delta is negligible.
    "8 Adam": (
        lambda: keras.optimizers.Adam(0.01, epsilon=1e-10),
        lambda th, g: ref.adam(th, g, STEPS, lr=0.01, rho1=0.9, rho2=0.999, delta=1e-16),
    ),
    "9 Yogi": (
        lambda: Yogi(0.01, epsilon=1e-3, initial_accumulator_value=1e-6),
        lambda th, g: ref.yogi(th, g, STEPS, lr=0.01, rho1=0.9, rho2=0.999, delta=1e-3,
                               r0=1e-6),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_seed_algorithm_matches_numpy(name):
    make_opt, reference = CASES[name]
    theta0, grad = make_problem()
    close(run_keras(make_opt(), theta0, grad), reference(theta0, grad))


EXTRA = {
    "Yogi without bias correction (paper, optax)": (
        lambda: Yogi(0.01, bias_correction=False),
        lambda th, g: ref.yogi(th, g, STEPS, lr=0.01, rho1=0.9, rho2=0.999, delta=1e-3,
                               r0=1e-6, bias_correction=False),
    ),
    "NesterovRMSprop centered": (
        lambda: NesterovRMSprop(0.01, rho=0.9, momentum=0.8, epsilon=1e-3, centered=True),
        lambda th, g: _nesterov_point(
            ref.rmsprop_nesterov(th, g, STEPS, lr=0.01, rho=0.9, alpha=0.8, eps=1e-3,
                                 centered=True), 0.8
        ),
    ),
    "NesterovRMSprop momentum=0 is RMSprop": (
        lambda: NesterovRMSprop(0.01, rho=0.9, momentum=0.0, epsilon=1e-3),
        lambda th, g: ref.rmsprop(th, g, STEPS, lr=0.01, rho=0.9, delta=1e-3, eps_inside=True),
    ),
    "RAdam threshold 5 (PyTorch)": (
        lambda: RAdam(0.01, epsilon=1e-6),
        lambda th, g: ref.radam(th, g, STEPS, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-6),
    ),
    "RAdam threshold 4 (paper), beta_2=0.9": (
        lambda: RAdam(0.01, beta_2=0.9, epsilon=1e-6, rectify_threshold=4.0),
        lambda th, g: ref.radam(th, g, STEPS, lr=0.01, beta1=0.9, beta2=0.9, eps=1e-6,
                                threshold=4.0),
    ),
    "Lookahead(SGD)": (
        lambda: Lookahead(keras.optimizers.SGD(0.05), sync_period=5, slow_step_size=0.5),
        lambda th, g: ref.lookahead_sgd(th, g, STEPS, lr=0.05, k=5, alpha=0.5),
    ),
}


@pytest.mark.parametrize("name", sorted(EXTRA))
def test_library_optimizer_matches_numpy(name):
    make_opt, reference = EXTRA[name]
    theta0, grad = make_problem(1)
    close(run_keras(make_opt(), theta0, grad), reference(theta0, grad))


# --- conventions where Keras differs from the notes, pinned --------------------------------

def test_adagrad_keras_defaults_use_r0_and_eps_under_root():
    theta0, grad = make_problem(2)
    keras_default = run_keras(keras.optimizers.Adagrad(0.1), theta0, grad, steps=30)
    pinned = ref.adagrad(theta0, grad, 30, lr=0.1, delta=1e-7, r0=0.1, eps_inside=True)
    notes = ref.adagrad(theta0, grad, 30, lr=0.1, delta=1e-7)
    close(keras_default, pinned)
    assert not np.allclose(keras_default, notes, rtol=1e-3)


def test_rmsprop_keras_epsilon_under_root():
    theta0, grad = make_problem(3)
    got = run_keras(keras.optimizers.RMSprop(0.01, rho=0.9, epsilon=0.1), theta0, grad, 30)
    close(got, ref.rmsprop(theta0, grad, 30, lr=0.01, rho=0.9, delta=0.1, eps_inside=True))
    notes = ref.rmsprop(theta0, grad, 30, lr=0.01, rho=0.9, delta=0.1)
    assert not np.allclose(got, notes, rtol=1e-3)


def test_adam_keras_epsilon_hat_convention():
    theta0, grad = make_problem(4)
    got = run_keras(keras.optimizers.Adam(0.01, epsilon=0.1), theta0, grad, 30)
    keras_form = ref.adam(theta0, grad, 30, lr=0.01, rho1=0.9, rho2=0.999, delta=0.1,
                          convention="keras")
    close(got, keras_form)
    for convention in ("notes", "outside"):
        other = ref.adam(theta0, grad, 30, lr=0.01, rho1=0.9, rho2=0.999, delta=0.1,
                         convention=convention)
        assert not np.allclose(got, other, rtol=1e-3)


def test_sgd_nesterov_variable_is_the_interim_point():
    theta0, grad = make_problem(5)
    got = run_keras(keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True), theta0, grad)
    thetas, vs = ref.nesterov(theta0, grad, STEPS, lr=0.05, alpha=0.9)
    close(got, thetas + 0.9 * vs)
    assert not np.allclose(got, thetas, rtol=1e-3)


# --- seed 002: inclusion claims (Choi et al. 2019) ------------------------------------------

def test_sgd_is_momentum_zero_and_nesterov_zero():
    theta0, grad = make_problem(6)
    plain = run_keras(keras.optimizers.SGD(0.05), theta0, grad, 20)
    np.testing.assert_array_equal(
        run_keras(keras.optimizers.SGD(0.05, momentum=0.0), theta0, grad, 20), plain)
    np.testing.assert_array_equal(
        run_keras(keras.optimizers.SGD(0.05, momentum=0.0, nesterov=True), theta0, grad, 20),
        plain)


def test_seed_002_rmsprop_rho_1_epsilon_0_is_not_momentum_in_keras():
    # The notes claim RMSprop(rho=1, momentum=0.9, epsilon=0) == SGD(momentum=0.9): in Keras
    # r stays 0, so the step divides by sqrt(0) and the weights become non-finite.
    theta0, grad = make_problem(7)
    got = run_keras(keras.optimizers.RMSprop(0.001, rho=1.0, momentum=0.9, epsilon=0.0),
                    theta0, grad, 3)
    assert not np.all(np.isfinite(got))


def test_momentum_included_in_rmsprop_with_rho_1_and_scaled_lr():
    # What holds: with rho=1, r stays 0, the step is lr * g / sqrt(eps), so
    # RMSprop(lr * sqrt(eps), rho=1, momentum=a, epsilon=eps) == SGD(lr, momentum=a).
    theta0, grad = make_problem(8)
    sgd = run_keras(keras.optimizers.SGD(0.05, momentum=0.9), theta0, grad, 30)
    rms = run_keras(keras.optimizers.RMSprop(0.05 * 2.0, rho=1.0, momentum=0.9, epsilon=4.0),
                    theta0, grad, 30)
    close(rms, sgd)


def test_momentum_included_in_adam_only_up_to_bias_correction():
    # Adam with a huge epsilon and beta_2=0: update_t = lr * m_t / ((1 - b1**t) * eps), with
    # m = (1 - b1) * heavy-ball velocity. With lr = lr_sgd * eps / (1 - b1) the step-t update
    # is the momentum update divided by (1 - b1**t): equal only asymptotically.
    rng = np.random.default_rng(9)
    grads = rng.normal(size=(40, DIM)).astype("float32")
    eps, b1, lr = 1e8, 0.9, 0.01

    def updates(opt):
        var = keras.Variable(np.zeros(DIM, dtype="float32"))
        steps, prev = [], np.zeros(DIM)
        for g in grads:
            opt.apply([keras.ops.convert_to_tensor(g)], [var])
            now = keras.ops.convert_to_numpy(var).astype("float64")
            steps.append(now - prev)
            prev = now
        return np.array(steps)

    sgd = updates(keras.optimizers.SGD(lr, momentum=b1))
    adam = updates(keras.optimizers.Adam(lr * eps / (1 - b1), beta_1=b1, beta_2=0.0,
                                         epsilon=eps))
    t = np.arange(1, 41)[:, None]
    np.testing.assert_allclose(adam * (1 - b1**t), sgd, rtol=1e-4, atol=1e-7)
    assert not np.allclose(adam[:5], sgd[:5], rtol=1e-2)
