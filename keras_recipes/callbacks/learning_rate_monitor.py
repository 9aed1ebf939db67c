"""Log the learning rate and the scheduled hyperparameters at every epoch."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from keras_recipes._export import keras_recipes_export
from keras_recipes._validation import fail
from keras_recipes.callbacks._monitor import _iter_metrics
from keras_recipes.callbacks.hyperparameter_scheduler import (
    current_value,
    scheduled_hyperparameters,
)


@keras_recipes_export
class LearningRateMonitor(keras.callbacks.Callback):
    """Add ``lr`` (and ``momentum``, ``beta_1``, ``weight_decay``… when scheduled) to the logs.

    Use it to keep the learning rate next to the loss in ``History``, in ``CSVLogger``
    files and in TensorBoard, whatever sets it: a float, a ``LearningRateSchedule``,
    :class:`ReduceLROnPlateau`. Hyperparameters scheduled by
    :class:`HyperparameterScheduler` are logged under their own names. Place it before
    ``CSVLogger`` in the callbacks list so the file gets the columns.

    At the end of epoch ``e`` it logs ``lr = S(iterations)`` and ``h = S_h(iterations)``:
    the values the next step will use, which is what ``optimizer.learning_rate`` and Keras's
    own callbacks report. It runs once per epoch and adds no per-batch work.

    Args:
        key: log name of the learning rate; not ``"loss"``, a ``val_*`` name, nor a name
            already logged by one of the model's metrics or an earlier callback, which it
            would overwrite. Defaults to ``"lr"``.

    Example:

    >>> import keras, numpy as np
    >>> from keras_recipes.callbacks import LearningRateMonitor
    >>> from keras_recipes.schedules import CyclicLR
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(CyclicLR(0.01, 0.1, step_size=4)), "mse")
    >>> x, y = np.ones((16, 4), "float32"), np.ones((16, 1), "float32")
    >>> history = model.fit(x, y, batch_size=8, epochs=2, verbose=0,
    ...                     callbacks=[LearningRateMonitor()])
    >>> [round(v, 4) for v in history.history["lr"]]
    [0.055, 0.1]

    References:
        - PyTorch Lightning ``LearningRateMonitor``,
          https://lightning.ai/docs/pytorch/stable/api/lightning.pytorch.callbacks.LearningRateMonitor.html
    """

    def __init__(self, key: str = "lr"):
        super().__init__()
        if not isinstance(key, str) or not key:
            fail("key", "a non-empty string", key)
        if key == "loss" or key.startswith("val_"):
            fail("key", "a name that Keras does not log itself (not 'loss' nor 'val_*')", key)
        self.key = key

    def _check_key(self, logs=None) -> None:
        taken = {m.name for m in _iter_metrics(self.model)} | set(logs or ())
        if self.key in taken:
            fail("key", "a name not already logged by a metric of the model or another "
                        f"callback (taken: {sorted(taken)})", self.key)

    def on_train_begin(self, logs=None):
        # The compiled metrics exist here when the model was built by an earlier call
        # (always on JAX); otherwise the first epoch's logs are checked before writing.
        self._check_key()

    def values(self) -> dict[str, float]:
        """The learning rate and the scheduled hyperparameters at the current step."""
        optimizer = self.model.optimizer
        lr = float(np.asarray(ops.convert_to_numpy(optimizer.learning_rate)).reshape(()))
        out = {self.key: lr}
        for name, schedule in scheduled_hyperparameters(optimizer).items():
            out[name] = current_value(schedule, optimizer)
        return out

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            self._check_key(logs)
            logs.update(self.values())

    def get_config(self) -> dict:
        return {"key": self.key}

    @classmethod
    def from_config(cls, config: dict) -> LearningRateMonitor:
        return cls(**config)
