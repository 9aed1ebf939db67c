"""Search progress lines (``verbose``) and trial times of any KerasTuner tuner."""

from __future__ import annotations

import logging
import math
import re
import time

import keras
import numpy as np
import pytest

from keras_recipes.tuning import grid_search, random_search, results_frame
from keras_recipes.tuning.results import trial_seconds

pytestmark = pytest.mark.integration

keras_tuner = pytest.importorskip("keras_tuner")

LINE = re.compile(r"^Trial (\d)/(\d): learning_rate=[0-9.e+-]+, weight_decay=[0-9.e+-]+ -> "
                  r"(val_loss=[0-9.]+|failed \(diverged: .*\)) \(\d+\.\d s\)$")


def tiny_model():
    return keras.Sequential([keras.Input((64,)), keras.layers.Dense(8, activation="relu"),
                             keras.layers.Dense(10, activation="softmax")])


def test_default_verbose_prints_one_line_per_trial(tiny_digits, capsys):
    x, y = tiny_digits
    space = {"learning_rate": (0.1, 1e30), "weight_decay": (0.0,)}
    frame = grid_search(tiny_model, x, y, space=space)
    out = capsys.readouterr().out  # also TerminateOnNaN's "Batch 1: Invalid loss" line
    lines = [line for line in out.splitlines() if line.startswith("Trial ")]
    assert len(lines) == 2, out
    matches = [LINE.match(line) for line in lines]
    assert all(matches), lines
    assert [m.group(1) for m in matches] == ["1", "2"] and {m.group(2) for m in matches} == {"2"}
    done = frame[frame.status == "COMPLETED"].iloc[0]
    assert f"val_loss={done['val_loss']:.4g}" in "\n".join(lines)
    assert "failed (diverged: `loss` became" in "\n".join(lines)


def test_verbose_zero_is_silent_and_bad_values_are_refused(tiny_digits, capsys):
    x, y = tiny_digits
    random_search(tiny_model, x, y, max_trials=1, verbose=0)
    assert capsys.readouterr().out == ""
    for bad in (3, -1, "loud", 1.5):
        with pytest.raises(ValueError, match=r"Argument `verbose` must be 'auto', 0, 1 or 2"):
            grid_search(tiny_model, x, y, verbose=bad)


def test_progress_follows_keras_interactive_logging(tiny_digits, capsys, caplog):
    x, y = tiny_digits
    caplog.set_level(logging.INFO, logger="absl")
    # Off as the search starts; KerasTuner's clear_session() before each trial resets it.
    keras.utils.disable_interactive_logging()
    try:
        random_search(tiny_model, x, y, max_trials=1, verbose=1)
    finally:
        keras.utils.enable_interactive_logging()
    assert "Trial 1/1" not in capsys.readouterr().out
    assert any(r.getMessage().startswith("Trial 1/1: ") for r in caplog.records)


def _plain_tuner(tmp_path, name):
    def build(hp):
        model = tiny_model()
        model.compile(keras.optimizers.Adam(hp.Choice("lr", [1e-2, 1e-3])),
                      "sparse_categorical_crossentropy")
        return model

    return keras_tuner.GridSearch(build, objective="loss", max_trials=2,
                                  directory=str(tmp_path), project_name=name, overwrite=True)


def test_plain_tuner_seconds_from_keras_tuner_start_and_trial_file(tiny_digits, tmp_path):
    x, y = tiny_digits
    tuner = _plain_tuner(tmp_path, "shown")
    start = time.time()
    tuner.search(x, y, epochs=2, batch_size=50, verbose=1)  # KerasTuner's default verbosity
    elapsed = time.time() - start
    frame = results_frame(tuner)
    assert frame.attrs["seconds_source"] == "trial start and trial file"
    assert np.isfinite(frame["seconds"]).all() and (frame["seconds"] > 0).all()
    assert frame["seconds"].sum() <= elapsed + 0.05
    # The same numbers after reloading the project (the start times live in oracle.json).
    again = keras_tuner.GridSearch(tuner.hypermodel, objective="loss", max_trials=2,
                                   directory=str(tmp_path), project_name="shown",
                                   overwrite=False)
    np.testing.assert_allclose(results_frame(again).set_index("trial_id")["seconds"],
                               frame.set_index("trial_id")["seconds"])


def test_plain_tuner_searched_silently_has_no_known_seconds(tiny_digits, tmp_path):
    x, y = tiny_digits
    tuner = _plain_tuner(tmp_path, "silent")
    tuner.search(x, y, epochs=1, batch_size=50, verbose=0)
    frame = results_frame(tuner)
    assert frame["seconds"].isna().all() and len(frame) == 2
    assert frame.attrs["seconds_source"] == "unknown"
    assert trial_seconds(tuner) == ({}, "unknown")


def test_library_tuner_seconds_are_measured(tiny_digits):
    x, y = tiny_digits
    frame, tuner = random_search(tiny_model, x, y, max_trials=1, verbose=0,
                                 return_tuner=True)
    seconds, source = trial_seconds(tuner)
    assert source == "measured" and math.isclose(frame.loc[0, "seconds"],
                                                 seconds[frame.loc[0, "trial_id"]])
