"""find_lr: per-batch losses, the sweep, smoothing, early stop, inputs, validation, bad input."""

from __future__ import annotations

import os

import keras
import numpy as np
import pandas as pd
import pytest

from keras_recipes.lr_finder import LRFinderResult, find_lr, lr_sweep
from tests.lr_finder.conftest import ce_numpy

pytestmark = pytest.mark.backend

TINY = {"min_lr": 1e-12, "max_lr": 2e-12}  # updates far below float32 resolution


def _mlp(optimizer=None):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=optimizer or keras.optimizers.SGD(1e-2),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_each_recorded_loss_is_that_batchs_own_loss(tiny_digits):
    # With updates too small to change a float32 weight, the loss recorded at step i must
    # be the cross-entropy of batch i under the initial weights (computed here in NumPy),
    # not the running mean that fit reports in logs["loss"].
    x, y = tiny_digits
    model = _mlp()
    probs = model.predict(x, verbose=0)
    result = find_lr(model, x, y, num_steps=10, batch_size=32, shuffle=False, smoothing=0.5,
                     **TINY)
    order = [i % 6 for i in range(10)]  # 200 // 32 = 6 full batches per pass, then repeat
    expected = [ce_numpy(probs[32 * b:32 * (b + 1)], y[32 * b:32 * (b + 1)]) for b in order]
    got = result.history["loss"].to_numpy()
    np.testing.assert_allclose(got, expected, rtol=2e-5)
    running_mean = np.cumsum(expected) / np.arange(1, 11)
    assert not np.allclose(got, running_mean, rtol=1e-3)
    # Bias-corrected EMA, β = 0.5.
    avg, smoothed = 0.0, []
    for i, loss in enumerate(got):
        avg = 0.5 * avg + 0.5 * loss
        smoothed.append(avg / (1 - 0.5 ** (i + 1)))
    np.testing.assert_allclose(result.history["smoothed_loss"], smoothed, rtol=1e-12)


@pytest.mark.parametrize("mode", ["exponential", "linear"])
def test_sweep_matches_numpy(mode):
    expected = (np.geomspace(1e-4, 1.0, 12) if mode == "exponential"
                else np.linspace(1e-4, 1.0, 12))
    np.testing.assert_allclose(lr_sweep(1e-4, 1.0, 12, mode), expected, rtol=1e-12)


def test_linear_mode_repeats_small_data_and_suggests(tiny_digits):
    x, y = tiny_digits
    result = find_lr(_mlp(), x[:100], y[:100], min_lr=1e-3, max_lr=0.5, num_steps=12,
                     batch_size=32, mode="linear")
    assert isinstance(result, LRFinderResult)
    assert len(result.history) == 12  # 3 batches per pass, repeated 4 times
    np.testing.assert_allclose(result.history["lr"], np.linspace(1e-3, 0.5, 12))
    assert result.stop_reason == "completed"
    assert result.suggestion == result.suggestions["combined"] is not None  # the default


def test_stops_early_on_divergence(tiny_regression):
    x, y = tiny_regression
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    result = find_lr(model, x, y, min_lr=1e-3, max_lr=1e3, num_steps=60, smoothing=0.0)
    assert result.stop_reason in ("diverged", "non_finite")
    assert len(result.history) < 60
    if result.stop_reason == "diverged":
        s = result.history["smoothed_loss"]
        assert s.iloc[-1] > 4.0 * s.iloc[:-1].min()
        assert (s.iloc[:-1] <= 4.0 * s.iloc[:-1].cummin()).all()


def test_generator_is_cached_and_replayed(tiny_digits):
    x, y = tiny_digits
    seen = []

    def gen():
        for i in range(3):
            seen.append(i)
            yield x[32 * i:32 * (i + 1)], y[32 * i:32 * (i + 1)]

    model = _mlp()
    probs = model.predict(x[:96], verbose=0)
    result = find_lr(model, gen(), num_steps=10, **TINY)
    assert seen == [0, 1, 2] and len(result.history) == 10
    expected = [ce_numpy(probs[32 * (i % 3):32 * (i % 3 + 1)], y[32 * (i % 3):32 * (i % 3 + 1)])
                for i in range(10)]
    np.testing.assert_allclose(result.history["loss"], expected, rtol=2e-5)


def test_py_dataset_input(tiny_digits):
    x, y = tiny_digits

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return x[32 * i:32 * (i + 1)], y[32 * i:32 * (i + 1)]

    result = find_lr(_mlp(), Batches(), num_steps=10, **TINY)
    assert len(result.history) == 10 and result.stop_reason == "completed"


@pytest.mark.tf_only
def test_tf_data_input_is_repeated(tiny_digits):
    import tensorflow as tf

    x, y = tiny_digits
    ds = tf.data.Dataset.from_tensor_slices((x[:64], y[:64])).batch(32)
    result = find_lr(_mlp(), ds, num_steps=10, **TINY)
    assert len(result.history) == 10


def test_validation_loss_is_recorded_per_step(tiny_digits):
    x, y = tiny_digits
    model = _mlp()
    val = (x[150:], y[150:])
    expected = ce_numpy(model.predict(val[0], verbose=0), val[1])
    result = find_lr(model, x[:150], y[:150], num_steps=10, validation_data=val, **TINY)
    assert result.loss_kind == "validation"
    np.testing.assert_allclose(result.history["loss"], expected, rtol=2e-5)


def test_validation_with_dict_targets_and_sample_weights():
    # A two-output model: targets and sample weights keyed by output name. The recorded
    # loss is Σ_outputs Σ_i w_i·l_i / n, computed here in NumPy under the initial weights.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 4)).astype("float32")
    y = {"a": x[:, :1] * 2.0, "b": x[:, 1:2] - x[:, 2:3]}
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    model = keras.Model(inputs, {"a": keras.layers.Dense(1, name="a")(hidden),
                                 "b": keras.layers.Dense(1, name="b")(hidden)})
    model.compile(optimizer="sgd", loss={"a": "mse", "b": "mae"})
    x_val = rng.normal(size=(40, 4)).astype("float32")
    y_val = {"a": x_val[:, :1] * 2.0, "b": x_val[:, 1:2] - x_val[:, 2:3]}
    sw_val = {"a": rng.uniform(0.5, 2.0, size=40).astype("float32"),
              "b": rng.uniform(0.5, 2.0, size=40).astype("float32")}
    pred = model.predict(x_val, verbose=0)
    mse = (pred["a"][:, 0] - y_val["a"][:, 0]) ** 2
    mae = np.abs(pred["b"][:, 0] - y_val["b"][:, 0])
    expected = float(np.sum(sw_val["a"] * mse) / 40 + np.sum(sw_val["b"] * mae) / 40)
    result = find_lr(model, x, y, num_steps=10, batch_size=32,
                     validation_data=(x_val, y_val, sw_val), **TINY)
    assert result.loss_kind == "validation"
    np.testing.assert_allclose(result.history["loss"], expected, rtol=2e-5)


def test_user_optimizer_is_never_built_or_stepped(tiny_digits):
    x, y = tiny_digits
    model = _mlp(keras.optimizers.Adam(1e-3))
    find_lr(model, x, y, min_lr=1e-4, max_lr=1.0, num_steps=10)
    assert not model.optimizer.built
    assert float(np.asarray(model.optimizer.learning_rate)) == pytest.approx(1e-3)


def test_writes_nothing_to_working_directory(tiny_digits, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    x, y = tiny_digits
    result = find_lr(_mlp(), x, y, min_lr=1e-4, max_lr=1.0, num_steps=10)
    result.plot()
    result.to_csv()
    assert os.listdir(tmp_path) == []


def _empty_gen():
    yield from ()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_lr": 1.0, "max_lr": 0.1}, r"Argument `max_lr` must be > `min_lr`"),
        ({"min_lr": 0.1, "max_lr": 0.1}, r"Argument `max_lr` must be > `min_lr`"),
        ({"num_steps": 9}, r"Argument `num_steps` must be >= 10"),
        ({"mode": "cubic"}, r"Argument `mode` must be one of"),
        ({"suggest": "best"}, r"Argument `suggest` must be one of"),
        ({"smoothing": 1.0}, r"Argument `smoothing`"),
        ({"divergence_threshold": 1.0}, r"Argument `divergence_threshold`"),
        ({"seed": -1}, r"Argument `seed` must be >= 0"),
        ({"shuffle": "no"}, r"Argument `shuffle` must be a bool"),
        ({"x": "empty"}, r"must hold at least one"),
        ({"x": "empty_gen"}, r"must hold at least one batch"),
        ({"validation_data": "empty"}, r"Argument `validation_data` must hold"),
        ({"compiled": False}, r"must be compiled"),
    ],
)
def test_bad_input_fails_before_any_training(tiny_digits, kwargs, match):
    x, y = tiny_digits
    kwargs = dict(kwargs)
    model = _mlp()
    if not kwargs.pop("compiled", True):
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
    data = kwargs.pop("x", None)
    if data == "empty":
        x, y = x[:0], y[:0]
    elif data == "empty_gen":
        x, y = _empty_gen(), None
    if kwargs.get("validation_data") == "empty":
        kwargs["validation_data"] = (x[:0], y[:0])
    weights = [w.numpy().copy() for w in model.weights]
    with pytest.raises(ValueError, match=match):
        find_lr(model, x, y, **kwargs)
    assert model.train_function is None  # no step was compiled, let alone run
    for before, w in zip(weights, model.weights, strict=True):
        np.testing.assert_array_equal(before, w.numpy())


def _labels(y, how):
    y = np.array(y, copy=True)
    if how == "too_big":
        y[7] = 10  # the model has 10 output units: labels are 0..9
    elif how == "negative":
        y[3] = -1
    return y


@pytest.mark.parametrize(
    ("case", "match"),
    [
        ("min_lr_underflows", r"^Argument `min_lr` must be a learning rate float32 can hold.*"
                              r"Received: min_lr=1e-320$"),
        ("max_lr_overflows", r"^Argument `max_lr` must be a learning rate float32 can hold.*"
                             r"Received: max_lr=1e\+39$"),
        ("min_lr_text", r"^Argument `min_lr` must be a finite number\. Received: min_lr='1e-7'$"),
        ("batch_size_huge", r"^Argument `batch_size` must be an integer that fits in int64"),
        ("label_too_big", r"^Argument `y` must hold class labels from 0 to 9: the model's "
                          r"output has 10 units .*Received: a label 10 \(labels range from 0 "
                          r"to 10\)$"),
        ("label_negative", r"^Argument `y` must hold class labels from 0 to 9.*Received: a "
                           r"label -1 \(labels range from -1 to 9\)$"),
        ("label_too_big_loss_object", r"^Argument `y` must hold class labels from 0 to 9"),
        ("label_too_big_generator", r"^Argument `y` must hold class labels from 0 to 9"),
        ("validation_label_too_big", r"^Argument `validation_data` must hold class labels "
                                     r"from 0 to 9"),
        ("all_nan", r"^Argument `x` must hold finite values: with NaN or Inf in the data every "
                    r"loss of the range test is NaN\. Received: 12800 non-finite of 12800 "
                    r"values \(the first at index \(0, 0\): nan\)$"),
        ("one_inf", r"^Argument `x` must hold finite values.*Received: 1 non-finite of 12800 "
                    r"values \(the first at index \(5, 2\): inf\)$"),
        ("nan_in_validation", r"^Argument `validation_data` must hold finite values"),
    ],
)
def test_unusable_data_is_refused_before_training(tiny_digits, case, match):
    # Each case is refused with a Keras-style ValueError before any step is compiled; a
    # label of 10 would otherwise reach TensorFlow's kernel (InvalidArgumentError) and an
    # all-NaN input a range test of NaN losses.
    x, y = tiny_digits
    model = _mlp()
    kwargs = {"num_steps": 10}
    if case == "min_lr_underflows":
        kwargs["min_lr"] = 1e-320
    elif case == "max_lr_overflows":
        kwargs["max_lr"] = 1e39
    elif case == "min_lr_text":
        kwargs["min_lr"] = "1e-7"
    elif case == "batch_size_huge":
        kwargs["batch_size"] = 99999999999999999999
    elif case == "label_too_big":
        y = _labels(y, "too_big")
    elif case == "label_negative":
        y = _labels(y, "negative")
    elif case == "label_too_big_loss_object":
        model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy())
        y = _labels(y, "too_big")
    elif case == "label_too_big_generator":
        inputs, bad = x, _labels(y, "too_big")  # label 10 is in the first batch
        x, y = ((inputs[i:i + 20], bad[i:i + 20]) for i in range(0, 200, 20)), None
    elif case == "validation_label_too_big":
        kwargs["validation_data"] = (x[:50], _labels(y[:50], "too_big"))
    elif case == "all_nan":
        x = np.full_like(x, np.nan)
    elif case == "one_inf":
        x = np.array(x, copy=True)
        x[5, 2] = np.inf
    elif case == "nan_in_validation":
        x_val = np.array(x[:50], copy=True)
        x_val[0, 0] = np.nan
        kwargs["validation_data"] = (x_val, y[:50])
    with pytest.raises(ValueError, match=match):
        find_lr(model, x, y, **kwargs)
    assert model.train_function is None  # no step was compiled, let alone run


def test_labels_equal_to_ignore_class_are_allowed(tiny_digits):
    x, y = tiny_digits
    model = _mlp()
    model.compile(optimizer="sgd",
                  loss=keras.losses.SparseCategoricalCrossentropy(ignore_class=-1))
    y = _labels(y, "negative")  # -1 is the ignored class, not an out-of-range label
    result = find_lr(model, x, y, num_steps=10, **TINY)
    assert len(result.history) == 10


def test_other_losses_are_not_label_checked(tiny_regression):
    # Regression targets may take any value: only a sparse categorical loss is checked.
    x, y = tiny_regression
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    result = find_lr(model, x, 100.0 * y, num_steps=10, **TINY)
    assert len(result.history) == 10


# ------------------------------------------- the best constant prediction (regression)
def test_constant_prediction_loss_by_hand():
    from keras_recipes.lr_finder.find_lr import constant_prediction_loss

    y = np.array([[1.0, 10.0], [2.0, 10.0], [3.0, 13.0], [6.0, 15.0]])
    # MSE: variances 3.5 (mean 3) and 4.5 (mean 12: 4, 4, 1, 9), averaged over the outputs
    assert constant_prediction_loss("mse", y) == pytest.approx(4.0)
    assert constant_prediction_loss(keras.losses.MeanSquaredError(), y) == pytest.approx(4.0)
    # MAE: medians 2.5 and 11.5; deviations 1.5 and (1.5 + 1.5 + 1.5 + 3.5) / 4 = 2
    assert constant_prediction_loss("mean_absolute_error", y) == pytest.approx(1.75)
    for other in ("sparse_categorical_crossentropy", "huber", None, ["mse", "mse"]):
        assert constant_prediction_loss(other, y) is None
    assert constant_prediction_loss("mse", np.array([1.0, np.nan])) is None
    assert constant_prediction_loss("mse", None) is None


def _regression(offset):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 4)).astype("float32")
    y = (offset + x @ np.array([1.0, -2.0, 0.5, 1.0])).astype("float32")[:, None]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(keras.optimizers.RMSprop(), "mse")
    return model, x, y


def test_a_range_test_that_only_fits_the_targets_offset_suggests_nothing():
    # Targets around 200 (variance 6.25): over 30 steps up to a rate of 1e-3 the MSE only
    # falls from ~40 000, far above the best constant prediction's 6.25.
    model, x, y = _regression(200.0)
    with pytest.warns(RuntimeWarning, match="best constant prediction"):
        result = find_lr(model, x, y, min_lr=1e-6, max_lr=1e-3, num_steps=30, batch_size=32)
    assert result.inconclusive and result.suggestion is None
    assert set(result.suggestions.values()) == {None}
    assert result.baseline_loss == pytest.approx(float(np.var(y)), rel=1e-4)
    assert result.best_loss > result.baseline_loss


def test_the_same_task_with_centred_targets_gets_a_suggestion():
    model, x, y = _regression(0.0)
    result = find_lr(model, x, y, min_lr=1e-4, max_lr=1.0, num_steps=40, batch_size=32)
    assert not result.inconclusive and result.suggestion is not None
    assert result.best_loss < result.baseline_loss


def test_a_curve_below_the_baseline_keeps_every_rule():
    lrs = np.logspace(-6, 0, 61)
    loss = 2.0 - np.tanh(np.log10(lrs) + 3)  # from 3 down to 1
    frame = pd.DataFrame({"lr": lrs, "loss": loss, "smoothed_loss": loss})
    kept = LRFinderResult(frame, baseline_loss=1.5)
    assert not kept.inconclusive and kept.suggestions == LRFinderResult(frame).suggestions
    dropped = LRFinderResult(frame, baseline_loss=0.5)
    assert dropped.inconclusive and dropped.suggestion is None
