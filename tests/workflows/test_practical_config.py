"""PracticalConfig (frozen, checked once, the settings of summary.json) and the seven step
functions of practical(), each called on its own."""

from __future__ import annotations

import dataclasses
import io
import json
import math
import re

import keras
import numpy as np
import pytest

from keras_recipes.data import Dataset
from keras_recipes.workflows import PracticalConfig, practical
from keras_recipes.workflows.practical.context import RunContext
from keras_recipes.workflows.practical.state import Candidate, PracticalState
from keras_recipes.workflows.practical.steps import (
    CONTINUE_CODES,
    check_initial_loss,
    find_learning_rate,
    overfit_small_sample,
    read_learning_curves,
    search_grid,
    train_candidates,
    train_while_improving,
)
from tests.helpers import small_net

# The "config" of summary.json, as practical() has always written it (key order included).
SUMMARY_DEFAULTS = {
    "seed": 0, "optimizer": "adam", "penalty": "decoupled", "standardize": True,
    "initial_loss_tolerance": 0.5, "sample_per_class": 2, "overfit_lr": 0.01,
    "overfit_epochs": 200, "overfit_accuracy": 1.0, "lr_candidates": [0.1, 0.01, 0.001, 0.0001],
    "lr_steps": 100, "min_loss_drop": 0.1, "step3_weight_decay": 0.0001,
    "lr_factors": [1 / 3, 1.0, 3.0], "weight_decays": [0.0001, 0.00001, 0.0], "grid_epochs": 2,
    "objective": "val_loss", "top_k": 2, "train_epochs": 15, "max_loops": 1, "batch_size": 32,
    "verbose": 1, "loss_every": 10, "loss_smoothing": 0.9,
}
SUMMARY_KEYS = ["seed", "optimizer", "penalty", "standardize", "initial_loss_tolerance",
                "sample_per_class", "overfit_lr", "overfit_epochs", "overfit_accuracy",
                "lr_candidates", "lr_steps", "min_loss_drop", "step3_weight_decay", "lr_factors",
                "weight_decays", "grid_epochs", "objective", "top_k", "train_epochs",
                "max_loops", "batch_size", "verbose", "loss_every", "loss_smoothing"]


@pytest.fixture
def digits200(digits):
    return Dataset(x=digits.x[:200] / 16.0, y=digits.y[:200], class_names=digits.class_names,
                   input_shape=digits.input_shape, name="digits200")


def test_a_config_cannot_be_changed(tmp_path):
    config = PracticalConfig(out=tmp_path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.top_k = 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.lr_factors = (1.0,)
    assert config.top_k == 2 and config.lr_factors == (1 / 3, 1.0, 3.0)


BAD_SETTINGS = [
    ({"seed": -1}, "Argument `seed` must be >= 0. Received: seed=-1"),
    ({"seed": 1.5}, "Argument `seed` must be an integer. Received: seed=1.5"),
    ({"optimizer": "lion"}, "Argument `optimizer` must be one of {'sgd', 'adam', 'adamw', "
                            "'rmsprop'}. Received: optimizer='lion'"),
    ({"penalty": "l1"}, "Argument `penalty` must be one of {'decoupled', 'l2'}. "
                        "Received: penalty='l1'"),
    ({"sample_per_class": 0}, "Argument `sample_per_class` must be >= 1. "
                              "Received: sample_per_class=0"),
    ({"overfit_epochs": 0}, "Argument `overfit_epochs` must be >= 1. Received: overfit_epochs=0"),
    ({"lr_steps": 2.5}, "Argument `lr_steps` must be an integer. Received: lr_steps=2.5"),
    ({"lr_steps": 5}, "Argument `lr_steps` must be >= 10. Received: lr_steps=5"),
    ({"grid_epochs": 0}, "Argument `grid_epochs` must be >= 1. Received: grid_epochs=0"),
    ({"top_k": 0}, "Argument `top_k` must be >= 1. Received: top_k=0"),
    ({"train_epochs": -3}, "Argument `train_epochs` must be >= 1. Received: train_epochs=-3"),
    ({"batch_size": 0}, "Argument `batch_size` must be >= 1. Received: batch_size=0"),
    ({"max_loops": -1}, "Argument `max_loops` must be >= 0. Received: max_loops=-1"),
    ({"initial_loss_tolerance": 0}, "Argument `initial_loss_tolerance` must be > 0. "
                                    "Received: initial_loss_tolerance=0"),
    ({"overfit_lr": 0.0}, "Argument `overfit_lr` must be > 0. Received: overfit_lr=0.0"),
    ({"overfit_accuracy": 1.5}, "Argument `overfit_accuracy` must be > 0 and <= 1. "
                                "Received: overfit_accuracy=1.5"),
    ({"min_loss_drop": 1.0}, "Argument `min_loss_drop` must be >= 0 and < 1. "
                             "Received: min_loss_drop=1.0"),
    ({"step3_weight_decay": -1e-4}, "Argument `step3_weight_decay` must be >= 0. "
                                    "Received: step3_weight_decay=-0.0001"),
    ({"lr_candidates": ()}, "Argument `lr_candidates` must not be empty. "
                            "Received: lr_candidates=()"),
    ({"lr_factors": [1.0, 0.0]}, "Argument `lr_factors` must be > 0. Received: lr_factors=0.0"),
    ({"weight_decays": (-1e-5,)}, "Argument `weight_decays` must be >= 0. "
                                  "Received: weight_decays=-1e-05"),
    ({"model": "resnet"}, "Argument `model` must be one of {'mlp', 'cnn'}. "
                          "Received: model='resnet'"),
    ({"model": 3}, "Argument `model` must be 'mlp', 'cnn' or a callable"),
]


@pytest.mark.parametrize("settings, message", BAD_SETTINGS,
                         ids=[next(iter(s)) + str(i) for i, (s, _) in enumerate(BAD_SETTINGS)])
def test_a_bad_setting_fails_before_any_data_is_loaded(tmp_path, monkeypatch, settings,
                                                       message):
    import keras_recipes.data.dataset as dataset_module

    def no_loading(*args, **kwargs):
        raise AssertionError("the data set was loaded")

    monkeypatch.setattr(dataset_module, "as_classification_dataset", no_loading)
    out = tmp_path / "never"
    with pytest.raises(ValueError, match=re.escape(message)):
        PracticalConfig(out=out, **settings)
    with pytest.raises(ValueError, match=re.escape(message)):
        practical(out=out, verbose=0, **settings)
    assert not out.exists()


def test_out_must_be_a_folder(tmp_path):
    file = tmp_path / "file.txt"
    file.write_text("x")
    with pytest.raises(ValueError, match="Argument `out` must be a folder"):
        PracticalConfig(out=file)
    with pytest.raises(ValueError, match="Argument `out` must be a folder"):
        practical(out=file, verbose=0)


def test_replace_checks_again(tmp_path):
    config = PracticalConfig(out=tmp_path, top_k=1)
    assert dataclasses.replace(config, top_k=3).top_k == 3
    with pytest.raises(ValueError, match=re.escape("Argument `top_k` must be >= 1.")):
        dataclasses.replace(config, top_k=0)


def test_summary_dict_holds_the_settings_summary_json_always_held(tmp_path):
    summary = PracticalConfig(out=tmp_path).summary_dict()
    assert list(summary) == SUMMARY_KEYS
    assert summary == SUMMARY_DEFAULTS
    assert json.loads(json.dumps(summary)) == summary


def test_settings_are_normalised(tmp_path):
    config = PracticalConfig(out=str(tmp_path / "run"), seed=2.0, top_k=1.0, verbose=True,
                             lr_factors=[1, 3], lr_candidates=[1e-2], weight_decays=[0],
                             drop=["id", "date"])
    assert config.out == tmp_path / "run" and not (tmp_path / "run").exists()
    assert config.lr_factors == (1.0, 3.0) and config.weight_decays == (0.0,)
    assert config.drop == ("id", "date")
    summary = config.summary_dict()
    assert summary["seed"] == 2 and type(summary["seed"]) is int
    assert summary["top_k"] == 1 and type(summary["top_k"]) is int
    assert summary["verbose"] == 1 and type(summary["verbose"]) is int
    assert summary["lr_factors"] == [1.0, 3.0]
    assert all(type(v) is float for v in summary["lr_factors"] + summary["weight_decays"])


def test_practical_refuses_a_config_of_another_type(tmp_path):
    with pytest.raises(ValueError, match="Argument `config` must be a PracticalConfig"):
        practical(config={"top_k": 1}, out=tmp_path / "never", verbose=0)
    assert not (tmp_path / "never").exists()


def test_step1_alone_gives_ln_c(digits200, tmp_path):
    config = PracticalConfig(out=tmp_path, seed=3, verbose=0)
    run = RunContext(digits200, lambda: small_net(digits200.input_shape, 10, 16), tmp_path,
                     config, io.StringIO())
    state = PracticalState()
    step = check_initial_loss(run, state)
    expected = math.log(10)  # ln C for C = 10 classes
    assert step.number == 1 and step.passed
    assert step.details["expected"] == pytest.approx(expected, rel=1e-12)
    assert abs(step.details["initial_loss"] - expected) <= 0.5 * expected
    assert state.initial_loss == step.details["initial_loss"]
    # The same initial weights (seed 3), the cross-entropy in NumPy.
    keras.utils.set_random_seed(3)
    probs = np.asarray(
        small_net(digits200.input_shape, 10, 16).predict(run.train[0], verbose=0),
        dtype=np.float64)
    loss = -np.mean(np.log(probs[np.arange(len(probs)), run.train[1]]))
    assert step.details["initial_loss"] == pytest.approx(loss, rel=1e-4)
    assert list(tmp_path.iterdir()) == []  # step 1 writes nothing


@pytest.mark.slow  # tests/workflows/test_practical.py runs every step in make test
@pytest.mark.integration
def test_steps_2_to_7_alone(digits200, tmp_path):
    config = PracticalConfig(out=tmp_path, verbose=0, sample_per_class=1, overfit_epochs=5,
                             lr_candidates=(3e-2,), lr_steps=10, lr_factors=(1.0, 2.0),
                             weight_decays=(0.0,), grid_epochs=1, top_k=1, train_epochs=2,
                             max_loops=0)
    run = RunContext(digits200, lambda: small_net(digits200.input_shape, 10, 16), tmp_path,
                     config, io.StringIO())
    state = PracticalState()
    second = overfit_small_sample(run, state)
    assert second.number == 2 and second.details["examples"] == 10  # one per class
    assert len(state.overfit_history["loss"]) == second.details["epochs"] <= 5
    assert (state.findings != []) == (not second.passed)  # the doctor reads a failed step 2

    state.initial_loss = math.log(10)
    third = find_learning_rate(run, state)
    assert third.number == 3 and third.details["iterations"] == 10
    assert [r["loss_before"] for r in third.details["candidates"]] == \
        [pytest.approx(math.log(10))] * len(third.details["candidates"])
    assert state.learning_rate == third.details["learning_rate"]
    assert (tmp_path / "lr_finder.csv").is_file()
    assert (tmp_path / "figures" / "lr_finder.png").is_file()

    state.learning_rate = 0.03
    fourth = search_grid(run, state)  # 0.03 × (1, 2)
    assert fourth.passed and fourth.details["trials"] == 2
    assert fourth.details["space"] == {"learning_rate": [0.03, 0.06], "weight_decay": [0.0]}
    assert len(state.top) == 1 and (tmp_path / "grid.csv").is_file()
    assert fourth.details["top"] == [c.as_dict() for c in state.top]

    state.top = [Candidate(0.03, 0.0), Candidate(0.01, 0.0)]
    fifth = train_candidates(run, state)
    assert [t.index for t in state.trained] == [1, 2] and len(fifth.details["configs"]) == 2
    best = state.best
    assert best.val_accuracy == max(t.val_accuracy for t in state.trained)
    assert best in state.trained
    assert len(best.history["loss"]) == 2 == best.epochs
    assert fifth.details["configs"][0]["learning_rate"] == 0.03
    assert (tmp_path / "config2" / "history.csv").is_file()

    seventh = train_while_improving(run, state)  # max_loops=0: reads, never trains
    assert seventh.number == 7 and seventh.details["loops"] == [] and best.epochs == 2
    asked = any(f.code in CONTINUE_CODES for f in state.findings)
    run.config = dataclasses.replace(config, max_loops=1)
    seventh = train_while_improving(run, state)
    assert len(seventh.details["loops"]) == (1 if asked else 0)
    assert best.epochs == len(best.history["loss"]) == (4 if asked else 2)
    assert state.best is best  # trained longer in place

    run.config = config
    sixth = read_learning_curves(run, state)
    assert sixth.number == 6 and sixth.details["codes"] == [f.code for f in state.findings]
    assert list(run.figures) == ["lr_finder", "learning_curves_1", "learning_curves_2",
                                 "activations"]
    for rel in run.figures.values():
        assert (tmp_path / rel).is_file(), rel


def test_a_users_callable_is_called_with_shape_and_classes_and_standardised_in_front(tmp_path):
    """practical() calls a user's network as model(input_shape, num_classes), even when it
    takes **kwargs, and puts the training split's standardisation in front of it."""
    import keras

    from keras_recipes.data import load_dataset
    from keras_recipes.workflows.practical.workflow import _builder

    seen = []

    def net(input_shape, num_classes, **kwargs):
        seen.append(kwargs)
        inputs = keras.Input(input_shape)
        return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(inputs))

    ds = load_dataset("digits")
    model = _builder(PracticalConfig(model=net, out=tmp_path / "run"), ds)()
    assert seen and all(kwargs == {} for kwargs in seen)
    assert isinstance(model.layers[1], keras.layers.Normalization)
