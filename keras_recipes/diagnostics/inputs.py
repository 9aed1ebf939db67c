"""Structured inputs: one array, a list/tuple of arrays or a dict of arrays.

The logger and the probe accept model inputs and targets in every form ``model.fit`` does
for arrays: a single array, a list or tuple (one array per model input, in the order of
``model.inputs``) or a dict keyed by input name. These helpers slice, count, convert and
order such structures.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np


def leaves(x: Any) -> list:
    """The arrays of a structure, flattened in Keras's order (dict keys sorted)."""
    if isinstance(x, (list, tuple, dict)):
        return [leaf for leaf in keras.tree.flatten(x) if leaf is not None]
    return [x]


def as_arrays(x: Any) -> Any:
    """The structure with each leaf turned into a NumPy array."""
    if isinstance(x, (list, tuple, dict)):
        return keras.tree.map_structure(np.asarray, x)
    return np.asarray(x)


def num_rows(name: str, x: Any) -> int:
    """Number of examples of a structure; every leaf must have the same first dimension.

    Raises:
        ValueError: a leaf is a scalar or empty, or the leaves disagree on the count.
    """
    arrays = [np.asarray(a) for a in leaves(x)]
    if not arrays:
        raise ValueError(f"Argument `{name}` must hold at least one array. "
                         f"Received: {name} of type {type(x).__name__}")
    counts = set()
    for a in arrays:
        if a.ndim < 1 or len(a) == 0:
            raise ValueError(f"Argument `{name}` must hold at least one example. "
                             f"Received: an array of shape {a.shape}")
        counts.add(len(a))
    if len(counts) > 1:
        raise ValueError(f"Argument `{name}` must hold arrays with the same number of "
                         f"examples. Received: first dimensions {sorted(counts)}")
    return counts.pop()


def take(x: Any, n: int) -> Any:
    """The first ``n`` examples of every leaf."""
    if isinstance(x, (list, tuple, dict)):
        return keras.tree.map_structure(lambda a: np.asarray(a)[:n], x)
    return np.asarray(x)[:n]


def to_tensor(x: Any) -> Any:
    """Device tensors: floating leaves as float32, integer and boolean leaves kept."""

    def convert(a):
        a = np.asarray(a)
        if a.dtype.kind in "biu":
            return keras.ops.convert_to_tensor(a)
        return keras.ops.convert_to_tensor(a.astype("float32"))

    if isinstance(x, (list, tuple, dict)):
        return keras.tree.map_structure(convert, x)
    return convert(x)


def ordered_for_model(model: Any, x: Any) -> Any:
    """``x`` as the model's functional inputs take it: one array, or a list in input order.

    A dict whose keys name the model's inputs is put in ``model.inputs`` order; any other
    dict in Keras's flattening order (sorted keys); a list or tuple is kept; a one-element
    structure for a one-input model is unwrapped.
    """
    try:
        names = [getattr(t, "name", None) for t in model.inputs]
    except (AttributeError, TypeError, ValueError):
        names = []
    if isinstance(x, dict):
        if names and all(n in x for n in names):
            x = [x[n] for n in names]
        else:
            x = leaves(x)
    elif isinstance(x, tuple):
        x = list(x)
    if isinstance(x, list) and len(x) == 1:
        return x[0]
    return x


def first_array(x: Any) -> np.ndarray:
    """The first leaf of a structure, as a NumPy array."""
    return np.asarray(leaves(x)[0])


def model_inputs(model: Any) -> Any:
    """``model.inputs``, unwrapped for a one-input model (the form a view model takes)."""
    inputs = list(model.inputs)
    return inputs[0] if len(inputs) == 1 else inputs
