"""The small digits classifier that the search tests tune (64 inputs, 10 classes)."""

from __future__ import annotations

import keras


def tiny_model():
    """An uncompiled 64 -> 16 (ReLU) -> 10 (softmax) MLP; the search compiles it."""
    return keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
