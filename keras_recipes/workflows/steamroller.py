"""`steamroller`: the three-stage "méthode rouleau compresseur" from one call."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from keras_recipes._paths import check_output_dir
from keras_recipes._validation import check_number, check_one_of, check_probability
from keras_recipes.workflows.common import atomic_write_json
from keras_recipes.workflows.run_folder import RunFolder
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
IDENTITY_KEYS = ("dataset", "target", "drop", "model", "stage_classes", "stage1_per_class",
                 "seed")
SUMMARY_VERSION = 1
#: Files a stage writes into its folder ``stage<n>/``.
STAGE_FILES = ("lr_finder.csv", "lr_finder.png", "history.csv", "diagnostics.csv",
               "summary.json", "learning_curves.png", "activations.png", "confusion_matrix.png",
               "errors.csv", "worst_examples.png", "first_batch.png", "step_updates.csv",
               "model.keras", "stage.json")
#: Every path a run may write in its folder (relative): a user's file there is refused.
OUTPUTS = (SUMMARY_FILE, REPORT_FILE,
           *(f"stage{n}/{name}" for n in (1, 2, 3) for name in STAGE_FILES),
           *(f".stage{n}.partial" for n in (1, 2, 3)))


class SteamrollerInputError(ValueError):
    """Bad input to :func:`steamroller`, detected before any training."""


def _check_out(out) -> Path:
    return check_output_dir(out, "out")


def _adopt(out: Path, summary: dict[str, Any]) -> list[str]:
    """The files a run from before manifests wrote, from its ``summary.json``."""
    files = [SUMMARY_FILE, REPORT_FILE]

    def walk(value) -> None:
        if isinstance(value, str):
            files.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    for record in summary.get("stages", {}).values():
        walk(record.get("files", {}) if isinstance(record, dict) else {})
    files += [name for name in OUTPUTS[2:] if (out / name).exists()]
    return [f for f in dict.fromkeys(files) if (out / f).exists()]


def _read_summary(out: Path, identity: dict[str, Any], resume: bool) -> dict[str, Any] | None:
    if not ((out / SUMMARY_FILE).is_file() and resume):
        return None
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
    return summary


def _load_data(dataset, target, seed, drop=None):
    from keras_recipes.data.dataset import as_classification_dataset

    return as_classification_dataset(dataset, target=target, seed=seed, drop=drop,
                                     workflow="The steamroller")


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


class _Bystander:
    """The run folder as a worker that is not the chief sees it: it writes nothing."""

    def claim(self, *paths, folder=False) -> None:
        pass

    def clear(self) -> list[str]:
        return []

    def move_in(self, source, dest, *, last=()) -> list[str]:
        return []

    def release(self) -> None:
        pass


def _prepare(dataset, model, out, target, seed, stage_classes, stage1_per_class, settings,
             chief=True):
    check_number("seed", seed, low=0, integer=True)
    for name in ("stage1_epochs", "stage2_epochs", "stage3_epochs", "batch_size"):
        check_number(name, settings[name], low=1, integer=True)
    check_number("lr_finder_steps", settings["lr_finder_steps"], low=10, integer=True)
    check_number("patience", settings["patience"], low=0, integer=True)
    for name in ("stage1_min_train_accuracy", "stage2_min_val_accuracy"):
        check_number(name, settings[name], low=0, high=1, low_inclusive=False)
    check_probability("dropout", settings["dropout"])
    check_number("weight_decay", settings["weight_decay"], low=0)
    check_number("augment", settings["augment"], low=0)
    if settings["stage3_augment"] is not None:
        check_number("stage3_augment", settings["stage3_augment"], low=0)
    check_one_of("schedule", settings["schedule"], SCHEDULES)
    check_number("verbose", settings["verbose"], low=0, integer=True)
    out = _check_out(out)
    _check_model(model)
    if stage1_per_class is None or isinstance(stage1_per_class, bool):
        raise ValueError(f"Argument `stage1_per_class` must be an integer >= 1. "
                         f"Received: stage1_per_class={stage1_per_class}")
    check_number("stage1_per_class", stage1_per_class, low=1, integer=True)
    ds = _load_data(dataset, target, seed, settings["drop"])

    from keras_recipes.workflows._stage_runner import build_stage_model
    from keras_recipes.workflows.stages import plan_stages

    plan = plan_stages(ds.x, ds.y, ds.class_names, stage_classes=stage_classes,
                       stage1_per_class=int(stage1_per_class), seed=int(seed))
    build_stage_model(model, 1, ds.input_shape, plan[0].num_classes, 0.0)  # fails fast
    identity = {"dataset": ds.name if not isinstance(dataset, str) else dataset,
                "target": target, "drop": settings["drop"], "model": _model_name(model),
                "stage_classes": plan[0].classes, "stage1_per_class": int(stage1_per_class),
                "seed": int(seed)}
    if not chief:  # only the chief locks and reads the folder before the barrier
        return ds, plan, out, identity, None, _Bystander()
    # Lock the folder, then check who owns it, on which data, and what it holds.
    folder = RunFolder(out, "steamroller").open(
        fingerprint=RunFolder.fingerprint(ds), resume=settings["resume"], outputs=OUTPUTS,
        adopt=_adopt)
    try:
        summary = _read_summary(out, identity, settings["resume"])
    except BaseException:
        folder.release()
        raise
    return ds, plan, out, identity, summary, folder


def _plan_notes(plan, standardize: bool) -> list[str]:
    """What the run adapted to this data set, said in the report."""
    notes = []
    if plan[0].num_classes == plan[2].num_classes:
        notes.append(f"The data set has only {plan[2].num_classes} classes: stages 1-2 "
                     "already use all of them, so stage 2 trains on the same data as stage 3, "
                     "with the small network.")
    notes.append("Inputs are standardised with the training split's statistics inside the "
                 "model." if standardize else "Inputs are used raw (standardize=False).")
    return notes


def _finished_with(summary: dict[str, Any], settings: dict[str, Any], out: Path) -> bool:
    """Whether ``out`` holds a finished run (passed or failed) with these very settings."""
    if summary.get("status") not in ("passed", "failed"):
        return False
    same = {k: v for k, v in settings.items() if k not in ("verbose", "resume", "drop")}
    before = {k: v for k, v in summary.get("settings", {}).items() if k != "resume"}
    if before != same:
        return False
    stages = summary.get("stages", {})
    return all((out / rec.get("files", {}).get("model", "")).is_file()
               for rec in stages.values() if rec.get("files", {}).get("model"))


def _print_finished(report: SteamrollerReport, out: Path, stream: TextIO) -> None:
    say = lambda text: print(text, file=stream, flush=True)  # noqa: E731
    say(f"The run in {out} is finished ({report.status}); nothing to do. Pass resume=False "
        "(--fresh) to run it again.")
    for key in sorted(report.summary.get("stages", {})):
        rec = report.summary["stages"][key]
        gate = rec.get("gate", {})
        value = gate.get("value")
        bound = f" (bound {gate['bound']:g})" if gate.get("bound") is not None else ""
        value = f"{value:.4f}" if isinstance(value, int | float) else "n/a"
        say(f"   stage {key} {rec.get('name', '')}: {gate.get('metric')} = {value}{bound}: "
            f"{rec.get('status')}")
    if report.passed and report.test_accuracy is not None:
        say(f"Steamroller passed: test accuracy {report.test_accuracy:.4f}. "
            f"Report: {out / REPORT_FILE}")
    else:
        for step in report.next_steps:
            say(f"  - {step}")
        say(f"Report: {out / REPORT_FILE}")


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
    drop: str | Sequence[str] | None = None,
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
    stage3_augment: float | None = None,
    grow: bool = True,
    standardize: bool = True,
    resume: bool = True,
    verbose: int = 1,
    stream: TextIO | None = None,
    distribute: str | None = None,
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
    is written atomically and a stage's model appears only once the stage is finished, so an
    interrupted run leaves a consistent folder; a rerun with the same ``out`` skips the
    stages recorded as completed in ``summary.json`` (their model is loaded back).

    ``out`` is a :class:`~keras_recipes.workflows.run_folder.RunFolder`: ``manifest.json``
    lists every file the run wrote and a fingerprint of its data, and ``.lock`` keeps a
    second run out while one works there. Files of the user's in ``out`` are never removed
    or overwritten.

    Args:
        dataset: a data set name (``"digits"``, ...), a ``.npz``/``.csv`` path, or a
            :class:`~keras_recipes.data.Dataset`. Defaults to ``"digits"``.
        model: ``"mlp"`` or ``"cnn"`` (the baseline builders; stage 3 uses a wider/deeper
            variant), or a callable ``model(input_shape, num_classes)`` returning an
            uncompiled softmax ``keras.Model``; it also receives ``dropout=``,
            ``stage=`` and ``normalization=`` (the standardisation layer, to apply to its
            inputs first) when its signature names them; a callable without
            ``normalization`` is wrapped behind the layer as a nested model.
            Defaults to ``"mlp"``.
        stage_classes: number of classes of stages 1–2 (the first ``k`` labels), or the
            list of labels. Defaults to ``2``.
        stage1_per_class: training examples per class in stage 1. Defaults to ``10``.
        out: run folder. Defaults to ``"runs/steamroller"``.
        seed: seed of the split, the draws and the weights. Defaults to ``0``.
        target: target column of a ``.csv`` data set. Defaults to ``None``.
        drop: columns of a ``.csv`` data set that are not features (an id...).
            Defaults to ``None``.
        stage1_epochs: most epochs of stage 1 (it stops once it fits). Defaults to ``100``.
        stage2_epochs: most epochs of stage 2. Defaults to ``20``.
        stage3_epochs: epochs of stage 3 (the schedule's length). Defaults to ``20``.
        batch_size: batch size, capped by each stage's training set. The default follows
            the seeds' guidance (:func:`keras_recipes.tuning.suggest_batch_size`): 32 is
            seed 000's example and lies in seed 001's 16–256 and seed 003's 32–512, and a
            stage whose training set is smaller (stage 1's few examples) trains full batch,
            as seed 001 advises for small data. Full batch for a few hundred examples, which
            the seeds also allow, would leave each stage only one step per epoch.
            Defaults to ``32``.
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
            ``augment`` times each feature's (or channel's) standard deviation, plus random
            one-pixel shifts for images; ``0`` turns it
            off. Defaults to ``0.05``.
        stage3_augment: augmentation strength of stage 3, where seed 000 asks for the
            strongest augmentation ("augmentation de donnée maximale"); ``None`` doubles
            ``augment``. Defaults to ``None``.
        grow: in stage 3, grow a named preset from the stage-2 size ("petit réseau → gros
            réseau"): each size of the preset's ladder trains a quarter of
            ``stage3_epochs`` at Adam's default rate, and the next size is tried only
            while the validation loss falls by at least 2 %; the report lists every size
            tried. ``False`` trains the preset's big size directly. A callable ``model`` is
            built once, with ``stage=3``. Defaults to ``True``.
        standardize: standardise the inputs with the mean and variance of the training
            split, inside the model (a ``keras.layers.Normalization`` in front of the
            network, saved with it, so the ``.keras`` files predict on raw inputs); per
            feature for tables, per channel for images. ``False`` trains on raw inputs.
            Defaults to ``True``.
        resume: skip the stages an earlier run in ``out`` completed (on the same data and
            settings); ``False`` deletes the files earlier steamroller runs wrote there (as
            listed in ``manifest.json``, and nothing else) and starts afresh.
            Defaults to ``True``.
        verbose: ``0`` silent, ``1`` prints the stages, one progress line (epoch, metrics,
            ETA) and the doctor's report on a failed gate. Defaults to ``1``.
        stream: where to print. Defaults to ``None`` (``sys.stdout``).
        distribute: train every stage on several devices or workers: ``"mirrored"``
            (``tf.distribute.MirroredStrategy`` over the local devices; two logical CPU
            devices on a machine with one CPU, when TensorFlow has not started its
            devices yet), ``"multiworker"`` (``tf.distribute.MultiWorkerMirroredStrategy``
            from ``TF_CONFIG``; run the same call in every worker process, with an ``out``
            that every worker can read) or ``"jax-data-parallel"``
            (``keras.distribution.DataParallel`` over ``jax.devices()``). Models and
            optimizers are created in the strategy's scope and ``batch_size`` is the
            global batch. Only the chief writes the run folder; the other workers wait
            for it at a barrier before reading which stages to resume. ``None`` trains
            on one device. See ``docs/distributed.md``. Defaults to ``None``.

    Returns:
        A :class:`~keras_recipes.workflows.SteamrollerReport`.

    Raises:
        SteamrollerInputError: (a ``ValueError``) before any training, for an unknown data
            set or model, ``stage_classes`` larger than the number of classes,
            ``stage1_per_class < 1``, an ``out`` that is a file, a CSV without the target
            column, other bad settings, an ``out`` that cannot be written, or an ``out``
            holding a run with other settings or other data (``resume=True``), another
            workflow's run, files of the user's that the run would overwrite, or a run in
            progress. The folder is left untouched.

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
        "weight_decay": weight_decay, "augment": augment, "stage3_augment": stage3_augment,
        "grow": bool(grow), "standardize": standardize,
        "resume": bool(resume),
        "verbose": verbose,
        "drop": None if drop is None else [drop] if isinstance(drop, str) else list(drop),
    }
    from keras_recipes import _distribute

    try:  # first: a multi-worker strategy must exist before any other TensorFlow work
        dist = _distribute.setup(distribute)
    except ValueError as exc:
        raise SteamrollerInputError(str(exc)) from exc
    try:
        try:
            ds, plan, out, identity, summary, folder = _prepare(
                dataset, model, out, target, seed, stage_classes, stage1_per_class, settings,
                chief=dist.is_chief)
        except SteamrollerInputError:
            raise
        except (ValueError, TypeError) as exc:
            raise SteamrollerInputError(str(exc)) from exc
    except BaseException:
        dist.agree(False)  # the other workers learn it at the barrier and stop too
        raise
    # Barrier: the chief holds the folder; the others read it only now.
    if not dist.agree(True):
        folder.release()
        raise SteamrollerInputError("Another worker refused the run (see its error); "
                                    "nothing was done.")
    if not dist.is_chief:
        summary = _read_summary(out, identity, settings["resume"])
    write = _write if dist.is_chief else (lambda out, summary: None)

    try:
        if summary is not None and _finished_with(summary, settings, out):
            report = SteamrollerReport.load(out, load_models=True)
            if verbose:
                _print_finished(report, out, stream)
            return report

        import keras

        from keras_recipes.diagnostics import print_report
        from keras_recipes.workflows._stage_runner import NEXT_STEPS, StageSpec, run_stage

        if not resume:
            folder.clear()  # only what earlier steamroller runs wrote here
        folder.claim(SUMMARY_FILE, REPORT_FILE)
        say = (lambda text: print(text, file=stream, flush=True)) if verbose else (lambda _: None)
        if summary is None:
            summary = {"version": SUMMARY_VERSION, "workflow": "steamroller", "config": identity,
                       "stages": {}}
        summary["settings"] = {k: v for k, v in settings.items() if k not in ("verbose", "drop")}
        summary["plan"] = {"sizes": {str(s.stage): s.sizes() for s in plan},
                           "stage_classes": plan[0].classes, "num_classes": plan[2].num_classes,
                           "notes": _plan_notes(plan, standardize)}
        summary.update(status="running", failed_stage=None, next_steps=[])
        if distribute is not None:
            summary["distribute"] = {"setup": distribute, "replicas": dist.num_replicas}
        say(f"Steamroller on {identity['dataset']} ({len(ds)} examples, "
            f"{plan[2].num_classes} classes) with model {identity['model']} → {out}")
        for note in summary["plan"]["notes"]:
            say(f"   note: {note}")

        bounds = {1: stage1_min_train_accuracy, 2: stage2_min_val_accuracy, 3: None}
        stage3_strength = 2 * augment if stage3_augment is None else stage3_augment
        epochs = {1: stage1_epochs, 2: stage2_epochs, 3: stage3_epochs}
        results: list[StageResult] = []
        for stage in plan:
            n = stage.stage
            key, rel_dir = str(n), f"stage{n}"
            record = summary["stages"].get(key)
            model_file = (record or {}).get("files", {}).get("model")
            if (record and record.get("status") in ("passed", "done") and model_file
                    and (out / model_file).is_file()):
                with dist.scope():
                    loaded = keras.saving.load_model(out / model_file, safe_mode=True)
                results.append(StageResult(n, record, loaded, resumed=True))
                say(f"== stage {n}/3 {stage.name}: completed by an earlier run, skipped "
                    f"({record['gate']['metric']} = {record['gate']['value']:.4f})")
                continue
            for later in range(n, 4):  # records of this and later stages are stale now
                summary["stages"].pop(str(later), None)
            if dist.is_chief:
                partial = out / f".stage{n}.partial"
                folder.claim(partial.name, folder=True)
                if partial.exists():
                    shutil.rmtree(partial)
                partial.mkdir(parents=True)
            else:  # a worker's own copy of the stage files, thrown away
                partial = Path(tempfile.mkdtemp(prefix=f"steamroller-stage{n}-"))
            spec = StageSpec(standardize_on=plan[2].train[0] if standardize else None,
                             model=model, epochs=int(epochs[n]), batch_size=int(batch_size),
                             dropout=float(dropout), weight_decay=float(weight_decay),
                             augment=float(stage3_strength if n == 3 else augment),
                             grow=bool(grow) and n == 3, lr_finder_steps=int(lr_finder_steps),
                             seed=int(seed), bound=bounds[n], patience=int(patience),
                             schedule=schedule)
            with dist.scope():
                record, trained, findings = run_stage(stage, spec, partial, rel_dir,
                                                      verbose=verbose, stream=stream)
            if dist.is_chief:
                # stage<n>/ may hold the user's own files: only the run's are replaced.
                folder.move_in(partial.name, rel_dir, last=("model.keras", "stage.json"))
            else:
                shutil.rmtree(partial, ignore_errors=True)
            summary["stages"][key] = record
            results.append(StageResult(n, record, trained, resumed=False))
            if record["status"] == "failed":
                advice = [f["advice"] for f in record["findings"]
                          if f["severity"] in ("error", "warning") and f["advice"]]
                summary.update(status="failed", failed_stage=n,
                               next_steps=list(dict.fromkeys(NEXT_STEPS[n] + advice)))
                summary["wall_seconds"] = round(time.perf_counter() - begin, 2)
                write(out, summary)
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
            write(out, summary)

        test = summary["stages"]["3"].get("test", {})
        summary.update(status="passed", test_accuracy=test.get("accuracy"),
                       test_loss=test.get("loss"))
        summary["wall_seconds"] = round(time.perf_counter() - begin, 2)
        write(out, summary)
        say(f"Steamroller passed: test accuracy {summary['test_accuracy']:.4f} "
            f"({summary['wall_seconds']:.1f}s). Report: {out / REPORT_FILE}")
        return SteamrollerReport(out, summary, results)
    finally:
        folder.release()  # also on KeyboardInterrupt
