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
