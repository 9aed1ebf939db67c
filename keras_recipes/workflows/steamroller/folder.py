"""The steamroller's run folder: what a run may write there, and what an earlier run left.

:data:`OUTPUTS` lists every path a run may write (a user's file at one of them is refused by
:class:`~keras_recipes.workflows.RunFolder`), :func:`read_summary` reads an earlier run's
``summary.json`` as a :class:`~keras_recipes.workflows.steamroller.summary.RunSummary`
(whose ``from_json`` checks every field the run uses: types, and stage file paths that stay
in their stage folder) and checks that it is the same run, and
:func:`print_finished` tells the user that a finished run has nothing left to do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

from keras_recipes._paths import read_small, shown
from keras_recipes._validation import ArgumentError, literal_text
from keras_recipes.workflows.steamroller.config import IDENTITY_KEYS
from keras_recipes.workflows.steamroller.report import (
    REPORT_FILE,
    SUMMARY_FILE,
    SteamrollerReport,
)
from keras_recipes.workflows.steamroller.summary import (
    SUMMARY_VERSION,
    RunSummary,
    SummaryError,
    check_summary,
)

__all__ = ["OUTPUTS", "STAGE_FILES", "SUMMARY_VERSION", "Bystander", "adopt", "check_summary",
           "outputs", "print_finished", "read_summary"]
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


def read_summary(out: Path, identity: dict[str, Any], resume: bool) -> RunSummary | None:
    """An earlier run's ``summary.json`` (checked by :meth:`RunSummary.from_json`) when
    ``resume`` and the folder holds one; raises when it is damaged or holds other settings."""
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
        raise SummaryError(f"{str(path)!r} is damaged ({state}); ",
                           "delete it or pass {resume=False} to start afresh.") from None
    summary = RunSummary.from_json(summary, path)
    before = {k: summary.config.get(k) for k in IDENTITY_KEYS}
    if before != identity:
        diff = {k: (before[k], identity[k]) for k in IDENTITY_KEYS
                if before[k] != identity[k]}
        raise ArgumentError(None, template=literal_text(
            f"The folder {str(out)!r} holds a steamroller run with other settings (earlier, "
            f"now: {shown(diff, 400)}). ") + "Use another {out}, or {resume=False} to start "
            "afresh.")
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
    say(f"The run in {out} is finished ({report.status}); nothing to do (resume=False runs "
        "it again from the start).")
    for key, rec in sorted(report.summary.stages.items()):
        gate = rec.gate
        value = gate.get("value")
        bound = f" (bound {gate['bound']:g})" if gate.get("bound") is not None else ""
        value = f"{value:.4f}" if isinstance(value, int | float) else "n/a"
        say(f"   stage {key} {rec.name}: {gate.get('metric')} = {value}{bound}: {rec.status}")
    if report.passed and report.test_accuracy is not None:
        say(f"Steamroller passed: test accuracy {report.test_accuracy:.4f}. "
            f"Report: {out / REPORT_FILE}")
    else:
        for step in report.next_steps:
            say(f"  - {step}")
        say(f"Report: {out / REPORT_FILE}")
