"""A DiagnosticLogger deep-copied per KerasTuner trial writes each trial into its own folder."""

from __future__ import annotations

import copy
import json

import keras
import pandas as pd
import pytest

from keras_recipes.diagnostics import DiagnosticLogger
from keras_recipes.diagnostics.run_output import claim_run_folder


@pytest.mark.slow  # heavy: `make test-all`
@pytest.mark.integration
def test_each_keras_tuner_trial_gets_its_own_run_folder(tiny_digits, tmp_path, seed):
    keras_tuner = pytest.importorskip("keras_tuner")
    x, y = tiny_digits

    def build(hp):
        model = keras.Sequential([
            keras.Input((64,)),
            keras.layers.Dense(hp.Choice("units", [4, 8]), activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ])
        model.compile("adam", "sparse_categorical_crossentropy")
        return model

    tuner = keras_tuner.RandomSearch(build, objective="loss", max_trials=2, seed=0,
                                     directory=str(tmp_path / "tuner"), project_name="p",
                                     overwrite=True)
    base = tmp_path / "diag"
    logger = DiagnosticLogger(probe=(x[:16], y[:16]), log_dir=base, activations=False)
    tuner.search(x, y, epochs=1, batch_size=100, verbose=0, callbacks=[logger])

    runs = sorted(p.name for p in base.iterdir())
    assert runs == ["run_001", "run_002"]
    params = set()
    for run in runs:
        summary = json.loads((base / run / "summary.json").read_text())
        assert summary["run_dir"] == str(base / run)
        params.add(summary["trainable_params"])
        csv = pd.read_csv(base / run / "diagnostics.csv")
        # One fit per folder: the loss of epoch 1 appears exactly once.
        assert len(csv[(csv.layer == "model") & (csv.stat == "loss")]) == 1
    assert params == {64 * 4 + 4 + 4 * 10 + 10, 64 * 8 + 8 + 8 * 10 + 10}
    assert not (base / "diagnostics.csv").exists()


def test_a_copy_claims_a_fresh_folder_and_keeps_it_across_fits(tiny_digits, tiny_mlp,
                                                               tmp_path, seed):
    x, y = tiny_digits
    (tmp_path / "run_001").mkdir()  # left by an earlier search
    logger = DiagnosticLogger(probe=(x[:16], y[:16]), log_dir=tmp_path, activations=False)
    clone = copy.deepcopy(logger)
    assert clone.run_dir is None and logger.run_dir == str(tmp_path)
    model = tiny_mlp()
    model.fit(x, y, epochs=1, batch_size=100, verbose=0, callbacks=[clone])
    assert clone.run_dir == str(tmp_path / "run_002")
    model.fit(x, y, epochs=1, batch_size=100, verbose=0, callbacks=[clone])
    assert clone.run_dir == str(tmp_path / "run_002")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run_001", "run_002"]
    assert claim_run_folder(str(tmp_path)) == str(tmp_path / "run_003")
