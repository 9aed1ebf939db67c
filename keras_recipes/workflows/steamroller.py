"""`steamroller`: the three-stage "méthode rouleau compresseur" from one call."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from keras_recipes._validation import check_number, check_one_of, check_probability
from keras_recipes.workflows._atomic import atomic_write_json
from keras_recipes.workflows.steamroller_report import (
    REPORT_FILE,
    SUMMARY_FILE,
    StageResult,
    SteamrollerReport,
    render_markdown,
)

#: Named models accepted by :func:`steamroller`.
MODEL_NAMES = ("mlp", "cnn")
#: Stage-3 schedules.
SCHEDULES = ("onecycle", "cosine")
#: Settings that define what a run is: a rerun in the same folder must repeat them.
IDENTITY_KEYS = ("dataset", "target", "model", "stage_classes", "stage1_per_class", "seed")
SUMMARY_VERSION = 1


class SteamrollerInputError(ValueError):
    """Bad input to :func:`steamroller`, detected before any training."""


def _check_out(out) -> Path:
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ValueError(f"Argument `out` must be a folder, but {str(out)!r} is a file. "
                         f"Received: out={str(out)!r}")
    return path


def _load_data(dataset, target, seed):
    from keras_recipes.data.dataset import as_classification_dataset

    return as_classification_dataset(dataset, target=target, seed=seed, workflow="The steamroller")


def _check_model(model) -> None:
    if isinstance(model, str):
        if model not in MODEL_NAMES:
            raise ValueError(f"Unknown model {model!r}. Use one of {list(MODEL_NAMES)} or a "
                             f"callable. Received: model={model!r}")
    elif not callable(model):
        raise ValueError("Argument `model` must be 'mlp', 'cnn' or a callable "
                         "model(input_shape, num_classes) -> keras.Model. "
                         f"Received: model={model!r}")


def _model_name(model) -> str:
    return model if isinstance(model, str) else getattr(model, "__name__", type(model).__name__)


def _prepare(dataset, model, out, target, seed, stage_classes, stage1_per_class, settings):
    check_number("seed", seed, integer=True)
    for name in ("stage1_epochs", "stage2_epochs", "stage3_epochs", "batch_size"):
        check_number(name, settings[name], low=1, integer=True)
    check_number("lr_finder_steps", settings["lr_finder_steps"], low=10, integer=True)
    check_number("patience", settings["patience"], low=0, integer=True)
    for name in ("stage1_min_train_accuracy", "stage2_min_val_accuracy"):
        check_number(name, settings[name], low=0, high=1, low_inclusive=False)
    check_probability("dropout", settings["dropout"])
    check_number("weight_decay", settings["weight_decay"], low=0)
    check_number("augment", settings["augment"], low=0)
    check_one_of("schedule", settings["schedule"], SCHEDULES)
    check_number("verbose", settings["verbose"], low=0, integer=True)
    out = _check_out(out)
    _check_model(model)
    if stage1_per_class is None or isinstance(stage1_per_class, bool):
        raise ValueError(f"Argument `stage1_per_class` must be an integer >= 1. "
                         f"Received: stage1_per_class={stage1_per_class}")
    check_number("stage1_per_class", stage1_per_class, low=1, integer=True)
    ds = _load_data(dataset, target, seed)

    from keras_recipes.workflows._stage_runner import build_stage_model
    from keras_recipes.workflows.stages import plan_stages

    plan = plan_stages(ds.x, ds.y, ds.class_names, stage_classes=stage_classes,
                       stage1_per_class=int(stage1_per_class), seed=int(seed))
    build_stage_model(model, 1, ds.input_shape, plan[0].num_classes, 0.0)  # fails fast
    identity = {"dataset": ds.name if not isinstance(dataset, str) else dataset,
                "target": target, "model": _model_name(model),
                "stage_classes": plan[0].classes, "stage1_per_class": int(stage1_per_class),
                "seed": int(seed)}
    summary = None
    if (out / SUMMARY_FILE).is_file() and settings["resume"]:
        try:
            with open(out / SUMMARY_FILE, encoding="utf-8") as f:
                summary = json.load(f)
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{str(out / SUMMARY_FILE)!r} cannot be read ({exc}); delete it "
                             "or pass resume=False to start afresh.") from exc
        before = {k: summary.get("config", {}).get(k) for k in IDENTITY_KEYS}
        if before != identity:
            diff = {k: (before[k], identity[k]) for k in IDENTITY_KEYS
                    if before[k] != identity[k]}
            raise ValueError(
                f"The folder {str(out)!r} holds a steamroller run with other settings "
                f"(earlier, now: {diff}). Use another `out`, or resume=False to start afresh."
            )
    return ds, plan, out, identity, summary


def _clear(out: Path) -> None:
    """Remove what an earlier run wrote (and only that)."""
    for name in (SUMMARY_FILE, REPORT_FILE):
        if (out / name).is_file():
            (out / name).unlink()
    for n in (1, 2, 3):
        for name in (f"stage{n}", f".stage{n}.partial"):
            if (out / name).is_dir():
                shutil.rmtree(out / name)


def _write(out: Path, summary: dict[str, Any]) -> None:
    summary["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    atomic_write_json(out / SUMMARY_FILE, summary)
    render_markdown(out, summary)


def steamroller(
    dataset: Any = "digits",
    model: str | Callable[..., Any] = "mlp",
    stage_classes: int | Sequence[int] = 2,
    stage1_per_class: int = 10,
    out: str | os.PathLike = "runs/steamroller",
    seed: int = 0,
    *,
    target: str | None = None,
    stage1_epochs: int = 100,
    stage2_epochs: int = 20,
    stage3_epochs: int = 20,
    batch_size: int = 32,
    stage1_min_train_accuracy: float = 0.99,
    stage2_min_val_accuracy: float = 0.9,
    patience: int = 8,
    lr_finder_steps: int = 100,
    schedule: str = "onecycle",
    dropout: float = 0.1,
    weight_decay: float = 1e-4,
    augment: float = 0.05,
    resume: bool = True,
    verbose: int = 1,
    stream: TextIO | None = None,
) -> SteamrollerReport:
    """Run the three-stage steamroller and write a report, logs and models to ``out``.

    The steamroller (seed 000, "méthode rouleau compresseur") is how to start on a new
    problem. Each stage has a goal and a check (a *gate*); a failed gate stops the run,
    prints the training doctor's findings and what to try next, and does not go on:

    1. **overfit**: ``stage1_per_class`` training examples of ``stage_classes`` classes,
       no regularisation, no augmentation. Gate: train accuracy ≥
       ``stage1_min_train_accuracy`` (a network that cannot learn a few examples by heart
       is broken or too small).
    2. **generalise**: all the data of those classes, with dropout, weight decay and light
       augmentation, and early stopping on the validation loss. Gate: validation accuracy
       ≥ ``stage2_min_val_accuracy``.
    3. **train**: all the data and all the classes, a bigger network and a schedule
       (one-cycle, or cosine with warm-up), keeping the best epoch; then the test accuracy
       and an error analysis.

    The data set is split once (stratified 60/20/20) and every stage draws from those
    parts, so the test set is never trained on. Each stage first runs the learning-rate
    range test (:func:`~keras_recipes.lr_finder.find_lr`, valley rule) and trains at its
    suggestion (the schedule's peak in stage 3), with a
    :class:`~keras_recipes.diagnostics.DiagnosticLogger` read by
    :func:`~keras_recipes.diagnostics.diagnose` after training.

    ``out`` receives ``report.md`` (with the LR-finder curve, learning curves and
    activation statistics of each stage, the confusion matrix and the worst test
    examples), ``summary.json``, and one folder per stage with ``history.csv``,
    ``diagnostics.csv``, ``lr_finder.csv``, the PNG figures and ``model.keras``. Every file
    is written atomically and a stage folder appears only once the stage is finished, so an
    interrupted run leaves a consistent folder; a rerun with the same ``out`` skips the
    stages recorded as completed in ``summary.json`` (their model is loaded back).

    Args:
        dataset: a data set name (``"digits"``, ...), a ``.npz``/``.csv`` path, or a
            :class:`~keras_recipes.data.Dataset`. Defaults to ``"digits"``.
        model: ``"mlp"`` or ``"cnn"`` (the baseline builders; stage 3 uses a wider/deeper
            variant), or a callable ``model(input_shape, num_classes)`` returning an
            uncompiled softmax ``keras.Model``; it also receives ``dropout=`` and
            ``stage=`` when its signature names them. Defaults to ``"mlp"``.
        stage_classes: number of classes of stages 1–2 (the first ``k`` labels), or the
            list of labels. Defaults to ``2``.
        stage1_per_class: training examples per class in stage 1. Defaults to ``10``.
        out: run folder. Defaults to ``"runs/steamroller"``.
        seed: seed of the split, the draws and the weights. Defaults to ``0``.
        target: target column of a ``.csv`` data set. Defaults to ``None``.
        stage1_epochs: most epochs of stage 1 (it stops once it fits). Defaults to ``100``.
        stage2_epochs: most epochs of stage 2. Defaults to ``20``.
        stage3_epochs: epochs of stage 3 (the schedule's length). Defaults to ``20``.
        batch_size: batch size. Defaults to ``32``.
        stage1_min_train_accuracy: stage-1 gate. Defaults to ``0.99``.
        stage2_min_val_accuracy: stage-2 gate. Defaults to ``0.9``.
        patience: stage-2 early-stopping patience, in epochs. Defaults to ``8``.
        lr_finder_steps: steps of each range test (>= 10). Defaults to ``100``.
        schedule: stage-3 schedule, ``"onecycle"`` or ``"cosine"`` (cosine decay with a
            10 % linear warm-up). Defaults to ``"onecycle"``.
        dropout: dropout rate of stages 2–3. Defaults to ``0.1``.
        weight_decay: decoupled weight decay of AdamW in stages 2–3 (Keras convention:
            ``w -= lr · weight_decay · w``). Defaults to ``1e-4``.
        augment: augmentation strength of stages 2–3: Gaussian noise of
            ``augment × std(x)``, plus random one-pixel shifts for images; ``0`` turns it
            off. Defaults to ``0.05``.
        resume: skip the stages an earlier run in ``out`` completed; ``False`` deletes the
            earlier run's files and starts afresh. Defaults to ``True``.
        verbose: ``0`` silent, ``1`` prints the stages, one progress line (epoch, metrics,
            ETA) and the doctor's report on a failed gate. Defaults to ``1``.
        stream: where to print. Defaults to ``None`` (``sys.stdout``).

    Returns:
        A :class:`~keras_recipes.workflows.SteamrollerReport`.

    Raises:
        SteamrollerInputError: (a ``ValueError``) before any training, for an unknown data
            set or model, ``stage_classes`` larger than the number of classes,
            ``stage1_per_class < 1``, an ``out`` that is a file, a CSV without the target
            column, other bad settings, or an ``out`` holding a run with other settings.

    Example:

    >>> from keras_recipes.workflows import steamroller  # doctest: +SKIP
    >>> report = steamroller("digits", "mlp", out="runs/demo")  # doctest: +SKIP
    >>> report.passed, round(report.test_accuracy, 2)  # doctest: +SKIP
    (True, 0.98)

    References:
        - The seeds' course notes, "Quelques recettes": 3. Méthode rouleau compresseur.
        - A. Karpathy, "A Recipe for Training Neural Networks" (2019),
          http://karpathy.github.io/2019/04/25/recipe/ (overfit a small sample first).
        - L. N. Smith, "Cyclical Learning Rates for Training Neural Networks" (2017),
          https://arxiv.org/abs/1506.01186 (range test).
        - L. N. Smith, "Super-Convergence" (2018), https://arxiv.org/abs/1708.07120
          (one-cycle).
    """
    begin = time.perf_counter()
    stream = stream if stream is not None else sys.stdout
    settings = {
        "stage1_epochs": stage1_epochs, "stage2_epochs": stage2_epochs,
        "stage3_epochs": stage3_epochs, "batch_size": batch_size,
        "stage1_min_train_accuracy": stage1_min_train_accuracy,
        "stage2_min_val_accuracy": stage2_min_val_accuracy, "patience": patience,
        "lr_finder_steps": lr_finder_steps, "schedule": schedule, "dropout": dropout,
        "weight_decay": weight_decay, "augment": augment, "resume": bool(resume),
        "verbose": verbose,
    }
    try:
        ds, plan, out, identity, summary = _prepare(
            dataset, model, out, target, seed, stage_classes, stage1_per_class, settings)
    except SteamrollerInputError:
        raise
    except (ValueError, TypeError) as exc:
        raise SteamrollerInputError(str(exc)) from exc

    import keras

    from keras_recipes.diagnostics import print_report
    from keras_recipes.workflows._stage_runner import NEXT_STEPS, StageSpec, run_stage

    out.mkdir(parents=True, exist_ok=True)
    if not resume:
        _clear(out)
    say = (lambda text: print(text, file=stream, flush=True)) if verbose else (lambda _: None)
    if summary is None:
        summary = {"version": SUMMARY_VERSION, "workflow": "steamroller", "config": identity,
                   "stages": {}}
    summary["settings"] = {k: v for k, v in settings.items() if k != "verbose"}
    summary["plan"] = {"sizes": {str(s.stage): s.sizes() for s in plan},
                       "stage_classes": plan[0].classes, "num_classes": plan[2].num_classes}
    summary.update(status="running", failed_stage=None, next_steps=[])
    say(f"Steamroller on {identity['dataset']} ({len(ds)} examples, "
        f"{plan[2].num_classes} classes) with model {identity['model']} → {out}")

    bounds = {1: stage1_min_train_accuracy, 2: stage2_min_val_accuracy, 3: None}
    epochs = {1: stage1_epochs, 2: stage2_epochs, 3: stage3_epochs}
    results: list[StageResult] = []
    for stage in plan:
        n = stage.stage
        key, rel_dir = str(n), f"stage{n}"
        record = summary["stages"].get(key)
        model_file = (record or {}).get("files", {}).get("model")
        if (record and record.get("status") in ("passed", "done") and model_file
                and (out / model_file).is_file()):
            loaded = keras.saving.load_model(out / model_file, safe_mode=True)
            results.append(StageResult(n, record, loaded, resumed=True))
            say(f"== stage {n}/3 {stage.name}: completed by an earlier run, skipped "
                f"({record['gate']['metric']} = {record['gate']['value']:.4f})")
            continue
        for later in range(n, 4):  # records of this and later stages are stale now
            summary["stages"].pop(str(later), None)
        partial = out / f".stage{n}.partial"
        if partial.exists():
            shutil.rmtree(partial)
        partial.mkdir(parents=True)
        spec = StageSpec(model=model, epochs=int(epochs[n]), batch_size=int(batch_size),
                         dropout=float(dropout), weight_decay=float(weight_decay),
                         augment=float(augment), lr_finder_steps=int(lr_finder_steps),
                         seed=int(seed), bound=bounds[n], patience=int(patience),
                         schedule=schedule)
        record, trained, findings = run_stage(stage, spec, partial, rel_dir,
                                              verbose=verbose, stream=stream)
        final = out / rel_dir
        if final.exists():
            shutil.rmtree(final)
        os.replace(partial, final)
        summary["stages"][key] = record
        results.append(StageResult(n, record, trained, resumed=False))
        if record["status"] == "failed":
            advice = [f["advice"] for f in record["findings"]
                      if f["severity"] in ("error", "warning") and f["advice"]]
            summary.update(status="failed", failed_stage=n,
                           next_steps=list(dict.fromkeys(NEXT_STEPS[n] + advice)))
            summary["wall_seconds"] = round(time.perf_counter() - begin, 2)
            _write(out, summary)
            if verbose:
                gate = record["gate"]
                print(f"\nStage {n} ({stage.name}) failed its gate: {gate['metric']} = "
                      f"{gate['value']:.4f} < {gate['bound']:g}. Stopping here.",
                      file=stream)
                print_report(findings, file=stream)
                print("What to try next:", file=stream)
                for step in summary["next_steps"]:
                    print(f"  - {step}", file=stream)
                print(f"Report: {out / REPORT_FILE}", file=stream, flush=True)
            return SteamrollerReport(out, summary, results)
        _write(out, summary)

    test = summary["stages"]["3"].get("test", {})
    summary.update(status="passed", test_accuracy=test.get("accuracy"),
                   test_loss=test.get("loss"))
    summary["wall_seconds"] = round(time.perf_counter() - begin, 2)
    _write(out, summary)
    say(f"Steamroller passed: test accuracy {summary['test_accuracy']:.4f} "
        f"({summary['wall_seconds']:.1f}s). Report: {out / REPORT_FILE}")
    return SteamrollerReport(out, summary, results)
