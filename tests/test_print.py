"""print_msg: verbose output follows Keras's interactive-logging switch, as Keras's own does."""

from __future__ import annotations

import io
import logging

import keras
import pytest

from keras_recipes._print import print_msg
from keras_recipes.diagnostics import Finding, print_report


@pytest.fixture
def logging_off():
    keras.utils.disable_interactive_logging()
    try:
        yield
    finally:
        keras.utils.enable_interactive_logging()


def test_stdout_while_interactive(capsys):
    print_msg("one line")
    print_msg("no break", line_break=False)
    assert capsys.readouterr().out == "one line\nno break"


def test_absl_logging_when_interactive_logging_is_off(logging_off, capsys, caplog):
    with caplog.at_level(logging.INFO):
        print_msg("to the log")
    assert capsys.readouterr().out == ""
    assert [r.getMessage() for r in caplog.records] == ["to the log"]
    assert caplog.records[0].levelno == logging.INFO


def test_print_report_follows_the_switch_unless_given_a_file(logging_off, capsys, caplog):
    findings = [Finding("warning", "overfitting", "val loss rises")]
    with caplog.at_level(logging.INFO):
        print_report(findings)
    assert capsys.readouterr().out == ""
    assert [r.getMessage() for r in caplog.records] == [
        "Training doctor: 0 error(s), 1 warning(s), 0 note(s).",
        "[WARNING] overfitting: val loss rises",
    ]
    out = io.StringIO()
    print_report(findings, file=out)  # an explicit file is written to, switch or not
    assert out.getvalue().splitlines()[0] == "Training doctor: 0 error(s), 1 warning(s), 0 note(s)."
