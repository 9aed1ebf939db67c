"""Lookahead's base Keras arguments: NumPy references, conflicts, config, .keras and resume."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_recipes.optimizers import Lookahead, Yogi

pytestmark = pytest.mark.backend

LR, K, ALPHA = 0.1, 3, 0.5


def reference(theta0, grads, *, lr=LR, k=K, alpha=ALPHA, clipnorm=None, clipvalue=None,
              weight_decay=None, accumulate=None, ema=None, ema_frequency=None,
              loss_scale=None, inner_clipvalue=None):
    """Lookahead around SGD(lr) in float64, written from the formulas.

    Per call: unscale; accumulate (step only every `accumulate` calls, on the mean);
    clip (wrapper); theta -= wd*lr*theta; inner clip; theta -= lr*g; every k inner steps
    phi += alpha*(theta - phi), theta = phi; EMA of theta (average = theta at the first
    step), written into theta every `ema_frequency` steps. Returns (thetas, averages).
    """
    theta = np.array(theta0, dtype="float64")
    slow = theta.copy()
    total = np.zeros_like(theta)
    average = np.zeros_like(theta)
    inner_steps = 0
    thetas, averages = [], []
    for call, g in enumerate(np.asarray(grads, dtype="float64")):
        if loss_scale is not None:
            g = g / loss_scale
        step = True
        if accumulate:
            total = total + g
            step = (call + 1) % accumulate == 0
            g, total = (total / accumulate, np.zeros_like(total)) if step else (g, total)
        if step:
            if clipnorm is not None:
                g = g * clipnorm / max(np.linalg.norm(g), clipnorm)
            if clipvalue is not None:
                g = np.clip(g, -clipvalue, clipvalue)
            if weight_decay is not None:
                theta = theta - weight_decay * lr * theta
            if inner_clipvalue is not None:
                g = np.clip(g, -inner_clipvalue, inner_clipvalue)
            theta = theta - lr * g
            inner_steps += 1
            if inner_steps % k == 0:
                slow = slow + alpha * (theta - slow)
                theta = slow.copy()
        if ema is not None:
            counted = call // accumulate if accumulate else call
            m = ema if counted else 0.0
            average = m * average + (1 - m) * theta
            if ema_frequency and (counted + 1) % ema_frequency == 0:
                theta = average.copy()
        thetas.append(theta.copy())
        averages.append(average.copy())
    return np.array(thetas), np.array(averages)


def run(opt, theta0, grads):
    var = keras.Variable(np.asarray(theta0, dtype="float32"))
    out = []
    for g in grads:
        opt.apply([keras.ops.convert_to_tensor(np.asarray(g, dtype="float32"))], [var])
        out.append(keras.ops.convert_to_numpy(var))
    return np.array(out), var


@pytest.fixture
def problem():
    rng = np.random.default_rng(3)
    theta0 = rng.normal(size=5)
    grads = 3.0 * rng.normal(size=(12, 5))  # norms ~6.7: clipnorm=1 is active
    return theta0, grads


CASES = {
    "clipnorm": (dict(clipnorm=1.0), dict(clipnorm=1.0)),
    "clipvalue": (dict(clipvalue=0.5), dict(clipvalue=0.5)),
    "weight_decay": (dict(weight_decay=0.5), dict(weight_decay=0.5)),
    "loss_scale_factor": (dict(loss_scale_factor=4.0), dict(loss_scale=4.0)),
    "gradient_accumulation_steps": (dict(gradient_accumulation_steps=3),
                                    dict(accumulate=3)),
    "use_ema": (dict(use_ema=True, ema_momentum=0.8), dict(ema=0.8)),
    "ema_overwrite_frequency": (dict(use_ema=True, ema_momentum=0.8, ema_overwrite_frequency=4),
                                dict(ema=0.8, ema_frequency=4)),
    "accumulation+ema+wd+clip": (
        dict(gradient_accumulation_steps=2, use_ema=True, ema_momentum=0.7, weight_decay=0.2,
             clipnorm=2.0),
        dict(accumulate=2, ema=0.7, weight_decay=0.2, clipnorm=2.0)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_base_argument_matches_numpy(case, problem):
    theta0, grads = problem
    kwargs, ref_kwargs = CASES[case]
    opt = Lookahead(keras.optimizers.SGD(LR), sync_period=K, slow_step_size=ALPHA, **kwargs)
    got, var = run(opt, theta0, grads)
    thetas, averages = reference(theta0, grads, **ref_kwargs)
    np.testing.assert_allclose(got, thetas, rtol=1e-5, atol=1e-6)
    if kwargs.get("use_ema"):
        opt.finalize_variable_values([var])
        np.testing.assert_allclose(keras.ops.convert_to_numpy(var), averages[-1],
                                   rtol=1e-5, atol=1e-6)


def test_global_clipnorm_by_hand():
    # Gradients [3] and [4] have global norm 5; clipped to 1: [0.6] and [0.8].
    a, b = keras.Variable(np.zeros(1, "float32")), keras.Variable(np.zeros(1, "float32"))
    opt = Lookahead(keras.optimizers.SGD(1.0), global_clipnorm=1.0)
    opt.apply([keras.ops.convert_to_tensor([3.0]), keras.ops.convert_to_tensor([4.0])], [a, b])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(a), [-0.6], rtol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(b), [-0.8], rtol=1e-6)


def test_weight_decay_by_hand():
    # SGD(0.1), wd=0.5, k=2, alpha=0.5, g=1, theta0=1:
    # step 1: 1*(1-0.05) - 0.1 = 0.85; step 2: 0.85*0.95 - 0.1 = 0.7075, then
    # phi = 1 + 0.5*(0.7075 - 1) = 0.85375 and theta = phi.
    var = keras.Variable(np.ones(1, "float32"))
    opt = Lookahead(keras.optimizers.SGD(0.1), sync_period=2, weight_decay=0.5)
    for expected in (0.85, 0.85375):
        opt.apply([keras.ops.ones((1,))], [var])
        np.testing.assert_allclose(keras.ops.convert_to_numpy(var), [expected], rtol=1e-6)


def test_weight_decay_uses_inner_schedule_and_exclusions():
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay([0], [0.1, 0.01])
    kernel = keras.Variable(np.ones(1, "float32"), name="kernel")
    bias = keras.Variable(np.ones(1, "float32"), name="bias")
    opt = Lookahead(keras.optimizers.SGD(schedule), sync_period=10, weight_decay=1.0)
    opt.exclude_from_weight_decay(var_names=["bias"])
    zero = keras.ops.zeros((1,))
    opt.apply([zero, zero], [kernel, bias])  # lr 0.1: kernel 0.9
    opt.apply([zero, zero], [kernel, bias])  # lr 0.01: kernel 0.9 * 0.99
    np.testing.assert_allclose(keras.ops.convert_to_numpy(kernel), [0.891], rtol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(bias), [1.0])


def test_inner_arguments_still_apply_and_compose(problem):
    theta0, grads = problem
    opt = Lookahead(keras.optimizers.SGD(LR, clipvalue=0.3), sync_period=K,
                    slow_step_size=ALPHA, clipnorm=1.0)
    got, _ = run(opt, theta0, grads)
    thetas, _ = reference(theta0, grads, clipnorm=1.0, inner_clipvalue=0.3)
    np.testing.assert_allclose(got, thetas, rtol=1e-5, atol=1e-6)


def test_scale_loss_uses_both_factors():
    assert float(Lookahead(keras.optimizers.SGD(), loss_scale_factor=2.0).scale_loss(3.0)) == 6.0
    inner = keras.optimizers.SGD(loss_scale_factor=4.0)
    assert float(Lookahead(inner).scale_loss(3.0)) == 12.0


@pytest.mark.parametrize("key, outer, inner", [
    ("clipnorm", 1.0, 2.0), ("weight_decay", 0.1, 0.2), ("use_ema", True, True),
    ("gradient_accumulation_steps", 2, 3), ("loss_scale_factor", 2.0, 2.0),
])
def test_same_argument_on_both_is_rejected(key, outer, inner):
    with pytest.raises(ValueError, match=rf"`{key}` is set on both Lookahead and its inner "
                                         rf"optimizer SGD.*Received: {key}={outer}"):
        Lookahead(keras.optimizers.SGD(**{key: inner}), **{key: outer})


def test_adamw_default_weight_decay_conflicts():
    with pytest.raises(ValueError, match=r"`weight_decay` is set on both.*AdamW"):
        Lookahead(keras.optimizers.AdamW(), weight_decay=0.01)
    Lookahead(keras.optimizers.AdamW(), clipnorm=1.0)  # a different argument composes


@pytest.mark.parametrize("key, value, requirement", [
    ("weight_decay", -0.1, ">= 0"), ("clipnorm", 0.0, "> 0"), ("clipvalue", -1.0, "> 0"),
    ("global_clipnorm", -2.0, "> 0"), ("loss_scale_factor", 0.0, "> 0"),
    ("gradient_accumulation_steps", 1, ">= 2"), ("gradient_accumulation_steps", 2.5, "integer"),
    ("ema_momentum", 1.5, "<= 1"), ("ema_overwrite_frequency", 0, ">= 1"),
    ("use_ema", "yes", "a bool"),
])
def test_bad_base_arguments(key, value, requirement):
    received = repr(value) if isinstance(value, str) else value
    with pytest.raises(ValueError, match=rf"Argument `{key}` must be .*{requirement}.*"
                                         rf"Received: {key}={received}"):
        Lookahead(keras.optimizers.SGD(), **{key: value})


def test_one_clipping_argument_only():
    with pytest.raises(ValueError, match=r"Only one of `clipnorm`, `clipvalue`"):
        Lookahead(keras.optimizers.SGD(), clipnorm=1.0, clipvalue=1.0)


FULL = dict(weight_decay=0.01, global_clipnorm=1.0, use_ema=True, ema_momentum=0.9,
            ema_overwrite_frequency=3, loss_scale_factor=8.0, gradient_accumulation_steps=2)


def test_config_roundtrip_with_base_arguments(config_roundtrip):
    opt = Lookahead(Yogi(0.01, clipvalue=0.5), sync_period=4, slow_step_size=0.7, **FULL)
    rebuilt = config_roundtrip(opt)
    config = rebuilt.get_config()
    for key, value in FULL.items():
        assert config[key] == value
    assert config["inner"]["config"]["clipvalue"] == 0.5
