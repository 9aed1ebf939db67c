"""Search spaces: the seeds' grid and random distributions, written for KerasTuner.

A search space is a plain ``dict`` that maps a hyperparameter name to one of:

- a list or tuple of values: a finite set, ``hp.Choice`` (the grid of a grid search);
- :class:`LogUniform` ``(low, high)``: ``10^U(log10 low, log10 high)``, ``hp.Float`` with
  ``sampling="log"``;
- :class:`Uniform` ``(low, high)``: ``U(low, high)``, ``hp.Float`` with ``sampling="linear"``;
- a single number or string: a fixed value, ``hp.Fixed``.

Two names are read by the search functions themselves: ``learning_rate`` (ε) and
``weight_decay`` (λ) configure the optimizer. Every other name is handed to the model
builder through ``hp``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

from keras_recipes._validation import check_positive, received


@dataclasses.dataclass(frozen=True)
class LogUniform:
    """A log-uniform distribution on ``[low, high]``: ``10^U(log10 low, log10 high)``.

    Use it for scale parameters (learning rate, weight decay), as seed 000 advises: every
    decade gets the same number of samples.

    Args:
        low: lower bound, > 0.
        high: upper bound, > ``low``.

    Formula: ``x = 10^γ`` with ``γ ~ U(log10 low, log10 high)``.

    Example:

    >>> from keras_recipes.tuning import LogUniform
    >>> LogUniform(1e-3, 1e-1)
    LogUniform(low=0.001, high=0.1)

    References:
        Bergstra & Bengio (2012), Random Search for Hyper-Parameter Optimization,
        https://jmlr.org/papers/v13/bergstra12a.html
    """

    low: float
    high: float

    def __post_init__(self):
        check_positive("low", self.low)
        check_positive("high", self.high)
        if not float(self.low) < float(self.high):
            raise ValueError(
                "Argument `high` must be > `low`. " + received(low=self.low, high=self.high)
            )


@dataclasses.dataclass(frozen=True)
class Uniform:
    """A uniform distribution on ``[low, high]``.

    Use it for bounded parameters that are not scales (dropout rate, momentum).

    Args:
        low: lower bound.
        high: upper bound, > ``low``.

    Formula: ``x ~ U(low, high)``.

    Example:

    >>> from keras_recipes.tuning import Uniform
    >>> Uniform(0.0, 0.5).high
    0.5

    References:
        Bergstra & Bengio (2012), https://jmlr.org/papers/v13/bergstra12a.html
    """

    low: float
    high: float

    def __post_init__(self):
        for name in ("low", "high"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
                value
            ):
                raise ValueError(f"Argument `{name}` must be a finite number. "
                                 + received(**{name: value}))
        if not float(self.low) < float(self.high):
            raise ValueError(
                "Argument `high` must be > `low`. " + received(low=self.low, high=self.high)
            )


#: Seed 000's grid: ε ∈ {0.1, 0.01, 0.001} × λ ∈ {1e-3, 5e-4, 1e-4} (9 combinations).
GRID_SPACE: dict[str, Any] = {
    "learning_rate": (0.1, 0.01, 0.001),
    "weight_decay": (1e-3, 5e-4, 1e-4),
}

#: Seed 000's random search: ε = 10^U(−3, −1), λ = 10^U(−4, −3).
RANDOM_SPACE: dict[str, Any] = {
    "learning_rate": LogUniform(1e-3, 1e-1),
    "weight_decay": LogUniform(1e-4, 1e-3),
}


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (bool, int, float, str))


def check_space(space: Mapping[str, Any], *, grid: bool = False) -> dict[str, Any]:
    """Validate a search space and return it as a new ``dict``.

    Use it before a search so that a bad space fails before any training.

    Args:
        space: name → values (see the module docstring).
        grid: require finite sets only (a grid cannot enumerate a continuous distribution).
            Defaults to ``False``.

    Returns:
        A copy of ``space`` with lists turned into tuples.

    Example:

    >>> from keras_recipes.tuning import GRID_SPACE, check_space
    >>> check_space(GRID_SPACE, grid=True)["learning_rate"]
    (0.1, 0.01, 0.001)
    """
    if not isinstance(space, Mapping) or not space:
        raise ValueError(f"Argument `space` must be a non-empty dict. Received: space={space!r}")
    out: dict[str, Any] = {}
    for name, value in space.items():
        if not isinstance(name, str) or not name or name.startswith("tuner/"):
            raise ValueError(
                f"Argument `space` has a bad name {name!r}: names are non-empty strings and "
                "`tuner/` is reserved by KerasTuner."
            )
        if isinstance(value, (LogUniform, Uniform)):
            if grid:
                raise ValueError(
                    f"Argument `space` must hold only finite sets for a grid search; "
                    f"{name!r} is a continuous distribution. Received: {name}={value!r}. "
                    "Use random_search, or give a list of values."
                )
            out[name] = value
        elif isinstance(value, Sequence) and not isinstance(value, str):
            values = tuple(value)
            if not values or not all(_is_scalar(v) for v in values):
                raise ValueError(
                    f"Argument `space` must give {name!r} a non-empty list of numbers or "
                    f"strings. Received: {name}={value!r}"
                )
            if len(set(values)) != len(values):
                raise ValueError(
                    f"Argument `space` lists a value twice for {name!r}. Received: "
                    f"{name}={value!r}"
                )
            numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
            if numbers and any(isinstance(v, float) for v in values):
                values = tuple(float(v) for v in values)  # KerasTuner wants one type per set
            out[name] = values
        elif _is_scalar(value):
            out[name] = value
        else:
            raise ValueError(
                f"Argument `space` has an unsupported entry for {name!r}: use a list of "
                f"values, LogUniform, Uniform or one value. Received: {name}={value!r}"
            )
    for name in ("learning_rate", "weight_decay"):
        values = out.get(name)
        if values is None:
            continue
        for v in values if isinstance(values, tuple) else (values,):
            if isinstance(v, (LogUniform, Uniform)):
                low_ok = v.low > 0 if name == "learning_rate" else v.low >= 0
                ok = low_ok
            else:
                ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                ok = ok and (v > 0 if name == "learning_rate" else v >= 0)
            if not ok:
                need = "> 0" if name == "learning_rate" else ">= 0"
                raise ValueError(
                    f"Argument `space` must give `{name}` values {need}. "
                    f"Received: {name}={values!r}"
                )
    return out


def define_hyperparameters(hp, space: Mapping[str, Any]) -> dict[str, Any]:
    """Declare every entry of ``space`` on a KerasTuner ``HyperParameters`` object.

    Use it inside a model-building function, or let the search functions call it.

    Args:
        hp: a ``keras_tuner.HyperParameters``.
        space: a search space (see the module docstring).

    Returns:
        ``{name: value}`` for the current trial.

    Example:

    >>> import keras_tuner
    >>> from keras_recipes.tuning import RANDOM_SPACE, define_hyperparameters
    >>> values = define_hyperparameters(keras_tuner.HyperParameters(), RANDOM_SPACE)
    >>> sorted(values)
    ['learning_rate', 'weight_decay']
    """
    values: dict[str, Any] = {}
    for name, value in space.items():
        if isinstance(value, LogUniform):
            values[name] = hp.Float(name, value.low, value.high, sampling="log")
        elif isinstance(value, Uniform):
            values[name] = hp.Float(name, value.low, value.high, sampling="linear")
        elif isinstance(value, tuple):
            values[name] = hp.Choice(name, list(value))
        else:
            values[name] = hp.Fixed(name, value)
    return values


def grid_size(space: Mapping[str, Any]) -> int:
    """Number of combinations of a finite space (the product of the set sizes).

    Example:

    >>> from keras_recipes.tuning import GRID_SPACE, grid_size
    >>> grid_size(GRID_SPACE)
    9
    """
    n = 1
    for value in check_space(space, grid=True).values():
        n *= len(value) if isinstance(value, tuple) else 1
    return n
