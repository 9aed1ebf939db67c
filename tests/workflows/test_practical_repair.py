"""practical(repair=True): planted faults repaired through the whole workflow.

Each case plants one fault that a check of steps 1-4 catches, and the expected remedy is
the one docs/repair.md's catalogue names for the finding (written by hand there): a raw
table whose initial loss is far from ln C is standardised; a huge step-2 rate that the
watchdog stops (exploding loss) is lowered. A healthy run gives the same steps with and
without repair.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from keras_recipes.data import Dataset
from keras_recipes.workflows import practical

pytestmark = [pytest.mark.integration, pytest.mark.backend]

SMALL = dict(lr_candidates=(1e-2,), lr_steps=20, lr_factors=(1.0,), weight_decays=(0.0,),
             grid_epochs=1, top_k=1, train_epochs=2, overfit_epochs=60, max_loops=0,
             verbose=0, fresh=True)


def _raw_table(n: int = 300, seed: int = 0) -> Dataset:
    """Three Gaussian classes in 4 features, on scales from 1 to 1e5 with large offsets."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centers = rng.normal(size=(3, 4)) * 2
    x = (centers[y] + rng.normal(size=(n, 4))) * np.array([1e4, 1e3, 1.0, 1e5]) \
        + np.array([5e4, 0.0, 0.0, -1e6])
    return Dataset(x.astype("float32"), y.astype("int64"), ["a", "b", "c"], (4,), "raw")


@pytest.mark.slow  # heavy: `make test-all`
def test_raw_table_without_standardisation_is_standardised(tmp_path):
    ds = _raw_table()
    plain = practical(ds, "mlp", out=tmp_path / "plain", standardize=False, **SMALL)
    assert plain.failed_step.number == 1 and plain.repair is None
    report = practical(ds, "mlp", out=tmp_path / "repaired", standardize=False, repair=True,
                       **SMALL)
    attempts = list(report.repair)
    assert [a.remedy for a in attempts] == [None, "standardize_inputs"]
    assert attempts[0].finding_code == "initial_loss" and not attempts[0].passed
    assert attempts[1].passed and attempts[1].gate_value == 4.0
    assert report.passed and report.test_accuracy is not None
    summary = json.loads((tmp_path / "repaired" / "summary.json").read_text())
    assert [a["remedy"] for a in summary["repair"]["attempts"]] == [None, "standardize_inputs"]
    assert summary["config"]["repair"] is True
    text = (tmp_path / "repaired" / "report.md").read_text()
    assert "## Repair" in text and "standardize: False → True" in text
    assert "repair" not in json.loads((tmp_path / "plain" / "summary.json").read_text())


@pytest.mark.slow  # heavy: `make test-all`
def test_huge_overfit_rate_is_lowered(tmp_path):
    # step 2 at its default budget (200 epochs): 60 leave JAX's draw at 0.95 after the repair
    report = practical("digits", "mlp", out=tmp_path, repair=True,
                       **{**SMALL, "overfit_lr": 10.0, "overfit_epochs": 200})
    attempts = list(report.repair)
    assert attempts[0].remedy is None and not attempts[0].passed
    assert attempts[1].remedy == "lower_rate" and attempts[1].passed
    # the rate remedy keeps the new rate within [r/1000, r/10] of the failed r = 10
    new = report.steps[1].details["learning_rate"]
    assert 10.0 / 1000 <= new <= 10.0 / 10
    assert report.passed


@pytest.mark.slow  # the steamroller's healthy-stage repair test covers it in make test
def test_healthy_run_needs_no_repair_and_gives_the_same_steps(tmp_path):
    plain = practical("digits", "mlp", out=tmp_path / "a", **SMALL)
    watched = practical("digits", "mlp", out=tmp_path / "b", repair=True, **SMALL)
    assert [a.remedy for a in watched.repair] == [None] and watched.repair.passed
    assert [(s.number, s.passed) for s in plain.steps] == \
        [(s.number, s.passed) for s in watched.steps]
    assert math.isclose(plain.test_accuracy, watched.test_accuracy, abs_tol=1e-6)
    assert plain.steps[2].details["learning_rate"] == watched.steps[2].details["learning_rate"]


def test_training_settings_are_checked(tmp_path):
    from keras_recipes.workflows.repair import TrainingSettings

    with pytest.raises(ValueError, match="Argument `training` must leave learning_rate"):
        practical("digits", out=tmp_path, training=TrainingSettings(learning_rate=0.1),
                  verbose=0)
    with pytest.raises(ValueError, match="Argument `training` must be None or a Training"):
        practical("digits", out=tmp_path, training={"activation": "relu"}, verbose=0)
