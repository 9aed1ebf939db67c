"""benchmarks/gpu_suite.py: its JSON, its table, its time limits and its quick mode.

The fast tests exercise the parent side only (no Keras import, no training): the table, the
JSON writer, a backend that is not installed, a backend killed at its time limit and bad
flags. The slow test runs the quick mode on the current backend and checks the JSON.
"""

import importlib.util
import json
import math
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("gpu_suite", ROOT / "benchmarks" / "gpu_suite.py")
gpu_suite = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gpu_suite)

SECTIONS = set(gpu_suite.SECTIONS)


def _section_ok(**values):
    return {"status": "ok", "seconds": 1.0, **values}


def _fake_backend(backend, mode, limit_s):
    """What a backend's process returns: every section measured, or one failed."""
    sections = {
        "optimizers": _section_ok(ratios={name: 1.25 for name in gpu_suite.OURS}),
        "logger_overhead": _section_ok(ratio=1.05),
        "watchdog_overhead": _section_ok(ratio=1.01),
        "range_test": _section_ok(cold_s=2.0, warm_s=0.5),
        "steamroller": _section_ok(wall_s=30.0, test_accuracy=0.5),
    }
    if backend == "torch":
        sections["range_test"] = {"status": "failed", "error": "RuntimeError: boom"}
    return {"status": "ok" if backend != "torch" else "partial", "device": "CPU",
            "limit_s": limit_s, "wall_s": 3.0, "sections": sections}


@pytest.mark.integration
def test_parent_writes_json_and_table(tmp_path, monkeypatch, capsys):
    limits = []

    def fake(backend, mode, limit_s):
        limits.append(limit_s)
        return _fake_backend(backend, mode, limit_s)

    monkeypatch.setattr(gpu_suite, "run_backend", fake)
    out = tmp_path / "sub" / "suite.json"
    assert gpu_suite.main(["--quick", "--backends", "jax,torch", "--budget", "100",
                           "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["mode"] == "quick" and list(data["backends"]) == ["jax", "torch"]
    assert {"date", "machine", "sizes", "wall_s", "table_markdown", "budget_s"} <= set(data)
    assert data["machine"]["cpu_count"] == os.cpu_count()
    # The budget is shared: the first backend gets half, the second what is left.
    assert limits[0] == pytest.approx(50, abs=1) and limits[1] == pytest.approx(100, abs=1)
    lines = data["table_markdown"].splitlines()
    assert len(lines) == 4 and lines[0].count("|") == lines[2].count("|") == 13
    jax_row, torch_row = lines[2].split(" | "), lines[3]
    assert jax_row[2:6] == ["1.250"] * 4 and jax_row[6:8] == ["1.050", "1.010"]
    assert "| — |" in torch_row and "partial (range_test: failed)" in torch_row
    assert data["table_markdown"] in capsys.readouterr().out
    assert not list(out.parent.glob("*.tmp"))  # written atomically


@pytest.mark.integration
def test_backend_not_installed_is_skipped(monkeypatch):
    monkeypatch.setattr(gpu_suite, "installed", lambda backend: False)
    result = gpu_suite.run_backend("jax", "quick", 10)
    assert result == {"status": "skipped", "reason": "jax is not installed"}
    row = gpu_suite.table({"backends": {"jax": result}}).splitlines()[2]
    assert row.startswith("| jax | — |") and row.endswith("| skipped: jax is not installed |")


@pytest.mark.integration
def test_backend_killed_at_its_time_limit_keeps_a_record():
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    result = gpu_suite.run_backend(backend, "quick", 0.5)  # Keras cannot even import by then
    assert result["status"] == "timed_out" and result["limit_s"] == 0.5
    assert set(result["sections"]) == SECTIONS
    for section in result["sections"].values():
        assert section == {"status": "not_run",
                           "reason": "the backend's time limit (0 s) was reached"}


@pytest.mark.integration
@pytest.mark.parametrize("argv, message", [
    (["--backends", "theano"], "Argument `--backends` must be a comma-separated list"),
    (["--backends", ","], "Received: --backends=,"),
    (["--budget", "0"], "Argument `--budget` must be > 0 seconds. Received: --budget=0.0"),
])
def test_bad_flags_are_refused(argv, message, tmp_path):
    with pytest.raises(SystemExit, match=message.replace("(", r"\(")):
        gpu_suite.main([*argv, "--out", str(tmp_path / "x.json")])
    assert not (tmp_path / "x.json").exists()


@pytest.mark.slow
@pytest.mark.backend
def test_quick_mode_on_the_current_backend(tmp_path):
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    out = tmp_path / "quick.json"
    assert gpu_suite.main(["--quick", "--backends", backend, "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["mode"] == "quick" and data["wall_s"] > 0
    assert data["machine"]["device"] and "note" in data or data["machine"]["gpus"]
    result = data["backends"][backend]
    assert result["status"] == "ok", result.get("log_tail")
    assert result["versions"]["keras"] and result["device"]
    sections = result["sections"]
    assert set(sections) == SECTIONS
    assert all(s["status"] == "ok" and s["seconds"] > 0 for s in sections.values())
    opt = sections["optimizers"]
    assert set(opt["ratios"]) == set(gpu_suite.OURS)
    assert all(v > 0 for v in opt["ms_per_step"].values())
    assert all(math.isfinite(r) and r > 0 for r in opt["ratios"].values())
    for name in ("logger_overhead", "watchdog_overhead"):
        s = sections[name]
        assert math.isfinite(s["ratio"]) and s["ratio"] > 0
        assert s["plain_epoch_s"] > 0 and s["with_epoch_s"] > 0
    assert sections["range_test"]["cold_s"] > 0 and sections["range_test"]["warm_s"] > 0
    assert sections["range_test"]["steps_run"] >= 1
    steam = sections["steamroller"]
    assert steam["wall_s"] > 0 and steam["run_status"] in {"passed", "failed"}
    assert set(steam["stages"]) >= {"1"}
    assert all(stage["seconds"] > 0 for stage in steam["stages"].values())
