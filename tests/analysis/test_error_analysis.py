"""ErrorAnalysis: per-example scalars against a NumPy reference, rankings, tables, plots."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from keras_recipes.analysis import ErrorAnalysis
from tests.analysis._models import linear_classifier, np_softmax


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(150, 6)).astype("float32")
    w = rng.normal(size=(6, 4))
    b = rng.normal(size=4) * 0.1
    y = np.argmax(x @ w + rng.normal(scale=1.5, size=(150, 4)), axis=1)
    return x, y, w, b


def test_per_example_scalars_match_numpy(problem):
    x, y, w, b = problem
    model = linear_classifier(w, b)
    ea = ErrorAnalysis(model, x, y, batch_size=32)
    p = np_softmax(x.astype("float64") @ w + b)
    t = ea.table
    np.testing.assert_array_equal(t["pred"], p.argmax(1))
    np.testing.assert_allclose(t["confidence"], p.max(1), atol=1e-5)
    np.testing.assert_allclose(t["prob_true"], p[np.arange(len(y)), y], atol=1e-5)
    np.testing.assert_allclose(t["loss"], -np.log(p[np.arange(len(y)), y]), rtol=1e-4)
    np.testing.assert_allclose(t["entropy"], -(p * np.log(p)).sum(1), rtol=1e-4)
    assert ea.accuracy == pytest.approx(np.mean(p.argmax(1) == y))
    # only per-example scalars are kept
    assert t.shape == (150, 7)


def test_batch_size_does_not_change_results(problem):
    x, y, w, b = problem
    model = linear_classifier(w, b)
    a = ErrorAnalysis(model, x, y, batch_size=7).table
    c = ErrorAnalysis(model, x, y, batch_size=1000).table
    pd.testing.assert_frame_equal(a, c, atol=1e-6)


def test_logits_and_one_hot_labels(problem):
    x, y, w, b = problem
    probs = ErrorAnalysis(linear_classifier(w, b), x, y).table
    logits = ErrorAnalysis(linear_classifier(w, b, activation=None), x,
                           np.eye(4)[y], from_logits=True).table
    pd.testing.assert_frame_equal(probs, logits, atol=1e-5)


def test_rankings_and_sampling(problem):
    x, y, w, b = problem
    ea = ErrorAnalysis(linear_classifier(w, b), x, y)
    loss = ea.table["loss"].to_numpy()
    assert list(ea.worst(5).index) == list(np.argsort(-loss, kind="stable")[:5])
    assert list(ea.best(3).index) == list(np.argsort(loss, kind="stable")[:3])
    ent = ea.table["entropy"].to_numpy()
    assert ea.most_uncertain(1).index[0] == int(np.argmax(ent))
    wrong = ea.sample("wrong", 5, seed=3)
    assert len(wrong) == 5 and not wrong["correct"].any()
    assert ea.sample("correct", 4, seed=0)["correct"].all()
    pd.testing.assert_frame_equal(ea.sample("wrong", 5, seed=3), wrong)
    n_wrong = int((~ea.table["correct"]).sum())
    with pytest.raises(ValueError, match="must be <= the number of wrong examples"):
        ea.sample("wrong", n_wrong + 1)
    with pytest.raises(ValueError, match="Argument `n`"):
        ea.worst(len(x) + 1)
    with pytest.raises(ValueError, match="Argument `kind`"):
        ea.sample("bad")


def test_confusion_matrix_and_per_class_against_hand_counts():
    # Constant-output model: predicts class 1 for everything (hand-computable tables).
    w = np.zeros((2, 3))
    b = np.array([0.0, 2.0, 0.0])
    x = np.zeros((6, 2), dtype="float32")
    y = np.array([0, 1, 1, 2, 2, 2])
    ea = ErrorAnalysis(linear_classifier(w, b), x, y, class_names=["a", "b", "c"])
    cm = ea.confusion_matrix()
    assert cm.to_numpy().tolist() == [[0, 1, 0], [0, 2, 0], [0, 3, 0]]
    assert list(cm.index) == ["a", "b", "c"]
    pc = ea.per_class()
    # class b: TP=2, FP=4, FN=0 -> precision 1/3, recall 1, F1 = 0.5
    assert pc.loc["b", "precision"] == pytest.approx(1 / 3)
    assert pc.loc["b", "recall"] == pytest.approx(1.0)
    assert pc.loc["b", "f1"] == pytest.approx(0.5)
    assert pc.loc["a", "f1"] == 0.0 and pc["support"].tolist() == [1, 2, 3]
    mc = ea.most_confused()
    assert mc.iloc[0].tolist() == ["c", "b", 3]
    assert len(ea.most_confused(min_count=2)) == 1


def test_binary_sigmoid_and_uncertainty():
    w = np.array([[1.0]])
    b = np.array([0.0])
    x = np.array([[-3.0], [0.05], [2.0], [-0.5]], dtype="float32")
    y = np.array([0, 1, 1, 1])
    ea = ErrorAnalysis(linear_classifier(w, b, activation="sigmoid"), x, y)
    q = 1 / (1 + np.exp(-x[:, 0].astype("float64")))
    np.testing.assert_allclose(ea.table["prob_true"], np.where(y == 1, q, 1 - q), atol=1e-6)
    assert ea.most_uncertain(1).index[0] == 1  # probability closest to 0.5
    assert ea.confusion_matrix().shape == (2, 2)


def test_rejects_non_classifiers_and_bad_input(problem):
    x, y, w, b = problem
    regression = linear_classifier(w[:, :1], b[:1], activation=None)
    with pytest.raises(ValueError, match="not a probability"):
        ErrorAnalysis(regression, x * 10, y % 2)
    logits = linear_classifier(w, b, activation=None)
    with pytest.raises(ValueError, match="from_logits=True"):
        ErrorAnalysis(logits, x, y)
    with pytest.raises(ValueError, match="continuous targets"):
        ErrorAnalysis(linear_classifier(w, b), x, y + 0.5)
    with pytest.raises(ValueError, match="same length"):
        ErrorAnalysis(linear_classifier(w, b), x, y[:-1])
    with pytest.raises(ValueError, match="empty"):
        ErrorAnalysis(linear_classifier(w, b), x[:0], y[:0])
    with pytest.raises(ValueError, match="holds label 4"):
        ErrorAnalysis(linear_classifier(w, b), x, np.where(y == 0, 4, y))
    with pytest.raises(ValueError, match="batch_size"):
        ErrorAnalysis(linear_classifier(w, b), x, y, batch_size=0)


def test_does_not_mutate_inputs(problem):
    x, y, w, b = problem
    model = linear_classifier(w, b)
    x0, y0 = x.copy(), y.copy()
    before = [v.copy() for v in model.get_weights()]
    ErrorAnalysis(model, x, y).plot_examples("worst", n=4, image_shape=(2, 3))
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(y, y0)
    for a, c in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, c)


def test_plot_examples_on_digits(digits_flat):
    x, y = digits_flat.x[:120], digits_flat.y[:120]
    rng = np.random.default_rng(0)
    model = linear_classifier(rng.normal(size=(64, 10)) * 0.1, np.zeros(10))
    ea = ErrorAnalysis(model, x, y)
    fig = ea.plot_examples("worst", n=8, ncols=4)
    titles = [ax.get_title() for ax in fig.axes]
    assert len(fig.axes) == 8 and all("loss=" in t for t in titles)
    worst = ea.worst(1).index[0]
    assert titles[0].startswith(f"#{worst} ")
    assert len(ea.plot_examples("wrong", n=3).axes) == 3
    bad = ErrorAnalysis(linear_classifier(np.ones((5, 2)), np.zeros(2)),
                        np.zeros((4, 5), "float32"), np.array([0, 1, 0, 1]))
    with pytest.raises(ValueError, match="not images"):
        bad.plot_examples("worst", n=2)
