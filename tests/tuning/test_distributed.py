"""KerasTuner's distributed mode on loopback: one chief and two workers, three processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

JOB = Path(__file__).with_name("distributed_job.py")
ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 420


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(tuner_id: str, port: int, tmp_path: Path, logs: list) -> subprocess.Popen:
    env = dict(os.environ)
    env.update(
        KERASTUNER_TUNER_ID=tuner_id,
        KERASTUNER_ORACLE_IP="127.0.0.1",
        KERASTUNER_ORACLE_PORT=str(port),
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        TF_CPP_MIN_LOG_LEVEL="2",
    )
    log = open(tmp_path / f"{tuner_id}.log", "w")  # closed by the test's finally block
    logs.append(log)
    return subprocess.Popen(
        [sys.executable, str(JOB), str(tmp_path / "project"), str(tmp_path / f"{tuner_id}.csv")],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(tmp_path),
    )


@pytest.mark.slow
def test_chief_and_two_workers_share_one_search(tmp_path):
    port = _free_port()
    handles: list = []
    procs = {"chief": _start("chief", port, tmp_path, handles)}
    time.sleep(1.0)
    procs["tuner0"] = _start("tuner0", port, tmp_path, handles)
    procs["tuner1"] = _start("tuner1", port, tmp_path, handles)
    deadline = time.monotonic() + TIMEOUT_S
    try:
        for name, proc in procs.items():
            try:
                proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pytest.fail(f"{name} did not finish within {TIMEOUT_S} s")
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
        for handle in handles:
            handle.close()
    logs = {n: (tmp_path / f"{n}.log").read_text() for n in procs}
    for name, proc in procs.items():
        assert proc.returncode == 0, f"{name} exited with {proc.returncode}:\n{logs[name][-3000:]}"
    chief = pd.read_csv(tmp_path / "chief.csv")
    workers = [pd.read_csv(tmp_path / f"{n}.csv") for n in ("tuner0", "tuner1")]
    # The chief's oracle saw the whole grid, every trial trained by some worker.
    assert len(chief) == 4 and (chief["status"] == "COMPLETED").all()
    assert sorted(chief["learning_rate"]) == [0.003, 0.01, 0.03, 0.1]
    ran = [set(w["trial_id"].astype(str)) for w in workers]
    assert ran[0].isdisjoint(ran[1])
    assert ran[0] | ran[1] == set(chief["trial_id"].astype(str))
    # Best first on the chief too.
    assert chief["val_loss"].is_monotonic_increasing
