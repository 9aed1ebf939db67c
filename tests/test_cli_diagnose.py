"""`keras-recipes diagnose`: trains with the logger and prints the doctor's report."""

from __future__ import annotations

import os

import pytest

from keras_recipes.cli import main

pytestmark = pytest.mark.integration


def test_diagnose_prints_the_report(capsys, tmp_path):
    code = main(["diagnose", "--dataset", "digits", "--model", "mlp", "--epochs", "2",
                 "--log-dir", str(tmp_path / "logs")])
    out = capsys.readouterr().out
    assert code == 0
    assert "digits mlp:" in out and "1078 train / 360 val" in out
    assert "Training doctor:" in out
    assert "underfitting" in out  # 2 epochs: loss still high and falling
    assert os.path.isfile(tmp_path / "logs" / "diagnostics.csv")


def test_diagnose_bad_arguments(capsys, tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("x")
    assert main(["diagnose", "--log-dir", str(path)]) == 2
    assert "--log-dir must be a folder" in capsys.readouterr().err
    assert main(["diagnose", "--lr", "-1"]) == 2
    assert main(["diagnose", "--epochs", "0"]) == 2
    assert main(["diagnose", "--dataset", "regression"]) == 2
    assert "regression set" in capsys.readouterr().err
