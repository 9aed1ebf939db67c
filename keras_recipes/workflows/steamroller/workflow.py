"""`steamroller`: the staged "méthode rouleau compresseur" from one call.

:func:`run_steamroller` is a short loop: open the run folder, then, for each
:class:`~keras_recipes.workflows.steamroller.stages.Stage`, resume it from an earlier run or
train it with :func:`~keras_recipes.workflows.steamroller.runner.run_stage`, and stop at the
first failed gate. :func:`steamroller` builds the
:class:`~keras_recipes.workflows.SteamrollerConfig` from its arguments and calls it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from keras_recipes._paths import LinkError, read_small, resolve_inside, shown
from keras_recipes.workflows.common import MODEL_NAMES, atomic_write_json
from keras_recipes.workflows.run_folder import RunFolder, RunFolderError
from keras_recipes.workflows.steamroller.config import SteamrollerConfig, SteamrollerInputError
from keras_recipes.workflows.steamroller.folder import (
    OUTPUTS,
    STAGE_FILES,
    Bystander,
    adopt,
    outputs,
    print_finished,
    read_summary,
)
from keras_recipes.workflows.steamroller.report import (
    REPORT_FILE,
    SUMMARY_FILE,
    StageResult,
    SteamrollerReport,
    render_markdown,
)
from keras_recipes.workflows.steamroller.stages import (
    STEAMROLLER_STAGES,
    DataPlan,
    Stage,
    StageData,
)
from keras_recipes.workflows.steamroller.summary import (
    DELETE_OR_RESTART,
    RunSummary,
    StageRecord,
    SummaryError,
)

__all__ = ["MODEL_NAMES", "OUTPUTS", "STAGE_FILES", "run_steamroller", "steamroller"]

@dataclasses.dataclass
class _Run:
    """An open run: its settings, data, plan, folder and summary."""

    config: SteamrollerConfig
    stages: tuple[Stage, ...]
    dist: Any
    ds: Any
    plan: list[StageData]
    identity: dict[str, Any]
    folder: Any
    summary: RunSummary | None
    stream: TextIO
    begin: float

    @property
    def out(self) -> Path:
        return self.config.out

    def say(self, text: str) -> None:
        if self.config.verbose:
            print(text, file=self.stream, flush=True)

    def write(self) -> None:
        """Write ``summary.json`` and ``report.md`` (the chief only)."""
        if self.dist.is_chief:
            self.summary.updated = time.strftime("%Y-%m-%dT%H:%M:%S")
            atomic_write_json(self.out / SUMMARY_FILE, self.summary.to_json())
            render_markdown(self.out, self.summary)


def _check_stages(config: SteamrollerConfig,
                  stages: Sequence[Stage] | None) -> tuple[Stage, ...]:
    """The stages of the run, with the config's per-stage arguments set on the default
    ones and every setting a value (:meth:`SteamrollerConfig.stages`)."""
    from keras_recipes.lr_finder import SUGGESTION_RULES

    stages = STEAMROLLER_STAGES if stages is None else tuple(stages)
    if not stages or not all(isinstance(s, Stage) for s in stages):
        raise SteamrollerInputError("Argument `stages` must be a non-empty sequence of Stage. "
                                    f"Received: stages={stages!r}")
    for stage in stages:
        if stage.lr_rule not in SUGGESTION_RULES:
            raise SteamrollerInputError(
                f"Stage {stage.name!r}: `lr_rule` must be one of {list(SUGGESTION_RULES)}. "
                f"Received: lr_rule={stage.lr_rule!r}")
    try:
        return config.stages(stages)
    except (ValueError, TypeError) as exc:
        raise SteamrollerInputError(str(exc)) from exc


def _open(config: SteamrollerConfig, stages: tuple[Stage, ...], dist, stream: TextIO,
          begin: float) -> _Run:
    """Load the data, cut the stages, check the network, then lock and read the folder."""
    from keras_recipes._paths import check_output_dir
    from keras_recipes.data.dataset import as_classification_dataset
    from keras_recipes.workflows.steamroller.runner import build_stage_model
    from keras_recipes.workflows.steamroller.stages import plan_stages

    check_output_dir(config.out, "out")  # creates nothing
    ds = as_classification_dataset(config.dataset, target=config.target, seed=config.seed,
                                   drop=None if config.drop is None else list(config.drop),
                                   workflow="The steamroller")
    plan = plan_stages(ds.x, ds.y, ds.class_names, stage_classes=config.stage_classes,
                       stage1_per_class=int(config.stage1_per_class), seed=int(config.seed),
                       stages=stages)
    build_stage_model(config.model, 1, ds.input_shape, plan[0].num_classes, 0.0)  # fails fast
    chosen = next((d.classes for s, d in zip(stages, plan, strict=True)
                   if s.data.classes == "chosen"), plan[0].classes)
    identity = config.identity(ds.name, chosen)
    run = _Run(config, stages, dist, ds, plan, identity, Bystander(), None, stream, begin)
    if not dist.is_chief:  # only the chief locks and reads the folder before the barrier
        return run
    # Lock the folder, then check who owns it, on which data, and what it holds.
    run.folder = RunFolder(config.out, "steamroller").open(
        fingerprint=RunFolder.fingerprint(ds), resume=config.resume,
        outputs=outputs(max(3, len(stages))), adopt=adopt)
    try:
        run.summary = read_summary(config.out, identity, config.resume)
    except BaseException:
        run.folder.release()
        raise
    return run


def _training_inputs(run: _Run):
    """The whole training split's inputs: what the standardisation of every stage uses."""
    for stage, data in zip(run.stages, run.plan, strict=True):
        if stage.data == DataPlan("all"):
            return data.train[0]
    from keras_recipes.data import split

    return split(run.ds.x, run.ds.y, seed=int(run.config.seed))[0][0]  # as plan_stages cuts


def _plan_notes(run: _Run) -> list[str]:
    """What the run adapted to this data set, said in the report."""
    notes = []
    everything = run.ds.num_classes
    few = [str(d.stage) for s, d in zip(run.stages, run.plan, strict=True)
           if s.data.classes == "chosen" and d.num_classes == everything]
    full = [str(d.stage) for s, d in zip(run.stages, run.plan, strict=True)
            if s.data == DataPlan("all")]
    if few and full:
        notes.append(f"The data set has only {everything} classes: stages {'-'.join(few)} "
                     f"already use all of them, so stage {few[-1]} trains on the same data as "
                     f"stage {full[0]}, with the small network.")
    notes.append("Inputs are standardised with the training split's statistics inside the "
                 "model." if run.config.standardize else "Inputs are used raw "
                 "(standardize=False).")
    return notes


def _finished(run: _Run) -> bool:
    """Whether the folder holds a finished run (passed or failed) with these very settings."""
    summary = run.summary
    if summary is None or summary.status not in ("passed", "failed"):
        return False
    same = {k: v for k, v in run.config.recorded().items() if k != "resume"}
    before = {k: v for k, v in (summary.settings or {}).items() if k != "resume"}
    names = [s.name for s in run.stages]
    # A summary without stage names was written by a run of the three default stages.
    earlier = summary.stage_names or [s.name for s in STEAMROLLER_STAGES]
    if before != same or earlier != names:
        return False
    return all((run.out / rec.model_file).is_file() for rec in summary.stages.values()
               if rec.model_file)


def _finished_report(run: _Run) -> SteamrollerReport | None:
    """The report of a finished run with its models loaded back, or ``None`` when a stage's
    files are damaged (that stage is then trained again)."""
    results = []
    for key, record in sorted(run.summary.stages.items()):
        model = None
        if record.model_file:
            model = _stage_model(run, key, record)
            if model is None:
                return None
        results.append(StageResult(key, record, model, resumed=True))
    return SteamrollerReport(run.out, run.summary, results)


def _stage_model(run: _Run, n: int, record: StageRecord):
    """Stage ``n``'s model loaded back (``safe_mode``), or ``None`` when the stage's files
    are missing or damaged: a ``.keras`` file that does not load, a ``stage.json`` that
    does not parse. The stage is then unfinished and trained again; the reason is said.

    Raises:
        RunFolderError: the model's path crosses a symbolic link.
    """

    rel = record.model_file
    try:
        path = resolve_inside(run.out, rel)
        marker = resolve_inside(run.out, f"stage{n}/stage.json")
    except LinkError as exc:
        raise RunFolderError(f"Refusing to load {shown(rel)} from {str(run.out)!r}: {exc}. A "
                             "run folder may not hold links; use another `out`.") from None
    if not path.is_file():
        return None
    damaged = None
    if os.path.lexists(marker):  # written with the model (runs from before it have none)
        try:
            if not isinstance(json.loads(read_small(marker)), dict):
                raise ValueError("not a stage record")
        except (OSError, ValueError) as exc:
            damaged = (f"stage{n}/stage.json", getattr(exc, "strerror", None) or exc)
    if damaged is None:
        try:
            import keras_recipes  # registers every class, also inside the command

            with run.dist.scope():
                return keras_recipes.load_model(path, safe_mode=True)
        except Exception as exc:  # a truncated zip, an emptied file, a refused layer...
            damaged = (rel, exc)
    reason = " ".join(str(damaged[1]).split())
    reason = reason if len(reason) <= 160 else f"{reason[:157]}..."
    run.say(f"== stage {n}: {damaged[0]} is damaged ({reason}); the stage is trained again.")
    return None


def _start(run: _Run) -> None:
    """Fresh or resumed, the summary of a run that is about to train."""
    if not run.config.resume:
        run.folder.clear()  # only what earlier steamroller runs wrote here
    run.folder.claim(SUMMARY_FILE, REPORT_FILE)
    if run.summary is None:
        run.summary = RunSummary(config=run.identity)
    summary = run.summary
    for key in [k for k in summary.stages if k > len(run.stages)]:
        del summary.stages[key]  # a longer earlier run's last stages are not this run's
    summary.settings = run.config.recorded()
    summary.stage_names = [s.name for s in run.stages]
    summary.plan = {"sizes": {str(d.stage): d.sizes() for d in run.plan},
                    "stage_classes": run.identity["stage_classes"],
                    "num_classes": run.ds.num_classes, "notes": _plan_notes(run)}
    summary.status, summary.failed_stage, summary.next_steps = "running", None, []
    if run.config.distribute is not None:
        summary.distribute = {"setup": run.config.distribute,
                              "replicas": run.dist.num_replicas}
    run.say(f"Steamroller on {run.identity['dataset']} ({len(run.ds)} examples, "
            f"{run.ds.num_classes} classes) with model {run.identity['model']} → "
            f"{run.out}")
    for note in summary.plan["notes"]:
        run.say(f"   note: {note}")


def _resumed(run: _Run, stage: Stage, data: StageData) -> StageResult | None:
    """The stage as an earlier run completed it (model loaded back), or ``None``."""
    record = run.summary.stages.get(data.stage)
    if not (record and record.passed and record.model_file
            and (record.name or stage.name) == stage.name):
        return None
    loaded = _stage_model(run, data.stage, record)
    if loaded is None:
        return None
    gate = record.gate
    value = gate.get("value")
    run.say(f"== stage {data.stage}/{len(run.stages)} {data.name}: completed by an earlier "
            f"run, skipped ({gate.get('metric')} = "
            f"{'n/a' if value is None else f'{value:.4f}'})")
    return StageResult(data.stage, record, loaded, resumed=True)


def _train(run: _Run, stage: Stage, data: StageData,
           settings: Any = None) -> tuple[StageResult, list]:
    """Run the stage in a scratch folder, then move its files into ``stage<n>/``.

    ``settings`` (:class:`~keras_recipes.workflows.repair.TrainingSettings`) are how the
    stage trains, ``None`` as configured. With ``repair=True`` the stage is watched by a
    :class:`~keras_recipes.callbacks.Watchdog` and repaired
    (:func:`~keras_recipes.workflows.repair.run_with_repair`): each attempt trains from
    scratch in the emptied scratch folder, and the last attempt's files are kept; its
    record holds every attempt (``attempts``) and the settings it ended with (``repair``).
    """
    from keras_recipes.workflows.steamroller.runner import run_stage

    n = data.stage
    for later in range(n, len(run.stages) + 1):  # records of this and later stages are stale
        run.summary.stages.pop(later, None)
    rel_dir = f"stage{n}"

    def attempt(current) -> tuple[Path, StageRecord, Any, list]:
        if run.dist.is_chief:  # an interrupted run's scratch folder is emptied first
            partial = run.folder.scratch(f".stage{n}.partial")
        else:  # a worker's own copy of the stage files, thrown away
            partial = Path(tempfile.mkdtemp(prefix=f"steamroller-stage{n}-"))
        standardize = run.config.standardize if current is None else current.standardize
        standardize_on = _training_inputs(run) if standardize else None
        try:
            with run.dist.scope():
                record, model, findings = run_stage(
                    stage, run.config, data, partial, rel_dir, of=len(run.stages),
                    standardize_on=standardize_on, stream=run.stream, settings=current,
                    watchdog=run.config.repair)
        except OSError as exc:  # a full disk, a folder turned read-only: say where
            if exc.filename is not None:
                raise
            raise OSError(exc.errno, exc.strerror or str(exc), str(partial)) from exc
        return partial, record, model, findings

    if not run.config.repair:
        partial, record, model, findings = attempt(settings)
    else:
        partial, record, model, findings = _repaired(run, stage, data, settings, attempt)
    if run.dist.is_chief:
        # stage<n>/ may hold the user's own files: only the run's are replaced.
        run.folder.move_in(partial.name, rel_dir, last=("model.keras", "stage.json"))
    else:
        shutil.rmtree(partial, ignore_errors=True)
    run.summary.stages[n] = record
    return StageResult(n, record, model, resumed=False), findings


def _repaired(run: _Run, stage: Stage, data: StageData, settings: Any, attempt) -> tuple:
    """The stage under :func:`~keras_recipes.workflows.repair.run_with_repair`: the last
    attempt's ``(scratch folder, record, model, findings)``, its record holding the log."""
    from keras_recipes.workflows.repair import StageOutcome, repair_table, run_with_repair

    last: dict[str, Any] = {}
    metric = stage.gate.metric

    def train_stage(current):
        if last.get("partial") is not None and not run.dist.is_chief:
            shutil.rmtree(last["partial"], ignore_errors=True)
        partial, record, model, findings = attempt(current)
        last.update(partial=partial, record=record, model=model, findings=findings)
        return StageOutcome(record.gate.get("value"), record.status != "failed", findings,
                            record.lr.get("used"))

    log = run_with_repair(train_stage, settings, rewritable=isinstance(run.config.model, str),
                          range_test=_range_test(run, stage, data),
                          on_repair=lambda line: run.say(f"   {line}"))
    record = last["record"]
    record.attempts = [a.to_json() for a in log.attempts]
    record.repair = {"settings": log.settings.to_json(), "stop_reason": log.stop_reason}
    atomic_write_json(last["partial"] / "stage.json", record.to_json())
    if len(log) > 1 or not log.passed or any(a.skipped_remedies for a in log):
        run.say(f"   repair of stage {data.stage}:")
        for line in repair_table(log, metric).splitlines():
            run.say(f"   {line}")
    return last["partial"], record, last["model"], last["findings"]


def _range_test(run: _Run, stage: Stage, data: StageData):
    """The rate remedies' range test: :func:`~keras_recipes.workflows.repair.range_test`
    on the stage's training examples, with the stage's network (the preset's first size)
    built from the settings, in the run's distribution scope."""
    import keras

    from keras_recipes.workflows.repair import range_test
    from keras_recipes.workflows.standardize import standardization_layer
    from keras_recipes.workflows.steamroller.runner import (
        FALLBACK_LR,
        LR_FINDER_SMOOTHING,
        build_stage_model,
    )

    x, y = data.train
    config = run.config

    def build(settings):
        layer = standardization_layer(_training_inputs(run)) if settings.standardize else None
        with run.dist.scope():
            model = build_stage_model(config.model, data.stage, x.shape[1:], data.num_classes,
                                      stage.dropout, normalization=layer, settings=settings)
            model.compile(optimizer=settings.configure_optimizer(
                keras.optimizers.Adam(FALLBACK_LR)), loss="sparse_categorical_crossentropy",
                metrics=["accuracy"])
        return model

    return range_test(build, x, y, batch_size=min(int(config.batch_size), len(x)),
                      num_steps=int(config.lr_finder_steps), seed=int(config.seed),
                      rule=stage.lr_rule, smoothing=LR_FINDER_SMOOTHING)


def _next_settings(run: _Run, record: StageRecord, settings: Any) -> Any:
    """The settings the next stage starts from: what the repair of this one ended with
    (a remedy to the network or the inputs carries on). A rate the repair chose carries on
    only when ``training`` forced one (the forced rate was wrong); otherwise each stage
    picks its own with its range test. ``settings`` when the record holds no repair."""
    if settings is None or not record.repair:
        return settings
    from keras_recipes.workflows.repair import TrainingSettings

    try:
        ended = TrainingSettings.from_json(record.repair.get("settings"))
    except (ValueError, TypeError) as exc:
        raise SummaryError(f"{str(run.out / SUMMARY_FILE)!r} is damaged or was not written "
                           f"by keras-recipes: stages.{record.stage}.repair.settings ({exc}). ",
                           DELETE_OR_RESTART) from None
    forced = run.config.training_settings().learning_rate is not None
    return ended if forced else ended.replace(learning_rate=None)


def _stop(run: _Run, stage: Stage, result: StageResult, findings: list,
          results: list[StageResult]) -> SteamrollerReport:
    """A failed gate: record what to try next, write, print the doctor's report."""
    from keras_recipes.diagnostics import print_report

    record, summary = result.record, run.summary
    advice = [f["advice"] for f in record.findings
              if f.get("severity") in ("error", "warning") and f.get("advice")]
    summary.status, summary.failed_stage = "failed", result.stage
    summary.next_steps = list(dict.fromkeys([*stage.next_steps, *advice]))
    summary.wall_seconds = round(time.perf_counter() - run.begin, 2)
    run.write()
    if run.config.verbose:
        gate, stream = record.gate, run.stream
        value = gate["value"] if gate["value"] is not None else float("nan")
        below = "<" if stage.gate.higher_is_better else ">"
        why = gate.get("reason") or f"{gate['metric']} = {value:.4f} {below} {gate['bound']:g}"
        print(f"\nStage {result.stage} ({stage.name}) failed its gate: {why}. Stopping here.",
              file=stream)
        print_report(findings, file=stream)
        print("What to try next:", file=stream)
        for step in summary.next_steps:
            print(f"  - {step}", file=stream)
        print(f"Report: {run.out / REPORT_FILE}", file=stream, flush=True)
    return SteamrollerReport(run.out, run.summary, results)


def _finish(run: _Run, results: list[StageResult]) -> SteamrollerReport:
    # The final test scores: the last stage that measured the test split.
    summary = run.summary
    test = next((r.record.test for r in reversed(results) if r.record.test is not None), {})
    summary.status = "passed"
    summary.test_accuracy, summary.test_loss = test.get("accuracy"), test.get("loss")
    summary.wall_seconds = round(time.perf_counter() - run.begin, 2)
    run.write()
    accuracy = summary.test_accuracy
    run.say(f"Steamroller passed: test accuracy "
            f"{'n/a' if accuracy is None else f'{accuracy:.4f}'} "
            f"({summary.wall_seconds:.1f}s). Report: {run.out / REPORT_FILE}")
    return SteamrollerReport(run.out, run.summary, results)


def run_steamroller(config: SteamrollerConfig, stages: Sequence[Stage] | None = None,
                    stream: TextIO | None = None) -> SteamrollerReport:
    """Run the steamroller described by ``config`` (and ``stages``); see :func:`steamroller`.

    Args:
        config: the run's :class:`~keras_recipes.workflows.SteamrollerConfig`.
        stages: the :class:`~keras_recipes.workflows.Stage` sequence. Defaults to ``None``
            (:data:`~keras_recipes.workflows.STEAMROLLER_STAGES`, seed 000's three stages).
        stream: where to print. Defaults to ``None`` (``sys.stdout``).

    Returns:
        A :class:`~keras_recipes.workflows.SteamrollerReport`.

    Example:

    >>> import dataclasses
    >>> from keras_recipes.workflows import SteamrollerConfig, run_steamroller  # doctest: +SKIP
    >>> config = SteamrollerConfig("digits", "mlp", out="runs/demo")  # doctest: +SKIP
    >>> run_steamroller(dataclasses.replace(config, stage3_epochs=30))  # doctest: +SKIP
    SteamrollerReport(out='runs/demo', status='passed', ...)
    """
    if not isinstance(config, SteamrollerConfig):
        raise SteamrollerInputError("Argument `config` must be a SteamrollerConfig. "
                                    f"Received: config={config!r}")
    begin = time.perf_counter()
    stream = stream if stream is not None else sys.stdout
    stages = _check_stages(config, stages)
    from keras_recipes import _distribute

    try:  # first: a multi-worker strategy must exist before any other TensorFlow work
        dist = _distribute.setup(config.distribute)
    except ValueError as exc:
        raise SteamrollerInputError(str(exc)) from exc
    try:
        try:
            run = _open(config, stages, dist, stream, begin)
        except SteamrollerInputError:
            raise
        except (ValueError, TypeError) as exc:
            raise SteamrollerInputError(str(exc)) from exc
    except BaseException:
        dist.agree(False)  # the other workers learn it at the barrier and stop too
        raise
    # Barrier: the chief holds the folder; the others read it only now.
    if not dist.agree(True):
        run.folder.release()
        raise SteamrollerInputError("Another worker refused the run (see its error); "
                                    "nothing was done.")
    try:
        if not dist.is_chief:
            run.summary = read_summary(run.out, run.identity, config.resume)
        report = _finished_report(run) if _finished(run) else None
        if report is not None:
            if config.verbose:
                print_finished(report, run.out, stream)
            return report
        _start(run)
        results: list[StageResult] = []
        settings = config.training_settings() \
            if config.repair or config.training is not None else None
        for stage, data in zip(stages, run.plan, strict=True):
            result = _resumed(run, stage, data)
            if result is None:
                result, findings = _train(run, stage, data, settings)
                if not result.passed:
                    results.append(result)
                    return _stop(run, stage, result, findings, results)
                run.write()
            settings = _next_settings(run, result.record, settings)
            results.append(result)
        return _finish(run, results)
    finally:
        run.folder.release()  # also on KeyboardInterrupt


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
    stages: Sequence[Stage] | None = None,
    minibatch_steps: int = 100,
    minibatch_max_loss: float = 0.01,
    plateau_factor: float = 0.2,
    plateau_patience: int = 3,
    repair: bool = False,
    training: Any = None,
) -> SteamrollerReport:
    """Run the staged steamroller and write a report, logs and models to ``out``.

    The steamroller (seed 000, "méthode rouleau compresseur") is how to start on a new
    problem. Each stage has a goal and a check (a *gate*); a failed gate stops the run,
    prints the training doctor's findings and what to try next, and does not go on:

    1. **overfit**: ``stage1_per_class`` training examples of ``stage_classes`` classes,
       no regularisation, no augmentation. Gate: train accuracy ≥
       ``stage1_min_train_accuracy`` (a network that cannot learn a few examples by heart
       is broken or too small), and one minibatch overfitted first (seed 003): on the
       fresh network, put back afterwards, the training loss of one batch falls to
       ``minibatch_max_loss`` within ``minibatch_steps`` steps.
    2. **generalise**: all the data of those classes, with dropout, weight decay and light
       augmentation, and early stopping on the validation loss. Gate: validation accuracy
       ≥ ``stage2_min_val_accuracy``.
    3. **train**: all the data and all the classes, a bigger network and a schedule
       (one-cycle, cosine with warm-up, or seed 000's staircase), keeping the last epoch;
       then the test accuracy and an error analysis.

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
    or overwritten. What the run reads back from ``out`` is checked first, since a folder
    may come from someone else: a symbolic link inside it, a manifest or summary with a
    path that is not a plain relative path inside the folder, or with a field of the wrong
    type, refuses the folder before any work. A stage whose ``model.keras`` no longer loads
    (or whose ``stage.json`` does not parse) counts as unfinished: a rerun says so and
    trains it again, with the stages after it.

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
        schedule: stage-3 schedule, ``"onecycle"``, ``"cosine"`` (cosine decay with a
            10 % linear warm-up) or ``"staircase"`` (seed 000's strategy #1: a constant
            rate multiplied by ``plateau_factor`` at each plateau of the validation loss;
            the plateaus found are recorded under ``lr.staircase``; to fix such a
            staircase in advance and rerun it, see
            :func:`keras_recipes.workflows.strategy1.strategy1`).
            Defaults to ``"onecycle"``.
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
        stages: the stages to run, a sequence of :class:`~keras_recipes.workflows.Stage`
            (each one's data plan, optimizer, stopper, gate and advice); ``None`` runs seed
            000's three (:data:`~keras_recipes.workflows.STEAMROLLER_STAGES`). A fourth
            stage is one more ``Stage`` in the sequence. Defaults to ``None``.
        minibatch_steps: most steps of stage 1's "overfit one minibatch" check; ``0``
            turns it off. Defaults to ``100``.
        minibatch_max_loss: the training loss of that minibatch that counts as near zero.
            Defaults to ``0.01``.
        plateau_factor: with ``schedule="staircase"``, the factor applied to the rate at
            each plateau. Defaults to ``0.2``.
        plateau_patience: with ``schedule="staircase"``, epochs without improvement of
            the validation loss that make a plateau. Defaults to ``3``.
        repair: watch each stage with a :class:`~keras_recipes.callbacks.Watchdog` (its
            fatal stop fails the stage's check) and, when a check fails with a finding that
            has a known remedy, apply the remedy and train the stage again, at most twice
            (:func:`~keras_recipes.workflows.repair.run_with_repair`). A preset network
            takes every remedy; a callable ``model`` only those that leave its architecture
            alone (rate, clipping, inputs), and the report lists the others. Each stage's
            record keeps its attempts (``attempts``) and ``report.md`` shows them; the next
            stage starts from the settings the repair ended with, at its own range test's
            rate. ``False`` changes nothing in the run. See ``docs/repair.md``.
            Defaults to ``False``.
        training: a :class:`~keras_recipes.workflows.repair.TrainingSettings`: a preset's
            activation, initialisation and BatchNorm, a rate that replaces every stage's
            range test, gradient clipping; its ``standardize`` must agree with
            ``standardize``. ``None`` trains as described above. Defaults to ``None``.

    Returns:
        A :class:`~keras_recipes.workflows.SteamrollerReport`.

    Raises:
        SteamrollerInputError: (a ``ValueError``) before any training, for an unknown data
            set or model, ``stage_classes`` larger than the number of classes,
            ``stage1_per_class < 1``, an ``out`` that is a file, a CSV without the target
            column, other bad settings, an ``out`` that cannot be written, or an ``out``
            holding a run with other settings or other data (``resume=True``), another
            workflow's run, files of the user's that the run would overwrite, a run in
            progress, a symbolic link, or a damaged or foreign ``manifest.json`` or
            ``summary.json``. The folder is left untouched.
        OSError: a write failed during the run (a full disk, a folder turned read-only);
            the message names the file or stage folder. The settings are checked by
            :class:`~keras_recipes.workflows.SteamrollerConfig`.

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
    config = SteamrollerConfig(
        dataset=dataset, model=model, stage_classes=stage_classes,
        stage1_per_class=stage1_per_class, out=out, seed=seed, target=target, drop=drop,
        stage1_epochs=stage1_epochs, stage2_epochs=stage2_epochs, stage3_epochs=stage3_epochs,
        batch_size=batch_size, stage1_min_train_accuracy=stage1_min_train_accuracy,
        stage2_min_val_accuracy=stage2_min_val_accuracy, patience=patience,
        lr_finder_steps=lr_finder_steps, schedule=schedule, dropout=dropout,
        weight_decay=weight_decay, augment=augment, stage3_augment=stage3_augment, grow=grow,
        standardize=standardize, resume=resume, verbose=verbose, distribute=distribute,
        minibatch_steps=minibatch_steps, minibatch_max_loss=minibatch_max_loss,
        plateau_factor=plateau_factor, plateau_patience=plateau_patience, repair=repair,
        training=training)
    return run_steamroller(config, stages=stages, stream=stream)
