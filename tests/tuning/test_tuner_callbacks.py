"""The library's callbacks in a KerasTuner search: the probe is traced once per structure."""

from __future__ import annotations

import keras
import pytest

from keras_recipes.diagnostics import DiagnosticLogger
from keras_recipes.diagnostics import probe as probe_module
from keras_recipes.tuning import grid_search

pytestmark = pytest.mark.integration

keras_tuner = pytest.importorskip("keras_tuner")


@pytest.fixture
def traces(monkeypatch):
    """Counts the traces of the probe function (``Probe.statistics`` runs only then)."""
    probe_module.clear_cache()
    count = {"n": 0}
    original = probe_module.Probe.statistics

    def counted(self, *args, **kwargs):
        count["n"] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(probe_module.Probe, "statistics", counted)
    yield count
    probe_module.clear_cache()


def _builder(units_choices):
    def build(hp):
        model = keras.Sequential([
            keras.Input((64,)),
            keras.layers.Dense(hp.Choice("units", units_choices), activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ])
        lr = hp.Choice("lr", [1e-2, 3e-3]) if len(units_choices) == 1 else 1e-2
        model.compile(keras.optimizers.Adam(lr), "sparse_categorical_crossentropy")
        return model

    return build


# One structure: two trials that differ by the learning rate only. Two: units 4, then 8.
@pytest.mark.slow  # heavy: `make test-all`
@pytest.mark.parametrize("units, structures", [([8], 1), ([4, 8], 2)])
def test_two_trials_of_two_executions_trace_the_probe_once_per_structure(
        tiny_digits, tmp_path, traces, units, structures):
    x, y = tiny_digits
    tuner = keras_tuner.GridSearch(
        _builder(units), objective="loss", max_trials=2, executions_per_trial=2, seed=1,
        directory=str(tmp_path), project_name="p", overwrite=True)
    loggers = []

    class Kept(DiagnosticLogger):
        def on_train_end(self, logs=None):
            super().on_train_end(logs)
            loggers.append(self)

    tuner.search(x, y, epochs=2, batch_size=50, verbose=0,
                 callbacks=[Kept(probe=(x[:32], y[:32]))])
    assert len(loggers) == 4  # 2 trials x 2 executions, each with its own deep copy
    assert traces["n"] == structures
    assert probe_module.cache_size() == structures
    for logger in loggers:  # every execution measured its own model
        frame = logger.frame
        assert set(frame[frame.stat == "grad_norm"].epoch) == {0, 1, 2}
        assert logger.summary["initial_loss"] == pytest.approx(
            frame[(frame.epoch == 0) & (frame.stat == "probe_loss")].value.iloc[0])
    initial = {round(logger.summary["initial_loss"], 6) for logger in loggers}
    final = {round(float(logger.frame.query("epoch == 2 and stat == 'probe_loss'")
                         .value.iloc[0]), 6) for logger in loggers}
    assert len(final) > 1 and len(initial) >= 1  # not one model's numbers for all


@pytest.mark.slow  # heavy: `make test-all`
def test_grid_search_with_the_logger_traces_once(tiny_digits, traces):
    x, y = tiny_digits
    frame = grid_search(
        lambda hp: keras.Sequential([keras.Input((64,)),
                                     keras.layers.Dense(8, activation="relu"),
                                     keras.layers.Dense(10, activation="softmax")]),
        x, y, space={"learning_rate": (0.1, 0.01), "weight_decay": (0.0,)},
        executions_per_trial=2, verbose=0,
        callbacks=[DiagnosticLogger(probe=(x[:32], y[:32]))])
    assert (frame["status"] == "COMPLETED").all() and len(frame) == 2
    assert traces["n"] == 1
