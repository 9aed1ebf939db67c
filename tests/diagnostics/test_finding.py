"""Finding and print_report."""

from __future__ import annotations

import io

import pytest

from keras_recipes.diagnostics import Finding, print_report
from keras_recipes.diagnostics.finding import sort_findings


def test_finding_text_and_flags():
    f = Finding("warning", "overfitting", "val loss rises", {"best_epoch": 3, "v": 0.123456},
                "stop early")
    assert f.is_warning
    assert str(f) == ("[WARNING] overfitting: val loss rises\n"
                      "    evidence: best_epoch=3, v=0.1235\n    advice: stop early")
    assert not Finding("info", "x", "y").is_warning


def test_bad_severity():
    with pytest.raises(ValueError, match="Argument `severity` must be one of"):
        Finding("fatal", "x", "y")


def test_report_orders_by_severity():
    findings = [Finding("info", "a", "m"), Finding("error", "b", "m"),
                Finding("warning", "c", "m")]
    assert [f.code for f in sort_findings(findings)] == ["b", "c", "a"]
    out = io.StringIO()
    print_report(findings, file=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "Training doctor: 1 error(s), 1 warning(s), 1 note(s)."
    assert [line.split()[0] for line in lines[1:]] == ["[ERROR]", "[WARNING]", "[INFO]"]


def test_empty_report():
    out = io.StringIO()
    print_report([], file=out)
    assert "Nothing looks wrong." in out.getvalue()
