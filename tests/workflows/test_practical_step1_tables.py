"""Step 1 of the practical workflow (initial loss ≈ ln C) passes on real tables that a user
brings as CSV files: raw scales, string labels, an id column, 2 and 3 classes."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest
from sklearn import datasets

from keras_recipes.workflows.practical import PracticalConfig
from keras_recipes.workflows.practical.context import RunContext
from keras_recipes.workflows.practical.state import PracticalState
from keras_recipes.workflows.practical.steps import check_initial_loss
from keras_recipes.workflows.practical.workflow import _builder, _load

TABLES = {
    "iris": (datasets.load_iris, ["setosa", "versicolor", "virginica"]),
    "wine": (datasets.load_wine, ["barolo", "grignolino", "barbera"]),
    "breast_cancer": (datasets.load_breast_cancer, ["malignant", "benign"]),
}


@pytest.mark.parametrize("name", sorted(TABLES))
@pytest.mark.parametrize("model", ["mlp"])
def test_step1_passes_on_a_real_table_with_string_labels(tmp_path, name, model):
    loader, names = TABLES[name]
    bunch = loader()
    frame = pd.DataFrame(bunch.data, columns=[f"f{i}" for i in range(bunch.data.shape[1])])
    frame.insert(0, "id", np.arange(len(frame)))
    frame["label"] = np.asarray(names)[bunch.target]
    path = tmp_path / f"{name}.csv"
    frame.to_csv(path, index=False)
    config = PracticalConfig(dataset=str(path), target="label", drop=["id"], model=model,
                             out=str(tmp_path / "run"), verbose=0)
    ds = _load(config)
    run = RunContext(ds, _builder(config, ds), tmp_path / "run", config, io.StringIO())
    result = check_initial_loss(run, PracticalState())
    expected = math.log(len(names))
    assert result.details["expected"] == pytest.approx(expected)
    assert result.passed, result.summary
    assert abs(result.details["initial_loss"] - expected) <= 0.5 * expected
