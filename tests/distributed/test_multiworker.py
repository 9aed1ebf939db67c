"""Two worker processes under MultiWorkerMirroredStrategy, talking over 127.0.0.1 only.

One test case starts ``_multiworker_script.py`` twice (a hard time limit kills both on a
hang) and compares the workers' reports with each other and with NumPy references: the
range test, the stopping callbacks with clocks that disagree, the diagnostic logger, and
the steamroller (only the chief writes the run folder; a rerun resumes on both).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.distributed._run import ROOT
from tests.distributed.test_mirrored import _bn_mlp_loss
from tests.lr_finder.conftest import ce_numpy

pytestmark = [pytest.mark.slow, pytest.mark.tf_only, pytest.mark.backend]

TIME_LIMIT = 1200  # seconds for both workers together


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.fixture(scope="module")
def workers(tmp_path_factory):
    out = tmp_path_factory.mktemp("multiworker")
    ports = json.dumps(_free_ports(2))
    procs = []
    for index in (0, 1):
        tmp = out / f"tmp{index}"
        tmp.mkdir()
        env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
        env.update({"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3",
                    "TMPDIR": str(tmp), "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1",
                    "PYTHONPATH": os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])})
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "tests.distributed._multiworker_script", str(index), ports,
             str(out)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True))
    deadline = time.monotonic() + TIME_LIMIT
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=max(1.0, deadline - time.monotonic())))
    except subprocess.TimeoutExpired:
        for proc in procs:
            proc.kill()
        pytest.fail(f"the two workers did not finish within {TIME_LIMIT} s (a hang)")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, (_, stderr) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, stderr[-6000:]
    return out, [json.loads(stdout.strip().splitlines()[-1]) for stdout, _ in outputs]


def _data():
    """The script's data set."""
    x = np.random.default_rng(0).normal(size=(256, 8)).astype("float32")
    y = (x[:, :3] @ np.array([1.0, -1.0, 0.5], "float32") > 0).astype("int32") + (
        x[:, 3] > 1.0).astype("int32")
    return x, y


def test_one_chief_and_two_replicas(workers):
    _, (w0, w1) = workers
    assert (w0["chief"], w1["chief"]) == (True, False)
    assert w0["replicas"] == w1["replicas"] == 2


def test_range_test_takes_each_workers_share_of_every_global_batch(workers):
    _, (w0, w1) = workers
    rt = w0["range_test"]
    x, y = _data()
    # Each worker normalises its 16 examples of the 32-example global batch (NumPy).
    split = [_bn_mlp_loss(rt["weights"], x[32 * (i % 8):32 * (i % 8) + 32],
                          y[32 * (i % 8):32 * (i % 8) + 32], 2) for i in range(10)]
    np.testing.assert_allclose(rt["tiny_losses"], split, rtol=2e-5)
    # Same reduced losses, same stop of the sweep and same suggestion on both workers.
    assert w0["range_test"]["sweep_losses"] == w1["range_test"]["sweep_losses"]
    assert w0["range_test"]["suggestion"] == w1["range_test"]["suggestion"]
    assert w0["range_test"]["tiny_losses"] == w1["range_test"]["tiny_losses"]
    assert rt["sweep_steps"] < 40  # the sweep to 100 diverged and stopped early...
    assert w0["range_test"]["restored"] and w1["range_test"]["restored"]  # ...restored


def test_max_stable_lr_and_the_callback_agree_across_workers(workers):
    _, (w0, w1) = workers
    for worker in (w0, w1):
        rt = worker["range_test"]
        assert rt["max_stable_statuses"] == ["exploded", "ok"] and rt["max_stable_lr"] == 0.01
        assert rt["restored_after_max_stable"]
        assert rt["finder_lr_after"] == pytest.approx(rt["finder_applied"], rel=1e-6)
    for key in ("finder_applied", "finder_digest"):  # same rate, same trained weights
        assert w0["range_test"][key] == w1["range_test"][key]


def test_stop_decisions_agree_when_the_clocks_do_not(workers):
    _, (w0, w1) = workers
    assert w0["callbacks"]["epochs_run"] == w1["callbacks"]["epochs_run"] == 1
    assert w0["callbacks"]["digest"] == w1["callbacks"]["digest"]


def test_logger_writes_on_the_chief_only_and_probes_the_whole_set(workers):
    out, (w0, w1) = workers
    assert "diagnostics.csv" in w0["callbacks"]["diag_files"]
    assert w1["callbacks"]["diag_files"] == [] and not (out / "diag1").exists()
    assert w0["callbacks"]["probe_loss"] == w1["callbacks"]["probe_loss"]
    w1_, b1, w2, b2 = (np.asarray(w, "float64") for w in w0["callbacks"]["weights"])
    x, y = _data()
    x, y = x[:64].astype("float64"), y[:64]
    logits = np.maximum(x @ w1_ + b1, 0.0) @ w2 + b2
    p = np.exp(logits - logits.max(1, keepdims=True))
    expected = ce_numpy(p / p.sum(1, keepdims=True), y)
    assert w0["callbacks"]["probe_loss"][-1] == pytest.approx(expected, rel=1e-4)


def test_steamroller_chief_writes_the_folder_and_both_resume(workers):
    out, (w0, w1) = workers
    first0, first1 = w0["steamroller"]["first"], w1["steamroller"]["first"]
    assert first0["status"] == first1["status"] == "passed", first0["log"] + first1["log"]
    assert first0["test_accuracy"] == first1["test_accuracy"]
    assert first0["distribute"] == {"setup": "multiworker", "replicas": 2}
    files = {str(p.relative_to(out / "run")) for p in (out / "run").rglob("*") if p.is_file()}
    assert {"manifest.json", "summary.json", "report.md", "stage3/model.keras"} <= files
    assert not any(".partial" in f or f == ".lock" for f in files)
    manifest = json.loads((out / "run" / "manifest.json").read_text())
    assert "stage3/model.keras" in json.dumps(manifest)
    for worker in (w0, w1):  # the second call found the finished run, on both workers
        assert worker["steamroller"]["again"]["status"] == "passed"
        assert "nothing to do" in worker["steamroller"]["again"]["log"]
        assert worker["steamroller"]["leftover_tmp"] == []
