"""transfer: freeze / unfreeze / replace_head / finetune_optimizer / transfer on digits."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_recipes.models import baseline_mlp
from keras_recipes.transfer import (
    finetune_optimizer,
    freeze,
    replace_head,
    transfer,
    unfreeze,
)

pytestmark = pytest.mark.backend


def _trainable(model):
    return {layer.name: layer.trainable for layer in model.layers}


def test_freeze_and_unfreeze_keep_batchnorm_in_inference_mode():
    model = baseline_mlp(64, 10, hidden=(8, 8))
    freeze(model, until="relu_0")
    flags = _trainable(model)
    assert not flags["dense_0"] and not flags["bn_0"] and flags["dense_1"] and flags["bn_1"]
    freeze(model)
    assert not any(_trainable(model).values())
    unfreeze(model, start="dense_1")
    flags = _trainable(model)
    assert not flags["dense_0"] and flags["dense_1"] and flags["head"]
    assert not flags["bn_1"]  # BatchNormalization stays frozen
    unfreeze(model)
    assert not model.get_layer("bn_0").trainable and model.get_layer("dense_0").trainable
    unfreeze(model, keep_batchnorm_frozen=False)
    assert all(_trainable(model).values())
    freeze(model, until=-2)
    assert _trainable(model)["head"] and not _trainable(model)["relu_1"]


def test_frozen_batchnorm_statistics_do_not_move(tiny_digits):
    x, y = tiny_digits
    wrapper_in = keras.Input((64,))
    inner = baseline_mlp(64, 10, hidden=(8,), name="inner")
    model = keras.Model(wrapper_in, inner(wrapper_in))
    freeze(model)
    unfreeze(model)  # nested BatchNormalization is found and kept frozen
    bn = inner.get_layer("bn_0")
    assert not bn.trainable and inner.get_layer("dense_0").trainable
    before = [np.array(v) for v in bn.weights]
    dense_before = np.array(inner.get_layer("dense_0").kernel)
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=50, verbose=0)
    for b, v in zip(before, bn.weights, strict=True):
        np.testing.assert_array_equal(b, np.array(v))
    assert not np.allclose(dense_before, np.array(inner.get_layer("dense_0").kernel))


def test_replace_head_copies_and_does_not_touch_source(tiny_digits, model_roundtrip):
    x, _ = tiny_digits
    source = baseline_mlp(64, 10, hidden=(8,))
    weights = [w.copy() for w in source.get_weights()]
    new = replace_head(source, 3, hidden=(4,), dropout=0.1)
    assert new.output_shape == (None, 3)
    names = [layer.name for layer in new.layers]
    assert "head" not in names and names[-1] == "transfer_head"
    assert "transfer_hidden_0" in names and "transfer_dropout" in names
    np.testing.assert_array_equal(new.get_layer("dense_0").kernel, source.get_layer(
        "dense_0").kernel)
    new.get_layer("dense_0").kernel.assign(np.zeros((64, 8), "float32"))
    for a, b in zip(weights, source.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    cut = replace_head(source, 2, cut="dense_0", activation=None)
    assert [layer.name for layer in cut.layers][-2:] == ["dense_0", "transfer_head"]
    model_roundtrip(new, x[:8])
    with pytest.raises(ValueError, match="names no layer"):
        replace_head(source, 3, cut="nope")
    with pytest.raises(ValueError, match="layer index"):
        replace_head(source, 3, cut=99)
    with pytest.raises(ValueError, match="num_classes"):
        replace_head(source, 0)


def test_finetune_optimizer():
    opt = finetune_optimizer(1e-3)
    assert isinstance(opt, keras.optimizers.Adam)
    assert float(opt.learning_rate) == pytest.approx(1e-4)
    base = keras.optimizers.SGD(0.2, momentum=0.9, nesterov=True)
    fine = finetune_optimizer(base, factor=0.5)
    assert isinstance(fine, keras.optimizers.SGD) and fine is not base
    assert float(fine.learning_rate) == pytest.approx(0.1) and fine.nesterov
    assert float(base.learning_rate) == pytest.approx(0.2)
    sgd = finetune_optimizer(0.1, optimizer="sgd")
    assert isinstance(sgd, keras.optimizers.SGD)
    with pytest.raises(ValueError, match="factor"):
        finetune_optimizer(1e-3, factor=0)
    with pytest.raises(ValueError, match="base_lr"):
        finetune_optimizer(-1.0)
    sched = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    with pytest.raises(ValueError, match="schedule"):
        finetune_optimizer(keras.optimizers.SGD(sched))


def test_transfer_validates_input(tiny_digits):
    x, y = tiny_digits
    source = baseline_mlp(64, 10, hidden=(8,))
    with pytest.raises(ValueError, match="same length"):
        transfer(source, x, y[:-1])
    with pytest.raises(ValueError, match="empty"):
        transfer(source, x[:0], y[:0])
    with pytest.raises(ValueError, match="class labels"):
        transfer(source, x, y + 0.5)
    with pytest.raises(ValueError, match="outside 0..2"):
        transfer(source, x, y, num_classes=3)


@pytest.mark.slow
def test_transfer_from_digits_0_4_beats_scratch_on_few_5_9(digits_flat):
    """Pretrain on 0-4, then learn 5-9 from 3 examples per class; test on the other 5-9."""
    from keras_recipes.data import subset

    x, y = digits_flat.x, digits_flat.y
    keras.utils.set_random_seed(0)
    src = subset(x, y, classes=[0, 1, 2, 3, 4])
    source = baseline_mlp(64, 5, hidden=(256,), dropout=0.2)
    source.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    source.fit(src.x, src.y, epochs=10, batch_size=32, verbose=0)
    before = [w.copy() for w in source.get_weights()]

    few = subset(x, y, classes=[5, 6, 7, 8, 9], per_class=3, seed=0)
    rest = np.ones(len(x), dtype=bool)
    rest[few.index] = False
    test = subset(x[rest], y[rest], classes=[5, 6, 7, 8, 9])

    result = transfer(source, few.x, few.y, head_epochs=30, finetune_epochs=10, base_lr=1e-2,
                      batch_size=64)
    transferred = float(np.mean(result.model.predict(test.x, verbose=0).argmax(1) == test.y))
    assert len(result.head_history["loss"]) == 30 and len(result.finetune_history["loss"]) == 10

    keras.utils.set_random_seed(0)
    scratch = baseline_mlp(64, 5, hidden=(256,), dropout=0.2)
    scratch.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    scratch.fit(few.x, few.y, epochs=40, batch_size=64, verbose=0)
    from_scratch = float(np.mean(scratch.predict(test.x, verbose=0).argmax(1) == test.y))
    print(f"transfer accuracy {transferred:.4f}, from scratch {from_scratch:.4f}")
    assert transferred > from_scratch + 0.03, (transferred, from_scratch)
    for a, b in zip(before, source.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
