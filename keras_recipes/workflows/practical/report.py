"""`PracticalReport`: the outcome of :func:`keras_recipes.workflows.practical`, and its
Markdown report."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from keras_recipes.workflows.common import atomic_write_json, findings_as_dicts

ADVICE = {
    1: ["Check the output layer: a softmax over C classes with sparse categorical "
        "cross-entropy starts near ln C.",
        "Check the labels (integers 0..C-1) and the initialisation (He for ReLU); large "
        "initial weights give an overconfident, too-high initial loss."],
    2: ["The loss does not fall: learning rate too low, or a bad initialisation (seed 004).",
        "The loss goes to infinity/NaN: learning rate too high, or a bad initialisation.",
        "Try another model, learning rate or initialisation; no regularisation here."],
    3: ["No classic learning rate made the loss fall within the iterations: check the data "
        "pipeline and the model, or widen `lr_candidates`."],
}


@dataclasses.dataclass
class PracticalStep:
    """The outcome of one of the seven steps.

    Attributes:
        number: 1 to 7.
        name: what the step does.
        passed: whether its check held (steps without a check pass).
        summary: one line for a person.
        details: the numbers behind it (JSON-friendly).
        seconds: wall time of the step (steps 5-7 are timed together, on step 5).

    Example:

    >>> from keras_recipes.workflows import PracticalStep
    >>> PracticalStep(1, "check the initial loss", True, "2.31 vs ln 10 = 2.30").passed
    True
    """

    number: int
    name: str
    passed: bool
    summary: str
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0


@dataclasses.dataclass
class PracticalReport:
    """What :func:`practical` did: its steps, the chosen configuration and the test score.

    Attributes:
        steps: the :class:`PracticalStep` records, in order (fewer than 7 when a check
            failed).
        best: the chosen configuration (``learning_rate``, ``weight_decay``, epochs), or
            ``None`` when the workflow stopped early.
        test_accuracy: test accuracy of the chosen model, or ``None``.
        findings: the doctor's findings on the chosen run (or on the failed step).
        out: the output folder.
        seconds: wall time.
        repair: the :class:`~keras_recipes.workflows.repair.RepairLog` of the checks
            (steps 1-4) under ``repair=True``, or ``None``. Defaults to ``None``.

    Example:

    >>> from pathlib import Path
    >>> from keras_recipes.workflows import PracticalReport, PracticalStep
    >>> step = PracticalStep(1, "check the initial loss", False, "loss 9.1 vs 2.3")
    >>> report = PracticalReport([step], None, None, [], Path("runs"), 1.0)
    >>> report.passed, report.failed_step.number
    (False, 1)
    """

    steps: list[PracticalStep]
    best: dict[str, Any] | None
    test_accuracy: float | None
    findings: list[Any]
    out: Path
    seconds: float
    repair: Any = None

    @property
    def passed(self) -> bool:
        """True when every step ran and passed."""
        return len(self.steps) == 7 and all(s.passed for s in self.steps)

    @property
    def failed_step(self) -> PracticalStep | None:
        """The step whose check failed, or ``None``."""
        return next((s for s in self.steps if not s.passed), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (what ``summary.json`` holds)."""
        return {
            "passed": self.passed,
            "steps": [dataclasses.asdict(s) for s in self.steps],
            "best": self.best,
            "test_accuracy": self.test_accuracy,
            "findings": findings_as_dicts(self.findings),
            "out": str(self.out),
            "seconds": round(self.seconds, 2),
            **({} if self.repair is None else {"repair": self.repair.to_json()}),
        }

    def __str__(self) -> str:
        lines = [f"step {s.number} {s.name}: {'ok' if s.passed else 'FAILED'} - {s.summary}"
                 for s in self.steps]
        if self.test_accuracy is not None:
            lines.append(f"test accuracy {self.test_accuracy:.4f} with {self.best}")
        return "\n".join(lines)


def write_practical_report(
    report: PracticalReport,
    *,
    dataset_name: str,
    sizes: tuple[int, int, int],
    num_classes: int,
    config: dict[str, Any],
    tables: dict[str, Any],
    figures: dict[str, str],
) -> Path:
    """Write ``report.md`` (with the figures already saved) and ``summary.json``.

    Returns:
        The path of ``report.md``.
    """
    from keras_recipes.workflows.report import Report

    page = Report(report.out, title="Practical approach (seed 004)")
    page.text(f"Data set `{dataset_name}`: {sizes[0]} train / {sizes[1]} validation / "
              f"{sizes[2]} test examples, {num_classes} classes. "
              f"Optimizer `{config['optimizer']}`, seed {config['seed']}.")
    page.table([{"step": s.number, "name": s.name, "result": "ok" if s.passed else "FAILED",
                 "summary": s.summary, "seconds": s.seconds} for s in report.steps])
    if "lr_candidates" in tables:
        page.heading("Step 3: learning rates")
        page.table(tables["lr_candidates"])
    if "grid" in tables:
        page.heading("Step 4: grid search")
        cols = [c for c in tables["grid"].columns if c not in ("message", "best_step")]
        page.table(tables["grid"], columns=cols)
    for name, rel in figures.items():
        page.image(rel, name.replace("_", " "))
    if report.findings:
        page.heading("The doctor's reading")
        page.bullets(f"**{f.severity}** `{f.code}`: {f.message} {f.advice}"
                     for f in report.findings)
    if report.repair is not None:
        from keras_recipes.workflows.repair import repair_table

        page.heading("Repair")
        page.text("Each attempt runs the checks (steps 1-4) again from step 1 on a fresh "
                  "network; its value is the number of checks passed, its finding the one "
                  "the next remedy answers.")
        page.text(repair_table(report.repair, "checks passed (of 4)"))
    failed = report.failed_step
    if failed is not None:
        page.heading("What to try next")
        page.bullets(ADVICE.get(failed.number, []))
    if report.test_accuracy is not None:
        page.heading("Result")
        best = report.best or {}
        page.text(f"Test accuracy **{report.test_accuracy:.4f}** with learning rate "
                  f"{best.get('learning_rate', float('nan')):.3g}, weight decay "
                  f"{best.get('weight_decay', float('nan')):g}, "
                  f"{best.get('epochs')} epochs (validation accuracy "
                  f"{best.get('val_accuracy') or float('nan'):.4f}).")
    page.heading("Settings")
    page.table({k: (", ".join(f"{x:g}" for x in v) if isinstance(v, list) else v)
                for k, v in config.items()})
    path = page.write()
    atomic_write_json(report.out / "summary.json", {**report.to_dict(), "config": config})
    return path
