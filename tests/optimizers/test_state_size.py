"""state_size against the course notes' memory table (seed 000)."""

from __future__ import annotations

import keras
import pytest

from keras_recipes.optimizers import Lookahead, NesterovRMSprop, RAdam, Yogi, state_size

# The notes' table: Batch/SGD D, momentum/Nesterov/Adagrad/RMSprop 2D, RMSprop+momentum,
# RMSprop+Nesterov, Adam 3D.
SEED_TABLE = {
    "SGD": (lambda: keras.optimizers.SGD(), "D"),
    "SGD + momentum": (lambda: keras.optimizers.SGD(momentum=0.9), "2D"),
    "SGD + Nesterov": (lambda: keras.optimizers.SGD(momentum=0.9, nesterov=True), "2D"),
    "Adagrad": (lambda: keras.optimizers.Adagrad(), "2D"),
    "RMSprop": (lambda: keras.optimizers.RMSprop(), "2D"),
    "RMSprop + momentum": (lambda: keras.optimizers.RMSprop(momentum=0.9), "3D"),
    "RMSprop + Nesterov": (lambda: NesterovRMSprop(), "3D"),
    "Adam": (lambda: keras.optimizers.Adam(), "3D"),
    "Yogi": (lambda: Yogi(), "3D"),
}


@pytest.fixture
def model():
    return keras.Sequential([keras.Input((5,)), keras.layers.Dense(4), keras.layers.Dense(2)])


def test_reproduces_the_seed_memory_table(model):
    df = state_size({k: f() for k, (f, _) in SEED_TABLE.items()}, model)
    assert df["memory"].tolist() == [m for _, m in SEED_TABLE.values()]
    n_params = 5 * 4 + 4 + 4 * 2 + 2
    assert (df["parameters"] == n_params).all()
    assert df.set_index("optimizer").loc["Adam", "state_elements"] == 2 * n_params
    assert df.set_index("optimizer").loc["Adam", "slots"] == "momentum, velocity"


def test_keras_extras_are_reported(model):
    df = state_size({
        "centered": keras.optimizers.RMSprop(momentum=0.9, centered=True),
        "amsgrad": keras.optimizers.Adam(amsgrad=True),
        "ema": keras.optimizers.SGD(use_ema=True),
        "radam": RAdam(),
        "lookahead": Lookahead(keras.optimizers.Adam()),
    }, model).set_index("optimizer")
    assert df.loc["centered", "memory"] == "4D"
    assert df.loc["amsgrad", "memory"] == "4D"
    assert df.loc["ema", "slots"] == "average"
    assert df.loc["radam", "memory"] == "3D"
    assert df.loc["lookahead", "memory"] == "4D"
    assert "slow" in df.loc["lookahead", "slots"]


def test_does_not_build_the_given_optimizer(model):
    opt = keras.optimizers.Adam()
    state_size(opt, model)
    assert not opt.built


def test_bad_input(model):
    with pytest.raises(ValueError, match="Argument `optimizer` must be"):
        state_size("adam", model)
    with pytest.raises(ValueError, match="Argument `model` must be a keras.Model"):
        state_size(keras.optimizers.SGD(), "model")
