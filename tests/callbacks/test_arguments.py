"""One table of bad constructor arguments for every callback: each is refused at once with a
Keras-style message naming the argument, instead of failing later or being silently coerced
(``bool("no")`` is ``True``)."""

from __future__ import annotations

import pytest

from keras_recipes.callbacks import (
    ConvergenceStopping,
    EarlyStopping,
    GeneralizationGapStopping,
    KeepBest,
    NaNGuard,
    PrecheltStopping,
    ReduceLROnPlateau,
    TimeBudget,
)

CASES = [
    (EarlyStopping, {"restore_best_weights": "no"}, "restore_best_weights", "a bool"),
    (EarlyStopping, {"check_finite": 1}, "check_finite", "a bool"),
    (EarlyStopping, {"verbose": "abc"}, "verbose", "an integer"),
    (KeepBest, {"catch_interrupt": "false"}, "catch_interrupt", "a bool"),
    (KeepBest, {"verbose": -1}, "verbose", ">= 0"),
    (GeneralizationGapStopping, {"max_gap": 0.1, "relative": "yes"}, "relative", "a bool"),
    (GeneralizationGapStopping, {"max_gap": 0.1, "restore_best_weights": None},
     "restore_best_weights", "a bool"),
    (PrecheltStopping, {"restore_best_weights": "no"}, "restore_best_weights", "a bool"),
    (PrecheltStopping, {"verbose": "abc"}, "verbose", "an integer"),
    (NaNGuard, {"restore_optimizer": "no"}, "restore_optimizer", "a bool"),
    (NaNGuard, {"verbose": "abc"}, "verbose", "an integer"),
    (ConvergenceStopping, {"verbose": "abc"}, "verbose", "an integer"),
    (ReduceLROnPlateau, {"verbose": "abc"}, "verbose", "an integer"),
    (TimeBudget, {"seconds": 10, "verbose": "abc"}, "verbose", "an integer"),
]


@pytest.mark.parametrize(("cls", "kwargs", "name", "requirement"), CASES,
                         ids=[f"{c.__name__}-{n}" for c, _, n, _ in CASES])
def test_bad_argument_is_refused_by_name(cls, kwargs, name, requirement):
    with pytest.raises(ValueError, match=rf"Argument `{name}` must be {requirement}.*"
                                         rf"Received: {name}="):
        cls(**kwargs)


@pytest.mark.parametrize("flag", [True, False])
def test_bools_are_kept(flag):
    import numpy as np

    assert EarlyStopping(restore_best_weights=np.bool_(flag)).restore_best_weights is flag
    assert KeepBest(catch_interrupt=flag).catch_interrupt is flag


# ------------------------------------------------------------- numbers are checked one way
def _every_numeric_argument():
    """(callback class, other kwargs, argument, is_integer) for every numeric constructor
    argument of the callbacks in keras_recipes.callbacks."""
    import numpy as np

    from keras_recipes.callbacks import PreciseBatchNorm, SnapshotEnsemble

    x = np.zeros((4, 2), "float32")
    table = [
        (EarlyStopping, {}, "min_delta", False),
        (EarlyStopping, {}, "patience", True),
        (EarlyStopping, {}, "verbose", True),
        (EarlyStopping, {}, "baseline", False),
        (EarlyStopping, {}, "start_from_epoch", True),
        (EarlyStopping, {}, "stopping_threshold", False),
        (EarlyStopping, {}, "divergence_threshold", False),
        (KeepBest, {}, "min_delta", False),
        (KeepBest, {}, "verbose", True),
        (ConvergenceStopping, {}, "window", True),
        (ConvergenceStopping, {}, "tolerance", False),
        (ConvergenceStopping, {}, "oscillation_tolerance", False),
        (ConvergenceStopping, {}, "verbose", True),
        (GeneralizationGapStopping, {"max_gap": 0.1}, "patience", True),
        (GeneralizationGapStopping, {}, "max_gap", False),
        (PrecheltStopping, {}, "alpha", False),
        (PrecheltStopping, {}, "strip_length", True),
        (PrecheltStopping, {"criterion": "UP"}, "s", True),
        (ReduceLROnPlateau, {}, "factor", False),
        (ReduceLROnPlateau, {}, "patience", True),
        (ReduceLROnPlateau, {}, "cooldown", True),
        (ReduceLROnPlateau, {}, "min_delta", False),
        (ReduceLROnPlateau, {}, "min_lr", False),
        (ReduceLROnPlateau, {}, "verbose", True),
        (TimeBudget, {}, "seconds", False),
        (TimeBudget, {"seconds": 10}, "safety_factor", False),
        (TimeBudget, {"seconds": 10}, "verbose", True),
        (NaNGuard, {}, "verbose", True),
        (SnapshotEnsemble, {}, "cycle_steps", False),
        (SnapshotEnsemble, {"cycle_steps": 10}, "t_mul", False),
        (SnapshotEnsemble, {"cycle_steps": 10}, "max_snapshots", True),
        (PreciseBatchNorm, {"x": x}, "batch_size", True),
        (PreciseBatchNorm, {"x": x}, "every_n_epochs", True),
    ]
    return table


NUMERIC = _every_numeric_argument()
IDS = [f"{c.__name__}-{n}" for c, _, n, _ in NUMERIC]


@pytest.mark.parametrize(("cls", "kwargs", "name", "integer"), NUMERIC, ids=IDS)
@pytest.mark.parametrize("text", ["3", "0.5"])
def test_numeric_strings_are_refused(cls, kwargs, name, integer, text):
    requirement = "an integer" if integer else "a finite number"
    with pytest.raises(ValueError, match=rf"^Argument `{name}` must be {requirement}\. "
                                         rf"Received: {name}='{text}'$"):
        cls(**kwargs, **{name: text})


@pytest.mark.parametrize(("cls", "kwargs", "name", "integer"), NUMERIC, ids=IDS)
def test_bools_are_not_numbers(cls, kwargs, name, integer):
    with pytest.raises(ValueError, match=rf"^Argument `{name}` must be .*Received: {name}=True$"):
        cls(**kwargs, **{name: True})


INTEGERS = [row for row in NUMERIC if row[3]]


@pytest.mark.parametrize(("cls", "kwargs", "name", "integer"), INTEGERS,
                         ids=[f"{c.__name__}-{n}" for c, _, n, _ in INTEGERS])
def test_integer_arguments_refuse_fractions_and_overflow(cls, kwargs, name, integer):
    import numpy as np

    with pytest.raises(ValueError, match=rf"^Argument `{name}` must be an integer\. "
                                         rf"Received: {name}=2\.5$"):
        cls(**kwargs, **{name: 2.5})
    with pytest.raises(ValueError, match=rf"Argument `{name}` must be an integer that fits in "
                                         rf"int64 .*Received: {name}=100000000000000000000$"):
        cls(**kwargs, **{name: 10**20})
    # The same value as an int, a NumPy int or an integral float is accepted.
    for value in (3, np.int64(3), 3.0):
        assert int(getattr(cls(**kwargs, **{name: value}), name)) == 3


def test_scheduler_and_finder_refuse_numeric_strings():
    from keras_recipes.callbacks import HyperparameterScheduler
    from keras_recipes.lr_finder import LRFinder

    with pytest.raises(ValueError, match=r"Argument `schedules\['momentum'\]` must be a "
                                         r"schedule.*Received: schedules\['momentum'\]='0\.9'"):
        HyperparameterScheduler({"momentum": "0.9"})
    with pytest.raises(ValueError, match=r"^Argument `num_steps` must be an integer\. "
                                         r"Received: num_steps='20'$"):
        LRFinder(num_steps="20")
    with pytest.raises(ValueError, match=r"^Argument `verbose` must be a bool or an integer "
                                         r">= 0\. Received: verbose='1'$"):
        LRFinder(verbose="1")
    import numpy as np

    assert LRFinder(verbose=np.int64(1)).verbose == 1
    assert LRFinder(verbose=True).verbose is True


def test_reduce_lr_min_lr_that_float32_cannot_hold():
    # 1e-40 is below the smallest normal float32 (2**-126 ≈ 1.18e-38): a floor that is
    # subnormal in float32. 0 (no floor) stays accepted.
    with pytest.raises(ValueError, match=r"Argument `min_lr` must be 0 or a learning rate "
                                         r"float32 can hold.*Received: min_lr=1e-40"):
        ReduceLROnPlateau(min_lr=1e-40)
    assert ReduceLROnPlateau(min_lr=0).min_lr == 0.0
    assert ReduceLROnPlateau(min_lr=2.0**-126).min_lr == 2.0**-126
