"""`cyclic_bounds`: the (base_lr, max_lr) of a cyclical schedule, read off a range test."""

from __future__ import annotations

from keras_recipes._validation import check_number
from keras_recipes.lr_finder.result import LRFinderResult


def cyclic_bounds(result: LRFinderResult, *, divisor: float = 4.0) -> tuple[float, float]:
    """Smith's bounds for a cyclical learning rate: ``(max_lr / divisor, max_lr)``.

    Use it to turn a range test into a ``CyclicLR`` schedule. ``max_lr`` is the largest
    rate at which the loss still falls: the rate at the lowest smoothed loss of the test.
    Smith's rule of thumb sets ``base_lr`` to 1/3 or 1/4 of it.

    Formula: ``max_lr = lr[argmin_i S_i]`` (``S`` the smoothed loss),
    ``base_lr = max_lr / divisor``.

    Args:
        result: a range test, from :func:`keras_recipes.lr_finder.find_lr`.
        divisor: ``max_lr / base_lr``, > 1; Smith uses 3 to 4. Defaults to ``4.0``.

    Returns:
        ``(base_lr, max_lr)``.

    Raises:
        ValueError: ``divisor <= 1``, or a result with no finite loss.

    Example:

    >>> import numpy as np, pandas as pd
    >>> from keras_recipes.lr_finder import LRFinderResult, cyclic_bounds
    >>> lrs = np.logspace(-5, 0, 11)
    >>> loss = (np.log10(lrs) + 2) ** 2
    >>> history = pd.DataFrame({"lr": lrs, "loss": loss, "smoothed_loss": loss})
    >>> [float(f"{v:.3g}") for v in cyclic_bounds(LRFinderResult(history))]
    [0.0025, 0.01]

    References:
        Smith, "Cyclical Learning Rates for Training Neural Networks", 2017, §3.3.
        https://arxiv.org/abs/1506.01186
    """
    check_number("divisor", divisor, low=1, low_inclusive=False)
    max_lr = result.lr_at_best_loss
    if max_lr is None:
        raise ValueError(
            "Argument `result` must hold at least one finite loss. Received: a range test "
            f"that stopped with {result.stop_reason!r} and no finite loss"
        )
    return max_lr / float(divisor), max_lr


def cyclic_lr(
    result: LRFinderResult,
    step_size: float,
    *,
    divisor: float = 4.0,
    mode: str = "triangular",
    gamma: float = 1.0,
):
    """A :class:`keras_recipes.schedules.CyclicLR` between the :func:`cyclic_bounds`.

    Use it to go from a range test to a cyclical schedule in one call. Smith advises a
    ``step_size`` (half a cycle) of 2 to 10 epochs' worth of steps.

    Args:
        result: a range test.
        step_size: steps in half a cycle.
        divisor: ``max_lr / base_lr``. Defaults to ``4.0``.
        mode: ``"triangular"``, ``"triangular2"`` or ``"exp_range"``.
            Defaults to ``"triangular"``.
        gamma: decay of ``"exp_range"``. Defaults to ``1.0``.

    Returns:
        A ``CyclicLR`` schedule.

    Raises:
        ImportError: when ``keras_recipes.schedules`` has no ``CyclicLR``.

    Example:

    >>> import numpy as np, pandas as pd
    >>> from keras_recipes.lr_finder import LRFinderResult, cyclic_lr
    >>> lrs = np.logspace(-5, 0, 11)
    >>> loss = (np.log10(lrs) + 2) ** 2
    >>> history = pd.DataFrame({"lr": lrs, "loss": loss, "smoothed_loss": loss})
    >>> schedule = cyclic_lr(LRFinderResult(history), step_size=100)

    References:
        Smith, 2017. https://arxiv.org/abs/1506.01186
    """
    try:
        from keras_recipes.schedules import CyclicLR
    except ImportError as exc:  # the schedules package is optional for this module
        raise ImportError("cyclic_lr needs keras_recipes.schedules.CyclicLR") from exc
    base_lr, max_lr = cyclic_bounds(result, divisor=divisor)
    return CyclicLR(base_lr, max_lr, step_size, mode=mode, gamma=gamma)
