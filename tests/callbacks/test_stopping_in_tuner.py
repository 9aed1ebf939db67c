"""Every stopping callback inside a keras_tuner.RandomSearch (deep-copied for each trial)."""

from __future__ import annotations

import keras
import pytest

from keras_recipes.callbacks import (
    ConvergenceStopping,
    EarlyStopping,
    GeneralizationGapStopping,
    KeepBest,
    NaNGuard,
    PrecheltStopping,
    StopReason,
    TimeBudget,
)

# A whole RandomSearch (about 45 s on two busy cores): `make test-all`. In `make test`, each
# callback's deep copy and reuse (the deep-copy tests in its own file) and callbacks
# inside a KerasTuner search (tests/tuning/test_tuner_callbacks.py).
pytestmark = [pytest.mark.integration, pytest.mark.slow]

kt = pytest.importorskip("keras_tuner")


def build(hp):
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(hp.Choice("units", [8, 16]), activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_random_search_with_every_callback(tiny_digits, tmp_path, seed):
    x, y = tiny_digits
    callbacks = [
        EarlyStopping(patience=1, divergence_threshold=100.0),
        GeneralizationGapStopping(max_gap=5.0),
        PrecheltStopping("UP", strip_length=1, s=2),
        ConvergenceStopping(window=2, tolerance=1e-6),
        KeepBest("val_accuracy"),
        TimeBudget(seconds=3600),
        NaNGuard(),
    ]
    tuner = kt.RandomSearch(build, objective="val_accuracy", max_trials=2, seed=0,
                            directory=str(tmp_path), project_name="stopping", overwrite=True)
    tuner.search(x[:150], y[:150], validation_data=(x[150:], y[150:]), epochs=2,
                 batch_size=75, verbose=0, callbacks=callbacks)
    trials = list(tuner.oracle.trials.values())
    assert len(trials) == 2
    assert all(t.status == "COMPLETED" for t in trials)
    assert all(t.score is not None for t in trials)
    # The tuner trained deep copies: the originals were never attached to a model.
    for callback in callbacks:
        assert getattr(callback, "_model", None) is None
        assert callback.stop_reason is StopReason.NOT_STOPPED
