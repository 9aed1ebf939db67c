"""Ensembles of classifiers: one Keras model that averages or votes, and its evaluation.

Seed 004: train models independently, then let them vote or average their probabilities;
an ensemble adds about 2 % accuracy "for free", and one model taken at different moments of
its training can serve as the members: snapshot ensembles (Huang et al., 2017), whose members
come from :class:`keras_recipes.callbacks.SnapshotEnsemble`.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import pandas as pd

from keras_recipes import _distribute
from keras_recipes._export import keras_recipes_export
from keras_recipes._validation import check_number, check_one_of
from keras_recipes.analysis._probabilities import (
    as_inputs,
    as_labels,
    check_batch_size,
    check_label_range,
    cross_entropy,
    to_probabilities,
)

__all__ = ["MajorityVote", "MemberAverage", "average", "evaluate_ensemble", "vote"]


def _check_member_weights(member_weights):
    if member_weights is None:
        return None
    member_weights = [float(check_number("member_weights", w, low=0)) for w in member_weights]
    if not member_weights or sum(member_weights) <= 0:
        raise ValueError("Argument `member_weights` must hold non-negative values, not "
                         f"all zero. Received: member_weights={member_weights}")
    return member_weights


def _weighted_sum(inputs, member_weights, owner: str):
    """``Σ_i w_i · inputs[i]`` with the weights normalised to sum to 1 (equal if None)."""
    if not isinstance(inputs, list | tuple) or not inputs:
        raise ValueError(f"{owner} expects a non-empty list of tensors.")
    if member_weights is None:
        w = [1.0 / len(inputs)] * len(inputs)
    else:
        if len(member_weights) != len(inputs):
            raise ValueError(f"{owner} has {len(member_weights)} weights but received "
                             f"{len(inputs)} inputs.")
        total = sum(member_weights)
        w = [v / total for v in member_weights]
    out = inputs[0] * w[0]
    for t, v in zip(inputs[1:], w[1:], strict=True):
        out = out + t * v
    return out


@keras_recipes_export
class MemberAverage(keras.layers.Layer):
    """Weighted mean of a list of same-shaped tensors: ``Σ_i w_i · t_i`` with ``Σ w_i = 1``.

    Use it to merge ensemble members; :func:`average` builds it for you. Without weights it
    is ``keras.layers.Average``.

    Args:
        member_weights: one non-negative weight per input, not all zero; normalised to sum
            to 1. Defaults to ``None`` (equal weights).

    Example:

    >>> import numpy as np
    >>> from keras_recipes.ensembles import MemberAverage
    >>> layer = MemberAverage(member_weights=[3, 1])
    >>> np.asarray(layer([np.ones((1, 2)), np.zeros((1, 2))])).tolist()
    [[0.75, 0.75]]
    """

    def __init__(self, member_weights: Sequence[float] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.member_weights = _check_member_weights(member_weights)

    def call(self, inputs):
        return _weighted_sum(inputs, self.member_weights, type(self).__name__)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self) -> dict:
        return {**super().get_config(), "member_weights": self.member_weights}


@keras_recipes_export
class MajorityVote(keras.layers.Layer):
    """Share of the (weighted) votes each class receives: ``Σ_i w_i · onehot(argmax p_i)``.

    Use it to merge classifiers by majority vote (hard voting) instead of averaging their
    probabilities; :func:`vote` builds it for you. The output has the members' shape and
    sums to 1 on each row; its ``argmax`` is the majority class. A tie goes to the lowest
    class index (``argmax`` of the vote counts, as scikit-learn's hard
    ``VotingClassifier``).

    Args:
        member_weights: one non-negative weight per input, not all zero; normalised to sum
            to 1. Defaults to ``None`` (one vote each).

    Example:

    >>> import numpy as np
    >>> from keras_recipes.ensembles import MajorityVote
    >>> p = [np.array([[0.9, 0.1]]), np.array([[0.4, 0.6]]), np.array([[0.45, 0.55]])]
    >>> (np.asarray(MajorityVote()(p)) * 3).round().tolist()  # votes: class 0 once, 1 twice
    [[1.0, 2.0]]

    References:
        - Kuncheva, "Combining Pattern Classifiers", Wiley 2014, chapter 4 (majority vote),
          https://doi.org/10.1002/9781118914564
    """

    def __init__(self, member_weights: Sequence[float] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.member_weights = _check_member_weights(member_weights)

    def call(self, inputs):
        if not isinstance(inputs, list | tuple) or not inputs:
            raise ValueError("MajorityVote expects a non-empty list of tensors.")
        classes = inputs[0].shape[-1]
        ballots = [keras.ops.one_hot(keras.ops.argmax(t, axis=-1), classes,
                                     dtype=self.compute_dtype) for t in inputs]
        return _weighted_sum(ballots, self.member_weights, type(self).__name__)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self) -> dict:
        return {**super().get_config(), "member_weights": self.member_weights}


def _as_member(model, i: int):
    """A functional view of ``model`` named ``member_i`` that shares its layers and weights.

    The view gives every member a unique name (snapshots and reloaded checkpoints often share
    one) without renaming the user's model.
    """
    inputs = getattr(model, "inputs", None)
    outputs = getattr(model, "outputs", None)
    if not inputs or not outputs:
        return model
    if len(outputs) != 1:
        raise ValueError(f"Every model must have one output; model {i} ({model.name!r}) has "
                         f"{len(outputs)}.")
    ins = inputs[0] if len(inputs) == 1 else inputs
    return keras.Model(ins, outputs[0], name=f"member_{i}")


def _check_models(models) -> list:
    if isinstance(models, keras.Model) or not isinstance(models, Sequence):
        raise ValueError("Argument `models` must be a list of Keras models. "
                         f"Received: models={models!r}")
    models = list(models)
    if not models:
        raise ValueError("Argument `models` is empty. Received: models=[]")
    for i, m in enumerate(models):
        if not isinstance(m, keras.Model):
            raise ValueError(f"Argument `models` must hold Keras models; item {i} is "
                             f"{type(m).__name__}.")
    for i, m in enumerate(models):
        for j in range(i):
            if models[j] is m:
                raise ValueError(f"Argument `models` holds the same model twice (items {j} and "
                                 f"{i}); an ensemble needs distinct members.")
    shapes = [tuple(m.output_shape) if hasattr(m, "output_shape") else None for m in models]
    known = [s for s in shapes if s is not None]
    if len(set(known)) > 1:
        raise ValueError(f"All models must have the same output shape. Received: {shapes}")
    return models


def average(
    models: Sequence[keras.Model],
    weights: Sequence[float] | None = None,
    logits: bool = False,
    name: str = "ensemble",
) -> keras.Model:
    """One Keras model whose output is the (weighted) mean of the members' outputs.

    Use it to deploy an ensemble as a single model: ``predict``, ``evaluate``, ``save`` and
    ``keras.saving.load_model`` work as for any model. The members' layers are shared, not
    copied: the ensemble follows the members' current weights, and it never changes them
    unless it is trained itself.

    ``p_ens(x) = Σ_i w_i · p_i(x)`` with ``Σ w_i = 1``: the mean of the probabilities
    (``logits=False``), the usual ensemble of Lakshminarayanan et al. (2017). With
    ``logits=True`` the members' logits are averaged instead, and the ensemble outputs logits
    (compile it with ``from_logits=True``); softmax of the mean logit is a normalised
    geometric mean of the members' probabilities.

    Args:
        models: the members: Keras models with the same input and output shapes and one
            output each.
        weights: one non-negative weight per member. Defaults to ``None`` (equal weights).
        logits: the members output logits, and the ensemble averages them. Defaults to
            ``False`` (members output probabilities).
        name: name of the ensemble model. Defaults to ``"ensemble"``.

    Returns:
        An uncompiled functional ``keras.Model``.

    Raises:
        ValueError: no model, a model given twice, different output shapes, multi-output
            models, a weight count that does not match.

    Example:

    >>> import keras
    >>> from keras_recipes.ensembles import average
    >>> members = [keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, "softmax")])
    ...            for _ in range(3)]
    >>> ensemble = average(members)
    >>> ensemble.output_shape
    (None, 3)

    References:
        - Dietterich, 2000, "Ensemble Methods in Machine Learning",
          https://doi.org/10.1007/3-540-45014-9_1
        - Lakshminarayanan, Pritzel & Blundell, 2017, "Simple and Scalable Predictive
          Uncertainty Estimation using Deep Ensembles", https://arxiv.org/abs/1612.01474
        - Huang et al., 2017, "Snapshot Ensembles: Train 1, get M for free",
          https://arxiv.org/abs/1704.00109
    """
    return _combine(models, weights, name,
                    MemberAverage(member_weights=None if weights is None else list(weights),
                                  name="mean_logits" if logits else "mean_probabilities"))


def _combine(models, weights, name: str, merge: keras.layers.Layer) -> keras.Model:
    """The functional model ``merge([member_0(x), member_1(x), ...])``."""
    models = _check_models(models)
    if weights is not None and len(weights) != len(models):
        raise ValueError(f"Argument `weights` must hold one weight per model ({len(models)}). "
                         f"Received: weights={list(weights)}")
    members = [_as_member(m, i) for i, m in enumerate(models)]
    names = [m.name for m in members]
    if len(set(names)) != len(names):
        raise ValueError(f"Models must have distinct names to be combined. Received: {names}")
    first = models[0]
    if getattr(first, "inputs", None):
        specs = first.inputs
        inputs = [keras.Input(shape=t.shape[1:], dtype=t.dtype, name=f"input_{j}")
                  for j, t in enumerate(specs)]
        inputs = inputs[0] if len(inputs) == 1 else inputs
    else:
        shape = tuple(first.input_shape)[1:] if hasattr(first, "input_shape") else None
        if shape is None:
            raise ValueError("The first model must be built (call it on data once) so that "
                             "the ensemble knows its input shape.")
        inputs = keras.Input(shape=shape)
    outputs = [m(inputs) for m in members]
    merged = merge(outputs)
    return keras.Model(inputs, merged, name=name)


def vote(
    models: Sequence[keras.Model],
    weights: Sequence[float] | None = None,
    name: str = "ensemble",
) -> keras.Model:
    """One Keras model whose output is the share of votes of each class (majority vote).

    Use it when the members' probabilities are not comparable (differently calibrated
    models, or members that only give a class), or to follow seed 004's "faire voter": each
    member votes for its most probable class and the ensemble predicts the class with the
    most (weighted) votes. :func:`average` (soft voting) keeps the members' confidence and
    is usually at least as accurate on calibrated networks; both are one Keras model.

    ``v_c(x) = Σ_i w_i · [argmax_k p_i(x)_k = c]`` with ``Σ w_i = 1``; prediction
    ``argmax_c v_c(x)``, ties to the lowest class index. The output rows sum to 1 but are
    vote shares, not calibrated probabilities: a cross-entropy on them is infinite whenever
    the true class gets no vote.

    Args:
        models: the members: Keras classifiers with the same input and output shapes and
            one output each (probabilities or logits: the argmax is the same).
        weights: one non-negative weight per member. Defaults to ``None`` (one vote each).
        name: name of the ensemble model. Defaults to ``"ensemble"``.

    Returns:
        An uncompiled functional ``keras.Model``.

    Raises:
        ValueError: as :func:`average`.

    Example:

    >>> import keras
    >>> from keras_recipes.ensembles import vote
    >>> members = [keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, "softmax")])
    ...            for _ in range(3)]
    >>> vote(members).output_shape
    (None, 3)

    References:
        - Dietterich, 2000, "Ensemble Methods in Machine Learning",
          https://doi.org/10.1007/3-540-45014-9_1
        - Kuncheva, "Combining Pattern Classifiers", Wiley 2014,
          https://doi.org/10.1002/9781118914564
    """
    return _combine(models, weights, name,
                    MajorityVote(member_weights=None if weights is None else list(weights),
                                 name="majority_vote"))


def evaluate_ensemble(
    models: Sequence[keras.Model],
    x,
    y,
    weights: Sequence[float] | None = None,
    logits: bool = False,
    batch_size: int = 256,
    voting: str = "soft",
) -> pd.DataFrame:
    """Accuracy and cross-entropy of each member and of their combination, on ``(x, y)``.

    Use it to see what the ensemble adds over its members (seed 004: about +2 %). Each member
    is run once, batch by batch; with ``voting="soft"`` the ensemble's probabilities are the
    weighted mean of the members' probabilities (``logits=True``: softmax of the weighted
    mean logit, as :func:`average` with ``logits=True``); with ``voting="hard"`` the
    ensemble predicts the class with the most (weighted) votes, as :func:`vote`.

    Args:
        models: the members (classifiers with one output).
        x: inputs. Not modified.
        y: integer labels or one-hot rows.
        weights: one non-negative weight per member. Defaults to ``None`` (equal weights).
        logits: the members output logits. Defaults to ``False``.
        batch_size: examples per prediction batch. Defaults to ``256``.
        voting: ``"soft"`` (mean of probabilities) or ``"hard"`` (majority vote, ties to
            the lowest class index). Defaults to ``"soft"``.

    Returns:
        A DataFrame indexed by ``member_0``, ..., ``ensemble``, with columns ``accuracy``
        and ``loss`` (mean cross-entropy ``-log p[y]``; NaN for the ensemble with
        ``voting="hard"``, whose vote shares are not probabilities). The ensemble's gain
        over the mean member is ``df.loc["ensemble"] - df.drop("ensemble").mean()``.

    Raises:
        ValueError: empty inputs, mismatched lengths, non-classifier outputs or targets.

    Example:

    >>> import keras
    >>> from keras_recipes.ensembles import evaluate_ensemble
    >>> from keras_recipes.data import load_dataset
    >>> ds = load_dataset("digits", flatten=True)
    >>> members = [keras.Sequential([keras.Input((64,)), keras.layers.Dense(10, "softmax")])
    ...            for _ in range(2)]
    >>> list(evaluate_ensemble(members, ds.x[:50], ds.y[:50]).index)
    ['member_0', 'member_1', 'ensemble']
    """
    check_one_of("voting", voting, ("soft", "hard"))
    models = _check_models(models)
    x = as_inputs(x)
    labels = as_labels(y, len(x))
    batch_size = check_batch_size(batch_size)
    if weights is None:
        w = np.full(len(models), 1.0 / len(models))
    else:
        if len(weights) != len(models):
            raise ValueError(f"Argument `weights` must hold one weight per model "
                             f"({len(models)}). Received: weights={list(weights)}")
        w = np.array([float(check_number("weights", v, low=0)) for v in weights])
        if w.sum() <= 0:
            raise ValueError(f"Argument `weights` must not be all zero. Received: {list(weights)}")
        w = w / w.sum()
    n = len(x)
    member_true = np.zeros((len(models), n))
    member_correct = np.zeros((len(models), n), dtype=bool)
    ens_true = np.zeros(n)
    ens_correct = np.zeros(n, dtype=bool)
    for start in range(0, n, batch_size):
        batch = x[start:start + batch_size]
        lab = labels[start:start + len(batch)]
        stack = []
        for i, m in enumerate(models):
            raw = _distribute.predict_on_batch(m, batch)  # one row per example
            if isinstance(raw, list | tuple | dict):
                raise ValueError(f"Model {i} has several outputs; a classifier with one output "
                                 "is required.")
            p = to_probabilities(raw, bool(logits))
            if logits:
                raw = np.asarray(raw, dtype="float64")
                stack.append(raw[:, None] if raw.ndim == 1 else raw)
            else:
                stack.append(p)
            check_label_range(lab, p.shape[1])
            rows = np.arange(len(p))
            member_true[i, start:start + len(p)] = p[rows, lab]
            member_correct[i, start:start + len(p)] = p.argmax(axis=1) == lab
        if voting == "hard":
            mixed = sum(wi * np.eye(s.shape[1])[s.argmax(axis=1)]
                        for wi, s in zip(w, stack, strict=True))
        else:
            mixed = sum(wi * s for wi, s in zip(w, stack, strict=True))
            mixed = to_probabilities(mixed, bool(logits))
        rows = np.arange(len(mixed))
        ens_true[start:start + len(mixed)] = mixed[rows, lab]
        ens_correct[start:start + len(mixed)] = mixed.argmax(axis=1) == lab
    index = [f"member_{i}" for i in range(len(models))] + ["ensemble"]
    accuracy = [*member_correct.mean(axis=1), ens_correct.mean()]
    ens_loss = np.nan if voting == "hard" else cross_entropy(ens_true).mean()
    loss = [*cross_entropy(member_true).mean(axis=1), ens_loss]
    return pd.DataFrame({"accuracy": accuracy, "loss": loss}, index=pd.Index(index))

