"""The workflows on users' own small tables: loading, standardisation, BatchNorm statistics."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time

import keras
import numpy as np
import pandas as pd
import pytest

from keras_recipes.callbacks import PreciseBatchNorm, recalibrate_batchnorm
from keras_recipes.data import load_dataset
from keras_recipes.data.dataset import as_classification_dataset
from keras_recipes.workflows.standardize import standardization_layer
from keras_recipes.workflows.steamroller._augment import AugmentedBatches

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCALES = np.array([1e-3, 1e-2, 1.0, 10.0, 1e2, 1e3])


def scaled_table(path, n=300, seed=0, labels=("alpha", "beta", "gamma")):
    """Three separable classes with string labels, features on scales 1e-3 to 1e3, an id."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(labels), size=n)
    centres = rng.normal(size=(len(labels), len(SCALES))) * 3.0
    x = (centres[y] + rng.normal(size=(n, len(SCALES)))) * SCALES + 5 * SCALES
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(len(SCALES))])
    frame.insert(0, "id", rng.permutation(n) + 10_000)
    frame["target"] = np.asarray(labels)[y]
    frame.to_csv(path, index=False)
    return frame


def tree_digest(folder) -> dict[str, str]:
    out = {}
    for base, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(base, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return out


# --- loading a user's CSV ------------------------------------------------------------------

def test_string_labels_are_encoded_in_sorted_order(tmp_path):
    frame = scaled_table(tmp_path / "t.csv")
    ds = load_dataset(str(tmp_path / "t.csv"), target="target", drop=["id"])
    assert ds.class_names == ["alpha", "beta", "gamma"]
    expected = np.searchsorted(["alpha", "beta", "gamma"], frame["target"].to_numpy())
    np.testing.assert_array_equal(ds.y, expected)
    assert ds.input_shape == (6,)  # the id column is not a feature
    np.testing.assert_allclose(ds.x, frame[[f"f{i}" for i in range(6)]].to_numpy(), rtol=1e-6)


def test_without_drop_the_id_is_a_feature(tmp_path):
    scaled_table(tmp_path / "t.csv")
    assert load_dataset(str(tmp_path / "t.csv"), target="target").input_shape == (7,)


@pytest.mark.parametrize("content, match", [
    ("a,b,target\n1,2,x\n3,,y\n", r"Column 'b' .* missing value \(NaN\) at row 2 \(line 3"),
    ("a,b,target\n1,2,x\n3,4,\n", r"target column 'target' .* missing value at row 2"),
    ("a,color,target\n1,red,x\n3,blue,y\n", r"Column 'color' .* not numeric: row 1 .*'red'"),
    ("", r"is empty"),
    ("a,b,target\n", r"header but no rows"),
    ("a,b,target\n1,inf,x\n2,3,y\n", r"Column 'b' .* infinite value at row 1"),
    ("target\nx\ny\n", r"no feature column"),
])
def test_csv_errors_name_the_file_column_and_row(tmp_path, content, match):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=match):
        load_dataset(str(path), target="target")


def test_binary_file_is_named(tmp_path):
    path = tmp_path / "image.csv"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ValueError, match=r"not a UTF-8 text CSV file"):
        load_dataset(str(path), target="target")


@pytest.mark.parametrize("drop, match", [
    (["nope"], r"Column 'nope' is not in .* drop='nope'"),
    (["target"], r"cannot also be dropped"),
])
def test_bad_drop(tmp_path, drop, match):
    scaled_table(tmp_path / "t.csv")
    with pytest.raises(ValueError, match=match):
        load_dataset(str(tmp_path / "t.csv"), target="target", drop=drop)


def test_one_class_is_refused(tmp_path):
    path = tmp_path / "one.csv"
    pd.DataFrame({"a": [1.0, 2.0, 3.0], "target": ["x", "x", "x"]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"needs at least 2 classes"):
        as_classification_dataset(str(path), target="target", workflow="The steamroller")


# --- standardisation inside the model --------------------------------------------------------

@pytest.mark.backend
def test_standardization_layer_by_hand():
    x = np.array([[1.0, 1000.0, 7.0], [3.0, 3000.0, 7.0]], dtype="float32")
    out = np.asarray(standardization_layer(x)(x))
    # mean (2, 2000, 7), std (1, 1000, 0 -> variance 1): the constant column is only centred.
    np.testing.assert_allclose(out, [[-1.0, -1.0, 0.0], [1.0, 1.0, 0.0]], atol=1e-6)
    assert np.asarray(standardization_layer(x)(np.array([[2.0, 2000.0, 9.0]])))[0, 2] == 2.0


@pytest.mark.backend
def test_standardization_is_per_channel_for_images():
    rng = np.random.default_rng(0)
    x = np.stack([rng.normal(3.0, 2.0, (20, 4, 4)), rng.normal(-1.0, 0.5, (20, 4, 4))], -1)
    out = np.asarray(standardization_layer(x.astype("float32"))(x.astype("float32")))
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), [0.0, 0.0], atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(0, 1, 2)), [1.0, 1.0], atol=1e-4)


@pytest.mark.backend
def test_standardised_model_saves_and_predicts_on_raw_inputs(tmp_path):
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(50, 6)) * SCALES).astype("float32")
    inputs = keras.Input((6,))
    model = keras.Model(inputs, standardization_layer(x)(inputs))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    expected = (x - x.mean(0)) / x.std(0)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, atol=1e-4)


def test_augmentation_noise_is_per_feature():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(400, 6)) * SCALES).astype("float32")
    batches = AugmentedBatches(x, np.zeros(400, "int64"), 400, strength=0.1, seed=0)
    xb, _ = batches[0]
    noise = xb - x[batches._order]
    np.testing.assert_allclose(noise.std(axis=0) / x.std(axis=0), 0.1, rtol=0.15)


# --- exact BatchNorm statistics --------------------------------------------------------------

def _bn_model(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    h = keras.layers.Dense(5, use_bias=False)(inputs)
    h = keras.layers.BatchNormalization(name="bn")(h)
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(keras.layers.ReLU()(h)))


@pytest.mark.backend
def test_recalibration_equals_the_average_of_batch_statistics():
    model = _bn_model()
    x = np.random.default_rng(0).normal(4.0, 3.0, (70, 4)).astype("float32")
    kernel = np.asarray(model.layers[1].kernel)
    h = x @ kernel  # the BN layer's input, computed independently
    batches = [h[i:i + 32] for i in (0, 32)]  # full batches only (the last 6 are left out)
    momentum = model.get_layer("bn").momentum
    assert recalibrate_batchnorm(model, x, batch_size=32) == 2
    bn = model.get_layer("bn")
    np.testing.assert_allclose(bn.moving_mean, np.mean([b.mean(0) for b in batches], 0),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(bn.moving_variance, np.mean([b.var(0) for b in batches], 0),
                               rtol=1e-4)
    assert bn.momentum == momentum
    np.testing.assert_array_equal(np.asarray(model.layers[1].kernel), kernel)


@pytest.mark.backend
def test_frozen_batchnorm_is_left_alone():
    model = _bn_model()
    model.get_layer("bn").trainable = False
    before = np.asarray(model.get_layer("bn").moving_mean).copy()
    assert recalibrate_batchnorm(model, np.ones((8, 4), "float32")) == 0
    np.testing.assert_array_equal(model.get_layer("bn").moving_mean, before)


@pytest.mark.backend
def test_precise_batchnorm_removes_the_train_inference_gap():
    # 20 steps at momentum 0.99 keep 82 % of the initial statistics (mean 0, variance 1): the
    # inference-mode outputs differ from the training-mode ones until the recalibration.
    x = np.random.default_rng(0).normal(10.0, 5.0, (64, 4)).astype("float32")
    y = (x[:, 0] > 10).astype("int64")
    model = _bn_model()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=20, batch_size=64, verbose=0)
    train_mode = keras.ops.convert_to_numpy(model(x, training=True))
    gap_before = np.abs(keras.ops.convert_to_numpy(model(x, training=False)) - train_mode).max()
    callback = PreciseBatchNorm(x, batch_size=64)
    callback.set_model(model)
    callback.on_train_end()
    gap_after = np.abs(keras.ops.convert_to_numpy(model(x, training=False)) - train_mode).max()
    assert gap_before > 0.05
    assert gap_after < 1e-4
    assert callback.batches == 1


@pytest.mark.parametrize("kwargs, match", [
    ({"batch_size": 0}, "batch_size"), ({"every_n_epochs": -1}, "every_n_epochs"),
    ({"x": None}, "`x`"),
])
def test_precise_batchnorm_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PreciseBatchNorm(**{"x": np.ones((2, 4)), **kwargs})


# --- the command line on users' tables, as a user runs it -------------------------------------

def _cli(*argv, timeout=600):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "keras_recipes.cli", *argv], env=env,
                          capture_output=True, text=True, timeout=timeout)


# Two fresh processes and a whole run. In `make test`: the standardised model on raw inputs
# (test_standardised_model_saves_and_predicts_on_raw_inputs), a table through the command line
# in process (tests/test_cli_steamroller.py) and a rerun that writes nothing
# (tests/workflows/test_steamroller.py::test_third_run_skips_every_stage).
@pytest.mark.slow
@pytest.mark.integration
def test_cli_steamroller_on_a_scaled_three_class_table_then_rerun(tmp_path):
    csv = tmp_path / "scaled.csv"
    scaled_table(csv)
    out = tmp_path / "run"
    argv = ["steamroller", "--dataset", str(csv), "--target", "target", "--drop", "id",
            "--out", str(out), "--quiet", "--stage2-epochs", "8",
            "--stage3-epochs", "8", "--lr-finder-steps", "30"]
    first = _cli(*argv)
    assert first.returncode == 0, first.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "passed"
    assert summary["stages"]["3"]["test"]["accuracy"] >= 0.9
    assert summary["stages"]["3"]["preprocessing"]["standardize"] is True
    assert "standardised" in (out / "report.md").read_text()
    # The saved model predicts on the raw table, without the library's help beyond import.
    frame = pd.read_csv(csv)
    x = frame[[f"f{i}" for i in range(6)]].to_numpy("float32")
    model = keras.saving.load_model(out / "stage3" / "model.keras")
    accuracy = np.mean(model.predict(x, verbose=0).argmax(1)
                       == np.searchsorted(["alpha", "beta", "gamma"], frame["target"]))
    assert accuracy >= 0.9
    # A rerun on the finished run prints its summary, exits with its status, writes nothing.
    before = tree_digest(out)
    start = time.perf_counter()
    again = _cli(*argv)
    assert again.returncode == 0, again.stderr[-2000:]
    assert time.perf_counter() - start < 60
    assert tree_digest(out) == before


@pytest.mark.slow
def test_cli_steamroller_on_a_binary_table(tmp_path):
    csv = tmp_path / "binary.csv"
    scaled_table(csv, labels=("no", "yes"))
    out = tmp_path / "run"
    proc = _cli("steamroller", "--dataset", str(csv), "--target", "target", "--drop", "id",
                "--out", str(out), "--quiet", "--stage2-epochs", "8",
                "--stage3-epochs", "8", "--lr-finder-steps", "30", "--no-grow")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test_accuracy"] >= 0.9
    assert "only 2 classes" in summary["plan"]["notes"][0]  # stage 2 = stage 3's data, said
    assert summary["stages"]["3"]["class_names"] == ["no", "yes"]


@pytest.mark.slow
def test_cli_steamroller_on_breast_cancer_binary_defaults(tmp_path):
    from sklearn.datasets import load_breast_cancer

    csv = tmp_path / "breast_cancer.csv"
    load_breast_cancer(as_frame=True).frame.to_csv(csv, index=False)
    proc = _cli("steamroller", "--dataset", str(csv), "--target", "target",
                "--out", str(tmp_path / "run"), "--quiet")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["test_accuracy"] >= 0.9
    assert "only 2 classes" in summary["plan"]["notes"][0]  # stage 2 = stage 3's data, said


@pytest.mark.slow
@pytest.mark.parametrize("loader", ["load_wine", "load_iris"])
def test_cli_steamroller_on_sklearn_tables_defaults(tmp_path, loader):
    import sklearn.datasets

    csv = tmp_path / f"{loader}.csv"
    getattr(sklearn.datasets, loader)(as_frame=True).frame.to_csv(csv, index=False)
    proc = _cli("steamroller", "--dataset", str(csv), "--target", "target",
                "--out", str(tmp_path / "run"), "--quiet")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


def test_cli_nan_in_a_table_is_one_line_exit_2_and_nothing_written(tmp_path):
    csv = tmp_path / "nan.csv"
    csv.write_text("a,b,target\n1,2,x\n3,,y\n5,6,x\n")
    out = tmp_path / "run"
    proc = _cli("steamroller", "--dataset", str(csv), "--target", "target", "--out", str(out))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Column 'b'" in lines[0] and "row 2" in lines[0]
    assert "Traceback" not in proc.stderr
    assert not out.exists()


# --- a user's own network ---------------------------------------------------------------------

def test_a_user_network_that_takes_normalization_applies_it_itself():
    from keras_recipes.workflows.steamroller.runner import build_stage_model

    seen = {}

    def net(input_shape, num_classes, normalization=None):
        seen["layer"] = normalization
        inputs = keras.Input(input_shape)
        hidden = keras.layers.Dense(4, activation="relu")(normalization(inputs))
        return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(hidden))

    x = (np.random.default_rng(0).normal(size=(30, 6)) * SCALES).astype("float32")
    layer = standardization_layer(x)
    model = build_stage_model(net, 2, (6,), 3, 0.0, normalization=layer)
    assert seen["layer"] is layer
    assert not any(isinstance(sub, keras.Model) for sub in model.layers)  # flat: no wrapper


def test_a_user_network_without_normalization_is_wrapped_and_predicts_on_raw_inputs():
    from keras_recipes.workflows.steamroller.runner import build_stage_model

    def net(input_shape, num_classes):
        inputs = keras.Input(input_shape)
        return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(inputs))

    x = (np.random.default_rng(0).normal(size=(30, 6)) * SCALES).astype("float32")
    model = build_stage_model(net, 2, (6,), 3, 0.0, normalization=standardization_layer(x))
    inner = [sub for sub in model.layers if isinstance(sub, keras.Model)][0]
    expected = inner.predict((x - x.mean(0)) / x.std(0), verbose=0)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-5)


def test_npz_with_python_objects_or_garbage_is_named(tmp_path):
    objects = tmp_path / "objects.npz"
    np.savez(objects, x=np.array([{"a": 1}, {"b": 2}], dtype=object), y=np.array([0, 1]))
    with pytest.raises(ValueError, match=r"holds Python objects .* not loaded for safety"):
        load_dataset(str(objects))
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip archive at all")
    with pytest.raises(ValueError, match=r"not a readable .npz archive"):
        load_dataset(str(garbage))


@pytest.mark.slow
def test_practical_on_a_string_label_table_with_an_id_column(tmp_path):
    from keras_recipes.workflows import practical

    scaled_table(tmp_path / "t.csv")
    report = practical(str(tmp_path / "t.csv"), target="target", drop=["id"],
                       out=tmp_path / "run", lr_candidates=(1e-2,), lr_steps=20,
                       lr_factors=(1.0,), weight_decays=(0.0,), grid_epochs=1, top_k=1,
                       train_epochs=3, max_loops=0, verbose=0)
    assert [s.passed for s in report.steps] == [True] * len(report.steps)
    assert report.test_accuracy >= 0.9
    model = keras.saving.load_model(tmp_path / "run" / "model.keras")
    assert isinstance(model.layers[1], keras.layers.Normalization)  # predicts on raw inputs


@pytest.mark.slow
def test_cli_refuses_a_table_too_small_for_stage_1_before_any_work(tmp_path):
    csv = tmp_path / "tiny.csv"
    rng = np.random.default_rng(0)
    pd.DataFrame({"a": rng.normal(size=30), "b": rng.normal(size=30),
                  "target": rng.integers(0, 3, 30)}).to_csv(csv, index=False)
    out = tmp_path / "run"
    proc = _cli("steamroller", "--dataset", str(csv), "--target", "target", "--out", str(out))
    assert proc.returncode == 2
    # TensorFlow's own start-up lines may precede it on stderr: ours is one line.
    lines = [line for line in proc.stderr.splitlines() if line.startswith("keras-recipes:")]
    assert len(lines) == 1 and "--stage1-per-class must be <=" in lines[0]
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_batchnorm_momentum_spans_about_one_epoch():
    from keras_recipes.workflows.steamroller.runner import fit_batchnorm_momentum

    model = _bn_model()
    assert fit_batchnorm_momentum(model, 3) == pytest.approx(0.1 ** (1 / 3))  # 0.464
    assert model.get_layer("bn").momentum == pytest.approx(0.46416, abs=1e-5)
    # After one epoch of 3 steps, 0.464**3 = 10 % of the older statistics remain.
    assert model.get_layer("bn").momentum ** 3 == pytest.approx(0.1)
    many = _bn_model()
    assert fit_batchnorm_momentum(many, 1000) is None  # 0.1**(1/1000) = 0.9977 > 0.99: kept
    assert many.get_layer("bn").momentum == 0.99
    plain = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    assert fit_batchnorm_momentum(plain, 3) is None


@pytest.mark.backend
@pytest.mark.parametrize("steps_per_execution", [1, 2])
def test_every_epoch_recalibration_comes_before_that_epochs_validation(steps_per_execution):
    # A stopping threshold reads the epoch's validation metrics: they must see the
    # recalibrated statistics. The validation loss Keras logs for each epoch equals the loss
    # of a copy of that epoch's trained weights with BatchNorm recalibrated by hand (NumPy
    # batch statistics through recalibrate_batchnorm, checked above).
    x = np.random.default_rng(0).normal(10.0, 5.0, (64, 4)).astype("float32")
    y = (x[:, 0] > 10).astype("int64")
    model = _bn_model()
    model.compile("adam", "sparse_categorical_crossentropy",
                  steps_per_execution=steps_per_execution
                  if keras.backend.backend() != "torch" else 1)
    snapshots = []

    class Keep(keras.callbacks.Callback):  # the epoch's trained weights, before recalibration
        def on_train_batch_end(self, batch, logs=None):
            if batch + 1 >= 4:
                snapshots.append(self.model.get_weights())  # `self.model` syncs JAX's state

    keep = Keep()
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0, validation_data=(x, y),
                        callbacks=[keep, PreciseBatchNorm(x, batch_size=16, every_n_epochs=1)])
    assert len(snapshots) == 2
    for weights, logged in zip(snapshots, history.history["val_loss"], strict=True):
        copy = _bn_model()
        copy.set_weights(weights)
        recalibrate_batchnorm(copy, x, 16)
        p = keras.ops.convert_to_numpy(copy(x, training=False)).astype("float64")
        expected = -np.mean(np.log(p[np.arange(len(y)), y]))
        assert logged == pytest.approx(expected, rel=1e-4)
