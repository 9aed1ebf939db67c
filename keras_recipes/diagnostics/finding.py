"""`Finding`, one diagnosis of the training doctor, and `print_report`."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, TextIO

#: Severities from most to least serious.
SEVERITIES = ("error", "warning", "info")


@dataclasses.dataclass(frozen=True)
class Finding:
    """One diagnosis: what is wrong, the numbers that show it, and what to try.

    Use the list returned by :func:`keras_recipes.diagnostics.diagnose`; filter it on
    ``severity`` or ``code``.

    Attributes:
        severity: ``"error"`` (the run is broken), ``"warning"`` (the run is hurt) or
            ``"info"`` (worth knowing).
        code: a stable short identifier, e.g. ``"overfitting"``.
        message: one sentence for a person.
        evidence: the numbers the rule looked at.
        advice: what to try next.

    Example:

    >>> from keras_recipes.diagnostics import Finding
    >>> f = Finding("warning", "overfitting", "val loss rises", {"best_epoch": 3}, "stop early")
    >>> f.is_warning
    True
    """

    severity: str
    code: str
    message: str
    evidence: dict[str, Any] = dataclasses.field(default_factory=dict)
    advice: str = ""

    def __post_init__(self):
        if self.severity not in SEVERITIES:
            raise ValueError(f"Argument `severity` must be one of {SEVERITIES}. "
                             f"Received: severity={self.severity!r}")

    @property
    def is_warning(self) -> bool:
        """True for ``"warning"`` and ``"error"`` findings."""
        return self.severity in ("error", "warning")

    def __str__(self) -> str:
        evidence = ", ".join(f"{k}={_fmt(v)}" for k, v in self.evidence.items())
        lines = [f"[{self.severity.upper()}] {self.code}: {self.message}"]
        if evidence:
            lines.append(f"    evidence: {evidence}")
        if self.advice:
            lines.append(f"    advice: {self.advice}")
        return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Errors first, then warnings, then infos; stable within a severity."""
    return sorted(findings, key=lambda f: SEVERITIES.index(f.severity))


def print_report(findings: Iterable[Finding], file: TextIO | None = None) -> None:
    """Print the findings, most serious first, or a one-line all-clear.

    Args:
        findings: the list returned by :func:`~keras_recipes.diagnostics.diagnose`.
        file: where to print. Defaults to ``None``: standard output through Keras's
            logging switch, as ``model.summary()`` prints (after
            ``keras.utils.disable_interactive_logging()`` the report goes to
            ``absl.logging``).

    Example:

    >>> from keras_recipes.diagnostics import Finding, print_report
    >>> print_report([Finding("info", "still_improving", "val loss still falls")])
    Training doctor: 0 error(s), 0 warning(s), 1 note(s).
    [INFO] still_improving: val loss still falls
    """
    if file is None:
        from keras_recipes._print import print_msg  # imports Keras: only when printing

        write = print_msg  # stdout, or absl logging after disable_interactive_logging()
    else:
        def write(line: str) -> None:
            print(line, file=file)

    findings = sort_findings(findings)
    counts = {s: sum(f.severity == s for f in findings) for s in SEVERITIES}
    write(f"Training doctor: {counts['error']} error(s), {counts['warning']} warning(s), "
          f"{counts['info']} note(s).")
    if not findings:
        write("Nothing looks wrong.")
    for f in findings:
        write(str(f))
