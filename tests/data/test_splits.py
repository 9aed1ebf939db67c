import numpy as np
import pytest

from keras_recipes.data import class_labels, kfold, split, subset


@pytest.fixture
def labelled():
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(4), [50, 31, 17, 102])
    x = rng.normal(size=(len(y), 3)).astype("float32")
    return x, y


def test_split_sizes_and_disjoint(labelled):
    x, y = labelled
    train, val, test = split(x, y, seed=0)
    n = len(x)
    sizes = [len(train[0]), len(val[0]), len(test[0])]
    assert sum(sizes) == n
    for size, f in zip(sizes, (0.6, 0.2, 0.2), strict=True):
        assert abs(size - f * n) <= 1.5
    rows = {tuple(r) for part in (train, val, test) for r in part[0]}
    assert len(rows) == n  # every example once, no overlap


@pytest.mark.parametrize("fractions", [(0.6, 0.2, 0.2), (0.7, 0.3), (0.5, 0.25, 0.25)])
def test_split_is_stratified_within_one_per_class(labelled, fractions):
    x, y = labelled
    parts = [p for p in split(x, y, fractions=fractions, seed=5) if p is not None]
    for part, f in zip(parts, fractions, strict=True):
        for c, n_c in zip(*np.unique(y, return_counts=True), strict=True):
            assert abs(np.sum(part[1] == c) - f * n_c) < 1.0 + 1e-9


def test_split_keeps_x_y_pairs(labelled):
    x, y = labelled
    x = np.column_stack([x, y]).astype("float32")  # last column carries the label
    for px, py in split(x, y, seed=2):
        np.testing.assert_array_equal(px[:, -1], py)


def test_split_seed_determinism(labelled):
    x, y = labelled
    a = split(x, y, seed=3)
    b = split(x, y, seed=3)
    c = split(x, y, seed=4)
    np.testing.assert_array_equal(a.train[0], b.train[0])
    assert not np.array_equal(a.train[0], c.train[0])


def test_two_way_split(labelled):
    x, y = labelled
    s = split(x, y, fractions=(0.8, 0.2))
    assert s.val is None and len(s.train[0]) + len(s.test[0]) == len(x)


def test_split_onehot_labels(labelled):
    x, y = labelled
    onehot = np.eye(4)[y]
    train, _, _ = split(x, onehot, seed=0)
    assert train[1].shape[1] == 4
    assert abs(train[1][:, 2].sum() - 0.6 * 17) < 1


def test_regression_split_warns_and_is_random():
    x = np.arange(50, dtype="float32")[:, None]
    y = np.linspace(0, 1, 50, dtype="float32") + 0.001
    with pytest.warns(UserWarning, match="continuous targets"):
        train, val, test = split(x, y)
    assert len(train[0]) + len(val[0]) + len(test[0]) == 50
    train, _, _ = split(x, y, stratify=False)  # no warning path
    assert len(train[0]) == 30


@pytest.mark.parametrize("fractions,match", [
    ((0.5, 0.2, 0.2), "sum to 1"),
    ((1.0,), "2 or 3 positive values"),
    ((0.6, 0.5, -0.1), "positive"),
])
def test_split_bad_fractions(labelled, fractions, match):
    with pytest.raises(ValueError, match=match):
        split(*labelled, fractions=fractions)


def test_split_errors():
    with pytest.raises(ValueError, match="same length.*len_x=3, len_y=2"):
        split(np.zeros((3, 2)), np.zeros(2))
    with pytest.raises(ValueError, match="empty"):
        split(np.zeros((0, 2)), np.zeros(0))
    x = np.zeros((10, 2))
    x[4, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf values in 1 example"):
        split(x, np.arange(10) % 2)
    with pytest.raises(ValueError, match="would be empty"):
        split(np.zeros((2, 1)), np.array([0, 1]), stratify=False)


def test_subset_classes_and_per_class(digits):
    s = subset(digits.x, digits.y, classes=[7, 2], per_class=5, seed=1)
    assert s.x.shape == (10, 8, 8, 1)
    assert s.mapping == {7: 0, 2: 1}
    assert np.bincount(s.y).tolist() == [5, 5]
    np.testing.assert_array_equal(digits.y[s.index], np.where(s.y == 0, 7, 2))
    np.testing.assert_array_equal(digits.x[s.index], s.x)


def test_subset_first_k_classes_and_all(digits):
    s = subset(digits.x, digits.y, classes=3)
    assert s.mapping == {0: 0, 1: 1, 2: 2}
    assert len(s.x) == int(np.isin(digits.y, [0, 1, 2]).sum())
    everything = subset(digits.x, digits.y)
    assert len(everything.x) == len(digits.x)


def test_subset_does_not_mutate(digits):
    y = digits.y.copy()
    subset(digits.x, digits.y, classes=[1], per_class=3)
    np.testing.assert_array_equal(y, digits.y)


def test_subset_errors(digits):
    with pytest.raises(ValueError, match=r"Classes \[42\] do not occur"):
        subset(digits.x, digits.y, classes=[1, 42])
    with pytest.raises(ValueError, match="per_class` is larger than class 1 holds"):
        subset(digits.x, digits.y, classes=[1], per_class=10_000)
    with pytest.raises(ValueError, match="Argument `per_class` must be >= 1"):
        subset(digits.x, digits.y, per_class=0)
    with pytest.raises(ValueError, match="between 1 and the number of classes"):
        subset(digits.x, digits.y, classes=11)
    with pytest.raises(ValueError, match="continuous targets"):
        subset(np.zeros((4, 1)), np.array([0.1, 0.2, 0.3, 0.4]))


def test_kfold_partitions_and_stratifies(labelled):
    x, y = labelled
    folds = list(kfold(x, y, k=5, seed=0))
    assert len(folds) == 5
    all_val = np.concatenate([f.val_index for f in folds])
    assert sorted(all_val.tolist()) == list(range(len(x)))
    for f in folds:
        assert not set(f.train_index) & set(f.val_index)
        assert len(f.train_index) + len(f.val_index) == len(x)
        np.testing.assert_array_equal(f.x_val, x[f.val_index])
        for c, n_c in zip(*np.unique(y, return_counts=True), strict=True):
            assert abs(np.sum(f.y_val == c) - n_c / 5) < 1.0 + 1e-9


@pytest.mark.parametrize("k, seed", [(5, 0), (3, 7), (10, 123)])
def test_kfold_is_sklearns_stratified_kfold(labelled, k, seed):
    from sklearn.model_selection import StratifiedKFold

    x, y = labelled
    reference = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(x, y)
    folds = list(kfold(x, y, k=k, seed=seed))
    for fold, (train_index, val_index) in zip(folds, reference, strict=True):
        np.testing.assert_array_equal(fold.val_index, np.sort(val_index))
        np.testing.assert_array_equal(fold.train_index, np.sort(train_index))
        np.testing.assert_array_equal(fold.y_train, y[np.sort(train_index)])


def test_kfold_unstratified_and_continuous_targets_are_sklearns_kfold(labelled):
    from sklearn.model_selection import KFold

    x, y = labelled
    expected = [np.sort(v) for _, v in KFold(4, shuffle=True, random_state=3).split(x)]
    plain = [f.val_index for f in kfold(x, y, k=4, stratify=False, seed=3)]
    with pytest.warns(UserWarning, match="needs class labels"):
        continuous = [f.val_index for f in kfold(x, x[:, 0], k=4, seed=3)]
    for a, b, c in zip(expected, plain, continuous, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def test_kfold_sizes_follow_the_documented_counts(labelled):
    # n = 200, k = 3: n mod k = 2 folds of n // k + 1 = 67, then one of 66 (hand count).
    x, y = labelled
    assert [len(f.val_index) for f in kfold(x, y, k=3)] == [67, 67, 66]
    assert [len(f.val_index) for f in kfold(x, y, k=3, stratify=False)] == [67, 67, 66]
    # Class sizes 50, 31, 17, 102 over 3 folds: each class's counts differ by at most one.
    counts = np.array([np.bincount(f.y_val, minlength=4) for f in kfold(x, y, k=3)])
    assert (counts.max(axis=0) - counts.min(axis=0) <= 1).all()
    np.testing.assert_array_equal(counts.sum(axis=0), [50, 31, 17, 102])


def test_kfold_stratifies_one_hot_and_string_labels_like_integers(labelled):
    x, y = labelled
    names = np.array(["ant", "bee", "cat", "dog"])[y]
    reference = [f.val_index for f in kfold(x, y, k=5, seed=4)]
    for labels in (np.eye(4)[y], names):
        for fold, expected in zip(kfold(x, labels, k=5, seed=4), reference, strict=True):
            np.testing.assert_array_equal(fold.val_index, expected)


def test_kfold_errors(labelled):
    with pytest.raises(ValueError, match="Argument `k` must be >= 2"):
        next(kfold(*labelled, k=1))
    with pytest.raises(ValueError, match="Argument `k` must be <= the number of examples"):
        next(kfold(np.zeros((3, 1)), np.array([0, 1, 0]), k=4))
    with pytest.raises(ValueError,
                       match=r"largest class \(2\) to stratify the folds; pass stratify=False"):
        next(kfold(np.zeros((3, 1)), np.array([0, 1, 0]), k=3))
    assert len(list(kfold(np.zeros((3, 1)), np.array([0, 1, 0]), k=3, stratify=False))) == 3
    with pytest.raises(ValueError, match=r"Argument `seed` must be between 0 and 2\*\*32 - 1"):
        next(kfold(*labelled, seed=-1))


def test_kfold_warns_when_a_class_is_smaller_than_k():
    y = np.array([0] * 10 + [1] * 2)
    with pytest.warns(UserWarning, match="least populated class"):
        folds = list(kfold(np.zeros((12, 1)), y, k=4))
    assert sorted(np.concatenate([f.val_index for f in folds]).tolist()) == list(range(12))


def test_class_labels():
    np.testing.assert_array_equal(class_labels(np.array([2.0, 0.0])), [2, 0])
    np.testing.assert_array_equal(class_labels(np.eye(3)[[2, 1]]), [2, 1])
    np.testing.assert_array_equal(class_labels(np.array(["b", "a", "b"])), [1, 0, 1])
    assert class_labels(np.array([0.5, 1.0])) is None
