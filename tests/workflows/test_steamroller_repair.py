"""steamroller(repair=True): planted faults repaired stage by stage, the two-repair limit,
a healthy run left alone, and the attempt log read back from a run folder.

Expected remedies come from docs/repair.md's catalogue (written by hand there): a huge
forced rate that the watchdog stops as an exploding loss is lowered by a new range test,
within [r/1000, r/10]; a user's sigmoid stack (not rewritable) has its architecture
remedies listed as skipped and gets rate remedies only.
"""

from __future__ import annotations

import json

import keras
import pytest

from keras_recipes.workflows import STEAMROLLER_STAGES, SteamrollerInputError, steamroller
from keras_recipes.workflows.repair import REMEDIES, TrainingSettings
from keras_recipes.workflows.run_folder import RunFolderError
from keras_recipes.workflows.steamroller.summary import RunSummary

pytestmark = [pytest.mark.integration, pytest.mark.backend]

STAGE1 = dict(stages=STEAMROLLER_STAGES[:1], lr_finder_steps=30, stage1_epochs=40,
              minibatch_steps=50, verbose=0)


@pytest.fixture(scope="module")
def huge_rate(tmp_path_factory):
    out = tmp_path_factory.mktemp("huge_rate")
    report = steamroller("digits", "mlp", out=out, stage_classes=10, stage1_per_class=5,
                         repair=True, training=TrainingSettings(learning_rate=10.0), **STAGE1)
    return out, report


def test_huge_forced_rate_is_lowered_and_the_gate_passes(huge_rate):
    out, report = huge_rate
    log = report.stage(1).record.repair_log()
    assert [a.remedy for a in log] == [None, "lower_rate"]
    assert not log.attempts[0].passed and log.attempts[1].passed and report.passed
    new = report.stage(1).record.lr["used"]
    assert 10.0 / 1000 <= new <= 10.0 / 10
    assert log.settings.learning_rate == pytest.approx(new)
    text = (out / "report.md").read_text()
    assert "| 1 | lower_rate | learning_rate: 10 →" in text
    stage_json = json.loads((out / "stage1" / "stage.json").read_text())
    assert [a["remedy"] for a in stage_json["attempts"]] == [None, "lower_rate"]


def test_resume_reads_the_attempts_back(huge_rate):
    out, first = huge_rate
    again = steamroller("digits", "mlp", out=out, stage_classes=10, stage1_per_class=5,
                        repair=True, training=TrainingSettings(learning_rate=10.0), **STAGE1)
    assert again.stage(1).resumed
    assert again.stage(1).record.repair_log() == first.stage(1).record.repair_log()


def test_a_crafted_attempt_refuses_the_folder(huge_rate, tmp_path):
    out, _ = huge_rate
    summary = json.loads((out / "summary.json").read_text())
    summary["stages"]["1"]["attempts"][0]["passed"] = "yes"
    with pytest.raises(RunFolderError, match=r"stages\.1\.attempts\[0\] must be a repair "
                                             r"attempt .*bad 'passed'"):
        RunSummary.from_json(summary, tmp_path / "summary.json")
    summary["stages"]["1"]["attempts"][0]["passed"] = False
    summary["stages"]["1"]["repair"] = {"settings": [], "stop_reason": "x"}
    with pytest.raises(RunFolderError, match=r"stages\.1\.repair must be an object"):
        RunSummary.from_json(summary, tmp_path / "summary.json")


@pytest.mark.slow  # heavy: `make test-all`
def test_healthy_stage_needs_no_repair_and_keeps_its_gate(tmp_path):
    # Stage 1 at its default settings: a healthy run on both backends.
    healthy = dict(stages=STEAMROLLER_STAGES[:1], verbose=0)
    plain = steamroller("digits", "mlp", out=tmp_path / "a", **healthy)
    watched = steamroller("digits", "mlp", out=tmp_path / "b", repair=True, **healthy)
    assert plain.passed and watched.passed
    log = watched.stage(1).record.repair_log()
    assert [a.remedy for a in log] == [None] and log.passed
    assert plain.stage(1).gate["value"] == watched.stage(1).gate["value"]
    assert plain.stage(1).record.lr["used"] == watched.stage(1).record.lr["used"]
    assert plain.stage(1).record.epochs_run == watched.stage(1).record.epochs_run
    assert not plain.stage(1).record.attempts
    assert "repair" not in json.loads((tmp_path / "a" / "summary.json").read_text())[
        "settings"]


def _sigmoid_stack(input_shape, num_classes):
    """A user's network: eight sigmoid layers, Glorot, no BatchNorm (vanishing gradients)."""
    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(inputs)
    for _ in range(8):
        x = keras.layers.Dense(32, activation="sigmoid")(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))


@pytest.mark.slow
def test_user_sigmoid_stack_gets_only_rate_remedies_twice_at_most(tmp_path):
    report = steamroller("digits", _sigmoid_stack, out=tmp_path, stage_classes=10,
                         stage1_per_class=3, standardize=False, **STAGE1)
    assert not report.passed  # the fault is real
    report = steamroller("digits", _sigmoid_stack, out=tmp_path / "r", stage_classes=10,
                         stage1_per_class=3, standardize=False, repair=True, **STAGE1)
    log = report.stage(1).record.repair_log()
    assert len(log) == 3 and not log.passed  # attempt 0 and the two repairs allowed
    assert "used up" in log.stop_reason
    skipped = {s for a in log for s in a.skipped_remedies}
    assert {"relu_activation", "he_init", "batch_norm"} <= skipped
    applied = [a.remedy for a in log.attempts[1:]]
    assert applied and all(not REMEDIES[name].changes_architecture for name in applied)
    text = (tmp_path / "r" / "report.md").read_text()
    assert "Not applied, since the network is the user's own" in text


def test_bad_training_settings_are_refused_before_any_work(tmp_path):
    with pytest.raises(SteamrollerInputError, match="Argument `training`"):
        steamroller("digits", out=tmp_path, training=TrainingSettings(standardize=False))
    with pytest.raises(SteamrollerInputError, match="Argument `training`"):
        steamroller("digits", out=tmp_path, training="relu")
    assert not any(tmp_path.iterdir())
