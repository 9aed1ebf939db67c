"""``keras-recipes steamroller --repair`` and ``keras-recipes practical --repair``, run in
process with ``keras_recipes.cli.main``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from keras_recipes.cli import build_parser, main


def _raw_csv(path, n: int = 300, seed: int = 0):
    """Three Gaussian classes in 4 features, on scales from 1 to 1e5 with large offsets."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = (rng.normal(size=(3, 4))[y] * 2 + rng.normal(size=(n, 4))) \
        * np.array([1e4, 1e3, 1.0, 1e5]) + np.array([5e4, 0.0, 0.0, -1e6])
    rows = ["f0,f1,f2,f3,label"] + [",".join(f"{v:.6g}" for v in r) + f",{c}"
                                    for r, c in zip(x, y, strict=True)]
    path.write_text("\n".join(rows) + "\n")
    return path


def _repair_run(command, tmp_path, capsys, *flags):
    """``keras-recipes <command>`` on a raw table with ``--repair`` and ``flags``:
    (exit code, what it printed, its summary.json)."""
    data = _raw_csv(tmp_path / "raw.csv")
    out = tmp_path / "run"
    code = main([command, "--dataset", str(data), "--target", "label", "--out", str(out),
                 "--repair", *flags])
    printed = capsys.readouterr().out
    return code, printed, json.loads((out / "summary.json").read_text())


@pytest.mark.parametrize("command", ["steamroller", "practical"])
def test_repair_flag_defaults_off(command):
    parser = build_parser()
    assert parser.parse_args([command]).repair is False
    assert parser.parse_args([command, "--repair"]).repair is True
    assert "--repair" in parser._subparsers._group_actions[0].choices[command].format_help()


def test_steamroller_grow_switch_still_negates():
    parser = build_parser()
    assert parser.parse_args(["steamroller"]).grow is True
    assert parser.parse_args(["steamroller", "--no-grow"]).grow is False


@pytest.mark.slow  # covered fast by tests/workflows/test_practical_repair.py (raw table)
@pytest.mark.integration
@pytest.mark.backend
def test_practical_repair_standardises_a_raw_table(tmp_path, capsys):
    code, printed, summary = _repair_run(
        "practical", tmp_path, capsys, "--no-standardize", "--grid-epochs", "1", "--top-k", "1",
        "--train-epochs", "2", "--max-loops", "0")
    assert code == 0
    assert "Repair of the checks (steps 1-4):" in printed
    assert "| 1 | standardize_inputs | standardize: False → True | 4 (passed) |" in printed
    assert [a["remedy"] for a in summary["repair"]["attempts"]] == [None, "standardize_inputs"]


@pytest.mark.integration
@pytest.mark.backend
@pytest.mark.slow
def test_steamroller_repair_on_the_command_line(tmp_path, capsys):
    code, printed, summary = _repair_run(
        "steamroller", tmp_path, capsys, "--stage1-epochs", "30", "--stage2-epochs", "3",
        "--stage3-epochs", "2", "--lr-finder-steps", "20", "--minibatch-steps", "30",
        "--no-grow", "--min-val-accuracy", "0.5")
    assert summary["settings"]["repair"] is True
    for number, record in summary["stages"].items():
        assert record["attempts"][0]["attempt"] == 0, number  # every stage keeps its log
    assert code == (0 if summary["status"] == "passed" else 1)
    assert "Steamroller" in printed
