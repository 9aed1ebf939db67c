"""Pure rules that pick a learning rate from a range test's (learning rate, loss) curve.

People argue about which point of the curve to take, so each rule is a plain function of
``(lrs, losses)`` that can be tested on synthetic curves and swapped for another:

- ``"steepest"``: the rate where the loss falls fastest per unit of ``log(lr)``,
  ``argmin_i dL/d(log lr)`` by central differences (Smith 2017; fastai's ``steep``).
- ``"minimum"``: the rate at the lowest loss divided by 10, ``lr[argmin L] / 10``, a step
  back from the edge of divergence (fastai's ``minimum``).
- ``"valley"``: the middle of the longest descending stretch of the curve (the longest
  decreasing subsequence, which tolerates noise): with the stretch running from index
  ``s`` to ``e`` and ``k = (e - s) / 3``, the pick is index ``s + ⌊k⌋ + ⌊k/2⌋`` (fastai's
  ``valley``, with its start index counted from the true start of the subsequence).
- ``"combined"``: the geometric mean of the ``minimum`` pick and the *knee*, the first rate
  where the loss has made 90 % of its total drop, ``√(lr_knee · lr[argmin L] / 10)``. Meant
  for one-cycle's peak: on a curve with a flat, noisy bottom the argmin wanders by a decade
  or more, while the knee stays put; the mean keeps half of the ``minimum`` rule's boldness.

Every rule ignores non-finite points and returns ``None``, with a ``RuntimeWarning``, when
fewer than :data:`MIN_POINTS` finite points remain.

References:
    - Smith, "Cyclical Learning Rates for Training Neural Networks", 2017.
      https://arxiv.org/abs/1506.01186
    - Howard & Gugger, "fastai: A Layered API for Deep Learning", 2020.
      https://arxiv.org/abs/2002.04688 (``fastai.callback.schedule``: minimum, steep, valley)
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence

import numpy as np

from keras_recipes._validation import check_one_of

#: The fewest finite points a rule needs to answer.
MIN_POINTS = 5


def _finite_curve(lrs: Sequence[float], losses: Sequence[float], rule: str):
    lrs = np.asarray(lrs, dtype="float64").reshape(-1)
    losses = np.asarray(losses, dtype="float64").reshape(-1)
    if lrs.shape != losses.shape:
        raise ValueError(
            "Arguments `lrs` and `losses` must have the same length. "
            f"Received: {lrs.size} and {losses.size}"
        )
    keep = np.isfinite(lrs) & np.isfinite(losses) & (lrs > 0)
    lrs, losses = lrs[keep], losses[keep]
    if np.any(np.diff(lrs) <= 0):
        raise ValueError("Argument `lrs` must be strictly increasing. Received: lrs=" + str(lrs))
    if lrs.size < MIN_POINTS:
        warnings.warn(
            f"Too few finite points to suggest a learning rate with rule {rule!r}: "
            f"{lrs.size} < {MIN_POINTS}. Widen the range, add steps, or lower the learning "
            "rates; returning None.",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    return lrs, losses


_CURVE_ARGS_DOC = """Args:
        lrs: learning rates, strictly increasing.
        losses: the loss recorded at each rate.

    Returns:
        The chosen rate, or ``None`` (with a warning) when too few points are finite."""


def _on_finite_curve(rule: Callable[[np.ndarray, np.ndarray], float]):
    """Give ``rule`` only the curve's finite points with ``lr > 0``, as float64 arrays.

    The wrapped rule keeps its name and signature, and its docstring with the
    ``{curve_args}`` placeholder replaced by the Args and Returns every rule shares. It
    raises on mismatched lengths or rates that do not increase, and returns ``None`` with
    a ``RuntimeWarning`` when fewer than :data:`MIN_POINTS` points remain.
    """

    @functools.wraps(rule)
    def checked(lrs: Sequence[float], losses: Sequence[float]) -> float | None:
        curve = _finite_curve(lrs, losses, rule.__name__)
        if curve is None:
            return None
        return rule(*curve)

    if rule.__doc__:  # None under python -OO
        checked.__doc__ = rule.__doc__.replace("{curve_args}", _CURVE_ARGS_DOC)
    return checked


@_on_finite_curve
def steepest(lrs: Sequence[float], losses: Sequence[float]) -> float | None:
    """The learning rate where the loss falls fastest against ``log(lr)``.

    Use it for the boldest rate that still trains fast; it reacts to noise, so feed it a
    smoothed curve.

    Formula: ``lr[argmin_i g_i]`` with ``g = gradient(L, log(lr))`` (central differences,
    one-sided at the ends).

    {curve_args}

    Example:

    >>> import numpy as np
    >>> from keras_recipes.lr_finder.suggestions import steepest
    >>> lrs = np.logspace(-6, 0, 61)
    >>> float(np.round(steepest(lrs, -np.tanh(np.log10(lrs) + 3)), 9))
    0.001

    References:
        Smith, 2017. https://arxiv.org/abs/1506.01186
    """
    grads = np.gradient(losses, np.log(lrs))
    return float(lrs[int(np.argmin(grads))])


@_on_finite_curve
def minimum(lrs: Sequence[float], losses: Sequence[float]) -> float | None:
    """The learning rate at the lowest loss, divided by 10.

    Use it for a safe rate: one decade below where the loss bottoms out, just before it
    diverges.

    Formula: ``lr[argmin_i L_i] / 10``.

    {curve_args}

    Example:

    >>> import numpy as np
    >>> from keras_recipes.lr_finder.suggestions import minimum
    >>> lrs = np.logspace(-5, 0, 6)
    >>> float(minimum(lrs, (np.log10(lrs) + 2) ** 2))
    0.001

    References:
        fastai ``lr_find`` suggestion ``minimum``. https://arxiv.org/abs/2002.04688
    """
    return float(lrs[int(np.argmin(losses))] / 10.0)


def _longest_descent(losses: np.ndarray) -> tuple[int, int]:
    """(start, end) indices of the longest strictly decreasing subsequence (first found)."""
    n = losses.size
    length = np.ones(n, dtype=int)
    start = np.arange(n)
    best_end = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and length[j] + 1 > length[i]:
                length[i] = length[j] + 1
                start[i] = start[j]
        if length[i] > length[best_end]:
            best_end = i
    return int(start[best_end]), best_end


@_on_finite_curve
def valley(lrs: Sequence[float], losses: Sequence[float]) -> float | None:
    """The learning rate in the middle of the longest descending stretch of the curve.

    Use it as the default: it is less sensitive to noise than ``steepest`` and less timid
    than ``minimum``.

    Formula: with ``(s, e)`` the first and last indices of the longest strictly
    decreasing subsequence of ``L`` and ``k = (e - s) / 3``, the pick is
    ``lr[s + ⌊k⌋ + ⌊k/2⌋]``.

    {curve_args}

    Example:

    >>> import numpy as np
    >>> from keras_recipes.lr_finder.suggestions import valley
    >>> lrs = np.logspace(-6, 0, 13)
    >>> losses = [9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 4, 8, 9]
    >>> float(valley(lrs, losses)) == float(lrs[4])
    True

    References:
        fastai ``lr_find`` suggestion ``valley``. https://arxiv.org/abs/2002.04688
    """
    s, e = _longest_descent(losses)
    k = (e - s) / 3
    return float(lrs[s + int(k) + int(k / 2)])


#: Fraction of the total drop left above the minimum at the knee of :func:`combined`.
KNEE_FRACTION = 0.1


@_on_finite_curve
def combined(lrs: Sequence[float], losses: Sequence[float]) -> float | None:
    """The geometric mean of the ``minimum`` rule and the knee of the curve.

    Use it for the peak of a one-cycle schedule. The ``minimum`` rule (``lr[argmin L]/10``)
    is the usual pick there, but when the bottom of the curve is flat and noisy its argmin
    jumps between distant dips, a decade or more apart. The knee, the first rate at which
    the loss has made 90 % of its total drop, does not move with the noise at the bottom;
    the geometric mean of the two is stable and still bold.

    Formula: with ``m = argmin_i L_i`` and ``k`` the first index ``≤ m`` such that
    ``L_k ≤ L_m + 0.1·(L_0 − L_m)`` (``k = m`` when ``L_0 ≤ L_m``), the pick is
    ``√(lr_k · lr_m / 10)``.

    {curve_args}

    Example:

    >>> import numpy as np
    >>> from keras_recipes.lr_finder.suggestions import combined
    >>> lrs = np.logspace(-5, 0, 6)
    >>> float(combined(lrs, [5.0, 4.0, 1.2, 1.0, 1.1, 3.0]))  # knee 1e-3, minimum 1e-2/10
    0.001

    References:
        - Smith, 2018, "A disciplined approach to neural network hyper-parameters"
          (one-cycle's peak from the range test). https://arxiv.org/abs/1803.09820
        - fastai ``lr_find`` suggestion ``minimum``. https://arxiv.org/abs/2002.04688
    """
    m = int(np.argmin(losses))
    level = losses[m] + KNEE_FRACTION * max(losses[0] - losses[m], 0.0)
    k = int(np.argmax(losses[: m + 1] <= level))
    return float(np.sqrt(lrs[k] * lrs[m] / 10.0))


#: Rule name → rule function.
SUGGESTION_RULES: dict[str, Callable[[Sequence[float], Sequence[float]], float | None]] = {
    "steepest": steepest,
    "minimum": minimum,
    "valley": valley,
    "combined": combined,
}


def check_rule(rule: str) -> str:
    """Raise ``ValueError`` unless ``rule`` names a suggestion rule."""
    return check_one_of("suggest", rule, SUGGESTION_RULES)


def trim(n: int, skip_start: int | None = None, skip_end: int | None = None) -> slice:
    """The slice of a range-test curve that suggestion rules look at.

    By default the first tenth (the optimizer warming up) and the last 5 points (the blow-up
    that stopped the test) are skipped, as fastai does, but never so much that fewer than
    :data:`MIN_POINTS` remain.
    """
    start = n // 10 if skip_start is None else int(skip_start)
    end = min(5, n // 10) if skip_end is None else int(skip_end)
    if n - start - end < MIN_POINTS:
        start, end = 0, 0
    return slice(start, n - end)


def suggest_all(
    lrs: Sequence[float],
    losses: Sequence[float],
    *,
    skip_start: int | None = None,
    skip_end: int | None = None,
) -> dict[str, float | None]:
    """Each rule's pick on the trimmed curve (see :func:`trim`), as ``{rule: lr}``.

    Example:

    >>> import numpy as np
    >>> from keras_recipes.lr_finder.suggestions import suggest_all
    >>> lrs = np.logspace(-6, 0, 61)
    >>> sorted(suggest_all(lrs, -np.tanh(np.log10(lrs) + 3)))
    ['combined', 'minimum', 'steepest', 'valley']
    """
    lrs = np.asarray(lrs, dtype="float64").reshape(-1)
    losses = np.asarray(losses, dtype="float64").reshape(-1)
    keep = np.isfinite(lrs) & np.isfinite(losses)
    lrs, losses = lrs[keep], losses[keep]
    if lrs.size < MIN_POINTS:
        warnings.warn(
            f"Too few finite points to suggest a learning rate: {lrs.size} < {MIN_POINTS}. "
            "Widen the range, add steps, or lower the learning rates; every suggestion is "
            "None.",
            RuntimeWarning,
            stacklevel=2,
        )
        return dict.fromkeys(SUGGESTION_RULES)
    window = trim(lrs.size, skip_start, skip_end)
    return {name: rule(lrs[window], losses[window]) for name, rule in SUGGESTION_RULES.items()}
