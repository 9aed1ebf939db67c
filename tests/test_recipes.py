"""The scripts in ``recipes/``: each runs in a fresh process on tiny settings, bad input exits
with code 2 and one line on stderr, and none of them goes through ``keras-recipes``' argv."""

from __future__ import annotations

import ast
import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("compare_optimizers", "grid_search", "lr_range_test", "practical", "steamroller")
#: The library function each recipe must call itself.
CALLS = {"compare_optimizers": "find_lr", "grid_search": "grid_search",
         "lr_range_test": "find_lr", "practical": "practical", "steamroller": "steamroller"}
#: The sub-commands of ``keras-recipes``: an argv for it would hold one of them.
SUBCOMMANDS = {"datasets", "train", "lr-find", "diagnose", "steamroller", "practical"}


def run_recipe(name: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3",
           "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, f"recipes/{name}.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _tree(name: str) -> ast.Module:
    return ast.parse((ROOT / "recipes" / f"{name}.py").read_text(encoding="utf-8"))


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


# ------------------------------------------------------------------ source, no subprocess
def test_the_recipe_list_is_complete():
    assert sorted(p.stem for p in (ROOT / "recipes").glob("*.py")) == sorted(NAMES)


def command_line_uses(tree: ast.Module) -> list[str]:
    """What in ``tree`` runs ``keras-recipes`` instead of the library: an import of its
    ``main``, a ``cli.main`` attribute, or a list of words that makes an argv for it."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "keras_recipes.cli":
            found += [f"import {a.name}" for a in node.names if a.name == "main"]
        elif isinstance(node, ast.Attribute) and node.attr == "main":
            if _dotted(node.value) in ("cli", "keras_recipes.cli"):
                found.append(_dotted(node))
        elif isinstance(node, ast.List | ast.Tuple):
            words = [e.value for e in node.elts
                     if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            if any(w in SUBCOMMANDS or w.startswith("--") for w in words):
                found.append(f"argv {words}")
    return found


def library_imports(tree: ast.Module) -> set[str]:
    """Names imported from ``keras_recipes`` modules other than the command line."""
    return {a.name for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("keras_recipes.")
            and node.module != "keras_recipes.cli" for a in node.names}


@pytest.mark.parametrize("name", NAMES)
def test_recipe_calls_the_library_not_the_command_line(name):
    tree = _tree(name)
    assert f"python recipes/{name}.py" in ast.get_docstring(tree)  # its usage line
    assert command_line_uses(tree) == []
    assert CALLS[name] in library_imports(tree)


def test_the_source_check_finds_a_script_over_the_command_line():
    thin = ast.parse("from keras_recipes.cli import main\n"
                     "import keras_recipes.cli\n"
                     "command = ['lr-find', '--out', 'x']\n"
                     "keras_recipes.cli.main(command)\n")
    assert sorted(command_line_uses(thin)) == ["argv ['lr-find', '--out', 'x']", "import main",
                                               "keras_recipes.cli.main"]
    assert library_imports(thin) == set()


# ------------------------------------------------------------------ bad input: exit 2
BAD_INPUT = [
    ("steamroller", ["--dataset", "nope"], "keras-recipes", "unknown dataset 'nope'"),
    ("steamroller", ["--dataset", "regression"], "keras-recipes", "regression set"),
    ("practical", ["--model", "rnn"], "keras-recipes", "invalid choice: 'rnn'"),
    ("lr_range_test", ["--min-lr", "1", "--max-lr", "0.1"], "keras-recipes",
     "--max-lr must be > --min-lr"),
    ("grid_search", ["--out", "{tmp}"], "grid_search", "is a folder"),
    ("compare_optimizers", ["--optimizers", "sgd,lion"], "compare_optimizers",
     "unknown optimizer(s) ['lion']"),
]


def _bad_input_args(name, args, prog, tmp_path):
    out = ["--out", str(tmp_path / ("out.csv" if prog != "keras-recipes" else "out"))]
    args = [a.format(tmp=tmp_path) for a in args]
    return [*(out if "--out" not in args else []), *args]


def _check_one_error_line(code, stdout, stderr, prog, match, tmp_path):
    assert code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), stderr
    assert match in lines[0]
    assert stdout == "" and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, args, prog, match", BAD_INPUT)
def test_bad_input_exits_2_with_one_line(name, args, prog, match, tmp_path, capsys):
    """Each recipe's ``main(argv)`` in this process, as the script's last line calls it."""
    main = runpy.run_path(str(ROOT / "recipes" / f"{name}.py"), run_name="recipe")["main"]
    try:
        code = main(_bad_input_args(name, args, prog, tmp_path))
    except SystemExit as exc:  # argparse's own errors exit from the parser
        code = exc.code
    captured = capsys.readouterr()
    _check_one_error_line(code, captured.out, captured.err, prog, match, tmp_path)


def test_bad_input_of_a_script_in_a_fresh_process_exits_2_with_one_line(tmp_path):
    """The user's path once: ``python recipes/<name>.py``, with the backend's start-up."""
    name, args, prog, match = BAD_INPUT[0]
    result = run_recipe(name, *_bad_input_args(name, args, prog, tmp_path), timeout=120)
    _check_one_error_line(result.returncode, result.stdout, result.stderr, prog, match,
                          tmp_path)


# ------------------------------------------------------------------ runs on digits
@pytest.mark.slow  # heavy: `make test-all`
@pytest.mark.integration
def test_lr_range_test_writes_the_curve(tmp_path):
    out = tmp_path / "lr"
    result = run_recipe("lr_range_test", "--out", str(out), "--num-steps", "10",
                        "--min-lr", "1e-4", "--max-lr", "1")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["lr_find.csv", "lr_find.png"]
    history = pd.read_csv(out / "lr_find.csv")
    assert list(history.columns) == ["lr", "loss", "smoothed_loss"] and len(history) == 10
    lr = history["lr"].to_numpy()
    np.testing.assert_allclose(lr[0], 1e-4, rtol=1e-6)  # exponential: a constant ratio
    np.testing.assert_allclose(lr[1:] / lr[:-1], lr[1] / lr[0], rtol=1e-6)
    assert (out / "lr_find.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result.stdout.startswith("digits mlp (adam): LRFinderResult(")
    assert f"wrote {out / 'lr_find.csv'} and {out / 'lr_find.png'}" in result.stdout


@pytest.mark.slow
@pytest.mark.integration
def test_steamroller_failed_gate_exits_1(tmp_path):
    out = tmp_path / "run"  # one epoch cannot learn 50 examples of 10 classes by heart
    result = run_recipe("steamroller", "--out", str(out), "--stage-classes", "10",
                        "--stage1-per-class", "5", "--stage1-epochs", "1",
                        "--lr-finder-steps", "10")
    assert result.returncode == 1, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "failed" and (out / "report.md").is_file()
    assert not (out / "stage2").exists()


@pytest.mark.slow
@pytest.mark.integration
def test_steamroller_passes_every_gate(tmp_path):
    out = tmp_path / "run"
    result = run_recipe("steamroller", "--out", str(out), "--stage1-epochs", "60",
                        "--stage2-epochs", "5", "--stage3-epochs", "3",
                        "--lr-finder-steps", "20", timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "passed" and 0.0 <= summary["test_accuracy"] <= 1.0
    assert {"stage1", "stage2", "stage3"} <= {p.name for p in out.iterdir()}


@pytest.mark.slow
@pytest.mark.integration
def test_practical_exit_code_follows_its_summary(tmp_path):
    out = tmp_path / "run"
    result = run_recipe("practical", "--out", str(out), "--grid-epochs", "1",
                        "--train-epochs", "2", "--top-k", "1", "--max-loops", "0",
                        timeout=600)
    assert result.returncode in (0, 1), result.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert result.returncode == (0 if summary["passed"] else 1)
    assert (out / "report.md").is_file()


@pytest.mark.slow
@pytest.mark.integration
def test_random_search_writes_its_trials(tmp_path):
    out = tmp_path / "search.csv"
    result = run_recipe("grid_search", "--random", "--trials", "2", "--epochs", "1",
                        "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    frame = pd.read_csv(out)
    assert len(frame) == 2
    # the seeds' random space: ε = 10^U(-3, -1), λ = 10^U(-4, -3)
    assert frame["learning_rate"].between(1e-3, 1e-1).all()
    assert frame["weight_decay"].between(1e-4, 1e-3).all()
    assert f"2 trials, 0 diverged; written to {out}" in result.stdout
    assert [p.name for p in tmp_path.iterdir()] == ["search.csv"]


@pytest.mark.slow
@pytest.mark.integration
def test_compare_optimizers_writes_one_row_per_optimizer(tmp_path):
    out = tmp_path / "compare.csv"
    result = run_recipe("compare_optimizers", "--optimizers", "sgd,adam", "--epochs", "1",
                        "--num-steps", "10", "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    frame = pd.read_csv(out)
    assert sorted(frame["optimizer"]) == ["adam", "sgd"]
    accuracy = frame["val_accuracy"].to_numpy()
    assert np.all(accuracy[:-1] >= accuracy[1:]) and np.all((accuracy >= 0) & (accuracy <= 1))
    assert "sgd: lr " in result.stdout and "adam: lr " in result.stdout
    assert [p.name for p in tmp_path.iterdir()] == ["compare.csv"]
