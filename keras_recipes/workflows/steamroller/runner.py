"""Run one steamroller stage, whatever it is: range test, training, gate, plots, model.

:func:`run_stage` reads everything stage-specific (epochs, bound, dropout, augmentation,
optimizer, stopper...) from its :class:`~keras_recipes.workflows.steamroller.stages.Stage`
and the run-wide settings from its :class:`~keras_recipes.workflows.SteamrollerConfig`; it
has no stage-number branches, and returns a
:class:`~keras_recipes.workflows.steamroller.summary.StageRecord`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, TextIO

import keras
import numpy as np

from keras_recipes import _distribute
from keras_recipes.workflows.common import (
    PRESET_SIZES,
    atomic_write,
    atomic_write_json,
    build_network,
    findings_as_dicts,
    finite,
    model_description,
    save_figure,
)
from keras_recipes.workflows.steamroller.stages import Stage, StageData
from keras_recipes.workflows.steamroller.summary import StageRecord

#: A bigger network is kept when it lowers the validation loss by at least this fraction.
GROWTH_MIN_GAIN = 0.02
#: Learning rate used when the range test gives no suggestion.
FALLBACK_LR = 1e-3
#: EMA factor of the range test's smoothed loss (time constant ~10 steps). A 100-step sweep
#: needs a shorter EMA than the usual 0.98, whose lag would shift every pick.
LR_FINDER_SMOOTHING = 0.9
#: Probe batch size of the diagnostic logger.
PROBE_SIZE = 128
#: Figure resolution of the stage folders.
DPI = 90


def build_stage_model(model, number: int, input_shape, num_classes: int, dropout: float,
                      normalization=None, size: int = 0, settings=None):
    """The uncompiled network of stage ``number``: a preset at rung ``size`` of
    :data:`~keras_recipes.workflows.common.PRESET_SIZES`, or the user's callable, which
    also receives ``dropout=``, ``stage=`` and ``normalization=`` when its signature names
    them (see :func:`~keras_recipes.workflows.common.build_network`). ``settings`` (a
    :class:`~keras_recipes.workflows.repair.TrainingSettings`) sets a preset's activation,
    initialisation and BatchNorm; a user's network is built as it is."""
    options = settings.model_options() if settings is not None and isinstance(model, str) \
        else {}
    return build_network(model, input_shape, num_classes, normalization=normalization,
                         size=size, dropout=dropout, **options,
                         **({} if isinstance(model, str) else {"stage": number}))


def _describe(model, number: int, dropout: float, size: int, settings=None) -> str:
    if isinstance(model, str):
        changed = {} if settings is None else {
            k: v for k, v in settings.model_options().items()
            if v != {"activation": "relu", "kernel_initializer": None, "batch_norm": True}[k]}
        return model_description(model, size, dropout=dropout, **changed)
    return model_description(model, stage=number, dropout=dropout)


def _figure(fig, path: Path) -> None:
    save_figure(fig, path, dpi=DPI)


def _compile(model, optimizer) -> None:
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])


class _Clock:
    """Seconds spent in each part of a stage."""

    def __init__(self) -> None:
        self.begin = self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name], self.last = round(now - self.last, 2), now

    @property
    def total(self) -> float:
        return round(time.perf_counter() - self.begin, 2)


def run_stage(
    stage: Stage,
    config: Any,
    data: StageData,
    stage_dir: Path,
    rel_dir: str,
    *,
    of: int = 3,
    standardize_on: Any = None,
    stream: TextIO | None = None,
    settings: Any = None,
    watchdog: bool = False,
) -> tuple[StageRecord, keras.Model, list]:
    """Train ``stage`` on ``data`` into ``stage_dir``; return its record, model and findings.

    Args:
        stage: what to do (:class:`~keras_recipes.workflows.steamroller.stages.Stage`);
            settings given as functions of ``config`` are read first
            (:meth:`~keras_recipes.workflows.steamroller.stages.Stage.resolved`).
        config: the run's :class:`~keras_recipes.workflows.SteamrollerConfig`.
        data: the stage's examples (:func:`~keras_recipes.workflows.plan_stages`);
            ``data.stage`` is the stage's number.
        stage_dir: folder that receives the stage's files.
        rel_dir: the folder's path relative to the run folder, recorded in the summary.
        of: number of stages of the run, for messages. Defaults to ``3``.
        standardize_on: inputs whose statistics standardise the network's inputs (the
            whole training split); ``None`` trains on raw inputs. Defaults to ``None``.
        stream: where to print when ``config.verbose``. Defaults to ``None`` (silent).
        settings: a :class:`~keras_recipes.workflows.repair.TrainingSettings` (the repair's
            settings): a preset's activation, initialisation and BatchNorm, a rate that
            replaces the range test's suggestion (the test still runs and is recorded), and
            gradient clipping. ``standardize_on`` says whether inputs are standardised.
            Defaults to ``None`` (the stage as configured).
        watchdog: add a :class:`~keras_recipes.callbacks.Watchdog` to the training
            callbacks; a fatal stop fails the stage's check (its finding comes first in
            the findings). Defaults to ``False``.

    Returns:
        ``(record, model, findings)``: the stage's
        :class:`~keras_recipes.workflows.steamroller.summary.StageRecord` (its entry of
        ``summary.json``), the trained model and the doctor's findings.
    """
    from keras_recipes.callbacks import PreciseBatchNorm
    from keras_recipes.diagnostics import DiagnosticLogger, diagnose
    from keras_recipes.lr_finder import find_lr
    from keras_recipes.workflows.progress import StageProgress

    clock = _Clock()
    number = data.stage
    files: dict[str, Any] = {"figures": {}}
    verbose = bool(config.verbose) and stream is not None
    say = (lambda text: print(text, file=stream, flush=True)) if verbose else (lambda _: None)
    say(f"== stage {number}/{of} {data.name}: {data.goal}")
    say(f"   data: {data.sizes()} examples, classes {data.class_names}")

    keras.utils.set_random_seed(config.seed + number)
    stage = stage.resolved(config)
    dropout, augment, epochs = stage.dropout, stage.augment, stage.epochs
    x_tr, y_tr = data.train
    batch_size = min(int(config.batch_size), len(x_tr))
    steps_per_epoch = -(-len(x_tr) // batch_size)

    def normalization():
        if standardize_on is None:
            return None
        from keras_recipes.workflows.standardize import standardization_layer

        return standardization_layer(standardize_on)

    size, growth = (0 if stage.network == "small" else 1), None
    if stage.network == "grown" and config.grow and isinstance(config.model, str):
        size, growth = grow_network(config, data, dropout, normalization, epochs,
                                    settings=settings)
        clock.lap("growth")
        losses = " → ".join("nan" if g["val_loss"] is None else f"{g['val_loss']:.3g}"
                            for g in growth)
        say(f"   network size: {growth[size]['model']} (validation loss {losses} after "
            f"{growth[size]['epochs']} probe epochs each)")
        keras.utils.set_random_seed(config.seed + number)
    model = build_stage_model(config.model, number, x_tr.shape[1:], data.num_classes, dropout,
                              normalization=normalization(), size=size, settings=settings)
    bn_momentum = fit_batchnorm_momentum(model, steps_per_epoch)
    _compile(model, keras.optimizers.Adam(FALLBACK_LR))

    # 1. learning-rate range test (the model is left untouched).
    finder = find_lr(model, x_tr, y_tr, num_steps=config.lr_finder_steps,
                     batch_size=batch_size, seed=config.seed, smoothing=LR_FINDER_SMOOTHING,
                     suggest=stage.lr_rule)
    clock.lap("lr_finder")
    suggestion = finder.suggestion
    lr = float(suggestion) if suggestion is not None and suggestion > 0 else FALLBACK_LR
    forced = settings is not None and settings.learning_rate is not None
    if forced:
        lr = float(settings.learning_rate)
    finder.to_csv(stage_dir / "lr_finder.csv")
    files["lr_finder"] = f"{rel_dir}/lr_finder.csv"
    _figure(finder.plot(), stage_dir / "lr_finder.png")
    files["figures"]["lr_finder"] = f"{rel_dir}/lr_finder.png"
    say(f"   LR finder: suggestion {suggestion if suggestion is None else f'{suggestion:.3g}'}"
        f" ({finder.rule}); training at {lr:.3g}{' (set by the settings)' if forced else ''}")

    # 1b. seed 003's "overfit one minibatch": on the fresh network, at the rate the stage
    # trains at; the network is restored, so the stage trains as it would without it.
    minibatch = None
    if stage.overfit_minibatch and int(getattr(config, "minibatch_steps", 0)) > 0:
        from keras_recipes.workflows.steamroller.minibatch import overfit_minibatch

        minibatch = overfit_minibatch(model, x_tr, y_tr, learning_rate=lr,
                                      batch_size=batch_size, steps=config.minibatch_steps,
                                      max_loss=config.minibatch_max_loss, seed=config.seed)
        clock.lap("minibatch")
        say(f"   one minibatch ({minibatch['examples']} examples): training loss "
            f"{_fmt(minibatch['first_loss'])} -> {_fmt(minibatch['last_loss'])} in "
            f"{minibatch['steps_run']} steps at learning rate "
            f"{minibatch['learning_rate']:.3g} (near zero, <= {config.minibatch_max_loss:g}: "
            f"{'reached' if minibatch['passed'] else 'NOT reached'})")

    # 2. training with the diagnostic logger, a CSV log and the stage's stopper.
    optimizer, opt_desc = stage.optimizer(lr, epochs * steps_per_epoch, config)
    if settings is not None and settings.clipnorm is not None:
        optimizer = settings.configure_optimizer(optimizer)
        opt_desc += f", clipnorm={settings.clipnorm:g}"
    _compile(model, optimizer)
    stopper, stop_desc = stage.make_stopper(config)
    extra = list(stopper) if isinstance(stopper, list | tuple) else []
    if extra:
        stopper = extra.pop(0)
    validation = data.train if stage.validation == "train" else data.val
    logger = DiagnosticLogger(probe=(x_tr[:PROBE_SIZE], y_tr[:PROBE_SIZE]), log_dir=stage_dir,
                              every_n_epochs=max(1, epochs // 25), data=(x_tr, y_tr),
                              validation_data=validation)
    if augment > 0:
        from keras_recipes.workflows.steamroller._augment import AugmentedBatches

        train_data = AugmentedBatches(x_tr, y_tr, batch_size, augment, seed=config.seed + number)
        fit_kwargs = {}
        # One epoch of augmented inputs: the distribution the batch statistics came from.
        calibration = np.concatenate([train_data[i][0] for i in range(len(train_data))])
    else:
        train_data, fit_kwargs = x_tr, {"y": y_tr, "batch_size": batch_size}
        calibration = x_tr
    # BatchNorm's moving statistics lag after few steps, so inference-mode outputs
    # (validation, the gates, the saved model) would differ from training-mode ones: they are
    # recalibrated exactly on the training inputs as training saw them (augmented or not),
    # after the stopper restored its weights, and after every epoch in a stage whose stopping
    # reads inference-mode metrics.
    precise_bn = PreciseBatchNorm(calibration, batch_size=batch_size,
                                  every_n_epochs=1 if stage.recalibrate_every_epoch else 0)
    callbacks = [keras.callbacks.CSVLogger(str(stage_dir / "history.csv")), logger, stopper,
                 *extra, precise_bn]
    guard = None
    if watchdog:
        from keras_recipes.callbacks import Watchdog

        guard = Watchdog(data=(x_tr, y_tr), verbose=0)
        callbacks.append(guard)
    if verbose:
        callbacks.append(StageProgress(number, of, data.name, stream=stream))
    history = model.fit(train_data, validation_data=validation, epochs=epochs,
                        callbacks=callbacks, verbose=0, **fit_kwargs)
    clock.lap("fit")
    files["history"] = f"{rel_dir}/history.csv"
    files["diagnostics"] = f"{rel_dir}/diagnostics.csv"

    # 3. the gate. _distribute.evaluate: model.evaluate, also for sizes that do not split
    # evenly over JAX DataParallel's devices.
    scores = {}
    parts = {"train": data.train, "val": data.val}
    if stage.error_analysis or stage.gate.metric.startswith("test"):
        parts["test"] = data.test
    for part, (x, y) in parts.items():
        loss, accuracy = _distribute.evaluate(model, x, y, 256)
        scores[part] = {"loss": finite(loss), "accuracy": finite(accuracy)}
    part, _, kind = stage.gate.metric.partition("_")
    value = scores[part][kind]
    bound = stage.gate.bound
    passed = stage.gate.check(value, bound)
    reason = None
    if bound is not None and not passed:
        below = "<" if stage.gate.higher_is_better else ">"
        reason = (f"{stage.gate.metric} = {_fmt(value)} {below} {bound:g}")
    if minibatch is not None and not minibatch["passed"]:
        from keras_recipes.workflows.steamroller.minibatch import failure_reason

        passed = False
        reason = "; ".join(r for r in (reason, failure_reason(minibatch)) if r)
    stopped = guard.stop_reason if guard is not None else None
    if stopped is not None:
        passed = False
        reason = "; ".join(r for r in (reason, f"the watchdog stopped training: "
                                                f"{stopped.one_line()}") if r)
    weight_decay = getattr(optimizer, "weight_decay", None) or 0.0
    record = StageRecord(
        stage=number, name=data.name, goal=data.goal,
        classes=list(data.classes), class_names=list(data.class_names), sizes=data.sizes(),
        model_desc=_describe(config.model, number, dropout, size, settings),
        growth=growth,
        preprocessing={**_preprocessing_note(standardize_on, precise_bn),
                       "batchnorm_momentum": bn_momentum},
        regularisation={"dropout": dropout, "weight_decay": float(weight_decay),
                        "augmentation": augment},
        lr={"suggestion": finite(suggestion), "rule": finder.rule, "used": lr,
            **({"set_by": "repair settings"} if forced else {}),
            "optimizer": opt_desc,
            "suggestions": {k: finite(v) for k, v in finder.suggestions.items()}},
        stopping=stop_desc,
        stop_reason=str(getattr(stopper, "stop_message", "") or ""),
        epochs_run=len(history.history.get("loss", [])), epochs_max=epochs,
        **scores,
        gate={"metric": stage.gate.metric, "value": value, "bound": bound,
              "higher_is_better": stage.gate.higher_is_better,
              **({} if minibatch is None else {"minibatch": minibatch["passed"]}),
              **({} if reason is None else {"reason": reason})},
        status=("done" if bound is None and minibatch is None and stopped is None
                else "passed" if passed else "failed"),
        minibatch=minibatch,
    )
    plateau = next((c for c in extra if hasattr(c, "reductions")), None)
    if plateau is not None:
        record.lr["staircase"] = {
            "factor": plateau.factor, "patience": plateau.patience,
            "reductions": [{"epoch": e, "step": st, "learning_rate": r}
                           for e, st, r in plateau.reductions]}
    clock.lap("evaluate")

    # 4. the doctor, the plots and the error analysis.
    findings = diagnose(logger)
    if minibatch is not None and not minibatch["passed"]:
        findings = [_minibatch_finding(minibatch), *findings]
    if stopped is not None:
        findings = [stopped.finding, *(f for f in findings if f.code != stopped.code)]
    record.findings = findings_as_dicts(findings)
    clock.lap("doctor")
    _plots(history, logger, stage_dir, rel_dir, files)
    if stage.error_analysis:
        _error_analysis(model, data, stage_dir, rel_dir, files, record)
    clock.lap("plots_and_analysis")

    # 5. the model, saved last: a stage folder with a model is a finished stage.
    atomic_write(stage_dir / "model.keras", lambda tmp: model.save(tmp))
    files["model"] = f"{rel_dir}/model.keras"
    clock.lap("save")
    record.files, record.timings, record.seconds = files, clock.laps, clock.total
    atomic_write_json(stage_dir / "stage.json", record.to_json())
    verdict = {"passed": "PASSED", "failed": "FAILED", "done": "reported"}[record.status]
    shown = f" (bound {bound:g})" if bound is not None else ""
    say(f"   {stage.gate.metric} = {value if value is not None else float('nan'):.4f} "
        f"(inference mode, after training){shown}: "
        f"{verdict} [{record.epochs_run} epochs, {record.seconds:.1f}s]")
    return record, model, findings


def _fmt(value: float | None) -> str:
    return "nan" if value is None else f"{value:.4g}"


def _minibatch_finding(check: dict[str, Any]):
    """The failed minibatch check as a doctor's finding (an error: the network is broken)."""
    from keras_recipes.diagnostics import Finding
    from keras_recipes.workflows.steamroller.minibatch import failure_reason

    return Finding(
        "error", "minibatch_not_overfitted",
        f"The network cannot overfit one minibatch: {failure_reason(check)}.",
        {k: check[k] for k in ("examples", "steps_run", "first_loss", "last_loss",
                               "learning_rate", "max_loss")},
        "A working network drives the loss of a single batch to near zero in a few dozen "
        "steps: check the labels against the inputs, the output layer and the loss, and try "
        "a learning rate 10x lower and 10x higher; then a bigger network.")


def fit_batchnorm_momentum(model, steps_per_epoch: int) -> float | None:
    """Lower BatchNorm momenta so that the moving statistics span about one epoch.

    Keras's momentum 0.99 averages over ~100 steps: in a stage of a few steps per epoch the
    moving statistics, which validation, early stopping and the gates read in inference
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


def grow_network(config: Any, data: StageData, dropout: float, normalization, epochs: int,
                 settings: Any = None):
    """Pick the preset size: from the first size up, while the validation loss improves.

    Each size trains for a quarter of the stage's ``epochs`` (at least 2) at Adam's default
    rate, from the same seed, then its BatchNorm statistics are recalibrated and its
    validation loss measured. The next size is tried only if this one lowered the loss by
    :data:`GROWTH_MIN_GAIN`. Returns the chosen index and one row per size tried.
    """
    from keras_recipes.callbacks import recalibrate_batchnorm

    x_tr, y_tr = data.train
    batch_size = min(int(config.batch_size), len(x_tr))
    epochs = max(2, int(epochs) // 4)
    rows: list[dict[str, Any]] = []
    best = 0
    for size in range(len(PRESET_SIZES[config.model])):
        keras.utils.set_random_seed(config.seed + data.stage)
        net = build_stage_model(config.model, data.stage, x_tr.shape[1:], data.num_classes,
                                dropout, normalization=normalization(), size=size,
                                settings=settings)
        fit_batchnorm_momentum(net, -(-len(x_tr) // batch_size))
        _compile(net, keras.optimizers.Adam(FALLBACK_LR))
        net.fit(x_tr, y_tr, epochs=epochs, batch_size=batch_size, verbose=0)
        recalibrate_batchnorm(net, x_tr, batch_size)
        val_loss, val_acc = _distribute.evaluate(net, *data.val, 256)
        rows.append({"model": model_description(config.model, size, dropout=dropout),
                     "params": int(net.count_params()), "epochs": epochs,
                     "val_loss": finite(val_loss), "val_accuracy": finite(val_acc)})
        current = rows[-1]["val_loss"]
        if size and (current is None or rows[best]["val_loss"] is None
                     or current > rows[best]["val_loss"] * (1 - GROWTH_MIN_GAIN)):
            break
        best = size
    return best, rows


def _preprocessing_note(standardize_on: Any, precise_bn) -> dict[str, Any]:
    n = None if standardize_on is None else len(standardize_on)
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

    _figure(plotting.plot_learning_curves(history), stage_dir / "learning_curves.png")
    files["figures"]["learning_curves"] = f"{rel_dir}/learning_curves.png"
    from keras_recipes.diagnostics.run_record import as_record

    if as_record(logger).layer_stat("act_mean").empty:
        return  # no hidden layer the probe could measure (e.g. a nested user network)
    _figure(plotting.plot_activation_stats(logger), stage_dir / "activations.png")
    files["figures"]["activations"] = f"{rel_dir}/activations.png"


def _error_analysis(model, stage: StageData, stage_dir: Path, rel_dir: str, files: dict,
                    record: StageRecord) -> None:
    from keras_recipes.analysis import ErrorAnalysis

    x_te, y_te = stage.test
    analysis = ErrorAnalysis(model, x_te, y_te, class_names=stage.class_names)
    matrix = analysis.confusion_matrix().to_numpy()
    _figure(_confusion_figure(matrix, stage.class_names),
                 stage_dir / "confusion_matrix.png")
    files["figures"]["confusion_matrix"] = f"{rel_dir}/confusion_matrix.png"
    analysis.table.to_csv(stage_dir / "errors.csv", index_label="index")
    files["errors"] = f"{rel_dir}/errors.csv"
    record.most_confused = analysis.most_confused(min_count=1).head(5).to_dict(
        orient="records")
    record.per_class = analysis.per_class().reset_index().to_dict(orient="records")
    if x_te.ndim >= 3 or int(np.sqrt(np.prod(x_te.shape[1:]))) ** 2 == np.prod(x_te.shape[1:]):
        _figure(analysis.plot_examples("worst", n=min(12, len(x_te))),
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
