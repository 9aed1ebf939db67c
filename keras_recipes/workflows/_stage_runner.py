"""Run one steamroller stage: LR finder, training with diagnostics, gate, plots, model."""

from __future__ import annotations

import dataclasses
import inspect
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import keras
import numpy as np

from keras_recipes import _distribute
from keras_recipes.workflows.common import atomic_write, atomic_write_json
from keras_recipes.workflows.stages import StageData

#: Stage 1–2 ("small") and stage 3 ("big") variants of the named baseline models.
#: Network sizes of the named presets, small to big (seed 000, stage 3: "petit réseau →
#: gros réseau"). Stages 1–2 use the first; stage 3 grows from it while the validation loss
#: improves, or takes the second when growth is off.
PRESET_SIZES = {
    "mlp": [{"hidden": (128,)}, {"hidden": (256, 256)}, {"hidden": (512, 512)}],
    "cnn": [{"filters": (32, 64)}, {"filters": (32, 64, 128)}, {"filters": (64, 128, 256)}],
}
MODEL_PRESETS = {name: {"small": sizes[0], "big": sizes[1]} for name, sizes in PRESET_SIZES.items()}
#: A bigger network is kept when it lowers the validation loss by at least this fraction.
GROWTH_MIN_GAIN = 0.02
#: Learning rate used when the range test gives no suggestion.
FALLBACK_LR = 1e-3
#: EMA factor of the range test's smoothed loss (time constant ~10 steps).
LR_FINDER_SMOOTHING = 0.9
#: Probe batch size of the diagnostic logger.
PROBE_SIZE = 128

NEXT_STEPS = {
    1: [
        "Check the labels and the preprocessing: show a few examples with their labels.",
        "Check the output layer and the loss (softmax + sparse categorical cross-entropy "
        "for integer labels).",
        "Train longer (raise stage1_epochs) or pick the learning rate by hand around the "
        "LR finder's curve.",
        "Use a bigger model: a network that cannot overfit a handful of examples is too "
        "small or broken.",
    ],
    2: [
        "Add regularisation (dropout, weight_decay) or augmentation if train accuracy is "
        "far above validation accuracy.",
        "Train longer or raise the learning rate if both accuracies are low (underfitting).",
        "Get more data for these classes, or check the validation labels.",
        "Lower stage2_min_val_accuracy only if the bound is unrealistic for this task.",
    ],
}


@dataclasses.dataclass
class StageSpec:
    """Settings of one stage."""

    model: str | Callable[..., Any]
    epochs: int
    batch_size: int
    dropout: float
    weight_decay: float
    augment: float
    lr_finder_steps: int
    seed: int
    bound: float | None = None
    patience: int = 8
    schedule: str = "onecycle"
    #: Inputs whose statistics standardise the network's inputs (the whole train split);
    #: ``None`` trains on raw inputs.
    standardize_on: Any = None
    #: Stage 3 only: grow a named preset from the stage-2 size while validation improves.
    grow: bool = False


def _preset(model: str, stage: int, size: int | None) -> dict[str, Any]:
    if size is not None:
        return PRESET_SIZES[model][size]
    return MODEL_PRESETS[model]["big" if stage == 3 else "small"]


def model_description(model: str | Callable[..., Any], stage: int, dropout: float,
                      size: int | None = None) -> str:
    """Human description of the network a stage trains."""
    if isinstance(model, str):
        preset = _preset(model, stage, size)
        args = ", ".join(f"{k}={v}" for k, v in preset.items())
        return f"{model} ({args}, dropout={dropout:g})"
    return f"{getattr(model, '__name__', type(model).__name__)}(stage={stage}, " \
           f"dropout={dropout:g})"


def build_stage_model(model, stage: int, input_shape, num_classes: int, dropout: float,
                      normalization=None, size: int | None = None):
    """Build the uncompiled network of ``stage`` (small net in stages 1–2, big in 3).

    ``normalization`` (a layer, e.g. the train-set standardisation) is applied to the raw
    inputs first: inside the preset networks; a user's callable that names a
    ``normalization`` parameter (or takes ``**kwargs``) receives it and applies it to its
    inputs; any other callable's network is wrapped behind it. ``size``
    picks a rung of :data:`PRESET_SIZES` for a named preset (default: small in stages 1–2,
    big in stage 3).
    """
    if isinstance(model, str):
        from keras_recipes.models import build_model

        preset = _preset(model, stage, size)
        return build_model(model, input_shape, num_classes, dropout=dropout,
                           normalization=normalization, **preset)
    params = inspect.signature(model).parameters
    any_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    options = {k: v for k, v in (("dropout", dropout), ("stage", stage),
                                 ("normalization", normalization))
               if (any_kw or k in params) and not (k == "normalization" and v is None)}
    net = model(tuple(input_shape), int(num_classes), **options)
    if not isinstance(net, keras.Model):
        raise ValueError(
            "Argument `model` must return a keras.Model when called as "
            "model(input_shape, num_classes[, dropout=, stage=]). "
            f"Received: a callable that returned {type(net).__name__}"
        )
    units = net.output_shape[-1] if isinstance(net.output_shape, tuple) else None
    if units != num_classes:
        raise ValueError(
            f"Argument `model` must build a network with {num_classes} outputs (one "
            f"probability per class). Received: output_shape={net.output_shape}"
        )
    if normalization is not None and "normalization" not in options:
        # The network cannot take the layer itself: it runs in front of it, as a nested
        # model (the diagnostics then see the user's network as one block).
        from keras_recipes.workflows.standardize import wrap_with_layer

        net = wrap_with_layer(net, normalization, input_shape)
    return net


def _compile(model, optimizer) -> None:
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])


def _optimizer(stage: int, spec: StageSpec, lr: float, steps: int):
    if stage == 1:
        return keras.optimizers.Adam(lr), "Adam (constant learning rate)"
    if stage == 2:
        return keras.optimizers.AdamW(lr, weight_decay=spec.weight_decay), \
            f"AdamW (constant learning rate, weight_decay={spec.weight_decay:g})"
    if spec.schedule == "onecycle":
        from keras_recipes.schedules import OneCycle

        schedule = OneCycle(max_lr=lr, total_steps=steps)
        desc = f"OneCycle(max_lr={lr:.3g}, total_steps={steps})"
    else:
        warmup = max(1, steps // 10)
        schedule = keras.optimizers.schedules.CosineDecay(
            lr / 25, decay_steps=max(1, steps - warmup), alpha=1e-3,
            warmup_target=lr, warmup_steps=warmup)
        desc = f"CosineDecay with {warmup} warm-up steps to {lr:.3g}"
    return keras.optimizers.AdamW(schedule, weight_decay=spec.weight_decay), \
        f"AdamW + {desc}, weight_decay={spec.weight_decay:g}"


def _stopping(stage: int, spec: StageSpec):
    from keras_recipes.callbacks import EarlyStopping, KeepBest

    if stage == 1:
        return EarlyStopping(monitor="val_accuracy", mode="max",
                             stopping_threshold=spec.bound, patience=spec.epochs), \
            f"EarlyStopping(stops once the accuracy on the training examples, in " \
            f"inference mode, reaches {spec.bound:g}; no patience limit)"
    if stage == 2:
        return EarlyStopping(monitor="val_loss", patience=spec.patience), \
            f"EarlyStopping(val_loss, patience={spec.patience}, restore best weights)"
    return KeepBest(monitor="val_loss", catch_interrupt=False), \
        "KeepBest(val_loss): the schedule runs to its end, the best epoch is kept"


def _save_figure(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    try:
        # No bbox_inches="tight": it draws the figure twice, and the library's figures
        # already use a layout engine.
        atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=90, format="png"))
    finally:
        plt.close(fig)


def _findings_as_dicts(findings) -> list[dict[str, Any]]:
    return [{"severity": f.severity, "code": f.code, "message": f.message,
             "advice": f.advice,
             "evidence": {k: (v if isinstance(v, int | float | str | bool | type(None))
                              else str(v)) for k, v in f.evidence.items()}}
            for f in findings]


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def run_stage(
    stage: StageData,
    spec: StageSpec,
    stage_dir: Path,
    rel_dir: str,
    *,
    verbose: int,
    stream: TextIO,
) -> tuple[dict[str, Any], keras.Model, list]:
    """Train one stage into ``stage_dir``; return its summary record, model and findings."""
    from keras_recipes.callbacks import PreciseBatchNorm
    from keras_recipes.diagnostics import DiagnosticLogger, diagnose
    from keras_recipes.lr_finder import find_lr
    from keras_recipes.workflows.progress import StageProgress

    begin = time.perf_counter()
    timings: dict[str, float] = {}
    last = [begin]

    def _lap() -> float:
        now = time.perf_counter()
        spent, last[0] = round(now - last[0], 2), now
        return spent
    number = stage.stage
    files: dict[str, Any] = {"figures": {}}
    say = (lambda text: print(text, file=stream, flush=True)) if verbose else (lambda _: None)
    say(f"== stage {number}/3 {stage.name}: {stage.goal}")
    say(f"   data: {stage.sizes()} examples, classes {stage.class_names}")

    keras.utils.set_random_seed(spec.seed + number)
    dropout = spec.dropout if number >= 2 else 0.0
    x_tr, y_tr = stage.train
    input_shape = x_tr.shape[1:]
    def normalization():
        if spec.standardize_on is None:
            return None
        from keras_recipes.workflows.standardize import standardization_layer

        return standardization_layer(spec.standardize_on)

    size, growth = None, None
    if number == 3 and spec.grow and isinstance(spec.model, str):
        size, growth = _grow(spec, stage, dropout, normalization)
        timings["growth"] = _lap()
        losses = " → ".join("nan" if g["val_loss"] is None else f"{g['val_loss']:.3g}"
                            for g in growth)
        say(f"   network size: {growth[size]['model']} (validation loss {losses} after "
            f"{growth[size]['epochs']} probe epochs each)")
        keras.utils.set_random_seed(spec.seed + number)
    model = build_stage_model(spec.model, number, input_shape, stage.num_classes, dropout,
                              normalization=normalization(), size=size)
    bn_momentum = fit_batchnorm_momentum(model, -(-len(x_tr) // min(spec.batch_size, len(x_tr))))
    _compile(model, keras.optimizers.Adam(FALLBACK_LR))

    # 1. learning-rate range test (the model is left untouched).
    # Stages 1-2 train at a constant rate: the valley rule. Stage 3's one-cycle peaks at
    # the combined rule (geometric mean of the curve's knee and minimum/10): on eight tasks
    # it reaches >= 0.97 of a 7-point grid's best peak, where minimum/10 alone (Smith's
    # and fastai's pick) gets 0.959 on spirals (benchmarks/recipe_vs_defaults.py). A
    # 100-step sweep needs a shorter EMA than the usual 0.98, whose lag would shift every pick.
    finder = find_lr(model, x_tr, y_tr, num_steps=spec.lr_finder_steps,
                     batch_size=min(spec.batch_size, len(x_tr)), seed=spec.seed,
                     smoothing=LR_FINDER_SMOOTHING,
                     suggest="combined" if number == 3 else "valley")
    timings["lr_finder"] = _lap()
    suggestion = finder.suggestion
    lr = float(suggestion) if suggestion is not None and suggestion > 0 else FALLBACK_LR
    finder.to_csv(stage_dir / "lr_finder.csv")
    files["lr_finder"] = f"{rel_dir}/lr_finder.csv"
    _save_figure(finder.plot(), stage_dir / "lr_finder.png")
    files["figures"]["lr_finder"] = f"{rel_dir}/lr_finder.png"
    say(f"   LR finder: suggestion {suggestion if suggestion is None else f'{suggestion:.3g}'}"
        f" ({finder.rule}); training at {lr:.3g}")

    # 2. training with the diagnostic logger, a CSV log and the stage's early stopping.
    batch_size = min(spec.batch_size, len(x_tr))
    steps_per_epoch = -(-len(x_tr) // batch_size)
    optimizer, opt_desc = _optimizer(number, spec, lr, spec.epochs * steps_per_epoch)
    _compile(model, optimizer)
    stopper, stop_desc = _stopping(number, spec)
    logger = DiagnosticLogger(probe=(x_tr[:PROBE_SIZE], y_tr[:PROBE_SIZE]), log_dir=stage_dir,
                              every_n_epochs=max(1, spec.epochs // 25),
                              data=(x_tr, y_tr),
                              validation_data=stage.train if number == 1 else stage.val)
    if number >= 2 and spec.augment > 0:
        from keras_recipes.workflows._augment import AugmentedBatches

        train_data = AugmentedBatches(x_tr, y_tr, batch_size, spec.augment,
                                      seed=spec.seed + number)
        fit_kwargs = {}
        # One epoch of augmented inputs: the distribution the batch statistics came from.
        calibration = np.concatenate([train_data[i][0] for i in range(len(train_data))])
    else:
        train_data, fit_kwargs = x_tr, {"y": y_tr, "batch_size": batch_size}
        calibration = x_tr
    # BatchNorm's moving statistics lag after few steps (momentum 0.99), so inference-mode
    # outputs (validation, the gates, the saved model) would differ from training-mode ones:
    # recalibrate them exactly on the training inputs as training saw them (augmented in
    # stages 2-3), after the stopper restored its weights (and after every epoch in stage 1,
    # whose stopping reads inference-mode accuracy).
    precise_bn = PreciseBatchNorm(calibration, batch_size=batch_size,
                                  every_n_epochs=1 if number == 1 else 0)
    callbacks = [
        keras.callbacks.CSVLogger(str(stage_dir / "history.csv")),
        logger,
        stopper,
        precise_bn,
    ]
    if verbose:
        callbacks.append(StageProgress(number, 3, stage.name, stream=stream))
    # Stage 1 validates on its own training examples: its goal is to fit them, and
    # BatchNormalization's moving statistics (inference mode) lag behind the batch
    # statistics of training mode, so the training-mode accuracy alone would stop too early.
    validation = stage.train if number == 1 else stage.val
    history = model.fit(train_data, validation_data=validation, epochs=spec.epochs,
                        callbacks=callbacks, verbose=0, **fit_kwargs)
    timings["fit"] = _lap()
    files["history"] = f"{rel_dir}/history.csv"
    files["diagnostics"] = f"{rel_dir}/diagnostics.csv"
    epochs_run = len(history.history.get("loss", []))

    # 3. the gate.
    # _distribute.evaluate: model.evaluate, also for sizes that do not split evenly over
    # JAX DataParallel's devices.
    train_loss, train_acc = _distribute.evaluate(model, x_tr, y_tr, 256)
    val_loss, val_acc = _distribute.evaluate(model, *stage.val, 256)
    record: dict[str, Any] = {
        "stage": number, "name": stage.name, "goal": stage.goal,
        "classes": stage.classes, "class_names": stage.class_names, "sizes": stage.sizes(),
        "model_desc": model_description(spec.model, number, dropout, size),
        "growth": growth,
        "preprocessing": {**_preprocessing_note(spec, precise_bn),
                          "batchnorm_momentum": bn_momentum},
        "regularisation": {"dropout": dropout,
                           "weight_decay": spec.weight_decay if number >= 2 else 0.0,
                           "augmentation": spec.augment if number >= 2 else 0.0},
        "lr": {"suggestion": _finite(suggestion) if suggestion is not None else None,
               "rule": finder.rule, "used": lr, "optimizer": opt_desc,
               "suggestions": {k: (_finite(v) if v is not None else None)
                               for k, v in finder.suggestions.items()}},
        "stopping": stop_desc,
        "stop_reason": str(getattr(stopper, "stop_message", "") or ""),
        "epochs_run": epochs_run, "epochs_max": spec.epochs,
        "train": {"loss": _finite(train_loss), "accuracy": _finite(train_acc)},
        "val": {"loss": _finite(val_loss), "accuracy": _finite(val_acc)},
    }
    if number == 1:
        record["gate"] = {"metric": "train_accuracy", "value": _finite(train_acc),
                          "bound": spec.bound}
        passed = train_acc >= spec.bound
    elif number == 2:
        record["gate"] = {"metric": "val_accuracy", "value": _finite(val_acc),
                          "bound": spec.bound}
        passed = val_acc >= spec.bound
    else:
        test_loss, test_acc = _distribute.evaluate(model, *stage.test, 256)
        record["test"] = {"loss": _finite(test_loss), "accuracy": _finite(test_acc)}
        record["gate"] = {"metric": "test_accuracy", "value": _finite(test_acc),
                          "bound": None}
        passed = True
    record["status"] = ("done" if number == 3 else "passed") if passed else "failed"
    timings["evaluate"] = _lap()

    # 4. the doctor, the plots and, in stage 3, the error analysis.
    findings = diagnose(logger)
    record["findings"] = _findings_as_dicts(findings)
    timings["doctor"] = _lap()
    _plots(history, logger, stage_dir, rel_dir, files)
    if number == 3:
        _error_analysis(model, stage, stage_dir, rel_dir, files, record)
    timings["plots_and_analysis"] = _lap()

    # 5. the model, saved last: a stage folder with a model is a finished stage.
    atomic_write(stage_dir / "model.keras", lambda tmp: model.save(tmp))
    files["model"] = f"{rel_dir}/model.keras"
    timings["save"] = _lap()
    record["files"] = files
    record["timings"] = timings
    record["seconds"] = round(time.perf_counter() - begin, 2)
    atomic_write_json(stage_dir / "stage.json", record)
    gate = record["gate"]
    verdict = {"passed": "PASSED", "failed": "FAILED", "done": "reported"}[record["status"]]
    bound = f" (bound {gate['bound']:g})" if gate["bound"] is not None else ""
    value = gate["value"] if gate["value"] is not None else float("nan")
    say(f"   {gate['metric']} = {value:.4f}{bound}: {verdict} "
        f"[{epochs_run} epochs, {record['seconds']:.1f}s]")
    return record, model, findings


def fit_batchnorm_momentum(model, steps_per_epoch: int) -> float | None:
    """Lower BatchNorm momenta so that the moving statistics span about one epoch.

    Keras's momentum 0.99 averages over ~100 steps: in a stage of a few steps per epoch the
    moving statistics, which validation, early stopping and ``KeepBest`` read in inference
    mode, then still hold the initial values (mean 0, variance 1) for many epochs, and the
    best epoch is chosen on a network that does not behave as trained. The momentum becomes
    ``min(m, 0.1 ** (1 / steps_per_epoch))``: after one epoch at most 10 % of the older
    statistics remain. Training itself is unchanged (it normalises with batch statistics);
    after training :class:`~keras_recipes.callbacks.PreciseBatchNorm` sets the exact values.
    Returns the new momentum, or ``None`` when the model has no BatchNorm layer to change.
    """
    from keras_recipes.callbacks import batchnorm_layers

    target = 0.1 ** (1.0 / max(1, int(steps_per_epoch)))
    changed = None
    for layer in batchnorm_layers(model):
        if layer.momentum > target:
            layer.momentum = target
            changed = target
    return changed


def _grow(spec: StageSpec, stage: StageData, dropout: float, normalization):
    """Pick the preset size: from the stage-2 size up, while the validation loss improves.

    Each size trains for a quarter of the stage's epochs (at least 2) at Adam's default
    rate, from the same seed, then its BatchNorm statistics are recalibrated and its
    validation loss measured. The next size is tried only if this one lowered the loss by
    :data:`GROWTH_MIN_GAIN`. Returns the chosen index and one row per size tried.
    """
    from keras_recipes.callbacks import recalibrate_batchnorm

    x_tr, y_tr = stage.train
    batch_size = min(spec.batch_size, len(x_tr))
    epochs = max(2, spec.epochs // 4)
    rows: list[dict[str, Any]] = []
    best = 0
    for size in range(len(PRESET_SIZES[spec.model])):
        keras.utils.set_random_seed(spec.seed + 3)
        net = build_stage_model(spec.model, 3, x_tr.shape[1:], stage.num_classes, dropout,
                                normalization=normalization(), size=size)
        fit_batchnorm_momentum(net, -(-len(x_tr) // batch_size))
        _compile(net, keras.optimizers.Adam(FALLBACK_LR))
        net.fit(x_tr, y_tr, epochs=epochs, batch_size=batch_size, verbose=0)
        recalibrate_batchnorm(net, x_tr, batch_size)
        val_loss, val_acc = _distribute.evaluate(net, *stage.val, 256)
        rows.append({"model": model_description(spec.model, 3, dropout, size),
                     "params": int(net.count_params()), "epochs": epochs,
                     "val_loss": _finite(val_loss), "val_accuracy": _finite(val_acc)})
        current = rows[-1]["val_loss"]
        if size and (current is None or rows[best]["val_loss"] is None
                     or current > rows[best]["val_loss"] * (1 - GROWTH_MIN_GAIN)):
            break
        best = size
    return best, rows


def _preprocessing_note(spec: StageSpec, precise_bn) -> dict[str, Any]:
    n = None if spec.standardize_on is None else len(spec.standardize_on)
    return {
        "standardize": n is not None,
        "standardize_note": (
            f"inputs standardised inside the model (keras.layers.Normalization with the mean "
            f"and variance of the {n} training examples, per feature or per channel)"
            if n is not None else "raw inputs (standardisation turned off)"),
        "batchnorm_recalibrated_batches": int(precise_bn.batches),
    }


def _plots(history, logger, stage_dir: Path, rel_dir: str, files: dict) -> None:
    from keras_recipes import plotting

    _save_figure(plotting.plot_learning_curves(history), stage_dir / "learning_curves.png")
    files["figures"]["learning_curves"] = f"{rel_dir}/learning_curves.png"
    from keras_recipes.diagnostics.run_record import as_record

    if as_record(logger).layer_stat("act_mean").empty:
        return  # no hidden layer the probe could measure (e.g. a nested user network)
    _save_figure(plotting.plot_activation_stats(logger), stage_dir / "activations.png")
    files["figures"]["activations"] = f"{rel_dir}/activations.png"


def _error_analysis(model, stage: StageData, stage_dir: Path, rel_dir: str, files: dict,
                    record: dict) -> None:
    from keras_recipes.analysis import ErrorAnalysis

    x_te, y_te = stage.test
    analysis = ErrorAnalysis(model, x_te, y_te, class_names=stage.class_names)
    matrix = analysis.confusion_matrix().to_numpy()
    _save_figure(_confusion_figure(matrix, stage.class_names),
                 stage_dir / "confusion_matrix.png")
    files["figures"]["confusion_matrix"] = f"{rel_dir}/confusion_matrix.png"
    analysis.table.to_csv(stage_dir / "errors.csv", index_label="index")
    files["errors"] = f"{rel_dir}/errors.csv"
    record["most_confused"] = analysis.most_confused(min_count=1).head(5).to_dict(
        orient="records")
    per_class = analysis.per_class().reset_index()
    record["per_class"] = per_class.to_dict(orient="records")
    if x_te.ndim >= 3 or int(np.sqrt(np.prod(x_te.shape[1:]))) ** 2 == np.prod(x_te.shape[1:]):
        _save_figure(analysis.plot_examples("worst", n=min(12, len(x_te))),
                     stage_dir / "worst_examples.png")
        files["figures"]["worst_examples"] = f"{rel_dir}/worst_examples.png"


def _confusion_figure(matrix: np.ndarray, names: list[str]):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 4.5))
    ax = fig.add_subplot()
    im = ax.imshow(matrix, cmap="Blues")
    ticks = np.arange(len(matrix))
    ax.set_xticks(ticks, labels=names[: len(matrix)])
    ax.set_yticks(ticks, labels=names[: len(matrix)])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for (i, j), v in np.ndenumerate(matrix):
        if v:
            ax.text(j, i, str(int(v)), ha="center", va="center", fontsize=7,
                    color="white" if v > matrix.max() / 2 else "black")
    fig.colorbar(im, ax=ax)
    ax.set_title("Confusion matrix (test set)")
    return fig
