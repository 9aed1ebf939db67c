"""The LR finder and every callback under tf.distribute.MirroredStrategy, two logical CPUs.

One subprocess (``_mirrored_script.py``) runs every tool and reports measurements; each
test below checks one rule against a NumPy reference, the same run on one device, or
per-replica values read with TensorFlow's own API.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.distributed._common import assert_trains_as_on_one_device
from tests.distributed._run import run_script
from tests.lr_finder.conftest import ce_numpy

pytestmark = [pytest.mark.tf_only, pytest.mark.backend]


@pytest.fixture(scope="module")
def results():
    return run_script("tests.distributed._mirrored_script",
                      {"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"})


def _bn_mlp_loss(weights, x, y, replicas):
    """Dense → BatchNormalization (training mode) → ReLU → Dense softmax, in NumPy.

    The batch is split into ``replicas`` equal shares and each share is normalised with
    its own mean and (biased) variance, as MirroredStrategy does in ``fit``; the loss is
    the mean cross-entropy over the whole batch.
    """
    w1, b1, gamma, beta, _, _, w2, b2 = (np.asarray(w, dtype="float64") for w in weights)
    losses = []
    for xs, ys in zip(np.array_split(x, replicas), np.array_split(y, replicas), strict=True):
        h = xs @ w1 + b1
        h = gamma * (h - h.mean(0)) / np.sqrt(h.var(0) + 1e-3) + beta
        logits = np.maximum(h, 0.0) @ w2 + b2
        e = np.exp(logits - logits.max(1, keepdims=True))
        losses.append(ce_numpy(e / e.sum(1, keepdims=True), ys) * len(ys))
    return sum(losses) / len(y)


def tiny_rate_references(results) -> tuple[list, list]:
    """NumPy losses of the tiny-rate range test's 10 batches (the 256 // 32 full global
    batches in order, then the first two again), with BatchNormalization over the whole
    batch and over each of two replicas' halves: (whole, split)."""
    weights = results["range_test"]["weights"]
    x, y = np.asarray(results["x"]), np.asarray(results["y"])
    batches = [i % 8 for i in range(10)]
    return tuple(
        [_bn_mlp_loss(weights, x[32 * b:32 * b + 32], y[32 * b:32 * b + 32], replicas)
         for b in batches]
        for replicas in (1, 2))


def test_two_replicas(results):
    assert results["replicas"] == 2 and results["range_test"]["num_replicas"] == 2


def test_range_test_splits_each_global_batch_over_the_replicas(results):
    rt = results["range_test"]
    whole, split = tiny_rate_references(results)
    np.testing.assert_allclose(rt["tiny_losses"], split, rtol=2e-5)
    # The reference discriminates: statistics over the whole batch on each replica (what
    # `train_on_batch` does under a strategy) give other losses.
    assert np.max(np.abs(np.asarray(split) - np.asarray(whole))) > 1e-3
    # ... and fit's first batch is the same computation.
    assert rt["fit_first_loss"] == pytest.approx(rt["tiny_losses"][0], rel=1e-6)


def test_optimizer_copy_is_created_in_the_model_scope(results):
    mirrored = results["range_test"]["copy_variables_distributed"]
    assert mirrored and all(mirrored)


def test_state_restored_bit_for_bit_on_every_replica(results):
    rt = results["range_test"]
    # The replicas hold different metric totals: a restore that read each variable whole
    # (the sum over replicas for a sync-on-read total) would not give them back.
    assert rt["metric_replicas_differ"]
    assert rt["success_stop_reason"] == "completed"
    assert rt["restored_after_success"] and rt["same_objects"]
    assert rt["restored_after_divergence"]
    assert rt["exception_raised"] and rt["restored_after_exception"]


def test_a_batch_smaller_than_the_replica_count_is_refused(results):
    rt = results["range_test"]
    assert "cannot be split over 2 replicas" in rt["tiny_batch_error"]
    assert "Received: batch_size=1" in rt["tiny_batch_error"]
    assert rt["restored_after_tiny_batch"]


def test_max_stable_lr(results):
    rt = results["range_test"]
    assert rt["max_stable_statuses"][0] in ("non_finite", "exploded")
    assert rt["max_stable_statuses"][1] == "ok" and rt["max_stable_lr"] == 0.01


def test_lr_finder_callback_applies_the_suggestion(results):
    rt = results["range_test"]
    assert rt["finder_applied"] == rt["finder_suggestion"] is not None
    assert rt["finder_lr_after"] == pytest.approx(rt["finder_applied"], rel=1e-6)
    assert rt["finder_agree"]


def test_callbacks_train_as_on_one_device(results):
    two, one = results["callbacks_mirrored"], results["callbacks_single"]
    assert two["epochs_run"] == one["epochs_run"] == 3
    assert_trains_as_on_one_device(two, one)
    assert two["devices_agree"] and two["ensemble_mirrored"]


def test_stop_decisions_and_restores_hold_on_every_replica(results):
    stop = results["stopping"]
    assert stop["nan_stop_reason"] == "non_finite" and stop["nan_stopped_epoch"] == 1
    assert stop["nan_weights_restored"] and stop["nan_optimizer_restored"]
    assert stop["early_stop_reason"] == "patience_exhausted"
    assert stop["early_epochs_run"] == 2 and stop["early_best_epoch"] == 0
    assert stop["early_restored_best"]
    assert stop["budget_epochs_run"] == 1 and stop["budget_agree"]
