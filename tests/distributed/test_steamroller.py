"""The steamroller with ``distribute=``, and BatchNorm recalibration under a strategy.

Each set-up runs in a fresh process (``_steamroller_script.py``): the devices must be
declared before the backend starts them. Tiny settings (5/1/1 epochs, 10 finder steps).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from tests.distributed._run import ROOT

pytestmark = pytest.mark.backend

STAGE_FILES = {"model.keras", "stage.json", "history.csv", "diagnostics.csv",
               "lr_finder.csv", "lr_finder.png"}


def _run(setup: str, out, env: dict[str, str], timeout: float = 900):
    full = {**os.environ, **env, "TF_CPP_MIN_LOG_LEVEL": "3",
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "tests.distributed._steamroller_script",
                           setup, str(out)], cwd=ROOT, env=full, capture_output=True,
                          text=True, timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr[-6000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def _check_run(result, out, setup: str) -> None:
    assert result["status"] == "passed", result["log"]
    assert result["distribute"] == {"setup": setup, "replicas": 2}
    assert result["stages"] == ["1", "2", "3"]
    files = set(result["files"])
    for n in (1, 2, 3):
        assert {f"stage{n}/{name}" for name in STAGE_FILES} <= files
    assert {"summary.json", "report.md", "manifest.json"} <= files
    assert not any(".partial" in f or f.endswith(".lock") for f in files)
    # Every variable of the final model spans both devices and holds one value.
    assert set(result["weights_per_replica"]) == {2}
    assert result["replicas_agree"] and result["model_replicas"] == 2
    assert result["num_bn"] >= 1


@pytest.mark.slow  # heavy: `make test-all`
@pytest.mark.integration
@pytest.mark.tf_only
def test_steamroller_mirrored_on_two_logical_cpus(tmp_path):
    out = tmp_path / "run"
    result, stderr = _run("mirrored", out, {"KERAS_BACKEND": "tensorflow"})
    _check_run(result, out, "mirrored")
    # The diagnostic probe ran in every stage (fit runs inside the strategy's scope there).
    assert "probe statistics" not in stderr
    # recalibrate_batchnorm under the strategy: 72 examples, batch 32 -> two full
    # batches, each cut into the two 16-example shares the replicas normalise in fit.
    x = np.asarray(result["bn_x"], dtype="float64")
    shares = [x[s:s + 16] for s in (0, 16, 32, 48)]
    mean = np.mean([s.mean(0) for s in shares], axis=0)
    var = np.mean([s.var(0) for s in shares], axis=0)
    assert result["recalibrated"] == 4 and result["bn_mirrored"]
    for replica_mean, replica_var in zip(result["bn_mean"], result["bn_var"], strict=True):
        np.testing.assert_allclose(replica_mean, mean, rtol=1e-5)
        np.testing.assert_allclose(replica_var, var, rtol=1e-5)
    whole = np.mean([x[s:s + 32].var(0) for s in (0, 32)], axis=0)
    assert np.max(np.abs(whole - var)) > 1e-2  # the reference tells the two apart


# A whole run in a fresh process: `make test-all`. In `make test` the JAX lane runs
# tests/distributed/test_jax_data_parallel.py and the logger under JAX data parallelism
# (tests/diagnostics/test_distributed.py); the TensorFlow lane runs the mirrored steamroller.
@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.skipif(keras.backend.backend() != "jax",
                    reason="keras.distribution runs on the JAX backend")
def test_steamroller_jax_data_parallel_on_two_host_devices(tmp_path):
    out = tmp_path / "run"
    result, _ = _run("jax-data-parallel", out, {
        "KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    assert result["devices"] == 2
    _check_run(result, out, "jax-data-parallel")


def _cli(tmp_path, *argv, env=None):
    full = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    full.update({"TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow", **(env or {})})
    return subprocess.run([sys.executable, "-m", "keras_recipes.cli", "steamroller",
                           "--out", str(tmp_path / "run"), *argv], cwd=tmp_path, env=full,
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.tf_only
@pytest.mark.parametrize("argv, env, message", [
    (("--distribute", "jax-data-parallel"), None, "needs the jax backend"),
    pytest.param(("--distribute", "multiworker"), None,
                 "needs the TF_CONFIG environment variable", marks=pytest.mark.slow),
    pytest.param(("--distribute", "multiworker"), {"TF_CONFIG": "{not json"}, "TF_CONFIG",
                 marks=pytest.mark.slow),
])
def test_cli_refuses_a_set_up_it_cannot_run(tmp_path, argv, env, message):
    done = _cli(tmp_path, *argv, env=env)
    assert done.returncode == 2, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("keras-recipes:")]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()  # refused before any work


@pytest.mark.parametrize("value, match", [
    ("ring", r"Argument `distribute` must be one of"),
    ("jax-data-parallel" if keras.backend.backend() == "tensorflow" else "mirrored",
     r"needs the (jax|tensorflow) backend"),
])
def test_steamroller_refuses_a_set_up_before_any_work(tmp_path, value, match):
    from keras_recipes.workflows import SteamrollerInputError, steamroller

    with pytest.raises(SteamrollerInputError, match=match):
        steamroller(out=tmp_path / "run", distribute=value, verbose=0)
    assert not (tmp_path / "run").exists()
