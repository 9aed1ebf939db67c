"""What seed 000 asks the logger to record: split sizes, batch size, per-step updates and
an image grid of one batch."""

from __future__ import annotations

import os

import keras
import numpy as np
import pandas as pd
import pytest

from keras_recipes.diagnostics import DiagnosticLogger
from keras_recipes.diagnostics.image_grid import batch_grid

# `slow_elsewhere`: TensorFlow checks these claims in `make test`; JAX and torch (where only
# the random draws and the float32 rounding differ) in `make test-all`.
pytestmark = [pytest.mark.backend, pytest.mark.slow_elsewhere]


class _WeightsPerStep(keras.callbacks.Callback):
    """Test-only: the trainable weights after every step (a host copy per batch)."""

    def on_train_begin(self, logs=None):
        self.weights = [self._flat()]

    def _flat(self):
        return [np.concatenate([np.asarray(keras.ops.convert_to_numpy(w.value)).ravel()
                                for w in layer.trainable_weights])
                for layer in self.model.layers]

    def on_train_batch_end(self, batch, logs=None):
        self.weights.append(self._flat())


def test_split_sizes_and_batch_size(tiny_digits, tiny_mlp, seed):
    x, y = tiny_digits
    logger = DiagnosticLogger(data=(x[:120], y[:120]), validation_data=(x[120:160], y[120:160]),
                              test_data=(x[160:], y[160:]))
    tiny_mlp().fit(x[:120], y[:120], epochs=1, batch_size=25, verbose=0, callbacks=[logger])
    s = logger.summary
    assert (s["train_size"], s["val_size"], s["test_size"]) == (120, 40, 40)
    assert s["test_class_counts"] == {int(k): int(v) for k, v in zip(
        *np.unique(y[160:], return_counts=True), strict=True)}
    assert (s["batch_size"], s["batch_size_source"]) == (25, "measured")
    given = DiagnosticLogger(probe=(x[:8], y[:8]), batch_size=25)
    tiny_mlp().fit(x[:120], y[:120], epochs=1, batch_size=25, verbose=0, callbacks=[given])
    assert (given.summary["batch_size"], given.summary["batch_size_source"]) == (25, "argument")


def test_batch_size_of_a_single_step_epoch_is_the_whole_set(tiny_digits, tiny_mlp, seed):
    x, y = tiny_digits
    logger = DiagnosticLogger(probe=(x[:8], y[:8]))
    tiny_mlp().fit(x, y, epochs=1, batch_size=500, verbose=0, callbacks=[logger])
    assert logger.summary["batch_size"] == 200


def test_step_updates_match_numpy_for_every_step(tiny_digits, tiny_mlp, tmp_path, seed):
    x, y = tiny_digits
    model = tiny_mlp()
    steps_cb = _WeightsPerStep()
    logger = DiagnosticLogger(probe=(x[:16], y[:16]), step_updates=True, log_dir=tmp_path,
                              activations=False, gradients=False)
    model.fit(x, y, epochs=2, batch_size=50, verbose=0, callbacks=[steps_cb, logger])
    sf = logger.step_frame
    assert sorted(set(sf.step)) == list(range(1, 9))  # 4 steps per epoch, 2 epochs
    for layer_index, layer in enumerate(model.layers):
        for step in range(1, 9):
            prev = steps_cb.weights[step - 1][layer_index]
            d = steps_cb.weights[step][layer_index] - prev
            got = sf[(sf.step == step) & (sf.layer == layer.name)].set_index("stat").value
            assert got["update_norm"] == pytest.approx(np.linalg.norm(d), rel=1e-4)
            assert got["update_mean"] == pytest.approx(d.mean(), rel=1e-3, abs=1e-8)
            assert got["update_var"] == pytest.approx(d.var(), rel=1e-3)
            assert got["update_ratio"] == pytest.approx(
                np.linalg.norm(d) / np.linalg.norm(prev), rel=1e-4)
    f = logger.frame
    name = model.layers[0].name
    epoch2 = sf[(sf.step > 4) & (sf.layer == name) & (sf.stat == "update_ratio")].value
    med = f[(f.epoch == 2) & (f.layer == name) & (f.stat == "update_ratio_step_median")]
    assert med.value.iloc[0] == pytest.approx(np.median(epoch2))
    csv = pd.read_csv(tmp_path / "step_updates.csv")
    pd.testing.assert_frame_equal(csv, sf, check_dtype=False)


def test_step_updates_are_off_by_default(tiny_digits, tiny_mlp, seed):
    x, y = tiny_digits
    logger = DiagnosticLogger(probe=(x[:16], y[:16]))
    tiny_mlp().fit(x, y, epochs=1, batch_size=50, verbose=0, callbacks=[logger])
    assert logger.step_frame.empty


def test_image_grid_of_the_first_batch(digits, tmp_path, seed):
    x, y = digits.x[:100], digits.y[:100]  # (n, 8, 8, 1) images
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    logger = DiagnosticLogger(data=(x, y), log_dir=tmp_path, image_grid=9)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[logger])
    assert os.path.getsize(tmp_path / "first_batch.png") > 0
    fig = logger.first_batch_figure
    drawn = [ax for ax in fig.axes if ax.images]
    assert len(drawn) == 9 and logger.summary["image_grid"]["examples"] == 9
    assert [ax.get_title() for ax in drawn] == [f"y={int(v)}" for v in y[:9]]
    np.testing.assert_allclose(drawn[0].images[0].get_array(), x[0, :, :, 0])


def test_no_grid_for_non_images_unless_a_shape_is_given(tiny_digits, tiny_mlp, tmp_path, seed):
    x, y = tiny_digits  # flat 64-value digits
    logger = DiagnosticLogger(probe=(x[:16], y[:16]), log_dir=tmp_path / "a")
    tiny_mlp().fit(x, y, epochs=1, verbose=0, callbacks=[logger])
    assert not (tmp_path / "a" / "first_batch.png").exists()
    shaped = DiagnosticLogger(probe=(x[:16], y[:16]), log_dir=tmp_path / "b",
                              image_shape=(8, 8))
    tiny_mlp().fit(x, y, epochs=1, verbose=0, callbacks=[shaped])
    assert (tmp_path / "b" / "first_batch.png").exists()
    assert batch_grid(x, y, n=0) is None


@pytest.mark.tf_only
def test_image_grid_goes_to_tensorboard(digits, tmp_path, seed):
    import tensorflow as tf

    x, y = digits.x[:64], digits.y[:64]
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    logger = DiagnosticLogger(data=(x, y), log_dir=tmp_path, tensorboard=True)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[logger])
    tags = set()
    folder = tmp_path / "tensorboard"
    for name in os.listdir(folder):
        for event in tf.compat.v1.train.summary_iterator(str(folder / name)):
            tags.update(v.tag for v in event.summary.value)
    assert "examples/first_batch" in tags
