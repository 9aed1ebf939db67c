"""grid_search: results frame, divergence recorded as failure, library callbacks, errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_recipes.callbacks import EarlyStopping, NaNGuard
from keras_recipes.diagnostics import DiagnosticLogger
from keras_recipes.tuning import grid_search, make_optimizer
from tests.tuning._models import tiny_model

pytestmark = pytest.mark.integration


@pytest.mark.slow  # heavy: `make test-all`
def test_diverging_trials_fail_without_stopping_the_search(tiny_digits):
    x, y = tiny_digits
    # Three divergent trials in a row: plain KerasTuner aborts the search at the third
    # consecutive failure (max_consecutive_failed_trials=3, keras-tuner #442).
    space = {"learning_rate": (1e30, 0.5, 0.01), "weight_decay": (0.0, 1e-4, 1e-3)}
    frame, tuner = grid_search(tiny_model, x, y, space=space, objective="val_accuracy",
                               max_trials=5, return_tuner=True,
                               callbacks=[EarlyStopping(patience=1), NaNGuard(),
                                          DiagnosticLogger(probe=(x[:32], y[:32]))])
    assert len(frame) == 5
    assert list(frame.columns[:5]) == ["trial_id", "status", "learning_rate", "weight_decay",
                                       "val_accuracy"]
    failed = frame[frame["status"] == "FAILED"]
    assert len(failed) == 3 and failed["diverged"].all()
    assert (failed["learning_rate"] == 1e30).all()
    assert sorted(failed["weight_decay"]) == [0.0, 1e-4, 1e-3]
    assert failed["message"].str.match(r"diverged: `(val_)?loss` became (nan|inf)").all()
    assert failed["val_accuracy"].isna().all()
    # Completed trials come first, best (highest val_accuracy) first; failed ones last.
    done = frame.head(2)
    assert (done["status"] == "COMPLETED").all() and not done["diverged"].any()
    assert (done["learning_rate"] == 0.5).all()
    assert done["val_accuracy"].is_monotonic_decreasing
    assert np.isfinite(done["val_accuracy"]).all() and (done["seconds"] > 0).all()
    assert frame.attrs == {"objective": "val_accuracy", "direction": "max",
                           "seconds_source": "measured"}
    best = tuner.oracle.get_best_trials(1)[0]
    assert frame.loc[0, "trial_id"] == best.trial_id
    assert frame.loc[0, "val_accuracy"] == pytest.approx(best.score)


@pytest.mark.backend
def test_sgd_weight_decay_first_step_is_the_decoupled_shrink():
    # With a zero gradient, one SGD step with weight decay λ is θ ← θ − ε·λ·θ (hand
    # formula). Later steps differ from an L2 penalty's: see tests/tuning/test_penalty.py.
    theta = np.array([1.0, -2.0, 4.0], dtype="float32")
    var = keras.Variable(theta)
    opt = make_optimizer("sgd", 0.1, 0.01)
    opt.apply_gradients([(keras.ops.zeros(3), var)])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(var), theta * (1 - 0.1 * 0.01),
                               rtol=1e-6)
    assert opt.nesterov and opt.momentum == pytest.approx(0.9)
    assert make_optimizer("adam", 0.1, 0.0).weight_decay is None


@pytest.mark.slow  # heavy: `make test-all`
def test_repeated_errors_stop_the_search(tiny_digits):
    x, y = tiny_digits
    calls = []

    def broken(hp):
        calls.append(1)
        model = tiny_model()
        model.compile(optimizer="sgd", loss="mse")  # wrong loss for 10 classes of labels
        return keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])

    with pytest.raises(RuntimeError, match="2 trials in a row raised an error"):
        grid_search(broken, x, y, space={"learning_rate": (0.1, 0.2, 0.3)},
                    max_consecutive_errors=2)


@pytest.mark.parametrize("kwargs, match", [
    ({"model": "transformer"}, r"Argument `model` must be one of"),
    ({"model": 3}, r"Argument `model` must be 'mlp', 'cnn' or a callable"),
    ({"space": {"learning_rate": (0.1,)}, "optimizer": "lion"},
     r"Argument `optimizer` must be one of"),
    ({"epochs": 0}, r"Argument `epochs` must be >= 1"),
    ({"objective": ""}, r"Argument `objective` must be a metric name"),
])
def test_bad_arguments_fail_before_training(tiny_digits, kwargs, match):
    x, y = tiny_digits
    kwargs = {"model": tiny_model, **kwargs}
    with pytest.raises(ValueError, match=match):
        grid_search(kwargs.pop("model"), x, y, **kwargs)


def test_bad_data_fails_before_training(tiny_digits, tmp_path):
    x, y = tiny_digits
    with pytest.raises(ValueError, match="same length"):
        grid_search(tiny_model, x, y[:10])
    with pytest.raises(ValueError, match="Argument `y` must hold the targets"):
        grid_search(tiny_model, x, None)
    path = tmp_path / "file.txt"
    path.write_text("x")
    with pytest.raises(ValueError, match="Argument `directory` must be a folder"):
        grid_search(tiny_model, x, y, directory=path)
