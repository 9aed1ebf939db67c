"""A KerasTuner search as a pandas DataFrame, one row per trial, best first."""

from __future__ import annotations

import contextlib
import datetime
import math
import os

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


def _display_starts(tuner) -> dict[str, float]:
    """``{trial_id: start}`` (seconds since the epoch) from KerasTuner's trial display.

    KerasTuner's oracle notes the local time a trial starts when its search shows
    progress (``verbose`` >= 1, KerasTuner's default) and keeps it in the oracle's state
    (``oracle.get_state()["display"]["trial_start"]``, saved in ``oracle.json``).
    """
    try:
        starts = tuner.oracle.get_state()["display"]["trial_start"]
    except Exception:  # a remote oracle, another KerasTuner version: nothing known
        return {}
    out = {}
    for trial_id, value in (starts or {}).items():
        with contextlib.suppress(TypeError, ValueError):
            out[str(trial_id)] = datetime.datetime.fromisoformat(value).timestamp()
    return out


def _end_time(tuner, trial_id: str) -> float | None:
    """When the trial ended: the last write of its ``trial_<id>/trial.json``.

    KerasTuner's oracle writes that file when the trial is created, after its metrics are
    reported and, last, when it ends (``Oracle.end_trial``).
    """
    try:
        return os.path.getmtime(os.path.join(tuner.project_dir, f"trial_{trial_id}",
                                             "trial.json"))
    except (AttributeError, OSError, TypeError):
        return None


def trial_seconds(tuner, trials=None) -> tuple[dict[str, float], str]:
    """Wall time of each ended trial of a KerasTuner search, and where it comes from.

    - ``"measured"``: tuners of :func:`grid_search` and :func:`random_search` time each
      trial with ``time.perf_counter`` from its start to its end.
    - ``"trial start and trial file"``: any other tuner whose search showed KerasTuner's
      progress (``verbose`` >= 1, KerasTuner's default): from the start time KerasTuner's
      oracle notes (``oracle.get_state()["display"]["trial_start"]``) to the last write of
      the trial's ``trial.json`` (its end). This is KerasTuner's own "Trial N Complete
      [time]", to the resolution of the file system's modification times.
    - ``"unknown"``: a search run with ``verbose=0`` outside this package: KerasTuner
      keeps no start time then, and a trial folder's timestamps only tell when it ended.

    Measured times are used where present, the other source for the remaining trials.

    Returns:
        ``({trial_id: seconds}, source)``; the source is the one of most trials.
    """
    measured = dict(getattr(tuner, "trial_seconds", None) or {})
    if trials is None:
        trials = _trials(tuner)
    ended = [t for t in trials
             if str(getattr(t.status, "value", t.status)) not in ("RUNNING", "IDLE")]
    missing = [t.trial_id for t in ended if t.trial_id not in measured]
    found: dict[str, float] = {}
    if missing:
        starts = _display_starts(tuner)
        for trial_id in missing:
            start, end = starts.get(str(trial_id)), _end_time(tuner, trial_id)
            if start is not None and end is not None and end >= start:
                found[trial_id] = end - start
    if not measured and not found:
        return {}, "unknown"
    source = "measured" if len(measured) >= len(found) else "trial start and trial file"
    return {**found, **measured}, source


def results_frame(tuner) -> pd.DataFrame:
    """One row per trial of a KerasTuner search, sorted by objective (best first).

    Use it on any KerasTuner tuner; the search functions of this package return it.

    Columns: ``trial_id``, ``status`` (``COMPLETED``, ``FAILED``...), one column per
    hyperparameter (Hyperband's ``tuner/epochs`` becomes ``epochs``), the objective (its
    best value over the epochs), every other tracked metric (best value), ``best_step``,
    ``seconds`` (wall time when known, see :func:`trial_seconds`: measured for this
    package's searches, from KerasTuner's own trial start time and trial file for another
    search that showed KerasTuner's progress, NaN after a plain ``verbose=0`` search),
    ``diverged`` and ``message`` (the reason of a failure). Failed trials have a NaN
    objective and come last. ``frame.attrs`` holds ``objective``, ``direction`` and
    ``seconds_source``.

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
    trials = _trials(tuner)
    seconds, source = trial_seconds(tuner, trials)
    rows = []
    for trial in trials:
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
        metrics = sorted({m for t in trials for m in t.metrics.metrics} - {name})
        hps = [c for c in frame.columns
               if c not in {"trial_id", "status", name, *metrics, *tail}]
        frame = frame.reindex(columns=["trial_id", "status", *hps, name, *metrics, *tail])
        frame = frame.sort_values(
            [name, "trial_id"], ascending=[direction == "min", True], na_position="last",
            kind="stable",
        ).reset_index(drop=True)
    frame.attrs["objective"] = name
    frame.attrs["direction"] = direction
    frame.attrs["seconds_source"] = source
    return frame
