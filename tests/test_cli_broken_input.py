"""Every sub-command on broken input: one line on stderr, exit code 2, nothing written.

Each case runs ``keras_recipes.cli.main(argv)`` in this process, from a folder holding the
broken inputs, and compares the bytes of every file in that folder before and after. The
last test runs the installed ``keras-recipes`` command in fresh processes, for what only a
fresh interpreter shows: the exit code of the process, and that TensorFlow is never
imported before a refusal.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from keras_recipes.cli import main

# Whole commands on bad input; they fail before Keras does any work, so one backend is enough.
pytestmark = pytest.mark.integration

#: What every sub-command needs besides the broken input (its output options).
BASE = {
    "train": ["--epochs", "1"],
    "lr-find": ["--out", "out"],
    "diagnose": ["--epochs", "1", "--log-dir", "logs"],
    "steamroller": ["--out", "run", "--stage1-epochs", "1"],
    "practical": ["--out", "run", "--train-epochs", "1"],
}
#: The option that names each sub-command's output folder or file.
OUTPUT = {"train": ("--save", "m.keras"), "lr-find": ("--out", "out"),
          "diagnose": ("--log-dir", "logs"), "steamroller": ("--out", "run"),
          "practical": ("--out", "run")}
#: A number each sub-command must refuse.
BAD_NUMBER = {"train": ["--lr", "inf"], "lr-find": ["--min-lr", "nan"],
              "diagnose": ["--lr", "-1"], "steamroller": ["--min-val-accuracy", "inf"],
              "practical": ["--batch-size", "0"]}

DATA_CASES = {
    "missing file": ["--dataset", "missing.csv", "--target", "label"],
    "empty csv": ["--dataset", "empty.csv", "--target", "label"],
    "header only": ["--dataset", "header_only.csv", "--target", "label"],
    "binary csv": ["--dataset", "binary.csv", "--target", "label"],
    "one class": ["--dataset", "one_class.csv", "--target", "label"],
    "missing value": ["--dataset", "nan.csv", "--target", "label"],
    "text feature": ["--dataset", "strings.csv", "--target", "label"],
    "no target column": ["--dataset", "good.csv", "--target", "nope"],
    "broken npz": ["--dataset", "broken.npz"],
    "npz without y": ["--dataset", "no_y.npz"],
    "regression": ["--dataset", "regression"],
    "negative seed": ["--seed", "-1"],
    "huge seed": ["--seed", str(2**32)],
    "unknown model": ["--model", "resnet"],
    "cnn on a table": ["--dataset", "good.csv", "--target", "label", "--model", "cnn"],
}


#: The data cases every sub-command runs; `train` runs them all (the other sub-commands
#: load their data through the same function).
CORE = ("missing file", "binary csv", "one class", "missing value", "negative seed",
        "cnn on a table")


def _cases(command: str) -> dict[str, list[str]]:
    flag, name = OUTPUT[command]
    cases = {k: v for k, v in DATA_CASES.items() if command == "train" or k in CORE}
    cases["output under a file"] = [flag, f"a_file/{name}"]
    cases["bad number"] = BAD_NUMBER[command]
    if command == "train":
        cases["save as .txt"] = ["--save", "model.txt"]
        cases["save into a missing folder"] = ["--save", "missing/dir/m.keras"]
        cases["save onto a folder"] = ["--save", "a_folder.keras"]
    else:
        cases["output is a file"] = [flag, "a_file"]
    return cases


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("broken")
    rng = np.random.default_rng(0)
    (root / "empty.csv").write_bytes(b"")
    (root / "header_only.csv").write_text("a,b,label\n")
    (root / "binary.csv").write_bytes(bytes(range(256)) * 4)
    rows = range(60)
    (root / "one_class.csv").write_text("a,b,label\n" + "".join(f"{i},{i % 3},x\n" for i in rows))
    (root / "nan.csv").write_text("a,b,label\n" + "".join(
        f"{i},{'' if i == 7 else i % 3},{i % 2}\n" for i in rows))
    (root / "strings.csv").write_text("a,color,label\n" + "".join(
        f"{i},{'blue' if i % 2 else 'red'},{i % 2}\n" for i in rows))
    (root / "good.csv").write_text("a,b,label\n" + "".join(
        f"{rng.normal():.4f},{rng.normal():.4f},{i % 2}\n" for i in rows))
    (root / "broken.npz").write_bytes(b"this is not a zip archive")
    np.savez(root / "no_y.npz", x=rng.normal(size=(10, 2)))
    (root / "a_file").write_text("a regular file")
    (root / "a_folder.keras").mkdir()
    np.savez(root / "scalar.npz", x=np.float32(3.0), y=np.int64(1))
    np.savez(root / "complex.npz", x=rng.normal(size=(10, 2)) + 1j, y=np.arange(10) % 2)
    (root / "big.csv").write_text("a,b,label\n" + "".join(
        f"{i},{'1e39' if i == 3 else i},{i % 2}\n" for i in rows))
    (root / "semi.csv").write_text("a;b;label\n" + "".join(f"{i};{i};{i % 2}\n" for i in rows))
    return root


def snapshot(root) -> dict[str, str]:
    """{relative path: sha256} of every file and folder under ``root``."""
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest()
                                       if p.is_file() else "folder")
            for p in sorted(root.rglob("*"))}


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """``main(argv)`` in this process: (exit code, stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("command", sorted(BASE))
def test_broken_input_one_line_exit_2_nothing_written(command, inputs, monkeypatch, capsys):
    monkeypatch.chdir(inputs)
    before = snapshot(inputs)
    problems = []
    for name, argv in _cases(command).items():
        code, out, err = run_cli(capsys, command, *BASE[command], *argv)
        lines = err.strip().splitlines()
        if (code != 2 or len(lines) != 1 or "Traceback" in err
                or not lines[0].startswith("keras-recipes: error: ")):
            problems.append(f"{name}: exit {code}, stderr {err!r}")
        elif out.strip():
            problems.append(f"{name}: printed {out!r}")
    assert not problems, "\n".join(problems)
    assert snapshot(inputs) == before


def test_messages_name_the_options_and_the_file(inputs, monkeypatch, capsys):
    cases = {
        ("train", "--seed", "-1"): "argument --seed: expected an integer from 0",
        ("train", "--lr", "nan"): "argument --lr: expected a finite positive number",
        ("train", "--save", "model.txt"): "--save must end in .keras",
        ("train", "--save", "missing/dir/m.keras"): "--save cannot be written: the folder",
        ("train", "--dataset", "one_class.csv", "--target", "label"):
            "holds a single class (x); classification needs at least 2",
        ("diagnose", "--log-dir", "a_file/logs"): "--log-dir cannot be created: '",
        ("lr-find", "--out", "a_file"): "--out must be a folder, but 'a_file' is a file",
        ("steamroller", "--out", "a_file/run"): "--out cannot be created:",
        ("practical", "--dataset", "good.csv"): "--target must name the target column",
        ("train", "--dataset", "strings.csv", "--target", "label"):
            "Encode it as numbers, or leave the column out with --drop.",
        ("steamroller", "--dataset", "nan.csv", "--target", "label", "--out", "run"):
            "Fill or remove them first, or leave the column out with --drop.",
        ("steamroller", "--dataset", "good.csv", "--target", "label", "--drop", "label",
         "--out", "run"): "cannot also be dropped. Received: --target='label', "
                          "--drop=['label']",
        ("steamroller", "--out", "run", "--stage1-per-class", "1000"):
            "the training examples of the smallest chosen class. Received: "
            "--stage1-per-class=1000",
    }
    monkeypatch.chdir(inputs)
    for argv, expected in cases.items():
        code, _, err = run_cli(capsys, *argv)
        assert code == 2, argv
        assert expected in err, (argv, err)
        assert "`" not in err and "Argument" not in err, err


def test_datasets_with_a_stray_argument(inputs, capsys):
    code, _, err = run_cli(capsys, "datasets", "extra")
    assert code == 2 and len(err.strip().splitlines()) == 1


# --------------------------------------------------- in-process: keras_recipes.cli.main(argv)
HUGE = "99999999999999999999"  # > 2**63 - 1: overflows int64 in NumPy and TensorFlow
LR_RANGE = "expected a learning rate from 1.18e-38 to 3.4e+38 (outside that range it is 0, "
#: argv -> the whole message after "keras-recipes: error: ".
REFUSALS = {
    ("train", "--dataset", "scalar.npz"):
        "The .npz file 'scalar.npz' holds a single value (a 0-d array) as 'x': 'x' must be an "
        "array with one entry per example, shape (n, ...).",
    ("train", "--dataset", "complex.npz"):
        "The .npz file 'complex.npz' holds complex numbers in 'x' (complex128): Keras trains on "
        "real numbers, and casting would drop the imaginary part. Save real numbers instead "
        "(e.g. the real and imaginary parts as separate features).",
    ("train", "--dataset", "big.csv", "--target", "label"):
        "Column 'b' of 'big.csv' holds 1e+39 at row 4 (line 5 of the file): too large for "
        "float32 (largest 3.403e+38).",
    ("train", "--dataset", "semi.csv", "--target", "label"):
        "The file 'semi.csv' looks ';'-separated (its header is 'a;b;label', one column): "
        "save it with commas as separators.",
    ("train", "--batch-size", HUGE):
        f"argument --batch-size: expected a positive integer of at most 2**63 - 1 (int64), "
        f"got '{HUGE}'",
    ("train", "--epochs", HUGE):
        f"argument --epochs: expected a positive integer of at most 2**63 - 1 (int64), "
        f"got '{HUGE}'",
    ("train", "--lr", "1e-320"):
        f"argument --lr: {LR_RANGE}subnormal or infinite in float32), got '1e-320'",
    ("diagnose", "--lr", "1e-39"):
        f"argument --lr: {LR_RANGE}subnormal or infinite in float32), got '1e-39'",
    ("lr-find", "--out", "out", "--min-lr", "1e-40"):
        f"argument --min-lr: {LR_RANGE}subnormal or infinite in float32), got '1e-40'",
    ("lr-find", "--out", "out", "--max-lr", "1e39"):
        f"argument --max-lr: {LR_RANGE}subnormal or infinite in float32), got '1e39'",
    ("steamroller", "--out", "run", "--batch-size", HUGE):
        f"argument --batch-size: expected a positive integer of at most 2**63 - 1 (int64), "
        f"got '{HUGE}'",
    ("practical", "--out", "run", "--dataset", "complex.npz"):
        "The .npz file 'complex.npz' holds complex numbers in 'x' (complex128): Keras trains on "
        "real numbers, and casting would drop the imaginary part. Save real numbers instead "
        "(e.g. the real and imaginary parts as separate features).",
}


@pytest.mark.parametrize("argv", list(REFUSALS), ids=[" ".join(a) for a in REFUSALS])
def test_bad_numbers_and_data_are_one_line_exit_2(argv, inputs, monkeypatch, capsys):
    monkeypatch.chdir(inputs)
    before = snapshot(inputs)
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 2
    assert err == f"keras-recipes: error: {REFUSALS[argv]}\n"  # exactly one line
    assert out == ""
    assert snapshot(inputs) == before


def test_console_command_refuses_before_importing_tensorflow(inputs):
    """The installed ``keras-recipes`` command, in a fresh process: one line, exit 2, and
    TensorFlow is never imported (Python's import-time report lists every module)."""
    command = os.path.join(os.path.dirname(sys.executable), "keras-recipes")
    cases = [("train", "--lr", "1e-320"), ("train", "--dataset", "scalar.npz"),
             ("lr-find", "--out", "out", "--dataset", "big.csv", "--target", "label"),
             ("steamroller", "--out", "a_file/run"),
             ("practical", "--out", "run", "--dataset", "good.csv")]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPROFILEIMPORTTIME": "1"}

    def run(argv):
        return subprocess.run([command, *argv], cwd=inputs, capture_output=True, text=True,
                              timeout=120, env=env)

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(run, cases))
    for argv, result in zip(cases, results, strict=True):
        lines = result.stderr.splitlines()
        imported = {line.rsplit("|", 1)[-1].strip() for line in lines
                    if line.startswith("import time:")}
        messages = [line for line in lines if not line.startswith("import time:")]
        assert result.returncode == 2, (argv, result.stderr[-2000:])
        assert len(messages) == 1 and messages[0].startswith("keras-recipes: error: "), messages
        assert "numpy" in imported  # the report is there ...
        assert not {"tensorflow", "keras", "jax"} & imported, argv  # ... and holds no backend

