"""check_data: duplicates, leakage, label range, imbalance, NaN/Inf, normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from keras_recipes.analysis import check_data


def test_clean_digits_split_has_no_leakage(digits):
    from keras_recipes.data import split

    # digits holds a few exact duplicate images; drop them to build a clean reference
    flat = digits.x.reshape(len(digits.x), -1)
    _, first = np.unique(flat, axis=0, return_index=True)
    keep = np.sort(first)
    train, val, test = split(digits.x[keep], digits.y[keep])
    report = check_data(*train, *val, *test, num_classes=10)
    assert report.ok, report.problems
    assert report.leakage["n_shared"].tolist() == [0, 0, 0]
    assert report.class_counts.sum().tolist() == [len(train[0]), len(val[0]), len(test[0])]
    assert not report.splits["not_normalised"].any()


def test_duplicates_conflicts_and_leakage_counted_by_hand():
    x = np.arange(20, dtype="float32").reshape(10, 2) / 20
    y = np.array([0, 1] * 5)
    x_train = np.concatenate([x, x[:2], x[3:4]])        # 3 extra copies
    y_train = np.concatenate([y, y[:2], 1 - y[3:4]])    # the copy of row 3 has another label
    x_val = np.concatenate([x[5:7], x[:1] + 5])         # 2 rows leak from train
    y_val = np.array([1, 0, 0])
    x_test = np.concatenate([x_val[:1], np.ones((1, 2))])  # 1 row leaks from train and val
    y_test = np.array([1, 0])
    r = check_data(x_train, y_train, x_val, y_val, x_test, y_test, num_classes=2)
    assert r.splits.loc["train", "duplicates"] == 3
    assert r.splits.loc["train", "conflicting_labels"] == 1
    assert r.leakage.set_index(["first", "second"])["n_shared"].to_dict() == {
        ("train", "val"): 2, ("train", "test"): 1, ("val", "test"): 1}
    assert not r.ok and any("leakage" in p for p in r.problems)


def test_int_and_float_copies_are_the_same_row():
    a = np.array([[1, 2], [3, 4]], dtype="int64")
    r = check_data(a, [0, 1], a.astype("float32"), [0, 1])
    assert r.leakage["n_shared"].tolist() == [2]


def test_labels_imbalance_nan_and_range():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, size=(40, 3))
    x[0, 1] = np.nan
    x[1, 2] = np.inf
    y = np.array([0] * 30 + [1] * 8 + [5] * 2)
    r = check_data(x, y, num_classes=3)
    row = r.splits.loc["train"]
    assert row["bad_labels"] == 2 and row["nan"] == 1 and row["inf"] == 1
    assert row["not_normalised"]
    assert row["imbalance"] == np.inf  # class 2 is missing
    assert r.class_counts["train"].tolist() == [30, 8, 0]
    text = " ".join(r.problems)
    for word in ("outside 0..2", "imbalanced", "NaN", "not normalised"):
        assert word in text
    assert "Data check found" in str(r)
    balanced = check_data(rng.normal(size=(9, 2)), [0, 1, 2] * 3)
    assert balanced.ok and balanced.splits.loc["train", "imbalance"] == 1.0


def test_does_not_modify_arrays():
    x = np.array([[0.0, -0.0], [1.0, 2.0]])
    y = np.array([0, 1])
    x0 = x.copy()
    check_data(x, y, x, y)
    np.testing.assert_array_equal(x, x0)
    assert np.signbit(x[0, 1])


def test_rejects_bad_input():
    x = np.zeros((4, 2))
    with pytest.raises(ValueError, match="same length"):
        check_data(x, [0, 1, 0])
    with pytest.raises(ValueError, match="empty"):
        check_data(x[:0], [])
    with pytest.raises(ValueError, match="`y_val` is missing"):
        check_data(x, [0, 1, 0, 1], x_val=x)
    with pytest.raises(ValueError, match="class labels"):
        check_data(x, [0.5, 1.2, 0.1, 0.3])
    with pytest.raises(ValueError, match="num_classes"):
        check_data(x, [0, 1, 0, 1], num_classes=0)
