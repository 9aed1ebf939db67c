"""DiagnosticLogger and Probe on two-input models fed lists and dicts of arrays."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_recipes.diagnostics import DiagnosticLogger
from keras_recipes.diagnostics.data_facts import data_facts
from keras_recipes.diagnostics.inputs import num_rows, ordered_for_model, take
from keras_recipes.diagnostics.probe import Probe

pytestmark = pytest.mark.backend


def _two_input_model():
    a = keras.Input((40,), name="pixels_a")
    b = keras.Input((24,), name="pixels_b")
    h = keras.layers.Dense(16, activation="relu", name="hidden")(
        keras.layers.Concatenate()([a, b]))
    out = keras.layers.Dense(10, activation="softmax", name="head")(h)
    model = keras.Model([a, b], out)
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    return model


def _split(x):
    return x[:, :40], x[:, 40:]


def _stat(frame, epoch, layer, stat):
    rows = frame[(frame.epoch == epoch) & (frame.layer == layer) & (frame.stat == stat)]
    assert len(rows) == 1, (epoch, layer, stat)
    return float(rows.value.iloc[0])


@pytest.mark.parametrize("as_dict", [False, True])
def test_two_input_model_with_list_or_dict_data(tiny_digits, seed, as_dict):
    x, y = tiny_digits
    xa, xb = _split(x)
    model = _two_input_model()
    inputs = {"pixels_b": xb, "pixels_a": xa} if as_dict else [xa, xb]
    probs = np.asarray(model.predict([xa[:32], xb[:32]], verbose=0), dtype="float64")
    expected_loss = -np.mean(np.log(probs[np.arange(32), y[:32]]))
    logger = DiagnosticLogger(data=(inputs, y), validation_data=(take(inputs, 50), y[:50]),
                              probe_size=32)
    model.fit(inputs, y, epochs=2, batch_size=50, verbose=0, callbacks=[logger])
    s, f = logger.summary, logger.frame
    assert s["train_size"] == 200 and s["val_size"] == 50 and s["probe_size"] == 32
    assert s["initial_loss"] == pytest.approx(expected_loss, rel=1e-4)
    per_input = s["input_stats_per_input"]
    key_a = "pixels_a" if as_dict else "0"
    assert per_input[key_a]["mean"] == pytest.approx(xa.mean(), rel=1e-6)
    assert s["input_stats"]["std"] == pytest.approx(
        np.concatenate([xa.ravel(), xb.ravel()]).std(), rel=1e-6)
    for layer in ("hidden", "head"):
        assert _stat(f, 2, layer, "grad_norm") > 0
        assert _stat(f, 2, layer, "update_norm") > 0
    assert 0 <= _stat(f, 2, "hidden", "act_dead_fraction") <= 1
    assert not [n for n in s.get("notes", []) if "skipped" in n]


def test_probe_given_as_dict_in_any_key_order_matches_the_list_form(tiny_digits, seed):
    x, y = tiny_digits
    xa, xb = _split(x)
    model = _two_input_model()
    probs = np.asarray(model.predict([xa[:16], xb[:16]], verbose=0), dtype="float64")
    expected = -np.mean(np.log(probs[np.arange(16), y[:16]]))
    as_list = Probe(model, [xa[:16], xb[:16]], y[:16]).measure()
    as_dict = Probe(model, {"pixels_b": xb[:16], "pixels_a": xa[:16]}, y[:16]).measure()
    assert float(as_list["loss"]) == pytest.approx(expected, rel=1e-5)
    assert float(as_dict["loss"]) == pytest.approx(expected, rel=1e-5)
    np.testing.assert_allclose(as_dict["layers"]["hidden"]["grad_norm"],
                               as_list["layers"]["hidden"]["grad_norm"], rtol=1e-6)
    assert ordered_for_model(model, {"pixels_b": 1, "pixels_a": 0}) == [0, 1]


def test_multi_input_probe_of_the_wrong_shape_warns(tiny_digits, seed):
    x, y = tiny_digits
    xa, xb = _split(x)
    logger = DiagnosticLogger(probe=([xa[:8], xa[:8]], y[:8]))
    with pytest.warns(RuntimeWarning, match=r"must hold inputs of shape \[\(n, 40\), \(n, 24\)\]"):
        _two_input_model().fit([xa, xb], y, epochs=1, verbose=0, callbacks=[logger])


def test_structured_pairs_are_checked_at_construction():
    xa, xb = np.zeros((10, 3)), np.zeros((9, 2))
    with pytest.raises(ValueError, match="Argument `data` must hold arrays with the same"):
        DiagnosticLogger(data=([xa, xb], np.zeros(10)))
    with pytest.raises(ValueError, match="Argument `data` must hold as many targets"):
        DiagnosticLogger(data=({"a": xa}, np.zeros(4)))
    assert num_rows("x", {"a": xa, "b": np.zeros((10, 1))}) == 10


def test_data_facts_of_a_list_flags_any_unnormalised_input():
    rng = np.random.default_rng(0)
    good, raw = rng.normal(size=(50, 3)), rng.normal(size=(50, 2)) * 255
    facts = data_facts([good, raw], np.arange(50) % 2)
    assert facts["input_stats_per_input"]["0"]["normalised"] is True
    assert facts["input_stats_per_input"]["1"]["normalised"] is False
    assert facts["input_stats"]["normalised"] is False
    assert facts["input_stats"]["max"] == pytest.approx(max(good.max(), raw.max()))
    assert facts["class_counts"] == {0: 25, 1: 25}
