"""`LRFinder`: run a range test when ``fit`` starts, then train at the suggested rate."""

from __future__ import annotations

import warnings
from typing import Any

import keras

from keras_recipes._export import keras_recipes_export
from keras_recipes._print import print_msg
from keras_recipes._validation import _is_number, fail
from keras_recipes.lr_finder.find_lr import (
    check_range_test_args,
    check_validation_data,
    find_lr,
)
from keras_recipes.lr_finder.result import LRFinderResult

_SETTINGS = (
    "min_lr", "max_lr", "num_steps", "mode", "batch_size", "smoothing",
    "divergence_threshold", "suggest", "shuffle", "seed",
)


@keras_recipes_export
class LRFinder(keras.callbacks.Callback):
    """Callback form of :func:`~keras_recipes.lr_finder.find_lr` (Lightning's
    ``LearningRateFinder``).

    Use it to choose the learning rate inside the same ``fit`` call. Put it *first* in
    ``fit(callbacks=[...])``: in ``on_train_begin`` it runs the range test on the data it
    was given, restores the model (weights, optimizer state, compiled state), and sets the
    optimizer's learning rate to the suggestion before the first batch. The range test's
    result stays in ``self.result``.

    Keras callbacks never see ``fit``'s data, so the range test's data are given here. When
    the optimizer holds a ``LearningRateSchedule`` its rate cannot be set: the callback
    then warns and leaves it; ``result.suggestion`` is still available (e.g. to build a
    schedule with :func:`~keras_recipes.lr_finder.cyclic_bounds`).

    Args:
        x: the range test's data: arrays, a ``tf.data.Dataset``, a ``PyDataset`` or a
            generator, as in ``find_lr``. Defaults to ``None`` (only useful for
            ``from_config``; ``fit`` then raises).
        y: targets for array input. Defaults to ``None``.
        min_lr, max_lr, num_steps, mode, batch_size, smoothing, divergence_threshold,
            validation_data, suggest, shuffle, seed: as in ``find_lr``; same defaults
            (``1e-7``, ``10``, ``100``, ``"exponential"``, ``32``, ``0.98``, ``4.0``,
            ``None``, ``"combined"``, ``True``, ``0``).
        verbose: print the suggestion. Defaults to ``False``.

    Formula: see ``find_lr``.

    Example:

    >>> import keras, numpy as np
    >>> from keras_recipes.lr_finder import LRFinder
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(256, 4)).astype("float32")
    >>> y = (x @ np.ones((4, 1))).astype("float32")
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> finder = LRFinder(x, y, min_lr=1e-4, max_lr=10, num_steps=30)
    >>> _ = model.fit(x, y, epochs=1, verbose=0, callbacks=[finder])
    >>> finder.result.suggestion is not None
    True

    References:
        Smith, "Cyclical Learning Rates for Training Neural Networks", 2017.
        https://arxiv.org/abs/1506.01186
    """

    def __init__(
        self,
        x: Any = None,
        y: Any = None,
        *,
        min_lr: float = 1e-7,
        max_lr: float = 10.0,
        num_steps: int = 100,
        mode: str = "exponential",
        batch_size: int = 32,
        smoothing: float = 0.98,
        divergence_threshold: float = 4.0,
        validation_data: Any = None,
        suggest: str = "combined",
        shuffle: bool = True,
        seed: int = 0,
        verbose: bool = False,
    ):
        super().__init__()
        check_range_test_args(
            min_lr=min_lr, max_lr=max_lr, num_steps=num_steps, mode=mode,
            batch_size=batch_size, smoothing=smoothing,
            divergence_threshold=divergence_threshold, suggest=suggest, shuffle=shuffle,
            seed=seed,
        )
        check_validation_data(validation_data)
        if not isinstance(verbose, bool) and not (
            _is_number(verbose) and float(verbose).is_integer() and verbose >= 0
        ):
            fail("verbose", "a bool or an integer >= 0", verbose)
        self.x, self.y, self.validation_data = x, y, validation_data
        self.min_lr, self.max_lr, self.num_steps, self.mode = min_lr, max_lr, num_steps, mode
        self.batch_size, self.smoothing = batch_size, smoothing
        self.divergence_threshold, self.suggest = divergence_threshold, suggest
        self.shuffle, self.seed, self.verbose = shuffle, seed, verbose
        self.result: LRFinderResult | None = None
        self.applied_lr: float | None = None

    def on_train_begin(self, logs=None):
        self.result = None
        self.applied_lr = None
        if self.x is None:
            raise ValueError(
                "LRFinder needs the range test's data: pass `x` (and `y`) to LRFinder(...). "
                "Received: x=None"
            )
        self.result = find_lr(
            self.model, self.x, self.y, validation_data=self.validation_data,
            **{k: getattr(self, k) for k in _SETTINGS},
        )
        lr = self.result.suggestion
        if lr is None:
            warnings.warn("LRFinder found no suggestion; the learning rate is unchanged. "
                          f"{self.result!r}", RuntimeWarning, stacklevel=2)
            return
        try:
            self.model.optimizer.learning_rate = lr
        except TypeError:
            warnings.warn(
                "LRFinder cannot set the learning rate of an optimizer that holds a "
                f"LearningRateSchedule; it is unchanged. Suggested: {lr:.3g} "
                "(see `finder.result`).",
                RuntimeWarning,
                stacklevel=2,
            )
            return
        self.applied_lr = lr
        if self.verbose:
            print_msg(f"LRFinder: learning rate set to {lr:.3g} ({self.suggest} rule)")

    def get_config(self) -> dict:
        """The settings (the data are not part of the config)."""
        config = {k: getattr(self, k) for k in _SETTINGS}
        config["verbose"] = self.verbose
        return config

    @classmethod
    def from_config(cls, config: dict) -> LRFinder:
        return cls(**config)
