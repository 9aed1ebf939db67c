"""Doctor rules that read the logger's one-off facts and per-layer probe statistics.

They need a :class:`~keras_recipes.diagnostics.DiagnosticLogger` (or its tidy frame); on a
plain History they find nothing.
"""

from __future__ import annotations

import math

import numpy as np

from keras_recipes.diagnostics.finding import Finding
from keras_recipes.diagnostics.run_record import RunRecord

#: A layer is "dead" when more than this fraction of its units are zero on every example.
DEAD_FRACTION = 0.5
#: Units are "symmetric" when their spread is below this fraction of the activation rms.
SYMMETRY_TOLERANCE = 1e-3
#: Per-step update/weight ratio: warning when any record of a layer exceeds ``high``, or when
#: every layer stays below ``low`` over the first RATIO_EARLY records (rule of thumb: ~1e-3).
RATIO_WARN = (1e-4, 1e-1)
RATIO_EARLY = 3
#: Train/inference mismatch: the probe's inference-mode loss is more than MISMATCH_RATIO
#: times its training-mode loss and above it by more than MISMATCH_GAP × the reference
#: loss (ln C, else the initial loss, else 1).
MISMATCH_RATIO = 2.0
MISMATCH_GAP = 0.1
#: Gradient rms of the first weighted layer / the last: vanishing / exploding beyond these.
GRADIENT_DEPTH_RATIO = (1e-2, 1e2)

_NORMALISATION_LAYERS = ("BatchNormalization", "LayerNormalization", "GroupNormalization",
                         "UnitNormalization", "RMSNormalization")


def _last_records(table):
    """Rows of the last record (all layers), dropping layers with no value."""
    if table.empty:
        return None, None
    epoch = int(table.index.max())
    return epoch, table.loc[epoch].dropna()


def dead_units(run: RunRecord) -> list[Finding]:
    """More than half the units of a hidden layer are dead → He init, LeakyReLU, lower LR."""
    epoch, last = _last_records(run.layer_stat("act_dead_fraction"))
    if last is None:
        return []
    bad = {layer: float(v) for layer, v in last.items() if v > DEAD_FRACTION}
    if not bad:
        return []
    return [Finding(
        "warning", "dead_units",
        f"{len(bad)} hidden layer(s) have more than {DEAD_FRACTION:.0%} dead units (zero on "
        f"every probe example) at epoch {epoch}: {', '.join(bad)}.",
        {"dead_fraction": bad, "epoch": epoch},
        "Use He initialisation for ReLU layers, keras.layers.LeakyReLU (or ELU/GELU), "
        "a lower learning rate, and normalised inputs; BatchNormalization before the "
        "activation keeps units alive.")]


def symmetry(run: RunRecord) -> list[Finding]:
    """Every unit of a layer computes the same value → symmetry never broken (w = k).

    Checked at the first record (the initialisation) and at the last one. Numerical noise
    can split the units later on (Adam magnifies tiny gradient differences), so a constant
    initialisation shows best at the first record.
    """
    spread = run.layer_stat("act_unit_spread")
    rms = run.layer_stat("act_rms")
    if spread.empty or rms.empty:
        return []
    found: dict[str, list[int]] = {}
    for epoch in sorted({int(spread.index.min()), int(spread.index.max())}):
        for layer, v in spread.loc[epoch].dropna().items():
            scale = rms.loc[epoch].get(layer, 0.0)
            if scale > 0 and v <= SYMMETRY_TOLERANCE * scale:
                found.setdefault(layer, []).append(epoch)
    if not found:
        return []
    return [Finding(
        "warning", "symmetric_units",
        f"All units of {', '.join(found)} output the same value (at epoch(s) "
        f"{sorted({e for v in found.values() for e in v})}): the initialisation did not "
        "break the symmetry, so each layer acts as a single unit.",
        {"layers": list(found), "epochs": found},
        "Initialise weights randomly (He/Glorot; keras_recipes.initializers), never with a "
        "constant (seed 000: w = k leaves every unit identical).")]


def update_ratio(run: RunRecord) -> list[Finding]:
    """Per-step update/weight ratio far from ~1e-3 → LR too high or too low.

    The two findings exclude each other. After an overshoot (a record above ``high``) the
    weights often stop moving: ReLU units pushed below zero on every example are dead, their
    gradients are zero, and later ratios fall under ``low``. That stall is a consequence of
    a rate that is too high, so only ``update_ratio_high`` is reported, with the stalled
    layers in its evidence; ``update_ratio_low`` is kept for runs that never overshot.
    """
    table = run.layer_stat("update_ratio_per_step")
    if table.empty:
        return []
    table = table.replace([np.inf, -np.inf], np.nan)
    peaks = table.max(axis=0, skipna=True).dropna()
    early = table.iloc[:RATIO_EARLY].median(axis=0, skipna=True).dropna()
    if peaks.empty:
        return []
    low, high = RATIO_WARN
    too_high = {k: float(v) for k, v in peaks.items() if v > high}
    too_low = {k: float(v) for k, v in early.items() if 0 <= v < low}
    if too_high:
        first = int(min(table.index[table[k] > high].min() for k in too_high))
        after = table.loc[table.index > first].median(axis=0, skipna=True).dropna()
        stalled = {k: float(v) for k, v in after.items() if 0 <= v < low}
        evidence: dict = {"max_ratio_per_step": too_high, "first_epoch_above": first}
        message = (f"Weights move by more than {high:g} of their norm per step in "
                   f"{', '.join(too_high)} (rule of thumb: ~1e-3).")
        if stalled:
            evidence["stalled_after"] = stalled
            message += (f" After epoch {first} the updates of {', '.join(stalled)} fell "
                        f"below {low:g} per step: the overshoot left units dead (zero "
                        "gradients), which is not a learning rate that is too low.")
        return [Finding(
            "warning", "update_ratio_high", message, evidence,
            "Lower the learning rate (or pick it with keras_recipes.lr_finder.find_lr); "
            "retrain from a fresh initialisation, since dead units do not recover.")]
    if too_low and len(too_low) == len(early):
        return [Finding(
            "warning", "update_ratio_low",
            f"Weights move by less than {low:g} of their norm per step in every layer "
            "(rule of thumb: ~1e-3): training barely changes the model.",
            {"early_median_ratio_per_step": too_low},
            "Raise the learning rate (or pick it with keras_recipes.lr_finder.find_lr); "
            "check for frozen layers.")]
    return []


def inputs_not_normalised(run: RunRecord) -> list[Finding]:
    """Inputs far from a unit scale (the seeds' classic error).

    Silent when the model's first layer normalises its inputs itself (``Normalization``,
    ``Rescaling``, ``MinMaxNormalization``): raw inputs are then what it expects.
    """
    if run.summary.get("inputs_normalised", True) or run.summary.get("normalisation_layer"):
        return []
    stats = {k: v for k, v in (run.summary.get("input_stats") or {}).items()
             if k in ("min", "max", "mean", "std", "non_finite")}
    return [Finding(
        "warning", "inputs_not_normalised",
        "The inputs are not normalised (values far outside a unit scale, or non-finite).",
        stats,
        "Standardise with statistics of the train set ((x − mean) / std, e.g. "
        "keras.layers.Normalization adapted on it), or scale to [0, 1] (images: / 255).")]


def class_imbalance(run: RunRecord) -> list[Finding]:
    """Class counts differ by more than 3× between the largest and smallest class."""
    if not run.summary.get("imbalanced"):
        return []
    counts = run.summary.get("train_class_counts") or {}
    return [Finding(
        "warning", "class_imbalance",
        f"The largest class has {run.summary.get('imbalance_ratio', math.nan):.3g}× more "
        "examples than the smallest.",
        {"class_counts": dict(counts)},
        "Pass class_weight= to fit, resample the classes, and judge the model on per-class "
        "recall or a balanced metric rather than accuracy.")]


def gradient_depth(run: RunRecord) -> list[Finding]:
    """Gradient rms of the first weighted layer versus the last: vanishing or exploding."""
    table = run.layer_stat("grad_rms")
    if table.empty:
        return []
    classes = {d.get("name"): d.get("class") for d in run.summary.get("layers", [])}
    layers = [c for c in table.columns if classes.get(c) not in _NORMALISATION_LAYERS]
    if len(layers) < 2:
        return []
    first, last = table[layers[0]], table[layers[-1]]
    ratios = (first / last.where(last > 0)).replace([np.inf, -np.inf], np.nan).dropna()
    if ratios.empty:
        return []
    ratio = float(ratios.median())
    low, high = GRADIENT_DEPTH_RATIO
    evidence = {"first_layer": layers[0], "last_layer": layers[-1],
                "median_grad_rms_ratio": ratio}
    if ratio < low:
        return [Finding(
            "warning", "vanishing_gradients",
            f"The gradient reaching {layers[0]} is {ratio:.2g}× the one at {layers[-1]}: "
            "gradients vanish across depth.", evidence,
            "Use ReLU-family activations with He initialisation, BatchNormalization, "
            "residual connections, or a shallower model.")]
    if ratio > high:
        return [Finding(
            "warning", "exploding_gradients",
            f"The gradient reaching {layers[0]} is {ratio:.2g}× the one at {layers[-1]}: "
            "gradients explode across depth.", evidence,
            "Scale the initialisation down (Glorot/He, not larger), add "
            "BatchNormalization, clip gradients (clipnorm=) and lower the learning rate.")]
    return []


def _last(run: RunRecord, name: str) -> float | None:
    values = run.curve(name)
    return None if values is None else float(values[-1])


def train_inference_mismatch(run: RunRecord) -> list[Finding]:
    """The same probe examples score much worse in inference mode than in training mode.

    The logger measures the probe loss both ways at train end. A model whose inference-mode
    loss is far above its training-mode loss on the very same examples is judged on other
    numbers than it trained on: BatchNormalization's moving statistics have not caught up
    with the batch statistics (high momentum, few steps), or dropout interacts with it.
    """
    train = _last(run, "probe_loss_training_mode")
    infer = _last(run, "probe_loss_inference_mode")
    if train is None or infer is None or not (math.isfinite(train) and math.isfinite(infer)):
        return []
    ref = run.reference_loss or 1.0
    if not (infer > MISMATCH_RATIO * train and infer - train > MISMATCH_GAP * ref):
        return []
    evidence: dict = {"loss_training_mode": train, "loss_inference_mode": infer}
    for key in ("accuracy_training_mode", "accuracy_inference_mode"):
        value = _last(run, f"probe_{key}")
        if value is not None:
            evidence[key] = value
    batchnorm = int(_last(run, "batchnorm_layers") or 0)
    dropout = int(_last(run, "dropout_layers") or 0)
    shift, ratio = run.layer_stat("bn_mean_shift"), run.layer_stat("bn_variance_ratio")
    if not shift.empty:
        evidence["bn_mean_shift"] = {k: float(v) for k, v in shift.iloc[-1].dropna().items()}
        evidence["bn_variance_ratio"] = {
            k: float(v) for k, v in ratio.iloc[-1].dropna().items()}
    momentum = run.layer_stat("bn_momentum")
    steps = _last(run, "optimizer_steps")
    if batchnorm:
        cause = ("BatchNormalization's moving statistics: in inference mode each BatchNorm "
                 "layer normalises with its moving mean and variance, which still lag "
                 "behind the batch statistics used in training")
        if not momentum.empty:
            mom = float(momentum.iloc[-1].max())
            evidence["bn_momentum"] = mom
            if steps:
                evidence["initial_statistics_weight"] = mom ** steps
                cause += (f" (momentum {mom:g}: after {int(steps)} steps, "
                          f"{mom ** steps:.0%} of the initial values remain)")
        if dropout:
            cause += "; dropout placed before BatchNorm also shifts the variance it sees"
    elif dropout:
        cause = ("dropout: its units are dropped and rescaled in training mode only, and "
                 "here inference mode does worse, which points at a layer that depends on "
                 "the training flag in a non-standard way")
    else:
        cause = "a layer that computes differently in training and in inference mode"
    return [Finding(
        "warning", "train_inference_mismatch",
        f"On the same probe examples the inference-mode loss is {infer:.3g}, against "
        f"{train:.3g} in training mode: the cause is {cause}.",
        evidence,
        "Lower BatchNormalization's momentum (e.g. 0.9 instead of Keras's 0.99) or train "
        "for more steps so that the moving statistics converge; judge the model with "
        "model.evaluate on the train data (inference mode) rather than the training-mode "
        "loss in the logs; put dropout after the BatchNorm layers.")]
