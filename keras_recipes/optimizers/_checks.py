"""Argument checks shared by the library's optimizers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

from keras_recipes._validation import (
    check_number,
    check_probability,
    fail,
    reject_unknown_kwargs,
)

BASE_ARGS_DOC = """weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
            ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name:
            the base `keras.optimizers.Optimizer` arguments, with Keras's meaning and
            defaults (weight decay is decoupled: `var -= weight_decay * lr * var`)."""


def check_learning_rate(value: Any) -> Any:
    """A float ``>= 0``, or a schedule/callable (left to Keras)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        check_number("learning_rate", value, low=0)
    return value


def check_beta(name: str, value: Any) -> float:
    """``0 <= value < 1``."""
    return float(check_probability(name, value))


def check_epsilon(value: Any, name: str = "epsilon") -> float:
    """``value > 0``."""
    return float(check_number(name, value, low=0, low_inclusive=False))


def check_kwargs(kwargs: dict[str, Any], owner: str) -> None:
    """Reject keyword arguments that neither the optimizer nor Keras's base know."""
    reject_unknown_kwargs(kwargs, owner=owner)


def optimizer_mapping(name: str, value: Any, *, non_empty: bool = False) -> dict[str, Any]:
    """``{label: optimizer}`` from one Keras optimizer (labelled by its name) or a mapping.

    Every value of the mapping must be a ``keras.optimizers.Optimizer``; ``non_empty``
    also refuses an empty mapping. Raises ValueError before any optimizer is used.
    """
    if isinstance(value, keras.optimizers.Optimizer):
        return {value.name: value}
    if not isinstance(value, Mapping) or (non_empty and not value):
        fail(name, ("a non-empty " if non_empty else "a ")
             + "mapping of labels to optimizers, or one keras.optimizers.Optimizer", value)
    for label, optimizer in value.items():
        if not isinstance(optimizer, keras.optimizers.Optimizer):
            raise ValueError(
                f"Argument `{name}` must map labels to optimizers. Received: {label}="
                f"{optimizer!r}"
            )
    return dict(value)
