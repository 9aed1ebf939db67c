"""One process of a distributed grid search: chief or worker, chosen by KERASTUNER_TUNER_ID.

Run by ``test_distributed.py``: ``python distributed_job.py <project folder> <result.csv>``.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from keras_recipes.data import load_dataset  # noqa: E402
from keras_recipes.tuning import grid_search  # noqa: E402


def tiny_model():
    return keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(8, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])


def main(directory: str, result: str) -> None:
    ds = load_dataset("digits", flatten=True)
    frame = grid_search(
        tiny_model, ds.x[:200], ds.y[:200],
        space={"learning_rate": (0.1, 0.03, 0.01, 0.003)},
        directory=directory, project_name="distributed", optimizer="adam",
    )
    frame.to_csv(result, index=False)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
