"""Watchdog inside KerasTuner: a stopped trial is a FAILED trial with the watchdog's reason."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_recipes.callbacks import Watchdog
from keras_recipes.callbacks.watchdog import in_keras_tuner

pytestmark = pytest.mark.integration

kt = pytest.importorskip("keras_tuner")

RNG = np.random.default_rng(0)
X = RNG.normal(size=(256, 8)).astype("float32")
Y = (X[:, 0] > 0).astype("int64")


def build(hp):
    model = keras.Sequential([
        keras.Input((8,)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(2, activation="softmax"),
    ])
    model.compile(keras.optimizers.Adam(hp.Choice("learning_rate", [0.0, 1e-2])),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.mark.slow  # heavy: `make test-all`
def test_stopped_trial_fails_with_its_reason_and_the_other_completes(tmp_path):
    dog = Watchdog(data=(X, Y), probe_every=4, verbose=0)
    tuner = kt.GridSearch(build, objective="val_accuracy", max_trials=2,
                          directory=str(tmp_path), project_name="watchdog", overwrite=True)
    tuner.search(X[:192], Y[:192], validation_data=(X[192:], Y[192:]), epochs=3,
                 batch_size=32, verbose=0, callbacks=[dog])
    trials = {t.hyperparameters.get("learning_rate"): t for t in tuner.oracle.trials.values()}
    assert set(trials) == {0.0, 1e-2}
    failed, completed = trials[0.0], trials[1e-2]
    assert failed.status == "FAILED"
    last = failed.message.strip().splitlines()[-1]
    assert "FailedTrialError: Watchdog stopped the trial: update_ratio_low at step 4" in last
    assert "Advice: Raise the learning rate" in last
    assert completed.status == "COMPLETED" and completed.score is not None
    # The tuner trained deep copies: the original was never attached to a model.
    assert getattr(dog, "_model", None) is None and dog.stop_reason is None


def test_outside_a_tuner_a_stop_raises_nothing():
    assert not in_keras_tuner()
    model = build(kt.HyperParameters())  # learning rate 0.0, the first choice
    dog = Watchdog(data=(X, Y), probe_every=4, verbose=0)
    model.fit(X, Y, epochs=2, batch_size=32, verbose=0, callbacks=[dog])
    assert dog.stop_reason.code == "update_ratio_low"


def test_fail_trial_true_raises_failed_trial_error_in_plain_fit():
    model = build(kt.HyperParameters())
    dog = Watchdog(data=(X, Y), probe_every=4, fail_trial=True, verbose=0)
    with pytest.raises(kt.errors.FailedTrialError, match="update_ratio_low at step 4"):
        model.fit(X, Y, epochs=2, batch_size=32, verbose=0, callbacks=[dog])
