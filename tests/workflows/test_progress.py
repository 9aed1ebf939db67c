"""StageProgress: stage, epoch, metrics and ETA lines."""

import io
import re

import keras
import numpy as np
import pytest

from keras_recipes.workflows import StageProgress
from keras_recipes.workflows.progress import format_seconds


def fit_with(progress, epochs=4):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = np.zeros((8, 3), dtype="float32"), np.zeros(8, dtype="int64")
    model.fit(x, y, epochs=epochs, verbose=0, callbacks=[progress])


def test_lines_show_stage_epoch_metrics_and_eta(seed):
    out = io.StringIO()
    progress = StageProgress(2, 3, "generalise", min_interval=0, stream=out)
    fit_with(progress)
    lines = out.getvalue().splitlines()
    assert len(lines) == 5  # 4 epochs + the closing line
    pattern = (r"stage 2/3 generalise \| epoch (\d)/4 \| loss \S+ accuracy \S+ \| "
               r"\d+s elapsed, ETA \d+s")
    assert [int(re.fullmatch(pattern, line).group(1)) for line in lines[:4]] == [1, 2, 3, 4]
    assert lines[3].endswith("ETA 0s")
    assert lines[4].startswith("stage 2/3 generalise finished: 4 epoch(s)")
    # state is reset per fit: a second fit prints a fresh set of lines
    fit_with(progress, epochs=2)
    assert len(progress.lines) == 2


def test_throttled_output_keeps_first_and_last_epoch(seed):
    out = io.StringIO()
    fit_with(StageProgress(1, name="overfit", min_interval=3600, stream=out), epochs=5)
    lines = out.getvalue().splitlines()
    assert [line.split("|")[1].strip() for line in lines[:2]] == ["epoch 1/5", "epoch 5/5"]
    assert len(lines) == 3


def test_format_seconds():
    assert [format_seconds(s) for s in (0.4, 42, 185, 3720)] == ["0s", "42s", "3m05s", "1h02m"]


def test_config_roundtrip(config_roundtrip):
    config_roundtrip(StageProgress(2, 3, "x", min_interval=0.5))


@pytest.mark.parametrize("kwargs, match", [
    ({"stage": 0}, "Argument `stage` must be >= 1"),
    ({"stage": 4, "num_stages": 3}, "`stage` must be <= `num_stages`"),
    ({"stage": 1, "min_interval": -1}, "Argument `min_interval` must be >= 0"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        StageProgress(**kwargs)
