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
#: A tanh or sigmoid layer is saturated when its mean derivative, relative to the peak
#: derivative (1 for tanh, 1/4 for sigmoid), is below SATURATION_DERIVATIVE at the last
#: record, or below SATURATION_AT_INIT at the first (before training, Glorot or LeCun
#: weights give about 0.6: pre-activations of standard deviation about 1).
SATURATION_DERIVATIVE = 0.1
SATURATION_AT_INIT = 0.25
#: Unnormalised inputs hurt the run when the first hidden layer's activation rms is above
#: this at the last record (its units see values far from a unit scale).
INPUT_HARM_RMS = 10.0
#: Validation (test) examples whose inputs are also training inputs: a warning above this
#: fraction, a note above OVERLAP_NOTE.
OVERLAP_WARN = 0.05
OVERLAP_NOTE = 0.01

_NORMALISATION_LAYERS = ("BatchNormalization", "LayerNormalization", "GroupNormalization",
                         "UnitNormalization", "RMSNormalization")


def _last_records(table):
    """Rows of the last record (all layers), dropping layers with no value."""
    if table.empty:
        return None, None
    epoch = int(table.index.max())
    return epoch, table.loc[epoch].dropna()


def _first_records(table):
    """Rows of the first record (all layers), dropping layers with no value."""
    if table.empty:
        return None, None
    epoch = int(table.index.min())
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


def _first_hidden(run: RunRecord, stat: str) -> tuple[str, float] | None:
    """The first hidden layer's value of ``stat`` at the last record."""
    hidden = run.summary.get("hidden_layers") or []
    epoch, last = _last_records(run.layer_stat(stat))
    if last is None:
        return None
    for name in hidden or list(last.index):
        if name in last.index:
            return name, float(last[name])
    return None


def _input_harm(run: RunRecord) -> dict:
    """Evidence that the input scale hurts this run (empty when none)."""
    from keras_recipes.diagnostics.curve_rules import initial_loss_band

    harm: dict = {}
    init = run.summary.get("initial_loss")
    expected = run.summary.get("expected_initial_loss")
    if init is not None and expected and (not math.isfinite(init)
                                          or init > initial_loss_band(expected)[2]):
        harm["initial_loss"] = float(init)
        harm["expected_initial_loss"] = float(expected)
    loss = run.curve("loss")
    if loss is not None and not np.all(np.isfinite(loss)):
        harm["non_finite_loss"] = True
    first = _first_hidden(run, "act_rms")
    if first is not None and first[1] > INPUT_HARM_RMS:
        harm["first_hidden_layer"] = first[0]
        harm["first_hidden_rms"] = first[1]
    dead = _first_hidden(run, "act_dead_fraction")
    if dead is not None and dead[1] > DEAD_FRACTION:
        harm["first_hidden_dead_fraction"] = dead[1]
    saturated = _saturation(run).get((first or dead or ("", 0))[0])
    if saturated is not None and saturated < SATURATION_DERIVATIVE:
        harm["first_hidden_mean_derivative"] = saturated
    return harm


def inputs_not_normalised(run: RunRecord) -> list[Finding]:
    """Inputs far from a unit scale (the seeds' classic error), judged on what they do.

    Silent when the model normalises its inputs before its first weighted layer
    (``Normalization``, ``Rescaling``, ``MinMaxNormalization``, ``BatchNormalization`` or
    ``LayerNormalization`` first): raw inputs are then what it expects. Otherwise
    non-finite inputs, or a scale with evidence of harm (initial loss far above ln C, a
    diverged loss, a first hidden layer whose activations are far from a unit scale, dead
    or saturated), give a warning; a scale without such evidence is a note.
    """
    if run.summary.get("inputs_normalised", True) or run.summary.get("normalisation_layer"):
        return []
    stats = {k: v for k, v in (run.summary.get("input_stats") or {}).items()
             if k in ("min", "max", "mean", "std", "non_finite")}
    advice = ("Standardise with statistics of the train set ((x − mean) / std, e.g. "
              "keras.layers.Normalization adapted on it as the model's first layer), or "
              "scale to [0, 1] (images: / 255).")
    if stats.get("non_finite"):
        return [Finding(
            "warning", "inputs_not_normalised",
            f"{stats['non_finite']} input value(s) are NaN or infinite.", stats,
            "Impute or drop the missing values before training; " + advice)]
    harm = _input_harm(run)
    if harm:
        return [Finding(
            "warning", "inputs_not_normalised",
            "The inputs are not normalised (values far outside a unit scale) and it shows: "
            + ", ".join(_HARM_TEXT[k] for k in harm if k in _HARM_TEXT) + ".",
            {**stats, **harm}, advice)]
    return [Finding(
        "info", "inputs_not_normalised",
        "The inputs are not on a unit scale; this run shows no harm from it (initial loss, "
        "first hidden layer and loss curve look fine).", stats, advice)]


_HARM_TEXT = {
    "initial_loss": "the initial loss is far above ln C",
    "non_finite_loss": "the loss became NaN or infinite",
    "first_hidden_rms": "the first hidden layer's activations are far from a unit scale",
    "first_hidden_dead_fraction": "most units of the first hidden layer are dead",
    "first_hidden_mean_derivative": "the first hidden layer is saturated",
}

_BOUNDED = {"tanh": (1.0,), "sigmoid": (0.25,)}


def _saturation(run: RunRecord, first: bool = False) -> dict[str, float]:
    """Mean derivative / peak derivative of each tanh or sigmoid layer, at the last record
    (or the first).

    From the probe's activation moments: tanh' = 1 − a², so its mean is 1 − rms²;
    sigmoid' = a (1 − a), so its mean is mean − rms², out of a peak of 1/4.
    """
    activations = {d.get("name"): d.get("activation")
                   for d in run.summary.get("layers", []) if isinstance(d, dict)}
    pick = _first_records if first else _last_records
    _, rms = pick(run.layer_stat("act_rms"))
    _, mean = pick(run.layer_stat("act_mean"))
    if rms is None:
        return {}
    out = {}
    for layer, r in rms.items():
        kind = activations.get(layer)
        if kind == "tanh":
            out[layer] = float(max(0.0, 1.0 - r * r))
        elif kind == "sigmoid" and mean is not None and layer in mean.index:
            out[layer] = float(max(0.0, mean[layer] - r * r) / 0.25)
    return out


def saturated_units(run: RunRecord) -> list[Finding]:
    """tanh or sigmoid hidden layers stuck in their flat tails → gradients die there.

    The mean derivative of the layer's activation over the probe batch, relative to its
    peak, is below ``SATURATION_DERIVATIVE`` at the last record, or below
    ``SATURATION_AT_INIT`` at the first (the initialisation or the input scale put the
    units there before any learning): most pre-activations are so large that the
    activation is flat, and the gradient through the layer shrinks by that factor. A
    trained layer may legitimately be confident, hence the stricter bound at the end.
    """
    last = {k: v for k, v in _saturation(run).items() if v < SATURATION_DERIVATIVE}
    start = {k: v for k, v in _saturation(run, first=True).items()
             if v < SATURATION_AT_INIT}
    bad = {**start, **last}
    if not bad:
        return []
    when = ("at the end of training" if not start else "at initialisation" if not last
            else "at initialisation and at the end")
    return [Finding(
        "warning", "saturated_units",
        f"{', '.join(bad)}: the mean derivative of the activation is only "
        f"{min(bad.values()):.2g} of its peak on the probe batch {when}: the units sit in "
        "the flat tails of tanh/sigmoid and pass little gradient.",
        {"mean_derivative_over_peak_first": start, "mean_derivative_over_peak_last": last},
        "Scale the initialisation down (Glorot for tanh/sigmoid), normalise the inputs, add "
        "BatchNormalization before the activation, or use ReLU-family activations.")]


_CE_LOSSES = ("sparse_categorical_crossentropy", "categorical_crossentropy",
              "categorical_focal_crossentropy", "binary_crossentropy",
              "binary_focal_crossentropy")
_PROBABILITIES = ("softmax", "sigmoid")


def output_loss_mismatch(run: RunRecord) -> list[Finding]:
    """The output layer and the loss disagree on what the outputs are.

    Reads the output activation and the loss's ``from_logits`` flag from the logger's
    summary: probabilities given to a loss that expects logits (softmax or sigmoid with
    ``from_logits=True``), scores given to a loss that expects probabilities (no activation
    with ``from_logits=False``: Keras clips them into (0, 1)), sigmoid outputs given to a
    categorical cross-entropy (they do not sum to 1), or a softmax over a single unit
    (always 1).
    """
    s = run.summary
    loss, act, logits = s.get("loss_name"), s.get("output_activation"), s.get(
        "loss_from_logits")
    units = s.get("num_outputs")
    evidence = {"loss": loss, "from_logits": logits, "output_activation": act,
                "output_units": units}
    if act == "softmax" and units == 1:
        return [Finding(
            "error", "output_loss_mismatch",
            "The output is a softmax over a single unit: it is 1 for every example, so "
            "nothing can be learned.", evidence,
            "For two classes use Dense(1, activation='sigmoid') with binary_crossentropy, "
            "or Dense(2, activation='softmax') with sparse_categorical_crossentropy.")]
    if loss not in _CE_LOSSES or act is None:
        return []
    if logits is True and act in _PROBABILITIES:
        return [Finding(
            "warning", "output_loss_mismatch",
            f"The output layer applies {act} but the loss has from_logits=True: on the JAX "
            f"and PyTorch backends the loss applies {act} a second time to values in [0, 1], "
            "so its predictions stay close to uniform and its gradients are small (the "
            f"TensorFlow backend reads the logits under a Keras {act} instead, and warns): "
            "the same code trains differently across backends.", evidence,
            f"Either drop the output {act} (Dense without activation) and keep "
            "from_logits=True, or keep it and use from_logits=False.")]
    if logits is False and act not in _PROBABILITIES:
        return [Finding(
            "warning", "output_loss_mismatch",
            f"The output layer's activation is {act!r}, but the loss has "
            "from_logits=False and reads the outputs as probabilities: Keras clips them "
            "into (0, 1), and negative scores all count as 0.", evidence,
            "Pass from_logits=True to the loss (e.g. keras.losses."
            "SparseCategoricalCrossentropy(from_logits=True)), or end with a softmax "
            "(sigmoid for binary_crossentropy).")]
    if act == "sigmoid" and loss.startswith(("sparse_categorical", "categorical")) \
            and units and units > 1:
        return [Finding(
            "warning", "output_loss_mismatch",
            f"{units} sigmoid outputs feed a categorical cross-entropy: they do not form a "
            "distribution over the classes (they need not sum to 1).", evidence,
            "Use a softmax output for one label per example; keep sigmoid outputs with "
            "binary_crossentropy for several labels per example.")]
    return []


def split_overlap(run: RunRecord) -> list[Finding]:
    """Validation or test examples whose inputs are also training inputs.

    The logger hashes every example's inputs (``val_in_train_fraction``,
    ``test_in_train_fraction``). Shared examples make the held-out scores optimistic.
    """
    shared = {k: float(run.summary[f"{k}_in_train_fraction"]) for k in ("val", "test")
              if run.summary.get(f"{k}_in_train_fraction") is not None}
    worst = max(shared.values(), default=0.0)
    if worst <= OVERLAP_NOTE:
        return []
    names = " and ".join(f"{100 * v:.3g}% of the {'validation' if k == 'val' else 'test'} "
                         "examples" for k, v in shared.items() if v > OVERLAP_NOTE)
    severity = "warning" if worst > OVERLAP_WARN else "info"
    return [Finding(
        severity, "split_overlap",
        f"{names} also appear (identical inputs) in the training data: held-out scores "
        "are optimistic.", {f"{k}_in_train_fraction": v for k, v in shared.items()},
        "Split before any augmentation or duplication, drop duplicates across splits "
        "(keras_recipes.data.split), and keep the test set apart until the end.")]


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


def _initial_depth_ratio(table, layers) -> float | None:
    """Gradient rms of the first weighted layer / the last hidden one, at the first record
    (the initialisation, epoch 0); ``None`` with fewer than two hidden weighted layers."""
    if len(layers) < 3 or int(table.index.min()) != 0:
        return None
    first, last = table[layers[0]].iloc[0], table[layers[-2]].iloc[0]
    if not (np.isfinite(first) and np.isfinite(last) and last > 0):
        return None
    return float(first / last)


def gradient_depth(run: RunRecord) -> list[Finding]:
    """Gradient rms of the first weighted layer versus the last: vanishing or exploding.

    The median ratio over the records compares the first weighted layer with the last
    (the head). At initialisation (epoch 0) the first weighted layer is also compared with
    the last *hidden* one: the head's initial scale is a choice (a small head starts at
    ln C) and scales every hidden gradient alike, so the depth signal is measured across
    the hidden stack. Adam rescales each weight's step, so a network whose gradients vanish
    at initialisation may still train, slowly: that case is reported too.
    """
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
    start = _initial_depth_ratio(table, layers)
    if ratio < low or (start is not None and 0 < start < low):
        if ratio < low:
            where, shown = f"the one at {layers[-1]}", ratio
        else:
            where, shown = (f"the one at {layers[-2]} at initialisation (Adam's per-weight "
                            "scaling can hide it later, at the cost of a slow start)"), start
            evidence["initial_grad_rms_ratio_hidden"] = start
            evidence["last_hidden_layer"] = layers[-2]
        return [Finding(
            "warning", "vanishing_gradients",
            f"The gradient reaching {layers[0]} is {shown:.2g}× {where}: gradients vanish "
            "across depth.", evidence,
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
