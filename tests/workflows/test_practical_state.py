"""PracticalState: the typed fields the seven steps of practical() hand to each other, and
the order in which the steps fill and read them (without training anything)."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest

from keras_recipes.data import Dataset
from keras_recipes.workflows.practical import PracticalConfig, PracticalState
from keras_recipes.workflows.practical.context import RunContext
from keras_recipes.workflows.practical.state import FILLED_BY, Candidate, TrainedConfig
from keras_recipes.workflows.practical.steps import (
    CHECKED_STEPS,
    FINAL_STEPS,
    STEP_NAMES,
    STEPS,
    find_learning_rate,
    read_learning_curves,
    search_grid,
    train_candidates,
    train_while_improving,
)


def _trained(index: int = 1, smoothed: float | None = None) -> TrainedConfig:
    return TrainedConfig(index, 0.01, 1e-4, 15, 0.25, 0.9, net=None,
                         history={"loss": [1.0, 0.5]}, logger=None,
                         smoothed_train_loss=smoothed)


def test_a_new_state_is_empty_and_names_the_step_that_fills_each_field():
    state = PracticalState()
    assert (state.initial_loss, state.overfit_history, state.learning_rate, state.best) == (
        None, None, None, None)
    assert state.top == [] and state.trained == [] and state.findings == []
    assert PracticalState().top is not state.top  # no list shared between states
    expected = {"initial_loss": 1, "overfit_history": 2, "learning_rate": 3, "top": 4,
                "trained": 5, "best": 5}
    assert FILLED_BY == expected
    for name, number in expected.items():
        with pytest.raises(ValueError, match=re.escape(
                f"The practical state has no `{name}` yet: step {number} fills it.")):
            state.need(name)


def test_need_returns_what_a_step_filled():
    top = [Candidate(0.03, 0.0)]
    state = PracticalState(initial_loss=2.4, learning_rate=0.03, top=top)
    assert state.need("initial_loss") == 2.4 and state.need("top") is top
    assert state.need("learning_rate") == 0.03
    with pytest.raises(ValueError, match=r"Argument `name` must be one of \['best', "):
        state.need("findings")  # may rightly stay empty: read as it is, never needed


def test_candidate_and_trained_config_records():
    assert Candidate(0.03, 1e-5).as_dict() == {"learning_rate": 0.03, "weight_decay": 1e-5}
    plain = _trained()
    assert list(plain.record()) == ["index", "learning_rate", "weight_decay", "val_loss",
                                    "val_accuracy", "epochs"]
    assert _trained(smoothed=0.31).record()["smoothed_train_loss"] == 0.31
    assert plain.choice() == {"learning_rate": 0.01, "weight_decay": 1e-4, "epochs": 15,
                              "val_loss": 0.25, "val_accuracy": 0.9}


def test_the_step_tables_cover_the_seven_steps_once():
    assert sorted(STEPS) == list(range(1, 8)) == sorted(STEP_NAMES)
    assert [STEPS[n] for n in (1, 2, 3, 4)] == list(CHECKED_STEPS)
    assert [STEPS[n] for n in (5, 7, 6)] == list(FINAL_STEPS)  # step 7 runs before step 6


@pytest.fixture
def run(tmp_path):
    rng = np.random.default_rng(0)
    ds = Dataset(x=rng.normal(size=(60, 4)).astype("float32"), y=np.arange(60) % 3,
                 class_names=["a", "b", "c"], input_shape=(4,), name="tiny")

    def never():
        raise AssertionError("a step out of order built a network")

    return RunContext(ds, never, tmp_path, PracticalConfig(out=tmp_path, verbose=0),
                      io.StringIO())


@pytest.mark.parametrize("step, number", [
    (find_learning_rate, 1), (search_grid, 3), (train_candidates, 4),
    (train_while_improving, 5), (read_learning_curves, 5),
])
def test_a_step_out_of_order_fails_before_any_work(run, tmp_path, step, number):
    with pytest.raises(ValueError, match=f"step {number} fills it. Run the steps in order"):
        step(run, PracticalState())
    assert list(tmp_path.iterdir()) == [] and run.figures == {} and run.tables == {}

