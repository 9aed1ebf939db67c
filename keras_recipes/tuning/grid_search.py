"""Grid search over KerasTuner, with seed 000's grid as the default space."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import pandas as pd

from keras_recipes.tuning._search import run_search
from keras_recipes.tuning.search_spaces import GRID_SPACE, grid_size


def grid_search(
    model: str | Callable[..., keras.Model],
    x,
    y,
    *,
    space: Mapping[str, Any] | None = None,
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
    project_name: str = "grid_search",
    overwrite: bool = True,
    seed: int = 0,
    max_trials: int | None = None,
    executions_per_trial: int = 1,
    max_consecutive_errors: int = 3,
    stop_on_nan: bool = True,
    verbose: int | str = "auto",
    return_tuner: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, Any]:
    """Train one model per combination of a grid and return the trials, best first.

    Use it when a few values per hyperparameter are known to matter (an expert's grid, seed
    000): it is exhaustive and easy to parallelise, but its cost is the product of the set
    sizes. Runs on ``keras_tuner.GridSearch``; every trial starts from the same initial
    weights (``seed``), so trials differ only by their hyperparameters.

    A trial whose loss or objective becomes NaN or Inf is recorded with status ``FAILED``,
    ``diverged=True`` and the epoch where it happened; the search goes on (in plain
    KerasTuner, three such trials in a row abort the search). Only ``max_consecutive_errors``
    real errors in a row (exceptions other than divergence) stop it.

    Args:
        model: ``"mlp"`` or ``"cnn"`` (the baselines of :mod:`keras_recipes.models`, sized
            from ``x`` and ``y``), or a callable ``(hp) -> keras.Model`` or
            ``() -> keras.Model``. An uncompiled model is compiled with ``optimizer`` at the
            trial's ``learning_rate`` and ``weight_decay``; a compiled one is used as is.
        x: training inputs (NumPy arrays).
        y: training targets: class indices (classification) or floats (regression).
        space: name → list of values; every entry must be a finite set. Defaults to
            :data:`GRID_SPACE`, ε ∈ {0.1, 0.01, 0.001} × λ ∈ {1e-3, 5e-4, 1e-4}.
        validation_data: ``(x_val, y_val)``. When ``None`` and the objective starts with
            ``val_``, a stratified 20 % of ``(x, y)`` is held out. Defaults to ``None``.
        objective: metric to optimise; its direction is inferred (``*acc*`` → max).
            Defaults to ``"val_loss"``.
        epochs: epochs per trial (seed 004: 1 to 5). Defaults to ``1``.
        batch_size: batch size. Defaults to ``32``.
        optimizer: ``"sgd"`` (momentum 0.9, Nesterov), ``"adam"``, ``"adamw"``,
            ``"rmsprop"`` or a callable; see :func:`make_optimizer`. Defaults to ``"sgd"``.
        penalty: what the trial's ``weight_decay`` λ means: ``"decoupled"``, Keras's
            ``weight_decay`` on the optimizer (shrinks every variable by ``ε·λ·θ`` before the
            update, outside the momentum); ``"l2"``, seed 002's penalty
            ``(λ/N)·Σₛ‖Wₛ‖²`` on every kernel with N = ``batch_size`` (the notes' λ). With the
            default ``"sgd"`` (momentum 0.9) the two differ by about 10× in shrinkage.
            Defaults to ``"decoupled"``.
        loss: loss; ``None`` picks sparse categorical cross-entropy for integer targets and
            MSE otherwise. Defaults to ``None``.
        metrics: metrics; ``None`` gives ``["accuracy"]`` for classification.
            Defaults to ``None``.
        callbacks: callbacks given to every trial's ``fit`` (KerasTuner deep-copies them).
            Defaults to ``None``.
        directory: folder of KerasTuner's project; ``None`` uses a temporary folder removed
            after the search (unless ``return_tuner``). Distributed tuning needs a shared
            folder. Defaults to ``None``.
        project_name: sub-folder name. Defaults to ``"grid_search"``.
        overwrite: start afresh instead of resuming a search of the same folder.
            Defaults to ``True``.
        seed: seed of the model weights (and of the oracle). Defaults to ``0``.
        max_trials: stop after this many trials; ``None`` runs the whole grid.
            Defaults to ``None``.
        executions_per_trial: trainings averaged per trial. Defaults to ``1``.
        max_consecutive_errors: errors in a row (divergence excluded) that abort the
            search. Defaults to ``3``.
        stop_on_nan: add ``keras.callbacks.TerminateOnNaN`` so a diverging trial stops at
            once. Defaults to ``True``.
        verbose: ``"auto"`` (1, as in ``model.fit``), 0 silent, 1 one line per trial
            as it ends (``Trial 2/9: learning_rate=0.01, weight_decay=0.0005 ->
            val_loss=0.4123 (3.2 s)``, or the reason of a failure), 2 also KerasTuner's
            trial display and one line per epoch from each ``fit``. The lines go to
            stdout, or to the log when Keras's interactive logging is off as the search
            starts (``keras.utils.disable_interactive_logging()``). Defaults to
            ``"auto"``.
        return_tuner: return ``(frame, tuner)`` instead of the frame. Defaults to ``False``.

    Returns:
        A DataFrame (see :func:`results_frame`), sorted best first; failed trials last.

    Formula: trials = ∏ₖ |Sₖ| over the sets Sₖ of the space (9 for the default grid).

    Example:

    >>> from keras_recipes.data import load_dataset
    >>> from keras_recipes.tuning import grid_search
    >>> ds = load_dataset("digits", flatten=True)
    >>> frame = grid_search("mlp", ds.x[:200], ds.y[:200], max_trials=2,
    ...                     verbose=0)
    >>> list(frame.columns[:4])
    ['trial_id', 'status', 'learning_rate', 'weight_decay']

    References:
        Bergstra & Bengio (2012), Random Search for Hyper-Parameter Optimization,
        https://jmlr.org/papers/v13/bergstra12a.html;
        KerasTuner, https://keras.io/keras_tuner/
    """
    space = GRID_SPACE if space is None else space
    if max_trials is None:
        max_trials = grid_size(space)
    return run_search(
        "grid", model, x, y, space=space, validation_data=validation_data,
        objective=objective, epochs=epochs, batch_size=batch_size, optimizer=optimizer,
        penalty=penalty,
        loss=loss, metrics=metrics, callbacks=callbacks, directory=directory,
        project_name=project_name, overwrite=overwrite, seed=seed, max_trials=max_trials,
        executions_per_trial=executions_per_trial,
        max_consecutive_errors=max_consecutive_errors, stop_on_nan=stop_on_nan,
        verbose=verbose, return_tuner=return_tuner,
    )
