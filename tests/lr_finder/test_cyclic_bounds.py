"""cyclic_bounds and cyclic_lr: Smith's bounds read off a range test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from keras_recipes.lr_finder import LRFinderResult, cyclic_bounds, cyclic_lr


def _result(smoothed):
    lrs = np.logspace(-5, 0, len(smoothed))
    return LRFinderResult(pd.DataFrame({"lr": lrs, "loss": smoothed, "smoothed_loss": smoothed}))


def test_bounds_from_lowest_smoothed_loss():
    lrs = np.logspace(-5, 0, 11)
    result = _result((np.log10(lrs) + 2) ** 2)  # lowest at lr = 1e-2
    assert cyclic_bounds(result) == pytest.approx((1e-2 / 4, 1e-2))
    assert cyclic_bounds(result, divisor=3) == pytest.approx((1e-2 / 3, 1e-2))


def test_nan_tail_is_ignored():
    smoothed = np.array([5, 4, 3, 2, 1.5, 1.0, 2.0, 9.0, np.nan, np.nan, np.nan])
    result = _result(smoothed)
    assert cyclic_bounds(result)[1] == pytest.approx(np.logspace(-5, 0, 11)[5])


def test_errors():
    lrs = np.logspace(-5, 0, 11)
    with pytest.raises(ValueError, match="Argument `divisor` must be > 1"):
        cyclic_bounds(_result((np.log10(lrs) + 2) ** 2), divisor=1)
    with pytest.warns(RuntimeWarning, match="Too few"):
        empty = _result(np.full(11, np.nan))
    with pytest.raises(ValueError, match="at least one finite loss"):
        cyclic_bounds(empty)


def test_cyclic_lr_builds_the_schedule_between_the_bounds():
    lrs = np.logspace(-5, 0, 11)
    schedule = cyclic_lr(_result((np.log10(lrs) + 2) ** 2), step_size=10)
    assert schedule.base_lr == pytest.approx(2.5e-3)
    assert schedule.max_lr == pytest.approx(1e-2)
    # Triangular cycle: base at step 0, max at step_size.
    assert float(schedule(0)) == pytest.approx(2.5e-3, rel=1e-6)
    assert float(schedule(10)) == pytest.approx(1e-2, rel=1e-6)
