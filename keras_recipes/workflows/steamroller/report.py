"""`SteamrollerReport` and `StageResult`: what the steamroller did, stage by stage."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from keras_recipes.workflows.report import Report
from keras_recipes.workflows.steamroller.summary import RunSummary, StageRecord

SUMMARY_FILE = "summary.json"
REPORT_FILE = "report.md"


@dataclasses.dataclass
class StageResult:
    """The outcome of one steamroller stage.

    Attributes:
        stage: the stage's number (1, 2, 3 for the default stages).
        record: the stage's :class:`~keras_recipes.workflows.steamroller.summary.StageRecord`
            (gate, learning rate, sizes, files, findings, timings), its entry of
            ``summary.json``; it also reads like that JSON object (``record["gate"]``).
            Paths in ``record.files`` are relative to the run folder.
        model: the trained ``keras.Model`` (loaded from the stage's ``.keras`` file when the
            stage was completed by an earlier run), or ``None`` when it was not loaded.
        resumed: ``True`` when an earlier run completed this stage and it was skipped.
    """

    stage: int
    record: StageRecord
    model: Any = None
    resumed: bool = False

    @property
    def name(self) -> str:
        """Short name: ``"overfit"``, ``"generalise"`` or ``"train"``."""
        return self.record.name

    @property
    def status(self) -> str:
        """``"passed"``, ``"failed"`` or, for a stage without a bound (stage 3), ``"done"``."""
        return self.record.status

    @property
    def passed(self) -> bool:
        """Whether the stage met its goal (a stage without a bound does once it finished)."""
        return self.record.passed

    @property
    def gate(self) -> dict[str, Any]:
        """``{"metric", "value", "bound"}`` of the stage's check."""
        return dict(self.record.gate)

    @property
    def findings(self) -> list[dict[str, Any]]:
        """The doctor's findings on this stage's training, as dicts."""
        return list(self.record.findings)


@dataclasses.dataclass
class SteamrollerReport:
    """What :func:`~keras_recipes.workflows.steamroller` did, and where it wrote it.

    Attributes:
        out: the run folder.
        summary: the content of ``summary.json``, a
            :class:`~keras_recipes.workflows.steamroller.summary.RunSummary` (which also
            reads like the JSON object: ``summary["stages"]["1"]["gate"]``).
        stages: one :class:`StageResult` per stage run or resumed, in order.

    Example:

    >>> from keras_recipes.workflows import steamroller  # doctest: +SKIP
    >>> report = steamroller("digits", "mlp", out="runs/demo")  # doctest: +SKIP
    >>> report.passed, report.test_accuracy  # doctest: +SKIP
    (True, 0.98...)
    """

    out: Path
    summary: RunSummary
    stages: list[StageResult] = dataclasses.field(default_factory=list)

    @property
    def passed(self) -> bool:
        """``True`` when every stage finished and every gate passed."""
        return self.summary.passed

    @property
    def status(self) -> str:
        """``"passed"``, ``"failed"`` (a gate failed) or ``"running"``."""
        return self.summary.status

    @property
    def failed_stage(self) -> int | None:
        """The stage whose gate failed, or ``None``."""
        return self.summary.failed_stage

    @property
    def test_accuracy(self) -> float | None:
        """The test accuracy of the last stage that measured it (stage 3), or ``None``."""
        return self.summary.test_accuracy

    @property
    def next_steps(self) -> list[str]:
        """What to try next after a failed gate (empty when every gate passed)."""
        return list(self.summary.next_steps)

    @property
    def report_path(self) -> Path:
        """Path of ``report.md``."""
        return self.out / REPORT_FILE

    @property
    def summary_path(self) -> Path:
        """Path of ``summary.json``."""
        return self.out / SUMMARY_FILE

    @property
    def models(self) -> dict[int, Any]:
        """``{stage: keras.Model}`` for the stages whose model is loaded."""
        return {s.stage: s.model for s in self.stages if s.model is not None}

    def stage(self, number: int) -> StageResult:
        """The :class:`StageResult` of stage ``number``."""
        for s in self.stages:
            if s.stage == number:
                return s
        raise KeyError(f"Stage {number} did not run. Stages run: {[s.stage for s in self.stages]}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy of the summary."""
        return self.summary.to_json()

    @classmethod
    def load(cls, out: str | os.PathLike, load_models: bool = False) -> SteamrollerReport:
        """Read a run folder's ``summary.json`` (and, if asked, its ``.keras`` models).

        The folder may come from someone else: the summary is read as a regular file of
        bounded size and checked like a run's own reread
        (:meth:`~keras_recipes.workflows.steamroller.summary.RunSummary.from_json`: field
        types, each stage's files inside its own stage folder), and a model is loaded only from
        a path that stays inside ``out`` without crossing a symbolic link.

        Raises:
            RunFolderError: (a ``ValueError``) a damaged or crafted ``summary.json``, or a
                model path through a link.
        """
        from keras_recipes._paths import read_small, resolve_inside
        from keras_recipes.workflows.run_folder import RunFolderError

        out = Path(out)
        try:
            summary = json.loads(read_small(out / SUMMARY_FILE))
        except ValueError as exc:
            raise RunFolderError(f"{str(out / SUMMARY_FILE)!r} cannot be read as a run's "
                                 f"summary ({exc}).") from None
        summary = RunSummary.from_json(summary, out / SUMMARY_FILE)
        stages = []
        for key, record in sorted(summary.stages.items()):
            model = None
            path = record.model_file
            if load_models and path:
                try:
                    target = resolve_inside(out, path)
                except ValueError as exc:
                    raise RunFolderError(str(exc)) from None
                if target.is_file():
                    import keras_recipes  # registers every class, also inside the command

                    model = keras_recipes.load_model(target, safe_mode=True)
            stages.append(StageResult(key, record, model, resumed=True))
        return cls(out, summary, stages)

    def __repr__(self) -> str:
        parts = [f"out={str(self.out)!r}", f"status={self.status!r}"]
        for s in self.stages:
            gate = s.gate
            if gate.get("value") is not None:
                parts.append(f"stage{s.stage}={s.status}({gate.get('metric')}="
                             f"{gate['value']:.4f})")
        if self.test_accuracy is not None:
            parts.append(f"test_accuracy={self.test_accuracy:.4f}")
        return "SteamrollerReport(" + ", ".join(parts) + ")"


#: What a gate measures: ``model.evaluate`` on the stage's split once training is over.
GATE_MODE = "inference mode, after training"
#: What the doctor's curve rules read: Keras's per-epoch logs.
DOCTOR_MODE = ("The doctor reads the learning curves: a training metric there is the mean "
               "over the epoch's batches in training mode (dropout on, BatchNorm batch "
               f"statistics, weights still moving); the check above is measured in "
               f"{GATE_MODE}, so the two can differ.")


def _format_gate(gate: dict[str, Any]) -> str:
    value, bound = gate.get("value"), gate.get("bound")
    text = (f"{gate.get('metric', '?')} = {value:.4f} ({GATE_MODE})" if value is not None
            else "not measured")
    if bound is not None:
        text += f" (bound {'≥' if gate.get('higher_is_better', True) else '≤'} {bound:g})"
    if "minibatch" in gate:
        text += f"; one minibatch overfitted: {'yes' if gate['minibatch'] else 'no'}"
    return text


def _minibatch_lines(check: dict[str, Any] | None) -> list[str]:
    """The "overfit one minibatch" check, in one line (none when the stage has none)."""
    if not isinstance(check, dict):
        return []
    verdict = "reached" if check.get("passed") else "**not reached**"
    return [f"Overfit one minibatch ({check.get('examples')} training examples, training-mode "
            f"loss of that batch, learning rate {_num(check.get('learning_rate'))}): "
            f"{_num(check.get('first_loss'))} → {_num(check.get('last_loss'))} in "
            f"{check.get('steps_run')} of {check.get('steps_max')} steps; near zero "
            f"(≤ {_num(check.get('max_loss'))}) {verdict}"]


def _staircase_lines(staircase: dict[str, Any] | None) -> list[str]:
    """The plateaus found by stage 3's staircase schedule (none for other schedules)."""
    if not isinstance(staircase, dict):
        return []
    rows = staircase.get("reductions")
    rows = [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []
    found = ", ".join(f"epoch {r.get('epoch')} (step {r.get('step')}) → "
                      f"{_num(r.get('learning_rate'))}" for r in rows)
    return [f"Staircase (×{staircase.get('factor')} at each plateau of val_loss, patience "
            f"{staircase.get('patience')}): "
            + (found or "no plateau, the rate stayed constant")]


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) else "nan"


def _preprocessing_lines(pre: dict[str, Any] | None) -> list[str]:
    if not pre:  # a run from before the preprocessing record
        return []
    lines = [f"Inputs: {pre.get('standardize_note', '')}"]
    if pre.get("batchnorm_momentum"):
        lines.append(f"BatchNorm momentum lowered to {pre['batchnorm_momentum']:.3g}, so that "
                     "the moving statistics read by validation span about one epoch")
    batches = pre.get("batchnorm_recalibrated_batches", 0)
    if batches:
        lines.append(f"BatchNorm: moving statistics recalibrated exactly on the training "
                     f"inputs ({batches} batch(es), precise BN) before the check and the save")
    return lines


def render_markdown(out: Path, summary: RunSummary) -> Path:
    """Write ``out/report.md`` from ``summary`` (figures already lie in the stage folders)."""
    report = Report(out, title="Steamroller report")
    config = summary.config
    plan = summary.plan or {}
    verdict = {"passed": "every stage passed", "failed":
               f"stopped: the gate of stage {summary.failed_stage} failed",
               "running": "in progress (a rerun with the same folder resumes it)"}.get(
                   summary.status, summary.status)
    report.text(f"Data set **{config.get('dataset')}**, model **{config.get('model')}**, "
                f"seed {config.get('seed')}: {verdict}.")
    if plan.get("notes"):
        report.bullets(plan["notes"])
    if summary.test_accuracy is not None:
        sizes = plan.get("sizes", {})
        last = sizes[max(sizes, key=int)] if sizes else {}
        report.text(f"Final test accuracy: **{summary.test_accuracy:.4f}** "
                    f"on {last.get('test', '?')} test examples.")
    records = sorted(summary.stages.items())
    rows = []
    for key, r in records:
        rows.append({"stage": f"{key} {r.name}", "status": r.status,
                     "check": _format_gate(r.gate),
                     "train/val/test": "/".join(str(r.sizes.get(k, "?"))
                                                for k in ("train", "val", "test")),
                     "classes": len(r.classes), "lr": r.lr.get("used"),
                     "epochs": r.epochs_run, "seconds": r.seconds})
    report.heading("Stages")
    report.table(rows)
    if summary.next_steps:
        report.heading("What to try next")
        report.bullets(summary.next_steps)
    for key, r in records:
        report.heading(f"Stage {key}: {r.name}")
        report.text(f"Goal: {r.goal}.")
        report.bullets([
            f"Classes: {r.class_names or r.classes}",
            f"Model: {r.model_desc}",
            *_preprocessing_lines(r.preprocessing),
            f"Regularisation: {r.regularisation}",
            f"Learning rate: {r.lr}",
            f"Early stopping: {r.stopping}",
            *_minibatch_lines(r.minibatch),
            *_staircase_lines(r.lr.get("staircase")),
            f"Check: {_format_gate(r.gate)} → **{r.status}**",
        ])
        log = r.repair_log()
        if log is not None:
            from keras_recipes.workflows.repair import repair_table

            report.text(f"Repair ({len(log)} training(s) of this stage; each attempt's check "
                        f"is measured as above, the finding is the one the next remedy "
                        f"answers):")
            report.text(repair_table(log, r.gate.get("metric", "gate")))
        if r.growth:
            report.text("Network size, small → big (each trained a few probe epochs; the "
                        "next size is tried while the validation loss falls by 2 % or more):")
            report.table(r.growth)
        figures = r.files.get("figures", {})
        for fig_name, caption in (("lr_finder", "Learning-rate range test"),
                                  ("learning_curves", "Learning curves"),
                                  ("activations", "Activation statistics"),
                                  ("confusion_matrix", "Confusion matrix (test set)"),
                                  ("worst_examples", "Worst test examples")):
            if fig_name in figures:
                report.image(figures[fig_name], caption)
        if r.most_confused:
            report.text("Most confused pairs (test set):")
            report.table(r.most_confused)
        findings = r.findings
        report.text(("Doctor's findings:" if findings else "Doctor's findings: none.")
                    + " " + DOCTOR_MODE)
        if findings:
            report.table(findings, columns=["severity", "code", "message", "advice"])
        files = {k: v for k, v in r.files.items() if k != "figures"}
        report.text("Files: " + ", ".join(f"`{v}`" for v in files.values()))
    return report.write(REPORT_FILE)
