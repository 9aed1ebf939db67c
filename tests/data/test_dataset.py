import socket

import numpy as np
import pandas as pd
import pytest

from keras_recipes.data import (
    DATASET_NAMES,
    Dataset,
    DatasetUnavailableError,
    load_dataset,
)


def test_digits_is_scaled_images():
    ds = load_dataset("digits")
    assert isinstance(ds, Dataset)
    assert ds.x.shape == (1797, 8, 8, 1)
    assert ds.x.dtype == np.float32
    assert ds.x.min() == 0.0 and ds.x.max() == 1.0
    assert ds.input_shape == (8, 8, 1)
    assert ds.num_classes == 10 and ds.task == "classification"
    assert sorted(np.unique(ds.y).tolist()) == list(range(10))
    # scikit-learn's raw pixels are 0..16: the first image's first row, divided by 16.
    from sklearn.datasets import load_digits

    np.testing.assert_allclose(ds.x[0, 0, :, 0], load_digits().images[0, 0] / 16.0)


def test_digits_flatten():
    ds = load_dataset("digits", flatten=True)
    assert ds.x.shape == (1797, 64) and ds.input_shape == (64,)


@pytest.mark.parametrize("name,classes,dim", [("moons", 2, 2), ("spirals", 3, 2),
                                              ("blobs", 4, 2)])
def test_generated_classification_sets_are_deterministic(name, classes, dim):
    a = load_dataset(name, seed=3)
    b = load_dataset(name, seed=3)
    c = load_dataset(name, seed=4)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.x, c.x)
    assert a.num_classes == classes and a.input_shape == (dim,)
    assert set(np.unique(a.y).tolist()) == set(range(classes))


def test_regression_set():
    ds = load_dataset("regression", seed=1)
    assert ds.task == "regression" and ds.class_names is None and ds.num_classes is None
    assert ds.y.shape == (1000, 1) and ds.y.dtype == np.float32
    # The target is sin(pi x0) + x1 x2 + 0.5 x3^2 plus noise of std 0.05.
    x = ds.x
    clean = np.sin(np.pi * x[:, 0]) + x[:, 1] * x[:, 2] + 0.5 * x[:, 3] ** 2
    assert np.std(ds.y[:, 0] - clean) == pytest.approx(0.05, rel=0.15)


def test_unknown_name():
    with pytest.raises(ValueError, match="Unknown dataset 'nope'.*digits"):
        load_dataset("nope")


def test_missing_file():
    with pytest.raises(ValueError, match="No such data file"):
        load_dataset("/nonexistent/data.npz")


def test_npz_roundtrip(tmp_path):
    x = np.random.default_rng(0).normal(size=(30, 3)).astype("float32")
    y = np.array([5, 7] * 15)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    ds = load_dataset(tmp_path / "d.npz")
    np.testing.assert_array_equal(ds.x, x)
    assert ds.class_names == ["5", "7"]
    np.testing.assert_array_equal(ds.y, (y == 7).astype(int))


def test_npz_missing_arrays(tmp_path):
    np.savez(tmp_path / "d.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="must hold arrays 'x' and 'y'"):
        load_dataset(tmp_path / "d.npz")


def test_csv_target_column(tmp_path):
    frame = pd.DataFrame({"a": [0.1, 0.2, 0.3, 0.4], "b": [1, 2, 3, 4],
                          "label": ["cat", "dog", "cat", "dog"]})
    frame.to_csv(tmp_path / "d.csv", index=False)
    ds = load_dataset(tmp_path / "d.csv", target="label")
    assert ds.x.shape == (4, 2) and ds.class_names == ["cat", "dog"]
    np.testing.assert_array_equal(ds.y, [0, 1, 0, 1])
    columns = r"columns: \['a', 'b', 'label'\]"
    with pytest.raises(ValueError, match="Column 'nope' is not in .*" + columns):
        load_dataset(tmp_path / "d.csv", target="nope")
    with pytest.raises(ValueError, match="Argument `target` must name"):
        load_dataset(tmp_path / "d.csv")


def test_csv_continuous_target_is_regression(tmp_path):
    pd.DataFrame({"a": [0.0, 1.0, 2.0], "t": [0.5, 1.5, 2.25]}).to_csv(tmp_path / "r.csv",
                                                                       index=False)
    ds = load_dataset(tmp_path / "r.csv", target="t")
    assert ds.task == "regression"
    np.testing.assert_allclose(ds.y[:, 0], [0.5, 1.5, 2.25])


def test_keras_dataset_offline_error_is_clear(monkeypatch, tmp_path):
    """With no network and no cache the error names the cause and suggests digits."""
    import keras

    def refuse(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", refuse)
    before = socket.getdefaulttimeout()
    with pytest.raises(DatasetUnavailableError, match="mnist.*network is unreachable.*'digits'"):
        load_dataset("mnist")
    assert socket.getdefaulttimeout() == before


def test_all_names_listed():
    assert {"digits", "moons", "spirals", "blobs", "regression", "mnist", "fashion_mnist",
            "cifar10"} == set(DATASET_NAMES)


def test_bad_seed():
    with pytest.raises(ValueError, match="Argument `seed` must be an integer"):
        load_dataset("moons", seed=0.5)
