"""Every model preset passes every gate of the steamroller on digits, with default settings.

Both presets run in `make test-all` (the mlp one takes about 20 s, the cnn one three times
as long). In `make test` the builders are covered by tests/test_models.py (structure, untrained
loss, .keras round trip) and the three stages by tests/workflows/test_steamroller.py.
"""

import pytest

from keras_recipes.workflows import steamroller

pytestmark = pytest.mark.integration


@pytest.mark.slow  # heavy (the demo's defaults, end to end): `make test-all`
@pytest.mark.parametrize("preset", ["mlp", "cnn"])
def test_every_preset_passes_every_gate_on_digits_with_defaults(tmp_path, preset):
    report = steamroller("digits", preset, out=tmp_path / "run", verbose=0)
    assert [s.status for s in report.stages] == ["passed", "passed", "done"]
    assert report.passed
    assert report.test_accuracy >= 0.97
    # The report records the standardisation inside the model and the exact BatchNorm
    # recalibration that made the gates pass.
    record = report.summary["stages"]["2"]
    assert record["preprocessing"]["standardize"] is True
    assert record["preprocessing"]["batchnorm_recalibrated_batches"] >= 1
