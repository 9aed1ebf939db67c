"""Doctor rules that read the learning curves (seed 004's "courbes d'apprentissage").

Each rule is a pure function ``RunRecord -> list[Finding]``; thresholds are module
constants so that they can be read, quoted and tested.
"""

from __future__ import annotations

import math

import numpy as np

from keras_recipes.diagnostics.finding import Finding
from keras_recipes.diagnostics.run_record import RunRecord

#: The train loss is "exploding" when an epoch's loss exceeds this multiple of its initial
#: value (or of ln C), when it ends above both epoch 1's and ln C (by more than
#: WORSE_MARGIN of the larger, so that a flat run's noise around ln C is not called
#: "worse"), or ends this factor above its minimum.
SPIKE_FACTOR = 10.0
WORSE_MARGIN = 0.05
REBOUND_FACTOR = 1.5
#: Initial loss outside [1/f, f] × ln C is worth a note (INFO).
INITIAL_LOSS_FACTOR = 1.5
#: ... and a warning when it exceeds ln C by more than INITIAL_LOSS_EXCESS × max(ln C, 1)
#: nats. A Glorot- or He-initialised head on unit-scale features gives logits of standard
#: deviation about 1 to 2 and an untrained loss up to about 1 nat above ln C (1.0 nat at
#: most on the healthy runs of benchmarks/doctor_panel.py). Twice that margin means logits
#: several times too large: the untrained network is confidently wrong.
INITIAL_LOSS_EXCESS = 2.0
#: "Flat": relative change of the loss below this over the first FLAT_STEPS steps...
FLAT_TOLERANCE = 0.05
FLAT_STEPS = 100
#: ... unless epoch 1's loss is already this fraction below the start (ln C, else the
#: initial probe loss): the model learned during epoch 1 and then settled.
FLAT_LEARNED = 0.10
#: Overfitting: val loss ends this fraction above its minimum while train loss still falls,
#: by at least OVERFIT_ABS × the reference loss (ln C) in absolute terms, and the median of
#: the last OVERFIT_LAST epochs is up too (one noisy epoch is no trend).
OVERFIT_RISE = 0.10
OVERFIT_ABS = 0.05
OVERFIT_LAST = 3
#: Underfitting: final train loss above this fraction of the reference loss...
UNDERFIT_FRACTION = 0.10
#: ... still falling by more than this fraction of itself per epoch over the last
#: UNDERFIT_WINDOW of the run (at least 2 epochs; the initial loss counts as epoch 0), a
#: window that always leaves an earlier point to compare its rate with (a 2-epoch run: its
#: last epoch)...
STILL_FALLING = 0.01
UNDERFIT_WINDOW = 0.25
#: ... at a rate that is at least this fraction of the run's average rate (the curve has not
#: bent towards a floor), with the validation loss falling too.
UNDERFIT_BEND = 0.3
#: Train - val accuracy gap above this (or a loss gap above GAP_LOSS × reference).
GAP_ACCURACY = 0.10
GAP_LOSS = 0.5
#: Oscillation: at least OSC_MIN_RISES epochs whose loss rose by > OSC_RISE (relative)
#: and by > OSC_ABS × the reference loss (ln C) in absolute terms, and at least
#: OSC_FRACTION of the epoch-to-epoch changes. The absolute floor keeps a training loss
#: that has reached ~0.01 nats from "oscillating" when dropout noise moves it by 0.005:
#: such rises are 0.2 % of ln 10 (a 512-512 MLP memorising 3600 MNIST digits with
#: RMSprop), the rises of an oscillating run 2 % to 200 % of ln C.
OSC_RISE = 0.02
OSC_ABS = 0.01
OSC_MIN_RISES = 2
OSC_FRACTION = 0.25
#: Chance level: final accuracy below CHANCE_FACTOR / C.
CHANCE_FACTOR = 1.5

_LR_FINDER = "keras_recipes.lr_finder.find_lr"
_EARLY_STOPPING = "keras_recipes.callbacks.EarlyStopping"


def _finite(values):
    return values is not None and bool(np.all(np.isfinite(values)))


def nonfinite_or_exploding(run: RunRecord) -> list[Finding]:
    """Loss NaN/Inf, or finite but far above chance / rebounding → LR too high or bad init."""
    advice = (f"Lower the learning rate (ε0) by 10×, or pick it with {_LR_FINDER} (the largest "
              "ε0 that does not diverge); check the initialisation (He for ReLU) and the "
              "inputs' scale; clipnorm= in the optimizer bounds each step, and "
              "keras.callbacks.TerminateOnNaN stops a diverged run at once.")
    for key in ("loss", "val_loss"):
        values = run.curve(key)
        if values is not None and not _finite(values):
            epoch = int(np.argmax(~np.isfinite(values))) + 1
            return [Finding("error", "nonfinite_loss",
                            f"The {key.replace('_', ' ')} became NaN or infinite at epoch "
                            f"{epoch}: training diverged.",
                            {"metric": key, "first_bad_epoch": epoch}, advice)]
    loss = run.curve("loss")
    ref = run.reference_loss
    start = run.summary.get("initial_loss")
    start = float(loss[0]) if start is None or not math.isfinite(start) else float(start)
    evidence = {"final_loss": float(loss[-1]), "max_loss": float(loss.max()),
                "start_loss": start, "reference_loss": ref}
    if ref is not None and loss.max() > SPIKE_FACTOR * max(ref, start):
        epoch = int(np.argmax(loss)) + 1
        return [Finding("error", "exploding_loss",
                        f"The train loss reached {loss.max():.3g} at epoch {epoch}, more than "
                        f"{SPIKE_FACTOR:g}× where it started: the steps overshoot.",
                        evidence, advice)]
    if ref is not None and len(loss) >= 2 and loss[-1] > (1 + WORSE_MARGIN) * max(ref, loss[0]):
        return [Finding("error", "exploding_loss",
                        f"The final train loss {loss[-1]:.3g} is above both epoch 1's "
                        f"({loss[0]:.3g}) and the loss of a uniform guess ({ref:.3g}): "
                        "training made the model worse.", evidence, advice)]
    if len(loss) >= 2 and loss[-1] > REBOUND_FACTOR * loss.min() and loss[-1] > loss[0]:
        return [Finding("error", "exploding_loss",
                        f"The train loss climbed back from {loss.min():.3g} to {loss[-1]:.3g}: "
                        "steps are too large.", evidence, advice)]
    return []


def initial_loss_band(expected: float) -> tuple[float, float, float]:
    """``(low, high, warn)``: the INFO band [ln C / f, f · ln C] and the warning threshold.

    The warning threshold is ``ln C + INITIAL_LOSS_EXCESS × max(ln C, 1)`` nats.
    """
    return (expected / INITIAL_LOSS_FACTOR, expected * INITIAL_LOSS_FACTOR,
            expected + INITIAL_LOSS_EXCESS * max(expected, 1.0))


def initial_loss(run: RunRecord) -> list[Finding]:
    """Initial loss far from ln C → broken initialisation, labels or output layer.

    Above the warning threshold (see :func:`initial_loss_band`) the untrained network is
    confidently wrong: a warning. Between ``f · ln C`` and that threshold the head's initial
    weights are somewhat large, and below ``ln C / f`` the untrained network already beats
    a uniform guess: both are notes, since neither is evidence that the run goes wrong.
    """
    init = run.summary.get("initial_loss")
    expected = run.summary.get("expected_initial_loss")
    if init is None or expected is None or not expected > 0:
        return []
    low, high, warn = initial_loss_band(expected)
    evidence = {"initial_loss": float(init), "expected": float(expected),
                "note_band": [low, high], "warning_above": warn}
    if not math.isfinite(init) or init > warn:
        return [Finding(
            "warning", "initial_loss",
            f"The initial loss {init:.3g} is far above {expected:.3g} = ln C, the loss of a "
            "uniform guess: the untrained network is confidently wrong (its outputs are "
            "far too large).",
            evidence,
            "Check the input scale (standardise, or put keras.layers.Normalization first), "
            "the initialisation (He/Glorot, not larger; small last-layer weights give ln "
            "C), and the output layer (softmax with from_logits=False, one unit per "
            "class).")]
    if init > high:
        return [Finding(
            "info", "initial_loss",
            f"The initial loss {init:.3g} is above {expected:.3g} = ln C (but below "
            f"{warn:.3g}): the untrained outputs are somewhat confident; the first steps "
            "shrink them.",
            evidence,
            "A smaller last-layer initialisation (e.g. its kernel scaled by 0.1) starts "
            "at ln C.")]
    if init < low:
        return [Finding(
            "info", "initial_loss",
            f"The initial loss {init:.3g} is below {expected:.3g} = ln C: the untrained "
            "network already does better than a uniform guess on the probe batch.",
            evidence,
            "Usually luck on an easy task. Otherwise check for inputs that contain the "
            "label (leakage) and that the loss matches the labels and the output layer.")]
    return []


def flat_loss(run: RunRecord) -> list[Finding]:
    """Loss flat over the first ~100 steps → LR too low, frozen or bad initialisation.

    A loss that barely moves after epoch 1 is flat only if epoch 1 did not already bring it
    well below where it started (ln C, else the initial probe loss): a model that learns
    its task within the first epoch and then settles at the task's floor is healthy.
    """
    loss = run.curve("loss")
    if loss is None or not _finite(loss):
        return []
    steps = run.summary.get("steps_per_epoch") or 0
    k = max(1, math.ceil(FLAT_STEPS / steps)) if steps else 1
    if len(loss) >= 2:
        # Epoch means against epoch means: the probe's initial loss is measured in
        # inference mode (BatchNorm moving statistics), the epoch means in training mode.
        k = min(k, len(loss) - 1)
        start, after = float(loss[0]), float(loss[k])
    else:
        # One epoch: from the probe's initial loss to epoch 1's mean, one epoch apart.
        start = run.summary.get("initial_loss")
        if start is None or not math.isfinite(start):
            return []
        k, after = 1, float(loss[0])
    change = (start - after) / max(abs(start), 1e-12)
    if abs(change) >= FLAT_TOLERANCE:
        return []
    origin = run.reference_loss
    evidence = {"start_loss": float(start), "loss_after": after, "epochs": k,
                "reference_loss": origin}
    if len(loss) >= 2 and origin is not None and loss[0] < (1 - FLAT_LEARNED) * origin:
        return []
    return [Finding(
        "warning", "flat_loss",
        f"The loss moved by only {100 * change:.2g}% over {k} epoch(s) "
        f"({k * steps if steps else '?'} steps), and not below where it started: nothing "
        "is being learned.",
        evidence,
        f"Raise the learning rate (try 1e-3 for Adam, or run {_LR_FINDER}); check the "
        "initialisation (constant or zero weights never break symmetry) and that "
        "gradients reach the weights (frozen layers, detached graph).")]


def overfitting(run: RunRecord) -> list[Finding]:
    """Train loss falling while val loss rises → overfitting.

    The rise must be real: more than ``OVERFIT_RISE`` of the minimum, more than
    ``OVERFIT_ABS`` × the reference loss (ln C) in absolute terms (a validation loss of 0.06
    that ends at 0.07 is sampling noise on a few hundred examples), and held: the median of
    the last ``OVERFIT_LAST`` epochs is above the minimum by more than ``OVERFIT_RISE`` too.
    """
    loss, val = run.curve("loss"), run.curve("val_loss")
    if val is None or len(val) < 4 or not (_finite(val) and _finite(loss)):
        return []
    best = int(np.argmin(val))
    if best >= len(val) - 1:
        return []
    floor = max(val[best], 1e-12)
    rise = (val[-1] - val[best]) / floor
    held = (float(np.median(val[-OVERFIT_LAST:])) - val[best]) / floor
    ref = run.reference_loss
    large = ref is None or val[-1] - val[best] > OVERFIT_ABS * ref
    train_falls = loss[-1] < loss[best]
    if rise > OVERFIT_RISE and held > OVERFIT_RISE and large and train_falls:
        return [Finding(
            "warning", "overfitting",
            f"The validation loss was lowest at epoch {best + 1} ({val[best]:.3g}) and rose "
            f"{100 * rise:.0f}% since, while the train loss kept falling: the model overfits.",
            {"best_epoch": best + 1, "best_val_loss": float(val[best]),
             "final_val_loss": float(val[-1]), "final_loss": float(loss[-1]),
             "reference_loss": ref},
            f"Stop at the best epoch ({_EARLY_STOPPING} with restore_best_weights), add "
            "regularisation (weight decay, keras.layers.Dropout), get more data or augment "
            "it, or use a smaller model.")]
    return []


def _timeline(run: RunRecord, loss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Times (in epochs) and values of the train loss: each epoch mean sits mid-epoch, and
    the initial probe loss, when known, at 0."""
    times = np.arange(len(loss), dtype=float) + 0.5
    init = run.summary.get("initial_loss")
    if init is not None and math.isfinite(init):
        return np.concatenate([[0.0], times]), np.concatenate([[float(init)], loss])
    return times, loss


def underfitting(run: RunRecord) -> list[Finding]:
    """Loss high and still falling fast at the end → stopped too early / too slow.

    Tells a model that is still learning from one that has reached its task's noise floor.
    It fires (warning) when all hold:

    - the final train loss is above ``UNDERFIT_FRACTION`` × the reference (ln C);
    - over the last ``UNDERFIT_WINDOW`` of the run (at least 2 epochs, and never the whole
      run: a 2-epoch run is judged on its last epoch) the train loss fell by more than
      ``STILL_FALLING`` of itself per epoch;
    - that recent rate is at least ``UNDERFIT_BEND`` × the run's average rate: the curve
      has not bent towards a floor (a run at its floor made most of its progress early).
      With two points only (one epoch and the initial loss, or two epochs without it)
      there is no earlier rate: the bend is not measured (``None`` in the evidence);
    - the validation loss, when logged, fell over the same epochs too: more training
      would help on new data, not only on the training set.

    A loss that stays high but has levelled off, with validation close to it, is the
    task's floor or a model that is too small; the curves cannot tell them apart, so it is
    a note (``loss_plateau``). A loss that never went ``FLAT_LEARNED`` below the reference
    learned nothing: no note (``flat_loss``, ``chance_level`` or ``exploding_loss`` say
    why), since "noise floor" would be the wrong reading.
    """
    loss = run.curve("loss")
    ref = run.reference_loss
    if ref is None or not _finite(loss):
        return []
    times, values = _timeline(run, loss)
    if len(values) < 2 or loss[-1] <= UNDERFIT_FRACTION * ref:
        return []
    n = len(values) - 1
    # The window leaves an earlier point to compare its rate with; two points leave none.
    window = max(1, min(n - 1, max(2, math.ceil(UNDERFIT_WINDOW * len(loss)))))
    recent = (values[-1 - window] - values[-1]) / (times[-1] - times[-1 - window])
    overall = (values[0] - values[-1]) / (times[-1] - times[0])
    relative = recent / max(abs(values[-1]), 1e-12)
    if window == n:  # two points: whether the curve bends is not measured
        bend = None
    else:
        bend = recent / overall if overall > 0 else math.inf if recent > 0 else 0.0
    val = run.curve("val_loss")
    val_window = None if val is None else min(len(val) - 1, window)
    val_falls = (val is None or not _finite(val) or val_window < 1
                 or val[-1] < val[-1 - val_window] * (1 - STILL_FALLING))
    evidence = {"final_loss": float(loss[-1]), "reference_loss": ref,
                "final_val_loss": None if val is None else float(val[-1]),
                "window_epochs": int(window), "recent_drop_per_epoch": float(recent),
                "recent_drop_fraction": float(relative),
                "recent_over_average_rate": None if bend is None else float(bend)}
    not_bent = bend is None or bend >= UNDERFIT_BEND
    if relative > STILL_FALLING and not_bent and val_falls:
        return [Finding(
            "warning", "underfitting",
            f"The train loss ({loss[-1]:.3g}) is still high and still falling fast: "
            f"{100 * relative:.2g}% of itself per epoch over the last {window} epoch(s), "
            + ("too few epochs to see whether the curve bends" if bend is None else
               f"{bend:.2g}× the run's average rate")
            + (", with the validation loss falling too" if val is not None else "")
            + ": training stopped too early or moves too slowly.",
            evidence,
            "Train longer (more epochs; EarlyStopping with patience will stop it when it "
            "is done) or raise the learning rate (seed 004); run "
            f"{_LR_FINDER} to pick it.")]
    gap = None if val is None or not _finite(val) else float(val[-1] - loss[-1])
    learned = loss[-1] < (1 - FLAT_LEARNED) * ref
    if relative <= STILL_FALLING and learned and (gap is None or abs(gap) <= GAP_LOSS * ref):
        evidence["val_minus_train_loss"] = gap
        return [Finding(
            "info", "loss_plateau",
            f"The train loss levelled off at {loss[-1]:.3g} ({loss[-1] / ref:.2g}× the "
            f"reference {ref:.3g})"
            + (f" and the validation loss is close ({val[-1]:.3g})" if gap is not None
               else "")
            + ": the task's noise floor, or a model too small for it.",
            evidence,
            "If the task should allow better, try a wider or deeper model: if it does no "
            "better on the training set, the floor is the data's (label noise, overlapping "
            "classes).")]
    return []


def generalization_gap(run: RunRecord) -> list[Finding]:
    """A large gap between train and validation performance."""
    key = run.accuracy_key()
    if key is not None and run.curve(f"val_{key}") is not None:
        train, val = run.curve(key)[-1], run.curve(f"val_{key}")[-1]
        gap, limit, what = train - val, GAP_ACCURACY, "accuracy"
    else:
        loss, val_loss, ref = run.curve("loss"), run.curve("val_loss"), run.reference_loss
        if val_loss is None or ref is None:
            return []
        train, val = loss[-1], val_loss[-1]
        gap, limit, what = val - train, GAP_LOSS * ref, "loss"
    if math.isfinite(gap) and gap > limit:
        return [Finding(
            "warning", "generalization_gap",
            f"The final train {what} ({train:.3g}) and validation {what} ({val:.3g}) "
            f"differ by {gap:.3g} (> {limit:.3g}): the model does not generalise.",
            {f"train_{what}": float(train), f"val_{what}": float(val), "gap": float(gap)},
            "Regularise (weight decay, dropout), get more or augmented data, or use a "
            "smaller model; check that train and validation come from the same "
            "distribution.")]
    return []


def oscillating_loss(run: RunRecord) -> list[Finding]:
    """The train loss goes up and down from epoch to epoch → LR too high.

    A rise counts when it is more than ``OSC_RISE`` of the previous epoch's loss and more
    than ``OSC_ABS`` × the reference loss (ln C): near zero, a relative rise says nothing.
    """
    loss = run.curve("loss")
    if loss is None or len(loss) < 5 or not _finite(loss):
        return []
    rise = np.diff(loss)
    rel = rise / np.maximum(np.abs(loss[:-1]), 1e-12)
    ref = run.reference_loss
    floor = 0.0 if ref is None else OSC_ABS * ref
    rises = int(np.sum((rel > OSC_RISE) & (rise > floor)))
    if rises >= OSC_MIN_RISES and rises / len(rel) >= OSC_FRACTION:
        return [Finding(
            "warning", "oscillating_loss",
            f"The train loss rose in {rises} of {len(rel)} epochs: it oscillates instead of "
            "falling steadily.",
            {"rises": rises, "epochs": len(loss), "largest_rise": float(rel.max()),
             "min_counted_rise": floor},
            f"Lower the learning rate (or pick it with {_LR_FINDER}), add a decaying "
            "schedule or warm-up, or use a larger batch.")]
    return []


def chance_level(run: RunRecord) -> list[Finding]:
    """Final accuracy at chance level → labels shuffled or misaligned, or nothing learned."""
    key, c = run.accuracy_key(), run.num_classes
    if key is None or not c or c < 2:
        return []
    name = f"val_{key}" if run.curve(f"val_{key}") is not None else key
    acc = float(run.curve(name)[-1])
    if len(run.curve(key)) >= 2 and acc < CHANCE_FACTOR / c:
        return [Finding(
            "warning", "chance_level",
            f"The final {name.replace('_', ' ')} {acc:.3g} is at chance level (1/C = "
            f"{1 / c:.3g}): the model has learned nothing that transfers.",
            {name: acc, "chance": 1.0 / c},
            "Check that labels are aligned with inputs (no shuffle of one without the "
            "other), that the loss fits the labels, and that the model can overfit a tiny "
            "subset first (seed 004, step 2).")]
    return []


def still_improving(run: RunRecord) -> list[Finding]:
    """Validation loss still falling at the end (a note: more epochs would help)."""
    val = run.curve("val_loss")
    if val is None or len(val) < 3 or not _finite(val):
        return []
    drops = -np.diff(val[-3:]) / np.maximum(np.abs(val[-3:-1]), 1e-12)
    if np.all(drops > STILL_FALLING):
        return [Finding(
            "info", "still_improving",
            "The validation loss was still falling over the last epochs.",
            {"last_val_losses": [float(v) for v in val[-3:]]},
            f"Train for more epochs and let {_EARLY_STOPPING} decide when to stop.")]
    return []
