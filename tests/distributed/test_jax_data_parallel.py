"""The LR finder and the callbacks under keras.distribution.DataParallel, two JAX CPU devices.

One subprocess (``_jax_script.py``, with ``XLA_FLAGS=--xla_force_host_platform_device_count=2``)
runs every tool and reports measurements; the tests compare them with NumPy references,
the same run on one device, and per-device values read with JAX's own API.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tests.distributed._common import assert_trains_as_on_one_device
from tests.distributed._run import run_script
from tests.distributed.test_mirrored import tiny_rate_references

pytestmark = [
    pytest.mark.skipif(keras.backend.backend() != "jax",
                       reason="keras.distribution runs on the JAX backend"),
    pytest.mark.backend,
]


@pytest.fixture(scope="module")
def results():
    return run_script("tests.distributed._jax_script", {
        "KERAS_BACKEND": "jax",
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    })


def test_range_test_runs_at_the_global_batch(results):
    assert results["devices"] == 2 and results["range_test"]["num_replicas"] == 2
    rt = results["range_test"]
    # Under jit a sharded batch is one array: BatchNormalization normalises the global
    # batch (MirroredStrategy normalises each replica's share instead).
    whole, split = tiny_rate_references(results)
    np.testing.assert_allclose(rt["tiny_losses"], whole, rtol=2e-5)
    assert np.max(np.abs(np.asarray(split) - np.asarray(whole))) > 1e-3
    assert rt["fit_first_loss"] == pytest.approx(rt["tiny_losses"][0], rel=1e-6)
    assert rt["copy_variables_distributed"] and all(rt["copy_variables_distributed"])


def test_state_restored_bit_for_bit_on_every_device(results):
    rt = results["range_test"]
    assert rt["restored_after_success"] and rt["layouts_kept"]
    assert rt["max_stable_statuses"][0] in ("non_finite", "exploded")
    assert rt["restored_after_divergence"]
    assert rt["exception_raised"] and rt["restored_after_exception"]
    assert rt["fit_after_finite"]


def test_lr_finder_callback(results):
    rt = results["range_test"]
    assert rt["finder_applied"] is not None
    assert rt["finder_lr_after"] == pytest.approx(rt["finder_applied"], rel=1e-6)
    assert rt["finder_agree"]


def test_callbacks_train_as_on_one_device(results):
    two, one = results["callbacks_distributed"], results["callbacks_single"]
    assert_trains_as_on_one_device(two, one)
    assert two["devices_agree"] and two["layouts_kept"]


def test_stop_decisions_and_restores_hold_on_every_device(results):
    stop = results["stopping"]
    assert stop["nan_stop_reason"] == "non_finite"
    assert stop["nan_weights_restored"] and stop["nan_devices_agree"]
    assert stop["nan_layouts_kept"]
    assert stop["early_epochs_run"] == 2 and stop["early_restored_best"]
    assert stop["budget_agree"]
