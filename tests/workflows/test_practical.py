"""practical(): seed 004's seven steps end to end, its gates, its outputs and bad input."""

from __future__ import annotations

import io
import json
import math

import keras
import numpy as np
import pytest

from keras_recipes.data import Dataset
from keras_recipes.workflows import PracticalConfig, PracticalReport, practical
from tests.helpers import small_net

pytestmark = pytest.mark.integration


def loud_net(input_shape, num_classes):
    # Logits of std ~ 10·sqrt(64·E[x²]): an overconfident start, loss far above ln C.
    return keras.Sequential([
        keras.Input(input_shape),
        keras.layers.Flatten(),
        keras.layers.Dense(num_classes, activation="softmax",
                           kernel_initializer=keras.initializers.RandomNormal(stddev=10.0)),
    ])


@pytest.fixture
def small_digits(digits):
    keep = np.arange(500)
    return Dataset(x=digits.x[keep], y=digits.y[keep], class_names=digits.class_names,
                   input_shape=digits.input_shape, name="digits500")


TINY = dict(sample_per_class=1, overfit_epochs=80, lr_candidates=(3e-2,), lr_steps=10,
            lr_factors=(1.0,), weight_decays=(0.0, 1e-4), grid_epochs=1, top_k=1,
            train_epochs=2, max_loops=1)


def test_seven_steps_write_the_report(small_digits, tmp_path):
    out = tmp_path / "run"
    stream = io.StringIO()
    report = practical(small_digits, small_net, out=out, stream=stream, **TINY)
    assert isinstance(report, PracticalReport)
    assert [s.number for s in report.steps] == [1, 2, 3, 4, 5, 6, 7]
    assert report.passed, str(report)
    step1, step2, step3, step4 = report.steps[:4]
    # Step 1: a fresh softmax net starts near ln 10 (hand value 2.302585).
    assert step1.details["expected"] == pytest.approx(2.302585, abs=1e-6)
    assert abs(step1.details["initial_loss"] - math.log(10)) < 0.5 * math.log(10)
    # Step 2: one example per class, fitted to 100 %.
    assert step2.details["examples"] == 10 and step2.details["accuracy"] == 1.0
    # Step 3: the chosen rate made the loss fall by at least 10 %.
    row = next(r for r in step3.details["candidates"]
               if r["learning_rate"] == step3.details["learning_rate"])
    assert row["loss_after"] < 0.9 * row["loss_before"]
    # Step 4: the grid is lr × (1.0,) × two weight decays, via KerasTuner.
    assert step4.details["trials"] == 2
    assert report.best["weight_decay"] in (0.0, 1e-4)
    assert 0.0 <= report.test_accuracy <= 1.0
    for name in ("report.md", "summary.json", "grid.csv", "lr_finder.csv", "model.keras",
                 "config1/history.csv", "config1/diagnostics.csv",
                 "figures/lr_finder.png", "figures/learning_curves_1.png"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["passed"] and len(summary["steps"]) == 7
    assert summary["config"]["weight_decays"] == [0.0, 1e-4]
    text = (out / "report.md").read_text()
    assert "![lr finder](figures/lr_finder.png)" in text and "Test accuracy" in text
    assert "== step 7/7 loop" in stream.getvalue()
    # Step 6 (seed 004): the training loss every loss_every iterations, with its debiased
    # EMA, in config<i>/iterations.csv.
    rows = (out / "config1" / "iterations.csv").read_text().splitlines()
    assert rows[0] == "iteration,epoch,loss,smoothed" and len(rows) > 1
    first = rows[1].split(",")
    assert int(first[0]) == 10 and float(first[2]) == pytest.approx(float(first[3]))
    reloaded = keras.saving.load_model(out / "model.keras")
    assert reloaded.output_shape == (None, 10)


def test_a_failed_initial_loss_stops_before_training(small_digits, tmp_path):
    stream = io.StringIO()
    report = practical(small_digits, loud_net, out=tmp_path, stream=stream, **TINY)
    assert [s.number for s in report.steps] == [1]
    assert report.failed_step.number == 1 and not report.passed
    assert report.steps[0].details["initial_loss"] > 1.5 * math.log(10)
    assert report.best is None and report.test_accuracy is None
    assert not (tmp_path / "model.keras").exists() and not (tmp_path / "grid.csv").exists()
    assert "What to try next" in (tmp_path / "report.md").read_text()
    assert "stopped at step 1" in stream.getvalue()


def test_a_config_replaces_the_other_arguments(small_digits, tmp_path):
    config = PracticalConfig(small_digits, loud_net, out=tmp_path / "run", verbose=0, **TINY)
    stream = io.StringIO()
    report = practical("imagenet", "resnet", out=tmp_path / "other", top_k=0, stream=stream,
                       config=config)
    assert [s.number for s in report.steps] == [1] and report.out == tmp_path / "run"
    assert not (tmp_path / "other").exists() and stream.getvalue() == ""
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["config"]["top_k"] == 1 and summary["config"]["verbose"] == 0


def test_a_sample_that_is_not_overfitted_stops_at_step_2(small_digits, tmp_path):
    stream = io.StringIO()
    report = practical(small_digits, small_net, out=tmp_path, stream=stream,
                       **{**TINY, "overfit_epochs": 1, "overfit_lr": 1e-6})
    assert [s.number for s in report.steps] == [1, 2]
    assert report.failed_step.number == 2
    assert report.steps[1].details["accuracy"] < 1.0
    assert not (tmp_path / "grid.csv").exists()
    assert "learning rate too low" in stream.getvalue()


@pytest.mark.parametrize("kwargs, match", [
    ({"dataset": "imagenet"}, "Unknown dataset"),
    ({"model": "resnet"}, r"Argument `model` must be one of"),
    ({"lr_candidates": ()}, r"Argument `lr_candidates` must not be empty"),
    ({"top_k": 0}, r"Argument `top_k` must be >= 1"),
    ({"optimizer": "lion"}, r"Argument `optimizer` must be one of"),
])
def test_bad_input_fails_before_any_work(tmp_path, kwargs, match):
    out = tmp_path / "never"
    with pytest.raises(ValueError, match=match):
        practical(**{"dataset": "digits", "model": "mlp", "out": out, "verbose": 0, **kwargs})
    assert not out.exists()


def test_out_file_and_csv_without_target(tmp_path):
    file = tmp_path / "file.txt"
    file.write_text("x")
    with pytest.raises(ValueError, match="Argument `out` must be a folder"):
        practical("digits", out=file, verbose=0)
    csv = tmp_path / "data.csv"
    csv.write_text("a,b,label\n1,2,0\n3,4,1\n")
    with pytest.raises(ValueError, match="target"):
        practical(str(csv), out=tmp_path / "o", target="klass", verbose=0)
    with pytest.raises(ValueError, match="regression"):
        practical("regression", out=tmp_path / "o", verbose=0)


def test_cli_bad_input_exits_2(tmp_path, capsys):
    from keras_recipes.cli import main

    file = tmp_path / "file.txt"
    file.write_text("x")
    csv = tmp_path / "data.csv"
    csv.write_text("a,b,label\n1,2,0\n3,4,1\n")
    assert main(["practical", "--dataset", "imagenet"]) == 2
    assert main(["practical", "--out", str(file)]) == 2
    assert main(["practical", "--dataset", str(csv), "--out", str(tmp_path / "o")]) == 2
    assert main(["practical", "--model", "resnet"]) == 2
    err = capsys.readouterr().err
    assert err.count("keras-recipes: error:") == 4
    assert "is a file" in err and "target" in err and "imagenet" in err
    assert not (tmp_path / "o").exists()
