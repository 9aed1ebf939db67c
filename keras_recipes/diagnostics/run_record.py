"""`RunRecord`: one view of a training run, whatever form its logs come in.

The doctor accepts a ``keras.callbacks.History``, a
:class:`~keras_recipes.diagnostics.DiagnosticLogger`, a tidy DataFrame (columns ``epoch``,
``layer``, ``stat``, ``value``, e.g. a reloaded ``diagnostics.csv``), a wide DataFrame (one
column per logged value, one row per epoch) or a dict of per-epoch lists
(``history.history``). :func:`as_record` turns each into a :class:`RunRecord`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd

#: Pseudo-layer names used in the tidy frame for whole-model values.
GLOBAL_LAYERS = ("model", "optimizer", "predictions")
_TIDY = ("epoch", "layer", "stat", "value")
_ACCURACY_KEYS = ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy",
                  "binary_accuracy")


@dataclasses.dataclass
class RunRecord:
    """Per-epoch curves, per-layer statistics and one-off facts of one run.

    Attributes:
        curves: ``{name: array}`` of per-epoch values (``loss``, ``val_loss``...), epoch 1
            first.
        frame: tidy DataFrame of per-layer statistics (empty for a plain History).
        summary: one-off facts (empty for a plain History).
    """

    curves: dict[str, np.ndarray]
    frame: pd.DataFrame
    summary: dict[str, Any]

    def curve(self, name: str) -> np.ndarray | None:
        """The per-epoch values of ``name`` as floats, or ``None``."""
        values = self.curves.get(name)
        return None if values is None or len(values) == 0 else values

    def accuracy_key(self) -> str | None:
        """The name of the accuracy curve, if one was logged."""
        for key in _ACCURACY_KEYS:
            if key in self.curves:
                return key
        return None

    @property
    def num_classes(self) -> int | None:
        """Number of classes from the summary (outputs or class counts), else ``None``."""
        counts = self.summary.get("train_class_counts")
        if self.summary.get("task") == "classification":
            n = self.summary.get("num_outputs")
            if n and n > 1:
                return int(n)
        if counts:
            return len(counts)
        return None

    @property
    def reference_loss(self) -> float | None:
        """The loss of a uniform guess (ln C), else the initial loss, else epoch 1's loss."""
        for key in ("expected_initial_loss", "initial_loss"):
            value = self.summary.get(key)
            if value is not None and math.isfinite(value) and value > 0:
                return float(value)
        loss = self.curve("loss")
        if loss is not None and math.isfinite(loss[0]) and loss[0] > 0:
            return float(loss[0])
        return None

    def layer_stat(self, stat: str) -> pd.DataFrame:
        """Epoch × layer table of one per-layer statistic (global pseudo-layers left out)."""
        f = self.frame
        if f.empty:
            return pd.DataFrame()
        rows = f[(f["stat"] == stat) & ~f["layer"].isin(GLOBAL_LAYERS)]
        if rows.empty:
            return pd.DataFrame()
        rows = rows.drop_duplicates(["epoch", "layer"], keep="last")
        table = rows.pivot(index="epoch", columns="layer", values="value")
        order = list(dict.fromkeys(rows["layer"]))
        return table[order].sort_index()


def _from_tidy(frame: pd.DataFrame, summary: dict[str, Any]) -> RunRecord:
    frame = frame[list(_TIDY)].copy()
    frame["epoch"] = frame["epoch"].astype(int)
    frame["value"] = frame["value"].astype(float)
    model = frame[(frame["layer"] == "model") & (frame["epoch"] >= 1)]
    curves = {}
    for stat, rows in model.groupby("stat", sort=False):
        curves[stat] = rows.sort_values("epoch")["value"].to_numpy(dtype=float)
    if "initial_loss" not in summary:
        first = frame[(frame["epoch"] == 0) & (frame["stat"] == "probe_loss")]
        if not first.empty:
            summary = {**summary, "initial_loss": float(first["value"].iloc[-1])}
    return RunRecord(curves, frame, summary)


def _from_wide(columns: dict[str, Any]) -> RunRecord:
    curves = {}
    for key, values in columns.items():
        if key == "epoch":
            continue
        try:
            arr = np.asarray(values, dtype=float).reshape(-1)
        except (TypeError, ValueError):
            continue
        curves[str(key)] = arr
    return RunRecord(curves, pd.DataFrame(columns=list(_TIDY)), {})


def as_record(source: Any) -> RunRecord:
    """Turn a History, a DiagnosticLogger, a DataFrame or a dict of logs into a RunRecord.

    Raises:
        ValueError: for any other type, or logs without a ``loss``.
    """
    from keras_recipes.diagnostics.logger import DiagnosticLogger

    if isinstance(source, RunRecord):
        record = source
    elif isinstance(source, DiagnosticLogger):
        record = _from_tidy(source.frame, dict(source.summary))
    elif isinstance(source, pd.DataFrame):
        if set(_TIDY) <= set(source.columns):
            record = _from_tidy(source, {})
        else:
            record = _from_wide({c: source[c].to_numpy() for c in source.columns})
    elif isinstance(source, dict):
        if set(_TIDY) <= set(source):
            record = _from_tidy(pd.DataFrame({k: source[k] for k in _TIDY}), {})
        else:
            record = _from_wide(source)
    elif hasattr(source, "history") and isinstance(source.history, dict):
        record = _from_wide(source.history)
    else:
        raise ValueError(
            "Argument `history_or_logger` must be a keras History, a DiagnosticLogger, a "
            "pandas DataFrame or a dict of per-epoch logs. "
            f"Received: history_or_logger of type {type(source).__name__}"
        )
    if record.curve("loss") is None:
        raise ValueError("Argument `history_or_logger` must hold a per-epoch `loss`. "
                         f"Received: logs with keys {sorted(record.curves)}")
    return record
