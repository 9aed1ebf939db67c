"""Random search (and Hyperband) over KerasTuner, with seed 000's distributions."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import pandas as pd

from keras_recipes._validation import check_number, check_one_of
from keras_recipes.tuning._search import run_search
from keras_recipes.tuning.search_spaces import RANDOM_SPACE

ALGORITHMS = ("random", "hyperband")


def random_search(
    model: str | Callable[..., keras.Model],
    x,
    y,
    *,
    space: Mapping[str, Any] | None = None,
    max_trials: int = 10,
    algorithm: str = "random",
    validation_data: tuple | None = None,
    objective: str = "val_loss",
    epochs: int = 1,
    batch_size: int = 32,
    optimizer: str | Callable[..., keras.optimizers.Optimizer] = "sgd",
    penalty: str = "decoupled",
    loss: Any = None,
    metrics: Sequence[Any] | None = None,
    callbacks: Sequence[keras.callbacks.Callback] | None = None,
    directory: str | os.PathLike | None = None,
    project_name: str | None = None,
    overwrite: bool = True,
    seed: int = 0,
    executions_per_trial: int = 1,
    max_consecutive_errors: int = 3,
    stop_on_nan: bool = True,
    factor: int = 3,
    hyperband_iterations: int = 1,
    verbose: int | str = "auto",
    return_tuner: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, Any]:
    """Sample hyperparameters from distributions, train each sample, return trials best first.

    Use it rather than a grid when several hyperparameters are tuned at once: each trial
    tries new values of every one of them, so fewer trials are wasted on an unimportant
    axis, and the search can be stopped at any time (seed 000). ``algorithm="hyperband"``
    samples the same space but trains many configurations briefly and only the best ones
    longer (successive halving), up to ``epochs`` epochs.

    Trials that diverge (NaN/Inf loss) are recorded as ``FAILED`` with ``diverged=True`` and
    do not stop the search; see :func:`grid_search` for the other arguments.

    Args:
        model: ``"mlp"``, ``"cnn"`` or a callable ``(hp) -> keras.Model``.
        x: training inputs.
        y: training targets.
        space: a search space (lists, :class:`LogUniform`, :class:`Uniform`). Defaults to
            :data:`RANDOM_SPACE`: ε = 10^U(−3, −1), λ = 10^U(−4, −3).
        max_trials: number of samples T for ``"random"`` (Hyperband sizes its own brackets
            from ``epochs`` and ``factor``). Defaults to ``10``.
        algorithm: ``"random"`` (``keras_tuner.RandomSearch``) or ``"hyperband"``
            (``keras_tuner.Hyperband``). Defaults to ``"random"``.
        validation_data: ``(x_val, y_val)``; ``None`` holds out 20 %. Defaults to ``None``.
        objective: metric to optimise. Defaults to ``"val_loss"``.
        epochs: epochs per trial; for Hyperband, the most epochs a trial gets.
            Defaults to ``1``.
        batch_size: batch size. Defaults to ``32``.
        optimizer: see :func:`make_optimizer`. Defaults to ``"sgd"``.
        penalty: ``"decoupled"`` (Keras's ``weight_decay``) or ``"l2"`` (seed 002's
            ``(λ/N)·‖W‖²``, the notes' λ); see :func:`grid_search`. Defaults to
            ``"decoupled"``.
        loss: loss; ``None`` infers it from ``y``. Defaults to ``None``.
        metrics: metrics; ``None`` gives accuracy for classification. Defaults to ``None``.
        callbacks: callbacks of every trial. Defaults to ``None``.
        directory: KerasTuner's folder; ``None`` uses a temporary one. Defaults to ``None``.
        project_name: sub-folder name; ``None`` gives ``"random_search"`` or
            ``"hyperband_search"``. Defaults to ``None``.
        overwrite: start afresh. Defaults to ``True``.
        seed: seed of the samples and of the initial weights. Defaults to ``0``.
        executions_per_trial: trainings averaged per trial. Defaults to ``1``.
        max_consecutive_errors: errors in a row that abort the search. Defaults to ``3``.
        stop_on_nan: stop a diverging trial at once. Defaults to ``True``.
        factor: Hyperband's reduction factor η. Defaults to ``3``.
        hyperband_iterations: Hyperband's outer iterations. Defaults to ``1``.
        verbose: ``"auto"`` (1, as in ``model.fit``), 0 silent, 1 one line per trial
            as it ends (``Trial 2/9: learning_rate=0.01, weight_decay=0.0005 ->
            val_loss=0.4123 (3.2 s)``, or the reason of a failure), 2 also KerasTuner's
            trial display and one line per epoch from each ``fit``. The lines go to
            stdout, or to the log when Keras's interactive logging is off as the search
            starts (``keras.utils.disable_interactive_logging()``). Defaults to
            ``"auto"``.
        return_tuner: return ``(frame, tuner)``. Defaults to ``False``.

    Returns:
        A DataFrame (see :func:`results_frame`), sorted best first; failed trials last.

    Formula: for :class:`LogUniform` ``(a, b)``, ``x = 10^γ`` with
    ``γ ~ U(log10 a, log10 b)``. Hyperband runs brackets of ``n`` configurations for
    ``r`` epochs and keeps the best ``n/η`` for ``η·r`` epochs, up to ``epochs``.

    Example:

    >>> from keras_recipes.data import load_dataset
    >>> from keras_recipes.tuning import random_search
    >>> ds = load_dataset("digits", flatten=True)
    >>> frame = random_search("mlp", ds.x[:200], ds.y[:200], max_trials=2,
    ...                       verbose=0)
    >>> len(frame)
    2

    References:
        Bergstra & Bengio (2012), https://jmlr.org/papers/v13/bergstra12a.html;
        Li et al. (2018), Hyperband, https://arxiv.org/abs/1603.06560
    """
    check_one_of("algorithm", algorithm, ALGORITHMS)
    check_number("max_trials", max_trials, low=1, integer=True)
    space = RANDOM_SPACE if space is None else space
    tuner_kwargs: dict[str, Any] = {}
    if algorithm == "hyperband":
        check_number("factor", factor, low=2, integer=True)
        check_number("hyperband_iterations", hyperband_iterations, low=1, integer=True)
        check_number("epochs", epochs, low=1, integer=True)
        tuner_kwargs = {"max_epochs": epochs, "factor": factor,
                        "hyperband_iterations": hyperband_iterations}
    return run_search(
        "random" if algorithm == "random" else "hyperband", model, x, y, space=space,
        validation_data=validation_data, objective=objective, epochs=epochs,
        batch_size=batch_size, optimizer=optimizer, penalty=penalty, loss=loss, metrics=metrics,
        callbacks=callbacks, directory=directory,
        project_name=project_name or f"{algorithm}_search", overwrite=overwrite, seed=seed,
        max_trials=max_trials if algorithm == "random" else None,
        executions_per_trial=executions_per_trial,
        max_consecutive_errors=max_consecutive_errors, stop_on_nan=stop_on_nan,
        verbose=verbose, return_tuner=return_tuner, tuner_kwargs=tuner_kwargs,
    )
