"""suggest_batch_size (seeds 000/001/003), choose_batch_size, find_batch_size with injected OOM."""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest

from keras_recipes.tuning import (
    choose_batch_size,
    find_batch_size,
    is_out_of_memory,
    suggest_batch_size,
)


class ResourceExhaustedError(Exception):
    """Stands for tf.errors.ResourceExhaustedError (matched by its class name)."""


@pytest.mark.parametrize(("n", "kwargs", "expected"), [
    (100, {}, 100),          # small data: the whole set (seed 001)
    (512, {}, 512),          # still within seed 003's 32–512
    (513, {}, 32),           # larger: seed 000's 32, in 16–256 and 32–512
    (60000, {"default": 128}, 128),
    (300, {"max_batch_size": 64}, 64),  # a memory bound wins
    (5000, {"small_data": 10000}, 5000),
])
def test_suggest_batch_size_follows_the_seeds(n, kwargs, expected):
    assert suggest_batch_size(n, **kwargs) == expected


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"n_examples": 0}, "`n_examples`"),
    ({"n_examples": 10, "default": 48}, "`default` must be one of"),
    ({"n_examples": 10, "max_batch_size": 0}, "`max_batch_size`"),
])
def test_suggest_batch_size_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        suggest_batch_size(**kwargs)


@pytest.mark.parametrize(("throughputs", "expected"), [
    ([100.0, 190.0, 350.0, 600.0], 128),   # rising all the way
    ([100.0, 190.0, 195.0, 600.0], 32),    # +2.6 % at 64 is below 5 %: stop at 32
    ([100.0, 190.0, None, None], 32),      # 64 ran out of memory
    ([100.0, 90.0, 300.0, 400.0], 16),     # slower at 32
    ([100.0, None, None, None], 16),
])
def test_choose_batch_size_on_synthetic_curves(throughputs, expected):
    assert choose_batch_size([16, 32, 64, 128], throughputs) == expected


def test_choose_batch_size_nothing_fits():
    with pytest.raises(ValueError, match="Not even a batch of 16"):
        choose_batch_size([16, 32], [None, None])


@pytest.mark.parametrize(("error", "expected"), [
    (ResourceExhaustedError("OOM when allocating tensor with shape[64,512]"), True),
    (RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1.2GiB"), True),
    (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), True),
    (MemoryError(), True),
    (ValueError("Input 0 of layer dense is incompatible"), False),
    (RuntimeError("NaN loss"), False),
])
def test_is_out_of_memory(error, expected):
    assert is_out_of_memory(error) is expected


def _model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="mse")
    return model


def _data(n=256):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 8)).astype("float32"), rng.normal(size=(n, 1)).astype("float32")


def _snapshot(model):
    return ([keras.ops.convert_to_numpy(v).copy() for v in model.variables],
            [keras.ops.convert_to_numpy(v).copy() for v in model.optimizer.variables])


def _assert_same(model, before):
    weights, slots = _snapshot(model)
    for a, b in zip(weights + slots, before[0] + before[1], strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.backend
def test_find_batch_size_stops_at_injected_oom_and_restores_the_model():
    x, y = _data()
    model = _model()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)  # optimizer built, momentum non-zero
    before = _snapshot(model)
    iterations = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    original = model.train_on_batch
    calls = []

    def train_on_batch(xb, yb=None, **kwargs):
        calls.append(len(xb))
        if len(xb) >= 64:
            raise ResourceExhaustedError("OOM when allocating tensor with shape[64,16]")
        return original(xb, yb, **kwargs)

    model.train_on_batch = train_on_batch
    # A clock that ticks once per reading: every size takes "1 s", so throughput rises with
    # the batch whatever the machine's load, and only the injected failure stops the search.
    result = find_batch_size(model, x, y, steps=2, min_gain=0.0,
                             timer=itertools.count().__next__)
    assert list(result.frame["batch_size"]) == [16, 32, 64]
    assert list(result.frame["status"]) == ["ok", "ok", "out of memory"]
    assert result.max_fitting == 32 and result.batch_size in (16, 32)
    assert "ran out of memory" in result.stop_reason
    assert 128 not in calls  # stopped at the first failure
    del model.train_on_batch
    _assert_same(model, before)
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == iterations


def test_find_batch_size_follows_throughput_with_an_injected_clock():
    # Each timed block takes one clock tick: examples/second = b·steps/1, so it doubles with
    # b and every size is kept up to the data size (powers of two only: 200 → 128).
    x, y = _data(200)
    model = _model()
    ticks = itertools.count()
    result = find_batch_size(model, x, y, steps=1, timer=lambda: float(next(ticks)))
    assert list(result.frame["batch_size"]) == [16, 32, 64, 128]
    np.testing.assert_allclose(result.frame["examples_per_second"], [16, 32, 64, 128])
    assert result.batch_size == 128 and "largest size" in result.stop_reason
    # A clock where every step takes as long per example: throughput flat, stop at once.
    clock = iter([0.0, 16.0, 16.0, 48.0, 48.0, 112.0])  # 16, 32, 64 examples: 1 example/s
    flat = find_batch_size(model, x, y, steps=1, timer=lambda: next(clock))
    assert flat.batch_size == 16 and list(flat.frame["batch_size"]) == [16, 32]
    assert "did not raise the throughput" in flat.stop_reason


@pytest.mark.backend
def test_find_batch_size_other_errors_propagate_and_state_is_restored():
    x, y = _data(64)
    model = _model()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    before = _snapshot(model)
    original = model.train_on_batch
    seen = []

    def train_on_batch(xb, yb=None, **kwargs):
        seen.append(len(xb))
        if len(seen) > 2:  # after one real update
            raise ValueError("something else")
        return original(xb, yb, **kwargs)

    model.train_on_batch = train_on_batch
    with pytest.raises(ValueError, match="something else"):
        find_batch_size(model, x, y, steps=3)
    del model.train_on_batch
    _assert_same(model, before)


def test_find_batch_size_nothing_fits_and_small_data():
    x, y = _data(12)
    model = _model()
    result = find_batch_size(model, x, y, steps=1)  # 12 < 16: the largest power of two, 8
    assert list(result.frame["batch_size"]) == [8]
    original = model.train_on_batch

    def always_oom(xb, yb=None, **kwargs):
        raise RuntimeError("RESOURCE_EXHAUSTED: out of memory")

    model.train_on_batch = always_oom
    with pytest.raises(ValueError, match="Not even a batch of 8 fits"):
        find_batch_size(model, x, y)
    model.train_on_batch = original


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"min_batch_size": 24}, "power of two"),
    ({"steps": 0}, "`steps`"),
    ({"max_batch_size": 0}, "`max_batch_size`"),
    ({"min_gain": -0.1}, "`min_gain`"),
])
def test_find_batch_size_bad_arguments(kwargs, match):
    x, y = _data(32)
    with pytest.raises(ValueError, match=match):
        find_batch_size(_model(), x, y, **kwargs)
    with pytest.raises(ValueError, match="must be compiled"):
        find_batch_size(keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)]), x, y)
    with pytest.raises(ValueError, match="same length"):
        find_batch_size(_model(), x, y[:10])
