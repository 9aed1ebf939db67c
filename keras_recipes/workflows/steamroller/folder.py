"""The steamroller's run folder: what a run may write there, and what an earlier run left.

:data:`OUTPUTS` lists every path a run may write (a user's file at one of them is refused by
:class:`~keras_recipes.workflows.RunFolder`), :func:`read_summary` reads an earlier run's
``summary.json``, checks every field the run uses (:func:`check_summary`: types, and stage
file paths that stay in their stage folder) and that it is the same run, and
:func:`print_finished` tells the user that a finished run has nothing left to do.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, TextIO

from keras_recipes._paths import check_relative, read_small, shown
from keras_recipes.workflows.run_folder import RunFolderError
from keras_recipes.workflows.steamroller.config import IDENTITY_KEYS
from keras_recipes.workflows.steamroller.report import (
    REPORT_FILE,
    SUMMARY_FILE,
    SteamrollerReport,
)

SUMMARY_VERSION = 1
#: Files a stage writes into its folder ``stage<n>/``.
STAGE_FILES = ("lr_finder.csv", "lr_finder.png", "history.csv", "diagnostics.csv",
               "summary.json", "learning_curves.png", "activations.png", "confusion_matrix.png",
               "errors.csv", "worst_examples.png", "first_batch.png", "step_updates.csv",
               "model.keras", "stage.json")


def outputs(count: int = 3) -> tuple[str, ...]:
    """Every path a run of ``count`` stages may write in its folder (relative)."""
    numbers = range(1, count + 1)
    return (SUMMARY_FILE, REPORT_FILE,
            *(f"stage{n}/{name}" for n in numbers for name in STAGE_FILES),
            *(f".stage{n}.partial" for n in numbers))


#: Every path a run of the three stages may write in its folder: a user's file there is
#: refused.
OUTPUTS = outputs(3)


def adopt(out: Path, summary: dict[str, Any]) -> list[str]:
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
                   "wall_seconds": "number", "updated": "str"}
#: Fields of a stage's record that the run and the report read, and their JSON kind.
_STAGE_FIELDS = {"name": "str", "status": "str", "goal": "str", "gate": "dict",
                 "files": "dict", "lr": "dict", "sizes": "dict", "classes": "list",
                 "class_names": "list", "findings": "list?", "growth": "list?",
                 "most_confused": "list?", "preprocessing": "dict?", "regularisation": "dict",
                 "epochs_run": "int", "seconds": "number", "model_desc": "str",
                 "minibatch": "dict?"}
_GATE_FIELDS = {"metric": "str", "value": "number", "bound": "number",
                "higher_is_better": "bool", "minibatch": "bool", "reason": "str"}


def check_summary(summary: Any, path: str | os.PathLike) -> dict[str, Any]:
    """``summary`` (read from ``path``) when every field the run reads has its type and
    every stage file lies in its own stage folder; otherwise a :class:`RunFolderError`.

    A summary comes back from disk, maybe from someone else: a stage's ``files`` must be
    plain relative paths under ``stage<n>/`` (the model a ``.keras`` file), so loading a
    model or drawing the report never reaches outside the run folder.

    Example:

    >>> from keras_recipes.workflows.steamroller.folder import check_summary
    >>> check_summary({"stages": {"1": {"files": {"model": "stage1/model.keras"}}}}, "s.json")
    {'stages': {'1': {'files': {'model': 'stage1/model.keras'}}}}
    >>> check_summary({"stages": {"1": {"files": {"model": "/tmp/m.keras"}}}}, "s.json")
    Traceback (most recent call last):
    ...
    keras_recipes.workflows.run_folder.RunFolderError: 's.json' is damaged or was not ...
    """
    def bad(where: str, expected: str, value: Any) -> RunFolderError:
        return RunFolderError(
            f"{str(path)!r} is damaged or was not written by keras-recipes: {where} must be "
            f"{expected}. Received: {shown(value)}. Delete it, or pass resume=False to start "
            "afresh.")

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
        for key in ("findings", "growth", "most_confused"):
            if not all(isinstance(row, dict) for row in record.get(key) or []):
                raise bad(f"{where}.{key}", "a list of objects", record.get(key))
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


def read_summary(out: Path, identity: dict[str, Any], resume: bool) -> dict[str, Any] | None:
    """An earlier run's ``summary.json`` (checked by :func:`check_summary`) when ``resume``
    and the folder holds one; raises when it is damaged or holds other settings."""
    path = out / SUMMARY_FILE
    if not (resume and path.is_file()):
        return None
    try:
        summary = json.loads(read_small(path))
    except (OSError, ValueError) as exc:
        if isinstance(exc, json.JSONDecodeError):
            state = "empty" if not exc.doc.strip() else f"truncated or corrupt: {exc}"
        else:
            state = getattr(exc, "strerror", None) or str(exc)
        raise RunFolderError(f"{str(path)!r} is damaged ({state}); delete it or pass "
                             "resume=False to start afresh.") from None
    summary = check_summary(summary, path)
    config = summary.get("config", {})
    before = {k: config.get(k) for k in IDENTITY_KEYS}
    if before != identity:
        diff = {k: (before[k], identity[k]) for k in IDENTITY_KEYS
                if before[k] != identity[k]}
        raise ValueError(
            f"The folder {str(out)!r} holds a steamroller run with other settings "
            f"(earlier, now: {shown(diff, 400)}). Use another `out`, or resume=False to "
            "start afresh."
        )
    return summary


class Bystander:
    """The run folder as a worker that is not the chief sees it: it writes nothing."""

    def claim(self, *paths, folder=False) -> None:
        pass

    def clear(self) -> list[str]:
        return []

    def move_in(self, source, dest, *, last=()) -> list[str]:
        return []

    def release(self) -> None:
        pass


def print_finished(report: SteamrollerReport, out: Path, stream: TextIO) -> None:
    say = lambda text: print(text, file=stream, flush=True)  # noqa: E731
    say(f"The run in {out} is finished ({report.status}); nothing to do. Pass resume=False "
        "(--fresh) to run it again.")
    for key in sorted(report.summary.get("stages", {}), key=int):
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
