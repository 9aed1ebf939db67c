"""`StageRecord` and `RunSummary`: the steamroller's ``stage.json`` and ``summary.json``, typed.

The run builds a :class:`StageRecord` per stage (:func:`~keras_recipes.workflows.steamroller.
runner.run_stage`) and one :class:`RunSummary` per run; the workflow, the report and the run
folder read their attributes. :meth:`to_json` gives the JSON object written to disk, and
:meth:`from_json` reads one back as untrusted input: every field the run reads is type-checked
and every stage file must be a plain relative path inside its own stage folder
(:func:`check_summary`), since a run folder may come from someone else. Keys this version does
not know are kept (``extra``) and written back unchanged, so a folder written by an earlier or
later version keeps its records.

Both classes also read like the JSON object they write (a read-only mapping:
``record["gate"]``, ``summary.get("status")``), for code written when they were plain dicts.
"""

from __future__ import annotations

import abc
import copy
import dataclasses
import os
from collections.abc import Iterator, Mapping
from typing import Any

from keras_recipes._paths import check_relative, shown
from keras_recipes._validation import ArgumentError, literal_text
from keras_recipes.workflows.run_folder import RunFolderError

#: ``"version"`` of the ``summary.json`` this code writes.
SUMMARY_VERSION = 1
#: Stage statuses: gate passed, gate failed, or no gate (the metric is reported).
STAGE_STATUSES = ("passed", "failed", "done")
#: Run statuses.
RUN_STATUSES = ("running", "passed", "failed")


class SummaryError(RunFolderError, ArgumentError):
    """A ``summary.json`` that cannot be used: damaged, crafted, or of another run. Its
    message names the arguments that help (``out``, ``resume``) as fields, so the command
    line names its flags (see :class:`~keras_recipes._validation.ArgumentError`)."""

    def __init__(self, text: str, remedy: str):
        """``text`` (literal) then ``remedy``, a message template."""
        super().__init__(None, template=literal_text(text) + remedy)


#: What to do about a summary that cannot be used.
DELETE_OR_RESTART = "Delete it, or pass {resume=False} to start afresh."


def _number(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _kind(value: Any, kind: str) -> bool:
    """Whether ``value`` is of the JSON ``kind``: a number, string or ``kind?`` may be
    ``null`` (a value not measured); an object or a list may not (the run reads into it)."""
    if value is None:
        return kind in ("str", "number", "int", "bool") or kind.endswith("?")
    kind = kind.rstrip("?")
    return {"dict": isinstance(value, dict), "list": isinstance(value, list),
            "str": isinstance(value, str), "number": _number(value),
            "int": isinstance(value, int) and not isinstance(value, bool),
            "bool": isinstance(value, bool)}[kind]


#: Fields of a summary that the run reads, and their JSON kind.
_SUMMARY_FIELDS = {"config": "dict", "settings": "dict", "stage_names": "list",
                   "status": "str", "plan": "dict", "next_steps": "list", "stages": "dict",
                   "test_accuracy": "number", "test_loss": "number", "failed_stage": "int",
                   "wall_seconds": "number", "updated": "str", "version": "int",
                   "workflow": "str", "distribute": "dict?"}
#: Fields of a stage's record that the run and the report read, and their JSON kind.
_STAGE_FIELDS = {"name": "str", "status": "str", "goal": "str", "gate": "dict",
                 "files": "dict", "lr": "dict", "sizes": "dict", "classes": "list",
                 "class_names": "list", "findings": "list?", "growth": "list?",
                 "most_confused": "list?", "preprocessing": "dict?", "regularisation": "dict",
                 "epochs_run": "int", "seconds": "number", "model_desc": "str",
                 "minibatch": "dict?", "stage": "int", "epochs_max": "int", "stopping": "str",
                 "stop_reason": "str", "train": "dict?", "val": "dict?", "test": "dict?",
                 "timings": "dict?", "per_class": "list?", "attempts": "list?",
                 "repair": "dict?"}
_GATE_FIELDS = {"metric": "str", "value": "number", "bound": "number",
                "higher_is_better": "bool", "minibatch": "bool", "reason": "str"}


def check_summary(summary: Any, path: str | os.PathLike) -> dict[str, Any]:
    """``summary`` (read from ``path``) when every field the run reads has its type and
    every stage file lies in its own stage folder; otherwise a
    :class:`~keras_recipes.workflows.run_folder.RunFolderError`.

    A summary comes back from disk, maybe from someone else: a stage's ``files`` must be
    plain relative paths under ``stage<n>/`` (the model a ``.keras`` file), so loading a
    model or drawing the report never reaches outside the run folder.

    Example:

    >>> from keras_recipes.workflows.steamroller.summary import check_summary
    >>> check_summary({"stages": {"1": {"files": {"model": "stage1/model.keras"}}}}, "s.json")
    {'stages': {'1': {'files': {'model': 'stage1/model.keras'}}}}
    >>> check_summary({"stages": {"1": {"files": {"model": "/tmp/m.keras"}}}}, "s.json")
    Traceback (most recent call last):
    ...
    keras_recipes.workflows.steamroller.summary.SummaryError: 's.json' is damaged or was not ...
    """
    def bad(where: str, expected: str, value: Any) -> RunFolderError:
        return SummaryError(
            f"{str(path)!r} is damaged or was not written by keras-recipes: {where} must be "
            f"{expected}. Received: {shown(value)}. ", DELETE_OR_RESTART)

    if not isinstance(summary, dict):
        raise bad("the whole file", "an object", summary)
    for key, kind in _SUMMARY_FIELDS.items():
        if key in summary and not _kind(summary[key], kind):
            raise bad(key, f"of type {kind}", summary[key])
    for key in ("stage_names", "next_steps"):
        if not all(isinstance(v, str) for v in summary.get(key) or []):
            raise bad(key, "a list of strings", summary.get(key))
    for number, record in summary.get("stages", {}).items():
        if not (isinstance(number, str) and number.isdigit() and 0 < int(number) < 1000
                and number == str(int(number))):
            raise bad("a key of stages", "a stage number", number)
        where = f"stages.{number}"
        if not isinstance(record, dict):
            raise bad(where, "an object", record)
        for key, kind in _STAGE_FIELDS.items():
            if key in record and not _kind(record[key], kind):
                raise bad(f"{where}.{key}", f"of type {kind}", record[key])
        gate = record.get("gate", {})
        for key, kind in _GATE_FIELDS.items():
            if key in gate and not _kind(gate[key], kind):
                raise bad(f"{where}.gate.{key}", f"of type {kind}", gate[key])
        for key in ("findings", "growth", "most_confused", "per_class", "attempts"):
            if not all(isinstance(row, dict) for row in record.get(key) or []):
                raise bad(f"{where}.{key}", "a list of objects", record.get(key))
        for i, row in enumerate(record.get("attempts") or []):
            from keras_recipes.workflows.repair import RepairAttempt

            try:
                RepairAttempt.from_json(row)
            except ValueError as exc:
                raise bad(f"{where}.attempts[{i}]", f"a repair attempt ({exc})", row) from None
        repair = record.get("repair")
        if repair is not None and not (isinstance(repair.get("settings"), dict)
                                       and isinstance(repair.get("stop_reason"), str)):
            raise bad(f"{where}.repair", "an object with the 'settings' (an object) and the "
                      "'stop_reason' (a string) of the repair", repair)
        for key, value in record.get("files", {}).items():
            inner = value.items() if isinstance(value, dict) else [(None, value)]
            for sub, rel in inner:
                name = f"{where}.files.{key}" + (f".{sub}" if sub is not None else "")
                try:
                    check_relative(rel, name)
                except ValueError:
                    raise bad(name, "a relative path inside the run folder", rel) from None
                if not rel.startswith(f"stage{int(number)}/"):
                    raise bad(name, f"a path inside stage{int(number)}/", rel)
                if key == "model" and not rel.endswith(".keras"):
                    raise bad(name, "a .keras file", rel)
    return summary


class _JsonMapping(Mapping):
    """Read access to :meth:`to_json`'s object, key by key."""

    @abc.abstractmethod
    def to_json(self) -> dict[str, Any]:
        """The JSON object this record is read from and written as."""

    def __getitem__(self, key: str) -> Any:
        return self.to_json()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_json())

    def __len__(self) -> int:
        return len(self.to_json())


def _known(cls) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if f.name != "extra")


#: Fields written even when ``None`` (a value that was not measured).
_STAGE_ALWAYS = ("growth",)
#: Fields written first, in this order (the order of the records written before the class).
_STAGE_ORDER = ("stage", "name", "goal", "classes", "class_names", "sizes", "model_desc",
                "growth", "preprocessing", "regularisation", "lr", "stopping", "stop_reason",
                "epochs_run", "epochs_max", "train", "val", "test", "gate", "status",
                "minibatch", "findings", "most_confused", "per_class", "files", "timings",
                "seconds", "attempts", "repair")


@dataclasses.dataclass(eq=True)
class StageRecord(_JsonMapping):
    """What one steamroller stage did: the stage's ``stage.json`` and its entry of
    ``summary.json``.

    Attributes:
        stage: the stage's number (1, 2, 3 for the default stages).
        name: the stage's name (``"overfit"``...).
        goal: what the stage proves.
        status: ``"passed"``, ``"failed"`` or ``"done"`` (no gate).
        gate: ``{"metric", "value", "bound", "higher_is_better"}``, plus ``"minibatch"``
            (whether one minibatch was overfitted) and ``"reason"`` (why it failed).
        classes, class_names: the original labels the stage trained on, and their names.
        sizes: ``{"train": n, "val": n, "test": n}``.
        model_desc: one line naming the network.
        growth: one row per network size tried in stage 3, or ``None``.
        preprocessing: the standardisation and BatchNorm notes, or ``None``.
        regularisation: ``{"dropout", "weight_decay", "augmentation"}``.
        lr: the range test's suggestion, rule, the rate used and the optimizer.
        stopping, stop_reason: the stopper, and what it said when it stopped.
        epochs_run, epochs_max: epochs trained, and the stage's most.
        train, val, test: ``{"loss", "accuracy"}`` on each split (``test`` only when the
            stage measured it), or ``None``.
        minibatch: the "overfit one minibatch" check, or ``None``.
        findings: the doctor's findings, as dicts.
        most_confused, per_class: the error analysis's tables, or ``None``.
        files: paths of the stage's files, relative to the run folder.
        timings, seconds: seconds spent per part of the stage, and in all.
        attempts: every training of this stage under ``repair=True``, one
            :class:`~keras_recipes.workflows.repair.RepairAttempt` object each (attempt 0 as
            configured, then one per remedy); empty without repair. Read back, each is
            type-checked (:meth:`~keras_recipes.workflows.repair.RepairAttempt.from_json`).
        repair: ``{"settings", "stop_reason"}``: the
            :class:`~keras_recipes.workflows.repair.TrainingSettings` the repair ended with
            (the next stage starts from them) and why it stopped; ``None`` without repair.
        extra: keys of the JSON object this version does not know, kept as read.

    Example:

    >>> from keras_recipes.workflows.steamroller.summary import StageRecord
    >>> record = StageRecord.from_json({"stage": 2, "name": "generalise", "status": "passed",
    ...                                 "gate": {"metric": "val_accuracy", "value": 0.95}})
    >>> record.passed, record["gate"]["value"], record.to_json()["name"]
    (True, 0.95, 'generalise')
    """

    stage: int
    name: str = ""
    goal: str = ""
    status: str = ""
    gate: dict[str, Any] = dataclasses.field(default_factory=dict)
    classes: list[int] = dataclasses.field(default_factory=list)
    class_names: list[str] = dataclasses.field(default_factory=list)
    sizes: dict[str, int] = dataclasses.field(default_factory=dict)
    model_desc: str = ""
    growth: list[dict[str, Any]] | None = None
    preprocessing: dict[str, Any] | None = None
    regularisation: dict[str, Any] = dataclasses.field(default_factory=dict)
    lr: dict[str, Any] = dataclasses.field(default_factory=dict)
    stopping: str = ""
    stop_reason: str = ""
    epochs_run: int = 0
    epochs_max: int = 0
    train: dict[str, Any] | None = None
    val: dict[str, Any] | None = None
    test: dict[str, Any] | None = None
    minibatch: dict[str, Any] | None = None
    findings: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    most_confused: list[dict[str, Any]] | None = None
    per_class: list[dict[str, Any]] | None = None
    files: dict[str, Any] = dataclasses.field(default_factory=dict)
    timings: dict[str, float] | None = None
    seconds: float | None = None
    attempts: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    repair: dict[str, Any] | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Whether the stage met its goal (a stage without a bound does once it finished)."""
        return self.status in ("passed", "done")

    @property
    def model_file(self) -> str | None:
        """The model's path relative to the run folder, or ``None``."""
        model = self.files.get("model")
        return model if isinstance(model, str) and model else None

    def repair_log(self) -> Any:
        """The attempts as a :class:`~keras_recipes.workflows.repair.RepairLog` (checked:
        the record may come from a run folder), or ``None`` without repair.

        Example:

        >>> from keras_recipes.workflows.steamroller.summary import StageRecord
        >>> record = StageRecord(1, attempts=[{"attempt": 0, "remedy": None, "change": "",
        ...     "gate_value": 0.5, "passed": False, "finding_code": "exploding_loss"}],
        ...     repair={"settings": {}, "stop_reason": "the gate failed"})
        >>> [a.finding_code for a in record.repair_log()]
        ['exploding_loss']
        """
        if not self.attempts:
            return None
        from keras_recipes.workflows.repair import RepairLog

        repair = self.repair or {}
        return RepairLog.from_json({"attempts": self.attempts,
                                    "settings": repair.get("settings", {}),
                                    "stop_reason": repair.get("stop_reason", "")})

    def to_json(self) -> dict[str, Any]:
        """The JSON object of ``stage.json`` (a deep copy): ``None`` values and an empty
        ``attempts`` are left out, except ``growth``; unknown keys come back as read."""
        values = {name: getattr(self, name) for name in _STAGE_ORDER}
        values = {k: v for k, v in values.items()
                  if k in _STAGE_ALWAYS or (v is not None and not (k == "attempts" and not v))}
        return copy.deepcopy({**values, **self.extra})

    @classmethod
    def from_json(cls, data: Any, number: int | None = None,
                  path: str | os.PathLike = "stage.json") -> StageRecord:
        """Read a record back (untrusted): fields are type-checked, files must lie inside
        ``stage<number>/``.

        Args:
            data: the JSON object.
            number: the stage's number. Defaults to ``None`` (``data["stage"]``, else 1).
            path: where it was read, for messages. Defaults to ``"stage.json"``.

        Raises:
            RunFolderError: (a ``ValueError``) a field of the wrong type or a stage file
                outside its stage folder.
        """
        if number is None:
            stage = data.get("stage") if isinstance(data, dict) else None
            number = stage if isinstance(stage, int) and not isinstance(stage, bool) \
                and 0 < stage < 1000 else 1
        check_summary({"stages": {str(number): data}}, path)
        return cls._build(data, number)

    @classmethod
    def _build(cls, data: dict[str, Any], number: int) -> StageRecord:
        data = copy.deepcopy(data)
        known = {k: data.pop(k) for k in _known(cls) if k in data}
        known.setdefault("stage", number)
        for key in ("gate", "sizes", "regularisation", "lr", "files"):
            if known.get(key) is None:
                known.pop(key, None)
        for key in ("classes", "class_names", "findings", "attempts"):
            if known.get(key) is None:
                known.pop(key, None)
        return cls(**known, extra=data)


@dataclasses.dataclass(eq=True)
class RunSummary(_JsonMapping):
    """A steamroller run's ``summary.json``: who made it, its settings, and one
    :class:`StageRecord` per stage.

    Attributes:
        config: the settings that define the run (data set, model, classes, seed): a rerun
            in the same folder must repeat them.
        stages: ``{number: StageRecord}``.
        status: ``"running"``, ``"passed"`` or ``"failed"``.
        settings: the other settings, recorded to tell whether a rerun is the same run.
        stage_names: the names of the stages of the run, or ``None`` (a run of the three
            default stages, written before names were recorded).
        plan: sizes and classes of each stage, and the notes on the data set.
        failed_stage: the stage whose gate failed, or ``None``.
        next_steps: what to try next after a failed gate.
        distribute: ``{"setup", "replicas"}`` of a distributed run, or ``None``.
        test_accuracy, test_loss: the last stage's test scores (when it measured them).
        wall_seconds: the run's duration. updated: when the file was last written.
        version, workflow: the format's version and ``"steamroller"``.
        extra: keys this version does not know, kept as read.

    Example:

    >>> from keras_recipes.workflows.steamroller.summary import RunSummary
    >>> summary = RunSummary.from_json({"status": "passed", "test_accuracy": 0.97,
    ...     "stages": {"1": {"name": "overfit", "status": "passed"}}})
    >>> summary.stages[1].name, summary.passed, summary["test_accuracy"]
    ('overfit', True, 0.97)
    """

    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    stages: dict[int, StageRecord] = dataclasses.field(default_factory=dict)
    status: str = "running"
    settings: dict[str, Any] | None = None
    stage_names: list[str] | None = None
    plan: dict[str, Any] | None = None
    failed_stage: int | None = None
    next_steps: list[str] = dataclasses.field(default_factory=list)
    distribute: dict[str, Any] | None = None
    test_accuracy: float | None = None
    test_loss: float | None = None
    wall_seconds: float | None = None
    updated: str | None = None
    version: int = SUMMARY_VERSION
    workflow: str = "steamroller"
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """``True`` when every stage finished and every gate passed."""
        return self.status == "passed"

    def to_json(self) -> dict[str, Any]:
        """The JSON object of ``summary.json`` (a deep copy); ``None`` values are left out,
        except ``failed_stage`` once the run has a status."""
        head = {"version": self.version, "workflow": self.workflow, "config": self.config,
                "stages": {str(n): r.to_json() for n, r in sorted(self.stages.items())}}
        rest = {name: getattr(self, name) for name in _known(type(self))
                if name not in head}
        rest = {k: v for k, v in rest.items() if v is not None or k == "failed_stage"}
        return {**copy.deepcopy(head), **copy.deepcopy(rest), **copy.deepcopy(self.extra)}

    @classmethod
    def from_json(cls, data: Any, path: str | os.PathLike = "summary.json") -> RunSummary:
        """Read a summary back (untrusted, see :func:`check_summary`).

        Raises:
            RunFolderError: (a ``ValueError``) a field of the wrong type, a stage key that
                is not a stage number, or a stage file outside its stage folder.
        """
        check_summary(data, path)
        data = copy.deepcopy(data)
        known = {k: data.pop(k) for k in _known(cls) if k in data}
        known["stages"] = {int(n): StageRecord._build(r, int(n))
                           for n, r in (known.get("stages") or {}).items()}
        for key in ("config", "next_steps", "version", "workflow", "status"):
            if known.get(key) is None:
                known.pop(key, None)
        return cls(**known, extra=data)
