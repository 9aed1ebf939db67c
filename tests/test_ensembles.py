"""ensembles.average / MemberAverage / evaluate_ensemble against NumPy averages."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_recipes.ensembles import MajorityVote, MemberAverage, average, evaluate_ensemble, vote
from tests.analysis._models import linear_classifier, np_softmax

pytestmark = pytest.mark.backend


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


def _np_vote(probs, weights=None):
    """Majority vote by hand: weighted bincount of the members' argmax, ties to the lowest."""
    weights = np.ones(len(probs)) if weights is None else np.asarray(weights, float)
    choices = np.stack([p.argmax(axis=1) for p in probs])  # (members, n)
    classes = probs[0].shape[1]
    counts = np.stack([np.bincount(choices[:, j], weights=weights, minlength=classes)
                       for j in range(choices.shape[1])])
    return counts / weights.sum(), counts.argmax(axis=1)


def test_vote_matches_bincount_majority(members, model_roundtrip):
    params, x, _ = members
    models = _models(params, name="same")
    probs = [np_softmax(x.astype("float64") @ w + b) for w, b in params]
    shares, winner = _np_vote(probs)
    ensemble = vote(models)
    out = ensemble.predict(x, verbose=0)
    np.testing.assert_allclose(out, shares, atol=1e-6)
    np.testing.assert_array_equal(out.argmax(axis=1), winner)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-6)
    weighted = vote(models, weights=[3, 1, 1])  # member 0 outvotes the two others together
    np.testing.assert_array_equal(weighted.predict(x, verbose=0).argmax(axis=1),
                                  probs[0].argmax(axis=1))
    model_roundtrip(weighted, x)
    # voting ignores confidence: a case where voting and averaging disagree
    p = [np.array([[0.9, 0.1]]), np.array([[0.4, 0.6]]), np.array([[0.45, 0.55]])]
    assert np.asarray(MajorityVote()(p)).argmax() == 1
    assert np.mean(p, axis=0).argmax() == 0


def test_vote_ties_go_to_the_lowest_class_and_config(config_roundtrip):
    p = [np.array([[0.2, 0.8, 0.0]]), np.array([[0.7, 0.3, 0.0]])]
    out = np.asarray(MajorityVote()(p))
    np.testing.assert_allclose(out, [[0.5, 0.5, 0.0]])
    assert out.argmax() == 0 == _np_vote(p)[1][0]
    layer = MajorityVote(member_weights=[1.0, 2.0], name="mv")
    config_roundtrip(layer)
    with pytest.raises(ValueError, match="not all zero"):
        MajorityVote(member_weights=[0, 0])
    with pytest.raises(ValueError, match="one weight per model"):
        vote([keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])], weights=[1, 2])


def test_evaluate_ensemble_hard_voting(members):
    params, x, y = members
    probs = [np_softmax(x.astype("float64") @ w + b) for w, b in params]
    _, winner = _np_vote(probs)
    table = evaluate_ensemble(_models(params), x, y, batch_size=16, voting="hard")
    assert table.loc["ensemble", "accuracy"] == pytest.approx(np.mean(winner == y))
    assert np.isnan(table.loc["ensemble", "loss"])
    soft = evaluate_ensemble(_models(params), x, y, voting="soft")
    np.testing.assert_allclose(table.drop("ensemble"), soft.drop("ensemble"))
    logit_table = evaluate_ensemble(_models(params, activation=None), x, y, logits=True,
                                    voting="hard")
    assert logit_table.loc["ensemble", "accuracy"] == table.loc["ensemble", "accuracy"]
    with pytest.raises(ValueError, match=r"Argument `voting` must be one of"):
        evaluate_ensemble(_models(params), x, y, voting="majority")
