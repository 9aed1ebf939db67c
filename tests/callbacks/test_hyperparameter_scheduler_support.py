"""HyperparameterScheduler: every supported optimizer/hyperparameter pair, the refusals,
exact resumption, and a `.keras` file that reloads in a fresh process."""

from __future__ import annotations

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_recipes.callbacks import HyperparameterScheduler
from keras_recipes.callbacks.hyperparameter_scheduler import SCHEDULABLE_HYPERPARAMETERS
from keras_recipes.optimizers import Lookahead, NesterovRMSprop, RAdam, Yogi
from tests.callbacks.test_resume import _Interrupt, _StopAfter

# (value for the first two steps, value afterwards) of each hyperparameter.
_VALUES = {
    "momentum": (0.9, 0.3),
    "beta_1": (0.9, 0.4),
    "beta_2": (0.999, 0.8),
    "rho": (0.9, 0.4),
    "epsilon": (1e-7, 0.3),
    "weight_decay": (0.05, 0.8),
}
_FACTORIES = {
    keras.optimizers.SGD: lambda **kw: keras.optimizers.SGD(0.05, **kw),
    keras.optimizers.RMSprop: lambda **kw: keras.optimizers.RMSprop(0.01, **kw),
    keras.optimizers.Adam: lambda **kw: keras.optimizers.Adam(0.05, **kw),
    keras.optimizers.AdamW: lambda **kw: keras.optimizers.AdamW(0.05, **kw),
    keras.optimizers.Adamax: lambda **kw: keras.optimizers.Adamax(0.05, **kw),
    keras.optimizers.Nadam: lambda **kw: keras.optimizers.Nadam(0.05, **kw),
    keras.optimizers.Lion: lambda **kw: keras.optimizers.Lion(0.01, **kw),
    keras.optimizers.Adadelta: lambda **kw: keras.optimizers.Adadelta(1.0, **kw),
    keras.optimizers.Adagrad: lambda **kw: keras.optimizers.Adagrad(0.1, **kw),
    Yogi: lambda **kw: Yogi(0.05, **kw),
    NesterovRMSprop: lambda **kw: NesterovRMSprop(0.01, **kw),
    RAdam: lambda **kw: RAdam(0.05, **kw),
}
N, D = 16, 3


def _data():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(N, D)).astype("float32")
    y = np.stack([x @ [1.0, -2.0, 0.5], x @ [0.3, 0.1, -1.0]], axis=1).astype("float32")
    return x, y


def _model(optimizer):
    model = keras.Sequential([keras.Input((D,)), keras.layers.Dense(2)])
    model.layers[0].set_weights([np.linspace(-0.3, 0.3, 2 * D, dtype="float32").reshape(D, 2),
                                 np.array([0.1, -0.1], "float32")])
    model.compile(optimizer=optimizer, loss="mse")
    return model


def _fit(model, steps, callbacks=()):
    x, y = _data()
    model.fit(x, y, batch_size=N, epochs=steps, shuffle=False, verbose=0,
              callbacks=list(callbacks))
    return [w.astype("float64") for w in model.get_weights()]


def test_the_table_lists_every_test_case():
    assert set(_FACTORIES) == set(SCHEDULABLE_HYPERPARAMETERS)


# The optimizers used most (and one of ours) in every lane; the others in `make test-all`.
_EVERY_LANE = (keras.optimizers.SGD, keras.optimizers.RMSprop, keras.optimizers.Adam, Yogi)


@pytest.mark.backend
@pytest.mark.parametrize("cls", [
    pytest.param(c, id=c.__name__, marks=() if c in _EVERY_LANE else pytest.mark.slow)
    for c in _FACTORIES])
def test_every_listed_hyperparameter_is_read_at_every_step(cls):
    """All the listed hyperparameters of an optimizer scheduled together, switching after
    two steps, give the weights of Keras's own optimizer given the same values as floats
    (created with the first ones, then assigned the second ones and its step rebuilt)."""
    names = SCHEDULABLE_HYPERPARAMETERS[cls]
    first = {n: _VALUES[n][0] for n in names}
    schedules = {n: keras.optimizers.schedules.PiecewiseConstantDecay([1], list(_VALUES[n]))
                 for n in names}  # steps 0 and 1: the first value; from step 2: the second
    scheduled = _fit(_model(_FACTORIES[cls](**first)), 4,
                     [HyperparameterScheduler(schedules)])

    reference = _model(_FACTORIES[cls](**first))
    _fit(reference, 2)
    for n in names:
        setattr(reference.optimizer, n, _VALUES[n][1])
    reference.make_train_function(force=True)
    expected = _fit(reference, 2)
    for a, b in zip(scheduled, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)

    unchanged = _fit(_model(_FACTORIES[cls](**first)), 4)  # the schedules matter
    assert max(np.abs(a - b).max() for a, b in zip(scheduled, unchanged, strict=True)) > 1e-4


def _fit_raises(model, scheduler, match):
    x, y = _data()
    weights = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match=match):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[scheduler])
    for before, after in zip(weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)  # refused before any step


def test_other_optimizers_are_refused_before_training():
    ftrl = keras.optimizers.Ftrl(0.1)
    _fit_raises(_model(ftrl), HyperparameterScheduler({"l1_regularization_strength": 0.1}),
                r"cannot schedule the hyperparameters of Ftrl: it supports \['Adadelta', "
                r".*'SGD', 'Yogi'\].*Received: optimizer=Ftrl")
    _fit_raises(_model(Lookahead(keras.optimizers.SGD(0.1, momentum=0.9))),
                HyperparameterScheduler({"momentum": 0.5}), "Received: optimizer=Lookahead")

    class MySGD(keras.optimizers.SGD):  # a subclass may read `momentum` differently
        pass

    _fit_raises(_model(MySGD(0.1, momentum=0.9)), HyperparameterScheduler({"momentum": 0.5}),
                "Received: optimizer=MySGD")


def test_names_read_outside_the_step_are_refused():
    _fit_raises(_model(RAdam(0.01)), HyperparameterScheduler({"beta_1": 0.5}),
                r"\['beta_1'\] of RAdam cannot be scheduled.*"
                r"\['epsilon', 'weight_decay'\]")
    _fit_raises(_model(keras.optimizers.Adagrad(0.1)),
                HyperparameterScheduler({"initial_accumulator_value": 0.5}),
                r"\['initial_accumulator_value'\] of Adagrad cannot be scheduled")
    _fit_raises(_model(keras.optimizers.Adam(0.01)), HyperparameterScheduler({"momentum": 0.9}),
                r"Unknown hyperparameter\(s\) \['momentum'\] for Adam\. Its schedulable "
                r"hyperparameters are: \['beta_1', 'beta_2', 'epsilon', 'weight_decay'\]")
    _fit_raises(_model(keras.optimizers.SGD(0.1)), HyperparameterScheduler({"momentum": 0.9}),
                r"created with momentum=0.*Received: momentum=0")
    negative = keras.optimizers.schedules.PolynomialDecay(-0.5, 10, 0.9)
    _fit_raises(_model(keras.optimizers.SGD(0.1, momentum=0.9)),
                HyperparameterScheduler({"momentum": negative}),
                r"`schedules\['momentum'\]` must be >= 0 and <= 1\. "
                r"Received: schedules\['momentum'\]=-0\.5")


# ------------------------------------------------------------------------- resumption
def _resumable_run(factory, schedules, callbacks, epochs=4):
    keras.utils.set_random_seed(0)
    model = _model(factory())
    x, y = _data()
    model.fit(x, y, batch_size=4, epochs=epochs, shuffle=False, verbose=0,
              callbacks=[HyperparameterScheduler(schedules), *callbacks])
    return model.get_weights()


@pytest.mark.backend
@pytest.mark.parametrize("case", ["SGD", "Adam"])
def test_interrupted_and_resumed_run_ends_with_the_same_weights(case, tmp_path):
    from keras_recipes.schedules import CyclicLR

    if case == "SGD":
        factory = lambda: keras.optimizers.SGD(0.05, momentum=0.9)  # noqa: E731
        schedules = {"momentum": CyclicLR(0.5, 0.95, 3), "weight_decay": 0.01}
    else:
        factory = lambda: keras.optimizers.Adam(0.02)  # noqa: E731
        schedules = {"beta_1": CyclicLR(0.5, 0.9, 3), "beta_2": CyclicLR(0.9, 0.99, 5)}
    reference = _resumable_run(factory, schedules, [])  # 4 epochs of 4 steps
    backup = str(tmp_path / "backup")
    with pytest.raises(_Interrupt):
        _resumable_run(factory, schedules,
                       [keras.callbacks.BackupAndRestore(backup), _StopAfter(1)])
    resumed = _resumable_run(factory, schedules, [keras.callbacks.BackupAndRestore(backup)])
    for a, b in zip(resumed, reference, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------- .keras in a new process
_RELOAD = """
import sys
import numpy as np
import keras_recipes  # noqa: F401  (the only import the file needs)
import keras
model = keras.saving.load_model(sys.argv[1])
x, expected = np.load(sys.argv[2]), np.load(sys.argv[3])
np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-6, atol=1e-6)
config = model.optimizer.get_config()
assert type(config["momentum"]) is float and config["momentum"] == 0.95, config
print("reloaded", type(model.optimizer.learning_rate).__name__)
"""


@pytest.mark.slow  # heavy: `make test-all`
@pytest.mark.backend
@pytest.mark.integration  # a second interpreter: ~10 s
def test_keras_file_reloads_in_a_fresh_process(tmp_path):
    from keras_recipes.schedules import OneCycle

    lr = OneCycle(0.05, total_steps=8)
    model = _model(keras.optimizers.SGD(lr, momentum=0.95))
    _fit(model, 8, [HyperparameterScheduler({"momentum": lr.momentum_schedule()})])
    x, _ = _data()
    paths = [str(tmp_path / n) for n in ("m.keras", "x.npy", "p.npy")]
    model.save(paths[0])
    np.save(paths[1], x)
    np.save(paths[2], model.predict(x, verbose=0))
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend(), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", _RELOAD, *paths], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "reloaded" in done.stdout
