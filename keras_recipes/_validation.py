"""Helpers that raise Keras-style argument errors.

Every message names the argument and what was received, e.g.
``Argument `max_lr` must be > `min_lr`. Received: min_lr=1, max_lr=0.1``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any


def _fmt(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def received(**values: Any) -> str:
    """``"Received: a=1, b=2"`` for the given keyword values."""
    return "Received: " + ", ".join(f"{k}={_fmt(v)}" for k, v in values.items())


def fail(name: str, requirement: str, value: Any) -> None:
    """Raise ``ValueError("Argument `name` must be <requirement>. Received: name=value")``."""
    raise ValueError(f"Argument `{name}` must be {requirement}. {received(**{name: value})}")


#: Largest integer an int64 holds; larger integer arguments overflow in NumPy and TensorFlow.
INT64_MAX = 2**63 - 1
#: Smallest positive normal float32: below it a rate is subnormal or 0 in float32.
FLOAT32_TINY = 1.1754943508222875e-38
#: Largest finite float32.
FLOAT32_MAX = 3.4028234663852886e38


def _is_number(value: Any) -> bool:
    """A finite real number: not a bool, not a string (``"3"`` is text, not a number)."""
    if isinstance(value, bool | str | bytes | complex):
        return False
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    if isinstance(kind, str) and kind not in "iuf":  # NumPy bool, text, complex, object
        return False
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError, OverflowError):
        return False


def check_number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    integer: bool = False,
) -> Any:
    """Check that ``value`` is a finite number (an integer if asked) within bounds.

    Numbers are Python or NumPy numbers (or 0-d arrays and tensors); a bool, a numeric
    string such as ``"3"`` and anything else is refused. An integer argument also refuses
    a fractional value (``2.5``) and a magnitude beyond int64 (``10**20``), which would
    overflow later in NumPy or the backend.

    Returns ``value`` unchanged so it can be used inline:
    ``self.beta = check_number("beta", beta, low=0, high=1, high_inclusive=False)``.
    """
    too_big = "an integer that fits in int64 (at most 2**63 - 1 in magnitude)"
    if integer and isinstance(value, int) and not isinstance(value, bool) and (
        abs(value) > INT64_MAX
    ):
        fail(name, too_big, value)
    if not _is_number(value):
        fail(name, "an integer" if integer else "a finite number", value)
    if integer and not float(value).is_integer():
        fail(name, "an integer", value)
    if integer and abs(float(value)) >= 2.0**63 and not isinstance(value, int):
        fail(name, too_big, value)
    v = float(value)
    if low is not None and (v < low or (v == low and not low_inclusive)):
        op = ">=" if low_inclusive else ">"
        fail(name, f"{op} {low:g}" + _upper(high, high_inclusive), value)
    if high is not None and (v > high or (v == high and not high_inclusive)):
        op = "<=" if high_inclusive else "<"
        lower = f"{'>=' if low_inclusive else '>'} {low:g} and " if low is not None else ""
        fail(name, lower + f"{op} {high:g}", value)
    return value


def _upper(high: float | None, inclusive: bool) -> str:
    if high is None:
        return ""
    return f" and {'<=' if inclusive else '<'} {high:g}"


def check_positive(name: str, value: Any, *, integer: bool = False) -> Any:
    """Check ``value > 0``."""
    return check_number(name, value, low=0, low_inclusive=False, integer=integer)


def check_non_negative(name: str, value: Any, *, integer: bool = False) -> Any:
    """Check ``value >= 0``."""
    return check_number(name, value, low=0, integer=integer)


def check_learning_rate(name: str, value: Any, *, allow_zero: bool = False) -> Any:
    """Check that ``value`` is a learning rate that float32 holds as a normal number.

    Keras trains in float32: a positive rate below ``1.18e-38`` becomes subnormal or 0
    there (``1e-320`` trains nothing), and one above ``3.4e38`` becomes infinite.
    ``allow_zero`` also accepts ``0`` (a floor such as ``min_lr``).
    """
    if allow_zero and _is_number(value) and float(value) == 0:
        return value
    check_number(name, value, low=0, low_inclusive=False)
    if not FLOAT32_TINY <= float(value) <= FLOAT32_MAX:
        zero = "0 or " if allow_zero else ""
        fail(name, f"{zero}a learning rate float32 can hold, from {FLOAT32_TINY:.3g} to "
             f"{FLOAT32_MAX:.3g} (outside that range it is 0, subnormal or infinite in "
             "float32)", value)
    return value


def check_probability(name: str, value: Any, *, include_one: bool = False) -> Any:
    """Check ``0 <= value < 1`` (or ``<= 1`` with ``include_one``)."""
    return check_number(name, value, low=0, high=1, high_inclusive=include_one)


def check_bool(name: str, value: Any) -> bool:
    """Check that ``value`` is a bool (Python or NumPy); returns it as a Python bool.

    A string such as ``"no"`` would otherwise be truthy and silently mean ``True``.
    """
    if type(value).__name__ not in ("bool", "bool_"):
        fail(name, "a bool (True or False)", value)
    return bool(value)


def check_one_of(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Check that ``value`` is one of ``allowed``."""
    allowed = tuple(allowed)
    if value not in allowed:
        options = ", ".join(_fmt(a) for a in allowed)
        fail(name, f"one of {{{options}}}", value)
    return value


def check_less(low_name: str, low: Any, high_name: str, high: Any) -> None:
    """Check ``low < high``; the message names both arguments."""
    if not float(low) < float(high):
        raise ValueError(
            f"Argument `{high_name}` must be > `{low_name}`. "
            f"{received(**{low_name: low, high_name: high})}"
        )


def reject_unknown_kwargs(
    kwargs: dict[str, Any], allowed: Iterable[str] = (), *, owner: str = ""
) -> None:
    """Raise ``ValueError`` when ``kwargs`` holds a key outside ``allowed``.

    Keras itself answers unknown arguments with ``ValueError("Argument(s) not recognized")``;
    the same type is used here so ``except ValueError`` catches every argument error.
    """
    allowed = set(allowed)
    unknown = sorted(k for k in kwargs if k not in allowed)
    if unknown:
        where = f" for {owner}" if owner else ""
        raise ValueError(
            f"Unknown keyword argument(s){where}: {unknown}. "
            + (f"Allowed: {sorted(allowed)}." if allowed else "This object takes none.")
        )
