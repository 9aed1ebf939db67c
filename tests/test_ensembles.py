"""ensembles.average / MemberAverage / evaluate_ensemble against NumPy averages."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_recipes.ensembles import MemberAverage, average, evaluate_ensemble
from tests.analysis._models import linear_classifier, np_softmax


@pytest.fixture(scope="module")
def members():
    rng = np.random.default_rng(2)
    params = [(rng.normal(size=(5, 3)), rng.normal(size=3)) for _ in range(3)]
    x = rng.normal(size=(40, 5)).astype("float32")
    y = rng.integers(0, 3, size=40)
    return params, x, y


def _models(params, activation="softmax", name=None):
    out = []
    for w, b in params:
        m = linear_classifier(w, b, activation=activation)
        if name:
            m.name = name  # same name for every member, as reloaded checkpoints have
        out.append(m)
    return out


def test_average_of_probabilities_matches_numpy(members, model_roundtrip):
    params, x, _ = members
    models = _models(params, name="same")
    ensemble = average(models)
    probs = [np_softmax(x.astype("float64") @ w + b) for w, b in params]
    np.testing.assert_allclose(ensemble.predict(x, verbose=0), np.mean(probs, axis=0),
                               atol=1e-5)
    weighted = average(models, weights=[2, 1, 1])
    ref = (2 * probs[0] + probs[1] + probs[2]) / 4
    np.testing.assert_allclose(weighted.predict(x, verbose=0), ref, atol=1e-5)
    # shares weights, does not copy or rename the members
    assert len(ensemble.weights) == sum(len(m.weights) for m in models)
    assert [m.name for m in models] == ["same"] * 3
    model_roundtrip(weighted, x)


def test_average_of_logits(members, model_roundtrip):
    params, x, _ = members
    ensemble = average(_models(params, activation=None), logits=True)
    logits = np.mean([x.astype("float64") @ w + b for w, b in params], axis=0)
    np.testing.assert_allclose(ensemble.predict(x, verbose=0), logits, atol=1e-5)
    model_roundtrip(ensemble, x)


def test_member_average_config(config_roundtrip):
    layer = MemberAverage(member_weights=[1.0, 3.0], name="avg")
    config_roundtrip(layer)
    out = layer([np.full((1, 2), 4.0), np.zeros((1, 2))])
    np.testing.assert_allclose(np.asarray(out), [[1.0, 1.0]])
    with pytest.raises(ValueError, match="not all zero"):
        MemberAverage(member_weights=[0, 0])


def test_evaluate_ensemble_against_numpy(members):
    params, x, y = members
    table = evaluate_ensemble(_models(params), x, y, batch_size=16)
    probs = [np_softmax(x.astype("float64") @ w + b) for w, b in params]
    mean = np.mean(probs, axis=0)
    rows = np.arange(len(y))
    assert list(table.index) == ["member_0", "member_1", "member_2", "ensemble"]
    for i, p in enumerate(probs):
        assert table.loc[f"member_{i}", "accuracy"] == pytest.approx(np.mean(p.argmax(1) == y))
        assert table.loc[f"member_{i}", "loss"] == pytest.approx(-np.log(p[rows, y]).mean(),
                                                                 rel=1e-4)
    assert table.loc["ensemble", "accuracy"] == pytest.approx(np.mean(mean.argmax(1) == y))
    assert table.loc["ensemble", "loss"] == pytest.approx(-np.log(mean[rows, y]).mean(),
                                                          rel=1e-4)
    logit_table = evaluate_ensemble(_models(params, activation=None), x, y, logits=True)
    geo = np_softmax(np.mean([x.astype("float64") @ w + b for w, b in params], axis=0))
    assert logit_table.loc["ensemble", "loss"] == pytest.approx(-np.log(geo[rows, y]).mean(),
                                                                rel=1e-4)


def test_rejects_bad_input(members):
    params, x, y = members
    models = _models(params)
    with pytest.raises(ValueError, match="empty"):
        average([])
    with pytest.raises(ValueError, match="same model twice"):
        average([models[0], models[0]])
    with pytest.raises(ValueError, match="one weight per model"):
        average(models, weights=[1, 1])
    other = linear_classifier(np.ones((5, 4)), np.zeros(4))
    with pytest.raises(ValueError, match="same output shape"):
        average([models[0], other])
    with pytest.raises(ValueError, match="list of Keras models"):
        average(models[0])
    with pytest.raises(ValueError, match="same length"):
        evaluate_ensemble(models, x, y[:-1])
    with pytest.raises(ValueError, match="from_logits|logits"):
        evaluate_ensemble(_models(params, activation=None), x, y)
    with pytest.raises(ValueError, match="continuous targets"):
        evaluate_ensemble(models, x, y + 0.25)


@pytest.mark.slow
def test_ensemble_of_trained_members_beats_mean_member(digits_flat, seed):
    x, y = digits_flat.x, digits_flat.y
    x_tr, y_tr, x_te, y_te = x[:300], y[:300], x[300:800], y[300:800]
    models = []
    for i in range(3):
        keras.utils.set_random_seed(i)
        m = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
        m.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
        m.fit(x_tr, y_tr, epochs=5, batch_size=32, verbose=0)
        models.append(m)
    table = evaluate_ensemble(models, x_te, y_te)
    members_loss = table.drop("ensemble")["loss"].mean()
    # the log loss is convex: the mean of probabilities never does worse than the mean member
    assert table.loc["ensemble", "loss"] <= members_loss + 1e-9
    assert table.loc["ensemble", "accuracy"] >= table.drop("ensemble")["accuracy"].min()
