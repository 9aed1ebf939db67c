"""steamroller: gates, outputs, resumability and bad input, on tiny configurations.

The full digits run (accuracy target) is the slow test at the end and the benchmark
``benchmarks/steamroller.py``.
"""

import io
import json
import shutil

import keras
import numpy as np
import pytest

from keras_recipes.data import load_dataset, split
from keras_recipes.workflows import SteamrollerInputError, SteamrollerReport, steamroller
from keras_recipes.workflows.steamroller import runner as _stage_runner

pytestmark = pytest.mark.integration

TINY = {"stage1_per_class": 10, "stage1_epochs": 60, "stage1_min_train_accuracy": 0.6,
        "stage2_epochs": 2, "stage2_min_val_accuracy": 0.01, "stage3_epochs": 1,
        "lr_finder_steps": 10, "verbose": 0}


@pytest.fixture(scope="module")
def resumed_run(tmp_path_factory):
    """A tiny run interrupted in stage 2, then resumed; returns (out, first, second)."""
    out = tmp_path_factory.mktemp("steamroller") / "run"
    keras.utils.set_random_seed(0)
    original = _stage_runner._plots

    def interrupt_in_stage_2(history, logger, stage_dir, rel_dir, files):
        if rel_dir == "stage2":
            raise KeyboardInterrupt
        return original(history, logger, stage_dir, rel_dir, files)

    _stage_runner._plots = interrupt_in_stage_2
    try:
        with pytest.raises(KeyboardInterrupt):
            steamroller("digits", "mlp", out=out, **TINY)
    finally:
        _stage_runner._plots = original
    first = json.loads((out / "summary.json").read_text())
    listing = sorted(p.name for p in out.iterdir())
    report = steamroller("digits", "mlp", out=out, **TINY)
    return out, first, listing, report


def test_interrupted_run_leaves_a_consistent_folder(resumed_run):
    out, first, listing, _ = resumed_run
    assert first["status"] == "running"
    assert list(first["stages"]) == ["1"] and first["stages"]["1"]["status"] == "passed"
    # stage 2 never reached its folder: only the half-done ".partial" one exists
    # (and the lock is gone: released on KeyboardInterrupt)
    assert listing == [".stage2.partial", "manifest.json", "report.md", "stage1",
                       "summary.json"]


def test_rerun_resumes_and_finishes(resumed_run):
    out, _, _, report = resumed_run
    assert isinstance(report, SteamrollerReport)
    assert report.passed and report.status == "passed" and report.failed_stage is None
    assert [(s.stage, s.resumed) for s in report.stages] == [(1, True), (2, False), (3, False)]
    assert not (out / ".stage2.partial").exists()
    assert sorted(report.models) == [1, 2, 3]
    assert report.models[1].output_shape == (None, 2)
    assert report.models[3].output_shape == (None, 10)


def test_run_folder_contents(resumed_run):
    out, _, _, report = resumed_run
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["dataset"] == "digits" and summary["config"]["stage_classes"] == [0, 1]
    for n in ("1", "2", "3"):
        record = summary["stages"][n]
        for key in ("model", "history", "diagnostics", "lr_finder"):
            assert (out / record["files"][key]).is_file(), (n, key)
        for name in ("lr_finder", "learning_curves", "activations"):
            png = out / record["files"]["figures"][name]
            assert png.read_bytes()[:4] == b"\x89PNG"
        assert record["lr"]["used"] > 0
    assert summary["stages"]["1"]["sizes"]["train"] == 20
    assert summary["stages"]["1"]["gate"]["value"] >= 0.6
    figures3 = summary["stages"]["3"]["files"]["figures"]
    assert {"confusion_matrix", "worst_examples"} <= set(figures3)
    # report.md embeds every figure, and every link points to an existing file
    text = (out / "report.md").read_text()
    links = [part.split(")")[0] for part in text.split("](")[1:]]
    assert len(links) == 3 * 3 + 2
    assert all((out / link).is_file() for link in links)


def test_test_accuracy_matches_an_independent_evaluation(resumed_run):
    out, _, _, report = resumed_run
    ds = load_dataset("digits")
    _, _, (x_test, y_test) = split(ds.x, ds.y, seed=0)
    model = keras.saving.load_model(out / "stage3" / "model.keras")
    predicted = np.argmax(model.predict(x_test, verbose=0), axis=1)
    assert report.test_accuracy == pytest.approx(float(np.mean(predicted == y_test)), abs=1e-6)


def test_third_run_skips_every_stage(resumed_run):
    out, _, _, report = resumed_run
    again = steamroller("digits", "mlp", out=out, **TINY)
    assert [s.resumed for s in again.stages] == [True, True, True]
    assert again.test_accuracy == report.test_accuracy
    loaded = SteamrollerReport.load(out)
    assert loaded.passed and [s.stage for s in loaded.stages] == [1, 2, 3]


def test_a_finished_run_from_before_stage_names_is_still_finished(resumed_run, tmp_path):
    out, _, _, report = resumed_run
    old = tmp_path / "old"
    shutil.copytree(out, old)
    summary = json.loads((old / "summary.json").read_text())
    del summary["stage_names"]  # as runs wrote it before the stages were data
    (old / "summary.json").write_text(json.dumps(summary))
    stream = io.StringIO()
    again = steamroller("digits", "mlp", out=old, stream=stream, **{**TINY, "verbose": 1})
    assert "is finished (passed); nothing to do" in stream.getvalue()
    assert again.test_accuracy == report.test_accuracy


def test_stage3_follows_the_notes_bigger_net_stronger_augmentation(resumed_run):
    out, _, _, report = resumed_run
    stages = report.summary["stages"]
    # Seed 000, stage 3: "augmentation de donnée maximale" (twice stage 2's by default)...
    assert stages["3"]["regularisation"]["augmentation"] == pytest.approx(
        2 * stages["2"]["regularisation"]["augmentation"])
    # ... and "petit réseau → gros réseau": growth starts at the stage-2 size.
    growth = stages["3"]["growth"]
    assert growth[0]["model"] == stages["2"]["model_desc"]
    assert [g["params"] for g in growth] == sorted(g["params"] for g in growth)
    chosen = [g["model"] for g in growth].index(stages["3"]["model_desc"])
    losses = [g["val_loss"] for g in growth]
    for i in range(1, chosen + 1):  # every size kept lowered the loss by 2 % or more
        assert losses[i] <= losses[i - 1] * 0.98
    if chosen + 1 < len(growth):  # the first size that did not was the last one tried
        assert len(growth) == chosen + 2 and losses[chosen + 1] > losses[chosen] * 0.98
    assert "Network size, small → big" in (out / "report.md").read_text()


@pytest.mark.slow
def test_grow_false_trains_the_big_preset(tmp_path):
    report = steamroller("digits", "mlp", out=tmp_path / "run", grow=False,
                         stage3_augment=0.0, **TINY)
    record = report.summary["stages"]["3"]
    assert record["growth"] is None
    assert "hidden=(256, 256)" in record["model_desc"]
    assert record["regularisation"]["augmentation"] == 0.0


def constant_model(input_shape, num_classes):
    """Its hidden unit is frozen at 0, so it predicts one class for every input."""
    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros", trainable=False)(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))


def test_failed_gate_stops_with_the_doctor_and_next_steps(tmp_path):
    stream = io.StringIO()
    settings = dict(TINY, stage1_epochs=3, verbose=1)
    report = steamroller("digits", constant_model, out=tmp_path / "run", stream=stream,
                         **settings)
    assert report.status == "failed" and report.failed_stage == 1 and not report.passed
    # 10 + 10 examples, one class always predicted: accuracy exactly 1/2
    assert report.stage(1).gate["value"] == pytest.approx(0.5)
    assert [s.stage for s in report.stages] == [1]
    assert not (tmp_path / "run" / "stage2").exists()
    printed = stream.getvalue()
    assert "Stage 1 (overfit) failed its gate" in printed
    assert "Training doctor:" in printed and "What to try next:" in printed
    assert report.next_steps and report.next_steps[0].startswith("Check the labels")
    assert "## What to try next" in (tmp_path / "run" / "report.md").read_text()


@pytest.fixture
def csv_file(tmp_path):
    path = tmp_path / "data.csv"
    rows = ["a,b,label"] + [f"{i},{i % 3},{i % 2}" for i in range(40)]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("kwargs, match", [
    ({"dataset": "nope"}, "Unknown dataset 'nope'"),
    ({"model": "resnet"}, "Unknown model 'resnet'"),
    ({"model": 3}, "Argument `model` must be 'mlp', 'cnn' or a callable"),
    ({"stage_classes": 11}, r"`stage_classes` must be <= the number of classes \(10\)"),
    ({"stage1_per_class": 0}, r"`stage1_per_class` must be >= 1"),
    ({"stage1_per_class": 500}, r"`stage1_per_class` must be <= "),
    ({"dataset": "regression"}, "needs a classification data set"),
    ({"schedule": "linear"}, "Argument `schedule` must be one of"),
    ({"stage2_min_val_accuracy": 1.5}, "Argument `stage2_min_val_accuracy` must be"),
    ({"lr_finder_steps": 5}, r"Argument `lr_finder_steps` must be >= 10"),
    ({"model": lambda shape, k: keras.Sequential([keras.Input(shape), keras.layers.Flatten(),
                                                  keras.layers.Dense(3)])},
     "must build a network with 2 outputs"),
])
def test_bad_input_is_rejected_before_any_work(tmp_path, kwargs, match):
    out = tmp_path / "run"
    with pytest.raises(SteamrollerInputError, match=match):
        steamroller(**{"out": out, "verbose": 0, **kwargs})
    assert not out.exists()


def test_out_that_is_a_file(tmp_path):
    a_file = tmp_path / "taken"
    a_file.write_text("x")
    with pytest.raises(SteamrollerInputError, match="`out` must be a folder"):
        steamroller(out=a_file, verbose=0)
    assert a_file.read_text() == "x"


def test_csv_without_the_target_column(tmp_path, csv_file):
    with pytest.raises(SteamrollerInputError, match="Column 'y' is not in"):
        steamroller(str(csv_file), out=tmp_path / "run", target="y", verbose=0)
    with pytest.raises(SteamrollerInputError, match="must name the target column"):
        steamroller(str(csv_file), out=tmp_path / "run", verbose=0)
    assert not (tmp_path / "run").exists()


def test_folder_of_another_run_is_refused(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    other = {"workflow": "steamroller", "stages": {},
             "config": {"dataset": "digits", "target": None, "model": "cnn",
                        "stage_classes": [0, 1], "stage1_per_class": 10, "seed": 0}}
    (out / "summary.json").write_text(json.dumps(other))
    with pytest.raises(SteamrollerInputError, match="holds a steamroller run with other"):
        steamroller(out=out, verbose=0)
    assert sorted(p.name for p in out.iterdir()) == ["summary.json"]
