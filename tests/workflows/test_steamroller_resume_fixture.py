"""Run folders written by an earlier version of the steamroller still resume.

``fixtures/steamroller_v1`` holds two folders made by the code whose summary was a plain
dict (see its README): a finished run and a run interrupted after stage 1. Each test copies
one to a temporary folder and resumes it with the current code.
"""

import json
import shutil
from pathlib import Path

import pytest

from keras_recipes.workflows import steamroller
from keras_recipes.workflows.steamroller import runner
from tests.workflows.fixtures.steamroller_v1.make_fixtures import SETTINGS, tiny_mlp

FIXTURES = Path(__file__).parent / "fixtures" / "steamroller_v1"


def _copy(name: str, tmp_path: Path) -> Path:
    out = tmp_path / name
    shutil.copytree(FIXTURES / name, out)
    return out


def _fixture_summary(name: str) -> dict:
    return json.loads((FIXTURES / name / "summary.json").read_text())


@pytest.mark.backend  # loads .keras files written on TensorFlow
def test_a_finished_folder_is_recognised_and_not_trained_again(tmp_path, monkeypatch):
    out = _copy("finished", tmp_path)

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run trained a stage again")

    monkeypatch.setattr(runner, "run_stage", no_training)
    report = steamroller("digits", tiny_mlp, out=out, **SETTINGS)
    before = _fixture_summary("finished")
    assert report.status == "passed" and report.passed
    assert [(s.stage, s.status, s.resumed) for s in report.stages] == [
        (1, "passed", True), (2, "passed", True), (3, "done", True)]
    assert report.test_accuracy == before["test_accuracy"]
    assert sorted(report.models) == [1, 2, 3]
    assert report.models[3].output_shape == (None, 10)
    # nothing was rewritten: the summary on disk is the one the earlier version wrote
    assert json.loads((out / "summary.json").read_text()) == before


@pytest.mark.integration
def test_a_folder_interrupted_after_stage_1_resumes_at_stage_2(tmp_path, monkeypatch):
    out = _copy("after_stage1", tmp_path)
    trained = []
    real = runner.run_stage

    def counting(stage, config, data, *args, **kwargs):
        trained.append(data.stage)
        return real(stage, config, data, *args, **kwargs)

    monkeypatch.setattr(runner, "run_stage", counting)
    before = _fixture_summary("after_stage1")
    settings = {**SETTINGS, "stage2_epochs": 2, "stage2_min_val_accuracy": 0.5,
                "stage3_epochs": 1}
    report = steamroller("digits", tiny_mlp, out=out, **settings)
    assert trained == [2, 3]
    assert [(s.stage, s.resumed) for s in report.stages] == [(1, True), (2, False), (3, False)]
    assert report.status in ("passed", "failed")
    after = json.loads((out / "summary.json").read_text())
    # stage 1's record is the earlier version's, field for field
    assert after["stages"]["1"] == before["stages"]["1"]
    assert sorted(after["stages"]) == ["1", "2", "3"]
    assert after["config"] == before["config"]
    assert (out / "stage2" / "model.keras").is_file()
    assert (out / "report.md").read_text().startswith("# Steamroller report")
