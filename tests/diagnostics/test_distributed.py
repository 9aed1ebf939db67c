"""DiagnosticLogger under a distribution: MirroredStrategy on two logical CPUs (TensorFlow)
and keras.distribution.DataParallel on two host devices (JAX).

Devices must be configured before the backend initialises, so each case runs one script in
a fresh process and reads the JSON line it prints. The probe statistics must equal those of
the same weights measured on one device: they cover the whole probe batch, not one
replica's share.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

pytestmark = pytest.mark.backend

HERE = Path(__file__).parent
ROOT = HERE.parent.parent


def _run(script: str, tmp_path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, str(HERE / script), str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=240, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _same(pairs, rtol=1e-5):
    for got, want in pairs:
        np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-7)


@pytest.mark.slow  # heavy: `make test-all`
@pytest.mark.tf_only
def test_logger_under_mirrored_strategy_on_two_logical_cpus(tmp_path):
    out = _run("_mirrored_probe.py", tmp_path)
    assert out["replicas"] == 2 and out["warnings"] == []
    assert out["in_scope"] is True
    _same([out["probe_loss"]])
    _same(out["grad_norm"].values())
    _same(out["act_mean"].values())
    _same(out["dead_fraction"].values())
    _same(out["mode_gap"])
    assert set(out["grad_norm"]) == {"dense", "bn", "head"}
    assert out["batch_size"] == 32  # the global batch, both replicas' examples
    assert out["steps_recorded"] == list(range(1, 17))
    assert {"diagnostics.csv", "step_updates.csv", "summary.json"} <= set(out["files"])


@pytest.mark.slow  # heavy, JAX only: `make test-all` (test_jax_data_parallel.py in `make test`)
@pytest.mark.skipif(keras.backend.backend() != "jax", reason="needs KERAS_BACKEND=jax")
def test_logger_under_jax_data_parallel_on_two_host_devices(tmp_path):
    out = _run("_jax_data_parallel_probe.py", tmp_path)
    assert out["devices"] == 2 and out["warnings"] == []
    _same([out["probe_loss"]])
    _same(out["grad_norm"].values())
    _same(out["act_mean"].values())
    assert out["batch_size"] == 32
    assert out["steps_recorded"] == list(range(1, 17))
    assert out["has_mode_gap"] is True
