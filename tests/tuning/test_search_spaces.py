"""Search spaces: the seed defaults, validation, and what KerasTuner samples from them."""

from __future__ import annotations

import keras_tuner
import numpy as np
import pytest

from keras_recipes.tuning import (
    GRID_SPACE,
    RANDOM_SPACE,
    LogUniform,
    Uniform,
    check_space,
    define_hyperparameters,
    grid_size,
)


def test_defaults_are_the_seed_spaces():
    # Seed 000: ε ∈ {0.1, 0.01, 0.001}, λ ∈ {0.001, 0.0005, 0.0001}.
    assert GRID_SPACE == {"learning_rate": (0.1, 0.01, 0.001),
                          "weight_decay": (0.001, 0.0005, 0.0001)}
    # Seed 000: ε = 10^γ1, γ1 ~ U(-3, -1); λ = 10^γ2, γ2 ~ U(-4, -3).
    assert RANDOM_SPACE == {"learning_rate": LogUniform(0.001, 0.1),
                            "weight_decay": LogUniform(0.0001, 0.001)}
    assert grid_size(GRID_SPACE) == 9


def test_log_uniform_samples_are_uniform_in_log10():
    hp = keras_tuner.HyperParameters()
    define_hyperparameters(hp, RANDOM_SPACE)
    lr = hp.space[0]
    assert lr.name == "learning_rate" and lr.sampling == "log"
    samples = np.array([lr.random_sample(seed) for seed in range(4000)])
    logs = np.log10(samples)
    assert logs.min() >= -3 - 1e-9 and logs.max() <= -1 + 1e-9
    # U(-3, -1): mean -2, standard deviation 2/sqrt(12); quartiles -2.5, -2, -1.5.
    assert abs(logs.mean() + 2.0) < 0.05
    assert abs(logs.std() - 2 / np.sqrt(12)) < 0.05
    np.testing.assert_allclose(np.quantile(logs, [0.25, 0.5, 0.75]), [-2.5, -2.0, -1.5],
                               atol=0.07)


def test_define_returns_current_values_and_fixed_entries():
    hp = keras_tuner.HyperParameters()
    values = define_hyperparameters(hp, {"learning_rate": (0.1, 0.01), "units": 16,
                                         "dropout": Uniform(0.0, 0.5)})
    assert values["learning_rate"] == 0.1 and values["units"] == 16
    assert 0.0 <= values["dropout"] <= 0.5
    assert sorted(hp.values) == ["dropout", "learning_rate", "units"]


def test_mixed_int_and_float_sets_become_floats():
    space = check_space({"weight_decay": (1e-4, 1e-5, 0)})
    assert space["weight_decay"] == (1e-4, 1e-5, 0.0)
    assert all(isinstance(v, float) for v in space["weight_decay"])


@pytest.mark.parametrize("space, grid, match", [
    ({}, False, "non-empty dict"),
    ({"learning_rate": LogUniform(1e-3, 1e-1)}, True, "finite sets for a grid"),
    ({"learning_rate": (0.1, 0.1)}, False, "lists a value twice"),
    ({"learning_rate": ()}, False, "non-empty list"),
    ({"learning_rate": (0.1, -1.0)}, False, r"`learning_rate` values > 0"),
    ({"weight_decay": (-1e-4,)}, False, r"`weight_decay` values >= 0"),
    ({"tuner/epochs": (1, 2)}, False, "reserved"),
    ({"units": {"a": 1}}, False, "unsupported entry"),
])
def test_bad_spaces(space, grid, match):
    with pytest.raises(ValueError, match=match):
        check_space(space, grid=grid)


def test_bad_distributions():
    with pytest.raises(ValueError, match=r"Argument `high` must be > `low`"):
        LogUniform(1e-1, 1e-3)
    with pytest.raises(ValueError, match=r"Argument `low` must be > 0"):
        LogUniform(0.0, 1.0)
    with pytest.raises(ValueError, match=r"Argument `high` must be > `low`"):
        Uniform(1.0, 1.0)
