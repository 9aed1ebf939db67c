"""A user sees each of the library's warnings once, on every backend.

Python's default filter prints a warning once per message and code location. A warning that
still reaches the user twice comes from two places in the library saying the same thing, or
from a message that changes between calls (a step number, an object's id). The scenario is an
example script as users write it: a range test, then a fit with the diagnostic logger and the
watchdog, then a second fit of the same model, all with inputs that make the library warn
(a validation set that overlaps the training data, a logger without a probe batch).
"""

from __future__ import annotations

import collections
import warnings

import keras
import numpy as np
import pytest

from keras_recipes.callbacks import Watchdog
from keras_recipes.diagnostics import DiagnosticLogger
from keras_recipes.lr_finder import find_lr

pytestmark = pytest.mark.backend


def test_each_warning_reaches_the_user_once():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")  # what a script sees: once per message and place
        find_lr(model, x, y, num_steps=10, batch_size=16)
        for _ in range(2):
            model.fit(x, y, validation_data=(x[:32], y[:32]), epochs=2, batch_size=32,
                      verbose=0, callbacks=[DiagnosticLogger(), Watchdog(verbose=0)])
    ours = [str(w.message) for w in caught
            if "keras_recipes" in w.filename or "keras_recipes" in str(w.message)
            or str(w.message).startswith(("DiagnosticLogger", "Watchdog"))]
    assert ours, "the scenario is meant to make the library warn"
    repeated = {m: n for m, n in collections.Counter(ours).items() if n > 1}
    assert not repeated, repeated
