"""plan_stages: the data each steamroller stage sees."""

import numpy as np
import pytest

from keras_recipes.workflows import plan_stages


@pytest.fixture
def indexed():
    """x holds each example's index, so kept examples can be traced; 6 classes of 50."""
    rng = np.random.default_rng(0)
    y = rng.permutation(np.repeat(np.arange(6), 50))
    x = np.arange(len(y), dtype="float32")[:, None]
    return x, y


def ids(part):
    return set(part[0][:, 0].astype(int).tolist())


def test_three_stages_from_one_split(indexed):
    x, y = indexed
    s1, s2, s3 = plan_stages(x, y, stage_classes=2, stage1_per_class=7, seed=3)
    assert (s1.stage, s1.name, s2.name, s3.name) == (1, "overfit", "generalise", "train")
    # stage 3 is the plain 60/20/20 split: 30/10/10 of each class of 50.
    assert s3.sizes() == {"train": 180, "val": 60, "test": 60}
    assert ids(s3.train) | ids(s3.val) | ids(s3.test) == set(range(300))
    assert not ids(s3.train) & ids(s3.test)
    # stages 1-2: classes 0 and 1 only, cut from the same split.
    for s in (s1, s2):
        assert s.classes == [0, 1] and s.num_classes == 2
        for part_small, part_all in ((s.train, s3.train), (s.val, s3.val), (s.test, s3.test)):
            assert ids(part_small) <= ids(part_all)
            original = y[part_small[0][:, 0].astype(int)]
            assert set(original.tolist()) <= {0, 1}
            np.testing.assert_array_equal(part_small[1], original)  # mapping 0→0, 1→1
    assert s2.sizes() == {"train": 60, "val": 20, "test": 20}
    assert len(s1.train[0]) == 14
    assert np.bincount(s1.train[1]).tolist() == [7, 7]
    assert ids(s1.train) <= ids(s2.train)
    assert not ids(s2.train) & (ids(s3.test) | ids(s3.val))


def test_class_list_is_remapped_in_order(indexed):
    x, y = indexed
    s1, s2, _ = plan_stages(x, y, class_names=list("abcdef"), stage_classes=[4, 1],
                            stage1_per_class=3)
    assert s1.classes == [4, 1] and s1.class_names == ["e", "b"]
    original = y[s2.train[0][:, 0].astype(int)]
    np.testing.assert_array_equal(s2.train[1], np.where(original == 4, 0, 1))


def test_same_seed_same_plan(indexed):
    x, y = indexed
    a = plan_stages(x, y, seed=1)
    b = plan_stages(x, y, seed=1)
    for sa, sb in zip(a, b, strict=True):
        np.testing.assert_array_equal(sa.train[0], sb.train[0])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"stage_classes": 7}, r"`stage_classes` must be <= the number of classes \(6\)"),
        ({"stage_classes": 1}, r"`stage_classes` must be >= 2"),
        ({"stage_classes": [1, 1]}, "at least 2 distinct"),
        ({"stage_classes": [1, 9]}, r"labels \[9\] that are not classes"),
        ({"stage_classes": "ab"}, "must be an int >= 2 or a list"),
        ({"stage1_per_class": 0}, r"`stage1_per_class` must be >= 1"),
        ({"stage1_per_class": 31}, r"`stage1_per_class` must be <= 30"),
    ],
)
def test_bad_input(indexed, kwargs, match):
    x, y = indexed
    with pytest.raises(ValueError, match=match):
        plan_stages(x, y, **kwargs)


def test_continuous_targets_rejected():
    x = np.zeros((20, 2), dtype="float32")
    with pytest.raises(ValueError, match="needs class labels"):
        plan_stages(x, np.linspace(0, 1, 20))
