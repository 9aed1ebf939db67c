"""`recalibrate_batchnorm` and `PreciseBatchNorm`: exact BatchNorm population statistics."""

from __future__ import annotations

from typing import Any

import keras

from keras_recipes import _distribute
from keras_recipes._validation import check_number

__all__ = ["PreciseBatchNorm", "batchnorm_layers", "recalibrate_batchnorm"]


def batchnorm_layers(model) -> list:
    """Every trainable ``BatchNormalization`` layer of ``model``, nested models included."""
    found, stack = [], [model]
    while stack:
        layer = stack.pop()
        if isinstance(layer, keras.layers.BatchNormalization):
            if layer.trainable:
                found.append(layer)
        for child in getattr(layer, "layers", []) or []:
            stack.append(child)
    return found


def _num_examples(x) -> int:
    first = keras.tree.flatten(x)[0]
    return int(first.shape[0])


def recalibrate_batchnorm(model, x, batch_size: int = 32) -> int:
    """Set each BatchNorm layer's moving statistics to their average over ``x``.

    During training, BatchNormalization normalises with the statistics of the batch, and
    keeps an exponential moving average of them (momentum 0.99 in Keras) for inference.
    After few steps that average still remembers its start values (mean 0, variance 1):
    after ``k`` steps a fraction ``0.99**k`` of them remains (37 % after 100 steps). The
    model then behaves differently in inference mode (``predict``, ``evaluate``) than in
    training mode, which can look like overfitting or a failed fit. This function replaces
    the moving statistics by the exact average of the batch statistics over ``x``
    ("precise BN", Wu & Johnson 2021): it runs ``model(batch, training=True)`` on every
    batch of ``x`` with each layer's momentum set to ``(k-1)/k`` for the ``k``-th batch, so
    that after ``K`` batches the moving mean is ``(1/K)·Σ_k μ_k`` and the moving variance
    ``(1/K)·Σ_k σ²_k``. Weights are not changed; frozen (``trainable=False``) layers are
    left alone; each layer's momentum is restored afterwards.

    On several devices the statistics are those training used. Under a TensorFlow
    strategy with ``R`` replicas (``MirroredStrategy``, ``MultiWorkerMirroredStrategy``),
    ``fit`` normalises each replica's share of a global batch on its own, so each batch
    of ``x`` is cut into the same ``R`` shares and every share counts as one of the
    ``K·R`` averaged batches; the passes run in cross-replica context, where assigning a
    mirrored moving statistic writes the same value to every replica. Under JAX's
    ``DataParallel`` the whole global batch is normalised at once, as in ``fit``.

    Use it after training a network with BatchNormalization on a small data set or for few
    steps, before evaluating or saving it. Pass the training batch size, so that the batch
    statistics are those the network was trained with.

    Args:
        model: a built ``keras.Model``.
        x: training inputs (array, or a list/dict of arrays for a multi-input model).
        batch_size: batch size of the passes. Defaults to ``32``.

    Returns:
        The number of batches averaged (0 when the model has no trainable BatchNorm);
        under a TensorFlow strategy, the number of replica shares.

    Example:

    >>> import keras, numpy as np
    >>> from keras_recipes.callbacks import recalibrate_batchnorm
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.BatchNormalization()])
    >>> x = np.arange(12, dtype="float32").reshape(4, 3)
    >>> recalibrate_batchnorm(model, x, batch_size=4)
    1
    >>> np.asarray(model.layers[0].moving_mean).round(2).tolist()
    [4.5, 5.5, 6.5]

    References:
        - Y. Wu, J. Johnson, "Rethinking 'Batch' in BatchNorm" (2021),
          https://arxiv.org/abs/2105.07576 (precise BN).
    """
    check_number("batch_size", batch_size, low=1, integer=True)
    layers = batchnorm_layers(model)
    n = _num_examples(x)
    if not layers or n == 0:
        return 0
    size = min(int(batch_size), n)
    starts = list(range(0, n - size + 1, size))  # full batches only: same statistics as fit
    batches = [
        share
        for start in starts
        for share in _distribute.replica_shares(
            model, keras.tree.map_structure(lambda a, s=start: a[s:s + size], x))
    ]
    saved = [layer.momentum for layer in layers]
    try:
        for k, batch in enumerate(batches, start=1):
            for layer in layers:
                layer.momentum = (k - 1) / k
            model(batch, training=True)
    finally:
        for layer, momentum in zip(layers, saved, strict=True):
            layer.momentum = momentum
    return len(batches)


class PreciseBatchNorm(keras.callbacks.Callback):
    """Recalibrate BatchNorm statistics on ``x`` at the end of training (and every n epochs).

    Use it when a model with BatchNormalization trains on little data or for few steps:
    its ``evaluate``/``predict`` (inference mode) then use the exact population statistics of
    the training data instead of a moving average that still remembers its initial values.
    See :func:`recalibrate_batchnorm`. Place it after callbacks that restore weights at the
    end of training (``EarlyStopping(restore_best_weights=True)``, ``KeepBest``), so that it
    recalibrates the weights that are kept.

    Args:
        x: training inputs used for the statistics.
        batch_size: batch size of the passes (use the training one). Defaults to ``32``.
        every_n_epochs: also recalibrate in every n-th epoch, after its last training step
            and before Keras validates, so that this epoch's validation metrics (and the
            callbacks that read them, such as a stopping threshold) see precise statistics;
            when the number of steps per epoch is unknown, at the epoch's end instead.
            ``0``: only at the end of training. Defaults to ``0``.

    Example:

    >>> import keras, numpy as np
    >>> from keras_recipes.callbacks import PreciseBatchNorm
    >>> x = np.random.default_rng(0).normal(5.0, 2.0, (64, 4)).astype("float32")
    >>> y = (x[:, 0] > 5).astype("int32")
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.BatchNormalization(),
    ...                           keras.layers.Dense(2, activation="softmax")])
    >>> model.compile("adam", "sparse_categorical_crossentropy")
    >>> _ = model.fit(x, y, epochs=1, batch_size=64, verbose=0,
    ...               callbacks=[PreciseBatchNorm(x, batch_size=64)])
    >>> bool(np.allclose(model.layers[0].moving_mean, x.mean(axis=0), atol=1e-4))
    True
    """

    def __init__(self, x: Any, batch_size: int = 32, every_n_epochs: int = 0):
        super().__init__()
        check_number("batch_size", batch_size, low=1, integer=True)
        check_number("every_n_epochs", every_n_epochs, low=0, integer=True)
        if x is None:
            raise ValueError("Argument `x` must hold the training inputs. Received: x=None")
        self.x = x
        self.batch_size = int(batch_size)
        self.every_n_epochs = int(every_n_epochs)
        self.batches = 0
        self._epoch: int | None = None  # the epoch being trained
        self._recalibrated = False  # done in this epoch, before its validation

    def _due(self, epoch: int) -> bool:
        return bool(self.every_n_epochs) and (epoch + 1) % self.every_n_epochs == 0

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self._epoch, self._recalibrated = epoch, False

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        # Keras validates between the epoch's last `on_train_batch_end` and `on_epoch_end`.
        # (`batch` is the last step of the call: with steps_per_execution > 1 it jumps.)
        steps = (self.params or {}).get("steps")
        if steps and self._epoch is not None and batch + 1 >= steps and self._due(self._epoch):
            self.batches = recalibrate_batchnorm(self.model, self.x, self.batch_size)
            self._recalibrated = True

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if self._due(epoch) and not self._recalibrated:
            self.batches = recalibrate_batchnorm(self.model, self.x, self.batch_size)

    def on_train_end(self, logs=None) -> None:
        self.batches = recalibrate_batchnorm(self.model, self.x, self.batch_size)

