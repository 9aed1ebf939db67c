"""LRFinder: the range test at on_train_begin, model restored, suggested rate applied."""

from __future__ import annotations

import copy

import keras
import numpy as np
import pytest

from keras_recipes.lr_finder import LRFinder

pytestmark = pytest.mark.backend


class _FirstBatchProbe(keras.callbacks.Callback):
    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0:
            self.weights = [w.numpy().copy() for w in self.model.weights]
            self.lr = float(np.asarray(self.model.optimizer.learning_rate))
            self.iterations = int(self.model.optimizer.iterations.numpy())


def _model(optimizer):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    return model


def test_range_test_then_training_starts_from_restored_model_at_suggestion(tiny_digits):
    x, y = tiny_digits
    model = _model(keras.optimizers.Adam(1e-3))
    initial = [w.numpy().copy() for w in model.weights]
    finder = LRFinder(x, y, min_lr=1e-4, max_lr=1.0, num_steps=10)
    probe = _FirstBatchProbe()
    model.fit(x[:64], y[:64], batch_size=32, epochs=1, verbose=0, callbacks=[finder, probe])
    assert finder.result is not None and finder.applied_lr == finder.result.suggestion
    assert probe.lr == pytest.approx(finder.result.suggestion, rel=1e-6)
    assert probe.iterations == 0
    for before, seen in zip(initial, probe.weights, strict=True):
        np.testing.assert_array_equal(before, seen)
    # Reused for another fit: the per-run state is reset and recomputed.
    first = finder.result
    model.fit(x[:64], y[:64], batch_size=32, epochs=1, verbose=0, callbacks=[finder])
    assert finder.result is not first


def test_schedule_is_left_alone_with_a_warning(tiny_digits):
    x, y = tiny_digits
    schedule = keras.optimizers.schedules.ExponentialDecay(1e-2, 10, 0.5)
    model = _model(keras.optimizers.SGD(schedule))
    finder = LRFinder(x, y, min_lr=1e-4, max_lr=1.0, num_steps=10)
    with pytest.warns(RuntimeWarning, match="cannot set the learning rate"):
        model.fit(x[:32], y[:32], epochs=1, verbose=0, callbacks=[finder])
    assert finder.applied_lr is None and finder.result.suggestion is not None
    assert model.optimizer._learning_rate is schedule


def test_missing_data_raises_at_fit(tiny_digits):
    x, y = tiny_digits
    with pytest.raises(ValueError, match="LRFinder needs the range test's data"):
        _model("sgd").fit(x[:32], y[:32], verbose=0, callbacks=[LRFinder()])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_lr": 1.0, "max_lr": 0.1}, "must be > `min_lr`"),
        ({"num_steps": 5}, "num_steps"),
        ({"mode": "cosine"}, "mode"),
        ({"suggest": "median"}, "suggest"),
        ({"seed": -1}, r"Argument `seed` must be >= 0\. Received: seed=-1"),
        ({"seed": 1.5}, "Argument `seed` must be an integer"),
        ({"shuffle": "yes"}, "Argument `shuffle` must be a bool"),
        ({"verbose": "abc"}, "Argument `verbose` must be a bool or an integer >= 0"),
        ({"validation_data": (1, 2, 3, 4)}, "Argument `validation_data` must be"),
    ],
)
def test_validates_in_init(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LRFinder(np.zeros((4, 64)), np.zeros(4), **kwargs)


def test_config_round_trip_and_deepcopy(config_roundtrip, tiny_digits):
    x, y = tiny_digits
    finder = LRFinder(x, y, min_lr=1e-5, max_lr=3.0, num_steps=20, suggest="steepest")
    rebuilt = config_roundtrip(finder)
    assert rebuilt.x is None and rebuilt.get_config()["suggest"] == "steepest"
    assert "x" not in finder.get_config()
    clone = copy.deepcopy(finder)  # KerasTuner deep-copies callbacks
    assert clone.get_config() == finder.get_config() and clone.result is None


def test_verbose_message_follows_keras_logging_switch(tiny_digits, capsys, caplog):
    import logging

    x, y = tiny_digits
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy")
    finder = LRFinder(x, y, num_steps=20, min_lr=1e-4, max_lr=10.0, verbose=True)
    keras.utils.disable_interactive_logging()
    try:
        with caplog.at_level(logging.INFO):
            model.fit(x, y, epochs=1, batch_size=100, verbose=0, callbacks=[finder])
    finally:
        keras.utils.enable_interactive_logging()
    assert finder.applied_lr is not None
    assert "LRFinder" not in capsys.readouterr().out
    assert any(r.getMessage().startswith("LRFinder: learning rate set to")
               for r in caplog.records)
