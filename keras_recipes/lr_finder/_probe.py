"""A training session on a private copy of the optimizer, undone when it ends.

The learning-rate finder and the ε0 probe both need to train a model at learning rates
they choose, batch by batch, and to read each batch's own loss. They do it here:

- The model's state is captured (:class:`keras_recipes._state.TrainingState`) and restored
  in ``finally``.
- The model's optimizer is replaced, for the session only, by a copy built from its config
  with a *float* learning rate. The copy's learning rate is an optimizer variable, read
  inside the compiled step on every backend, so assigning it changes the rate at the next
  batch with no retracing; this works even when the user's optimizer holds a
  ``LearningRateSchedule``, whose rate cannot be set. The user's optimizer is never stepped.
- Each step is ``model.train_on_batch`` after ``model.reset_metrics()``, so the returned
  loss is that batch's loss (plus regularisation losses), not the running mean since the
  epoch began that ``fit`` reports in ``logs["loss"]``. ``train_on_batch`` goes through
  Keras's own compiled train step, so this works unchanged on TensorFlow and JAX.
- On several devices the session works at the global batch size, as ``fit`` does: the
  optimizer copy is created in the model's distribution scope, and under a
  ``tf.distribute`` strategy each batch is split over the replicas
  (:mod:`keras_recipes._distribute`); on JAX ``train_on_batch`` shards it itself.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from keras_recipes import _distribute
from keras_recipes._state import TrainingState

#: Largest number of validation examples evaluated in one compiled call.
EVAL_CHUNK = 2048


def check_compiled(model: Any) -> None:
    """Raise ``ValueError`` unless ``model`` is a compiled Keras model."""
    if not isinstance(model, keras.Model):
        raise ValueError(
            f"Argument `model` must be a keras.Model. Received: model of type "
            f"{type(model).__name__}"
        )
    if not getattr(model, "compiled", False) or getattr(model, "optimizer", None) is None:
        raise ValueError(
            "Argument `model` must be compiled with an optimizer and a loss: call "
            "`model.compile(optimizer=..., loss=...)` first. Received: an uncompiled model "
            f"{model.name!r}"
        )


# Config keys under which a wrapper optimizer serializes the optimizer it wraps:
# Keras's ``LossScaleOptimizer`` (``inner_optimizer``), this library's ``Lookahead``
# (``inner``, and ``optimizer`` in configs written before that name).
_WRAPPED_KEYS = ("inner_optimizer", "inner", "optimizer")


def _with_float_lr(config: dict, lr: float) -> dict:
    config = dict(config)
    if "learning_rate" in config:
        config["learning_rate"] = float(lr)
        return config
    for key in _WRAPPED_KEYS:
        inner = config.get(key)
        if isinstance(inner, dict) and isinstance(inner.get("config"), dict):
            config[key] = {**inner, "config": _with_float_lr(inner["config"], lr)}
            return config
    raise ValueError(
        "Argument `model` must have an optimizer whose config holds `learning_rate` "
        f"(directly, or in a wrapped optimizer under one of {list(_WRAPPED_KEYS)}). "
        f"Received: optimizer config keys {sorted(config)}"
    )


def clone_optimizer(optimizer: keras.optimizers.Optimizer, lr: float):
    """A fresh, unbuilt copy of ``optimizer`` with a constant (settable) learning rate."""
    serialized = keras.optimizers.serialize(optimizer)
    serialized = {**serialized, "config": _with_float_lr(serialized["config"], lr)}
    return keras.optimizers.deserialize(serialized)


def _take(structure: Any, part: slice) -> Any:
    """Rows ``part`` of every array in ``structure`` (a dict or list for multi-output models)."""
    if structure is None:
        return None
    return keras.tree.map_structure(
        lambda a: None if a is None else np.asarray(a)[part], structure
    )


class ProbeSession:
    """Context manager: train ``model`` at chosen learning rates, then restore it.

    Args:
        model: a compiled Keras model.
        first_lr: the learning rate the optimizer copy starts with.
        sample_batch: one ``(x, y, sample_weight)`` batch, used to build an unbuilt model
            (its weights are then created as ``fit`` would create them, before capture).
    """

    def __init__(self, model: keras.Model, first_lr: float, sample_batch: tuple):
        self.model = model
        self._first_lr = float(first_lr)
        self._sample_batch = sample_batch
        self._state: TrainingState | None = None
        self._trial: TrainingState | None = None

    def __enter__(self) -> ProbeSession:
        model = self.model
        if not model.built:
            with _distribute.scope(model):
                model(self._sample_batch[0])
        self._state = TrainingState(model)
        try:
            # The copy and its slots live where the model's variables live: in the
            # model's tf.distribute scope (mirrored on every replica), or under the
            # global keras.distribution on JAX.
            with _distribute.scope(model):
                optimizer = clone_optimizer(model.optimizer, self._first_lr)
                model.optimizer = optimizer
                model.train_function = None  # retrace the step with the copy
                optimizer.build(model.trainable_variables)
            # The starting point every trial returns to: the user's weights and a fresh
            # optimizer copy. The compiled step is kept across trials.
            self._trial = TrainingState(model, include_compiled=False)
        except BaseException:
            self._state.restore()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self._state.restore()

    def reset(self) -> None:
        """Return to the starting weights with a fresh optimizer state."""
        self._trial.restore()

    def set_lr(self, lr: float) -> None:
        """Use ``lr`` from the next step on."""
        self.model.optimizer.learning_rate = float(lr)

    def train_step(self, batch: tuple) -> float:
        """One optimizer step on the global ``batch``; returns that batch's own loss.

        On several replicas the batch is split over them as ``fit`` splits its batches
        (see :func:`keras_recipes._distribute.train_step`).
        """
        self.model.reset_metrics()
        logs = _distribute.train_step(self.model, batch)
        return float(logs["loss"])

    def evaluate(self, validation_data: Any, batch_size: int) -> float:
        """The loss over the whole of ``validation_data`` (arrays tuple or dataset).

        Targets and sample weights may be structures matching the model's outputs (a dict
        keyed by output name, or a list), as ``fit`` accepts them.

        Arrays go through ``test_on_batch`` in chunks of up to :data:`EVAL_CHUNK` examples
        (one compiled call for most validation sets); the chunk losses are averaged
        weighted by chunk size, as ``model.evaluate`` weights its batches.
        """
        model = self.model
        if not isinstance(validation_data, tuple | list):
            logs = model.evaluate(validation_data, verbose=0, return_dict=True)
            return float(logs["loss"])
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(tuple(validation_data))
        n = int(np.shape(keras.tree.flatten(x)[0])[0])
        chunk = max(int(batch_size), EVAL_CHUNK)
        total = 0.0
        for start in range(0, n, chunk):
            part = slice(start, min(start + chunk, n))
            model.reset_metrics()
            logs = model.test_on_batch(
                _take(x, part), _take(y, part), sample_weight=_take(sample_weight, part),
                return_dict=True,
            )
            total += float(logs["loss"]) * (part.stop - part.start)
        return total / n
