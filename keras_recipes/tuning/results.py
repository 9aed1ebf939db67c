"""A KerasTuner search as a pandas DataFrame, one row per trial, best first."""

from __future__ import annotations

import math

import pandas as pd

#: Hyperband's bookkeeping hyperparameters; only ``tuner/epochs`` is kept (as ``epochs``).
_HIDDEN_PREFIX = "tuner/"


def _last_line(message: str | None) -> str:
    if not message:
        return ""
    lines = [line.strip() for line in str(message).strip().splitlines() if line.strip()]
    if not lines:
        return ""
    last = lines[-1]
    # FailedTrialError tracebacks end with "keras_tuner...FailedTrialError: <reason>".
    if "Error: " in last:
        last = last.split("Error: ", 1)[1]
    return last


def _trials(tuner) -> list:
    oracle = tuner.oracle
    trials = getattr(oracle, "trials", None)
    if isinstance(trials, dict):
        return list(trials.values())
    return list(getattr(tuner, "finished_trials", {}).values())


def results_frame(tuner) -> pd.DataFrame:
    """One row per trial of a KerasTuner search, sorted by objective (best first).

    Use it on any KerasTuner tuner; the search functions of this package return it.

    Columns: ``trial_id``, ``status`` (``COMPLETED``, ``FAILED``...), one column per
    hyperparameter (Hyperband's ``tuner/epochs`` becomes ``epochs``), the objective (its
    best value over the epochs), every other tracked metric (best value), ``best_step``,
    ``seconds`` (wall time when known), ``diverged`` and ``message`` (the reason of a
    failure). Failed trials have a NaN objective and come last. ``frame.attrs`` holds
    ``objective`` and ``direction``.

    Args:
        tuner: a ``keras_tuner`` tuner after ``search``.

    Returns:
        A ``pandas.DataFrame``.

    Example:

    >>> import keras_tuner
    >>> from keras_recipes.tuning import results_frame
    >>> tuner = keras_tuner.RandomSearch(lambda hp: None, objective="val_loss",
    ...                                  max_trials=1, directory="/tmp", overwrite=True)
    >>> results_frame(tuner).empty
    True

    References:
        KerasTuner, https://keras.io/keras_tuner/
    """
    objective = tuner.oracle.objective
    name = getattr(objective, "name", "score")
    direction = getattr(objective, "direction", "min")
    seconds = getattr(tuner, "trial_seconds", {})
    rows = []
    for trial in _trials(tuner):
        status = str(getattr(trial.status, "value", trial.status))
        row = {"trial_id": trial.trial_id, "status": status}
        for key, value in trial.hyperparameters.values.items():
            if key == "tuner/epochs":
                row["epochs"] = value
            elif not key.startswith(_HIDDEN_PREFIX):
                row[key] = value
        score = trial.score if status == "COMPLETED" else None
        row[name] = float(score) if score is not None else math.nan
        for metric in sorted(trial.metrics.metrics):
            if metric == name:
                continue
            try:
                value = trial.metrics.get_best_value(metric)
            except (KeyError, ValueError):
                value = None
            row[metric] = float(value) if value is not None else math.nan
        row["best_step"] = trial.best_step if status == "COMPLETED" else None
        row["seconds"] = seconds.get(trial.trial_id, math.nan)
        message = _last_line(trial.message)
        row["diverged"] = status != "COMPLETED" and message.startswith("diverged")
        row["message"] = message
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        frame = pd.DataFrame(columns=["trial_id", "status", name, "best_step", "seconds",
                                      "diverged", "message"])
    else:
        tail = ["best_step", "seconds", "diverged", "message"]
        metrics = sorted({m for t in _trials(tuner) for m in t.metrics.metrics} - {name})
        hps = [c for c in frame.columns
               if c not in {"trial_id", "status", name, *metrics, *tail}]
        frame = frame.reindex(columns=["trial_id", "status", *hps, name, *metrics, *tail])
        frame = frame.sort_values(
            [name, "trial_id"], ascending=[direction == "min", True], na_position="last",
            kind="stable",
        ).reset_index(drop=True)
    frame.attrs["objective"] = name
    frame.attrs["direction"] = direction
    return frame
