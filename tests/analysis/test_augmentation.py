"""preview_augmentation and check_augmentation."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_recipes.analysis import check_augmentation, preview_augmentation
from tests.analysis._models import linear_classifier

pytestmark = pytest.mark.backend


@pytest.fixture(scope="module")
def mirror_sensitive():
    """Inputs of 4 features; the class is the position of the largest one (0..3)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(200, 4)).astype("float32")
    return x, np.argmax(x, axis=1), linear_classifier(np.eye(4) * 10, np.zeros(4))


def _reverse(batch):
    return batch[:, ::-1]


def test_reversal_is_flagged_identity_is_not(mirror_sensitive):
    x, _, model = mirror_sensitive
    bad = check_augmentation(_reverse, model, x, threshold=0.1)
    # a reversal maps argmax i to 3 - i: every prediction changes
    assert bad.changed_fraction == pytest.approx(1.0) and bad.flagged
    assert len(bad.changed_index) == len(x)
    good = check_augmentation(lambda b: b * 1.0, model, x, copies=2, batch_size=64)
    assert good.changed_fraction == 0.0 and not good.flagged
    assert good.per_class["n"].sum() == len(x)


def test_changed_fraction_matches_numpy_count(mirror_sensitive):
    x, _, model = mirror_sensitive

    def swap01(b):  # swaps features 0 and 1: changes examples whose argmax is 0 or 1
        return b[:, [1, 0, 2, 3]]

    res = check_augmentation(swap01, model, x, threshold=0.9, batch_size=33)
    expected = np.isin(np.argmax(x, axis=1), [0, 1]).mean()
    assert res.changed_fraction == pytest.approx(expected)
    assert not res.flagged
    assert res.per_class.loc[2, "changed_fraction"] == 0.0


def test_keras_layer_and_inputs_unchanged(digits, mirror_sensitive):
    x = digits.x[:40].copy()
    x0 = x.copy()
    flip = keras.layers.RandomFlip("vertical", seed=1)
    fig = preview_augmentation(flip, x, n=3, copies=2, labels=digits.y[:40])
    assert len(fig.axes) == 9
    assert "original" in fig.axes[0].get_title()
    np.testing.assert_array_equal(x, x0)
    _, _, model = mirror_sensitive
    with pytest.raises(ValueError, match="same size"):
        check_augmentation(lambda b: b[:1], model, mirror_sensitive[0])


def test_rejects_bad_input(digits, mirror_sensitive):
    with pytest.raises(ValueError, match="Argument `n`"):
        preview_augmentation(_reverse, digits.x[:3], n=4)
    with pytest.raises(ValueError, match="callable"):
        preview_augmentation(3, digits.x[:3], n=1)
    with pytest.raises(ValueError, match="empty"):
        preview_augmentation(_reverse, digits.x[:0], n=1)
    x, _, model = mirror_sensitive
    with pytest.raises(ValueError, match="threshold"):
        check_augmentation(_reverse, model, x, threshold=1.5)
    logits = linear_classifier(np.eye(4) * 10, np.zeros(4), activation=None)
    with pytest.raises(ValueError, match="from_logits"):
        check_augmentation(_reverse, logits, x)
