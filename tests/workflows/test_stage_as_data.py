"""The steamroller's stages as data: SteamrollerConfig, Stage, Gate, DataPlan, a 4th stage."""

import dataclasses
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

from keras_recipes.data import load_dataset, split
from keras_recipes.workflows import (
    STEAMROLLER_STAGES,
    DataPlan,
    Gate,
    Stage,
    SteamrollerConfig,
    SteamrollerInputError,
    plan_stages,
    run_steamroller,
    steamroller,
)

TINY = {"stage1_per_class": 10, "stage1_epochs": 60, "stage1_min_train_accuracy": 0.6,
        "stage2_epochs": 2, "stage2_min_val_accuracy": 0.01, "stage3_epochs": 1,
        "lr_finder_steps": 10, "grow": False, "verbose": 1}


# --- SteamrollerConfig ------------------------------------------------------------------------

def test_config_is_frozen_and_normalised(tmp_path):
    config = SteamrollerConfig(out=str(tmp_path / "run"), drop="id", stage_classes=[3, 8])
    assert config.out == tmp_path / "run" and isinstance(config.out, Path)
    assert config.drop == ("id",) and config.stage_classes == (3, 8)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.stage3_epochs = 5
    assert not (tmp_path / "run").exists()  # checking `out` creates nothing


def test_config_records_the_settings_old_run_folders_hold(tmp_path):
    # The "settings" of summary.json, as runs have always written them.
    expected = ["stage1_epochs", "stage2_epochs", "stage3_epochs", "batch_size",
                "stage1_min_train_accuracy", "stage2_min_val_accuracy", "patience",
                "lr_finder_steps", "schedule", "dropout", "weight_decay", "augment",
                "stage3_augment", "grow", "standardize", "resume"]
    recorded = SteamrollerConfig(out=tmp_path / "r").recorded()
    assert list(recorded) == expected
    assert recorded["stage3_epochs"] == 20 and recorded["augment"] == 0.05
    identity = SteamrollerConfig(out=tmp_path / "r", drop=["a", "b"]).identity("digits", [0, 1])
    assert identity == {"dataset": "digits", "target": None, "drop": ["a", "b"],
                        "model": "mlp", "stage_classes": [0, 1], "stage1_per_class": 10,
                        "seed": 0}


def test_stage3_strength_doubles_augment_unless_given(tmp_path):
    assert SteamrollerConfig(out=tmp_path, augment=0.05).stage3_strength == pytest.approx(0.1)
    assert SteamrollerConfig(out=tmp_path, stage3_augment=0.3).stage3_strength == 0.3


@pytest.mark.parametrize("kwargs, match", [
    ({"stage1_epochs": 0}, "stage1_epochs"),
    ({"batch_size": 2.5}, "batch_size"),
    ({"lr_finder_steps": 5}, "lr_finder_steps"),
    ({"stage2_min_val_accuracy": 1.5}, "stage2_min_val_accuracy"),
    ({"dropout": 1.0}, "dropout"),
    ({"weight_decay": -1.0}, "weight_decay"),
    ({"schedule": "linear"}, "schedule"),
    ({"model": "resnet"}, "Unknown model"),
    ({"model": 3}, "model"),
    ({"stage1_per_class": True}, "stage1_per_class"),
    ({"seed": -1}, "seed"),
    ({"distribute": "tpu"}, "distribute"),
])
def test_config_refuses_each_bad_setting(tmp_path, kwargs, match):
    with pytest.raises(SteamrollerInputError, match=match):
        SteamrollerConfig(out=tmp_path / "run", **kwargs)


def test_an_out_that_is_a_file_is_refused_when_the_run_starts(tmp_path):
    (tmp_path / "f").write_text("mine")
    with pytest.raises(SteamrollerInputError, match="out"):
        SteamrollerConfig(out=3)
    config = SteamrollerConfig(out=tmp_path / "f")  # writability depends on the machine
    with pytest.raises(SteamrollerInputError, match="out"):
        run_steamroller(config)
    assert (tmp_path / "f").read_text() == "mine"


def test_a_stage_with_an_unknown_lr_rule_is_refused_before_any_work(tmp_path):
    typo = dataclasses.replace(STEAMROLLER_STAGES[1], lr_rule="valey")
    with pytest.raises(SteamrollerInputError, match="lr_rule"):
        run_steamroller(SteamrollerConfig(out=tmp_path / "run"),
                        stages=(STEAMROLLER_STAGES[0], typo))
    assert not (tmp_path / "run").exists()


# --- Stage, Gate, DataPlan --------------------------------------------------------------------

def test_default_stages_are_seed_000s_three():
    assert [s.name for s in STEAMROLLER_STAGES] == ["overfit", "generalise", "train"]
    overfit, generalise, train = STEAMROLLER_STAGES
    assert overfit.data == DataPlan("chosen", sample=True) and overfit.validation == "train"
    assert generalise.data == DataPlan("chosen") and train.data == DataPlan("all")
    assert [s.gate.metric for s in STEAMROLLER_STAGES] == ["train_accuracy", "val_accuracy",
                                                          "test_accuracy"]
    config = SteamrollerConfig(out="unused-folder")
    assert [s.epochs for s in STEAMROLLER_STAGES] == [100, 20, 20]
    assert overfit.gate.bound == 0.99 and generalise.gate.bound == 0.9
    assert train.gate.bound is None and train.error_analysis and train.network == "grown"
    assert [s.dropout for s in STEAMROLLER_STAGES] == [0.0, 0.1, 0.1]
    assert [s.augment for s in STEAMROLLER_STAGES] == [0.0, 0.05, pytest.approx(0.1)]
    # the config's defaults are the stages' own
    assert config.stages() == STEAMROLLER_STAGES
    # Stage 3 keeps the last epoch of its schedule (only a divergence puts an earlier back).
    from keras_recipes.callbacks import EarlyStopping, NaNGuard

    stoppers = [type(s.make_stopper(config)[0]) for s in STEAMROLLER_STAGES]
    assert stoppers == [EarlyStopping, EarlyStopping, NaNGuard]


def test_gate_check_in_both_directions():
    accuracy, loss = Gate("val_accuracy"), Gate("val_loss", higher_is_better=False)
    assert accuracy.check(0.9, 0.9) and not accuracy.check(0.89, 0.9)
    assert loss.check(0.5, 0.5) and not loss.check(0.51, 0.5)
    assert not accuracy.check(None, 0.5) and not accuracy.check(float("nan"), 0.5)
    assert accuracy.check(None, None)  # no bound: reported, not checked


@pytest.mark.parametrize("change, match", [
    ({"validation": "test"}, "validation"),
    ({"network": "huge"}, "network"),
    ({"epochs": 0}, "epochs"),
    ({"epochs": 2.5}, "epochs"),
    ({"dropout": 1.0}, "dropout"),
    ({"augment": -0.1}, "augment"),
    ({"gate": "val_accuracy"}, "Gate"),
])
def test_stage_refuses_bad_fields(change, match):
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(STEAMROLLER_STAGES[1], **change)
    with pytest.raises(ValueError, match="metric"):
        Gate("val_f1")
    with pytest.raises(ValueError, match="classes"):
        DataPlan("some")


def test_a_data_plan_of_all_classes_sampled_cuts_a_few_of_each():
    ds = load_dataset("digits")
    few_of_all = Stage(name="few", goal="a few of every class", data=DataPlan("all", sample=True),
                       epochs=lambda c: 1, optimizer=STEAMROLLER_STAGES[0].optimizer,
                       stopper=STEAMROLLER_STAGES[0].stopper, gate=Gate("train_accuracy"))
    plan = plan_stages(ds.x, ds.y, stage1_per_class=3, stages=(*STEAMROLLER_STAGES, few_of_all))
    assert [d.stage for d in plan] == [1, 2, 3, 4] and plan[3].name == "few"
    assert np.bincount(plan[3].train[1]).tolist() == [3] * 10
    (x_tr, _), val, test = split(ds.x, ds.y, seed=0)
    # every example drawn comes from the training split; val/test are the whole splits
    rows = {row.tobytes() for row in x_tr}
    assert all(row.tobytes() in rows for row in plan[3].train[0])
    assert len(plan[3].val[0]) == len(val[0]) and len(plan[3].test[0]) == len(test[0])


def test_runner_and_loop_have_no_stage_number_branches():
    from keras_recipes.workflows.steamroller import runner, workflow

    for module in (runner, workflow):
        source = Path(module.__file__).read_text()
        found = re.findall(r"\b(?:number|stage|n)\s*(?:==|!=|>=|<=|<|>)\s*\d", source)
        assert not found, (module.__name__, found)


# --- a fourth stage: one more Stage in the sequence -------------------------------------------

POLISH = Stage(
    name="polish",
    goal="a few more epochs of every class at a tenth of the rate",
    data=DataPlan("all"),
    epochs=lambda c: 1,
    optimizer=lambda lr, steps, c: (__import__("keras").optimizers.SGD(lr / 10),
                                    "SGD at a tenth of the suggestion"),
    stopper=STEAMROLLER_STAGES[2].stopper,
    gate=Gate("val_loss", bound=lambda c: 50.0, higher_is_better=False),
    next_steps=("Lower the rate of the polish stage.",),
)


@pytest.mark.slow  # heavy: `make test-all`
@pytest.mark.integration
def test_a_fourth_stage_is_one_more_stage_in_the_sequence(tmp_path):
    out = tmp_path / "run"
    stream = io.StringIO()
    report = steamroller("digits", "mlp", out=out, stream=stream,
                         stages=(*STEAMROLLER_STAGES, POLISH), **TINY)
    assert report.passed and [s.stage for s in report.stages] == [1, 2, 3, 4]
    record = report.summary["stages"]["4"]
    assert record["name"] == "polish" and record["status"] == "passed"
    assert record["gate"]["metric"] == "val_loss" and record["gate"]["value"] <= 50.0
    assert record["lr"]["optimizer"] == "SGD at a tenth of the suggestion"
    assert (out / "stage4" / "model.keras").is_file()
    assert "stage4/model.keras" in json.loads((out / "manifest.json").read_text())["files"]
    assert "== stage 4/4 polish" in stream.getvalue()
    assert "Stage 4: polish" in (out / "report.md").read_text()
    assert "(bound ≤ 50)" in (out / "report.md").read_text()
    # The summary's final test accuracy comes from the last stage that measured one (3),
    # while stage 4 measured none.
    assert "test" not in record
    # A rerun with the same stages finds the run finished; with the default three it
    # resumes the three recorded stages and trains nothing.
    again = steamroller("digits", "mlp", out=out, stream=io.StringIO(),
                        stages=(*STEAMROLLER_STAGES, POLISH), **TINY)
    assert all(s.resumed for s in again.stages) and len(again.stages) == 4
    three = steamroller("digits", "mlp", out=out, stream=io.StringIO(), **TINY)
    assert [s.resumed for s in three.stages] == [True, True, True] and three.passed


@pytest.mark.slow  # heavy: `make test-all`
@pytest.mark.integration
def test_a_failed_custom_gate_stops_with_its_advice(tmp_path):
    strict = dataclasses.replace(POLISH, gate=Gate("val_loss", bound=lambda c: 1e-9,
                                                   higher_is_better=False))
    stream = io.StringIO()
    config = SteamrollerConfig("digits", "mlp", out=tmp_path / "run", **TINY)
    report = run_steamroller(config, stages=(STEAMROLLER_STAGES[2], strict), stream=stream)
    assert report.status == "failed" and report.failed_stage == 2
    assert report.next_steps[0] == "Lower the rate of the polish stage."
    assert "Stage 2 (polish) failed its gate: val_loss" in stream.getvalue()
    assert "> 1e-09" in stream.getvalue()


@pytest.mark.integration
def test_a_summary_without_stage_names_is_a_three_stage_run(tmp_path):
    """Folders written before stage names were recorded hold runs of the default stages: a
    shorter (or longer) stage list resumes what matches instead of calling them finished."""
    out = tmp_path / "run"
    config = SteamrollerConfig("digits", "mlp", out=out, **{**TINY, "verbose": 0})
    first = run_steamroller(config, stages=STEAMROLLER_STAGES[:1])
    assert first.passed
    summary = json.loads((out / "summary.json").read_text())
    del summary["stage_names"]
    (out / "summary.json").write_text(json.dumps(summary))
    stream = io.StringIO()
    again = run_steamroller(dataclasses.replace(config, verbose=1), stages=STEAMROLLER_STAGES[:1],
                            stream=stream)
    assert "nothing to do" not in stream.getvalue()
    assert "== stage 1/1 overfit: completed by an earlier run, skipped" in stream.getvalue()
    assert again.passed and again.stages[0].resumed


def test_importing_the_workflows_starts_no_backend():
    """The command line imports them to check settings before it knows it will train."""
    import subprocess
    import sys

    # As in the console script (`__main__` is the `keras-recipes` launcher); a plain
    # `import keras_recipes` elsewhere imports Keras to register the library's objects.
    code = ("import sys; sys.modules['__main__'].__file__ = '/bin/keras-recipes'; "
            "import keras_recipes.workflows as w; "
            "from keras_recipes.workflows import SteamrollerConfig, steamroller, practical; "
            "print('keras' in sys.modules, 'tensorflow' in sys.modules, 'jax' in sys.modules); "
            "w.StageProgress; print('keras' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False", "False", "True"]


def test_plan_notes_say_when_the_chosen_classes_are_all_of_them():
    from types import SimpleNamespace

    from keras_recipes.workflows.steamroller.workflow import _plan_notes

    ds = load_dataset("digits")
    two = ds.y < 2  # a two-class data set: stages 1-2 already see every class
    x, y = ds.x[two], ds.y[two]
    run = SimpleNamespace(stages=STEAMROLLER_STAGES, plan=plan_stages(x, y, stage_classes=2),
                          ds=SimpleNamespace(num_classes=2),
                          config=SimpleNamespace(standardize=True))
    assert _plan_notes(run)[0] == ("The data set has only 2 classes: stages 1-2 already use all "
                                   "of them, so stage 2 trains on the same data as stage 3, "
                                   "with the small network.")
    run.ds.num_classes = 10  # digits: the chosen classes are 2 of 10, nothing to say
    run.plan = plan_stages(ds.x, ds.y, stage_classes=2)
    assert _plan_notes(run) == ["Inputs are standardised with the training split's statistics "
                                "inside the model."]
