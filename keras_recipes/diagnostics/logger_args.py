"""Argument checks of :class:`~keras_recipes.diagnostics.DiagnosticLogger`.

Each raises a Keras-style ``ValueError`` that names the argument and what was received.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from keras_recipes._validation import check_number, check_positive, fail
from keras_recipes.diagnostics.inputs import as_arrays, num_rows


def boolean(name: str, value: Any) -> bool:
    """``value`` must be ``True`` or ``False``."""
    if not isinstance(value, (bool, np.bool_)):
        fail(name, "True or False", value)
    return bool(value)


def optional_bool(name: str, value: Any) -> bool | None:
    """``value`` must be ``None``, ``True`` or ``False``."""
    if value is None:
        return None
    if not isinstance(value, (bool, np.bool_)):
        fail(name, "None, True or False", value)
    return bool(value)


def pair(name: str, value: Any) -> tuple[Any, Any]:
    """``(x, y)`` with as many examples in every input and target array, or ``(None, None)``.

    ``x`` and ``y`` may each be one array, a list/tuple or a dict of arrays.
    """
    if value is None:
        return None, None
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"Argument `{name}` must be a pair (x, y) of arrays or None. "
                         f"Received: {name} of type {type(value).__name__}")
    try:
        x, y = (as_arrays(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"Argument `{name}` must be a pair (x, y) of arrays, lists or dicts "
                         f"of arrays. Received: {name} that NumPy cannot read ({exc})") from None
    rows = num_rows(name, x)
    y_rows = num_rows(name, y)
    if rows != y_rows:
        raise ValueError(f"Argument `{name}` must hold as many targets as inputs. Received: "
                         f"x has {rows} rows, y has {y_rows}")
    return x, y


def log_dir(value: Any) -> str | None:
    """A folder path (``str`` or ``os.PathLike``) that is not a file, or ``None``."""
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        fail("log_dir", "a folder path (str or os.PathLike) or None", value)
    path = os.fspath(value)
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError("Argument `log_dir` must be a folder (or a path to create). "
                         f"Received: log_dir={path!r}, which is a file")
    return path


def histogram_range(value: Any) -> tuple[float, float]:
    """``(low, high)``: two finite numbers with low < high."""
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        fail("histogram_range", "a pair (low, high) of numbers", value)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError("Argument `histogram_range` must be (low, high) with low < high. "
                         f"Received: histogram_range={tuple(value)}")
    return lo, hi


def layer_names(value: Any) -> list[str] | None:
    """A list of layer names (strings), or ``None``."""
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence) or not value or not all(
            isinstance(v, str) for v in value):
        fail("activation_layers", "a non-empty list of layer names or None", value)
    return list(value)


def integer(name: str, value: Any, *, low: int) -> int:
    """An integer (not a string, not a bool) >= ``low``."""
    if isinstance(value, (str, bytes, bool, np.bool_)):
        fail(name, "an integer", value)
    if low > 0:
        check_positive(name, value, integer=True)
    else:
        check_number(name, value, low=low, integer=True)
    return int(value)


def optional_positive_int(name: str, value: Any) -> int | None:
    """``None`` or an integer > 0."""
    return None if value is None else integer(name, value, low=1)


def image_shape(value: Any) -> tuple[int, ...] | None:
    """``None``, ``(h, w)`` or ``(h, w, 1|3|4)`` of positive integers."""
    if value is None:
        return None
    ok = (isinstance(value, (tuple, list)) and len(value) in (2, 3)
          and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0
                  for v in value)
          and (len(value) == 2 or value[-1] in (1, 3, 4)))
    if not ok:
        fail("image_shape", "None, (h, w) or (h, w, 1|3|4) of positive integers", value)
    return tuple(int(v) for v in value)


def counts(every_n_epochs, predictions, probe_size, histogram_bins, image_grid) -> None:
    """The integer arguments."""
    integer("every_n_epochs", every_n_epochs, low=1)
    integer("predictions", predictions, low=0)
    integer("probe_size", probe_size, low=1)
    integer("histogram_bins", histogram_bins, low=1)
    integer("image_grid", image_grid, low=0)
