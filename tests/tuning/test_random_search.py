"""random_search: samples inside the seed distributions, reproducible, Hyperband option."""

from __future__ import annotations

import numpy as np
import pytest

from keras_recipes.tuning import random_search
from tests.tuning._models import tiny_model

pytestmark = pytest.mark.integration


def test_samples_lie_in_the_seed_ranges_and_repeat_with_the_seed(tiny_digits):
    x, y = tiny_digits
    first = random_search(tiny_model, x, y, max_trials=1, seed=3)
    again = random_search(tiny_model, x, y, max_trials=1, seed=3)
    assert len(first) == 1 and first.loc[0, "status"] == "COMPLETED"
    # Seed 000: ε = 10^U(-3, -1), λ = 10^U(-4, -3).
    assert 1e-3 <= first.loc[0, "learning_rate"] <= 1e-1
    assert 1e-4 <= first.loc[0, "weight_decay"] <= 1e-3
    # The same seed samples the same point and, from the same initial weights, gets the
    # same score.
    cols = ["learning_rate", "weight_decay"]
    np.testing.assert_allclose(again.loc[0, cols].to_numpy(float),
                               first.loc[0, cols].to_numpy(float))
    assert again.loc[0, "val_loss"] == pytest.approx(first.loc[0, "val_loss"], rel=1e-4)


@pytest.mark.slow
def test_hyperband_option_reports_epochs(tiny_digits):
    x, y = tiny_digits
    frame = random_search(tiny_model, x, y, algorithm="hyperband", epochs=2, factor=2,
                          space={"learning_rate": (0.1, 0.01)}, optimizer="adam")
    assert "epochs" in frame.columns and set(frame["epochs"]) <= {1, 2}
    assert (frame["status"] == "COMPLETED").all()
    assert np.all(np.diff(frame["val_loss"].to_numpy()) >= 0)


@pytest.mark.parametrize("kwargs, match", [
    ({"algorithm": "bayesian"}, r"Argument `algorithm` must be one of"),
    ({"max_trials": 0}, r"Argument `max_trials` must be >= 1"),
    ({"algorithm": "hyperband", "factor": 1}, r"Argument `factor` must be >= 2"),
])
def test_bad_arguments(tiny_digits, kwargs, match):
    x, y = tiny_digits
    with pytest.raises(ValueError, match=match):
        random_search(tiny_model, x, y, **kwargs)
