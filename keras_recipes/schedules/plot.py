"""Plot one or several learning-rate schedules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from keras import ops

from keras_recipes._validation import check_positive, fail
from keras_recipes.schedules._common import is_number


def schedule_values(schedule, steps: int | Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Evaluate ``schedule`` at ``steps`` (an int ``n`` means ``0 … n−1``).

    Returns ``(steps, values)`` as NumPy arrays. The schedule is called once on the whole
    array when it supports it, otherwise step by step.
    """
    if is_number(steps):
        check_positive("steps", steps, integer=True)
        grid = np.arange(int(steps))
    else:
        grid = np.asarray(list(steps))
        if grid.ndim != 1 or grid.size == 0:
            fail("steps", "a positive integer or a non-empty sequence of steps", steps)
    if is_number(schedule):
        return grid, np.full(grid.shape, float(schedule))
    if not callable(schedule):
        fail("schedule", "a LearningRateSchedule, a callable of the step or a number", schedule)
    try:
        values = np.asarray(ops.convert_to_numpy(schedule(grid)), dtype="float64")
        if values.shape != grid.shape:
            raise ValueError("not vectorised")
    except Exception:  # any failure falls back to one call per step
        values = np.array([float(ops.convert_to_numpy(schedule(int(s)))) for s in grid])
    return grid, values


def plot_schedule(
    schedule,
    steps: int | Sequence[int],
    ax=None,
    title: str | None = None,
    logy: bool = False,
):
    """Line plot of a schedule's value against the step; returns the matplotlib ``Figure``.

    Use it to check a schedule before training (warm-up length, cycle shape, restarts).

    Args:
        schedule: a ``LearningRateSchedule`` (or any callable of the step, or a number), or
            a mapping ``{label: schedule}`` to draw several on one axis.
        steps: number of steps ``n`` (plots ``0 … n−1``) or explicit steps.
        ax: matplotlib ``Axes`` to draw on. Defaults to ``None`` (a new figure).
        title: axis title. Defaults to ``None`` (the schedule's class name).
        logy: logarithmic value axis. Defaults to ``False``.

    Returns:
        The ``matplotlib.figure.Figure`` holding the axis. Nothing is shown.

    Example:

    >>> from keras_recipes.schedules import OneCycle, plot_schedule
    >>> fig = plot_schedule(OneCycle(1e-2, 1000), 1000)
    >>> fig.axes[0].get_xlabel()
    'step'

    References:
        - Smith, 2017, "Cyclical Learning Rates", https://arxiv.org/abs/1506.01186
    """
    from matplotlib.figure import Figure

    items = schedule.items() if isinstance(schedule, Mapping) else [(None, schedule)]
    if ax is None:
        fig = Figure(figsize=(6, 3.5), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    for label, sched in items:
        x, y = schedule_values(sched, steps)
        ax.plot(x, y, label=label)
    if isinstance(schedule, Mapping):
        ax.legend()
    ax.set_xlabel("step")
    ax.set_ylabel("value")
    if logy:
        ax.set_yscale("log")
    ax.set_title(title if title is not None else (
        "" if isinstance(schedule, Mapping) else type(schedule).__name__))
    ax.grid(True, alpha=0.3)
    return fig
