"""find_lr and find_max_stable_lr leave the model bit-for-bit as they found it: after
success, after a divergence to NaN, and after an exception or KeyboardInterrupt."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_recipes.lr_finder import find_lr, find_max_stable_lr
from tests.lr_finder.conftest import assert_same_state, full_state

pytestmark = pytest.mark.backend


def _raising_generator(x, y, exc, after=3):
    for i in range(after):
        yield x[32 * i:32 * (i + 1)], y[32 * i:32 * (i + 1)]
    raise exc


def test_restored_after_success_with_schedule(bn_model, tiny_digits):
    x, y = tiny_digits
    schedule = keras.optimizers.schedules.ExponentialDecay(1e-2, 10, 0.5)
    model = bn_model(x, y, optimizer=keras.optimizers.Adam(schedule))
    before = full_state(model)
    assert before["iterations"] == 2 and model.optimizer._learning_rate is schedule
    result = find_lr(model, x, y, min_lr=1e-4, max_lr=1.0, num_steps=12)
    assert result.stop_reason == "completed" and len(result.history) == 12
    assert_same_state(before, full_state(model))


def test_restored_after_divergence_to_nan(tiny_regression):
    # Linear output and MSE: nothing saturates, so SGD at huge rates overflows to Inf/NaN
    # on every backend. The BatchNormalization statistics and the momentum are restored too.
    x, y = tiny_regression
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8),
                              keras.layers.BatchNormalization(), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(1e-2, momentum=0.9), loss="mse")
    model.fit(x[:64], y[:64], batch_size=32, epochs=1, verbose=0)
    before = full_state(model)
    result = find_lr(model, x, y, min_lr=1e-3, max_lr=1e12, num_steps=40,
                     divergence_threshold=1e300)
    assert result.stop_reason == "non_finite"
    assert not np.isfinite(result.history["loss"].iloc[-1])
    assert_same_state(before, full_state(model))
    assert all(np.all(np.isfinite(v)) for v in full_state(model)["variables"])


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()],
                         ids=["exception", "keyboard_interrupt"])
def test_restored_after_interruption_mid_run(bn_model, tiny_digits, exc):
    x, y = tiny_digits
    model = bn_model(x, y)
    before = full_state(model)
    with pytest.raises(type(exc)):
        find_lr(model, _raising_generator(x, y, exc), min_lr=1e-2, max_lr=10.0, num_steps=20)
    assert_same_state(before, full_state(model))


def test_max_stable_lr_restores_after_nan_and_interrupt(bn_model, tiny_digits):
    x, y = tiny_digits
    model = bn_model(x, y, optimizer=keras.optimizers.SGD(1e-2, momentum=0.9))
    before = full_state(model)
    result = find_max_stable_lr(model, x, y, candidates=(1e9, 1e-2), steps=20)
    assert result.table["status"].tolist()[0] in ("non_finite", "exploded")
    assert_same_state(before, full_state(model))
    with pytest.raises(KeyboardInterrupt):
        find_max_stable_lr(model, _raising_generator(x, y, KeyboardInterrupt()), steps=5)
    assert_same_state(before, full_state(model))


@pytest.mark.integration
def test_training_after_find_lr_matches_training_without_it(bn_model, tiny_digits):
    # The compiled step is put back too: the next fit follows the same trajectory, bit for
    # bit, as the same model trained without the range test.
    x, y = tiny_digits[0][:192], tiny_digits[1][:192]  # full batches only: no retrace
    plain, probed = bn_model(x, y), bn_model(x, y)
    find_lr(probed, x, y, min_lr=1e-3, max_lr=10.0, num_steps=10)
    for model in (plain, probed):
        # On torch an unseeded Dropout draws from torch's global generator, which the two
        # fits share: the same seed before each gives both the same masks (on TensorFlow
        # and JAX the masks come from the layer's own seed-generator variable).
        keras.utils.set_random_seed(1)
        model.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(plain.variables, probed.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for a, b in zip(plain.optimizer.variables, probed.optimizer.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="torch's global generator")
def test_torch_global_generator_is_restored(bn_model, tiny_digits):
    # Keras's torch backend draws an unseeded Dropout's masks from torch's global generator:
    # the range test's steps must not move it, or every later mask would change.
    import torch

    x, y = tiny_digits
    model = bn_model(x, y)
    before = torch.get_rng_state().clone()
    find_lr(model, x, y, min_lr=1e-3, max_lr=10.0, num_steps=10)
    assert torch.equal(torch.get_rng_state(), before)
