"""ReduceLROnPlateau: Keras's decisions, reductions on top of a schedule, exported replay."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_recipes.callbacks import ReduceLROnPlateau
from keras_recipes.schedules import MultiStepDecay

pytestmark = pytest.mark.backend

N, BATCH = 32, 8  # 4 steps per epoch


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, 3)).astype("float32")
    return x, (x @ np.array([1.0, -2.0, 0.5]))[:, None].astype("float32")


def _model(lr):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, use_bias=False)])
    model.layers[0].set_weights([np.zeros((3, 1), "float32")])
    model.compile(keras.optimizers.SGD(lr), "mse")
    return model


class _FakeLoss(keras.callbacks.Callback):
    """Overwrite the epoch's `loss` with a scripted sequence (runs before the plateau rule)."""

    def __init__(self, losses):
        super().__init__()
        self.losses = losses

    def on_epoch_end(self, epoch, logs=None):
        logs["loss"] = self.losses[epoch]


class _LrPerStep(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.lrs = []

    def on_train_batch_begin(self, batch, logs=None):
        if hasattr(self.model, "jax_state_sync"):
            self.model.jax_state_sync()
        self.lrs.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))


def _fit(model, callbacks, epochs):
    x, y = _data()
    return model.fit(x, y, batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0,
                     callbacks=callbacks)


LOSSES = [1.0, 0.5, 0.5, 0.5, 0.4, 0.4, 0.4, 0.4]


def test_float_lr_reductions_and_replay():
    plateau = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, min_lr=0.01)
    recorder = _LrPerStep()
    history = _fit(_model(0.08), [_FakeLoss(LOSSES), plateau, recorder], epochs=8)
    # Hand trace (patience 2): no improvement at epochs 2, 3 → reduce after epoch 3;
    # improvement at 4; none at 5, 6 → reduce after epoch 6.
    assert [(e, s) for e, s, _ in plateau.reductions] == [(3, 16), (6, 28)]
    assert [r for _, _, r in plateau.reductions] == pytest.approx([0.04, 0.02])
    assert history.history["learning_rate"] == pytest.approx(
        [0.08] * 4 + [0.04] * 3 + [0.02])
    replay = plateau.schedule()
    assert isinstance(replay, MultiStepDecay)
    replayed = [float(replay(s)) for s in range(32)]
    np.testing.assert_allclose(recorder.lrs, replayed, rtol=0)  # exactly the same rates


def test_min_lr_and_cooldown():
    plateau = ReduceLROnPlateau(monitor="loss", factor=0.1, patience=1, cooldown=2,
                                min_lr=0.005)
    _fit(_model(0.1), [_FakeLoss([1.0] * 8), plateau], epochs=8)
    # Keras's counting: the cooldown counter is decremented before it is tested, so
    # cooldown=2 skips one epoch. Reduce after epochs 1 and 3, clamped at min_lr, then
    # never again (lr <= min_lr).
    assert [e for e, _, _ in plateau.reductions] == [1, 3]
    assert [r for _, _, r in plateau.reductions] == pytest.approx([0.01, 0.005])


def test_scales_a_schedule_and_saves(model_roundtrip):
    base = keras.optimizers.schedules.CosineDecay(0.1, 32)
    model = _model(base)
    plateau = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2)
    recorder = _LrPerStep()
    _fit(model, [_FakeLoss(LOSSES), plateau, recorder], epochs=8)
    assert [s for _, s, _ in plateau.reductions] == [16, 28]
    t = np.arange(32)
    expected = 0.1 * 0.5 * (1 + np.cos(np.pi * t / 32)) * np.where(
        t >= 28, 0.25, np.where(t >= 16, 0.5, 1.0))
    np.testing.assert_allclose(recorder.lrs, expected, rtol=1e-5)
    replay = plateau.schedule()
    np.testing.assert_allclose([float(replay(s)) for s in t], expected, rtol=1e-5)
    x, _ = _data()
    model_roundtrip(model, x[:4])  # the scaled schedule serializes


def test_config_and_errors(config_roundtrip):
    config_roundtrip(ReduceLROnPlateau(monitor="val_accuracy", factor=0.2, patience=3))
    with pytest.raises(ValueError, match=r"Argument `factor` must be .*< 1\. "
                                         r"Received: factor=1\.0"):
        ReduceLROnPlateau(factor=1.0)
    with pytest.raises(ValueError, match="Argument `patience` must be >= 0"):
        ReduceLROnPlateau(patience=-1)
    with pytest.raises(ValueError, match="Argument `mode` must be one of"):
        ReduceLROnPlateau(mode="up")
    with pytest.raises(ValueError, match="Argument `verbose` must be an integer. "
                                         "Received: verbose='abc'"):
        ReduceLROnPlateau(verbose="abc")
    with pytest.raises(ValueError, match="Argument `verbose` must be >= 0"):
        ReduceLROnPlateau(verbose=-1)
    with pytest.raises(ValueError, match="Unrecognized keyword"):
        ReduceLROnPlateau(epsilon=1e-3)
    with pytest.raises(ValueError, match="needs a finished `fit`"):
        ReduceLROnPlateau().schedule()


def test_min_lr_floors_a_decaying_schedule_after_a_reduction(model_roundtrip):
    base = keras.optimizers.schedules.CosineDecay(0.1, 32)  # decays to 0 at step 32
    model = _model(base)
    plateau = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, min_lr=0.02)
    recorder = _LrPerStep()
    _fit(model, [_FakeLoss(LOSSES), plateau, recorder], epochs=8)
    t = np.arange(32)
    cosine = 0.1 * 0.5 * (1 + np.cos(np.pi * t / 32))
    # Cut after epoch 3 (step 16): lr 0.05 -> 0.025, multiplier 0.5. From then on
    # max(0.5 · S(t), 0.02): the cosine alone would go below 0.02 from step 19. At step 28
    # the rate is at the floor, so the second plateau makes no cut (lr <= min_lr).
    expected = np.where(t >= 16, np.maximum(0.5 * cosine, 0.02), cosine)
    assert [(e, s) for e, s, _ in plateau.reductions] == [(3, 16)]
    assert plateau.reductions[0][2] == pytest.approx(0.025)
    np.testing.assert_allclose(recorder.lrs, expected, rtol=1e-5)
    assert min(recorder.lrs[16:]) == pytest.approx(0.02)
    replay = plateau.schedule()  # the floored schedule that ran
    assert isinstance(replay, MultiStepDecay)
    np.testing.assert_allclose([float(replay(s)) for s in t], expected, rtol=1e-5)
    x, _ = _data()
    loaded = model_roundtrip(model, x[:4])  # the floored schedule serializes
    lr = float(keras.ops.convert_to_numpy(loaded.optimizer.learning_rate))
    assert lr == pytest.approx(0.02)
