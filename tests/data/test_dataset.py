import re
import socket
import warnings

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


# ------------------------------------------------------------------ unusable files
def _npz(tmp_path, **arrays):
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    ("arrays", "match"),
    [
        ({"x": np.float32(3.0), "y": np.arange(3)},
         r"holds a single value \(a 0-d array\) as 'x'"),
        ({"x": np.ones((4, 2)), "y": np.int64(1)}, r"holds a single value \(a 0-d array\) as 'y'"),
        ({"x": np.ones((4, 2)) + 1j, "y": np.arange(4) % 2},
         r"holds complex numbers in 'x' \(complex128\).*drop the imaginary part"),
        ({"x": np.ones((4, 2)), "y": np.arange(4) + 0.5j}, r"holds complex numbers in 'y'"),
        ({"x": np.array([["a", "b"]] * 4), "y": np.arange(4) % 2},
         r"holds <U1 values in 'x': it must be a numeric array"),
        ({"x": np.full((4, 2), np.nan), "y": np.arange(4) % 2},
         r"holds NaN in 'x' at index \(0, 0\) \(example 1\); 8 such value\(s\) in all"),
        ({"x": np.array([[1.0, 2.0], [3.0, 1e39]]), "y": np.arange(2)},
         r"holds 1e\+39 in 'x' at index \(1, 1\) \(example 2\): too large for float32"),
        ({"x": np.ones((4, 2)), "y": np.arange(8).reshape(4, 2)},
         r"holds integer 'y' of shape \(4, 2\): class labels must be one per example"),
        ({"x": np.ones((4, 2)), "y": np.arange(3)},
         r"x and y of '.*d\.npz' have different lengths"),
    ],
    ids=["scalar x", "scalar y", "complex x", "complex y", "text x", "nan x", "1e39 x",
         "2-d integer y", "lengths"],
)
def test_unusable_npz_is_refused_naming_the_file(tmp_path, arrays, match):
    path = _npz(tmp_path, **arrays)
    with pytest.raises(ValueError, match=match) as e:
        load_dataset(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_npz_vector_x_is_one_feature_and_one_hot_y_is_classes(tmp_path):
    x = np.array([0.5, 1.5, 2.5, 3.5])
    y = np.array([[1, 0, 0], [0, 0, 1], [0, 1, 0], [0, 0, 1]])  # classes 0, 2, 1, 2
    ds = load_dataset(_npz(tmp_path, x=x, y=y))
    assert ds.x.shape == (4, 1) and ds.input_shape == (1,)
    assert ds.class_names == ["0", "1", "2"]
    np.testing.assert_array_equal(ds.y, [0, 2, 1, 2])


def test_dataset_refuses_complex_values():
    with pytest.raises(ValueError, match=r"Dataset 'c' holds complex numbers"):
        Dataset(x=np.ones((2, 2), "complex64"), y=np.zeros(2), class_names=["0"],
                input_shape=(2,), name="c")


def test_csv_value_too_large_for_float32_is_one_clear_line(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("a,b,label\n1,2,0\n3,4,1\n5,1e39,0\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "overflow encountered in cast" on the way
        with pytest.raises(ValueError) as e:
            load_dataset(path, target="label")
    assert str(e.value) == (f"Column 'b' of {str(path)!r} holds 1e+39 at row 3 (line 4 of the "
                            "file): too large for float32 (largest 3.403e+38).")
    path.write_text("a,b,label\n1,2,0\n3,inf,1\n")
    with pytest.raises(ValueError, match=r"Column 'b' .* holds an infinite value at row 2 "
                                         r"\(line 3 of the file\)\.$"):
        load_dataset(path, target="label")
    path.write_text("a,t\n1,0.5\n2,-1e39\n3,0.25\n")
    with pytest.raises(ValueError, match=r"The target column 't' .* holds -1e\+39 at row 2 "
                                         r"\(line 3 of the file\): too large for float32"):
        load_dataset(path, target="t")


@pytest.mark.parametrize(("sep", "word"), [(";", "';'"), ("\t", "tab")])
def test_csv_with_another_separator_gets_a_hint(tmp_path, sep, word):
    path = tmp_path / "d.csv"
    path.write_text(sep.join(["a", "b", "label"]) + "\n" + sep.join(["1", "2", "0"]) + "\n")
    header = sep.join(["a", "b", "label"])
    with pytest.raises(ValueError, match=rf"looks {word}-separated \(its header is "
                                         rf"{re.escape(repr(header))}, one column\): save it "
                                         "with commas as separators"):
        load_dataset(path, target="label")


@pytest.mark.parametrize(
    ("labels", "names", "codes"),
    [
        # One text label makes pandas read the column as text: '1' and '1.0' are still the
        # same class, numbers come first (by value), then text.
        (["1", "1.0", "cat", "2", " 1 ", "10"], ["1", "2", "10", "cat"], [0, 0, 3, 1, 0, 2]),
        # All numeric: pandas reads floats; the class names are the same as above.
        (["1", "1.0", "2", "2.0"], ["1", "2"], [0, 0, 1, 1]),
        (["0.5", "cat", "0.50"], ["0.5", "cat"], [0, 1, 0]),
    ],
)
def test_numeric_labels_merge_whether_or_not_text_is_present(tmp_path, labels, names, codes):
    path = tmp_path / "d.csv"
    path.write_text("a,label\n" + "".join(f"{i},{v}\n" for i, v in enumerate(labels)))
    ds = load_dataset(path, target="label")
    assert ds.class_names == names
    np.testing.assert_array_equal(ds.y, codes)
