"""SnapshotEnsemble: snapshot steps from the cycle length, weights at cycle ends, ensemble."""

from __future__ import annotations

import copy
import math

import keras
import numpy as np
import pytest

from keras_recipes.callbacks import SnapshotEnsemble
from keras_recipes.ensembles import evaluate_ensemble

pytestmark = pytest.mark.backend


class _RecordWeights(keras.callbacks.Callback):
    """Reference: the kernel after every step, read the slow way (sync on JAX)."""

    def on_train_begin(self, logs=None):
        self.kernels = {}
        self.step = 0

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        sync = getattr(self.model, "jax_state_sync", None)
        if callable(sync):
            sync()
        self.kernels[self.step] = np.array(self.model.layers[-1].kernel)


def _model(lr):
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10, "softmax")])
    model.compile(keras.optimizers.SGD(lr), "sparse_categorical_crossentropy")
    return model


def _boundaries(first, t_mul, n):
    """Hand formula: B_i = ceil(first * (1 + t + ... + t^i))."""
    return [math.ceil(first * sum(t_mul ** j for j in range(i + 1)) - 1e-9) for i in range(n)]


@pytest.mark.slow_elsewhere
def test_snapshots_at_cycle_ends_of_cosine_restarts(tiny_digits, seed):
    x, y = tiny_digits  # 200 examples, batch 20 -> 10 steps per epoch
    lr = keras.optimizers.schedules.CosineDecayRestarts(0.05, first_decay_steps=6, t_mul=2.0)
    snap = SnapshotEnsemble(schedule=lr)
    rec = _RecordWeights()
    model = _model(lr)
    model.fit(x, y, batch_size=20, epochs=5, callbacks=[rec, snap], verbose=0)
    # cycles of 6, 12, 24 steps end at steps 6, 18, 42; 50 steps were run
    assert snap.snapshot_steps == _boundaries(6, 2.0, 3) == [6, 18, 42]
    for step, weights in zip(snap.snapshot_steps, snap.snapshots, strict=True):
        np.testing.assert_array_equal(weights[0], rec.kernels[step])
    # the learning rate restarts right after each snapshot: lowest value at the last step
    values = [float(lr(s)) for s in range(42)]
    assert values[17] < values[16] and values[18] == pytest.approx(0.05)


def test_cycle_steps_with_steps_per_epoch_not_a_divisor(tiny_digits, seed):
    x, y = tiny_digits
    snap = SnapshotEnsemble(cycle_steps=7, max_snapshots=3)
    model = _model(0.05)
    model.fit(x, y, batch_size=20, epochs=3, callbacks=[snap], verbose=0)
    assert snap.snapshot_steps == [14, 21, 28]  # 7, 14, 21, 28; only the last 3 kept
    assert len(snap.snapshots) == 3
    # a second fit continues the cycles from optimizer.iterations, with fresh snapshots
    model.fit(x, y, batch_size=20, epochs=1, callbacks=[snap], verbose=0)
    assert snap.snapshot_steps == [35]


def test_ensemble_averages_snapshot_probabilities(tiny_digits, seed, model_roundtrip):
    x, y = tiny_digits
    snap = SnapshotEnsemble(cycle_steps=10)
    model = _model(0.1)
    model.fit(x, y, batch_size=20, epochs=3, callbacks=[snap], verbose=0)
    trained = [w.copy() for w in model.get_weights()]
    ensemble = snap.ensemble()
    probs = []
    for weights in snap.snapshots:
        logits = x.astype("float64") @ weights[0] + weights[1]
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs.append(e / e.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(ensemble.predict(x, verbose=0), np.mean(probs, axis=0),
                               atol=1e-5)
    last_two = snap.ensemble(last=2)
    np.testing.assert_allclose(last_two.predict(x, verbose=0), np.mean(probs[1:], axis=0),
                               atol=1e-5)
    for a, b in zip(trained, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    model_roundtrip(ensemble, x[:16])
    members = [layer for layer in ensemble.layers if isinstance(layer, keras.Model)]
    table = evaluate_ensemble(members, x, y)
    assert len(table) == 4
    with pytest.raises(ValueError, match="Argument `last`"):
        snap.ensemble(last=4)


def test_duck_typed_schedules():
    class Cyclic(keras.optimizers.schedules.LearningRateSchedule):
        def __init__(self, step_size):
            self.step_size = step_size

        def __call__(self, step):
            return 0.1

        def get_config(self):
            return {"step_size": self.step_size}

    assert SnapshotEnsemble(schedule=Cyclic(5)).boundary(0) == 10  # cycle = 2 * step_size

    class WithAttribute(Cyclic):
        cycle_steps = 3

    assert [SnapshotEnsemble(schedule=WithAttribute(5)).boundary(i) for i in range(3)] == [
        3, 6, 9]
    snap = SnapshotEnsemble(cycle_steps=4, t_mul=1.5)
    assert [snap.boundary(i) for i in range(3)] == _boundaries(4, 1.5, 3) == [4, 10, 19]


def test_validation_and_reuse():
    with pytest.raises(ValueError, match="exactly one"):
        SnapshotEnsemble()
    with pytest.raises(ValueError, match="exactly one"):
        SnapshotEnsemble(cycle_steps=3, schedule=keras.optimizers.schedules.CosineDecay(0.1, 9))
    with pytest.raises(ValueError, match="known cycle length"):
        SnapshotEnsemble(schedule=keras.optimizers.schedules.CosineDecay(0.1, 9))
    with pytest.raises(ValueError, match="cycle_steps"):
        SnapshotEnsemble(cycle_steps=0)
    with pytest.raises(ValueError, match="max_snapshots"):
        SnapshotEnsemble(cycle_steps=3, max_snapshots=0)
    with pytest.raises(ValueError, match="t_mul"):
        SnapshotEnsemble(cycle_steps=3, t_mul=0.5)
    snap = SnapshotEnsemble(cycle_steps=3)
    with pytest.raises(ValueError, match="No snapshot"):
        snap.ensemble()
    clone = copy.deepcopy(snap)  # KerasTuner deep-copies callbacks
    assert clone.boundary(1) == 6 and clone.snapshots == []


def test_library_cyclic_schedules_are_read():
    schedules = pytest.importorskip("keras_recipes.schedules")
    sgdr = schedules.WarmRestarts(8, t_mult=2.0, initial_learning_rate=0.1)
    assert [SnapshotEnsemble(schedule=sgdr).boundary(i) for i in range(3)] == [8, 24, 56]
    cyclic = schedules.CyclicLR(0.01, 0.1, step_size=5)
    assert SnapshotEnsemble(schedule=cyclic).boundary(1) == 20
