"""The training doctor on a panel of healthy and faulty runs: detection and false alarms.

Every run trains a small Keras model with a :class:`~keras_recipes.diagnostics.DiagnosticLogger`
and reads it with :func:`~keras_recipes.diagnostics.diagnose`.

* **Healthy runs** vary depth (2-6 hidden layers), width, activation (ReLU + He, tanh +
  Glorot, ELU, GELU, SELU + LeCun), optimizer (Adam, AdamW, Nadam, RMSprop, SGD with
  momentum) and task: scikit-learn's ``make_circles``, ``make_moons``, ``make_blobs`` and
  ``make_classification`` with label noise (tasks whose best accuracy is well below 1), the
  digits, the wine, breast-cancer and iris tables at their raw scale standardised inside the
  model by a ``keras.layers.Normalization`` adapted on the training split, the library's
  baseline MLP and CNN, and a noisy regression. A healthy run may get notes (INFO), and
  should get no WARNING or ERROR.
* **Faulty runs** each plant one fault from the published symptom classes (AUTOTRAINER,
  ICSE 2021; DeepDiagnosis, ICSE 2022) and a few classic mistakes: non-finite forward pass,
  exploding and vanishing gradients, dead ReLUs, saturated activations, unchanged weights,
  loss not decreasing, accuracy not increasing, oscillating loss, slow convergence, bad
  initialisation, a wrong output/loss pairing, shuffled labels, unnormalised inputs,
  validation examples that are also training examples, overfitting and BatchNorm's
  moving statistics. Each names its *planted cause*: the finding codes that count as naming
  it.

Measured: **detection** (a WARNING or ERROR on a faulty run), **naming** (one of them is a
code of the planted cause) and **false alarms** (a WARNING or ERROR on a healthy run).

Run: ``KERAS_BACKEND=tensorflow python benchmarks/doctor_panel.py`` (56 runs: 22 minutes of
training on two CPU cores shared with other jobs, load average above 10; less on an idle
machine). Writes ``benchmarks/results/doctor_panel.json`` and prints a markdown table.
``--only NAME [NAME ...]`` runs some runs only; ``--cache DIR`` keeps each run's frame and
summary, and ``--rediagnose DIR`` reads them back and diagnoses again without training.

References:
    - X. Zhang et al., "AUTOTRAINER: An Automatic DNN Training Problem Detection and Repair
      System", ICSE 2021, https://doi.org/10.1109/ICSE43902.2021.00043
    - M. Wardat et al., "DeepDiagnosis: Automatically Diagnosing Faults and Recommending
      Actionable Fixes in Deep Learning Programs", ICSE 2022,
      https://doi.org/10.1145/3510003.3510071
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _common import jsonable  # noqa: E402
from sklearn import datasets as skd  # noqa: E402

from keras_recipes.diagnostics import DiagnosticLogger, diagnose  # noqa: E402
from keras_recipes.diagnostics.run_record import as_record  # noqa: E402
from keras_recipes.models import baseline_cnn, baseline_mlp  # noqa: E402

RESULT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                      "doctor_panel.json")
SEED = 0


# ------------------------------------------------------------------------------ data sets
def _split(x, y, n_train, seed=SEED):
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(x))
    x, y = x[idx].astype("float32"), y[idx]
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])


def _standardise(train, val):
    mean, std = train[0].mean(0), train[0].std(0) + 1e-8
    return ((train[0] - mean) / std, train[1]), ((val[0] - mean) / std, val[1])


def load_tasks() -> dict[str, tuple]:
    """``{name: ((x_train, y_train), (x_val, y_val), num_classes)}``; 0 classes: regression."""
    tasks = {}
    x, y = skd.make_circles(1200, noise=0.2, factor=0.5, random_state=SEED)
    tasks["circles"] = (*_split(x, y, 800), 2)
    x, y = skd.make_moons(1200, noise=0.3, random_state=SEED)
    tasks["moons"] = (*_split(x, y, 800), 2)
    x, y = skd.make_blobs(1200, centers=4, cluster_std=2.0, center_box=(-5, 5),
                          random_state=SEED)
    tasks["blobs"] = (*_standardise(*_split(x, y, 800)), 4)
    x, y = skd.make_classification(3000, n_features=10, n_informative=5, n_redundant=2,
                                   n_classes=3, flip_y=0.15, class_sep=1.0,
                                   random_state=SEED)
    tasks["noisy_table"] = (*_standardise(*_split(x, y, 2000)), 3)
    digits = skd.load_digits()
    tasks["digits"] = (*_split(digits.data / 16.0, digits.target, 1200), 10)
    tasks["digits_raw"] = (*_split(digits.data, digits.target, 1200), 10)
    for name, loader, n in (("wine", skd.load_wine, 120), ("breast_cancer",
                            skd.load_breast_cancer, 400), ("iris", skd.load_iris, 100)):
        d = loader()
        tasks[name] = (*_split(d.data, d.target, n), len(np.unique(d.target)))
    x, y = skd.make_friedman1(1000, noise=1.0, random_state=SEED)
    (xt, yt), (xv, yv) = _split(x, y, 700)
    mu, sd = yt.mean(), yt.std()
    tasks["friedman"] = ((xt, ((yt - mu) / sd).astype("float32")),
                         (xv, ((yv - mu) / sd).astype("float32")), 0)
    tasks["friedman_raw"] = ((xt * 10.0, yt.astype("float32")),
                             (xv * 10.0, yv.astype("float32")), 0)
    return tasks


# --------------------------------------------------------------------------------- models
def mlp(input_dim, out_units, widths=(32, 32, 32), activation="relu", init="he_uniform",
        out_activation="softmax", normalization=None, bias_init="zeros",
        batchnorm=False, dropout=0.0, head_init="glorot_uniform"):
    """Dense MLP: [Dense → (BN) → activation → (Dropout)] × len(widths) → head."""
    inputs = keras.Input((input_dim,))
    x = normalization(inputs) if normalization is not None else inputs
    for i, width in enumerate(widths):
        x = keras.layers.Dense(width, activation=None if batchnorm else activation,
                               use_bias=not batchnorm, kernel_initializer=init,
                               bias_initializer=bias_init, name=f"dense_{i}")(x)
        if batchnorm:
            x = keras.layers.BatchNormalization(name=f"bn_{i}")(x)
            x = keras.layers.Activation(activation, name=f"act_{i}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
    out = keras.layers.Dense(out_units, activation=out_activation,
                             kernel_initializer=head_init, name="head")(x)
    return keras.Model(inputs, out)


def adapted(x):
    """A ``keras.layers.Normalization`` adapted on the training inputs ``x``."""
    layer = keras.layers.Normalization()
    layer.adapt(x)
    return layer


# ---------------------------------------------------------------------------------- runs
@dataclasses.dataclass
class Run:
    """One panel run: ``build(task) -> model``; ``cause`` is empty for a healthy run."""

    name: str
    task: str
    build: Callable[[tuple], keras.Model]
    optimizer: Callable[[], keras.optimizers.Optimizer]
    loss: Any = "sparse_categorical_crossentropy"
    epochs: int = 25
    batch_size: int = 64
    cause: frozenset = frozenset()
    note: str = ""
    data: Callable[[tuple], tuple] | None = None  # rewrites (train, val)

    @property
    def healthy(self) -> bool:
        return not self.cause


def _c(*codes):
    return frozenset(codes)


def adam(lr=1e-3):
    return lambda: keras.optimizers.Adam(lr)


def sgd(lr, momentum=0.0):
    return lambda: keras.optimizers.SGD(lr, momentum=momentum)


def _dims(t):
    return t[0][0].shape[1], max(t[2], 1)


def healthy_runs() -> list[Run]:
    def m(**kw):
        return lambda t: mlp(*_dims(t), **kw)

    tanh = {"activation": "tanh", "init": "glorot_uniform"}
    return [
        Run("circles_relu3", "circles", m(), adam(3e-3), note="ReLU+He 3×32, Adam"),
        Run("circles_relu6", "circles", m(widths=(32,) * 6), adam(1e-3),
            note="ReLU+He 6×32"),
        Run("circles_tanh4", "circles", m(widths=(32,) * 4, **tanh), adam(3e-3),
            note="tanh+Glorot 4×32"),
        Run("circles_tanh3_sgd", "circles", m(widths=(16,) * 3, **tanh), sgd(0.02, 0.9),
            epochs=30, note="tanh+Glorot 3×16, SGD 0.02 momentum 0.9"),
        Run("circles_dropout", "circles", m(widths=(64, 64), dropout=0.1), adam(3e-3),
            note="ReLU 2×64 + dropout 0.1"),
        Run("moons_relu4_rmsprop", "moons", m(widths=(64,) * 4), lambda:
            keras.optimizers.RMSprop(1e-3), note="ReLU+He 4×64, RMSprop"),
        Run("moons_elu3_nadam", "moons", m(activation="elu"), lambda:
            keras.optimizers.Nadam(2e-3), note="ELU 3×32, Nadam"),
        Run("moons_gelu5_adamw", "moons", m(widths=(32,) * 5, activation="gelu"), lambda:
            keras.optimizers.AdamW(1e-3, weight_decay=1e-4), note="GELU 5×32, AdamW"),
        Run("moons_bn_relu", "moons", m(widths=(32, 32), batchnorm=True), adam(3e-3),
            note="Dense (no bias) → BN → ReLU ×2"),
        Run("blobs_relu3", "blobs", m(), adam(1e-3), epochs=20, note="4 overlapping blobs"),
        Run("blobs_tanh4_sgd", "blobs", m(widths=(16,) * 4, **tanh), sgd(0.05, 0.9),
            epochs=20, note="tanh 4×16, SGD momentum"),
        Run("noisy_table_relu3", "noisy_table", m(widths=(32,) * 3), adam(1e-3), epochs=12,
            note="3 classes, 15 % flipped labels"),
        Run("noisy_table_selu4", "noisy_table", m(widths=(32,) * 4, activation="selu",
                                                   init="lecun_normal"), adam(1e-3),
            epochs=20, note="SELU + LeCun 4×32"),
        Run("digits_relu2", "digits", m(widths=(64, 64)), adam(1e-3), epochs=15),
        Run("digits_tanh3_sgd", "digits", m(widths=(64,) * 3, **tanh), sgd(0.05, 0.9),
            epochs=15, note="tanh 3×64, SGD momentum"),
        Run("digits_baseline_mlp", "digits", lambda t: baseline_mlp(64, 10), adam(1e-3),
            epochs=15, note="the library's baseline MLP"),
        Run("digits_baseline_cnn", "digits", lambda t: baseline_cnn((8, 8, 1), 10,
                                                                    filters=(16, 32)),
            adam(3e-3), epochs=8, batch_size=32,
            note="the library's baseline CNN (8×8 images)",
            data=lambda tr, va: ((tr[0].reshape(-1, 8, 8, 1), tr[1]),
                                 (va[0].reshape(-1, 8, 8, 1), va[1]))),
        Run("wine_norm_relu3", "wine", lambda t: mlp(*_dims(t), normalization=adapted(
            t[0][0])), adam(1e-3), epochs=15, batch_size=16,
            note="raw table, Normalization layer"),
        Run("breast_cancer_norm_relu3", "breast_cancer", lambda t: mlp(
            *_dims(t), normalization=adapted(t[0][0])), adam(1e-3), epochs=25,
            note="raw table, Normalization layer"),
        Run("iris_norm_tanh3", "iris", lambda t: mlp(
            *_dims(t), widths=(16,) * 3, normalization=adapted(t[0][0]), **tanh),
            adam(1e-2), epochs=40, batch_size=16, note="raw table, Normalization layer"),
        Run("wine_baseline_mlp", "wine", lambda t: baseline_mlp(
            13, 3, normalization=adapted(t[0][0])), adam(1e-3), epochs=40, batch_size=16,
            note="baseline MLP with Normalization"),
        Run("friedman_regression", "friedman", lambda t: mlp(
            10, 1, widths=(64,) * 3, out_activation=None), adam(1e-3), loss="mse",
            epochs=20, note="noisy regression, MSE"),
        Run("friedman_raw_norm", "friedman_raw", lambda t: mlp(
            10, 1, widths=(32,) * 3, activation="tanh", init="glorot_uniform",
            out_activation=None, normalization=adapted(t[0][0])), adam(3e-3), loss="mse",
            epochs=30, note="raw regression, Normalization layer"),
    ]


def faulty_runs() -> list[Run]:
    def m(**kw):
        return lambda t: mlp(*_dims(t), **kw)

    def shuffle_train(tr, va):
        return (tr[0], np.random.default_rng(1).permutation(tr[1])), va

    def shuffle_val(tr, va):
        return tr, (va[0], np.random.default_rng(1).permutation(va[1]))

    def nan_rows(tr, va):
        x = tr[0].copy()
        x[::50, 0] = np.nan
        return (x, tr[1]), va

    def times(k):
        return lambda tr, va: ((tr[0] * k, tr[1]), (va[0] * k, va[1]))

    def overlap(tr, va):
        return tr, (tr[0][:300], tr[1][:300])

    def tiny(tr, va):
        return (tr[0][:40], tr[1][:40]), va

    def frozen(t):
        model = mlp(*_dims(t))
        model.trainable = False
        return model

    big = keras.initializers.VarianceScaling(256.0, "fan_in", "untruncated_normal")
    sat = keras.initializers.VarianceScaling(60.0, "fan_in", "untruncated_normal")
    dead_bias = keras.initializers.Constant(-10.0)
    return [
        # non-finite forward pass
        Run("nan_in_inputs", "circles", m(), adam(1e-3), epochs=5, data=nan_rows,
            cause=_c("nonfinite_loss", "inputs_not_normalised"),
            note="1 row in 50 has a NaN feature"),
        Run("regression_diverges_to_inf", "friedman_raw", lambda t: mlp(
            10, 1, out_activation=None), sgd(0.5), loss="mse", epochs=5,
            cause=_c("nonfinite_loss", "exploding_loss", "update_ratio_high"),
            note="SGD 0.5 on raw inputs × 10 and targets"),
        # exploding
        Run("adam_lr_1", "circles", m(), adam(1.0), epochs=15,
            cause=_c("exploding_loss", "nonfinite_loss", "update_ratio_high",
                     "oscillating_loss"), note="Adam at lr 1"),
        Run("exploding_gradients_tanh10", "digits", m(widths=(32,) * 10, activation="tanh",
                                                        init=big), sgd(1e-3), epochs=5,
            cause=_c("exploding_gradients"), note="10 tanh layers, weights of variance "
            "256/fan_in"),
        Run("exploding_relu8_large_init", "circles", m(
            widths=(32,) * 8, init=keras.initializers.VarianceScaling(
                8.0, "fan_in", "untruncated_normal")), adam(1e-3), epochs=10,
            cause=_c("exploding_gradients", "initial_loss", "exploding_loss",
                     "nonfinite_loss"), note="8 ReLU layers, variance 8/fan_in"),
        # vanishing
        Run("vanishing_sigmoid12", "circles", m(widths=(32,) * 12, activation="sigmoid",
                                                init="glorot_uniform"), adam(1e-3),
            epochs=15, cause=_c("vanishing_gradients"), note="12 sigmoid layers"),
        Run("vanishing_tanh10_small_init", "digits", m(
            widths=(32,) * 10, activation="tanh", init=keras.initializers.VarianceScaling(
                0.1, "fan_in", "untruncated_normal")), adam(1e-3), epochs=8,
            cause=_c("vanishing_gradients"), note="10 tanh layers, variance 0.1/fan_in"),
        # dead ReLU
        Run("dead_relu_bias", "circles", m(bias_init=dead_bias), adam(1e-3), epochs=10,
            cause=_c("dead_units"), note="ReLU biases start at −10"),
        Run("dead_relu_sgd_lr100", "digits", m(widths=(32,)), sgd(100.0), epochs=4,
            cause=_c("dead_units", "update_ratio_high", "exploding_loss"),
            note="SGD at 100 kills the units"),
        # saturated activations
        Run("saturated_tanh", "circles", m(widths=(64,) * 3, activation="tanh", init=sat),
            adam(1e-3), epochs=15, cause=_c("saturated_units"),
            note="tanh, weights of variance 60/fan_in"),
        Run("saturated_sigmoid_raw", "digits_raw", m(widths=(64, 64), activation="sigmoid",
                                                    init=keras.initializers.RandomNormal(
                                                        stddev=1.0)),
            adam(1e-3), epochs=8, cause=_c("saturated_units"),
            note="sigmoid on raw digits (0-16), N(0, 1) weights"),
        # unchanged weights
        Run("lr_zero", "digits", m(widths=(64,)), adam(0.0), epochs=5,
            cause=_c("flat_loss", "update_ratio_low"), note="learning rate 0"),
        Run("frozen_model", "moons", frozen, adam(1e-3), epochs=5,
            cause=_c("flat_loss", "update_ratio_low"), note="model.trainable = False"),
        # loss not decreasing / slow convergence
        Run("adam_lr_1e-6", "moons", m(), adam(1e-6), epochs=10,
            cause=_c("flat_loss", "update_ratio_low", "underfitting"), note="Adam 1e-6"),
        Run("sgd_lr_1e-4", "digits", m(widths=(64,)), sgd(1e-4), epochs=10,
            cause=_c("flat_loss", "update_ratio_low", "underfitting"), note="SGD 1e-4"),
        Run("slow_sgd_digits", "digits", m(widths=(64,), activation="tanh",
                                           init="glorot_uniform"), sgd(5e-3), epochs=10,
            cause=_c("underfitting", "flat_loss", "update_ratio_low"),
            note="plain SGD 5e-3, stopped after 10 epochs"),
        Run("slow_adam_table", "noisy_table", m(), adam(3e-5), epochs=10,
            cause=_c("underfitting", "flat_loss", "update_ratio_low"),
            note="Adam 3e-5, stopped after 10 epochs"),
        # oscillating
        Run("oscillating_full_batch_sgd", "digits", m(widths=(64,)), sgd(2.0), epochs=25,
            batch_size=1200, cause=_c("oscillating_loss", "exploding_loss",
                                      "update_ratio_high"),
            note="full-batch SGD at 2 (edge of stability)"),
        Run("oscillating_heavy_ball", "moons", m(widths=(64, 64)), sgd(0.5, 0.9),
            epochs=40, batch_size=800, cause=_c("oscillating_loss", "exploding_loss",
                                                "update_ratio_high"),
            note="full-batch SGD 0.5, momentum 0.9"),
        # bad initialisation
        Run("init_normal_std1", "circles", m(widths=(64,) * 4,
                                             init=keras.initializers.RandomNormal(
                                                 stddev=1.0)), adam(1e-3), epochs=10,
            cause=_c("initial_loss", "exploding_gradients", "exploding_loss"),
            note="N(0, 1) kernels, 4×64 ReLU"),
        Run("constant_init", "digits", m(widths=(64, 64),
                                         init=keras.initializers.Constant(0.05)),
            adam(1e-3), epochs=5, cause=_c("symmetric_units"), note="all kernels 0.05"),
        Run("zero_init", "moons", m(init="zeros"), adam(1e-3), epochs=5,
            cause=_c("symmetric_units", "dead_units", "flat_loss"), note="all kernels 0"),
        # output / loss pairing
        Run("softmax_with_from_logits", "digits", m(widths=(64,)), adam(1e-3),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), epochs=8,
            cause=_c("output_loss_mismatch"), note="softmax output, from_logits=True"),
        Run("sigmoid_with_categorical", "digits", m(widths=(64,), out_activation="sigmoid"),
            adam(1e-3), epochs=8, cause=_c("output_loss_mismatch"),
            note="10 sigmoid outputs, sparse categorical cross-entropy"),
        Run("softmax_single_unit", "circles", lambda t: mlp(2, 1), adam(1e-3),
            loss="binary_crossentropy", epochs=5, cause=_c("output_loss_mismatch"),
            note="Dense(1, softmax) + binary cross-entropy"),
        Run("logits_without_from_logits", "digits", m(widths=(64,), out_activation=None),
            adam(1e-3), epochs=8, cause=_c("output_loss_mismatch"),
            note="linear output, from_logits=False"),
        # labels
        Run("shuffled_train_labels", "circles", m(), adam(1e-3), epochs=15,
            data=shuffle_train, cause=_c("chance_level"), note="train labels permuted"),
        Run("shuffled_val_labels", "digits", m(widths=(64,)), adam(1e-3), epochs=8,
            data=shuffle_val, cause=_c("chance_level", "generalization_gap"),
            note="validation labels permuted: accuracy does not increase"),
        # inputs
        Run("inputs_x1000", "moons", m(), adam(1e-3), epochs=10, data=times(1000.0),
            cause=_c("inputs_not_normalised", "initial_loss"), note="features × 1000"),
        Run("raw_table_no_normalisation", "breast_cancer", m(), adam(1e-3), epochs=15,
            cause=_c("inputs_not_normalised", "initial_loss"),
            note="breast-cancer table at its raw scale (up to 4254)"),
        # data split
        Run("validation_inside_train", "circles", m(), adam(3e-3), epochs=15, data=overlap,
            cause=_c("split_overlap"), note="validation = 300 training rows"),
        # generalisation
        Run("overfit_40_examples", "digits", m(widths=(256, 256)), adam(1e-3), epochs=60,
            batch_size=8, data=tiny, cause=_c("overfitting", "generalization_gap"),
            note="40 training examples, 256×256 MLP"),
        Run("batchnorm_short_training", "digits", lambda t: baseline_mlp(64, 10, hidden=(32,)),
            adam(1e-2), epochs=3, batch_size=64, cause=_c("train_inference_mismatch"),
            data=lambda tr, va: ((tr[0][:600], tr[1][:600]), va),
            note="BatchNorm momentum 0.99, 30 steps"),
    ]


# ------------------------------------------------------------------------------- running
def compiled(run: Run, task: tuple) -> tuple[keras.Model, tuple, tuple]:
    """The run's model, compiled, and its (train, validation) data, under the panel's seed."""
    keras.utils.set_random_seed(SEED)
    tr, va, _ = task
    if run.data is not None:
        tr, va = run.data(tr, va)
    model = run.build(task)
    metrics = ["accuracy"] if task[2] else []
    model.compile(run.optimizer(), run.loss, metrics=metrics)
    return model, tr, va


def train(run: Run, task: tuple) -> tuple[DiagnosticLogger, dict]:
    model, tr, va = compiled(run, task)
    logger = DiagnosticLogger(data=tr, validation_data=va)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        history = model.fit(*tr, validation_data=va, epochs=run.epochs,
                            batch_size=run.batch_size, verbose=0, callbacks=[logger])
    final = {k: float(v[-1]) for k, v in history.history.items()}
    return logger, final


def _severity_codes(findings, severities):
    return sorted({f.code for f in findings if f.severity in severities})


def judge(run: Run, findings) -> dict:
    alarms = _severity_codes(findings, ("error", "warning"))
    out = {"warnings": alarms, "notes": _severity_codes(findings, ("info",)),
           "details": [str(f) for f in findings]}
    if run.healthy:
        out["false_alarm"] = bool(alarms)
    else:
        out["detected"] = bool(alarms)
        out["named"] = bool(set(alarms) & run.cause)
    return out



def save_cache(folder, name, logger):
    os.makedirs(folder, exist_ok=True)
    logger.frame.to_csv(os.path.join(folder, f"{name}.csv"), index=False)
    with open(os.path.join(folder, f"{name}.json"), "w", encoding="utf-8") as fh:
        json.dump(jsonable(logger.summary), fh)


def load_cache(folder, name):
    frame = pd.read_csv(os.path.join(folder, f"{name}.csv"))
    with open(os.path.join(folder, f"{name}.json"), encoding="utf-8") as fh:
        summary = json.load(fh)
    record = as_record(frame)
    record.summary.update(summary)
    return record


def totals(results: dict, runs: list[Run]) -> dict:
    healthy = [r for r in runs if r.healthy and r.name in results]
    faulty = [r for r in runs if not r.healthy and r.name in results]
    detected = sum(results[r.name]["detected"] for r in faulty)
    named = sum(results[r.name]["named"] for r in faulty)
    alarms = sum(results[r.name]["false_alarm"] for r in healthy)
    return {"healthy_runs": len(healthy), "healthy_with_warning": alarms,
            "healthy_warning_rate": alarms / max(1, len(healthy)),
            "faulty_runs": len(faulty), "faulty_detected": detected,
            "detection_rate": detected / max(1, len(faulty)), "faulty_named": named,
            "naming_rate": named / max(1, len(faulty))}


def _score(result):
    keys = [k for k in ("val_accuracy", "val_loss") if k in result.get("final", {})]
    return ", ".join(f"{k} {result['final'][k]:.3g}" for k in keys[:1])


def table(results: dict, runs: list[Run]) -> str:
    lines = ["| run | kind | what | planted cause | warnings / errors | notes | final |",
             "|---|---|---|---|---|---|---|"]
    for run in runs:
        if run.name not in results:
            continue
        r = results[run.name]
        if run.healthy:
            verdict = "**false alarm**" if r["false_alarm"] else "ok"
        else:
            verdict = "named" if r["named"] else ("detected" if r["detected"] else
                                                  "**missed**")
        cause = ", ".join(f"`{c}`" for c in sorted(run.cause)) or "—"
        warn = ", ".join(f"`{c}`" for c in r["warnings"]) or "—"
        notes = ", ".join(f"`{c}`" for c in r["notes"]) or "—"
        kind = "healthy" if run.healthy else "faulty"
        lines.append(f"| {run.name} | {kind}: {verdict} | {run.note} | {cause} | {warn} | "
                     f"{notes} | {_score(r)} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--cache", default=None, help="keep each run's frame and summary")
    parser.add_argument("--rediagnose", default=None,
                        help="diagnose the runs kept in this folder, without training")
    parser.add_argument("--out", default=RESULT)
    args = parser.parse_args(argv)
    runs = healthy_runs() + faulty_runs()
    if args.only:
        runs = [r for r in runs if r.name in args.only]
    tasks = None if args.rediagnose else load_tasks()
    results: dict[str, dict] = {}
    start = time.perf_counter()
    for run in runs:
        t0 = time.perf_counter()
        if args.rediagnose:
            record = load_cache(args.rediagnose, run.name)
            with open(os.path.join(args.rediagnose, f"{run.name}.final.json"),
                      encoding="utf-8") as fh:
                kept = json.load(fh)
            final, seconds = kept["final"], kept["seconds"]  # the training's time
            findings = diagnose(record)
        else:
            logger, final = train(run, tasks[run.task])
            seconds = round(time.perf_counter() - t0, 2)
            if args.cache:
                save_cache(args.cache, run.name, logger)
                with open(os.path.join(args.cache, f"{run.name}.final.json"), "w",
                          encoding="utf-8") as fh:
                    json.dump({"final": final, "seconds": seconds}, fh)
            findings = diagnose(logger)
        results[run.name] = {"kind": "healthy" if run.healthy else "faulty",
                             "task": run.task, "note": run.note,
                             "cause": sorted(run.cause), "final": final,
                             "seconds": seconds, **judge(run, findings)}
        r = results[run.name]
        print(f"{run.name:32s} {r['seconds']:6.1f}s  W/E={r['warnings']}  i={r['notes']}  "
              f"{_score(r)}", flush=True)
    seconds = (sum(r["seconds"] for r in results.values()) if args.rediagnose
               else time.perf_counter() - start)
    summary = totals(results, runs)
    md = table(results, runs)
    print()
    print(md)
    print()
    print(f"healthy runs with a warning: {summary['healthy_with_warning']} of "
          f"{summary['healthy_runs']}; faulty runs detected: {summary['faulty_detected']} "
          f"of {summary['faulty_runs']}, cause named: {summary['faulty_named']} "
          f"(total {seconds:.0f} s)")
    if not args.only:
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump({"date": datetime.date.today().isoformat(),
                       "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, "
                                  f"{platform.system()} {platform.release()}",
                       "python": platform.python_version(), "keras": keras.__version__,
                       "backend": keras.backend.backend(), "seconds": round(seconds, 1),
                       "totals": summary, "table_markdown": md, "runs": results},
                      fh, indent=2)
    ok = (summary["healthy_warning_rate"] <= 0.05 and summary["detection_rate"] >= 0.95
          and summary["naming_rate"] >= 0.85)
    return 0 if ok or args.only else 1


if __name__ == "__main__":
    sys.exit(main())
